//! The `narherder` binary: import, show, list, info, check, exit statuses,
//! and a kill -9 in the middle of a large import. SQLite databases in
//! temporary directories.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use narherder::synth::{self, FileLayout, Flavour, SynthOptions};
use narherder::Narinfo;

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

/// A temporary directory with a database URL inside it.
struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn db_path(&self) -> PathBuf {
        self.dir.path().join("narherder.db")
    }
    fn url(&self) -> String {
        format!("sqlite://{}", self.db_path().display())
    }
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_narherder"));
        c.env_remove("NARHERDER_DATABASE")
            .arg("--database")
            .arg(self.url())
            .args(args);
        c
    }
    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn guix_files() -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = fs::read_dir(data("guix"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "narinfo"))
        .map(|p| {
            let t = fs::read_to_string(&p).unwrap();
            (Narinfo::parse(&t).unwrap().hash_part().to_string(), t)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn import_then_show_is_byte_identical() {
    let env = Env::new();
    let guix = data("guix");
    let out = env.run(&["import", guix.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("imported 5 (new 5, unchanged 0, replaced 0), rejected 0"),
        "{}",
        text(&out.stderr)
    );

    let files = guix_files();
    for (hash, body) in &files {
        let out = env.run(&["show", hash]);
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(out.stdout, body.as_bytes(), "{hash}");
    }
    // Several at once, separated by a blank line; by base name and store path.
    let n = Narinfo::parse(&files[1].1).unwrap();
    let out = env.run(&["show", &files[0].0, n.base_name(), n.store_path()]);
    assert_eq!(out.status.code(), Some(0));
    let expected = format!("{}\n{}\n{}", files[0].1, files[1].1, files[1].1);
    assert_eq!(text(&out.stdout), expected);

    // A miss: exit 1, named on stderr, the hits still printed.
    let missing = "00000000000000000000000000000000";
    let out = env.run(&["show", missing, &files[0].0]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains(missing));
    assert_eq!(out.stdout, files[0].1.as_bytes());
    let out = env.run(&["show", "not-a-hash"]);
    assert_eq!(out.status.code(), Some(1));

    // Re-import: all unchanged.
    let out = env.run(&["import", guix.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("imported 5 (new 0, unchanged 5, replaced 0)"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn list_and_info() {
    let env = Env::new();
    let out = env.run(&["import", data("guix").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let files = guix_files();
    let out = env.run(&["list"]);
    assert_eq!(out.status.code(), Some(0));
    let mut listed: Vec<String> = text(&out.stdout).lines().map(String::from).collect();
    listed.sort();
    assert_eq!(
        listed,
        files.iter().map(|f| f.0.clone()).collect::<Vec<_>>()
    );
    let out = env.run(&["list", "--paths"]);
    let mut paths: Vec<String> = text(&out.stdout).lines().map(String::from).collect();
    paths.sort();
    let mut expected: Vec<String> = files
        .iter()
        .map(|f| Narinfo::parse(&f.1).unwrap().store_path().to_string())
        .collect();
    expected.sort();
    assert_eq!(paths, expected);
    let out = env.run(&["info"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let info = text(&out.stdout);
    assert!(
        info.lines()
            .any(|l| l.starts_with("narinfos:") && l.ends_with(" 5")),
        "{info}"
    );
    let nar_size: u64 = files
        .iter()
        .map(|f| Narinfo::parse(&f.1).unwrap().nar_size())
        .sum();
    assert!(info.contains(&format!("({nar_size} bytes)")), "{info}");
}

#[test]
fn rejected_files_give_status_1_and_path_line_reasons() {
    let env = Env::new();
    let src = env.dir.path().join("src");
    fs::create_dir(&src).unwrap();
    for (hash, body) in guix_files() {
        fs::write(src.join(format!("{hash}.narinfo")), body).unwrap();
    }
    fs::write(src.join("broken.narinfo"), "StorePath: /gnu/store/short\n").unwrap();
    let out = env.run(&["import", src.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("{}:1: ", src.join("broken.narinfo").display())),
        "{err}"
    );
    assert!(err.contains("imported 5 (new 5"), "{err}");
    assert!(err.contains("rejected 1"), "{err}");
    // Usage errors are 2.
    assert_eq!(env.run(&["import"]).status.code(), Some(2));
    assert_eq!(
        env.run(&["import", "--nar-files", "move", "x"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn import_from_stdin() {
    let env = Env::new();
    let mut child = env
        .cmd(&["--store-dir", "/nix/store", "import", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let sample = fs::read(data("nix/cache.nixos.org-sample.narinfos")).unwrap();
    child.stdin.take().unwrap().write_all(&sample).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("imported 200 (new 200"),
        "{}",
        text(&out.stderr)
    );
    let first = narherder::narinfo::parse_many(&text(&sample))
        .remove(0)
        .1
        .unwrap();
    let out = env.run(&["show", first.hash_part()]);
    assert_eq!(out.stdout, first.text().as_bytes());
}

#[test]
fn check_reports_missing_and_orphans() {
    let env = Env::new();
    let cache = env.dir.path().join("cache");
    synth::write_cache(
        &cache,
        &SynthOptions {
            count: 30,
            seed: 2,
            flavour: Flavour::Guix,
            layout: FileLayout::Flat,
            nar_files: true,
        },
    )
    .unwrap();
    let storage = env.dir.path().join("storage");
    let out = env.run(&[
        "import",
        "--storage",
        storage.to_str().unwrap(),
        "--nar-files",
        "hardlink",
        cache.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = env.run(&["check", "--storage", storage.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    // Remove one nar file, add an orphan.
    let victim = fs::read_dir(storage.join("nar/lzip"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    fs::remove_file(&victim).unwrap();
    fs::write(storage.join("nar/lzip/stray"), "x").unwrap();
    let out = env.run(&["check", "--storage", storage.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let report = text(&out.stdout);
    let victim_name = victim.file_name().unwrap().to_string_lossy().to_string();
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("missing\t") && l.ends_with(&format!("nar/lzip/{victim_name}"))),
        "{report}"
    );
    assert!(
        report.lines().any(|l| l == "orphan\tnar/lzip/stray"),
        "{report}"
    );
    assert_eq!(report.lines().count(), 2, "{report}");
}

#[test]
fn kill_9_during_import_leaves_a_consistent_database() {
    let env = Env::new();
    let cache = env.dir.path().join("cache");
    let count = 20_000;
    synth::write_cache(
        &cache,
        &SynthOptions {
            count,
            seed: 9,
            flavour: Flavour::Guix,
            layout: FileLayout::TwoLevel,
            nar_files: false,
        },
    )
    .unwrap();
    // Create the database first, so that polling it below sees a schema.
    let out = env.run(&["info"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut child = env
        .cmd(&["import", "--batch-size", "500", cache.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once some batches are committed.
    let started = Instant::now();
    loop {
        let n = sqlite_count(&env.db_path());
        if n > 0 || started.elapsed() > Duration::from_secs(60) {
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();

    let integrity = Command::new("sqlite3")
        .arg(env.db_path())
        .arg("PRAGMA integrity_check;")
        .output()
        .expect("sqlite3 CLI");
    assert_eq!(
        text(&integrity.stdout).trim(),
        "ok",
        "{}",
        text(&integrity.stderr)
    );

    // Every stored narinfo is byte-identical to its source file.
    let out = env.run(&["list"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let hashes: Vec<String> = text(&out.stdout).lines().map(String::from).collect();
    eprintln!("kill -9 left {} of {count} narinfos", hashes.len());
    assert!(!hashes.is_empty());
    for chunk in hashes.chunks(2000) {
        let mut args = vec!["show"];
        args.extend(chunk.iter().map(String::as_str));
        let out = env.run(&args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let mut expected = Vec::new();
        for (i, h) in chunk.iter().enumerate() {
            if i > 0 {
                expected.push(b'\n');
            }
            let file = synth::narinfo_path(&cache, h, FileLayout::TwoLevel);
            expected.extend(fs::read(file).unwrap());
        }
        assert!(
            out.stdout == expected,
            "stored texts differ from their files"
        );
    }
    // The first import into an empty store was a bulk load, left unfinished.
    let out = env.run(&["info"]);
    assert!(
        text(&out.stdout).contains("bulk load:   unfinished"),
        "{}",
        text(&out.stdout)
    );
    // And the import can simply be run again to completion.
    let out = env.run(&["import", cache.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains(&format!("imported {count} ")), "{err}");
    // The interrupted bulk load was finished by that import.
    let out = env.run(&["info"]);
    assert!(
        !text(&out.stdout).contains("bulk load"),
        "{}",
        text(&out.stdout)
    );
    let integrity = Command::new("sqlite3")
        .arg(env.db_path())
        .arg("PRAGMA integrity_check;")
        .output()
        .expect("sqlite3 CLI");
    assert_eq!(text(&integrity.stdout).trim(), "ok");
}

/// Rows in `narinfos`, read with the sqlite3 CLI (0 when unreadable).
fn sqlite_count(db: &Path) -> u64 {
    Command::new("sqlite3")
        .arg(db)
        .arg("SELECT count(*) FROM narinfos;")
        .output()
        .ok()
        .and_then(|o| text(&o.stdout).trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn require_signature_imports_only_what_the_keys_sign() {
    let env = Env::new();
    let guix = data("guix");
    // The farms' ACL: the four real narinfos verify, the synthetic one
    // (signed by the throwaway key) does not.
    let acl = data("guix/keys/acl");
    let out = env.run(&[
        "import",
        "--require-signature",
        "--key",
        acl.to_str().unwrap(),
        guix.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("imported 4 (new 4"), "{err}");
    assert!(
        err.lines().any(|l| l.contains("0123456789abcdfghijklmnpqrsvwxyz.example-1.0.synthetic.narinfo:1: signature check: unauthorized-key")),
        "{err}"
    );
    // The throwaway key: only the synthetic one.
    let env = Env::new();
    let key = data("guix/keys/testhost.pub");
    let out = env.run(&[
        "import",
        "--require-signature",
        "--key",
        key.to_str().unwrap(),
        guix.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("imported 1 (new 1"),
        "{}",
        text(&out.stderr)
    );
    let out = env.run(&["list"]);
    assert_eq!(text(&out.stdout), "0123456789abcdfghijklmnpqrsvwxyz\n");
    // Nix: every sample narinfo is signed by cache.nixos.org-1.
    let env = Env::new();
    let keys = data("nix/keys.txt");
    let sample = data("nix/cache.nixos.org-sample.narinfos");
    let out = env.run(&[
        "--store-dir",
        "/nix/store",
        "import",
        "--require-signature",
        "--key",
        keys.to_str().unwrap(),
        sample.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("imported 200 (new 200"),
        "{}",
        text(&out.stderr)
    );
    // --require-signature without --key is a usage error.
    assert_eq!(
        env.run(&["import", "--require-signature", "x"])
            .status
            .code(),
        Some(2)
    );
}
