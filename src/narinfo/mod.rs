//! The narinfo record: what a binary cache says about one store item.
//!
//! A [`Narinfo`] keeps its original text byte for byte. For Guix narinfos the
//! text splits into the *signed prefix* (from the first byte up to, not
//! including, the first `Signature:` line) and the *unsigned tail* (the
//! `Signature:` line and everything after it). Nothing here ever
//! re-serialises or reorders the signed prefix.
//!
//! Parsing lives in `parse.rs`, writing in `write.rs`.

mod parse;
mod write;

pub(crate) use parse::check_base_name;
pub use parse::{parse_many, MAX_LINES, MAX_NAME_LEN, MAX_NARINFO_BYTES, MAX_REFERENCES};
pub use write::{Layout, NarinfoFields};

/// One downloadable archive of a store item: the i-th `URL`, `Compression`,
/// `FileSize` and `FileHash` lines of a narinfo belong together.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NarFile {
    /// Relative (or absolute) URL of the archive, e.g. `nar/lzip/<base>`.
    pub url: String,
    /// Compression, e.g. `lzip`, `zstd`, `xz`, `none`.
    pub compression: Option<String>,
    /// Size in bytes of the compressed archive.
    pub file_size: Option<u64>,
    /// Hash of the compressed archive as written, e.g. `sha256:<nix32>`.
    pub file_hash: Option<String>,
}

/// A parsed narinfo that remembers its exact text.
///
/// Invariant: the fields are exactly what `text` says; constructors are the
/// parser and the writer, both of which go through the parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Narinfo {
    pub(crate) text: String,
    /// Byte length of the signed prefix (`text.len()` when there is no
    /// `Signature:` line).
    pub(crate) signed_len: usize,
    /// Store directory, without trailing slash, e.g. `/gnu/store`.
    pub(crate) store_dir: String,
    pub(crate) store_path: String,
    pub(crate) nar_hash: String,
    pub(crate) nar_size: u64,
    pub(crate) references: Vec<String>,
    pub(crate) deriver: Option<String>,
    pub(crate) system: Option<String>,
    pub(crate) ca: Option<String>,
    pub(crate) files: Vec<NarFile>,
    /// Value of the Guix `Signature:` line (`1;host;base64`).
    pub(crate) signature: Option<String>,
    /// Values of the Nix `Sig:` lines (`keyname:base64`).
    pub(crate) sigs: Vec<String>,
    /// Whether StorePath, NarHash and References all stand in the signed
    /// prefix (else a Guix client treats the narinfo as unsigned).
    pub(crate) essentials_signed: bool,
}

impl Narinfo {
    /// The whole text, exactly as it will be served.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The signed prefix of a Guix narinfo: the bytes up to, not including,
    /// the first `Signature:` line. The whole text when there is none.
    pub fn signed_prefix(&self) -> &str {
        &self.text[..self.signed_len]
    }

    /// The unsigned tail: the `Signature:` line and everything after it
    /// (empty when there is no `Signature:` line).
    pub fn unsigned_tail(&self) -> &str {
        &self.text[self.signed_len..]
    }

    /// The store directory, e.g. `/gnu/store`.
    pub fn store_dir(&self) -> &str {
        &self.store_dir
    }

    /// The full store path, e.g. `/gnu/store/<hash>-hello-2.12`.
    pub fn store_path(&self) -> &str {
        &self.store_path
    }

    /// The base name of the store path, `<hash>-<name>`.
    pub fn base_name(&self) -> &str {
        &self.store_path[self.store_dir.len() + 1..]
    }

    /// The 32-character nix-base32 hash part: the narinfo's key.
    pub fn hash_part(&self) -> &str {
        &self.base_name()[..32]
    }

    /// The name after the hash part, e.g. `hello-2.12`.
    pub fn name(&self) -> &str {
        &self.base_name()[33..]
    }

    /// `NarHash` as written, e.g. `sha256:<52 nix32 chars>` (or hex).
    pub fn nar_hash(&self) -> &str {
        &self.nar_hash
    }

    /// `NarSize` in bytes.
    pub fn nar_size(&self) -> u64 {
        self.nar_size
    }

    /// `References` as base names (`<hash>-<name>`), in file order; may
    /// include the item itself.
    pub fn references(&self) -> &[String] {
        &self.references
    }

    /// `Deriver` as a base name, if any.
    pub fn deriver(&self) -> Option<&str> {
        self.deriver.as_deref()
    }

    /// `System`, if any.
    pub fn system(&self) -> Option<&str> {
        self.system.as_deref()
    }

    /// `CA` (content address), if any.
    pub fn ca(&self) -> Option<&str> {
        self.ca.as_deref()
    }

    /// The URL groups, in file order.
    pub fn files(&self) -> &[NarFile] {
        &self.files
    }

    /// The Guix `Signature:` value (`1;host;base64`), if any.
    pub fn signature(&self) -> Option<&str> {
        self.signature.as_deref()
    }

    /// The Nix `Sig:` values (`keyname:base64`), in file order.
    pub fn sigs(&self) -> &[String] {
        &self.sigs
    }

    /// Whether StorePath, NarHash and References all stand above the
    /// `Signature:` line. A Guix client treats a narinfo for which this is
    /// false as unsigned.
    pub fn essentials_signed(&self) -> bool {
        self.essentials_signed
    }

    /// The hash parts of the references (first 32 characters of each).
    pub fn reference_hashes(&self) -> impl Iterator<Item = &str> {
        self.references.iter().map(|r| &r[..32])
    }

    /// The NAR's SHA-256 digest (from `NarHash`, nix32 or hex).
    pub fn nar_hash_bytes(&self) -> [u8; 32] {
        // The parser only accepts NarHash values that decode, so the fallback
        // is unreachable for a Narinfo built by this crate.
        parse::decode_sha256(&self.nar_hash).unwrap_or([0; 32])
    }

    /// `NarHash` in the nix32 spelling, `sha256:<52 chars>`, converting hex
    /// when the text has hex. Nix signature fingerprints use this form.
    pub fn nar_hash_nix32(&self) -> String {
        if self.nar_hash.len() == "sha256:".len() + 52 {
            self.nar_hash.clone()
        } else {
            format!("sha256:{}", crate::nix32::encode(&self.nar_hash_bytes()))
        }
    }

    /// The fields a writer would need to produce this narinfo again
    /// (signatures and unknown keys excluded).
    pub fn fields(&self) -> NarinfoFields {
        NarinfoFields {
            store_path: self.store_path.clone(),
            nar_hash: self.nar_hash.clone(),
            nar_size: self.nar_size,
            references: self.references.clone(),
            deriver: self.deriver.clone(),
            system: self.system.clone(),
            ca: self.ca.clone(),
            files: self.files.clone(),
        }
    }
}
