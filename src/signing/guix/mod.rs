//! Guix narinfo signatures: ECDSA on the Ed25519 curve with libgcrypt
//! s-expressions (this is **not** EdDSA; see `ecdsa.rs`).
//!
//! A Guix narinfo carries `Signature: 1;<host>;<base64>`, where the base64
//! decodes to a `(signature (data …) (sig-val …) (public-key …))`
//! s-expression ([`GuixSignature`]) and the signed bytes are the narinfo
//! text before the first `Signature:` line. This module works on those
//! bytes and that field value; splitting a narinfo is the caller's job.
//!
//! [`verify`] decides as a Guix client does, in its order:
//! [`Verdict::CorruptSignature`] (field or s-expression unreadable, or no
//! `public-key`/`data`), [`Verdict::UnauthorizedKey`] (key not in the
//! [`Acl`]), [`Verdict::HashMismatch`] (`data` does not state the SHA-256 of
//! the signed bytes), [`Verdict::InvalidSignature`] (the ECDSA check fails),
//! else [`Verdict::Valid`].

mod acl;
mod ecdsa;
mod keys;
mod signature;

pub use acl::Acl;
pub use keys::{write_key_pair, GuixPublicKey, GuixSecretKey, CURVE};
pub use signature::{GuixSignature, MAX_SIGNATURE_BASE64};

use crate::error::{Error, Result};
use crate::signing::Verdict;
use sha2::{Digest, Sha256};

/// The signature format version Guix writes (the `1` in `1;host;…`).
pub const SIGNATURE_VERSION: &str = "1";

/// Signs `signed_bytes` (a narinfo's text before `Signature:`) with `key`.
/// Deterministic: the nonce comes from RFC 6979, as with libgcrypt.
pub fn sign(key: &GuixSecretKey, signed_bytes: &[u8]) -> GuixSignature {
    let hash: [u8; 32] = Sha256::digest(signed_bytes).into();
    let (r, s) = ecdsa::sign_prehashed(key.scalar_be(), key.scalar(), &hash);
    GuixSignature::new(hash, r, s, key.public_key().clone())
}

/// The value of a `Signature:` line: `1;<host>;<base64>`. `host` must be
/// non-empty and free of `;` and whitespace.
pub fn signature_field(host: &str, sig: &GuixSignature) -> Result<String> {
    if host.is_empty() || host.contains(';') || host.chars().any(char::is_whitespace) {
        return Err(Error::InvalidArgument(format!(
            "signature host {host:?} must be non-empty, without `;` or whitespace"
        )));
    }
    Ok(format!("{SIGNATURE_VERSION};{host};{}", sig.to_base64()))
}

/// Splits a `Signature:` value `1;<host>;<base64>` into host and base64.
pub fn split_signature_field(field: &str) -> Result<(&str, &str)> {
    let mut parts = field.split(';');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(SIGNATURE_VERSION), Some(host), Some(b64), None) => Ok((host, b64)),
        (Some(version), Some(_), Some(_), None) => Err(Error::Signature(format!(
            "unsupported signature version {version:?} (expected {SIGNATURE_VERSION})"
        ))),
        _ => Err(Error::Signature(
            "expected `1;<host>;<base64>` in the Signature field".into(),
        )),
    }
}

/// Parses the signature of a `Signature:` value `1;<host>;<base64>`,
/// returning the host too.
pub fn parse_signature_field(field: &str) -> Result<(String, GuixSignature)> {
    let (host, b64) = split_signature_field(field)?;
    Ok((host.to_string(), GuixSignature::parse_base64(b64)?))
}

/// Checks the `Signature:` value `signature_field` over `signed_bytes`
/// against the trusted keys `acl`, the way a Guix client does (see the
/// module documentation for the order of the checks).
pub fn verify(signed_bytes: &[u8], signature_field: &str, acl: &Acl) -> Verdict {
    let Ok((_host, b64)) = split_signature_field(signature_field) else {
        return Verdict::CorruptSignature;
    };
    let Ok(sexp) = signature::decode_base64(b64) else {
        return Verdict::CorruptSignature;
    };
    // Found anywhere in the expression, as `find-sexp-token` does in Guix.
    let (Some(data), Some(key)) = (sexp.find("data"), sexp.find("public-key")) else {
        return Verdict::CorruptSignature;
    };
    // A key this crate cannot read cannot be in the ACL either. Keys compare
    // by curve and `q`; the ACL's copy is already decompressed.
    let Some(key) = keys::public_key_q(key).ok().and_then(|q| acl.get(&q)) else {
        return Verdict::UnauthorizedKey;
    };
    let hash: [u8; 32] = Sha256::digest(signed_bytes).into();
    if signature::data_hash(data) != Some(hash) {
        return Verdict::HashMismatch;
    }
    let Some((r, s)) = sexp.find("sig-val").and_then(signature::sig_val_numbers) else {
        return Verdict::InvalidSignature;
    };
    if ecdsa::verify_prehashed(&hash, &r, &s, key.point()) {
        Verdict::Valid
    } else {
        Verdict::InvalidSignature
    }
}

/// Checks a parsed signature over `signed_bytes` against `acl` (the same
/// verdicts as [`verify`], minus the decoding ones).
pub fn verify_signature(signed_bytes: &[u8], sig: &GuixSignature, acl: &Acl) -> Verdict {
    if !acl.contains(sig.public_key()) {
        return Verdict::UnauthorizedKey;
    }
    let hash: [u8; 32] = Sha256::digest(signed_bytes).into();
    if *sig.hash() != hash {
        return Verdict::HashMismatch;
    }
    if ecdsa::verify_prehashed(&hash, sig.r(), sig.s(), sig.public_key().point()) {
        Verdict::Valid
    } else {
        Verdict::InvalidSignature
    }
}

/// The group order `n` of the Ed25519 base point, 32 bytes big-endian
/// (signature numbers `r`, `s` must lie in `[1, n − 1]`).
pub fn group_order() -> [u8; 32] {
    ecdsa::order_be()
}
