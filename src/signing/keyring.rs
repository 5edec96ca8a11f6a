//! Keys of both schemes behind one face: the trusted public keys a narinfo is
//! checked against ([`Keyring`]), a secret key of either kind ([`SecretKey`]),
//! and narinfo-level [`verify_narinfo`] and [`sign_narinfo`].
//!
//! Key files are told apart by their content: Guix key and ACL files are
//! s-expressions (they start with `(`); Nix key files are lines of
//! `name:base64`.

use std::path::Path;

use super::guix::{self, Acl, GuixSecretKey};
use super::nix::{self, NixPublicKey, NixSecretKey};
use super::Verdict;
use crate::narinfo::Narinfo;
use crate::{Error, Result};

/// The trusted public keys: a Guix ACL and a list of Nix keys.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    /// Trusted Guix keys.
    pub guix: Acl,
    /// Trusted Nix keys.
    pub nix: Vec<NixPublicKey>,
}

fn is_sexp(text: &[u8]) -> bool {
    text.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'(')
}

/// `e`, said of the key file `path`.
fn in_file(path: &Path, e: Error) -> Error {
    match e {
        Error::Key(message) => Error::Key(format!("{}: {message}", path.display())),
        other => Error::Key(format!("{}: {other}", path.display())),
    }
}

impl Keyring {
    /// An empty keyring (nothing verifies against it).
    pub fn new() -> Self {
        Keyring::default()
    }

    /// Adds the keys of one file: a Guix `.pub` file, a Guix ACL
    /// (`/etc/guix/acl` format), or a Nix public key file (one or more
    /// `name:base64` lines, `#` comments allowed).
    pub fn add_file(&mut self, path: &Path) -> Result<()> {
        let text = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        if is_sexp(&text) {
            self.guix.merge(Acl::read_file(path)?);
        } else {
            let text = std::str::from_utf8(&text).map_err(|_| {
                Error::Key(format!(
                    "{}: neither a Guix key (s-expression) nor a Nix key file (UTF-8 `name:base64` lines)",
                    path.display()
                ))
            })?;
            let keys = nix::parse_public_keys(text).map_err(|e| in_file(path, e))?;
            if keys.is_empty() {
                return Err(Error::Key(format!(
                    "{}: no key in the file",
                    path.display()
                )));
            }
            self.nix.extend(keys);
        }
        Ok(())
    }

    /// A keyring of the keys of all `paths` (see [`Keyring::add_file`]).
    pub fn from_files<P: AsRef<Path>>(paths: &[P]) -> Result<Self> {
        let mut keyring = Keyring::new();
        for path in paths {
            keyring.add_file(path.as_ref())?;
        }
        Ok(keyring)
    }

    /// Whether the keyring holds no key at all.
    pub fn is_empty(&self) -> bool {
        self.guix.is_empty() && self.nix.is_empty()
    }
}

/// Checks the signatures of `narinfo` against `keys`.
///
/// A Guix `Signature:` is checked over the signed prefix as a Guix client
/// does; a narinfo whose StorePath, NarHash or References stand below the
/// `Signature:` line counts as [`Verdict::Unsigned`], as it does for Guix.
/// Nix `Sig:` lines are checked over the fingerprint. When a narinfo carries
/// both kinds, it is valid if either is; otherwise the Guix verdict is
/// reported. No signature at all is [`Verdict::Unsigned`].
pub fn verify_narinfo(narinfo: &Narinfo, keys: &Keyring) -> Verdict {
    let guix_verdict = narinfo.signature().map(|field| {
        if narinfo.essentials_signed() {
            guix::verify(narinfo.signed_prefix().as_bytes(), field, &keys.guix)
        } else {
            Verdict::Unsigned
        }
    });
    if guix_verdict == Some(Verdict::Valid) {
        return Verdict::Valid;
    }
    let nix_verdict = (!narinfo.sigs().is_empty()).then(|| nix::verify_narinfo(narinfo, &keys.nix));
    match (guix_verdict, nix_verdict) {
        (_, Some(Verdict::Valid)) => Verdict::Valid,
        (Some(v), _) | (None, Some(v)) => v,
        (None, None) => Verdict::Unsigned,
    }
}

/// A secret signing key of either scheme.
#[derive(Debug)]
pub enum SecretKey {
    /// A Guix key (ECDSA on Ed25519, libgcrypt s-expression file).
    Guix(GuixSecretKey),
    /// A Nix key (Ed25519, `name:base64` file).
    Nix(NixSecretKey),
}

impl SecretKey {
    /// Reads a secret key file of either kind, telling them apart by content.
    /// A file others may read or write is used with a warning on standard
    /// error (see [`super::keyfile::warn_if_exposed`]).
    pub fn load(path: &Path) -> Result<Self> {
        super::keyfile::warn_if_exposed(path);
        let text = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        if is_sexp(&text) {
            Ok(SecretKey::Guix(GuixSecretKey::read_file(path)?))
        } else {
            Ok(SecretKey::Nix(NixSecretKey::load(path)?))
        }
    }
}

/// Returns `narinfo` signed with `key`.
///
/// Guix: a `Signature: 1;<host>;<base64>` line goes right after the part it
/// signs ([`Narinfo::prefix_to_sign`]); an existing Guix signature is
/// replaced; the URL groups that follow stay unsigned and byte for byte.
/// Nix: a `Sig:` line over the fingerprint is added next to any existing
/// ones. `host` names the signer in Guix signatures and is ignored for Nix.
pub fn sign_narinfo(narinfo: &Narinfo, key: &SecretKey, host: &str) -> Result<Narinfo> {
    match key {
        SecretKey::Guix(key) => {
            let sig = guix::sign(key, narinfo.prefix_to_sign().as_bytes());
            narinfo.with_guix_signature(&guix::signature_field(host, &sig)?)
        }
        SecretKey::Nix(key) => narinfo.with_nix_sig(&nix::sign_narinfo_sig(narinfo, key)),
    }
}
