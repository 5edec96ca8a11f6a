//! # narherder
//!
//! narherder keeps the *narinfos* of Guix and Nix binary caches in a database
//! (SQLite by default, PostgreSQL to scale out), knows their reference graph,
//! protects roots, garbage-collects the rest and serves narinfos over HTTP.
//!
//! Layers only look down:
//!
//! * formats — [`nix32`], [`narinfo`], [`signing`] — know nothing of databases;
//! * the [`store`] knows nothing of HTTP, C or Guile;
//! * the faces (CLI, server, C ABI, Guile) are thin layers over one async API.

#![warn(missing_docs)]

pub mod analytics;
pub mod build_logs;
pub mod capi;
pub mod changes;
pub mod compression;
pub mod doctor;
pub mod duration;
pub mod error;
pub mod evict;
#[doc(hidden)]
pub mod fuzzing;
pub mod gc;
mod gc_order;
pub mod gc_runs;
pub mod import;
pub mod narinfo;
pub mod nix32;
pub mod replication;
pub mod roots;
pub mod server;
pub mod sexp;
pub mod signing;
pub mod size;
pub mod status;
pub mod storage;
pub mod store;
pub mod synth;

mod dialect;

pub use error::{Error, Result};
pub use narinfo::Narinfo;
