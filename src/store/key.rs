//! The store's key for a hash part: 20 bytes, ordered like the text.
//!
//! A store-path hash part is 32 nix-base32 characters, exactly 160 bits
//! with no padding. nix-base32 writes its first character from the most
//! significant bits of the little-endian number, so the text, read as a
//! big-endian base-32 number, *is* that number. The key is that number's 20
//! big-endian bytes. Two properties follow:
//!
//! * it is 12 bytes shorter than the text, in the table and in its index;
//! * byte order of keys equals string order of hash parts (the alphabet is
//!   in ASCII order), so the database can page through hashes in the order
//!   users see them.
//!
//! It equals [`crate::nix32`]'s decoding of the hash part with the bytes
//! reversed (nix32 is little-endian); a test checks that once both exist.

use crate::{Error, Result};

/// nix-base32 alphabet (no e, o, u, t).
const ALPHABET: &[u8; 32] = b"0123456789abcdfghijklmnpqrsvwxyz";

/// Length of a hash part in characters.
pub(crate) const HASH_CHARS: usize = 32;

/// A hash part as stored: 20 bytes.
pub(crate) type Key = [u8; 20];

fn digit(c: u8) -> Option<u64> {
    ALPHABET.iter().position(|&a| a == c).map(|p| p as u64)
}

/// The key of a 32-character hash part, or `None` if `hash` is not one.
pub(crate) fn try_key(hash: &str) -> Option<Key> {
    let bytes = hash.as_bytes();
    if bytes.len() != HASH_CHARS {
        return None;
    }
    let mut key = [0u8; 20];
    // 8 characters = 40 bits = 5 bytes, four times.
    for (chunk, out) in bytes.chunks_exact(8).zip(key.chunks_exact_mut(5)) {
        let mut acc: u64 = 0;
        for &c in chunk {
            acc = (acc << 5) | digit(c)?;
        }
        out.copy_from_slice(&acc.to_be_bytes()[3..]);
    }
    Some(key)
}

/// The key of a hash part, or an [`Error::InvalidArgument`] naming `what`.
pub(crate) fn key(hash: &str, what: &str) -> Result<Key> {
    try_key(hash).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "{what} {hash:?} is not a 32-character nix-base32 hash part"
        ))
    })
}

/// The hash part of a key.
pub(crate) fn hash_of(key: &[u8]) -> Result<String> {
    if key.len() != 20 {
        return Err(Error::Store(format!(
            "corrupt database: an item key has {} bytes, expected 20",
            key.len()
        )));
    }
    let mut out = String::with_capacity(HASH_CHARS);
    for chunk in key.chunks_exact(5) {
        let mut buf = [0u8; 8];
        buf[3..].copy_from_slice(chunk);
        let acc = u64::from_be_bytes(buf);
        for i in (0..8).rev() {
            out.push(ALPHABET[((acc >> (5 * i)) & 31) as usize] as char);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_order() {
        let hashes = [
            "00000000000000000000000000000000",
            "0123456789abcdfghijklmnpqrsvwxyz",
            "cs56i9digj9qg1bd383cmxc6xrfpdn9n",
            "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
        ];
        let mut keys = Vec::new();
        for h in hashes {
            let k = key(h, "hash").unwrap();
            assert_eq!(hash_of(&k).unwrap(), h);
            keys.push(k);
        }
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(key(hashes[0], "h").unwrap(), [0u8; 20]);
        assert_eq!(key(hashes[3], "h").unwrap(), [0xffu8; 20]);
    }

    #[test]
    fn rejects_bad_hashes() {
        for bad in [
            "",
            "cs56i9digj9qg1bd383cmxc6xrfpdn9",
            "cs56i9digj9qg1bd383cmxc6xrfpdn9nn",
            "es56i9digj9qg1bd383cmxc6xrfpdn9n",
            "CS56I9DIGJ9QG1BD383CMXC6XRFPDN9N",
            "cs56i9digj9qg1bd383cmxc6xrfpdn9\u{e9}",
        ] {
            assert!(try_key(bad).is_none(), "{bad:?}");
            assert!(matches!(key(bad, "hash"), Err(Error::InvalidArgument(_))));
        }
        assert!(hash_of(&[0u8; 19]).is_err());
    }
}
