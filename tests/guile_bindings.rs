//! The Guile bindings (`guile/`): the SRFI-64 suites of
//! `tests/guile/bindings-*.scm` run with the real `guile` against the
//! cdylib cargo built for this test run (SQLite and, when available,
//! PostgreSQL); `scripts/install` installs modules that load the installed
//! library, compiled; `doc/guile-api.md` is what `doc/gen-guile-api.scm`
//! generates from the docstrings (every exported procedure has one).
//!
//! A missing `guile` or `guild` skips with a message, except under
//! `CI=true` where it fails (`scripts/test` installs guile-3.0).

mod common;
mod native;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::TestDb;
use native::{built_lib_dir, check, crate_dir, have};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// `guile` with the environment of `tests/guile/bindings-support.scm`,
/// running from a scratch directory (SRFI-64 writes its log there).
fn guile(url: &str, tmp: &Path) -> Command {
    let mut cmd = Command::new("guile");
    cmd.arg("--no-auto-compile")
        .current_dir(tmp)
        .env("NARHERDER_LIBRARY", built_lib_dir().join("libnarherder.so"))
        .env(
            "GUILE_LOAD_PATH",
            format!(
                "{}:{}",
                crate_dir().join("guile").display(),
                crate_dir().join("tests").join("guile").display()
            ),
        )
        // Only these modules' sources: no stale compiled files.
        .env_remove("GUILE_LOAD_COMPILED_PATH")
        .env("NARHERDER_TEST_URL", url)
        .env(
            "NARHERDER_TEST_DATA",
            crate_dir().join("tests").join("data"),
        )
        .env("NARHERDER_TEST_TMP", tmp)
        .env("NARHERDER_TEST_ROOT", crate_dir());
    cmd
}

/// Runs `tests/guile/bindings-<suite>.scm` on a database; the suite exits
/// non-zero when a test fails.
fn run_suite(suite: &str, db: &TestDb) {
    let tmp = tempfile::tempdir().expect("temporary directory");
    let script = crate_dir()
        .join("tests")
        .join("guile")
        .join(format!("bindings-{suite}.scm"));
    let out = guile(&db.url, tmp.path()).arg(&script).output();
    let out = out.unwrap_or_else(|e| panic!("cannot run guile: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let log = std::fs::read_to_string(tmp.path().join(format!("bindings-{suite}.log")))
        .unwrap_or_default();
    assert!(
        out.status.success() && stdout.contains(" 0 failed"),
        "bindings-{suite} on {} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{}\n--- failures\n{}",
        db.backend,
        out.status,
        String::from_utf8_lossy(&out.stderr),
        failures(&log)
    );
    eprintln!(
        "-- bindings-{suite} on {}: {}",
        db.backend,
        stdout.lines().last().unwrap_or("")
    );
}

/// The failed tests of an SRFI-64 log, with their context.
fn failures(log: &str) -> String {
    log.split("Test begin:")
        .filter(|t| t.contains("result-kind: fail"))
        .collect::<Vec<_>>()
        .join("Test begin:")
}

/// Runs a suite on every backend (SQLite, and PostgreSQL when available).
fn on_every_backend(suite: &str) {
    if !have("guile") {
        return;
    }
    let rt = runtime();
    for db in rt.block_on(common::databases(&format!("guile_{suite}"))) {
        run_suite(suite, &db);
        rt.block_on(db.finish_public());
    }
}

#[test]
fn stores_narinfos_import_roots_gc_analytics() {
    on_every_backend("store");
}

#[test]
fn threads_finalizer_close_and_fork() {
    on_every_backend("threads");
}

#[test]
fn keys_verify_and_sign() {
    if !have("guile") {
        return;
    }
    run_suite("keys", &common::sqlite_db());
}

#[test]
fn example_server_and_script() {
    if !have("guile") {
        return;
    }
    run_suite("server", &common::sqlite_db());
}

/// Compiles the modules of `guile/` with `guild` into `dir`.
fn compile_modules(dir: &Path) {
    let src = crate_dir().join("guile");
    let mut modules = vec![PathBuf::from("narherder.scm")];
    for entry in std::fs::read_dir(src.join("narherder")).expect("guile/narherder") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) == Some("scm") {
            modules.push(Path::new("narherder").join(path.file_name().expect("file name")));
        }
    }
    for module in modules {
        let go = dir.join(module.with_extension("go"));
        check(
            Command::new("guild")
                .arg("compile")
                .arg("-L")
                .arg(&src)
                .arg("-o")
                .arg(&go)
                .arg(src.join(&module)),
        );
    }
}

#[test]
fn reference_documentation_matches_the_docstrings() {
    if !have("guile") {
        return;
    }
    if !have("guild") {
        return;
    }
    let tmp = tempfile::tempdir().expect("temporary directory");
    // Compiled, as installed: interpreted procedures lose their argument
    // names.
    let ccache = tmp.path().join("ccache");
    compile_modules(&ccache);
    let generated = tmp.path().join("guile-api.md");
    check(
        guile("sqlite::memory:", tmp.path())
            .env("GUILE_LOAD_COMPILED_PATH", &ccache)
            .arg(crate_dir().join("doc").join("gen-guile-api.scm"))
            .arg(&generated),
    );
    let generated = std::fs::read_to_string(&generated).expect("generated reference");
    let committed =
        std::fs::read_to_string(crate_dir().join("doc").join("guile-api.md")).unwrap_or_default();
    assert!(
        generated == committed,
        "doc/guile-api.md differs from the docstrings: regenerate it with \
         `guile -L guile doc/gen-guile-api.scm doc/guile-api.md` and commit it"
    );
    // Every procedure (narherder) exports has its own entry.
    let out = check(guile("sqlite::memory:", tmp.path()).args([
        "-c",
        "(use-modules (narherder)) \
         (module-for-each (lambda (name var) \
            (when (procedure? (if (macro? (variable-ref var)) \
                                  (eval name (resolve-module '(narherder))) \
                                  (variable-ref var))) \
              (display name) (newline))) \
          (module-public-interface (resolve-module '(narherder))))",
    ]));
    let names = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(names.lines().count() > 80, "too few exports: {names}");
    for name in names.lines() {
        assert!(
            committed.contains(&format!("### `({name}")),
            "{name} is exported by (narherder) but has no entry in doc/guile-api.md"
        );
    }
}

#[test]
fn installed_modules_load_the_installed_library_compiled() {
    if !have("guile") || !have("guild") {
        return;
    }
    let prefix = tempfile::tempdir().expect("temporary directory");
    let site = prefix.path().join("share/guile/site/3.0");
    let ccache = prefix.path().join("lib/guile/3.0/site-ccache");
    check(
        Command::new(crate_dir().join("scripts").join("install"))
            .arg("--prefix")
            .arg(prefix.path())
            .arg("--from")
            .arg(built_lib_dir())
            .arg("--guile-site-dir")
            .arg(&site)
            .arg("--guile-ccache-dir")
            .arg(&ccache),
    );
    let major = env!("CARGO_PKG_VERSION_MAJOR");
    let library = prefix
        .path()
        .join("lib")
        .join(format!("libnarherder.so.{major}"));
    for module in [
        "narherder",
        "narherder/config",
        "narherder/ffi",
        "narherder/store",
        "narherder/narinfo",
        "narherder/import",
        "narherder/roots",
        "narherder/gc",
        "narherder/analytics",
        "narherder/keys",
    ] {
        assert!(site.join(format!("{module}.scm")).is_file(), "{module}.scm");
        assert!(ccache.join(format!("{module}.go")).is_file(), "{module}.go");
    }
    let config = std::fs::read_to_string(site.join("narherder/config.scm")).expect("config");
    assert!(
        config.contains(&format!("\"{}\"", library.display())),
        "(narherder config) does not name {}:\n{config}",
        library.display()
    );

    // A program using only the installed files: no NARHERDER_LIBRARY, no
    // source directory; the compiled files are used (auto-compilation off
    // would fail loudly on a missing .go only with a warning, so the check
    // is that no compilation message appears either).
    let db = common::sqlite_db();
    let hello = crate_dir()
        .join("tests/data/guix/cs56i9digj9qg1bd383cmxc6xrfpdn9n.hello-2.12.2.bordeaux.narinfo");
    let program = format!(
        "(use-modules (narherder) (ice-9 rdelim)) \
         (define text (call-with-input-file {hello:?} read-string)) \
         (call-with-store {url:?} \
           (lambda (store) \
             (add-narinfo! store text) \
             (display (narinfo-path (lookup-narinfo store \"cs56i9digj9qg1bd383cmxc6xrfpdn9n\"))) \
             (newline) \
             (display (narherder-library-file)) (newline) \
             (display (narherder-version)) (newline)))",
        hello = hello.display().to_string(),
        url = db.url,
    );
    let out = check(
        Command::new("guile")
            .args(["-c", &program])
            .env_remove("NARHERDER_LIBRARY")
            .env("GUILE_LOAD_PATH", &site)
            .env("GUILE_LOAD_COMPILED_PATH", &ccache)
            .env("HOME", prefix.path()),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stdout,
        format!(
            "/gnu/store/cs56i9digj9qg1bd383cmxc6xrfpdn9n-hello-2.12.2\n{}\n{}\n",
            library.display(),
            env!("CARGO_PKG_VERSION")
        )
    );
    assert!(
        !stderr.contains("compiling"),
        "the installed .go files were not used:\n{stderr}"
    );
}

#[test]
fn struct_layouts_match_the_c_abi() {
    use narherder::capi::{analytics, gc, import, store};
    use std::mem::{offset_of, size_of};
    if !have("guile") {
        return;
    }
    let tmp = tempfile::tempdir().expect("temporary directory");
    // Each layout: the field offsets, then the size, as (narherder ffi)
    // computes them.
    let program = "(use-modules (narherder store) (narherder import) (narherder gc) \
                    (narherder analytics)) \
                   (for-each (lambda (m+v) \
                     (write (module-ref (resolve-module (car m+v)) (cdr m+v))) (newline)) \
                    '(((narherder store) . %options-layout) \
                      ((narherder import) . %options-layout) \
                      ((narherder gc) . %options-layout) \
                      ((narherder gc) . %stats-layout) \
                      ((narherder analytics) . %request-layout)))";
    let out = check(guile("sqlite::memory:", tmp.path()).args(["-c", program]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    macro_rules! layout {
        ($t:ty; $($f:ident),*) => {
            format!("({})", [$(offset_of!($t, $f)),*, size_of::<$t>()]
                .iter().map(|n| n.to_string()).collect::<Vec<_>>().join(" "))
        };
    }
    let expected = [
        layout!(store::narherder_store_options; store_dir, store_dir_len, max_connections,
                disable_fast_reads, read_cache_bytes),
        layout!(import::narherder_import_options; batch_size, replace, parsers, storage_dir,
                storage_dir_len, nar_files, keyring, dry_run, bulk_load),
        layout!(gc::narherder_gc_options; dry_run, grace_seconds, max_delete, storage_dir,
                storage_dir_len, force, batch_size),
        layout!(gc::narherder_gc_stats; live, dead, deleted, nar_files_deleted, bytes_freed,
                nar_bytes_freed, files_removed, kept, mark_us, elapsed_us, dry_run, logs_removed),
        layout!(analytics::narherder_request; kind, hash, hash_len),
    ];
    assert_eq!(
        lines,
        expected.iter().map(String::as_str).collect::<Vec<_>>()
    );
    // The import statistics are read as twelve uint64_t.
    assert_eq!(size_of::<import::narherder_import_stats>(), 12 * 8);
}
