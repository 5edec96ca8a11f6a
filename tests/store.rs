//! The narinfo store, on SQLite and PostgreSQL (see tests/common).

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{for_each_backend, hash_for, synthetic_text, TestDb};
use narherder::narinfo::parse_many;
use narherder::store::{AddMode, AddOutcome, Backend, Store, StoreOptions, SCHEMA_VERSION};
use narherder::{Error, Narinfo};

fn guix() -> StoreOptions {
    StoreOptions::with_store_dir("/gnu/store")
}

fn nix() -> StoreOptions {
    StoreOptions::with_store_dir("/nix/store")
}

fn data(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

fn narinfo_files(dir: &str) -> Vec<Narinfo> {
    let mut paths: Vec<_> = std::fs::read_dir(data(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "narinfo"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty());
    paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            Narinfo::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        })
        .collect()
}

fn guix_fixtures() -> Vec<Narinfo> {
    narinfo_files("guix")
}

fn nix_fixtures() -> Vec<Narinfo> {
    let mut all = narinfo_files("nix");
    let sample = std::fs::read_to_string(data("nix/cache.nixos.org-sample.narinfos")).unwrap();
    for (line, r) in parse_many(&sample) {
        all.push(r.unwrap_or_else(|e| panic!("sample line {line}: {e}")));
    }
    assert!(all.len() >= 205, "{}", all.len());
    all
}

fn parse(text: &str) -> Narinfo {
    Narinfo::parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// A synthetic narinfo `hash_for(n)` referencing `hash_for(r)` for each r.
fn synthetic(store_dir: &str, n: u64, refs: &[u64]) -> Narinfo {
    let refs: Vec<String> = refs
        .iter()
        .map(|&r| format!("{}-item-{r}", hash_for(r)))
        .collect();
    parse(&synthetic_text(
        store_dir,
        &hash_for(n),
        &format!("item-{n}"),
        &refs,
        1,
    ))
}

fn sorted_refs(n: &Narinfo) -> Vec<String> {
    let set: BTreeSet<String> = n.reference_hashes().map(str::to_string).collect();
    set.into_iter().collect()
}

/// Checks that the stored copy of `n` is whole and byte-identical.
async fn assert_stored(store: &Store, n: &Narinfo) {
    let hash = n.hash_part();
    let got = store
        .get(hash)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{hash} missing"));
    assert_eq!(got.text.as_bytes(), n.text().as_bytes(), "{hash}");
    assert_eq!(got.hash, hash);
    assert_eq!(got.store_path, n.store_path());
    assert_eq!(got.nar_hash, n.nar_hash());
    assert_eq!(got.nar_size, n.nar_size());
    assert_eq!(got.deriver.as_deref(), n.deriver());
    assert_eq!(got.system.as_deref(), n.system());
    assert_eq!(got.ca.as_deref(), n.ca());
    assert_eq!(
        store.get_text(hash).await.unwrap().as_deref(),
        Some(n.text())
    );
    assert_eq!(store.nar_files(hash).await.unwrap(), n.files());
    assert_eq!(store.references(hash).await.unwrap(), Some(sorted_refs(n)));
    assert!(store.exists(hash).await.unwrap());
}

fn assert_send<T: Send>(_: &T) {}

#[tokio::test]
async fn fixtures_round_trip() {
    for_each_backend("fixtures_round_trip", |db| async move {
        // Guix fixtures into a /gnu/store store, one by one.
        let g = guix_fixtures();
        {
            let store = db.open(&guix()).await;
            assert_eq!(store.store_dir(), "/gnu/store");
            for n in &g {
                let fut = store.add(n, AddMode::Keep);
                assert_send(&fut);
                assert_eq!(fut.await.unwrap(), AddOutcome::Inserted);
            }
            for n in &g {
                assert_stored(&store, n).await;
            }
            let info = store.counts().await.unwrap();
            assert_eq!(info.narinfos, g.len() as u64);
            let files: usize = g.iter().map(|n| n.files().len()).sum();
            assert_eq!(info.nar_files, files as u64);
            let refs: usize = g.iter().map(|n| sorted_refs(n).len()).sum();
            assert_eq!(info.references, refs as u64);
            let nar: u64 = g.iter().map(|n| n.nar_size()).sum();
            assert_eq!(info.total_nar_size, nar);
            let fsz: u64 = g
                .iter()
                .flat_map(|n| n.files())
                .filter_map(|f| f.file_size)
                .sum();
            assert_eq!(info.total_file_size, fsz);
            assert!(info.database_bytes.unwrap_or(0) > 0);
            store.close().await;
        }
        db
    })
    .await;
    for_each_backend("fixtures_round_trip_nix", |db| async move {
        // Nix fixtures into a /nix/store store, in one batch.
        let n = nix_fixtures();
        let store = db.open(&nix()).await;
        let fut = store.add_many(&n, AddMode::Keep);
        assert_send(&fut);
        let out = fut.await.unwrap();
        assert_eq!(out.len(), n.len());
        // The sample and the edge cases may share an item: the first copy
        // is inserted, an identical second one is Unchanged.
        let mut seen = BTreeSet::new();
        for (x, o) in n.iter().zip(&out) {
            let expected = if seen.insert(x.hash_part().to_string()) {
                AddOutcome::Inserted
            } else {
                AddOutcome::Unchanged
            };
            assert_eq!(*o, expected, "{}", x.store_path());
        }
        for x in &n {
            assert_stored(&store, x).await;
        }
        assert_eq!(store.counts().await.unwrap().narinfos, seen.len() as u64);
        store.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn re_adding_is_a_no_op() {
    for_each_backend("re_adding_is_a_no_op", |db| async move {
        let store = db.open(&guix()).await;
        let g = guix_fixtures();
        store.add_many(&g, AddMode::Keep).await.unwrap();
        let before = store.counts().await.unwrap();
        let added_at = store.get(g[0].hash_part()).await.unwrap().unwrap().added_at;
        for mode in [AddMode::Keep, AddMode::Replace] {
            assert_eq!(store.add(&g[0], mode).await.unwrap(), AddOutcome::Unchanged);
            let out = store.add_many(&g, mode).await.unwrap();
            assert!(out.iter().all(|o| *o == AddOutcome::Unchanged), "{out:?}");
        }
        let after = store.counts().await.unwrap();
        assert_eq!(
            (
                before.narinfos,
                before.references,
                before.nar_files,
                before.items
            ),
            (
                after.narinfos,
                after.references,
                after.nar_files,
                after.items
            )
        );
        let again = store.get(g[0].hash_part()).await.unwrap().unwrap();
        assert_eq!(again.added_at, added_at);
        assert_stored(&store, &g[0]).await;
        store.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn conflict_unless_replace() {
    for_each_backend("conflict_unless_replace", |db| async move {
        let store = db.open(&nix()).await;
        let a = synthetic("/nix/store", 1, &[1, 2, 3]);
        // Same hash, different text: other references and two nar files.
        let refs = vec![format!("{}-item-4", hash_for(4))];
        let b = parse(&synthetic_text(
            "/nix/store",
            &hash_for(1),
            "item-1",
            &refs,
            2,
        ));
        assert_eq!(a.hash_part(), b.hash_part());
        assert_ne!(a.text(), b.text());

        assert_eq!(
            store.add(&a, AddMode::Keep).await.unwrap(),
            AddOutcome::Inserted
        );
        match store.add(&b, AddMode::Keep).await {
            Err(Error::Conflict { hash }) => assert_eq!(hash, a.hash_part()),
            other => panic!("expected a conflict, got {other:?}"),
        }
        let c = synthetic("/nix/store", 9, &[]);
        let out = store
            .add_many(&[b.clone(), c.clone()], AddMode::Keep)
            .await
            .unwrap();
        assert_eq!(out, vec![AddOutcome::Conflict, AddOutcome::Inserted]);
        assert_stored(&store, &a).await;
        assert_stored(&store, &c).await;

        assert_eq!(
            store.add(&b, AddMode::Replace).await.unwrap(),
            AddOutcome::Replaced
        );
        assert_stored(&store, &b).await;
        assert_eq!(
            store.referrers(&hash_for(2)).await.unwrap(),
            vec![hash_for(2)]
        );
        let info = store.counts().await.unwrap();
        assert_eq!((info.narinfos, info.references, info.nar_files), (2, 1, 3));

        // Within one call, later entries see earlier ones.
        let d = synthetic("/nix/store", 20, &[]);
        let d2 = parse(&synthetic_text(
            "/nix/store",
            &hash_for(20),
            "item-20",
            &[],
            2,
        ));
        let out = store
            .add_many(&[d.clone(), d.clone(), d2.clone()], AddMode::Keep)
            .await
            .unwrap();
        assert_eq!(
            out,
            vec![
                AddOutcome::Inserted,
                AddOutcome::Unchanged,
                AddOutcome::Conflict
            ]
        );
        assert_stored(&store, &d).await;
        let out = store
            .add_many(&[a.clone(), d2.clone(), d.clone()], AddMode::Replace)
            .await
            .unwrap();
        assert_eq!(
            out,
            vec![
                AddOutcome::Replaced,
                AddOutcome::Replaced,
                AddOutcome::Replaced
            ]
        );
        assert_stored(&store, &a).await;
        assert_stored(&store, &d).await;
        store.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn store_directory_is_enforced() {
    for_each_backend("store_directory_is_enforced", |db| async move {
        let store = db.open(&StoreOptions::default()).await;
        assert_eq!(store.store_dir(), "/gnu/store");
        let n = nix_fixtures();
        for r in [
            store.add(&n[0], AddMode::Keep).await,
            store
                .add_many(&[guix_fixtures()[0].clone(), n[0].clone()], AddMode::Keep)
                .await
                .map(|_| AddOutcome::Inserted),
        ] {
            match r {
                Err(e @ Error::Store(_)) => {
                    let msg = e.to_string();
                    assert!(
                        msg.contains("/nix/store") && msg.contains("/gnu/store"),
                        "{msg}"
                    );
                }
                other => panic!("expected a store-directory error, got {other:?}"),
            }
        }
        // Nothing of the refused batch was written.
        assert_eq!(store.counts().await.unwrap().narinfos, 0);
        store.close().await;

        match Store::open(&db.url, &nix()).await {
            Err(e @ Error::Store(_)) => {
                let msg = e.to_string();
                assert!(
                    msg.contains("/nix/store") && msg.contains("/gnu/store"),
                    "{msg}"
                );
            }
            other => panic!("expected a store-directory error, got {other:?}"),
        }
        // The same directory, spelt with a slash, and none at all, are fine.
        let again = db.open(&StoreOptions::with_store_dir("/gnu/store/")).await;
        assert_eq!(again.store_dir(), "/gnu/store");
        again.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn get_many_and_exists_many() {
    for_each_backend("get_many_and_exists_many", |db| async move {
        let store = db.open(&nix()).await;
        let stored: Vec<Narinfo> = (0..600u64)
            .map(|i| synthetic("/nix/store", i * 2, &[i * 2 + 1]))
            .collect();
        store.add_many(&stored, AddMode::Keep).await.unwrap();
        // 1200 hashes: even ones stored, odd ones only referenced (misses),
        // plus a duplicate and junk.
        let hashes: Vec<String> = (0..1200u64).map(hash_for).collect();
        let mut asked: Vec<&str> = hashes.iter().map(String::as_str).collect();
        asked.push(&hashes[10]);
        asked.push("not-a-hash");
        asked.push("");
        let got = store.get_many(&asked).await.unwrap();
        let exists = store.exists_many(&asked).await.unwrap();
        let texts = store.get_texts(&asked).await.unwrap();
        assert_eq!(texts.len(), asked.len());
        for (t, g) in texts.iter().zip(&got) {
            assert_eq!(t.as_deref(), g.as_ref().map(|g| g.text.as_str()));
        }
        assert_eq!(got.len(), asked.len());
        assert_eq!(exists.len(), asked.len());
        for (i, h) in asked.iter().enumerate() {
            let expect = i < 1200 && i % 2 == 0 || i == 1200;
            assert_eq!(exists[i], expect, "exists {i} {h}");
            match &got[i] {
                Some(s) => {
                    assert!(expect, "{i}");
                    assert_eq!(s.hash, *h);
                    let n = &stored[if i == 1200 { 5 } else { i / 2 }];
                    assert_eq!(s.text, n.text());
                }
                None => assert!(!expect, "{i} {h} missing"),
            }
        }
        assert!(store.get_many(&[]).await.unwrap().is_empty());
        assert!(store.exists_many(&[]).await.unwrap().is_empty());
        assert!(store.get_texts(&[]).await.unwrap().is_empty());
        assert_eq!(store.get("not-a-hash").await.unwrap(), None);
        assert_eq!(store.get(&hashes[1]).await.unwrap(), None);
        store.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn remove_and_prune() {
    for_each_backend("remove_and_prune", |db| async move {
        let store = db.open(&nix()).await;
        let a = synthetic("/nix/store", 1, &[1, 2, 3]);
        let b = synthetic("/nix/store", 2, &[3]);
        store
            .add_many(&[a.clone(), b.clone()], AddMode::Keep)
            .await
            .unwrap();
        let info = store.counts().await.unwrap();
        assert_eq!((info.narinfos, info.references, info.items), (2, 4, 3));

        assert!(store.remove(a.hash_part()).await.unwrap());
        assert!(!store.remove(a.hash_part()).await.unwrap());
        assert!(!store.remove("junk").await.unwrap());
        assert_eq!(store.get(a.hash_part()).await.unwrap(), None);
        assert!(store.nar_files(a.hash_part()).await.unwrap().is_empty());
        assert_eq!(store.references(a.hash_part()).await.unwrap(), None);
        assert_stored(&store, &b).await;
        let info = store.counts().await.unwrap();
        assert_eq!((info.narinfos, info.references, info.nar_files), (1, 1, 1));
        // hash 1 (no narinfo, unreferenced) can go; 2 and 3 stay.
        assert_eq!(store.prune_items().await.unwrap(), 1);
        assert_eq!(store.counts().await.unwrap().items, 2);
        // Removed items can be added back.
        assert_eq!(
            store.add(&a, AddMode::Keep).await.unwrap(),
            AddOutcome::Inserted
        );
        assert_stored(&store, &a).await;
        let n = store
            .remove_many(&[a.hash_part(), b.hash_part(), &hash_for(77)])
            .await
            .unwrap();
        assert_eq!(n, 2);
        let info = store.counts().await.unwrap();
        assert_eq!((info.narinfos, info.references, info.nar_files), (0, 0, 0));
        assert_eq!(store.prune_items().await.unwrap(), 3);
        store.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn list_pages_in_hash_order() {
    for_each_backend("list_pages_in_hash_order", |db| async move {
        let store = db.open(&nix()).await;
        let all: Vec<Narinfo> = (0..250u64)
            .map(|i| synthetic("/nix/store", i, &[i + 1000]))
            .collect();
        store.add_many(&all, AddMode::Keep).await.unwrap();
        let mut expected: Vec<String> = all.iter().map(|n| n.hash_part().to_string()).collect();
        expected.sort();
        let mut paged = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = store.list(after.as_deref(), 100).await.unwrap();
            assert!(page.len() <= 100);
            if page.is_empty() {
                break;
            }
            after = page.last().cloned();
            paged.extend(page);
        }
        assert_eq!(paged, expected);
        let paths = store.list_paths(None, 1000).await.unwrap();
        let mut expected_paths: Vec<String> =
            all.iter().map(|n| n.store_path().to_string()).collect();
        expected_paths.sort();
        assert_eq!(paths, expected_paths);
        // Paging by path works too.
        let rest = store.list_paths(Some(&paths[9]), 5).await.unwrap();
        assert_eq!(rest, paths[10..15]);
        assert!(matches!(
            store.list(Some("bad"), 1).await,
            Err(Error::InvalidArgument(_))
        ));
        store.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn closure_and_referrers() {
    for_each_backend("closure_and_referrers", |db| async move {
        let store = db.open(&nix()).await;
        // chain 1→2→3; diamond 10→{11,12}, 11→13, 12→13; self 20→20;
        // 30→{31 (missing), 1}.
        let graph: &[(u64, &[u64])] = &[
            (1, &[2]),
            (2, &[3]),
            (3, &[]),
            (10, &[11, 12]),
            (11, &[13]),
            (12, &[13]),
            (13, &[]),
            (20, &[20]),
            (30, &[31, 1]),
        ];
        let narinfos: Vec<Narinfo> = graph
            .iter()
            .map(|(n, r)| synthetic("/nix/store", *n, r))
            .collect();
        store.add_many(&narinfos, AddMode::Keep).await.unwrap();
        let set = |ns: &[u64]| {
            let mut v: Vec<String> = ns.iter().map(|&n| hash_for(n)).collect();
            v.sort();
            v
        };
        let h = hash_for;
        assert_eq!(store.closure(&h(1)).await.unwrap(), set(&[1, 2, 3]));
        assert_eq!(store.closure(&h(3)).await.unwrap(), set(&[3]));
        assert_eq!(store.closure(&h(10)).await.unwrap(), set(&[10, 11, 12, 13]));
        assert_eq!(store.closure(&h(20)).await.unwrap(), set(&[20]));
        assert_eq!(
            store.closure(&h(30)).await.unwrap(),
            set(&[30, 31, 1, 2, 3])
        );
        assert_eq!(store.closure(&h(31)).await.unwrap(), set(&[31]));
        assert!(store.closure(&h(99)).await.unwrap().is_empty());
        assert_eq!(store.referrers(&h(3)).await.unwrap(), set(&[1, 2, 3, 30]));
        assert_eq!(
            store.referrers(&h(13)).await.unwrap(),
            set(&[10, 11, 12, 13])
        );
        assert_eq!(store.referrers(&h(20)).await.unwrap(), set(&[20]));
        assert_eq!(store.referrers(&h(31)).await.unwrap(), set(&[30, 31]));
        assert!(store.referrers(&h(99)).await.unwrap().is_empty());
        assert!(matches!(
            store.closure("x").await,
            Err(Error::InvalidArgument(_))
        ));
        // The missing item is known but not stored.
        assert_eq!(
            store.exists_many(&[&h(31), &h(30)]).await.unwrap(),
            vec![false, true]
        );
        store.close().await;
        db
    })
    .await;
}

async fn set_schema_version(store: &Store, version: i64) {
    let sql = "UPDATE meta SET value = $1 WHERE key = 'schema_version'";
    let n = match store.backend() {
        Backend::Sqlite(p) => sqlx::query(sql)
            .bind(version.to_string())
            .execute(p)
            .await
            .map(|r| r.rows_affected()),
        Backend::Postgres(p) => sqlx::query(sql)
            .bind(version.to_string())
            .execute(p)
            .await
            .map(|r| r.rows_affected()),
    }
    .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn schema_versions() {
    for_each_backend("schema_versions", |db| async move {
        let g = guix_fixtures();
        let store = db.open(&guix()).await;
        store.add_many(&g, AddMode::Keep).await.unwrap();
        store.close().await;
        // Reopening keeps the data and migrates nothing.
        let store = db.open(&StoreOptions::default()).await;
        assert_eq!(store.store_dir(), "/gnu/store");
        for n in &g {
            assert_stored(&store, n).await;
        }
        set_schema_version(&store, SCHEMA_VERSION + 6).await;
        store.close().await;
        match Store::open(&db.url, &StoreOptions::default()).await {
            Err(e @ Error::Store(_)) => {
                let msg = e.to_string();
                let want = format!(
                    "database schema version {} is newer than this narherder (knows up to {SCHEMA_VERSION}); upgrade narherder",
                    SCHEMA_VERSION + 6
                );
                assert!(msg.contains(&want), "{msg}");
            }
            Ok(_) => panic!("a newer schema was accepted"),
            Err(e) => panic!("unexpected error {e}"),
        }
        db
    })
    .await;
}

#[tokio::test]
async fn bad_urls_are_refused() {
    for url in ["mysql://x/y", "narherder.db", "sqlite://"] {
        match Store::open(url, &StoreOptions::default()).await {
            Err(Error::InvalidArgument(m)) => assert!(m.contains("sqlite"), "{m}"),
            Err(e) => panic!("{url}: unexpected error {e}"),
            Ok(_) => panic!("{url} accepted"),
        }
    }
    match Store::open("sqlite:///nonexistent-dir/x/y.db", &StoreOptions::default()).await {
        Err(Error::Store(m)) => assert!(m.contains("/nonexistent-dir/x/y.db"), "{m}"),
        other => panic!("{other:?}"),
    }
    let mem = Store::open("sqlite::memory:", &StoreOptions::default())
        .await
        .unwrap();
    mem.add_many(&guix_fixtures(), AddMode::Keep).await.unwrap();
    assert_eq!(
        mem.counts().await.unwrap().narinfos,
        guix_fixtures().len() as u64
    );
}

// ---------------------------------------------------------------------
// Crash safety: a child process adds batches in a loop and is killed with
// SIGKILL; every committed batch must be whole.

const CHILD_ENV: &str = "NARHERDER_TEST_CRASH_CHILD_URL";
const CHILD_BATCH: u64 = 200;

/// Narinfo `n` of the crash test: references its predecessors.
fn crash_narinfo(n: u64) -> Narinfo {
    let refs: Vec<u64> = (n.saturating_sub(3)..=n).chain([n + 5_000_000]).collect();
    synthetic("/nix/store", n, &refs)
}

/// Not a test on its own: the child half of `kill_9_during_add_many`.
#[tokio::test]
async fn crash_child_writer() {
    let Ok(url) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store = Store::open(&url, &nix()).await.unwrap();
    let mut n = 0u64;
    loop {
        let batch: Vec<Narinfo> = (n..n + CHILD_BATCH).map(crash_narinfo).collect();
        store.add_many(&batch, AddMode::Keep).await.unwrap();
        n += CHILD_BATCH;
    }
}

#[tokio::test]
async fn kill_9_during_add_many() {
    for_each_backend("kill_9_during_add_many", |db| async move {
        // Create the store before the child so it sees the schema.
        db.open(&nix()).await.close().await;
        let exe = std::env::current_exe().unwrap();
        let mut child = std::process::Command::new(exe)
            .args([
                "--exact",
                "crash_child_writer",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &db.url)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let store = db.open(&nix()).await;
        let start = Instant::now();
        loop {
            let n = store.counts().await.unwrap().narinfos;
            if n >= 5 * CHILD_BATCH {
                break;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("child writer exited early: {status}");
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "child too slow ({n})"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        store.close().await;

        if let Some(path) = db.sqlite_path() {
            let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(&path);
            let pool = sqlx::SqlitePool::connect_with(opts).await.unwrap();
            let check: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
                .fetch_all(&pool)
                .await
                .unwrap();
            assert_eq!(check, vec!["ok".to_string()]);
            pool.close().await;
        }
        let store = db.open(&nix()).await;
        let info = store.counts().await.unwrap();
        assert!(info.narinfos >= 5 * CHILD_BATCH);
        assert_eq!(info.narinfos % CHILD_BATCH, 0, "a partial batch is visible");
        let hashes = store.list(None, u32::MAX).await.unwrap();
        assert_eq!(hashes.len() as u64, info.narinfos);
        let mut refs = 0;
        let mut files = 0;
        for n in 0..info.narinfos {
            let want = crash_narinfo(n);
            assert_stored(&store, &want).await;
            refs += sorted_refs(&want).len() as u64;
            files += want.files().len() as u64;
        }
        assert_eq!(info.references, refs);
        assert_eq!(info.nar_files, files);
        store.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn readers_while_writing() {
    for_each_backend("readers_while_writing", |db: TestDb| async move {
        let writer = db.open(&nix()).await;
        let reader = db.open(&nix()).await;
        let first: Vec<Narinfo> = (0..100u64)
            .map(|i| synthetic("/nix/store", i, &[]))
            .collect();
        writer.add_many(&first, AddMode::Keep).await.unwrap();
        let w = writer.clone();
        let write = tokio::spawn(async move {
            for b in 1..20u64 {
                let batch: Vec<Narinfo> = (b * 100..b * 100 + 100)
                    .map(|i| synthetic("/nix/store", i, &[i - 1]))
                    .collect();
                w.add_many(&batch, AddMode::Keep).await.unwrap();
            }
        });
        let hashes: Vec<String> = (0..100u64).map(hash_for).collect();
        let asked: Vec<&str> = hashes.iter().map(String::as_str).collect();
        while !write.is_finished() {
            let got = reader.exists_many(&asked).await.unwrap();
            assert!(got.iter().all(|x| *x));
            let n = reader.counts().await.unwrap().narinfos;
            assert_eq!(n % 100, 0);
        }
        write.await.unwrap();
        assert_eq!(reader.counts().await.unwrap().narinfos, 2000);
        writer.close().await;
        reader.close().await;
        db
    })
    .await;
}

async fn has_reverse_index(store: &Store) -> bool {
    match store.backend() {
        Backend::Sqlite(p) => {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'refs_to'",
            )
            .fetch_one(p)
            .await
            .unwrap();
            n == 1
        }
        Backend::Postgres(p) => {
            let n: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM pg_indexes WHERE indexname = 'refs_to'")
                    .fetch_one(p)
                    .await
                    .unwrap();
            n == 1
        }
    }
}

#[tokio::test]
async fn bulk_load_defers_the_reverse_index() {
    for_each_backend("bulk_load", |db| async move {
        let store = db.open(&nix()).await;
        assert!(has_reverse_index(&store).await);
        assert!(!store.counts().await.unwrap().bulk_load);
        store.begin_bulk_load().await.unwrap();
        store.begin_bulk_load().await.unwrap();
        assert!(!has_reverse_index(&store).await);
        assert!(store.counts().await.unwrap().bulk_load);
        let chain: Vec<Narinfo> = (1..=50u64)
            .map(|i| synthetic("/nix/store", i, &[i - 1]))
            .collect();
        store.add_many(&chain, AddMode::Keep).await.unwrap();
        // Another process opening the store leaves the bulk load alone.
        let other = db.open(&nix()).await;
        assert!(!has_reverse_index(&other).await);
        // Referrers still answer (slowly), closure is unaffected.
        let all: BTreeSet<String> = (0..=50u64).map(hash_for).collect();
        let all: Vec<String> = all.into_iter().collect();
        assert_eq!(other.referrers(&hash_for(0)).await.unwrap(), all);
        assert_eq!(other.closure(&hash_for(50)).await.unwrap(), all);
        assert_eq!(other.prune_items().await.unwrap(), 0);
        other.close().await;
        store.end_bulk_load().await.unwrap();
        store.end_bulk_load().await.unwrap();
        assert!(has_reverse_index(&store).await);
        assert!(!store.counts().await.unwrap().bulk_load);
        assert_eq!(store.referrers(&hash_for(0)).await.unwrap(), all);
        store.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn every_table_has_a_primary_key() {
    for_each_backend("primary_keys", |db| async move {
        let store = db.open(&nix()).await;
        let missing: Vec<String> = match store.backend() {
            Backend::Sqlite(p) => sqlx::query_scalar(
                "SELECT m.name FROM sqlite_master m WHERE m.type = 'table' \
                 AND m.name NOT LIKE 'sqlite_%' AND NOT EXISTS \
                 (SELECT 1 FROM pragma_table_info(m.name) t WHERE t.pk > 0)",
            )
            .fetch_all(p)
            .await
            .unwrap(),
            Backend::Postgres(p) => sqlx::query_scalar(
                "SELECT c.relname::text FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace \
                 WHERE c.relkind = 'r' AND s.nspname = current_schema() AND NOT EXISTS \
                 (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'p')",
            )
            .fetch_all(p)
            .await
            .unwrap(),
        };
        assert!(missing.is_empty(), "tables without a primary key: {missing:?}");
        store.close().await;
        db
    })
    .await;
}
