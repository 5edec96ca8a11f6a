//! Runs every fuzz target's body (`narherder::fuzzing`) over its seed corpus
//! (`fuzz/seeds/<target>/`, made from `tests/data/` by `fuzz/make-seeds`)
//! and over every input a fuzzer found that once failed
//! (`fuzz/regressions/<target>/`): the smoke run of the fuzz targets in the
//! normal test suite, on stable Rust.

use std::path::{Path, PathBuf};

use narherder::fuzzing::{run, TARGETS};

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.expect("reading a corpus directory").path())
            .filter(|p| p.is_file())
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

fn run_all(kind: &str, must_have: bool) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind);
    let mut total = 0;
    for target in TARGETS {
        let files = inputs(&root.join(target));
        if must_have {
            assert!(!files.is_empty(), "no seeds in fuzz/{kind}/{target}/");
        }
        for f in &files {
            let data = std::fs::read(f).unwrap();
            // A failure names the input, to reproduce with
            // `cargo fuzz run <target> <file>`.
            eprintln!("{target}: {}", f.display());
            assert!(run(target, &data), "unknown target {target}");
        }
        total += files.len();
    }
    eprintln!("{total} {kind} inputs ran");
}

#[test]
fn seed_corpora() {
    run_all("seeds", true);
}

#[test]
fn regressions() {
    run_all("regressions", false);
}

#[test]
fn every_target_has_a_fuzz_target_file() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/fuzz_targets");
    for target in TARGETS {
        assert!(dir.join(format!("{target}.rs")).is_file(), "{target}");
    }
    assert!(!run("no-such-target", b""));
}
