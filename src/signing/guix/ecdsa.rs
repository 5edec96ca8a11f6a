//! ECDSA computed on the Ed25519 curve, the way libgcrypt signs with keys
//! from `(genkey (ecdsa (curve Ed25519) (flags rfc6979)))`.
//!
//! With `H` the SHA-256 of the message and `n` the order of the base point:
//! `e = H >> 3` (the hash truncated to the 253 bits of `n`);
//! a signature `(r, s)` is valid for the public point `Q` iff
//! `1 ≤ r, s < n` and `x(e·s⁻¹·G + r·s⁻¹·Q) mod n = r`, where `x` is the
//! affine x-coordinate; signing picks `k` by RFC 6979 and computes
//! `r = x(k·G) mod n`, `s = k⁻¹(e + d·r) mod n`.
//!
//! Scalars and points involving the private scalar `d` or the nonce `k`
//! use curve25519-dalek's constant-time arithmetic. Only the affine
//! x-coordinate of public points is handled with plain big integers.

use curve25519_dalek::constants::ED25519_BASEPOINT_TABLE;
use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use hmac::{Hmac, Mac};
use num_bigint::BigUint;
use once_cell::sync::Lazy;
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

/// Constants of the curve's field and group as big integers.
struct Constants {
    /// The field prime 2^255 − 19.
    p: BigUint,
    /// The Edwards curve constant −121665/121666 mod p.
    d: BigUint,
    /// A square root of −1 mod p: 2^((p−1)/4).
    sqrt_m1: BigUint,
    /// (p − 5)/8, the exponent of the square root.
    sqrt_exp: BigUint,
    /// The group order n = 2^252 + 27742317777372353535851937790883648493.
    n: BigUint,
}

static CONSTANTS: Lazy<Constants> = Lazy::new(|| {
    let one = BigUint::from(1u8);
    let p = (&one << 255u32) - BigUint::from(19u8);
    let inv_121666 = BigUint::from(121_666u32).modpow(&(&p - BigUint::from(2u8)), &p);
    let d = (&p - BigUint::from(121_665u32)) * inv_121666 % &p;
    let sqrt_m1 = BigUint::from(2u8).modpow(&((&p - &one) >> 2u32), &p);
    let sqrt_exp = (&p - BigUint::from(5u8)) >> 3u32;
    let n = (&one << 252u32)
        + "27742317777372353535851937790883648493"
            .parse::<BigUint>()
            .unwrap_or_default();
    Constants {
        p,
        d,
        sqrt_m1,
        sqrt_exp,
        n,
    }
});

/// The group order `n` as 32 big-endian bytes.
pub(crate) fn order_be() -> [u8; 32] {
    let mut out = [0u8; 32];
    let bytes = CONSTANTS.n.to_bytes_be();
    out[32 - bytes.len()..].copy_from_slice(&bytes);
    out
}

/// A 256-bit big-endian number shifted right by 3 bits: libgcrypt's
/// truncation of a 256-bit value to the 253 bits of `n`.
fn shr3(be: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for i in 0..32 {
        let high = if i == 0 { 0 } else { be[i - 1] << 5 };
        out[i] = high | (be[i] >> 3);
    }
    out
}

/// The scalar (mod n) of a 32-byte big-endian number.
pub(crate) fn scalar_from_be_mod_order(be: &[u8; 32]) -> Scalar {
    let mut le = *be;
    le.reverse();
    let s = Scalar::from_bytes_mod_order(le);
    le.zeroize();
    s
}

/// The scalar of a 32-byte big-endian number if it is below `n`.
pub(crate) fn scalar_from_be_canonical(be: &[u8; 32]) -> Option<Scalar> {
    let mut le = *be;
    le.reverse();
    let s = Option::from(Scalar::from_canonical_bytes(le));
    le.zeroize();
    s
}

/// The scalar of a big integer below `n`.
fn scalar_from_biguint(value: &BigUint) -> Option<Scalar> {
    let bytes = value.to_bytes_le();
    let mut le = [0u8; 32];
    le.get_mut(..bytes.len())?.copy_from_slice(&bytes);
    Option::from(Scalar::from_canonical_bytes(le))
}

/// A scalar as 32 big-endian bytes.
pub(crate) fn scalar_to_be(s: &Scalar) -> [u8; 32] {
    let mut be = s.to_bytes();
    be.reverse();
    be
}

/// `e`, the message hash as a scalar: `H >> 3` reduced mod n.
pub(crate) fn hash_scalar(hash: &[u8; 32]) -> Scalar {
    scalar_from_be_mod_order(&shr3(hash))
}

/// `(y, sign of x)` of a point, from its compressed encoding.
fn y_and_sign(point: &EdwardsPoint) -> (BigUint, bool) {
    let mut bytes = point.compress().to_bytes();
    let sign = bytes[31] & 0x80 != 0;
    bytes[31] &= 0x7f;
    (BigUint::from_bytes_le(&bytes), sign)
}

/// `(y² − 1, d·y² + 1)` mod p: the curve equation −x² + y² = 1 + d·x²·y²
/// says `x² · (d·y² + 1) = y² − 1`.
fn curve_terms(y: &BigUint) -> (BigUint, BigUint) {
    let c = &*CONSTANTS;
    let yy = y * y % &c.p;
    let u = (&yy + &c.p - 1u8) % &c.p;
    let v = (&c.d * &yy + 1u8) % &c.p;
    (u, v)
}

/// The affine x-coordinate of a point (public data only).
pub(crate) fn affine_x(point: &EdwardsPoint) -> BigUint {
    let c = &*CONSTANTS;
    let (y, sign) = y_and_sign(point);
    let (u, v) = curve_terms(&y);
    // x = u·v³·(u·v⁷)^((p−5)/8) is a square root of u/v, up to a factor √−1.
    let v3 = &v * &v % &c.p * &v % &c.p;
    let v7 = &v3 * &v3 % &c.p * &v % &c.p;
    let mut x = &u * &v3 % &c.p * (&u * &v7 % &c.p).modpow(&c.sqrt_exp, &c.p) % &c.p;
    if &v * &x % &c.p * &x % &c.p != u {
        x = x * &c.sqrt_m1 % &c.p;
    }
    if x.bit(0) != sign {
        x = (&c.p - x) % &c.p;
    }
    x
}

/// Whether the affine x-coordinate of `point`, reduced mod n, equals `r`.
///
/// Instead of a square root, this tries the few x below p that reduce to
/// `r` (r, r + n, …, at most 8 of them) against the curve equation and the
/// sign bit: the x of a point is the one root with the right parity.
fn x_mod_n_is(point: &EdwardsPoint, r: &BigUint) -> bool {
    let c = &*CONSTANTS;
    let (y, sign) = y_and_sign(point);
    let (u, v) = curve_terms(&y);
    let mut x = r.clone();
    while x < c.p {
        if x.bit(0) == sign && &x * &x % &c.p * &v % &c.p == u {
            return true;
        }
        x += &c.n;
    }
    false
}

/// Checks an ECDSA signature `(r, s)` (32-byte big-endian numbers) on the
/// SHA-256 `hash` against the public point `q`.
pub(crate) fn verify_prehashed(
    hash: &[u8; 32],
    r_be: &[u8; 32],
    s_be: &[u8; 32],
    q: &EdwardsPoint,
) -> bool {
    let (Some(r), Some(s)) = (
        scalar_from_be_canonical(r_be),
        scalar_from_be_canonical(s_be),
    ) else {
        return false;
    };
    if r == Scalar::ZERO || s == Scalar::ZERO {
        return false;
    }
    // s is public: a variable-time inverse (extended Euclid) is fine here
    // and about twice as fast as the constant-time Scalar::invert.
    let Some(w) = BigUint::from_bytes_be(s_be)
        .modinv(&CONSTANTS.n)
        .and_then(|w| scalar_from_biguint(&w))
    else {
        return false;
    };
    let u1 = hash_scalar(hash) * w;
    let u2 = r * w;
    let point = EdwardsPoint::vartime_double_scalar_mul_basepoint(&u2, q, &u1);
    x_mod_n_is(&point, &BigUint::from_bytes_be(r_be))
}

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// The RFC 6979 nonce generator (HMAC-SHA256, qlen = 253) in the state
/// after its initialisation.
struct Rfc6979 {
    k: Zeroizing<[u8; 32]>,
    v: Zeroizing<[u8; 32]>,
}

impl Rfc6979 {
    /// `d_be` is the private key as stored (32 big-endian bytes, as
    /// libgcrypt passes it); `hash` is h1.
    fn new(d_be: &[u8; 32], hash: &[u8; 32]) -> Self {
        // bits2octets(h1) = int2octets(bits2int(h1) mod n).
        let h = scalar_to_be(&hash_scalar(hash));
        let mut k = Zeroizing::new([0u8; 32]);
        let mut v = Zeroizing::new([1u8; 32]);
        *k = hmac(&k, &[&v[..], &[0x00], d_be, &h]);
        *v = hmac(&k, &[&v[..]]);
        *k = hmac(&k, &[&v[..], &[0x01], d_be, &h]);
        *v = hmac(&k, &[&v[..]]);
        Rfc6979 { k, v }
    }

    /// The next candidate `k` in [1, n − 1].
    fn next_nonce(&mut self) -> Scalar {
        loop {
            // One HMAC block gives 256 ≥ qlen bits; bits2int keeps the
            // leftmost 253.
            *self.v = hmac(&self.k, &[&self.v[..]]);
            let mut t = Zeroizing::new(shr3(&self.v));
            let candidate = scalar_from_be_canonical(&t);
            t.zeroize();
            // Whatever happens next, the state moves on first, so that a
            // rejected candidate (here or by the caller) is never reused.
            *self.k = hmac(&self.k, &[&self.v[..], &[0x00]]);
            *self.v = hmac(&self.k, &[&self.v[..]]);
            if let Some(k) = candidate {
                if k != Scalar::ZERO {
                    return k;
                }
            }
        }
    }
}

/// Signs the SHA-256 `hash` with the private scalar `d` (`d_be` being the
/// same number as stored, big-endian); returns `(r, s)` as 32-byte
/// big-endian numbers.
pub(crate) fn sign_prehashed(d_be: &[u8; 32], d: &Scalar, hash: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
    let e = hash_scalar(hash);
    let mut nonces = Rfc6979::new(d_be, hash);
    loop {
        let mut k = nonces.next_nonce();
        let point = ED25519_BASEPOINT_TABLE * &k;
        let x = affine_x(&point) % &CONSTANTS.n;
        let mut x_be = [0u8; 32];
        let x_bytes = x.to_bytes_be();
        x_be[32 - x_bytes.len()..].copy_from_slice(&x_bytes);
        let r = scalar_from_be_mod_order(&x_be);
        let mut k_inv = k.invert();
        let s = k_inv * (e + d * r);
        k.zeroize();
        k_inv.zeroize();
        if r != Scalar::ZERO && s != Scalar::ZERO {
            return (scalar_to_be(&r), scalar_to_be(&s));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;

    #[test]
    fn constants() {
        let c = &*CONSTANTS;
        assert_eq!(&c.sqrt_m1 * &c.sqrt_m1 % &c.p, &c.p - 1u8);
        assert_eq!(
            c.d.to_string(),
            "37095705934669439343138083508754565189542113879843219016388785533085940283555"
        );
        // n as curve25519-dalek knows it: n − 1 is canonical, n is not.
        let n = order_be();
        assert!(scalar_from_be_canonical(&n).is_none());
        let mut n_minus_1 = n;
        n_minus_1[31] -= 1;
        assert!(scalar_from_be_canonical(&n_minus_1).is_some());
    }

    #[test]
    fn base_point_x() {
        // The standard Ed25519 base point x-coordinate.
        assert_eq!(
            affine_x(&ED25519_BASEPOINT_POINT).to_string(),
            "15112221349535400772501151409588531511454012693041857206046113283949847762202"
        );
    }

    #[test]
    fn x_check_agrees_with_square_root() {
        for i in 1u64..40 {
            let point = ED25519_BASEPOINT_TABLE * &Scalar::from(i * 7919 + 3);
            let x = affine_x(&point);
            let r = &x % &CONSTANTS.n;
            assert!(x_mod_n_is(&point, &r));
            assert!(!x_mod_n_is(&point, &(&r + 1u8)));
            assert!(!x_mod_n_is(&-point, &r) || x == BigUint::default());
        }
    }

    #[test]
    fn shift() {
        let mut v = [0u8; 32];
        v[0] = 0xff;
        v[31] = 0x0f;
        let s = shr3(&v);
        assert_eq!(s[0], 0x1f);
        assert_eq!(s[1], 0xe0);
        assert_eq!(s[31], 0x01);
    }
}
