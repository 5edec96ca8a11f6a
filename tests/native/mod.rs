//! Helpers shared by the tests that drive the C library from outside Rust
//! (`tests/capi.rs` compiles C against it, `tests/guile_bindings.rs` loads
//! it from Guile): external tools, and where cargo left the cdylib.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The crate's root directory.
pub fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Whether this is a CI run (`CI=true`), where nothing may be skipped.
pub fn ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// Whether `tool` runs; under CI a missing tool is a failure.
pub fn have(tool: &str) -> bool {
    let ok = Command::new(tool)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            !ci(),
            "{tool} is missing but CI=true (scripts/test installs it)"
        );
        eprintln!("SKIPPED: {tool} not found");
    }
    ok
}

/// Runs `cmd`, which must start.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Runs `cmd`, which must succeed; its output otherwise goes in the panic.
pub fn check(cmd: &mut Command) -> Output {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The directory holding the `libnarherder.so` that cargo built for this
/// test run: `target/<profile>/deps/`, where the test executable lives
/// (`cargo test` leaves the cdylib there; `target/<profile>/` may hold an
/// older one from `cargo build`).
pub fn built_lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("deps directory");
    for dir in [deps, deps.parent().expect("profile directory")] {
        if dir.join("libnarherder.so").is_file() {
            return dir.to_path_buf();
        }
    }
    panic!(
        "libnarherder.so not found next to {} (cargo builds the cdylib with the tests)",
        deps.display()
    );
}
