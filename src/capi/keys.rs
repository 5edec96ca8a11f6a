//! Keys: `narherder_keyring` (trusted public keys, for verifying) and
//! `narherder_secret_key` (for signing), Guix and Nix alike.

use std::ffi::c_char;
use std::path::Path;

use super::error::narherder_error;
use super::narinfo::{narherder_narinfo, NarinfoHandle};
use super::{
    check_out, guard, guard_value, narherder_slice, narherder_status, str_arg, strs_arg, Failure,
    Outcome,
};
use crate::signing::{sign_narinfo, verify_narinfo, Keyring, SecretKey, Verdict};
use crate::Narinfo;

/// Trusted public keys: a Guix ACL and Nix public keys, read from files.
///
/// Thread-safety: immutable; may be used by several threads at once. Free
/// from any thread.
pub struct narherder_keyring {
    _private: [u8; 0],
}

/// A secret signing key, Guix (ECDSA on Ed25519) or Nix (Ed25519).
///
/// Thread-safety: immutable; may be used by several threads at once. Free
/// from any thread (the key material is wiped).
pub struct narherder_secret_key {
    _private: [u8; 0],
}

/// What a signature check concluded (stable numbers): the verdicts of a
/// Guix client, plus `UNSIGNED`.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum narherder_verdict {
    /// The signature is valid and made by a trusted key.
    Valid = 0,
    /// The signature cannot be decoded or lacks required parts.
    CorruptSignature = 1,
    /// The signing key is not among the trusted keys.
    UnauthorizedKey = 2,
    /// The hash inside the signature is not the hash of the signed bytes.
    HashMismatch = 3,
    /// The signature does not verify.
    InvalidSignature = 4,
    /// There is no signature (or, for Guix, the essential fields stand
    /// outside the signed part).
    Unsigned = 5,
}

impl From<Verdict> for narherder_verdict {
    fn from(v: Verdict) -> Self {
        match v {
            Verdict::Valid => Self::Valid,
            Verdict::CorruptSignature => Self::CorruptSignature,
            Verdict::UnauthorizedKey => Self::UnauthorizedKey,
            Verdict::HashMismatch => Self::HashMismatch,
            Verdict::InvalidSignature => Self::InvalidSignature,
            Verdict::Unsigned => Self::Unsigned,
        }
    }
}

/// Reads one path input.
///
/// # Safety
///
/// As for [`str_arg`].
unsafe fn path_arg<'a>(path: *const u8, path_len: usize) -> Result<&'a Path, Failure> {
    // SAFETY: forwarded contract.
    unsafe { str_arg(path, path_len, "path").map(Path::new) }
}

/// Loads a keyring from `count` key files: Guix `.pub` files, Guix ACL
/// files (`/etc/guix/acl`) and Nix public key files (`name:base64` lines),
/// told apart by content. On success `*keyring_out` receives a keyring to
/// free with [`narherder_keyring_free`]. A missing file fails with
/// `NARHERDER_STATUS_IO`, a malformed one with `NARHERDER_STATUS_BAD_KEY`.
///
/// # Safety
///
/// `paths` is NULL or points to `count` slices of readable bytes;
/// `keyring_out` is writable; `error_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn narherder_keyring_load(
    paths: *const narherder_slice,
    count: usize,
    keyring_out: *mut *mut narherder_keyring,
    error_out: *mut *mut narherder_error,
) -> narherder_status {
    // SAFETY: forwarded contract.
    unsafe {
        guard(error_out, || -> Outcome {
            check_out(keyring_out, "keyring_out")?;
            let paths = strs_arg(paths, count, "paths")?;
            let keyring = Keyring::from_files(&paths)?;
            *keyring_out = Box::into_raw(Box::new(keyring)).cast();
            Ok(())
        })
    }
}

/// Frees a keyring. NULL is allowed. Any thread.
///
/// # Safety
///
/// `keyring` is NULL or a keyring not yet freed; it is not used again.
#[no_mangle]
pub unsafe extern "C" fn narherder_keyring_free(keyring: *mut narherder_keyring) {
    guard_value((), || {
        if !keyring.is_null() {
            // SAFETY: by the contract, keyring came from keyring_load.
            drop(unsafe { Box::from_raw(keyring.cast::<Keyring>()) });
        }
    })
}

/// The keyring behind a pointer.
///
/// # Safety
///
/// `keyring` is NULL or a live keyring.
pub(crate) unsafe fn keyring_ref<'a>(keyring: *const narherder_keyring) -> Option<&'a Keyring> {
    // SAFETY: by the contract.
    unsafe { keyring.cast::<Keyring>().as_ref() }
}

/// Checks the signatures of a narinfo text against a keyring: a Guix
/// `Signature:` as a Guix client does, Nix `Sig:` lines over the
/// fingerprint; valid if either kind is. On success `*verdict_out`
/// receives the verdict: an invalid signature is a successful check whose
/// verdict is not `NARHERDER_VERDICT_VALID`. A malformed narinfo fails with
/// `NARHERDER_STATUS_BAD_NARINFO`.
///
/// # Safety
///
/// `keyring` is NULL or a live keyring; `text` points to `text_len`
/// readable bytes; `verdict_out` is writable; `error_out` is NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn narherder_keyring_verify(
    keyring: *const narherder_keyring,
    text: *const u8,
    text_len: usize,
    verdict_out: *mut narherder_verdict,
    error_out: *mut *mut narherder_error,
) -> narherder_status {
    // SAFETY: forwarded contract.
    unsafe {
        guard(error_out, || -> Outcome {
            check_out(verdict_out, "verdict_out")?;
            let keys = keyring_ref(keyring).ok_or(Failure::null("keyring"))?;
            let n = Narinfo::parse(str_arg(text, text_len, "text")?)?;
            *verdict_out = verify_narinfo(&n, keys).into();
            Ok(())
        })
    }
}

/// The name of a verdict as `narherder verify` prints it, e.g.
/// `"valid-signature"`, `"unauthorized-key"`: a static NUL-terminated
/// string; `"unknown"` for a number that is no verdict. Thread-safe.
#[no_mangle]
pub extern "C" fn narherder_verdict_name(verdict: u32) -> *const c_char {
    guard_value(c"unknown".as_ptr(), || {
        let name = match verdict {
            0 => c"valid-signature",
            1 => c"corrupt-signature",
            2 => c"unauthorized-key",
            3 => c"hash-mismatch",
            4 => c"invalid-signature",
            5 => c"unsigned",
            _ => c"unknown",
        };
        name.as_ptr()
    })
}

/// Loads a secret key file: a Guix key (`(private-key (ecc …))`
/// s-expression) or a Nix key (`name:base64`), told apart by content. On
/// success `*key_out` receives a key to free with
/// [`narherder_secret_key_free`].
///
/// # Safety
///
/// `path` points to `path_len` readable bytes; `key_out` is writable;
/// `error_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn narherder_secret_key_load(
    path: *const u8,
    path_len: usize,
    key_out: *mut *mut narherder_secret_key,
    error_out: *mut *mut narherder_error,
) -> narherder_status {
    // SAFETY: forwarded contract.
    unsafe {
        guard(error_out, || -> Outcome {
            check_out(key_out, "key_out")?;
            let key = SecretKey::load(path_arg(path, path_len)?)?;
            *key_out = Box::into_raw(Box::new(key)).cast();
            Ok(())
        })
    }
}

/// Frees a secret key. NULL is allowed. Any thread.
///
/// # Safety
///
/// `key` is NULL or a key not yet freed; it is not used again.
#[no_mangle]
pub unsafe extern "C" fn narherder_secret_key_free(key: *mut narherder_secret_key) {
    guard_value((), || {
        if !key.is_null() {
            // SAFETY: by the contract, key came from secret_key_load.
            drop(unsafe { Box::from_raw(key.cast::<SecretKey>()) });
        }
    })
}

/// Signs a narinfo text. Guix key: a `Signature: 1;<host>;<base64>` line
/// goes right after the part it signs (an existing one is replaced; the
/// URL groups after it stay as they are); `host` (`host_len` bytes, NULL
/// allowed when 0) names the signer. Nix key: a `Sig:` line is added;
/// `host` is ignored. On success `*signed_out` receives the signed narinfo,
/// to free with [`narherder_narinfo_free`] (its text is the signed text).
///
/// # Safety
///
/// `key` is NULL or a live key; `text` points to `text_len` readable bytes;
/// `host` is NULL or points to `host_len` readable bytes; `signed_out` is
/// writable; `error_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn narherder_secret_key_sign(
    key: *const narherder_secret_key,
    text: *const u8,
    text_len: usize,
    host: *const u8,
    host_len: usize,
    signed_out: *mut *mut narherder_narinfo,
    error_out: *mut *mut narherder_error,
) -> narherder_status {
    // SAFETY: forwarded contract.
    unsafe {
        guard(error_out, || -> Outcome {
            check_out(signed_out, "signed_out")?;
            let key = key
                .cast::<SecretKey>()
                .as_ref()
                .ok_or(Failure::null("key"))?;
            let n = Narinfo::parse(str_arg(text, text_len, "text")?)?;
            let host = str_arg(host, host_len, "host")?;
            let signed = sign_narinfo(&n, key, host)?;
            *signed_out = NarinfoHandle::from_narinfo(&signed).into_raw();
            Ok(())
        })
    }
}
