//! The `keys`, `sign` and `verify` subcommands, run as a user would.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn narherder(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_narherder"))
        .args(args)
        .output()
        .expect("run narherder")
}

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

const SYNTHETIC: &str = "guix/0123456789abcdfghijklmnpqrsvwxyz.example-1.0.synthetic.narinfo";
const BORDEAUX: &str = "guix/cs56i9digj9qg1bd383cmxc6xrfpdn9n.hello-2.12.2.bordeaux.narinfo";
const SED_2017: &str = "guix/8kib1cirdv0qbmn9hdkjzjfx3n5nw1yw.sed-4.4.berlin.narinfo";

fn without_lines(text: &str, key: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with(key))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn guix_sign_reproduces_the_synthetic_narinfo_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let original = std::fs::read_to_string(data(SYNTHETIC)).unwrap();
    let unsigned = dir.path().join("unsigned.narinfo");
    std::fs::write(&unsigned, without_lines(&original, "Signature: ")).unwrap();
    let out = narherder(&[
        "sign",
        "--key",
        data("guix/keys/testhost.sec").to_str().unwrap(),
        "--host",
        "testhost",
        unsigned.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout(&out), original);
}

#[test]
fn verify_real_guix_narinfos_and_tampering() {
    let acl = data("guix/keys/acl");
    let synthetic_key = data("guix/keys/testhost.pub");
    let files: Vec<PathBuf> = std::fs::read_dir(data("guix"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "narinfo"))
        .collect();
    assert_eq!(files.len(), 5);
    let mut args = vec!["verify", "--key", acl.to_str().unwrap(), "--key"];
    args.push(synthetic_key.to_str().unwrap());
    args.extend(files.iter().map(|p| p.to_str().unwrap()));
    let out = narherder(&args);
    assert!(out.status.success(), "{}", stdout(&out));
    assert_eq!(
        stdout(&out)
            .lines()
            .filter(|l| l.starts_with("valid-signature "))
            .count(),
        5
    );

    // The synthetic key is not in the farm ACL.
    let out = narherder(&[
        "verify",
        "--key",
        acl.to_str().unwrap(),
        data(SYNTHETIC).to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).starts_with("unauthorized-key "));

    let dir = tempfile::tempdir().unwrap();
    let tamper = |rel: &str, from: &str, to: &str| {
        let text = std::fs::read_to_string(data(rel)).unwrap();
        assert!(text.contains(from));
        let path = dir.path().join(rel.replace('/', "_"));
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
        let out = narherder(&[
            "verify",
            "--key",
            acl.to_str().unwrap(),
            path.to_str().unwrap(),
        ]);
        (out.status.code(), stdout(&out))
    };
    // A URL in the unsigned tail of a modern narinfo may change...
    let (code, out) = tamper(BORDEAUX, "URL: nar/lzip/", "URL: mirror/nar/lzip/");
    assert_eq!(
        (code, out.split(' ').next()),
        (Some(0), Some("valid-signature"))
    );
    // ...but not in the signed part of a 2017 one.
    let (code, out) = tamper(SED_2017, "URL: nar/gzip/", "URL: mirror/nar/gzip/");
    assert_eq!(
        (code, out.split(' ').next()),
        (Some(1), Some("hash-mismatch"))
    );
    let (code, out) = tamper(BORDEAUX, "NarSize: 282616", "NarSize: 282617");
    assert_eq!(
        (code, out.split(' ').next()),
        (Some(1), Some("hash-mismatch"))
    );
}

#[test]
fn verify_the_nix_sample_and_edge_cases() {
    let keys = data("nix/keys.txt");
    let out = narherder(&[
        "verify",
        "--key",
        keys.to_str().unwrap(),
        data("nix/cache.nixos.org-sample.narinfos")
            .to_str()
            .unwrap(),
    ]);
    assert!(out.status.success(), "{}", stdout(&out));
    let lines: Vec<_> = stdout(&out).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 200);
    assert!(lines
        .iter()
        .all(|l| l.starts_with("valid-signature ") && l.contains(".narinfos:")));

    let edge: Vec<PathBuf> = std::fs::read_dir(data("nix"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "narinfo"))
        .collect();
    assert_eq!(edge.len(), 5);
    let mut args = vec!["verify", "--key", keys.to_str().unwrap()];
    args.extend(edge.iter().map(|p| p.to_str().unwrap()));
    let out = narherder(&args);
    assert!(out.status.success(), "{}", stdout(&out));
}

#[test]
fn generate_sign_verify_round_trip_for_both_formats() {
    let dir = tempfile::tempdir().unwrap();
    for (format, sample, strip) in [
        ("guix", BORDEAUX, "Signature: "),
        (
            "nix",
            "nix/syd87l2rxw8cbsxmxl853h0r6pdwhwjr.curl-two-sigs.narinfo",
            "Sig: ",
        ),
    ] {
        let prefix = dir.path().join(format);
        let out = narherder(&[
            "keys",
            "generate",
            "--format",
            format,
            "--name",
            "test-1",
            "--output",
            prefix.to_str().unwrap(),
        ]);
        if format == "guix" {
            // --name is a Nix notion.
            assert_eq!(out.status.code(), Some(3));
            let out = narherder(&[
                "keys",
                "generate",
                "--format",
                format,
                "--output",
                prefix.to_str().unwrap(),
            ]);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        } else {
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(stdout(&out).starts_with("test-1:"));
        }
        let sec = prefix.with_extension("sec");
        let public = prefix.with_extension("pub");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(
                std::fs::metadata(&sec).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        // Never overwrite a key.
        let again = narherder(&[
            "keys",
            "generate",
            "--format",
            format,
            "--output",
            prefix.to_str().unwrap(),
        ]);
        assert!(!again.status.success());

        let unsigned = dir.path().join(format!("{format}.narinfo"));
        let text = std::fs::read_to_string(data(sample)).unwrap();
        std::fs::write(&unsigned, without_lines(&text, strip)).unwrap();
        let out = narherder(&[
            "verify",
            "--key",
            public.to_str().unwrap(),
            unsigned.to_str().unwrap(),
        ]);
        assert_eq!(
            (out.status.code(), stdout(&out).split(' ').next()),
            (Some(1), Some("unsigned"))
        );

        let out = narherder(&[
            "sign",
            "--key",
            sec.to_str().unwrap(),
            "--host",
            "example.org",
            unsigned.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let signed = dir.path().join(format!("{format}-signed.narinfo"));
        std::fs::write(&signed, &out.stdout).unwrap();
        let out = narherder(&[
            "verify",
            "--key",
            public.to_str().unwrap(),
            signed.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", stdout(&out));
        // Another key of the same format does not vouch for it.
        let other = if format == "guix" {
            data("guix/keys/testhost.pub")
        } else {
            data("nix/keys.txt")
        };
        let out = narherder(&[
            "verify",
            "--key",
            other.to_str().unwrap(),
            signed.to_str().unwrap(),
        ]);
        assert_eq!(
            (out.status.code(), stdout(&out).split(' ').next()),
            (Some(1), Some("unauthorized-key"))
        );
    }
}

#[test]
fn bad_narinfo_is_reported_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.narinfo");
    let text = std::fs::read_to_string(data(SYNTHETIC)).unwrap();
    std::fs::write(&path, text.replace("NarSize: 120", "NarSize: many")).unwrap();
    let out = narherder(&[
        "verify",
        "--key",
        data("guix/keys/testhost.pub").to_str().unwrap(),
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).starts_with("invalid-narinfo "));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.narinfo") && err.contains("line 3") && err.contains("NarSize"),
        "{err}"
    );
}
