//! Import, nar storage and check, at the library level, on SQLite and on
//! PostgreSQL (`NARHERDER_TEST_POSTGRES`; under `CI=true` it must be set).

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use narherder::import::{
    self, ImportOptions, ImportProgress, ImportReport, ImportSource, Rejection,
};
use narherder::signing::Verdict;
use narherder::storage::{self, CheckProblem, NarFilesMode, NarStorage};
use narherder::store::{Store, StoreOptions};
use narherder::synth::{self, FileLayout, Flavour, SynthOptions};
use narherder::Narinfo;

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

/// Records what an import reports as it runs.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl ImportProgress for Recorder {
    fn rejected(&self, r: &Rejection) {
        self.0.lock().unwrap().push(r.to_string());
    }
}

async fn run(
    store: &Store,
    sources: &[ImportSource],
    opts: &ImportOptions,
) -> (ImportReport, Vec<String>) {
    let rec = Arc::new(Recorder::default());
    let report = import::import(store, sources, opts, rec.clone())
        .await
        .expect("import runs");
    let seen = rec.0.lock().unwrap().clone();
    (report, seen)
}

fn dir_source(p: &Path) -> Vec<ImportSource> {
    vec![ImportSource::Path(p.to_path_buf())]
}

/// Every `.narinfo` under `dir`, with its text.
fn narinfo_files(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out: Vec<_> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".narinfo"))
        .map(|e| {
            (
                e.path().to_path_buf(),
                fs::read_to_string(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn imports_guix_fixtures_byte_for_byte() {
    common::for_each_backend("guix_fixtures", |db| async move {
        let backend = db.backend;
        let store = db.open(&StoreOptions::with_store_dir("/gnu/store")).await;
        let (report, rejected) = run(
            &store,
            &dir_source(&data("guix")),
            &ImportOptions::default(),
        )
        .await;
        assert_eq!(report.new, 5, "{backend}: {report}");
        assert!(rejected.is_empty(), "{backend}: {rejected:?}");
        assert_eq!(report.files, 5, "{backend}");
        for (path, text) in narinfo_files(&data("guix")) {
            let n = Narinfo::parse(&text).unwrap();
            let stored = store.get_text(n.hash_part()).await.unwrap();
            assert_eq!(
                stored.as_deref(),
                Some(text.as_str()),
                "{backend}: {}",
                path.display()
            );
        }
        store.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn imports_nix_fixtures_and_multi_record_files() {
    common::for_each_backend("nix_fixtures", |db| async move {
        let backend = db.backend;
        let store = db.open(&StoreOptions::with_store_dir("/nix/store")).await;
        let sources = vec![
            ImportSource::Path(data("nix")),
            ImportSource::Path(data("nix/cache.nixos.org-sample.narinfos")),
        ];
        let (report, rejected) = run(&store, &sources, &ImportOptions::default()).await;
        assert!(rejected.is_empty(), "{backend}: {rejected:?}");
        assert_eq!(report.imported(), 205, "{backend}: {report}");
        let sample = fs::read_to_string(data("nix/cache.nixos.org-sample.narinfos")).unwrap();
        let records = narherder::narinfo::parse_many(&sample);
        assert_eq!(records.len(), 200);
        let hashes: Vec<String> = records
            .iter()
            .map(|(_, r)| r.as_ref().unwrap().hash_part().to_string())
            .collect();
        let keys: Vec<&str> = hashes.iter().map(String::as_str).collect();
        let stored = store.get_many(&keys).await.unwrap();
        for ((_, record), stored) in records.iter().zip(&stored) {
            let text = stored.as_ref().map(|s| s.text.as_str());
            assert_eq!(text, Some(record.as_ref().unwrap().text()), "{backend}");
        }
        let distinct: std::collections::HashSet<&String> = hashes.iter().collect();
        let edge = narinfo_files(&data("nix"));
        let extra = edge
            .iter()
            .filter(|(_, t)| {
                !distinct.contains(&Narinfo::parse(t).unwrap().hash_part().to_string())
            })
            .count();
        assert_eq!(
            report.new as usize,
            distinct.len() + extra,
            "{backend}: {report}"
        );
        assert_eq!(
            report.unchanged as usize,
            205 - distinct.len() - extra,
            "{backend}"
        );
        store.close().await;
        db
    })
    .await;
}

/// A directory of good narinfos with bad files mixed in.
fn mixed_dir(tmp: &Path) -> Vec<(PathBuf, usize, &'static str)> {
    for (path, text) in narinfo_files(&data("guix")) {
        fs::write(tmp.join(path.file_name().unwrap()), text).unwrap();
    }
    let good = fs::read_to_string(data(
        "guix/cs56i9digj9qg1bd383cmxc6xrfpdn9n.hello-2.12.2.bordeaux.narinfo",
    ))
    .unwrap();
    let sub = tmp.join("sub/dir");
    fs::create_dir_all(&sub).unwrap();
    let mut bad = Vec::new();
    // Truncated: only the first two lines.
    let truncated: String = good.lines().take(2).map(|l| format!("{l}\n")).collect();
    let p = tmp.join("truncated.narinfo");
    fs::write(&p, truncated).unwrap();
    bad.push((p, 1, "truncated"));
    // An invalid hash: `e` is not a nix-base32 character (line 2 is NarHash).
    let p = sub.join("badhash.narinfo");
    fs::write(
        &p,
        good.replacen("NarHash: sha256:0", "NarHash: sha256:e", 1),
    )
    .unwrap();
    bad.push((p, 2, "invalid hash"));
    // Not UTF-8, on line 3.
    let p = tmp.join("latin1.narinfo");
    let mut bytes = good.as_bytes().to_vec();
    let line3 = good.match_indices('\n').nth(1).unwrap().0 + 1;
    bytes.insert(line3 + 2, 0xff);
    fs::write(&p, bytes).unwrap();
    bad.push((p, 3, "non-UTF-8"));
    // Another store directory.
    let p = tmp.join("nixitem.narinfo");
    fs::copy(
        data("nix/0a3yijp35sygmy51cnrrz11vimwapz7c.dbus-conf-self-ref.narinfo"),
        &p,
    )
    .unwrap();
    bad.push((p, 1, "wrong store dir"));
    bad
}

#[tokio::test]
async fn bad_files_are_reported_and_skipped() {
    common::for_each_backend("bad_files", |db| async move {
        let backend = db.backend;
        let store = db.open(&StoreOptions::with_store_dir("/gnu/store")).await;
        let tmp = tempfile::tempdir().unwrap();
        let bad = mixed_dir(tmp.path());
        let (report, rejected) =
            run(&store, &dir_source(tmp.path()), &ImportOptions::default()).await;
        assert_eq!(report.new, 5, "{backend}: {report}");
        eprintln!("{}", rejected.join("\n"));
        assert_eq!(
            report.rejections.len(),
            bad.len(),
            "{backend}: {rejected:?}"
        );
        assert_eq!(
            rejected.len(),
            bad.len(),
            "{backend}: progress saw every rejection"
        );
        for (path, line, what) in &bad {
            let prefix = format!("{}:{line}: ", path.display());
            assert!(
                rejected
                    .iter()
                    .any(|r| r.starts_with(&prefix) && r.len() > prefix.len()),
                "{backend}: {what}: no `{prefix}…` in {rejected:#?}"
            );
        }
        assert!(rejected
            .iter()
            .any(|r| r.contains("/nix/store") && r.contains("/gnu/store")));
        assert_eq!(store.counts().await.unwrap().narinfos, 5, "{backend}");
        store.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn reimport_is_idempotent_and_conflicts_need_replace() {
    common::for_each_backend("reimport", |db| async move {
        let backend = db.backend;
        let store = db.open(&StoreOptions::with_store_dir("/gnu/store")).await;
        let src = dir_source(&data("guix"));
        let (first, _) = run(&store, &src, &ImportOptions::default()).await;
        assert_eq!((first.new, first.unchanged), (5, 0), "{backend}");
        let (second, rejected) = run(&store, &src, &ImportOptions::default()).await;
        assert_eq!(
            (second.new, second.unchanged, second.replaced),
            (0, 5, 0),
            "{backend}"
        );
        assert!(rejected.is_empty());

        // The same hash with a different (unsigned) tail.
        let path = data("guix/cs56i9digj9qg1bd383cmxc6xrfpdn9n.hello-2.12.2.bordeaux.narinfo");
        let changed = fs::read_to_string(&path)
            .unwrap()
            .replace("FileSize: 73413", "FileSize: 73414");
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("changed.narinfo");
        fs::write(&p, &changed).unwrap();
        let src = vec![ImportSource::Path(p.clone())];
        let (refused, rejected) = run(&store, &src, &ImportOptions::default()).await;
        assert_eq!(refused.imported(), 0, "{backend}");
        assert_eq!(rejected.len(), 1, "{backend}: {rejected:?}");
        assert!(
            rejected[0].starts_with(&format!("{}:1: ", p.display())),
            "{rejected:?}"
        );
        let opts = ImportOptions {
            replace: true,
            ..ImportOptions::default()
        };
        let (replaced, rejected) = run(&store, &src, &opts).await;
        assert_eq!(replaced.replaced, 1, "{backend}: {replaced} {rejected:?}");
        let hash = Narinfo::parse(&changed).unwrap().hash_part().to_string();
        assert_eq!(
            store.get_text(&hash).await.unwrap().as_deref(),
            Some(changed.as_str())
        );
        store.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn verifier_rejects_what_it_should() {
    common::for_each_backend("verifier", |db| async move {
        let backend = db.backend;
        let store = db.open(&StoreOptions::with_store_dir("/gnu/store")).await;
        let verify: import::Verifier = Arc::new(|n: &Narinfo| match n.signature() {
            Some(sig) if sig.starts_with("1;testhost;") => Verdict::Valid,
            Some(_) => Verdict::UnauthorizedKey,
            None => Verdict::Unsigned,
        });
        let opts = ImportOptions {
            verify: Some(verify),
            ..ImportOptions::default()
        };
        let (report, rejected) = run(&store, &dir_source(&data("guix")), &opts).await;
        assert_eq!(report.new, 1, "{backend}: {report}");
        assert_eq!(rejected.len(), 4, "{backend}: {rejected:?}");
        assert!(
            rejected
                .iter()
                .all(|r| r.ends_with("signature check: unauthorized-key")),
            "{rejected:?}"
        );
        let stored = store
            .get_text("0123456789abcdfghijklmnpqrsvwxyz")
            .await
            .unwrap();
        assert!(stored.is_some(), "{backend}");
        assert!(store
            .get_text("cs56i9digj9qg1bd383cmxc6xrfpdn9n")
            .await
            .unwrap()
            .is_none());
        store.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn stdin_source_is_a_source_like_any_other() {
    // Standard input of the test process is not ours to fill; what matters
    // here is that `-` maps to it and a path does not.
    assert_eq!(ImportSource::from_arg("-"), ImportSource::Stdin);
    assert_eq!(
        ImportSource::from_arg("./-x"),
        ImportSource::Path("./-x".into())
    );
}

#[test]
fn storage_mapping_refuses_traversal() {
    let ok = [
        ("nar/lzip/abc-hello", "nar/lzip/abc-hello"),
        ("/nar/lzip/abc-hello", "nar/lzip/abc-hello"),
        ("nar/1abc.nar.xz", "nar/1abc.nar.xz"),
        ("https://bordeaux.guix.gnu.org/nar/zstd/x-y", "nar/zstd/x-y"),
        ("HTTP://host:8080/nar/x?query=1#frag", "nar/x"),
        ("nar/gzip/a%2Bb", "nar/gzip/a+b"),
        ("nar/%252e%252e/x", "nar/%2e%2e/x"),
    ];
    for (url, rel) in ok {
        assert_eq!(storage::url_to_relative(url).unwrap(), rel, "{url}");
    }
    let refused = [
        "../x",
        "nar/../../etc/passwd",
        "nar/./x",
        "%2e%2e/x",
        "nar/%2e%2e/%2e%2e/etc/passwd",
        "nar/%2E%2E/x",
        "nar%2f..%2f..%2fetc",
        "/etc/passwd",
        "etc/passwd",
        "nar",
        "nar/",
        "nar//x",
        "nar/x\0y",
        "nar/x%00y",
        "nar\\..\\x",
        "nar/%5c..",
        "nar/x\ny",
        "file:///nar/x",
        "s3://bucket/nar/x",
        "http://host",
        "https://host/../nar/x",
        "nar/%zz",
        "nar/%ff",
        "",
    ];
    for url in refused {
        assert!(storage::url_to_relative(url).is_err(), "accepted {url:?}");
    }
    let tmp = tempfile::tempdir().unwrap();
    let s = NarStorage::open(tmp.path()).unwrap();
    assert!(s.path_for("nar/x/y").unwrap().starts_with(s.root()));
    assert!(s.path_for("nar/../../x").is_err());
}

#[test]
fn storage_does_not_follow_symlinks_out() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    fs::create_dir_all(outside.join("sub")).unwrap();
    fs::write(outside.join("secret"), "x").unwrap();
    fs::write(outside.join("sub/victim"), "x").unwrap();
    let root = tmp.path().join("storage");
    fs::create_dir_all(root.join("nar")).unwrap();
    std::os::unix::fs::symlink(outside.join("secret"), root.join("nar/link")).unwrap();
    std::os::unix::fs::symlink(outside.join("sub"), root.join("nar/dirlink")).unwrap();
    let s = NarStorage::open(&root).unwrap();
    assert!(
        s.existing("nar/link").is_err(),
        "a link out must not be served"
    );
    assert!(
        s.remove("nar/dirlink/victim").is_err(),
        "a directory link out must not be entered"
    );
    assert!(outside.join("sub/victim").exists());
    let src = tmp.path().join("source.nar");
    fs::write(&src, "nar").unwrap();
    assert!(s
        .place(&src, "nar/dirlink/new/x", NarFilesMode::Copy)
        .is_err());
    assert!(
        !outside.join("sub/new").exists(),
        "no directory made through the link"
    );
    assert!(s
        .place(&src, "nar/dirlink/y", NarFilesMode::Hardlink)
        .is_err());
    assert!(!outside.join("sub/y").exists());
    assert!(s.remove("nar/link").unwrap(), "the link itself is removed");
    assert!(outside.join("secret").exists(), "its target is not");
    fs::write(root.join("nar/real"), "nar").unwrap();
    assert_eq!(
        s.existing("nar/real").unwrap(),
        Some(root.canonicalize().unwrap().join("nar/real"))
    );
    assert_eq!(s.existing("nar/absent").unwrap(), None);
}

/// A small synthetic cache with (non-empty) nar files, in Nix layout.
fn synthetic_cache(dir: &Path, count: usize) {
    synth::write_cache(
        dir,
        &SynthOptions {
            count,
            seed: 11,
            flavour: Flavour::Nix,
            layout: FileLayout::Flat,
            nar_files: true,
        },
    )
    .unwrap();
    // Give every nar file distinct contents.
    for e in walkdir::WalkDir::new(dir.join("nar"))
        .into_iter()
        .filter_map(Result::ok)
    {
        if e.file_type().is_file() {
            fs::write(e.path(), e.file_name().to_string_lossy().as_bytes()).unwrap();
        }
    }
}

#[tokio::test]
async fn copy_and_hardlink_put_files_where_the_url_says_and_check_finds_problems() {
    use std::os::unix::fs::MetadataExt;
    common::for_each_backend("nar_files", |db| async move {
        let backend = db.backend;
        let store = db.open(&StoreOptions::with_store_dir("/nix/store")).await;
        let tmp = tempfile::tempdir().unwrap();
        let cache = tmp.path().join("cache");
        synthetic_cache(&cache, 40);
        for (mode, name) in [
            (NarFilesMode::Copy, "copied"),
            (NarFilesMode::Hardlink, "linked"),
        ] {
            let storage = NarStorage::open(tmp.path().join(name)).unwrap();
            let opts = ImportOptions {
                storage: Some(storage.clone()),
                nar_files: mode,
                ..ImportOptions::default()
            };
            let (report, rejected) = run(&store, &dir_source(&cache), &opts).await;
            assert!(rejected.is_empty(), "{backend}: {rejected:?}");
            assert_eq!(report.nar_files_placed, 40, "{backend} {name}: {report}");
            assert_eq!(report.nar_files_missing, 0);
            for (_, text) in narinfo_files(&cache) {
                let n = Narinfo::parse(&text).unwrap();
                let url = &n.files()[0].url;
                let placed = storage.existing(url).unwrap().expect("placed");
                let source = cache.join(url);
                assert_eq!(fs::read(&placed).unwrap(), fs::read(&source).unwrap());
                let same_inode =
                    fs::metadata(&placed).unwrap().ino() == fs::metadata(&source).unwrap().ino();
                assert_eq!(same_inode, mode == NarFilesMode::Hardlink, "{name}");
            }
            // Placing again finds them present.
            let (again, _) = run(&store, &dir_source(&cache), &opts).await;
            assert_eq!(
                (again.nar_files_placed, again.nar_files_present),
                (0, 40),
                "{backend}"
            );
        }

        // check: one nar file removed, one orphan added.
        let storage = NarStorage::open(tmp.path().join("copied")).unwrap();
        let clean = storage::check(&store, &storage, |_| {}).await.unwrap();
        assert!(clean.is_clean(), "{backend}: {clean}");
        assert_eq!((clean.narinfos, clean.nar_files), (40, 40));
        let (_, first) = narinfo_files(&cache).remove(0);
        let first = Narinfo::parse(&first).unwrap();
        assert!(storage.remove(&first.files()[0].url).unwrap());
        fs::write(storage.root().join("nar/orphan.nar.xz"), "x").unwrap();
        let mut problems = Vec::new();
        let report = storage::check(&store, &storage, |p| problems.push(p.clone()))
            .await
            .unwrap();
        assert_eq!(
            (report.missing, report.orphans, report.bad_urls),
            (1, 1, 0),
            "{backend}: {report}"
        );
        assert!(problems.contains(&CheckProblem::MissingNar {
            hash: first.hash_part().to_string(),
            url: first.files()[0].url.clone(),
        }));
        assert!(problems.contains(&CheckProblem::Orphan {
            path: "nar/orphan.nar.xz".into()
        }));
        store.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn generated_caches_import_whole() {
    common::for_each_backend("generated", |db| async move {
        let backend = db.backend;
        let store = db.open(&StoreOptions::with_store_dir("/gnu/store")).await;
        let tmp = tempfile::tempdir().unwrap();
        let summary = synth::write_cache(
            tmp.path(),
            &SynthOptions {
                count: 3000,
                seed: 5,
                flavour: Flavour::Guix,
                layout: FileLayout::TwoLevel,
                nar_files: false,
            },
        )
        .unwrap();
        let opts = ImportOptions {
            batch_size: 700,
            ..ImportOptions::default()
        };
        let (report, rejected) = run(&store, &dir_source(tmp.path()), &opts).await;
        assert!(rejected.is_empty(), "{backend}: {rejected:?}");
        assert_eq!(report.new, 3000, "{backend}: {report}");
        assert_eq!(summary.narinfos, 3000);
        let info = store.counts().await.unwrap();
        assert_eq!(info.narinfos, 3000);
        assert!(
            !info.bulk_load,
            "{backend}: the first import is a bulk load, ended"
        );
        // The reverse index is back: referrers of a popular early item.
        let first = narinfo_files(tmp.path())
            .into_iter()
            .map(|(_, t)| Narinfo::parse(&t).unwrap())
            .find(|n| n.references().is_empty())
            .unwrap();
        let _ = store.referrers(first.hash_part()).await.unwrap();
        for (_, text) in narinfo_files(tmp.path()).iter().step_by(97) {
            let n = Narinfo::parse(text).unwrap();
            assert_eq!(
                store.get_text(n.hash_part()).await.unwrap().as_deref(),
                Some(text.as_str())
            );
        }
        store.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn dry_run_checks_and_writes_nothing() {
    common::for_each_backend("dry_run", |db| async move {
        let backend = db.backend;
        let store = db.open(&StoreOptions::with_store_dir("/gnu/store")).await;
        let tmp = tempfile::tempdir().unwrap();
        let bad = mixed_dir(tmp.path());
        let opts = ImportOptions {
            dry_run: true,
            ..ImportOptions::default()
        };
        let (report, rejected) = run(&store, &dir_source(tmp.path()), &opts).await;
        assert_eq!(
            (report.checked, report.imported()),
            (5, 0),
            "{backend}: {report}"
        );
        assert_eq!(rejected.len(), bad.len(), "{backend}");
        assert!(
            report
                .to_string()
                .starts_with("dry run: checked 5, rejected 4"),
            "{report}"
        );
        assert_eq!(store.counts().await.unwrap().narinfos, 0, "{backend}");
        store.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn guix_publish_cache_layout_finds_its_nar_files() {
    common::for_each_backend("publish_cache", |db| async move {
        let backend = db.backend;
        let store = db.open(&StoreOptions::with_store_dir("/gnu/store")).await;
        let tmp = tempfile::tempdir().unwrap();
        let generated = tmp.path().join("gen");
        synth::write_cache(
            &generated,
            &SynthOptions {
                count: 6,
                seed: 4,
                flavour: Flavour::Guix,
                layout: FileLayout::Flat,
                nar_files: true,
            },
        )
        .unwrap();
        // `guix publish --cache DIR`: DIR/lzip/<hash>.narinfo next to
        // DIR/lzip/<base>.nar, for URL nar/lzip/<base>.
        let cache = tmp.path().join("publish-cache");
        fs::create_dir_all(cache.join("lzip")).unwrap();
        let mut urls = Vec::new();
        for (path, text) in narinfo_files(&generated) {
            let n = Narinfo::parse(&text).unwrap();
            fs::rename(&path, cache.join("lzip").join(path.file_name().unwrap())).unwrap();
            let nar = cache.join("lzip").join(format!("{}.nar", n.base_name()));
            fs::write(&nar, n.base_name()).unwrap();
            urls.push((n.files()[0].url.clone(), n.base_name().to_string()));
        }
        let storage = NarStorage::open(tmp.path().join("storage")).unwrap();
        let opts = ImportOptions {
            storage: Some(storage.clone()),
            nar_files: NarFilesMode::Copy,
            ..ImportOptions::default()
        };
        let (report, rejected) = run(&store, &dir_source(&cache), &opts).await;
        assert!(rejected.is_empty(), "{backend}: {rejected:?}");
        assert_eq!(
            (report.new, report.nar_files_placed),
            (6, 6),
            "{backend}: {report}"
        );
        for (url, base) in urls {
            assert!(url.starts_with("nar/lzip/"));
            let placed = storage.existing(&url).unwrap().expect("copied");
            assert_eq!(fs::read_to_string(placed).unwrap(), base);
        }
        store.close().await;
        db
    })
    .await;
}
