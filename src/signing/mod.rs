//! Signatures: Guix (ECDSA over Ed25519 with libgcrypt s-expressions) and Nix
//! (Ed25519 over a fingerprint).

pub mod keyfile;
pub mod keyring;
pub mod nix;

pub use keyring::{sign_narinfo, verify_narinfo, Keyring, SecretKey};

/// What a signature check concluded: the verdicts a Guix client gives, plus
/// [`Verdict::Unsigned`] for a narinfo that carries no signature at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// The signature is valid and made by an authorized key.
    Valid,
    /// The signature cannot be decoded or lacks required parts.
    CorruptSignature,
    /// The signing key is not among the trusted keys.
    UnauthorizedKey,
    /// The hash inside the signature is not the hash of the signed bytes.
    HashMismatch,
    /// The signature does not verify.
    InvalidSignature,
    /// There is no signature (or, for Guix, the essential fields stand
    /// outside the signed part).
    Unsigned,
}

impl Verdict {
    /// The verdict's name as printed by `narherder verify`, e.g.
    /// `valid-signature`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Valid => "valid-signature",
            Verdict::CorruptSignature => "corrupt-signature",
            Verdict::UnauthorizedKey => "unauthorized-key",
            Verdict::HashMismatch => "hash-mismatch",
            Verdict::InvalidSignature => "invalid-signature",
            Verdict::Unsigned => "unsigned",
        }
    }

    /// Whether this is [`Verdict::Valid`].
    pub fn is_valid(self) -> bool {
        self == Verdict::Valid
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

pub mod guix;
