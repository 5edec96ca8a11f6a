//! Nix signatures against an independent Ed25519 implementation: the
//! `openssl` command-line tool (OpenSSL 3).
//!
//! Without `openssl` the tests print `SKIPPED: openssl not installed`, except
//! under `CI=true`, where they fail.

use std::path::Path;
use std::process::{Command, Output};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use narherder::signing::nix::{
    fingerprint_of, load_public_keys, verify_narinfo, verify_sig, NixPublicKey, NixSecretKey,
};
use narherder::signing::Verdict;
use narherder::Narinfo;

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410); the 32 raw
/// key bytes follow.
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// Whether `openssl` can be run; panics under CI=true when it cannot.
fn have_openssl() -> bool {
    let ok = Command::new("openssl")
        .arg("version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("openssl is required under CI=true (apt-get install openssl)");
        }
        println!("SKIPPED: openssl not installed");
    }
    ok
}

/// Runs `openssl` with `args`, returning its output (whatever its status).
fn openssl(args: &[&str], dir: &Path) -> Output {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs")
}

/// Runs `openssl` and insists on success.
fn openssl_ok(args: &[&str], dir: &Path) -> Output {
    let out = openssl(args, dir);
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The last 32 bytes of a DER file (the raw key of an Ed25519 SPKI or
/// PKCS#8 structure).
fn last_32(path: &Path) -> [u8; 32] {
    let der = std::fs::read(path).unwrap();
    assert!(der.len() > 32, "{} too short", path.display());
    der[der.len() - 32..].try_into().unwrap()
}

/// The fingerprint of a real cache.nixos.org narinfo (the curl one, with
/// four references), checked against the signature cache.nixos.org gave it.
fn real_fingerprint() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/nix");
    let text =
        std::fs::read_to_string(dir.join("syd87l2rxw8cbsxmxl853h0r6pdwhwjr.curl-two-sigs.narinfo"))
            .unwrap();
    let narinfo = Narinfo::parse(&text).unwrap();
    let keys = load_public_keys(dir.join("keys.txt")).unwrap();
    assert_eq!(verify_narinfo(&narinfo, &keys), Verdict::Valid);
    let fp = fingerprint_of(&narinfo, true);
    let expected = "1;/nix/store/syd87l2rxw8cbsxmxl853h0r6pdwhwjr-curl-7.82.0-bin;\
sha256:1b4sb93wp679q4zx9k1ignby1yna3z7c4c2ri3wphylbc2dwsys0;196040;\
/nix/store/0jqd0rlxzra1rs38rdxl43yh6rxchgc6-curl-7.82.0,\
/nix/store/6w8g7njm4mck5dmjxws0z1xnrxvl81xa-glibc-2.34-115,\
/nix/store/j5jxw3iy7bbz4a57fh9g2xm2gxmyal8h-zlib-1.2.12,\
/nix/store/yxvjs9drzsphm9pcf42a4byzj1kb9m7k-openssl-1.1.1n";
    assert_eq!(fp, expected);
    assert_eq!(
        verify_sig(
            &fp,
            "cache.nixos.org-1:TsTTb3WGTZKphvYdBHXwo6weVILmTytUjLB+vcX89fOjjRicCHmKA4RCPMVLkj6TMJ4GMX3HPVWRdD1hkeKZBQ==",
            &keys
        ),
        Verdict::Valid
    );
    fp
}

#[test]
fn openssl_signs_narherder_verifies() {
    if !have_openssl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fp = real_fingerprint();
    std::fs::write(d.join("fp"), &fp).unwrap();

    openssl_ok(&["genpkey", "-algorithm", "ed25519", "-out", "key.pem"], d);
    openssl_ok(
        &[
            "pkey", "-in", "key.pem", "-pubout", "-outform", "DER", "-out", "pub.der",
        ],
        d,
    );
    openssl_ok(
        &[
            "pkey", "-in", "key.pem", "-outform", "DER", "-out", "priv.der",
        ],
        d,
    );
    openssl_ok(
        &[
            "pkeyutl", "-sign", "-rawin", "-inkey", "key.pem", "-in", "fp", "-out", "sig",
        ],
        d,
    );
    let public_raw = last_32(&d.join("pub.der"));
    let seed = last_32(&d.join("priv.der"));
    let sig = std::fs::read(d.join("sig")).unwrap();
    assert_eq!(sig.len(), 64, "openssl gave a 64-byte signature");

    let public = NixPublicKey::parse(&format!("openssl-1:{}", BASE64.encode(public_raw))).unwrap();
    let sig_value = format!("openssl-1:{}", BASE64.encode(&sig));
    assert_eq!(
        verify_sig(&fp, &sig_value, std::slice::from_ref(&public)),
        Verdict::Valid
    );
    let tampered = fp.replace(";196040;", ";196041;");
    assert_eq!(
        verify_sig(&tampered, &sig_value, std::slice::from_ref(&public)),
        Verdict::InvalidSignature
    );

    // The same seed in narherder gives the same key and, Ed25519 being
    // deterministic, the very same signature.
    let secret = NixSecretKey::from_seed("openssl-1", &seed).unwrap();
    assert_eq!(secret.public_key(), public);
    assert_eq!(secret.sign(&fp), sig_value);
}

#[test]
fn narherder_signs_openssl_verifies() {
    if !have_openssl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fp = real_fingerprint();
    let tampered = fp.replace("curl-7.82.0-bin", "curl-7.82.1-bin");
    std::fs::write(d.join("fp"), &fp).unwrap();
    std::fs::write(d.join("tampered"), &tampered).unwrap();

    let secret = NixSecretKey::generate("narherder-test-1").unwrap();
    let sig_value = secret.sign(&fp);
    let (name, b64) = sig_value.split_once(':').unwrap();
    assert_eq!(name, "narherder-test-1");
    std::fs::write(d.join("sig"), BASE64.decode(b64).unwrap()).unwrap();

    let mut spki = SPKI_PREFIX.to_vec();
    spki.extend_from_slice(&secret.public_key().to_bytes());
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        BASE64.encode(&spki)
    );
    std::fs::write(d.join("pub.pem"), pem).unwrap();

    let verify = |file: &str| {
        openssl(
            &[
                "pkeyutl", "-verify", "-rawin", "-pubin", "-inkey", "pub.pem", "-in", file,
                "-sigfile", "sig",
            ],
            d,
        )
    };
    let good = verify("fp");
    assert!(
        good.status.success(),
        "openssl rejects narherder's signature: {}{}",
        String::from_utf8_lossy(&good.stdout),
        String::from_utf8_lossy(&good.stderr)
    );
    assert!(String::from_utf8_lossy(&good.stdout).contains("Signature Verified Successfully"));

    let bad = verify("tampered");
    assert!(
        !bad.status.success(),
        "openssl accepted a signature over a tampered fingerprint"
    );
    assert!(String::from_utf8_lossy(&bad.stdout).contains("Signature Verification Failure"));

    // And openssl's view of the key is the one narherder printed.
    openssl_ok(
        &[
            "pkey", "-pubin", "-in", "pub.pem", "-outform", "DER", "-out", "pub.der",
        ],
        d,
    );
    assert_eq!(last_32(&d.join("pub.der")), secret.public_key().to_bytes());
}
