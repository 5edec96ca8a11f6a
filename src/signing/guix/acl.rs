//! The set of keys a Guix client trusts: `/etc/guix/acl`, or plain public
//! key files.
//!
//! ```text
//! (acl (entry (public-key (ecc (curve Ed25519) (q #…#))) (tag (guix import))) …)
//! ```
//!
//! Keys compare structurally (curve and `q` bytes), not by text.

use super::keys::{GuixPublicKey, CURVE};
use crate::error::{Error, Result};
use crate::sexp::{self, Sexp};
use std::path::Path;

/// Authorized Guix keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Acl {
    keys: Vec<GuixPublicKey>,
}

/// Whether a `(public-key …)` is of a kind this crate does not handle
/// (another algorithm or curve), as opposed to a malformed Ed25519 key.
fn is_foreign_key(key: &Sexp) -> bool {
    match key.child("ecc") {
        None => true,
        Some(ecc) => ecc
            .child_value("curve")
            .is_some_and(|curve| curve != CURVE.as_bytes()),
    }
}

impl Acl {
    /// An empty ACL (trusts nothing).
    pub fn new() -> Self {
        Acl::default()
    }

    /// Adds a key (once).
    pub fn add(&mut self, key: GuixPublicKey) {
        if !self.contains(&key) {
            self.keys.push(key);
        }
    }

    /// Adds every key of `other`.
    pub fn merge(&mut self, other: Acl) {
        for key in other.keys {
            self.add(key);
        }
    }

    /// Whether `key` is authorized.
    pub fn contains(&self, key: &GuixPublicKey) -> bool {
        self.keys.iter().any(|k| k == key)
    }

    /// The authorized key whose point encoding is `q`.
    pub(crate) fn get(&self, q: &[u8; 32]) -> Option<&GuixPublicKey> {
        self.keys.iter().find(|k| k.to_bytes() == *q)
    }

    /// The authorized keys.
    pub fn keys(&self) -> &[GuixPublicKey] {
        &self.keys
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is authorized.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Reads an ACL from the text of an `(acl (entry …) …)` file or of a
    /// single `(public-key …)` file. ACL entries holding keys of other
    /// algorithms or curves are skipped (they can never sign a Guix narinfo
    /// this crate accepts); a malformed Ed25519 key is an error.
    pub fn parse(text: &[u8]) -> Result<Self> {
        let sexp = sexp::parse(text)?;
        let mut acl = Acl::new();
        if sexp.is_named("public-key") {
            acl.add(GuixPublicKey::from_sexp(&sexp)?);
            return Ok(acl);
        }
        if !sexp.is_named("acl") {
            return Err(Error::Key(
                "expected `(acl (entry …) …)` or `(public-key …)`".into(),
            ));
        }
        let entries = sexp.as_list().unwrap_or_default();
        for (i, entry) in entries.iter().enumerate().skip(1) {
            if !entry.is_named("entry") {
                return Err(Error::Key(format!("ACL item {i}: expected `(entry …)`")));
            }
            let key = entry
                .child("public-key")
                .ok_or_else(|| Error::Key(format!("ACL entry {i}: missing `(public-key …)`")))?;
            if is_foreign_key(key) {
                continue;
            }
            let key = GuixPublicKey::from_sexp(key)
                .map_err(|e| Error::Key(format!("ACL entry {i}: {e}")))?;
            acl.add(key);
        }
        Ok(acl)
    }

    /// Reads an ACL file or a public key file.
    pub fn read_file(path: &Path) -> Result<Self> {
        let text = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text).map_err(|e| Error::Key(format!("{}: {e}", path.display())))
    }

    /// Reads and merges several ACL or public key files.
    pub fn read_files<P: AsRef<Path>>(paths: &[P]) -> Result<Self> {
        let mut acl = Acl::new();
        for path in paths {
            acl.merge(Self::read_file(path.as_ref())?);
        }
        Ok(acl)
    }

    /// The ACL in Guix's `/etc/guix/acl` format, each key tagged
    /// `(guix import)`.
    pub fn to_file_string(&self) -> String {
        let mut items = vec![Sexp::token("acl")];
        for key in &self.keys {
            items.push(Sexp::list(vec![
                Sexp::token("entry"),
                key.to_sexp(),
                Sexp::list(vec![
                    Sexp::token("tag"),
                    Sexp::list(vec![Sexp::token("guix"), Sexp::token("import")]),
                ]),
            ]));
        }
        Sexp::list(items).to_advanced_string()
    }
}

impl FromIterator<GuixPublicKey> for Acl {
    fn from_iter<I: IntoIterator<Item = GuixPublicKey>>(iter: I) -> Self {
        let mut acl = Acl::new();
        for key in iter {
            acl.add(key);
        }
        acl
    }
}
