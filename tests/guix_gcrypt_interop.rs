//! Interoperability with libgcrypt (through Guile and guile-gcrypt, as Guix
//! itself uses it): libgcrypt verifies what narherder signs, narherder
//! verifies what libgcrypt signs, reads libgcrypt's key files, and computes
//! the same deterministic (RFC 6979) signatures.

use narherder::signing::guix::{
    self, signature_field, write_key_pair, Acl, GuixPublicKey, GuixSecretKey, GuixSignature,
};
use narherder::signing::Verdict;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Whether Guile can run the scripts; under CI=true a missing Guile fails
/// the test, elsewhere it is skipped loudly.
fn guile_available() -> bool {
    let found = Command::new("guile")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("guile is not installed (Debian: guile-3.0 guile-gcrypt), and CI=true");
        }
        eprintln!("SKIPPED: guile not installed (Debian: guile-3.0 guile-gcrypt)");
    }
    found
}

fn guile(script: &str, args: &[&Path]) -> Output {
    let output = Command::new("guile")
        .arg("--no-auto-compile")
        .arg("-s")
        .arg(manifest_dir().join("tests/guile").join(script))
        .args(args)
        .output()
        .expect("running guile");
    eprintln!(
        "guile {script}: {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The signed prefixes of the test narinfos (bytes before `Signature:`).
fn narinfo_prefixes() -> Vec<Vec<u8>> {
    let dir = manifest_dir().join("tests/data/guix");
    let mut prefixes = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "narinfo") {
            let text = std::fs::read(&path).unwrap();
            let at = text
                .windows(11)
                .position(|w| w == b"\nSignature:")
                .expect("a Signature line");
            prefixes.push(text[..at + 1].to_vec());
        }
    }
    assert_eq!(prefixes.len(), 5);
    prefixes
}

/// A handful of messages: empty, short, binary, long, and the narinfo
/// prefixes.
fn messages() -> Vec<Vec<u8>> {
    let mut messages = vec![
        Vec::new(),
        b"hello".to_vec(),
        (0u8..=255).collect(),
        (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect(),
    ];
    messages.extend(narinfo_prefixes());
    messages
}

fn write_messages(dir: &Path, messages: &[Vec<u8>]) -> Vec<PathBuf> {
    messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let path = dir.join(format!("msg-{i}"));
            std::fs::write(&path, m).unwrap();
            path
        })
        .collect()
}

#[test]
fn libgcrypt_verifies_narherder_signatures() {
    if !guile_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let key = GuixSecretKey::generate();
    let (pub_path, _) = write_key_pair(&key, &dir.path().join("key")).unwrap();
    let messages = messages();
    let message_paths = write_messages(dir.path(), &messages);
    let mut args: Vec<PathBuf> = vec![pub_path.clone()];
    for (i, (message, path)) in messages.iter().zip(&message_paths).enumerate() {
        let sig = guix::sign(&key, message);
        let sig_path = dir.path().join(format!("sig-{i}.b64"));
        std::fs::write(&sig_path, sig.to_base64()).unwrap();
        args.push(path.clone());
        args.push(sig_path);
    }
    let arg_refs: Vec<&Path> = args.iter().map(PathBuf::as_path).collect();
    let output = guile("guix-verify.scm", &arg_refs);
    assert!(output.status.success(), "libgcrypt rejected a signature");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout.matches(": valid").count(), messages.len());

    // A tampered message must fail, so that the check above means something.
    let mut tampered = messages[4].clone();
    tampered[10] ^= 0x20;
    let tampered_path = dir.path().join("tampered");
    std::fs::write(&tampered_path, &tampered).unwrap();
    let output = guile("guix-verify.scm", &[&pub_path, &tampered_path, &args[10]]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stdout).contains(": invalid"));

    // Another key's (r, s) presented under our key: libgcrypt's own check
    // must fail.
    let other = guix::sign(&GuixSecretKey::generate(), &messages[1]);
    let forged = GuixSignature::new(
        *other.hash(),
        *other.r(),
        *other.s(),
        key.public_key().clone(),
    );
    let sig_path = dir.path().join("forged.b64");
    std::fs::write(&sig_path, forged.to_base64()).unwrap();
    let output = guile(
        "guix-verify.scm",
        &[&pub_path, &message_paths[1], &sig_path],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stdout).contains(": invalid"));
}

#[test]
fn narherder_verifies_and_reproduces_libgcrypt_signatures() {
    if !guile_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let messages = messages();
    let message_paths = write_messages(dir.path(), &messages);
    let mut args: Vec<&Path> = vec![dir.path()];
    args.extend(message_paths.iter().map(PathBuf::as_path));
    let output = guile("guix-sign.scm", &args);
    assert!(output.status.success(), "guix-sign.scm failed");

    let public = GuixPublicKey::read_file(&dir.path().join("key.pub")).unwrap();
    let secret = GuixSecretKey::read_file(&dir.path().join("key.sec")).unwrap();
    assert_eq!(secret.public_key(), &public);
    // Our writer reproduces libgcrypt's key file text.
    assert_eq!(
        public.to_file_string(),
        std::fs::read_to_string(dir.path().join("key.pub")).unwrap()
    );
    assert_eq!(
        *secret.to_file_string(),
        std::fs::read_to_string(dir.path().join("key.sec")).unwrap()
    );
    let acl = Acl::read_file(&dir.path().join("key.pub")).unwrap();
    for (i, message) in messages.iter().enumerate() {
        let b64 = std::fs::read_to_string(dir.path().join(format!("sig-{i}.b64"))).unwrap();
        let b64 = b64.trim();
        let field = format!("1;libgcrypt;{b64}");
        assert_eq!(
            guix::verify(message, &field, &acl),
            Verdict::Valid,
            "message {i}"
        );
        let mut other = message.clone();
        other.push(b'\n');
        assert_eq!(
            guix::verify(&other, &field, &acl),
            Verdict::HashMismatch,
            "message {i}"
        );
        // Both sides use RFC 6979: the same key and message give the same
        // r and s, hence the same text.
        let theirs = GuixSignature::parse_base64(b64).unwrap();
        let ours = guix::sign(&secret, message);
        assert_eq!(
            hex::encode_upper(ours.r()),
            hex::encode_upper(theirs.r()),
            "r of message {i}"
        );
        assert_eq!(
            hex::encode_upper(ours.s()),
            hex::encode_upper(theirs.s()),
            "s of message {i}"
        );
        assert_eq!(ours.to_base64(), b64, "message {i}");
        assert_eq!(signature_field("libgcrypt", &ours).unwrap(), field);
    }
}
