//! nix-base32, the hash spelling of Nix and Guix store paths and narinfos.
//!
//! The alphabet is `0123456789abcdfghijklmnpqrsvwxyz` (no `e`, `o`, `u`,
//! `t`). `n` bytes take `ceil(8n/5)` characters. Reading the bytes as one
//! little-endian bit string (least significant bit of byte 0 first), the
//! character at index `i` from the left of an `N`-character string is the
//! 5-bit group starting at bit `5·(N−1−i)`: the string spells the number
//! most significant group first.
//!
//! Decoding is strict: every byte string has exactly one spelling, so
//! characters outside the alphabet, lengths no byte count encodes to and
//! non-zero bits beyond the last byte are all errors.
//!
//! ```
//! use narherder::nix32;
//! let digest = [0u8; 20];
//! let s = nix32::encode(&digest);
//! assert_eq!(s, "00000000000000000000000000000000");
//! assert_eq!(nix32::decode(&s).unwrap(), digest);
//! ```

use crate::{Error, Result};

/// The 32 characters, digit value = index.
pub const ALPHABET: &[u8; 32] = b"0123456789abcdfghijklmnpqrsvwxyz";

/// Marks a byte that is not in [`ALPHABET`] in [`DECODE_TABLE`].
const INVALID: u8 = 0xff;

/// Byte -> digit value, [`INVALID`] for bytes outside the alphabet.
const DECODE_TABLE: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < ALPHABET.len() {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// Number of characters that `nbytes` bytes encode to: `ceil(8·nbytes/5)`.
pub const fn encoded_len(nbytes: usize) -> usize {
    // ceil(8n/5) written so that it cannot overflow for any usize n
    // reachable in practice: n·8 overflows only beyond usize::MAX / 8 bytes.
    (nbytes.saturating_mul(8)).div_ceil(5)
}

/// Number of bytes an `nchars`-character string decodes to, or `None` when
/// no byte count encodes to exactly `nchars` characters (e.g. 1, 3, 6).
pub const fn decoded_len(nchars: usize) -> Option<usize> {
    let nbytes = nchars.saturating_mul(5) / 8;
    if encoded_len(nbytes) == nchars {
        Some(nbytes)
    } else {
        None
    }
}

/// Whether `b` is one of the 32 alphabet characters.
#[inline]
pub fn is_nix32_char(b: u8) -> bool {
    DECODE_TABLE[b as usize] != INVALID
}

/// Whether `s` is a store-path hash part: 32 alphabet characters (which
/// always decode to exactly 20 bytes, since 32·5 = 160 = 20·8).
#[inline]
pub fn is_hash_part(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(is_nix32_char)
}

/// Encodes `bytes` as nix-base32.
pub fn encode(bytes: &[u8]) -> String {
    // Walk the bit string from its least significant end: each 5 bits make
    // the next character, filled in from the right.
    let n = encoded_len(bytes.len());
    let mut buf = vec![0u8; n];
    let mut pos = n;
    let mut acc: u32 = 0;
    let mut nbits = 0u32;
    for &b in bytes {
        acc |= u32::from(b) << nbits;
        nbits += 8;
        while nbits >= 5 {
            pos -= 1;
            buf[pos] = ALPHABET[(acc & 0x1f) as usize];
            acc >>= 5;
            nbits -= 5;
        }
    }
    if nbits > 0 {
        pos -= 1;
        buf[pos] = ALPHABET[(acc & 0x1f) as usize];
    }
    debug_assert_eq!(pos, 0);
    String::from_utf8(buf).expect("the nix-base32 alphabet is ASCII")
}

/// Decodes a nix-base32 string.
///
/// Errors name the offending character and its (0-based) position, an
/// impossible length, or non-zero overflow bits.
pub fn decode(s: &str) -> Result<Vec<u8>> {
    let n = checked_len(s)?;
    let mut out = vec![0u8; n];
    decode_exact(s.as_bytes(), &mut out, s)?;
    Ok(out)
}

/// Decodes a nix-base32 string that must spell exactly `N` bytes (e.g. 32
/// for a sha256 digest, 20 for a store-path hash part), without allocating.
pub fn decode_array<const N: usize>(s: &str) -> Result<[u8; N]> {
    let n = checked_len(s)?;
    if n != N {
        return Err(Error::Nix32(format!(
            "expected {} characters ({N} bytes), got {}",
            encoded_len(N),
            s.len()
        )));
    }
    let mut out = [0u8; N];
    decode_exact(s.as_bytes(), &mut out, s)?;
    Ok(out)
}

/// The decoded length of `s`, or an error for an impossible length.
fn checked_len(s: &str) -> Result<usize> {
    decoded_len(s.len()).ok_or_else(|| {
        // A stray character explains a wrong length better than the length.
        if let Some(pos) = s.bytes().position(|b| !is_nix32_char(b)) {
            return bad_char(s, pos);
        }
        Error::Nix32(format!(
            "length {} is not a valid nix-base32 length (valid lengths are ceil(8n/5): 0, 2, 4, 5, 7, 8, …, 32, …, 52)",
            s.len()
        ))
    })
}

/// Decodes `src` into `out`, whose length must be `decoded_len(src.len())`.
fn decode_exact(src: &[u8], out: &mut [u8], original: &str) -> Result<()> {
    // The last character holds the 5 least significant bits: walk from the
    // right, emitting a byte whenever 8 bits have gathered.
    let mut acc: u32 = 0;
    let mut nbits = 0u32;
    let mut k = 0usize;
    for &c in src.iter().rev() {
        let digit = DECODE_TABLE[usize::from(c)];
        if digit == INVALID {
            // Report the leftmost offender, as a reader scans.
            let pos = src.iter().position(|&b| !is_nix32_char(b)).unwrap_or(0);
            return Err(bad_char(original, pos));
        }
        acc |= u32::from(digit) << nbits;
        nbits += 5;
        if nbits >= 8 {
            if let Some(b) = out.get_mut(k) {
                *b = acc as u8;
            }
            k += 1;
            acc >>= 8;
            nbits -= 8;
        }
    }
    // What is left are the bits beyond the last byte: they must be zero.
    if acc != 0 || k != out.len() {
        return Err(Error::Nix32(format!(
            "non-zero overflow bits in the first character {:?} of {} (not the canonical spelling of any byte string)",
            src.first().map_or('?', |&c| char::from(c)),
            shorten(original)
        )));
    }
    Ok(())
}

fn bad_char(s: &str, pos: usize) -> Error {
    // Every byte before `pos` is ASCII, so `pos` is a char boundary.
    let ch = s.get(pos..).and_then(|t| t.chars().next()).unwrap_or('?');
    Error::Nix32(format!(
        "invalid character {ch:?} at position {pos} of {} (alphabet is 0-9 and a-z without e, o, t, u)",
        shorten(s)
    ))
}

/// `s` quoted, cut to a readable length for error messages.
fn shorten(s: &str) -> String {
    const MAX: usize = 64;
    if s.len() <= MAX {
        return format!("{s:?}");
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}… ({} bytes)", &s[..end], s.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths() {
        assert_eq!(encoded_len(20), 32);
        assert_eq!(encoded_len(32), 52);
        assert_eq!(decoded_len(52), Some(32));
        assert_eq!(decoded_len(32), Some(20));
        assert_eq!(decoded_len(1), None);
        assert_eq!(decoded_len(0), Some(0));
        for n in 0..200 {
            assert_eq!(decoded_len(encoded_len(n)), Some(n));
        }
    }

    #[test]
    fn single_bytes() {
        assert_eq!(encode(&[0x1f]), "0z");
        assert_eq!(encode(&[0xff]), "7z");
        assert_eq!(decode("7z").unwrap(), vec![0xff]);
        assert!(decode("8z").is_err());
    }
}
