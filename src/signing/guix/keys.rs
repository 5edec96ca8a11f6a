//! Guix signing keys: libgcrypt ECC keys on the Ed25519 curve, and their
//! files (`/etc/guix/signing-key.pub` and `signing-key.sec`).
//!
//! ```text
//! (public-key (ecc (curve Ed25519) (q #…32 bytes…#)))
//! (private-key (ecc (curve Ed25519) (q #…#) (d #…#)))
//! ```
//!
//! `q` is the usual 32-byte Ed25519 point encoding; `d` is the private
//! scalar as a plain big-endian number (not an EdDSA seed; libgcrypt's own
//! keys may even exceed the group order, so it is kept as written).

use super::ecdsa;
use crate::error::{Error, Result};
use crate::sexp::{self, Sexp};
use curve25519_dalek::constants::ED25519_BASEPOINT_TABLE;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use rand_core::OsRng;
use std::path::{Path, PathBuf};
use zeroize::{Zeroize, Zeroizing};

/// The only curve Guix uses.
pub const CURVE: &str = "Ed25519";

/// A Guix public key: a point of the Ed25519 curve.
#[derive(Clone)]
pub struct GuixPublicKey {
    q: [u8; 32],
    point: EdwardsPoint,
}

impl PartialEq for GuixPublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.q == other.q
    }
}

impl Eq for GuixPublicKey {}

impl std::hash::Hash for GuixPublicKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.q.hash(state);
    }
}

impl std::fmt::Debug for GuixPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GuixPublicKey({})", hex::encode_upper(self.q))
    }
}

/// Checks `(ecc (curve Ed25519) …)` and returns the `ecc` list.
fn ecc_params<'a>(key: &'a Sexp, what: &str) -> Result<&'a Sexp> {
    let ecc = key.child("ecc").ok_or_else(|| {
        Error::Key(format!(
            "{what}: expected an `(ecc …)` key, found {}",
            describe_algorithm(key)
        ))
    })?;
    match ecc.child_value("curve") {
        Some(curve) if curve == CURVE.as_bytes() => Ok(ecc),
        Some(curve) => Err(Error::Key(format!(
            "{what}: curve `{}` is not supported (expected {CURVE})",
            String::from_utf8_lossy(curve)
        ))),
        None => Err(Error::Key(format!("{what}: missing `(curve {CURVE})`"))),
    }
}

fn describe_algorithm(key: &Sexp) -> String {
    match key.as_list().and_then(|l| l.get(1)).and_then(Sexp::head) {
        Some(name) => format!("`{}`", String::from_utf8_lossy(name)),
        None => "nothing".to_string(),
    }
}

/// Whether `q` is the one encoding of its point: `y < p`, and the sign bit
/// clear when `x = 0` (that is, when `y = ±1`).
fn is_canonical_encoding(q: &[u8; 32]) -> bool {
    let sign = q[31] & 0x80 != 0;
    let mut y = *q;
    y[31] &= 0x7f;
    let middle_all_ff = y[1..31].iter().all(|&b| b == 0xff);
    // p = 2^255 − 19 is, little-endian, ED FF … FF 7F.
    let y_at_least_p = y[31] == 0x7f && middle_all_ff && y[0] >= 0xed;
    let y_is_one = y[0] == 1 && y[1..].iter().all(|&b| b == 0);
    let y_is_minus_one = y[31] == 0x7f && middle_all_ff && y[0] == 0xec;
    !y_at_least_p && !(sign && (y_is_one || y_is_minus_one))
}

/// The 32 bytes of `q` in `(public-key (ecc (curve Ed25519) (q #…#)))`,
/// checking the structure but not the point.
pub(crate) fn public_key_q(sexp: &Sexp) -> Result<[u8; 32]> {
    if !sexp.is_named("public-key") {
        return Err(Error::Key(format!(
            "expected `(public-key …)`, found `({} …)`",
            String::from_utf8_lossy(sexp.head().unwrap_or_default())
        )));
    }
    let ecc = ecc_params(sexp, "public key")?;
    let q = ecc
        .child_value("q")
        .ok_or_else(|| Error::Key("public key: missing `(q #…#)`".into()))?;
    q.try_into().map_err(|_| {
        Error::Key(format!(
            "public key `q` has {} bytes, expected 32 (an Ed25519 point)",
            q.len()
        ))
    })
}

impl GuixPublicKey {
    /// The key of the 32-byte point encoding `q`; fails when `q` is not a
    /// point of the curve.
    pub fn from_bytes(q: &[u8]) -> Result<Self> {
        let q: [u8; 32] = q.try_into().map_err(|_| {
            Error::Key(format!(
                "public key `q` has {} bytes, expected 32 (an Ed25519 point)",
                q.len()
            ))
        })?;
        // One point, one spelling: refuse y ≥ p and a "negative" x = 0.
        if !is_canonical_encoding(&q) {
            return Err(Error::Key(format!(
                "public key `q` {} is not a canonical point encoding",
                hex::encode_upper(q)
            )));
        }
        let point = CompressedEdwardsY(q).decompress().ok_or_else(|| {
            Error::Key(format!(
                "public key `q` {} is not a point of Ed25519",
                hex::encode_upper(q)
            ))
        })?;
        Ok(GuixPublicKey { q, point })
    }

    /// The 32-byte point encoding `q`.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.q
    }

    /// The point itself.
    pub(crate) fn point(&self) -> &EdwardsPoint {
        &self.point
    }

    /// The key from a `(public-key (ecc (curve Ed25519) (q #…#)))`
    /// expression.
    pub fn from_sexp(sexp: &Sexp) -> Result<Self> {
        if !sexp.is_named("public-key") {
            return Err(Error::Key(format!(
                "expected `(public-key …)`, found `({} …)`",
                String::from_utf8_lossy(sexp.head().unwrap_or_default())
            )));
        }
        Self::from_bytes(&public_key_q(sexp)?)
    }

    /// The key from the text of a public key file.
    pub fn parse(text: &[u8]) -> Result<Self> {
        Self::from_sexp(&sexp::parse(text)?)
    }

    /// Reads a public key file such as `/etc/guix/signing-key.pub`.
    pub fn read_file(path: &Path) -> Result<Self> {
        let text = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text).map_err(|e| Error::Key(format!("{}: {e}", path.display())))
    }

    /// The key as an s-expression.
    pub fn to_sexp(&self) -> Sexp {
        Sexp::list(vec![
            Sexp::token("public-key"),
            Sexp::list(vec![
                Sexp::token("ecc"),
                Sexp::list(vec![Sexp::token("curve"), Sexp::token(CURVE)]),
                Sexp::list(vec![Sexp::token("q"), Sexp::atom(self.q.to_vec())]),
            ]),
        ])
    }

    /// The key file text, in libgcrypt's layout (as Guix writes it).
    pub fn to_file_string(&self) -> String {
        self.to_sexp().to_advanced_string()
    }
}

/// A Guix secret key: the private scalar `d` and the public key.
///
/// The scalar is wiped from memory on drop and never printed: `Debug`
/// shows the public key only.
pub struct GuixSecretKey {
    /// `d` as written in the key file, left-padded to 32 bytes.
    d_be: Zeroizing<[u8; 32]>,
    /// `d mod n`.
    d: Scalar,
    public: GuixPublicKey,
}

impl Drop for GuixSecretKey {
    fn drop(&mut self) {
        self.d.zeroize();
    }
}

impl std::fmt::Debug for GuixSecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuixSecretKey")
            .field("public", &self.public)
            .field("d", &"<redacted>")
            .finish()
    }
}

impl GuixSecretKey {
    /// A new key from the operating system's random number generator.
    pub fn generate() -> Self {
        loop {
            let mut d = Scalar::random(&mut OsRng);
            if d != Scalar::ZERO {
                let d_be = Zeroizing::new(ecdsa::scalar_to_be(&d));
                let key = Self::from_scalar(d_be);
                d.zeroize();
                return key;
            }
        }
    }

    /// The key of the 32-byte big-endian scalar `d_be` (any value below
    /// 2^256 whose reduction mod n is not zero).
    fn from_scalar(d_be: Zeroizing<[u8; 32]>) -> Self {
        let d = ecdsa::scalar_from_be_mod_order(&d_be);
        let point = ED25519_BASEPOINT_TABLE * &d;
        let public = GuixPublicKey {
            q: point.compress().to_bytes(),
            point,
        };
        GuixSecretKey { d_be, d, public }
    }

    /// The key from a `(private-key (ecc (curve Ed25519) (q #…#) (d #…#)))`
    /// expression (also found inside libgcrypt's `(key-data …)`). Checks that
    /// `q = d·G`.
    pub fn from_sexp(sexp: &Sexp) -> Result<Self> {
        let key = if sexp.is_named("key-data") {
            sexp.child("private-key")
                .ok_or_else(|| Error::Key("`(key-data …)` without `(private-key …)`".into()))?
        } else if sexp.is_named("private-key") {
            sexp
        } else {
            return Err(Error::Key(format!(
                "expected `(private-key …)`, found `({} …)`",
                String::from_utf8_lossy(sexp.head().unwrap_or_default())
            )));
        };
        let ecc = ecc_params(key, "secret key")?;
        let d = ecc
            .child_value("d")
            .ok_or_else(|| Error::Key("secret key: missing `(d #…#)`".into()))?;
        let first = d.iter().position(|&b| b != 0).unwrap_or(d.len());
        let digits = &d[first..];
        if digits.len() > 32 {
            return Err(Error::Key(format!(
                "secret key: `d` has {} significant bytes, expected at most 32",
                digits.len()
            )));
        }
        let mut d_be = Zeroizing::new([0u8; 32]);
        d_be[32 - digits.len()..].copy_from_slice(digits);
        if ecdsa::scalar_from_be_mod_order(&d_be) == Scalar::ZERO {
            return Err(Error::Key(
                "secret key: `d` is zero modulo the group order".into(),
            ));
        }
        let key = Self::from_scalar(d_be);
        let q = ecc
            .child_value("q")
            .ok_or_else(|| Error::Key("secret key: missing `(q #…#)`".into()))?;
        if q != key.public.q {
            return Err(Error::Key(
                "secret key: `q` is not the public point of `d` (q ≠ d·G)".into(),
            ));
        }
        Ok(key)
    }

    /// The key from the text of a secret key file.
    pub fn parse(text: &[u8]) -> Result<Self> {
        let mut sexp = sexp::parse(text)?;
        let key = Self::from_sexp(&sexp);
        sexp.zeroize();
        key
    }

    /// Reads a secret key file such as `/etc/guix/signing-key.sec`.
    pub fn read_file(path: &Path) -> Result<Self> {
        let text = Zeroizing::new(std::fs::read(path).map_err(|e| Error::io(path, e))?);
        Self::parse(&text).map_err(|e| Error::Key(format!("{}: {e}", path.display())))
    }

    /// The public half.
    pub fn public_key(&self) -> &GuixPublicKey {
        &self.public
    }

    pub(crate) fn scalar(&self) -> &Scalar {
        &self.d
    }

    pub(crate) fn scalar_be(&self) -> &[u8; 32] {
        &self.d_be
    }

    /// The secret key file text, in libgcrypt's layout (as Guix writes it).
    /// It holds the secret: keep it out of logs.
    pub fn to_file_string(&self) -> Zeroizing<String> {
        // libgcrypt writes `d` as a signed number: no leading zero bytes,
        // except one before a first byte with the high bit set.
        let first = self.d_be.iter().position(|&b| b != 0).unwrap_or(32);
        let mut d = Zeroizing::new(Vec::with_capacity(33));
        if self.d_be.get(first).is_some_and(|&b| b & 0x80 != 0) {
            d.push(0);
        }
        d.extend_from_slice(&self.d_be[first..]);
        let mut sexp = Sexp::list(vec![
            Sexp::token("private-key"),
            Sexp::list(vec![
                Sexp::token("ecc"),
                Sexp::list(vec![Sexp::token("curve"), Sexp::token(CURVE)]),
                Sexp::list(vec![Sexp::token("q"), Sexp::atom(self.public.q.to_vec())]),
                Sexp::list(vec![Sexp::token("d"), Sexp::atom(d.to_vec())]),
            ]),
        ]);
        let text = Zeroizing::new(sexp.to_advanced_string());
        sexp.zeroize();
        text
    }
}

/// Writes `PREFIX.sec` (mode 0600) and `PREFIX.pub`, never overwriting an
/// existing key; returns their paths.
pub fn write_key_pair(key: &GuixSecretKey, prefix: &Path) -> Result<(PathBuf, PathBuf)> {
    crate::signing::keyfile::write_pair(
        prefix,
        key.public_key().to_file_string().as_bytes(),
        key.to_file_string().as_bytes(),
    )
}
