//! Nix signatures (Ed25519 over the fingerprint) against real
//! cache.nixos.org data, tampering, keys and key files.

use std::path::{Path, PathBuf};

use narherder::narinfo::parse_many;
use narherder::signing::nix::{
    fingerprint, fingerprint_of, load_public_keys, parse_public_keys, sign_fingerprint,
    sign_narinfo_sig, verify_narinfo, verify_sig, verify_sigs, write_key_pair, NixPublicKey,
    NixSecretKey,
};
use narherder::signing::Verdict;
use narherder::Narinfo;
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
        verify_sig(TEXLIVE_FP, &sig, std::slice::from_ref(&public)),
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
        verify_sig(TEXLIVE_FP, TEXLIVE_SIG, std::slice::from_ref(&impostor)),
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

// ------------------------------------------------------ real narinfos

const SAMPLE: &str = "cache.nixos.org-sample.narinfos";
const TWO_SIGS: &str = "syd87l2rxw8cbsxmxl853h0r6pdwhwjr.curl-two-sigs.narinfo";
const SELF_REF: &str = "0a3yijp35sygmy51cnrrz11vimwapz7c.dbus-conf-self-ref.narinfo";
const CA_EMPTY: &str = "k20pahypzvr49fy82cw5sx72hdfg3qcr.texlive-hyphenex-ca-empty-refs.narinfo";
const HEX_HASH: &str = "0vpqfxbkx0ffrnhbws6g9qwhmliksz7f.perl-HTTP-Cookies-hex-narhash.narinfo";
const UNSORTED: &str = "xi429w4ddvb1r77978hm7jfb2jsn559r.gcc-3.4.6-unsorted-refs.narinfo";
const EDGE_FILES: [&str; 5] = [TWO_SIGS, SELF_REF, CA_EMPTY, HEX_HASH, UNSORTED];

fn parse_file(name: &str) -> Narinfo {
    Narinfo::parse(&read(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn parse_text(text: &str) -> Narinfo {
    Narinfo::parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// `text` with its line starting with `prefix` replaced by `line` (which
/// must change something).
fn replace_line(text: &str, prefix: &str, line: &str) -> String {
    let mut found = 0;
    let out: String = text
        .lines()
        .map(|l| {
            if l.starts_with(prefix) {
                found += 1;
                format!("{line}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    assert_eq!(found, 1, "one line starts with {prefix:?}");
    assert_ne!(out, text, "{prefix} replaced by an identical line");
    out
}

#[test]
fn all_sample_narinfos_verify() {
    let keys = only_key("cache.nixos.org-1");
    let records = parse_many(&read(SAMPLE));
    assert_eq!(records.len(), 200);
    let mut with_refs = 0;
    for (line, record) in records {
        let narinfo = record.unwrap_or_else(|e| panic!("record at line {line}: {e}"));
        assert_eq!(
            verify_narinfo(&narinfo, &keys),
            Verdict::Valid,
            "record at line {line}: {}",
            narinfo.store_path()
        );
        // Modern data verifies over the sorted fingerprint alone.
        let sorted = fingerprint_of(&narinfo, true);
        assert!(
            narinfo
                .sigs()
                .iter()
                .any(|s| verify_sig(&sorted, s, &keys).is_valid()),
            "record at line {line}"
        );
        if !narinfo.references().is_empty() {
            with_refs += 1;
        }
    }
    assert!(
        with_refs > 100,
        "the sample exercises references ({with_refs})"
    );
}

#[test]
fn edge_files_verify() {
    let keys = keys();
    for name in EDGE_FILES {
        assert_eq!(
            verify_narinfo(&parse_file(name), &keys),
            Verdict::Valid,
            "{name}"
        );
        assert_eq!(
            verify_narinfo(&parse_file(name), &only_key("cache.nixos.org-1")),
            Verdict::Valid,
            "{name}"
        );
    }
}

#[test]
fn two_sigs_each_key_alone() {
    let n = parse_file(TWO_SIGS);
    assert_eq!(n.sigs().len(), 2);
    assert_eq!(verify_narinfo(&n, &only_key("test1")), Verdict::Valid);
    assert_eq!(
        verify_narinfo(&n, &only_key("cache.nixos.org-1")),
        Verdict::Valid
    );
    assert_eq!(verify_narinfo(&n, &[]), Verdict::UnauthorizedKey);
    let fp = fingerprint_of(&n, true);
    assert_eq!(verify_sig(&fp, &n.sigs()[1], &keys()), Verdict::Valid);
}

#[test]
fn unsorted_references_verify_only_in_file_order() {
    let n = parse_file(UNSORTED);
    let keys = keys();
    let sorted = fingerprint_of(&n, true);
    let file_order = fingerprint_of(&n, false);
    assert_ne!(sorted, file_order);
    assert!(file_order.contains(
        ";/nix/store/a8922c0h87iilxzzvwn2hmv8x210aqb9-glibc-2.7,/nix/store/7w2acjgalb0cm7b3bg8yswza4l7iil9y-binutils-2.18,"
    ));
    let sig = &n.sigs()[0];
    assert_eq!(verify_sig(&sorted, sig, &keys), Verdict::InvalidSignature);
    assert_eq!(verify_sig(&file_order, sig, &keys), Verdict::Valid);
    assert_eq!(verify_narinfo(&n, &keys), Verdict::Valid);
}

#[test]
fn hex_nar_hash_uses_nix32_in_fingerprint() {
    let n = parse_file(HEX_HASH);
    let hex = "60adfd293a4d81ad7cd7e47263cbb3fc846309ef91b154a08ba672b558f94ff3";
    assert_eq!(n.nar_hash(), format!("sha256:{hex}"));
    let fp = fingerprint_of(&n, true);
    assert!(!fp.contains(hex), "{fp}");
    assert!(
        fp.contains(&format!(";{};45840;", n.nar_hash_nix32())),
        "{fp}"
    );
    assert_eq!(n.nar_hash_nix32().len(), 7 + 52);
    // The hex spelling in the fingerprint does not verify.
    let refs: Vec<String> = {
        let mut r: Vec<String> = n
            .references()
            .iter()
            .map(|r| format!("/nix/store/{r}"))
            .collect();
        r.sort();
        r
    };
    let hex_fp = fingerprint(n.store_path(), n.nar_hash(), n.nar_size(), &refs);
    let keys = keys();
    assert_eq!(
        verify_sig(&hex_fp, &n.sigs()[0], &keys),
        Verdict::InvalidSignature
    );
    assert_eq!(verify_sig(&fp, &n.sigs()[0], &keys), Verdict::Valid);
}

#[test]
fn fingerprint_of_edge_cases() {
    let n = parse_file(CA_EMPTY);
    assert_eq!(fingerprint_of(&n, true), TEXLIVE_FP);
    let n = parse_file(SELF_REF);
    let fp = fingerprint_of(&n, true);
    assert!(fp.starts_with(
        "1;/nix/store/0a3yijp35sygmy51cnrrz11vimwapz7c-dbus-conf;sha256:1bb3srw3x77mnck1gk0cbnf1a9915fdrqdjb27y7rxmmlrb3dzjw;11408;/nix/store/0a3yijp35sygmy51cnrrz11vimwapz7c-dbus-conf,/nix/store/arsnax0avamwiml7qrwn9wzbic33pyk9-polkit-0.113,"
    ), "{fp}");
    assert!(fp.ends_with(",/nix/store/xq39as86nvdny7616p6rbb3n41ab5aan-dbus-1.10.14"));
}

#[test]
fn tampering_signed_fields_invalidates() {
    let keys = keys();
    let text = read(SELF_REF);
    assert_eq!(verify_narinfo(&parse_text(&text), &keys), Verdict::Valid);
    let tampered = [
        replace_line(&text, "NarSize:", "NarSize: 11409"),
        replace_line(
            &text,
            "NarHash:",
            "NarHash: sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73",
        ),
        text.replace("polkit-0.113", "polkit-0.114"),
        text.replace(" c6y19ffnw8zv1w2vbb5liphzz8ac8kyn-system-path", ""),
        replace_line(
            &text,
            "StorePath:",
            "StorePath: /nix/store/0a3yijp35sygmy51cnrrz11vimwapz7c-dbus-conf2",
        ),
        replace_line(
            &text,
            "StorePath:",
            "StorePath: /nix/store/1a3yijp35sygmy51cnrrz11vimwapz7c-dbus-conf",
        ),
    ];
    for t in &tampered {
        assert_ne!(t, &text);
        assert_eq!(
            verify_narinfo(&parse_text(t), &keys),
            Verdict::InvalidSignature,
            "{t}"
        );
    }
}

#[test]
fn unsigned_fields_may_change() {
    let keys = keys();
    let text = read(SELF_REF);
    let changed = [
        replace_line(
            &text,
            "URL:",
            "URL: https://mirror.example.org/nar/x.nar.xz",
        ),
        replace_line(&text, "FileSize:", "FileSize: 1"),
        replace_line(
            &text,
            "FileHash:",
            "FileHash: sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73",
        ),
        replace_line(&text, "Compression:", "Compression: zstd"),
        replace_line(
            &text,
            "Deriver:",
            "Deriver: 00000000000000000000000000000000-other.drv",
        ),
    ];
    for t in &changed {
        assert_eq!(verify_narinfo(&parse_text(t), &keys), Verdict::Valid, "{t}");
    }
}

#[test]
fn sig_line_verdicts() {
    let keys = keys();
    let text = read(SELF_REF);
    let sig_line = text.lines().find(|l| l.starts_with("Sig:")).unwrap();
    let b64 = sig_line
        .split_once(':')
        .unwrap()
        .1
        .split_once(':')
        .unwrap()
        .1;

    let unknown = replace_line(&text, "Sig:", &format!("Sig: cache.nixos.org-2:{b64}"));
    assert_eq!(
        verify_narinfo(&parse_text(&unknown), &keys),
        Verdict::UnauthorizedKey
    );
    let garbage = replace_line(&text, "Sig:", "Sig: cache.nixos.org-1:garbage");
    assert_eq!(
        verify_narinfo(&parse_text(&garbage), &keys),
        Verdict::CorruptSignature
    );
    let unsigned: String = text
        .lines()
        .filter(|l| !l.starts_with("Sig:"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        verify_narinfo(&parse_text(&unsigned), &keys),
        Verdict::Unsigned
    );
    // A good signature next to garbage and an unknown key still counts.
    let mixed =
        format!("{unsigned}Sig: cache.nixos.org-1:garbage\nSig: other-1:{b64}\n{sig_line}\n");
    assert_eq!(verify_narinfo(&parse_text(&mixed), &keys), Verdict::Valid);
}

#[test]
fn test_pair_signs_a_narinfo() {
    let secret = NixSecretKey::parse(&keys_txt_comment("secret")).unwrap();
    let public = NixPublicKey::parse(&keys_txt_comment("public")).unwrap();
    for name in [SELF_REF, UNSORTED, HEX_HASH, CA_EMPTY] {
        let text = read(name);
        let n = parse_text(&text);
        let sig = sign_narinfo_sig(&n, &secret);
        assert_eq!(sig, sign_fingerprint(&secret, &fingerprint_of(&n, true)));
        let resigned = replace_line(&text, "Sig:", &format!("Sig: {sig}"));
        let r = parse_text(&resigned);
        assert_eq!(
            verify_narinfo(&r, std::slice::from_ref(&public)),
            Verdict::Valid,
            "{name}"
        );
        assert_eq!(
            verify_narinfo(&r, &only_key("cache.nixos.org-1")),
            Verdict::UnauthorizedKey,
            "{name}"
        );
        // Our signature covers the sorted fingerprint.
        assert_eq!(
            verify_sig(
                &fingerprint_of(&r, true),
                &sig,
                std::slice::from_ref(&public)
            ),
            Verdict::Valid
        );
        let t = replace_line(&resigned, "NarSize:", "NarSize: 1");
        assert_eq!(
            verify_narinfo(&parse_text(&t), std::slice::from_ref(&public)),
            Verdict::InvalidSignature
        );
    }
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
        prop_assert_eq!(verify_sig(&fp, &sig, std::slice::from_ref(&public)), Verdict::Valid);
        let other_fp = fingerprint(
            &format!("/nix/store/{path}"),
            "sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73",
            size ^ 1,
            &refs,
        );
        prop_assert_eq!(
            verify_sig(&other_fp, &sig, std::slice::from_ref(&public)),
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
