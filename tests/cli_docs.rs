//! The CLI explains itself: `narherder man` writes one page per command
//! from the command-line definition (examples included), `narherder
//! completions` prints scripts the shells accept, and `scripts/install`
//! installs the program with both. (That every command and flag has help
//! text and an example is checked by the binary's own unit tests,
//! src/bin/narherder/manual.rs.)

use std::path::{Path, PathBuf};
use std::process::Command;

fn narherder() -> Command {
    Command::new(env!("CARGO_BIN_EXE_narherder"))
}

#[test]
fn man_pages_cover_every_command_with_examples() {
    let dir = tempfile::tempdir().unwrap();
    let out = narherder().arg("man").arg(dir.path()).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for page in [
        "narherder.1",
        "narherder-serve.1",
        "narherder-gc.1",
        "narherder-roots-set.1",
        "narherder-doctor.1",
        "narherder-keys-generate.1",
    ] {
        let text = std::fs::read_to_string(dir.path().join(page))
            .unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(
            text.starts_with(".ie") || text.contains(".TH"),
            "{page} is not roff"
        );
        assert!(text.contains("Example"), "{page} has no example");
    }
    let gc = std::fs::read_to_string(dir.path().join("narherder-gc.1")).unwrap();
    assert!(gc.contains("dry\\-run"), "{gc}");
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.lines().count() >= 20, "{listed}");
}

#[test]
fn completion_scripts_are_valid() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = narherder().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(
            script.contains("narherder") && script.contains("doctor"),
            "{shell}"
        );
        assert!(script.contains("max-delete"), "{shell}: gc flags missing");
    }
    // bash parses its script (bash is always there).
    let out = narherder().args(["completions", "bash"]).output().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("narherder.bash");
    std::fs::write(&f, &out.stdout).unwrap();
    let check = Command::new("bash").arg("-n").arg(&f).output().unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let bad = narherder().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

/// The directory holding the freshly built libnarherder.so.
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    for dir in [deps, deps.parent().unwrap()] {
        if dir.join("libnarherder.so").is_file() && dir.join("libnarherder.a").is_file() {
            return dir.to_path_buf();
        }
    }
    panic!("libnarherder.so/.a not found near {}", deps.display());
}

#[test]
fn install_puts_program_man_pages_and_completions_in_place() {
    let from = tempfile::tempdir().unwrap();
    for f in ["libnarherder.so", "libnarherder.a"] {
        std::fs::copy(lib_dir().join(f), from.path().join(f)).unwrap();
    }
    std::fs::copy(
        env!("CARGO_BIN_EXE_narherder"),
        from.path().join("narherder"),
    )
    .unwrap();
    let dest = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/install");
    let out = Command::new(script)
        .args(["--prefix", "/opt/nh", "--destdir"])
        .arg(dest.path())
        .arg("--from")
        .arg(from.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let root = dest.path().join("opt/nh");
    for f in [
        "bin/narherder",
        "share/man/man1/narherder.1",
        "share/man/man1/narherder-doctor.1",
        "share/bash-completion/completions/narherder",
        "share/zsh/site-functions/_narherder",
        "share/fish/vendor_completions.d/narherder.fish",
        "lib/libnarherder.a",
    ] {
        let p = root.join(f);
        assert!(
            p.metadata().map(|m| m.len() > 0).unwrap_or(false),
            "{f} not installed"
        );
    }
    let v = Command::new(root.join("bin/narherder"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&v.stdout).starts_with("narherder "));
}
