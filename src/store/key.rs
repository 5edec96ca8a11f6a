//! The store's key for a hash part: 20 bytes, ordered like the text.
//!
//! A store-path hash part is 32 nix-base32 characters: exactly 160 bits.
//! [`crate::nix32`] decodes it to the 20 digest bytes, little-endian (its
//! first character holds the top bits of the *last* byte). The key is those
//! bytes reversed, i.e. the same number big-endian. Two properties follow:
//!
//! * it is 12 bytes shorter than the text, in the table and in its index;
//! * byte order of keys equals string order of hash parts (the alphabet is
//!   in ASCII order), so the database pages through hashes in the order
//!   users see them.

use crate::{nix32, Error, Result};

/// Length of a hash part in characters.
pub(crate) const HASH_CHARS: usize = 32;

/// A hash part as stored: 20 bytes.
pub(crate) type Key = [u8; 20];

/// A hasher for keys: they are digests, so their first eight bytes are
/// already uniformly spread (SipHash's protection buys nothing here, and
/// the import path hashes tens of keys per narinfo).
#[derive(Default, Clone, Copy)]
pub(crate) struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // `[u8; 20]` hashes as its bytes (arrays hash without a length
        // prefix); fold anything else in too, so the hasher stays correct.
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(29) ^ u64::from_le_bytes(b);
        }
    }
}

/// `BuildHasher` for maps keyed by [`Key`].
pub(crate) type KeyHash = std::hash::BuildHasherDefault<KeyHasher>;

/// The key of a 32-character hash part, or `None` if `hash` is not one.
pub(crate) fn try_key(hash: &str) -> Option<Key> {
    if hash.len() != HASH_CHARS {
        return None;
    }
    let mut key: Key = nix32::decode_array(hash).ok()?;
    key.reverse();
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
    let mut bytes: Key = key.try_into().map_err(|_| {
        Error::Store(format!(
            "corrupt database: an item key has {} bytes, expected 20",
            key.len()
        ))
    })?;
    bytes.reverse();
    Ok(nix32::encode(&bytes))
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
