//! nix-base32: known vectors, round trips, strict rejection.

use narherder::nix32;
use num_bigint::BigUint;
use proptest::prelude::*;
use sha2::{Digest, Sha256};

/// A second, independent encoder: the bytes as one little-endian big
/// integer, written in base 32 most significant digit first, padded to
/// ceil(8n/5) digits.
fn reference_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"0123456789abcdfghijklmnpqrsvwxyz";
    let n = (bytes.len() * 8).div_ceil(5);
    let mut x = BigUint::from_bytes_le(bytes);
    let thirty_two = BigUint::from(32u32);
    let mut digits = Vec::with_capacity(n);
    for _ in 0..n {
        let d = (&x % &thirty_two)
            .to_u32_digits()
            .first()
            .copied()
            .unwrap_or(0);
        digits.push(ALPHABET[d as usize]);
        x /= &thirty_two;
    }
    assert_eq!(x, BigUint::from(0u32), "value fits in the digits");
    digits.reverse();
    String::from_utf8(digits).unwrap()
}

#[test]
fn sha256_of_empty_string() {
    let digest = Sha256::digest(b"");
    let s = nix32::encode(&digest);
    assert_eq!(s, "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73");
    assert_eq!(s, reference_encode(&digest));
    assert_eq!(nix32::decode(&s).unwrap(), digest.to_vec());
    assert_eq!(
        nix32::decode_array::<32>(&s).unwrap(),
        <[u8; 32]>::from(digest)
    );
}

#[test]
fn small_vectors() {
    assert_eq!(nix32::encode(&[]), "");
    assert_eq!(nix32::decode("").unwrap(), Vec::<u8>::new());
    assert_eq!(nix32::encode(&[0]), "00");
    assert_eq!(nix32::encode(&[1]), "01");
    assert_eq!(nix32::encode(&[0x20]), "10");
    assert_eq!(nix32::encode(&[0xff]), "7z");
    assert_eq!(nix32::encode(&[0xff; 5]), "zzzzzzzz");
    assert_eq!(nix32::decode("zzzzzzzz").unwrap(), vec![0xff; 5]);
}

#[test]
fn lengths() {
    assert_eq!(nix32::encoded_len(0), 0);
    assert_eq!(nix32::encoded_len(1), 2);
    assert_eq!(nix32::encoded_len(20), 32);
    assert_eq!(nix32::encoded_len(32), 52);
    assert_eq!(nix32::encoded_len(64), 103);
    assert_eq!(nix32::decoded_len(52), Some(32));
    assert_eq!(nix32::decoded_len(103), Some(64));
    for bad in [1, 3, 6, 9, 33, 51, 54] {
        assert_eq!(nix32::decoded_len(bad), None, "{bad}");
    }
    for n in 0..300 {
        assert_eq!(nix32::decoded_len(nix32::encoded_len(n)), Some(n));
    }
}

#[test]
fn hash_parts() {
    assert!(nix32::is_hash_part("0123456789abcdfghijklmnpqrsvwxyz"));
    assert!(nix32::is_hash_part("cs56i9digj9qg1bd383cmxc6xrfpdn9n"));
    assert!(!nix32::is_hash_part("cs56i9digj9qg1bd383cmxc6xrfpdn9"));
    assert!(!nix32::is_hash_part("cs56i9digj9qg1bd383cmxc6xrfpdn9ne"));
    assert!(!nix32::is_hash_part("es56i9digj9qg1bd383cmxc6xrfpdn9n"));
    assert!(!nix32::is_hash_part("CS56I9DIGJ9QG1BD383CMXC6XRFPDN9N"));
    assert!(!nix32::is_hash_part("cs56i9digj9qg1bd383cmxc6xrfpdn9é"));
}

#[test]
fn rejects_bad_characters() {
    for (s, ch, pos) in [
        (
            "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c7e",
            "'e'",
            51,
        ),
        (
            "omdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73",
            "'o'",
            0,
        ),
        (
            "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9cT3",
            "'T'",
            50,
        ),
        (
            "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c u",
            "' '",
            50,
        ),
        (
            "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9\u{e9}",
            "'\u{e9}'",
            49,
        ),
    ] {
        let err = nix32::decode(s).unwrap_err().to_string();
        assert!(err.contains(ch), "{err}");
        assert!(err.contains(&format!("position {pos}")), "{err}");
    }
}

#[test]
fn rejects_overflow_bits() {
    // Two characters hold 10 bits for one byte: the first may only be 0-7.
    for s in ["80", "z0", "8z"] {
        let err = nix32::decode(s).unwrap_err().to_string();
        assert!(err.contains("overflow"), "{err}");
    }
    // 52 characters hold 260 bits for 32 bytes: the first may only be 0 or 1.
    let err = nix32::decode("2mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73")
        .unwrap_err()
        .to_string();
    assert!(err.contains("overflow"), "{err}");
    assert!(nix32::decode("1mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73").is_ok());
}

#[test]
fn rejects_bad_lengths() {
    for s in [
        "0",
        "000",
        "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c7",
    ] {
        let err = nix32::decode(s).unwrap_err().to_string();
        assert!(err.contains(&format!("length {}", s.len())), "{err}");
    }
    let err = nix32::decode_array::<32>("00000000000000000000000000000000").unwrap_err();
    assert!(err.to_string().contains("expected 52"), "{err}");
}

proptest! {
    #[test]
    fn round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
        let s = nix32::encode(&bytes);
        prop_assert_eq!(s.len(), nix32::encoded_len(bytes.len()));
        prop_assert_eq!(&s, &reference_encode(&bytes));
        prop_assert_eq!(nix32::decode(&s).unwrap(), bytes);
    }

    #[test]
    fn decode_is_strict_inverse(s in "[0-9a-z]{0,60}") {
        // Whatever decodes must encode back to the very same string.
        if let Ok(bytes) = nix32::decode(&s) {
            prop_assert_eq!(nix32::encode(&bytes), s);
        }
    }

    #[test]
    fn decode_never_panics(s in any::<String>()) {
        let _ = nix32::decode(&s);
        let _ = nix32::decode_array::<32>(&s);
        let _ = nix32::is_hash_part(&s);
    }
}
