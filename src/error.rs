//! The crate's error type.
//!
//! Every message names what was wrong and, where there is one, the line and
//! field or the file involved, so that a user can act on it.

use std::path::PathBuf;

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in narherder.
///
/// New variants are only ever added at the end.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A narinfo's text is malformed: `line` is 1-based (0 when the problem
    /// concerns the whole text), `field` the key involved (may be empty).
    #[error("{}", format_narinfo_error(*.line, .field, .message))]
    Narinfo {
        /// 1-based line number, 0 for the whole text.
        line: usize,
        /// The narinfo key involved, e.g. `NarHash`; empty when none.
        field: String,
        /// What was wrong or expected.
        message: String,
    },
    /// A nix-base32 string is malformed.
    #[error("nix-base32: {0}")]
    Nix32(String),
    /// A key (file or string) is malformed or of the wrong kind.
    #[error("key: {0}")]
    Key(String),
    /// A signature could not be produced, or its encoding is malformed.
    #[error("signature: {0}")]
    Signature(String),
    /// An s-expression is malformed.
    #[error("s-expression: {0}")]
    Sexp(String),
    /// An I/O error on a named file.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The database reported an error.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A schema migration failed.
    #[error("database migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// The store refused an operation (wrong store directory, newer schema, …).
    #[error("store: {0}")]
    Store(String),
    /// A different narinfo is already stored for this hash.
    #[error("a different narinfo is already stored for {hash} (pass replace to overwrite it)")]
    Conflict {
        /// The 32-character hash part.
        hash: String,
    },
    /// An argument was out of range or malformed.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

fn format_narinfo_error(line: usize, field: &str, message: &str) -> String {
    match (line, field.is_empty()) {
        (0, true) => message.to_string(),
        (0, false) => format!("{field}: {message}"),
        (l, true) => format!("line {l}: {message}"),
        (l, false) => format!("line {l}: {field}: {message}"),
    }
}

impl Error {
    /// A narinfo error at `line` about `field`.
    pub fn narinfo(line: usize, field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Narinfo {
            line,
            field: field.into(),
            message: message.into(),
        }
    }

    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
