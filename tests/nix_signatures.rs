//! Nix signatures (Ed25519 over the fingerprint) against real
//! cache.nixos.org data, tampering, keys and key files.

use std::path::{Path, PathBuf};

use narherder::signing::nix::{
    fingerprint, load_public_keys, parse_public_keys, sign_fingerprint, verify_sig, verify_sigs,
    write_key_pair, NixPublicKey, NixSecretKey,
};
use narherder::signing::Verdict;
use proptest::prelude::*;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/nix")
}

fn read(name: &str) -> String {
    let path = data_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The public keys of keys.txt (cache.nixos.org-1 and test1).
fn keys() -> Vec<NixPublicKey> {
    load_public_keys(data_dir().join("keys.txt")).expect("keys.txt parses")
}

/// Only the key named `name` from keys.txt.
fn only_key(name: &str) -> Vec<NixPublicKey> {
    let k: Vec<_> = keys().into_iter().filter(|k| k.name() == name).collect();
    assert_eq!(k.len(), 1, "keys.txt has one key named {name}");
    k
}

/// The value of the comment line `# <label>: <value>` in keys.txt.
fn keys_txt_comment(label: &str) -> String {
    let prefix = format!("# {label}: ");
    read("keys.txt")
        .lines()
        .find_map(|l| l.strip_prefix(&prefix).map(str::to_string))
        .unwrap_or_else(|| panic!("keys.txt has a '{prefix}' line"))
}

/// The fingerprint of the texlive CA narinfo (empty references), written
/// out by hand from the file.
const TEXLIVE_FP: &str = "1;/nix/store/k20pahypzvr49fy82cw5sx72hdfg3qcr-texlive-hyphenex-37354;\
sha256:0h1bm4sj1cnfkxgyhvgi8df1qavnnv94sd0v09wcrm971602shfg;22552;";
const TEXLIVE_SIG: &str = "cache.nixos.org-1:u01BybwQhyI5H1bW1EIWXssMDhDDIvXOG5uh8Qzgdyjz6U1qg6DHhMAvXZOUStIj6X5t4/ufFgR8i3fjf0bMAw==";

// ---------------------------------------------------------------- keys

#[test]
fn keys_txt_parses_and_round_trips() {
    let keys = keys();
    let names: Vec<_> = keys.iter().map(|k| k.name()).collect();
    assert_eq!(names, ["cache.nixos.org-1", "test1"]);
    assert_eq!(
        keys[0].to_string(),
        "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY="
    );
    for k in &keys {
        let again: NixPublicKey = k.to_string().parse().unwrap();
        assert_eq!(&again, k);
        assert_eq!(again.to_bytes(), k.to_bytes());
    }
}

#[test]
fn public_key_file_loads_with_trailing_newline() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.pub");
    std::fs::write(
        &path,
        "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=\n",
    )
    .unwrap();
    let k = NixPublicKey::load(&path).unwrap();
    assert_eq!(k, only_key("cache.nixos.org-1")[0]);

    std::fs::write(&path, "cache.nixos.org-1:AAAA\n").unwrap();
    let msg = NixPublicKey::load(&path).unwrap_err().to_string();
    assert!(msg.contains("k.pub") && msg.contains("3 bytes"), "{msg}");
    let msg = NixPublicKey::load(dir.path().join("missing.pub"))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("missing.pub"), "{msg}");
}

#[test]
fn public_key_parse_errors_say_what_is_wrong() {
    let cases = [
        ("6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=", "missing ':'"),
        (":6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=", "empty key name"),
        ("a b:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=", "may not contain"),
        ("k:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY", "bad base64"),
        ("k:not base64!", "bad base64"),
        ("k:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShg==", "31 bytes"),
        ("k:", "0 bytes"),
        (
            "k:u01BybwQhyI5H1bW1EIWXssMDhDDIvXOG5uh8Qzgdyjz6U1qg6DHhMAvXZOUStIj6X5t4/ufFgR8i3fjf0bMAw==",
            "64 bytes",
        ),
    ];
    for (input, expected) in cases {
        let msg = NixPublicKey::parse(input).expect_err(input).to_string();
        assert!(
            msg.contains(expected),
            "{input:?}: {msg:?} lacks {expected:?}"
        );
    }
}

#[test]
fn several_keys_errors_name_the_line() {
    let text = "# comment\n\ncache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=\n  # indented comment\nbroken\n";
    let msg = parse_public_keys(text).unwrap_err().to_string();
    assert!(
        msg.contains("line 5") && msg.contains("missing ':'"),
        "{msg}"
    );
    assert_eq!(parse_public_keys("# only comments\n\n").unwrap().len(), 0);
}

#[test]
fn test_signing_pair_matches_and_signs() {
    let secret = NixSecretKey::parse(&keys_txt_comment("secret")).unwrap();
    let public = NixPublicKey::parse(&keys_txt_comment("public")).unwrap();
    assert_eq!(secret.name(), "cache.example.com-1");
    assert_eq!(secret.public_key(), public);
    assert_eq!(
        secret.to_file_string().as_str(),
        keys_txt_comment("secret"),
        "the secret key prints back to the same text"
    );
    assert_eq!(secret.to_string(), keys_txt_comment("secret"));

    let sig = sign_fingerprint(&secret, TEXLIVE_FP);
    assert!(sig.starts_with("cache.example.com-1:"));
    assert_eq!(
        verify_sig(TEXLIVE_FP, &sig, &[public.clone()]),
        Verdict::Valid
    );
    // Ed25519 is deterministic.
    assert_eq!(sig, sign_fingerprint(&secret, TEXLIVE_FP));
    // Not valid for another fingerprint, nor under cache.nixos.org-1.
    let other = TEXLIVE_FP.replace(";22552;", ";22553;");
    assert_eq!(
        verify_sig(&other, &sig, &[public]),
        Verdict::InvalidSignature
    );
    assert_eq!(
        verify_sig(TEXLIVE_FP, &sig, &keys()),
        Verdict::UnauthorizedKey
    );
}

#[test]
fn secret_key_parse_errors() {
    let good = keys_txt_comment("secret");
    let (name, b64) = good.split_once(':').unwrap();
    let mut bytes = base64_decode(b64);
    // Flip one bit of the public half.
    bytes[40] ^= 1;
    let mismatched = format!("{name}:{}", base64_encode(&bytes));
    let short = format!("{name}:{}", base64_encode(&bytes[..63]));
    let cases = [
        (b64.to_string(), "missing ':'"),
        (format!(":{b64}"), "empty key name"),
        (format!("{name}:{b64}!"), "bad base64"),
        (short, "63 bytes"),
        (mismatched, "does not match the seed"),
        // A public key is not a secret key.
        (keys_txt_comment("public"), "32 bytes"),
    ];
    for (input, expected) in cases {
        let msg = NixSecretKey::parse(&input).expect_err(&input).to_string();
        assert!(msg.contains(expected), "{msg:?} lacks {expected:?}");
        // The error never echoes the key material.
        assert!(!msg.contains(b64), "{msg}");
    }
}

#[test]
fn debug_does_not_leak_secret() {
    let text = keys_txt_comment("secret");
    let secret = NixSecretKey::parse(&text).unwrap();
    let (_, b64) = text.split_once(':').unwrap();
    let seed_b64 = base64_encode(&base64_decode(b64)[..32]);
    let debug = format!("{secret:?} {secret:#?}");
    assert!(debug.contains("cache.example.com-1"), "{debug}");
    assert!(!debug.contains(b64), "{debug}");
    // No long piece of the base64 of the seed either.
    for window in seed_b64.as_bytes().windows(12) {
        let w = std::str::from_utf8(window).unwrap();
        assert!(!debug.contains(w), "{debug} contains {w}");
    }
    let generated = NixSecretKey::generate("gen-1").unwrap();
    let full = generated.to_file_string();
    let debug = format!("{generated:?}");
    assert!(!debug.contains(full.split_once(':').unwrap().1), "{debug}");
}

#[test]
fn key_pair_files() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("cache.example.org-1");
    let secret = write_key_pair(&prefix, "cache.example.org-1").unwrap();
    let sec_path = dir.path().join("cache.example.org-1.sec");
    let pub_path = dir.path().join("cache.example.org-1.pub");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&sec_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "secret key mode {mode:o}");
    }
    let loaded = NixSecretKey::load(&sec_path).unwrap();
    assert_eq!(
        loaded.to_file_string().as_str(),
        secret.to_file_string().as_str()
    );
    let public = NixPublicKey::load(&pub_path).unwrap();
    assert_eq!(public, secret.public_key());
    assert_eq!(
        std::fs::read_to_string(&pub_path).unwrap(),
        public.to_string()
    );

    // Never overwrites an existing pair.
    let before = std::fs::read(&sec_path).unwrap();
    let msg = write_key_pair(&prefix, "cache.example.org-1")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("cache.example.org-1."), "{msg}");
    assert_eq!(std::fs::read(&sec_path).unwrap(), before);

    // A bad name writes nothing.
    let bad = dir.path().join("bad");
    assert!(write_key_pair(&bad, "").is_err());
    assert!(!dir.path().join("bad.sec").exists());

    // The secret key file loads with a trailing newline too.
    let nl = dir.path().join("nl.sec");
    std::fs::write(&nl, format!("{}\n", secret.to_file_string().as_str())).unwrap();
    assert_eq!(NixSecretKey::load(&nl).unwrap().public_key(), public);
}

// ------------------------------------------------- string-level verify

#[test]
fn literal_fingerprint_verifies() {
    assert_eq!(
        fingerprint(
            "/nix/store/k20pahypzvr49fy82cw5sx72hdfg3qcr-texlive-hyphenex-37354",
            "sha256:0h1bm4sj1cnfkxgyhvgi8df1qavnnv94sd0v09wcrm971602shfg",
            22552,
            &[],
        ),
        TEXLIVE_FP
    );
    assert_eq!(verify_sig(TEXLIVE_FP, TEXLIVE_SIG, &keys()), Verdict::Valid);
    assert_eq!(
        fingerprint("/s/a", "sha256:x", 7, &["/s/b".into(), "/s/c".into()]),
        "1;/s/a;sha256:x;7;/s/b,/s/c"
    );
}

#[test]
fn verify_sig_verdicts() {
    let keys = keys();
    let (_, b64) = TEXLIVE_SIG.split_once(':').unwrap();
    // Tampered fingerprint.
    let tampered = TEXLIVE_FP.replace("22552", "22551");
    assert_eq!(
        verify_sig(&tampered, TEXLIVE_SIG, &keys),
        Verdict::InvalidSignature
    );
    // Unknown key name.
    assert_eq!(
        verify_sig(TEXLIVE_FP, &format!("cache.nixos.org-2:{b64}"), &keys),
        Verdict::UnauthorizedKey
    );
    assert_eq!(
        verify_sig(TEXLIVE_FP, TEXLIVE_SIG, &[]),
        Verdict::UnauthorizedKey
    );
    // Right name, wrong key.
    let impostor = NixPublicKey::new("cache.nixos.org-1", *keys[1].verifying_key()).unwrap();
    assert_eq!(
        verify_sig(TEXLIVE_FP, TEXLIVE_SIG, &[impostor.clone()]),
        Verdict::InvalidSignature
    );
    // ... but another key of the same name may be the right one.
    assert_eq!(
        verify_sig(TEXLIVE_FP, TEXLIVE_SIG, &[impostor, keys[0].clone()]),
        Verdict::Valid
    );
    // Malformed signatures under a known key name.
    let sig_bytes = base64_decode(b64);
    for corrupt in [
        "cache.nixos.org-1:garbage".to_string(),
        "cache.nixos.org-1:".to_string(),
        format!("cache.nixos.org-1:{}", base64_encode(&sig_bytes[..63])),
        format!("cache.nixos.org-1:{}AA==", &b64[..b64.len() - 2]),
        "no colon at all".to_string(),
    ] {
        assert_eq!(
            verify_sig(TEXLIVE_FP, &corrupt, &keys),
            Verdict::CorruptSignature,
            "{corrupt}"
        );
    }
    // A flipped bit in the signature itself.
    let mut flipped = sig_bytes.clone();
    flipped[10] ^= 0x20;
    assert_eq!(
        verify_sig(
            TEXLIVE_FP,
            &format!("cache.nixos.org-1:{}", base64_encode(&flipped)),
            &keys
        ),
        Verdict::InvalidSignature
    );
}

#[test]
fn several_sigs_combine() {
    let keys = keys();
    let fps = [TEXLIVE_FP];
    let none: [&str; 0] = [];
    assert_eq!(verify_sigs(&fps, &none, &keys), Verdict::Unsigned);
    assert_eq!(
        verify_sigs(&fps, &["other:AAAA", TEXLIVE_SIG], &keys),
        Verdict::Valid
    );
    assert_eq!(
        verify_sigs(&fps, &["other:AAAA", "x:BBBB"], &keys),
        Verdict::UnauthorizedKey
    );
    assert_eq!(
        verify_sigs(&fps, &["other:AAAA", "cache.nixos.org-1:zz"], &keys),
        Verdict::CorruptSignature
    );
    let tampered = TEXLIVE_FP.replace("22552", "1");
    assert_eq!(
        verify_sigs(
            &[tampered.as_str()],
            &["cache.nixos.org-1:zz", TEXLIVE_SIG],
            &keys
        ),
        Verdict::InvalidSignature
    );
    // A second fingerprint to try.
    assert_eq!(
        verify_sigs(&[tampered.as_str(), TEXLIVE_FP], &[TEXLIVE_SIG], &keys),
        Verdict::Valid
    );
}

#[test]
fn hostile_sig_values_do_not_panic() {
    let keys = keys();
    for s in [
        "",
        ":",
        "::::",
        "cache.nixos.org-1::",
        "cache.nixos.org-1:====",
        "cache.nixos.org-1:\u{0}\u{ff}é",
        "cache.nixos.org-1://///////////////////////////////////////////////////////////////////////////////////w==",
    ] {
        let v = verify_sig(TEXLIVE_FP, s, &keys);
        assert_ne!(v, Verdict::Valid, "{s:?}");
    }
    // A small-order R with S = 0: rejected by strict verification.
    let mut weak = [0u8; 64];
    weak[0] = 1; // R = identity point encoding
    assert_eq!(
        verify_sig(
            TEXLIVE_FP,
            &format!("cache.nixos.org-1:{}", base64_encode(&weak)),
            &keys
        ),
        Verdict::InvalidSignature
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn generate_sign_verify_round_trip(
        path in "[0-9a-z]{32}-[a-zA-Z0-9._+-]{1,40}",
        size in any::<u64>(),
        refs in proptest::collection::vec("[0-9a-z]{32}-[a-z0-9.-]{1,20}", 0..6),
        name in "[a-zA-Z0-9.-]{1,30}",
    ) {
        let key = NixSecretKey::generate(&name).unwrap();
        let public = key.public_key();
        let refs: Vec<String> = refs.iter().map(|r| format!("/nix/store/{r}")).collect();
        let fp = fingerprint(
            &format!("/nix/store/{path}"),
            "sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73",
            size,
            &refs,
        );
        let sig = sign_fingerprint(&key, &fp);
        prop_assert_eq!(verify_sig(&fp, &sig, &[public.clone()]), Verdict::Valid);
        let other_fp = fingerprint(
            &format!("/nix/store/{path}"),
            "sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73",
            size ^ 1,
            &refs,
        );
        prop_assert_eq!(
            verify_sig(&other_fp, &sig, &[public.clone()]),
            Verdict::InvalidSignature
        );
        // The key survives its file form.
        let again = NixSecretKey::parse(&key.to_file_string()).unwrap();
        prop_assert_eq!(sign_fingerprint(&again, &fp), sig);
        prop_assert_eq!(NixPublicKey::parse(&public.to_string()).unwrap(), public);
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}
