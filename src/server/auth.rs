//! Write authorization: bearer tokens, also accepted as the password of
//! HTTP basic authentication (so that a netrc file works with Nix).
//!
//! Tokens are kept as SHA-256 digests and compared in constant time, so
//! neither their content nor their length leaks through timing. Tokens are
//! never logged.

use base64::Engine as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{Error, Result};

/// The accepted write tokens.
#[derive(Clone, Default)]
pub struct Tokens {
    digests: Vec<[u8; 32]>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tokens({} configured)", self.digests.len())
    }
}

fn digest(token: &[u8]) -> [u8; 32] {
    Sha256::digest(token).into()
}

impl Tokens {
    /// Tokens from strings; blank ones are ignored.
    pub fn new<S: AsRef<str>>(tokens: &[S]) -> Tokens {
        Tokens {
            digests: tokens
                .iter()
                .map(|t| t.as_ref().trim())
                .filter(|t| !t.is_empty())
                .map(|t| digest(t.as_bytes()))
                .collect(),
        }
    }

    /// Tokens from a file: one per line; blank lines and `#` comments are
    /// skipped.
    /// A file others may read or write is used with a warning on standard
    /// error.
    pub fn from_file(path: &std::path::Path) -> Result<Tokens> {
        crate::signing::keyfile::warn_if_exposed(path);
        let text =
            zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?);
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        if lines.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "{}: no token in the file (one token per line)",
                path.display()
            )));
        }
        Ok(Tokens::new(&lines))
    }

    /// Adds the tokens of `other`.
    pub fn extend(&mut self, other: Tokens) {
        self.digests.extend(other.digests);
    }

    /// Whether no token is configured (then every write is refused).
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    fn accepts(&self, candidate: &[u8]) -> bool {
        let d = digest(candidate);
        // Check every token, so the time does not depend on which matched.
        let mut ok = subtle::Choice::from(0);
        for t in &self.digests {
            ok |= t.ct_eq(&d);
        }
        bool::from(ok) && !candidate.is_empty()
    }

    /// Whether an `Authorization` header value carries an accepted token:
    /// `Bearer <token>`, or `Basic <base64(user:token)>` (any user name).
    pub fn authorizes(&self, header: Option<&[u8]>) -> bool {
        let Some(value) = header else { return false };
        let Ok(value) = std::str::from_utf8(value) else {
            return false;
        };
        let value = value.trim();
        let (scheme, rest) = match value.split_once(' ') {
            Some((s, r)) => (s, r.trim()),
            None => return false,
        };
        if scheme.eq_ignore_ascii_case("bearer") {
            self.accepts(rest.as_bytes())
        } else if scheme.eq_ignore_ascii_case("basic") {
            let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(rest) else {
                return false;
            };
            match decoded.iter().position(|&b| b == b':') {
                Some(i) => self.accepts(&decoded[i + 1..]),
                None => false,
            }
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_and_basic() {
        let t = Tokens::new(&["s3cret", "  ", "other"]);
        assert!(t.authorizes(Some(b"Bearer s3cret")));
        assert!(t.authorizes(Some(b"bearer other")));
        assert!(!t.authorizes(Some(b"Bearer s3cre")));
        assert!(!t.authorizes(Some(b"Bearer ")));
        assert!(!t.authorizes(None));
        let basic = base64::engine::general_purpose::STANDARD.encode("nix:s3cret");
        assert!(t.authorizes(Some(format!("Basic {basic}").as_bytes())));
        let wrong = base64::engine::general_purpose::STANDARD.encode("nix:nope");
        assert!(!t.authorizes(Some(format!("Basic {wrong}").as_bytes())));
        assert!(!t.authorizes(Some(b"Basic !!!")));
        assert!(!Tokens::default().authorizes(Some(b"Bearer ")));
        assert!(!format!("{t:?}").contains("s3cret"));
    }
}
