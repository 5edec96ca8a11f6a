//! The C ABI from C: the committed header is what cbindgen generates, the C
//! programs of `tests/c/` compile with `-std=c11 -Wall -Wextra -Werror
//! -pedantic` and pass (on SQLite and PostgreSQL), the header compiles as
//! C++, the whole C suite is clean under valgrind, and `scripts/install`
//! gives a prefix from which `examples/c` builds through pkg-config.
//!
//! Missing tools (cc, c++, valgrind, pkg-config) skip a part with a
//! message, except under `CI=true` where they fail it.

mod common;
mod native;

#[allow(dead_code)]
#[path = "../examples/gen-header.rs"]
mod gen_header;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::TestDb;
use narherder::store::{AddMode, StoreOptions};
use narherder::Narinfo;
use native::{built_lib_dir, check, crate_dir, have, run};

fn data_dir() -> PathBuf {
    crate_dir().join("tests").join("data")
}

/// A directory where `-lnarherder` and the soname `libnarherder.so.<major>`
/// both resolve to the freshly built library (cargo leaves only the
/// unversioned file).
fn link_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("narherder-capi-lib-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("link directory");
        let lib = built_lib_dir().join("libnarherder.so");
        let major = env!("CARGO_PKG_VERSION_MAJOR");
        for name in [
            "libnarherder.so".to_string(),
            format!("libnarherder.so.{major}"),
        ] {
            let link = dir.join(name);
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(&lib, &link).expect("symlink to libnarherder.so");
        }
        dir
    })
}

/// Compiles `tests/c/<name>.c` into `out_dir`.
fn compile_c(name: &str, out_dir: &Path) -> PathBuf {
    let exe = out_dir.join(name);
    let lib = link_dir();
    check(
        Command::new("cc")
            .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-g"])
            .arg("-I")
            .arg(crate_dir().join("include"))
            .arg("-I")
            .arg(crate_dir().join("tests").join("c"))
            .arg(
                crate_dir()
                    .join("tests")
                    .join("c")
                    .join(format!("{name}.c")),
            )
            .arg("-o")
            .arg(&exe)
            .arg("-L")
            .arg(lib)
            .arg(format!("-Wl,-rpath,{}", lib.display()))
            .args(["-lnarherder", "-lpthread"]),
    );
    exe
}

/// Fresh databases for one C program: SQLite, and PostgreSQL when
/// `NARHERDER_TEST_POSTGRES` is set (required under CI).
fn databases(rt: &tokio::runtime::Runtime, test: &str) -> Vec<TestDb> {
    rt.block_on(common::databases(test))
}

/// Runs a compiled C program (optionally under `wrapper`, e.g. valgrind)
/// with the environment of `tests/c/check.h`.
fn run_c(exe: &Path, url: &str, wrapper: &[&str]) {
    let tmp = tempfile::tempdir().expect("temporary directory");
    let mut cmd = match wrapper.split_first() {
        Some((tool, args)) => {
            let mut c = Command::new(tool);
            c.args(args).arg(exe);
            c
        }
        None => Command::new(exe),
    };
    cmd.env("NARHERDER_C_URL", url)
        .env("NARHERDER_C_DATA", data_dir())
        .env("NARHERDER_C_TMP", tmp.path());
    let out = check(&mut cmd);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(": ok"), "{exe:?} did not finish: {stdout}");
}

const PROGRAMS: [&str; 4] = ["basic", "store", "threads", "fork"];

fn compiled() -> Option<(tempfile::TempDir, Vec<(&'static str, PathBuf)>)> {
    if !have("cc") {
        return None;
    }
    let dir = tempfile::tempdir().expect("temporary directory");
    let exes = PROGRAMS
        .iter()
        .map(|p| (*p, compile_c(p, dir.path())))
        .collect();
    Some((dir, exes))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Runs every C program on every backend, `wrapper` in front (`extra`
/// gives more wrapper arguments for one program).
fn run_suite(wrapper: &[&str], extra: &[(&str, &[&str])]) {
    let Some((_dir, exes)) = compiled() else {
        return;
    };
    let rt = runtime();
    for (name, exe) in &exes {
        let mut wrapper = wrapper.to_vec();
        if !wrapper.is_empty() {
            for (program, args) in extra {
                if program == name {
                    wrapper.extend_from_slice(args);
                }
            }
        }
        for db in databases(&rt, name) {
            eprintln!("-- {name} on {} {}", db.backend, wrapper.join(" "));
            run_c(exe, &db.url, &wrapper);
            rt.block_on(db.finish_public());
            if *name == "basic" {
                break; // needs no database
            }
        }
    }
}

#[test]
fn header_is_up_to_date() {
    let generated = gen_header::generate(crate_dir()).expect("cbindgen");
    let path = gen_header::header_path(crate_dir());
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} differs from what cbindgen generates from src/capi/: regenerate it with \
         `cargo run --example gen-header` and commit it",
        path.display()
    );
    assert!(committed.contains("#define NARHERDER_ABI_VERSION"));
}

#[test]
fn c_programs_pass() {
    run_suite(&[], &[]);
}

#[test]
fn header_compiles_as_cxx() {
    if !have("c++") {
        return;
    }
    let dir = tempfile::tempdir().expect("temporary directory");
    let src = dir.path().join("header.cpp");
    std::fs::write(
        &src,
        "#include \"narherder.h\"\n\
         int main() {\n\
           narherder_store *store = nullptr;\n\
           narherder_error *err = nullptr;\n\
           narherder_status s = narherder_store_open(nullptr, 0, nullptr, 0, &store, &err);\n\
           narherder_error_free(err);\n\
           return s == NARHERDER_STATUS_NULL_ARGUMENT && \
             narherder_abi_version() == NARHERDER_ABI_VERSION ? 0 : 1;\n\
         }\n",
    )
    .expect("write C++ source");
    check(
        Command::new("c++")
            .args([
                "-x",
                "c++",
                "-std=c++17",
                "-fsyntax-only",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-pedantic",
            ])
            .arg("-I")
            .arg(crate_dir().join("include"))
            .arg(&src),
    );
}

#[test]
fn c_suite_under_valgrind() {
    if !have("valgrind") {
        return;
    }
    run_suite(
        &[
            "valgrind",
            "--quiet",
            "--error-exitcode=1",
            "--leak-check=full",
            "--fair-sched=yes",
        ],
        &[],
    );
}

/// The real fixtures, added to a fresh SQLite store: (hash part, text).
fn fixture_store(rt: &tokio::runtime::Runtime, db: &TestDb) -> Vec<(String, String)> {
    let mut out = Vec::new();
    rt.block_on(async {
        let store = db.open(&StoreOptions::default()).await;
        for entry in std::fs::read_dir(data_dir().join("guix")).expect("tests/data/guix") {
            let path = entry.expect("entry").path();
            if path.extension().and_then(|e| e.to_str()) != Some("narinfo") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("fixture");
            let n = Narinfo::parse(&text).expect("fixture parses");
            store.add(&n, AddMode::Keep).await.expect("add fixture");
            out.push((n.hash_part().to_string(), text));
        }
        store.close().await;
    });
    out.sort();
    out
}

#[test]
fn installed_library_builds_the_example_through_pkg_config() {
    if !have("cc") || !have("pkg-config") {
        return;
    }
    let prefix = tempfile::tempdir().expect("temporary directory");
    let from = built_lib_dir();
    check(
        Command::new(crate_dir().join("scripts").join("install"))
            .arg("--prefix")
            .arg(prefix.path())
            .arg("--from")
            .arg(&from)
            .arg("--no-guile"),
    );
    let lib = prefix.path().join("lib");
    let version = env!("CARGO_PKG_VERSION");
    let major = env!("CARGO_PKG_VERSION_MAJOR");
    for f in [
        format!("libnarherder.so.{version}"),
        format!("libnarherder.so.{major}"),
        "libnarherder.so".to_string(),
        "libnarherder.a".to_string(),
        "pkgconfig/narherder.pc".to_string(),
    ] {
        assert!(lib.join(&f).exists(), "{f} not installed");
    }
    assert!(prefix.path().join("include/narherder.h").is_file());
    // The shared library carries its soname.
    if have("objdump") {
        let out = check(
            Command::new("objdump")
                .arg("-p")
                .arg(lib.join("libnarherder.so")),
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(&format!("SONAME               libnarherder.so.{major}")),
            "no soname in:\n{text}"
        );
    }

    let pc = check(
        Command::new("pkg-config")
            .args(["--cflags", "--libs", "narherder"])
            .env("PKG_CONFIG_PATH", lib.join("pkgconfig")),
    );
    let flags = String::from_utf8_lossy(&pc.stdout).to_string();
    let exe = prefix.path().join("narherder-lookup");
    check(
        Command::new("cc")
            .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic"])
            .arg(crate_dir().join("examples/c/narherder-lookup.c"))
            .arg("-o")
            .arg(&exe)
            .args(flags.split_whitespace()),
    );

    let rt = runtime();
    let db = common::sqlite_db();
    let fixtures = fixture_store(&rt, &db);
    assert!(fixtures.len() >= 4);
    let lookup = |args: &[&str]| {
        run(Command::new(&exe)
            .arg(&db.url)
            .args(args)
            .env("LD_LIBRARY_PATH", &lib))
    };
    let hashes: Vec<&str> = fixtures.iter().map(|(h, _)| h.as_str()).collect();
    let out = lookup(&hashes);
    assert!(
        out.status.success(),
        "lookup failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = fixtures
        .iter()
        .map(|(_, t)| t.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);

    // Store paths work too; one miss makes the exit status 1.
    let path = format!("/gnu/store/{}-whatever", hashes[0]);
    let out = lookup(&[&path, "00000000000000000000000000000000"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stdout), fixtures[0].1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));
}
