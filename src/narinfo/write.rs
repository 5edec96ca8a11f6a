//! Writing narinfos (placeholder until the formats work lands).

/// Which program's layout to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// As current `guix publish` writes.
    Guix,
    /// As Nix writes.
    Nix,
}

/// The fields of a narinfo to write.
#[derive(Debug, Clone, Default)]
pub struct NarinfoFields {
    /// Full store path.
    pub store_path: String,
}
