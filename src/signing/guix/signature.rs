//! The Guix signature s-expression, as carried base64-encoded in a
//! narinfo's `Signature: 1;<host>;<base64>` line:
//!
//! ```text
//! (signature
//!  (data (flags rfc6979) (hash sha256 #H#))
//!  (sig-val (ecdsa (r #R#) (s #S#)))
//!  (public-key (ecc (curve Ed25519) (q #Q#))))
//! ```
//!
//! (printed in libgcrypt's advanced layout, see [`crate::sexp`]). `r` and
//! `s` are numbers: printed without leading zero bytes, parsed with or
//! without them.

use super::keys::GuixPublicKey;
use crate::error::{Error, Result};
use crate::sexp::{self, Sexp};
use base64::Engine as _;

/// Longest base64 text accepted for a signature.
pub const MAX_SIGNATURE_BASE64: usize = 8 * 1024;

/// A parsed Guix signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuixSignature {
    hash: [u8; 32],
    r: [u8; 32],
    s: [u8; 32],
    public_key: GuixPublicKey,
}

/// A big-endian number without its leading zero bytes.
fn minimal(be: &[u8]) -> &[u8] {
    let first = be.iter().position(|&b| b != 0).unwrap_or(be.len());
    &be[first..]
}

/// A number of at most 32 significant bytes, left-padded to 32.
pub(crate) fn number_32(bytes: &[u8]) -> Option<[u8; 32]> {
    let digits = minimal(bytes);
    let mut out = [0u8; 32];
    let start = 32usize.checked_sub(digits.len())?;
    out[start..].copy_from_slice(digits);
    Some(out)
}

/// The SHA-256 hash in `(data (flags rfc6979) (hash sha256 #…#))`, if the
/// data list has that shape.
pub(crate) fn data_hash(data: &Sexp) -> Option<[u8; 32]> {
    let hash = data.find("hash")?.as_list()?;
    match hash {
        [_, algo, value] if algo.as_atom()? == b"sha256" => value.as_atom()?.try_into().ok(),
        _ => None,
    }
}

/// `r` and `s` of `(sig-val (ecdsa (r #…#) (s #…#)))`, if present and at
/// most 32 significant bytes each.
pub(crate) fn sig_val_numbers(sig_val: &Sexp) -> Option<([u8; 32], [u8; 32])> {
    let ecdsa = sig_val.find("ecdsa")?;
    let r = number_32(ecdsa.child_value("r")?)?;
    let s = number_32(ecdsa.child_value("s")?)?;
    Some((r, s))
}

/// Decodes the base64 of a `Signature:` field into its s-expression.
pub(crate) fn decode_base64(b64: &str) -> Result<Sexp> {
    if b64.len() > MAX_SIGNATURE_BASE64 {
        return Err(Error::Signature(format!(
            "base64 of {} bytes exceeds the limit of {MAX_SIGNATURE_BASE64}",
            b64.len()
        )));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| Error::Signature(format!("bad base64: {e}")))?;
    sexp::parse(&bytes)
}

impl GuixSignature {
    /// Assembles a signature from its parts (`r`, `s` big-endian).
    pub fn new(hash: [u8; 32], r: [u8; 32], s: [u8; 32], public_key: GuixPublicKey) -> Self {
        GuixSignature {
            hash,
            r,
            s,
            public_key,
        }
    }

    /// The SHA-256 hash of the signed bytes, as the signature states it.
    pub fn hash(&self) -> &[u8; 32] {
        &self.hash
    }

    /// `r`, 32 bytes big-endian.
    pub fn r(&self) -> &[u8; 32] {
        &self.r
    }

    /// `s`, 32 bytes big-endian.
    pub fn s(&self) -> &[u8; 32] {
        &self.s
    }

    /// The signer's public key, as the signature states it.
    pub fn public_key(&self) -> &GuixPublicKey {
        &self.public_key
    }

    /// Reads a signature from its s-expression (layout-insensitive; `r` and
    /// `s` may carry leading zero bytes).
    pub fn from_sexp(sexp: &Sexp) -> Result<Self> {
        if !sexp.is_named("signature") {
            return Err(Error::Signature("expected `(signature …)`".into()));
        }
        let data = sexp
            .child("data")
            .ok_or_else(|| Error::Signature("missing `(data …)`".into()))?;
        let hash = data_hash(data).ok_or_else(|| {
            Error::Signature("expected `(data (flags rfc6979) (hash sha256 #32 bytes#))`".into())
        })?;
        let sig_val = sexp
            .child("sig-val")
            .ok_or_else(|| Error::Signature("missing `(sig-val …)`".into()))?;
        let (r, s) = sig_val_numbers(sig_val).ok_or_else(|| {
            Error::Signature(
                "expected `(sig-val (ecdsa (r #…#) (s #…#)))` with numbers of at most 32 bytes"
                    .into(),
            )
        })?;
        let key = sexp
            .child("public-key")
            .ok_or_else(|| Error::Signature("missing `(public-key …)`".into()))?;
        let public_key = GuixPublicKey::from_sexp(key)?;
        Ok(GuixSignature {
            hash,
            r,
            s,
            public_key,
        })
    }

    /// Reads a signature from the base64 part of a `Signature:` field.
    pub fn parse_base64(b64: &str) -> Result<Self> {
        Self::from_sexp(&decode_base64(b64)?)
    }

    /// The signature as an s-expression.
    pub fn to_sexp(&self) -> Sexp {
        let list = |items: Vec<Sexp>| Sexp::list(items);
        let tok = Sexp::token;
        list(vec![
            tok("signature"),
            list(vec![
                tok("data"),
                list(vec![tok("flags"), tok("rfc6979")]),
                list(vec![
                    tok("hash"),
                    tok("sha256"),
                    Sexp::atom(self.hash.to_vec()),
                ]),
            ]),
            list(vec![
                tok("sig-val"),
                list(vec![
                    tok("ecdsa"),
                    list(vec![tok("r"), Sexp::atom(minimal(&self.r).to_vec())]),
                    list(vec![tok("s"), Sexp::atom(minimal(&self.s).to_vec())]),
                ]),
            ]),
            self.public_key.to_sexp(),
        ])
    }

    /// The s-expression text, exactly as libgcrypt prints it.
    pub fn to_sexp_string(&self) -> String {
        self.to_sexp().to_advanced_string()
    }

    /// The base64 that goes after `1;<host>;` in a `Signature:` line.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.to_sexp().to_advanced())
    }
}
