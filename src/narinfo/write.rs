//! Writing narinfos.

use super::NarFile;

/// Which program's layout to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// As current `guix publish` writes.
    Guix,
    /// As Nix writes.
    Nix,
}

/// The fields of a narinfo to write (everything but signatures).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NarinfoFields {
    /// Full store path, e.g. `/gnu/store/<hash>-hello-2.12`.
    pub store_path: String,
    /// `NarHash`, e.g. `sha256:<52 nix32 chars>`.
    pub nar_hash: String,
    /// `NarSize` in bytes.
    pub nar_size: u64,
    /// References as base names (`<hash>-<name>`), in the order to write.
    pub references: Vec<String>,
    /// `Deriver` as a base name ending in `.drv`.
    pub deriver: Option<String>,
    /// `System`, e.g. `x86_64-linux`.
    pub system: Option<String>,
    /// `CA` (content address).
    pub ca: Option<String>,
    /// The URL groups, in order; at least one.
    pub files: Vec<NarFile>,
}
