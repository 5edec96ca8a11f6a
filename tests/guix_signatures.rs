//! Guix signatures against real narinfos from Guix build farms, a synthetic
//! one signed by a throwaway key, and tampered variants.

use base64::Engine as _;
use narherder::sexp::{self, Sexp, MAX_SEXP_BYTES, MAX_SEXP_DEPTH};
use narherder::signing::guix::{
    self, group_order, signature_field, write_key_pair, Acl, GuixPublicKey, GuixSecretKey,
    GuixSignature,
};
use narherder::signing::Verdict;
use proptest::prelude::*;
use std::path::{Path, PathBuf};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/guix")
        .join(name)
}

const SYNTHETIC: &str = "0123456789abcdfghijklmnpqrsvwxyz.example-1.0.synthetic.narinfo";
const SED: &str = "8kib1cirdv0qbmn9hdkjzjfx3n5nw1yw.sed-4.4.berlin.narinfo";
const OPENSMTPD: &str = "y857mykfnc9vd1sc2lqz5g35l111fp71.opensmtpd-test.berlin.narinfo";
const HELLO_CI: &str = "803q5wapfnmr91ag8d9dzwabkbdxz3ay.hello-2.10-i586-gnu.ci.narinfo";
const BORDEAUX: &str = "cs56i9digj9qg1bd383cmxc6xrfpdn9n.hello-2.12.2.bordeaux.narinfo";

/// (narinfo, public key file of its signer)
const NARINFOS: [(&str, &str); 5] = [
    (SED, "keys/berlin.guixsd.org.pub"),
    (OPENSMTPD, "keys/berlin.guixsd.org.pub"),
    (HELLO_CI, "keys/berlin.guixsd.org.pub"),
    (BORDEAUX, "keys/bordeaux.guix.gnu.org.pub"),
    (SYNTHETIC, "keys/testhost.pub"),
];

/// Splits narinfo text at the first line starting with `Signature:`:
/// (signed prefix, field value without `Signature: ` and the newline).
fn split(text: &[u8]) -> (&[u8], String) {
    let mut start = 0;
    while start < text.len() {
        let end = text[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(text.len(), |p| start + p + 1);
        let line = &text[start..end];
        if let Some(value) = line.strip_prefix(b"Signature: ") {
            let value = std::str::from_utf8(value).unwrap().trim_end_matches('\n');
            return (&text[..start], value.to_string());
        }
        start = end;
    }
    panic!("no Signature line");
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(data(name)).unwrap()
}

fn acl_file() -> Acl {
    Acl::read_file(&data("keys/acl")).unwrap()
}

fn testhost_acl() -> Acl {
    Acl::read_file(&data("keys/testhost.pub")).unwrap()
}

fn testhost_secret() -> GuixSecretKey {
    GuixSecretKey::read_file(&data("keys/testhost.sec")).unwrap()
}

fn b64_of_field(field: &str) -> &str {
    field.rsplit(';').next().unwrap()
}

fn decode_field(field: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(b64_of_field(field))
        .unwrap()
}

#[test]
fn real_and_synthetic_narinfos_verify() {
    let acl = acl_file();
    assert_eq!(acl.len(), 2);
    for (name, key) in NARINFOS {
        let text = read(name);
        let (prefix, field) = split(&text);
        let own = Acl::read_file(&data(key)).unwrap();
        assert_eq!(guix::verify(prefix, &field, &own), Verdict::Valid, "{name}");
        let expected = if name == SYNTHETIC {
            Verdict::UnauthorizedKey
        } else {
            Verdict::Valid
        };
        assert_eq!(guix::verify(prefix, &field, &acl), expected, "{name}");
        let parsed = GuixSignature::parse_base64(b64_of_field(&field)).unwrap();
        assert_eq!(
            guix::verify_signature(prefix, &parsed, &own),
            Verdict::Valid,
            "{name}"
        );
    }
    // The .pub files merged trust all five.
    let merged = Acl::read_files(&[
        data("keys/berlin.guixsd.org.pub"),
        data("keys/bordeaux.guix.gnu.org.pub"),
        data("keys/testhost.pub"),
        data("keys/acl"),
    ])
    .unwrap();
    assert_eq!(merged.len(), 3);
    for (name, _) in NARINFOS {
        let text = read(name);
        let (prefix, field) = split(&text);
        assert_eq!(
            guix::verify(prefix, &field, &merged),
            Verdict::Valid,
            "{name}"
        );
    }
}

#[test]
fn printing_decoded_signatures_gives_their_exact_bytes() {
    for (name, _) in NARINFOS {
        let (_, field) = split(&read(name));
        let bytes = decode_field(&field);
        let parsed = sexp::parse(&bytes).unwrap();
        assert_eq!(
            String::from_utf8(parsed.to_advanced()).unwrap(),
            String::from_utf8(bytes.clone()).unwrap(),
            "{name}"
        );
        let sig = GuixSignature::parse_base64(b64_of_field(&field)).unwrap();
        assert_eq!(sig.to_sexp_string().as_bytes(), &bytes[..], "{name}");
        assert_eq!(sig.to_base64(), b64_of_field(&field), "{name}");
    }
}

#[test]
fn short_r_is_printed_without_leading_zero() {
    let (_, field) = split(&read(OPENSMTPD));
    let sig = GuixSignature::parse_base64(b64_of_field(&field)).unwrap();
    assert_eq!(sig.r()[0], 0, "r of this signature is 31 bytes");
    assert!(sig
        .to_sexp_string()
        .contains("(r #C8FF6F1325AD74AF8CD5C913DA658E239C2B8D5B6F739DC587C15DD5B807FD#)"));
}

#[test]
fn signing_the_synthetic_narinfo_reproduces_its_signature() {
    let key = testhost_secret();
    let text = read(SYNTHETIC);
    let (prefix, field) = split(&text);
    let sig = guix::sign(&key, prefix);
    assert_eq!(
        hex::encode_upper(sig.r()),
        "0466DC8FE73742D8A95A18CED81D38A974D143DC65A7907AAE78DD91BEDD12F5"
    );
    assert_eq!(
        hex::encode_upper(sig.s()),
        "05DF532EE4E30552E530E85CBE44B0E1EE1AFA95D10ACCF99AACD658C833DA6E"
    );
    assert_eq!(sig.to_base64(), b64_of_field(&field));
    assert_eq!(signature_field("testhost", &sig).unwrap(), field);
    assert_eq!(sig.public_key(), key.public_key());
}

#[test]
fn signature_field_rejects_bad_hosts() {
    let sig = guix::sign(&testhost_secret(), b"x");
    for host in ["", "a;b", "a b", "a\nb", "a\tb"] {
        assert!(signature_field(host, &sig).is_err(), "{host:?}");
    }
    let (host, parsed) =
        guix::parse_signature_field(&signature_field("h.example", &sig).unwrap()).unwrap();
    assert_eq!(host, "h.example");
    assert_eq!(parsed, sig);
}

#[test]
fn changed_signed_byte_is_a_hash_mismatch() {
    for (name, key) in NARINFOS {
        let text = read(name);
        let (prefix, field) = split(&text);
        let acl = Acl::read_file(&data(key)).unwrap();
        let mut tampered = prefix.to_vec();
        tampered[20] ^= 0x01;
        assert_eq!(
            guix::verify(&tampered, &field, &acl),
            Verdict::HashMismatch,
            "{name}"
        );
    }
}

/// Re-encodes the signature of `field` after changing its s-expression.
fn reencode(field: &str, change: impl FnOnce(&mut Sexp)) -> String {
    let mut sexp = sexp::parse(&decode_field(field)).unwrap();
    change(&mut sexp);
    format!(
        "1;host;{}",
        base64::engine::general_purpose::STANDARD.encode(sexp.to_advanced())
    )
}

/// The atom after `name` in the `(name value)` list somewhere in `sexp`.
fn value_mut<'a>(sexp: &'a mut Sexp, name: &str) -> &'a mut Vec<u8> {
    fn walk<'a>(node: &'a mut Sexp, name: &str) -> Option<&'a mut Vec<u8>> {
        let Sexp::List(items) = node else { return None };
        let named = items.len() == 2
            && items.first().and_then(Sexp::as_atom) == Some(name.as_bytes())
            && matches!(items.get(1), Some(Sexp::Atom(_)));
        if named {
            return match items.get_mut(1) {
                Some(Sexp::Atom(v)) => Some(v),
                _ => None,
            };
        }
        items.iter_mut().find_map(|i| walk(i, name))
    }
    walk(sexp, name).unwrap()
}

#[test]
fn changed_r_is_an_invalid_signature() {
    for (name, key) in NARINFOS {
        let text = read(name);
        let (prefix, field) = split(&text);
        let acl = Acl::read_file(&data(key)).unwrap();
        let bad = reencode(&field, |s| {
            let r = value_mut(s, "r");
            let last = r.len() - 1;
            r[last] ^= 0x01;
        });
        assert_eq!(
            guix::verify(prefix, &bad, &acl),
            Verdict::InvalidSignature,
            "{name}"
        );
        let bad = reencode(&field, |s| value_mut(s, "s")[5] ^= 0x40);
        assert_eq!(
            guix::verify(prefix, &bad, &acl),
            Verdict::InvalidSignature,
            "{name}"
        );
    }
}

#[test]
fn leading_zeros_and_layout_are_tolerated() {
    let text = read(OPENSMTPD);
    let (prefix, field) = split(&text);
    let acl = acl_file();
    let padded = reencode(&field, |s| value_mut(s, "r").insert(0, 0));
    assert_eq!(guix::verify(prefix, &padded, &acl), Verdict::Valid);
    // One-line layout with quoted strings.
    let sig = GuixSignature::parse_base64(b64_of_field(&field)).unwrap();
    let one_line = format!(
        "(signature (data (flags \"rfc6979\") (hash \"sha256\" #{}#)) (sig-val (ecdsa (r #00{}#) (s #{}#))) (public-key (ecc (curve Ed25519) (q #{}#))))",
        hex::encode(sig.hash()),
        hex::encode(sig.r()),
        hex::encode(sig.s()),
        hex::encode(sig.public_key().to_bytes())
    );
    let field = format!(
        "1;x;{}",
        base64::engine::general_purpose::STANDARD.encode(one_line)
    );
    assert_eq!(guix::verify(prefix, &field, &acl), Verdict::Valid);
}

#[test]
fn out_of_range_r_or_s_is_an_invalid_signature() {
    let text = read(SYNTHETIC);
    let (prefix, field) = split(&text);
    let acl = testhost_acl();
    let n = group_order();
    let mut above = [0xffu8; 33];
    above[0] = 0x01;
    for value in [
        vec![],
        vec![0u8],
        n.to_vec(),
        vec![0xff; 32],
        above.to_vec(),
    ] {
        for which in ["r", "s"] {
            let bad = reencode(&field, |s| *value_mut(s, which) = value.clone());
            assert_eq!(
                guix::verify(prefix, &bad, &acl),
                Verdict::InvalidSignature,
                "{which} = {}",
                hex::encode(&value)
            );
        }
    }
    // r + n with the same residue is still rejected.
    let sig = GuixSignature::parse_base64(b64_of_field(&field)).unwrap();
    let r_plus_n = (num_bigint::BigUint::from_bytes_be(sig.r())
        + num_bigint::BigUint::from_bytes_be(&n))
    .to_bytes_be();
    let bad = reencode(&field, |s| *value_mut(s, "r") = r_plus_n);
    assert_eq!(guix::verify(prefix, &bad, &acl), Verdict::InvalidSignature);
    // A missing sig-val is an invalid signature too (libgcrypt fails).
    let bad = reencode(&field, |s| {
        if let Sexp::List(items) = s {
            items.retain(|i| !i.is_named("sig-val"));
        }
    });
    assert_eq!(guix::verify(prefix, &bad, &acl), Verdict::InvalidSignature);
}

#[test]
fn unlisted_key_is_unauthorized() {
    let text = read(BORDEAUX);
    let (prefix, field) = split(&text);
    let berlin_only = Acl::read_file(&data("keys/berlin.guixsd.org.pub")).unwrap();
    assert_eq!(
        guix::verify(prefix, &field, &berlin_only),
        Verdict::UnauthorizedKey
    );
    assert_eq!(
        guix::verify(prefix, &field, &Acl::new()),
        Verdict::UnauthorizedKey
    );
    // Unauthorized comes before the hash check.
    assert_eq!(
        guix::verify(b"other bytes", &field, &berlin_only),
        Verdict::UnauthorizedKey
    );
    // A key of another curve cannot be authorized.
    let other = reencode(&field, |s| *value_mut(s, "curve") = b"NIST P-256".to_vec());
    assert_eq!(
        guix::verify(prefix, &other, &acl_file()),
        Verdict::UnauthorizedKey
    );
}

#[test]
fn corrupt_fields_are_corrupt_signatures() {
    let text = read(BORDEAUX);
    let (prefix, field) = split(&text);
    let acl = acl_file();
    let b64 = b64_of_field(&field);
    let no_data = reencode(&field, |s| {
        if let Sexp::List(items) = s {
            items.retain(|i| !i.is_named("data"));
        }
    });
    let no_key = reencode(&field, |s| {
        if let Sexp::List(items) = s {
            items.retain(|i| !i.is_named("public-key"));
        }
    });
    let b64_of = |t: &str| base64::engine::general_purpose::STANDARD.encode(t);
    for bad in [
        String::new(),
        "garbage".to_string(),
        format!("2;bayfront;{b64}"),
        format!("1;bayfront;{b64};extra"),
        format!("bayfront;{b64}"),
        "1;bayfront;!!!not base64!!!".to_string(),
        format!("1;bayfront;{}", &b64[..b64.len() - 7]),
        format!("1;bayfront;{}", b64_of("(signature (data")),
        format!("1;bayfront;{}", b64_of("not a sexp")),
        no_data,
        no_key,
    ] {
        assert_eq!(
            guix::verify(prefix, &bad, &acl),
            Verdict::CorruptSignature,
            "{bad:?}"
        );
    }
    assert!(GuixSignature::parse_base64("AAAA").is_err());
}

#[test]
fn unsigned_tail_may_change_but_signed_part_may_not() {
    let acl = acl_file();
    // bordeaux: URL lines come after Signature, outside the signed bytes.
    let text = String::from_utf8(read(BORDEAUX)).unwrap();
    let changed = text.replacen("URL: nar/lzip/", "URL: https://mirror.example/nar/lzip/", 1);
    assert_ne!(changed, text);
    let (prefix, field) = split(changed.as_bytes());
    assert_eq!(guix::verify(prefix, &field, &acl), Verdict::Valid);
    // 2017 sed: the URL line is above Signature, inside the signed bytes.
    let text = String::from_utf8(read(SED)).unwrap();
    let changed = text.replacen("URL: nar/gzip/", "URL: https://mirror.example/nar/gzip/", 1);
    assert_ne!(changed, text);
    let (prefix, field) = split(changed.as_bytes());
    assert_eq!(guix::verify(prefix, &field, &acl), Verdict::HashMismatch);
}

#[test]
fn key_files_are_written_byte_for_byte() {
    let key = testhost_secret();
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("signing-key");
    let (pub_path, sec_path) = write_key_pair(&key, &prefix).unwrap();
    assert_eq!(pub_path, dir.path().join("signing-key.pub"));
    assert_eq!(sec_path, dir.path().join("signing-key.sec"));
    assert_eq!(
        std::fs::read(&pub_path).unwrap(),
        read("keys/testhost.pub"),
        "public key file"
    );
    assert_eq!(
        std::fs::read(&sec_path).unwrap(),
        read("keys/testhost.sec"),
        "secret key file"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&sec_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Never overwrites an existing secret key.
    assert!(write_key_pair(&key, &prefix).is_err());
    // What was written reads back as the same key.
    let back = GuixSecretKey::read_file(&sec_path).unwrap();
    assert_eq!(back.public_key(), key.public_key());
    assert_eq!(
        GuixPublicKey::read_file(&pub_path).unwrap(),
        *key.public_key()
    );
    // The berlin key file (older layout, no space after list heads) parses.
    let berlin = GuixPublicKey::read_file(&data("keys/berlin.guixsd.org.pub")).unwrap();
    assert_eq!(
        hex::encode_upper(berlin.to_bytes()),
        "8D156F295D24B0D9A86FA5741A840FF2D24F60F7B6C4134814AD55625971B394"
    );
}

#[test]
fn secret_key_debug_hides_the_scalar() {
    let key = testhost_secret();
    let shown = format!("{key:?} {key:#?}");
    let d = "5B356C77B686E0C87633CB2BEA11B861BA6309620F394A9996D33AEE88695638";
    assert!(!shown.to_uppercase().contains(d), "{shown}");
    assert!(!shown.to_uppercase().contains(&d[..16]), "{shown}");
    assert!(shown.contains("redacted"));
    let generated = GuixSecretKey::generate();
    let text = generated.to_file_string();
    let d_hex = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("(d #"))
        .unwrap()
        .trim_end_matches("#)")
        .to_string();
    assert!(!format!("{generated:?}").to_uppercase().contains(&d_hex));
}

#[test]
fn bad_key_files_are_errors() {
    let pub_text = String::from_utf8(read("keys/testhost.pub")).unwrap();
    let sec_text = String::from_utf8(read("keys/testhost.sec")).unwrap();
    // q ≠ d·G
    let wrong_q = sec_text.replace("53DE492F", "53DE4930");
    assert!(GuixSecretKey::parse(wrong_q.as_bytes()).is_err());
    // A public key given as secret and vice versa.
    assert!(GuixSecretKey::parse(pub_text.as_bytes()).is_err());
    assert!(GuixPublicKey::parse(sec_text.as_bytes()).is_err());
    // Wrong curve, short q, q off the curve.
    assert!(GuixPublicKey::parse(pub_text.replace("Ed25519", "Ed448").as_bytes()).is_err());
    assert!(GuixPublicKey::parse(b"(public-key (ecc (curve Ed25519) (q #0102#)))").is_err());
    let mut off_curve = None;
    for i in 0u8..=255 {
        let mut q = [i; 32];
        q[31] &= 0x7f;
        if GuixPublicKey::from_bytes(&q).is_err() {
            off_curve = Some(q);
            break;
        }
    }
    let q = off_curve.expect("some y has no x");
    let text = format!(
        "(public-key (ecc (curve Ed25519) (q #{}#)))",
        hex::encode(q)
    );
    assert!(GuixPublicKey::parse(text.as_bytes()).is_err());
    assert!(Acl::parse(text.as_bytes()).is_err());
    // y = p: decompresses (to y = 0) but is not the canonical encoding.
    let mut y_is_p = [0xffu8; 32];
    y_is_p[0] = 0xed;
    y_is_p[31] = 0x7f;
    assert!(GuixPublicKey::from_bytes(&y_is_p).is_err());
    y_is_p[0] = 0;
    y_is_p[1..].fill(0);
    assert!(
        GuixPublicKey::from_bytes(&y_is_p).is_ok(),
        "y = 0 itself is fine"
    );
    // x = 0 (y = 1 or y = −1) with the sign bit set.
    let mut y_is_one = [0u8; 32];
    y_is_one[0] = 1;
    assert!(GuixPublicKey::from_bytes(&y_is_one).is_ok());
    y_is_one[31] = 0x80;
    assert!(GuixPublicKey::from_bytes(&y_is_one).is_err());
    let mut y_is_minus_one = [0xffu8; 32];
    y_is_minus_one[0] = 0xec;
    y_is_minus_one[31] = 0x7f;
    assert!(GuixPublicKey::from_bytes(&y_is_minus_one).is_ok());
    y_is_minus_one[31] = 0xff;
    assert!(GuixPublicKey::from_bytes(&y_is_minus_one).is_err());
    // Every y in [p, 2^255) is refused, with either sign.
    for low in 0xedu8..=0xff {
        for top in [0x7fu8, 0xff] {
            let mut q = [0xffu8; 32];
            q[0] = low;
            q[31] = top;
            assert!(GuixPublicKey::from_bytes(&q).is_err(), "{low:x} {top:x}");
        }
    }
    // d = 0 and d = n.
    for d in [
        "00".to_string(),
        hex::encode(group_order()),
        "01".repeat(33),
    ] {
        let text = format!(
            "(private-key (ecc (curve Ed25519) (q #{}#) (d #{d}#)))",
            hex::encode(testhost_secret().public_key().to_bytes())
        );
        assert!(GuixSecretKey::parse(text.as_bytes()).is_err(), "d = {d}");
    }
    assert!(Acl::parse(b"(acl (entry (tag (guix import))))").is_err());
    assert!(Acl::parse(b"(acl (foo))").is_err());
    assert!(Acl::parse(b"(something)").is_err());
    // An RSA entry is skipped, the Ed25519 one kept.
    let acl = Acl::parse(
        format!(
            "(acl (entry (public-key (rsa (n #00#) (e #01#))) (tag (guix import))) (entry {pub_text} (tag (guix import))))"
        )
        .as_bytes(),
    )
    .unwrap();
    assert_eq!(acl.len(), 1);
    assert!(acl.contains(testhost_secret().public_key()));
    assert_eq!(Acl::parse(acl.to_file_string().as_bytes()).unwrap(), acl);
}

#[test]
fn hostile_sexps_are_errors_not_panics() {
    let deep = "(a ".repeat(100_000);
    assert!(sexp::parse(deep.as_bytes()).is_err());
    let deep_ok_size = "(".repeat(MAX_SEXP_DEPTH + 1) + &")".repeat(MAX_SEXP_DEPTH + 1);
    assert!(sexp::parse(deep_ok_size.as_bytes()).is_err());
    let huge = format!("(a #{}#)", "00".repeat(MAX_SEXP_BYTES));
    assert!(sexp::parse(huge.as_bytes()).is_err());
    let (_, field) = split(&read(SYNTHETIC));
    let bytes = decode_field(&field);
    for cut in 0..bytes.len() - 1 {
        // Every truncation (short of dropping only the final newline) fails.
        assert!(sexp::parse(&bytes[..cut]).is_err(), "cut at {cut}");
        let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes[..cut]);
        assert_eq!(
            guix::verify(b"", &format!("1;h;{b64}"), &testhost_acl()),
            Verdict::CorruptSignature
        );
    }
    let huge_field = format!("1;h;{}", "A".repeat(1 << 20));
    assert_eq!(
        guix::verify(b"", &huge_field, &testhost_acl()),
        Verdict::CorruptSignature
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, .. ProptestConfig::default() })]

    #[test]
    fn sexp_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = sexp::parse(&bytes);
    }

    #[test]
    fn sign_then_verify(message in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let key = GuixSecretKey::generate();
        let acl: Acl = [key.public_key().clone()].into_iter().collect();
        let sig = guix::sign(&key, &message);
        let field = signature_field("host", &sig).unwrap();
        prop_assert_eq!(guix::verify(&message, &field, &acl), Verdict::Valid);
        // Deterministic.
        prop_assert_eq!(&guix::sign(&key, &message), &sig);
        let mut other = message.clone();
        other.push(0);
        prop_assert_eq!(guix::verify(&other, &field, &acl), Verdict::HashMismatch);
        // Reparsing the key file keeps signing identically.
        let back = GuixSecretKey::parse(key.to_file_string().as_bytes()).unwrap();
        prop_assert_eq!(guix::sign(&back, &message), sig);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn sexp_parser_never_panics_on_sexp_like_input(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("(".to_string()), Just(")".to_string()), Just(" ".to_string()),
                Just("#".to_string()), Just("\"".to_string()), Just("\\".to_string()),
                Just("|".to_string()), Just("3:".to_string()), "[a-f0-9]{1,4}",
                "[a-z-]{1,6}",
            ],
            0..60,
        )
    ) {
        let text = parts.concat();
        if let Ok(parsed) = sexp::parse(text.as_bytes()) {
            // What parses prints to something that parses to the same.
            prop_assert_eq!(sexp::parse(&parsed.to_advanced()).unwrap(), parsed);
        }
    }
}

#[test]
fn secret_scalar_with_high_bit_is_written_as_libgcrypt_does() {
    use curve25519_dalek::constants::ED25519_BASEPOINT_TABLE;
    use curve25519_dalek::scalar::Scalar;
    // d ≥ 2^255: libgcrypt prints it as a signed number, with a 00 byte first.
    let d_be: Vec<u8> = (0..32u8).map(|i| 0xF0 ^ i.wrapping_mul(37)).collect();
    let mut le: [u8; 32] = d_be.clone().try_into().unwrap();
    le.reverse();
    let q = (ED25519_BASEPOINT_TABLE * &Scalar::from_bytes_mod_order(le))
        .compress()
        .to_bytes();
    for prefix in ["", "00"] {
        let text = format!(
            "(private-key (ecc (curve Ed25519) (q #{}#) (d #{prefix}{}#)))",
            hex::encode(q),
            hex::encode(&d_be)
        );
        let key = GuixSecretKey::parse(text.as_bytes()).unwrap();
        let written = key.to_file_string();
        assert!(
            written.contains(&format!("(d #00{}#)", hex::encode_upper(&d_be))),
            "{}",
            written.as_str()
        );
        let back = GuixSecretKey::parse(written.as_bytes()).unwrap();
        assert_eq!(guix::sign(&back, b"m"), guix::sign(&key, b"m"));
        let acl: Acl = [key.public_key().clone()].into_iter().collect();
        let field = signature_field("h", &guix::sign(&key, b"m")).unwrap();
        assert_eq!(guix::verify(b"m", &field, &acl), Verdict::Valid);
    }
}
