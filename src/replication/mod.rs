//! Several machines: PostgreSQL logical replication between one primary and
//! any number of mirrors, and analytics flowing back.
//!
//! The primary writes; mirrors subscribe with PostgreSQL's own logical
//! replication (no home-made protocol). Data flows one way per table,
//! because PostgreSQL 15 cannot replicate a table both ways:
//!
//! * the primary **publishes** the store ([`STORE_PUBLICATION`]: items,
//!   narinfos, references, nar files, roots) and every mirror
//!   **subscribes** to it ([`subscribe`]);
//! * every mirror publishes its analytics rows ([`ANALYTICS_PUBLICATION`]:
//!   `request_totals`, `item_requests`, `missed_hashes`, keyed by node
//!   name) and the primary subscribes to each mirror's
//!   ([`subscribe`] with [`SubscribeOptions::analytics`]), so that
//!   `narherder stats` on the primary sees every node. Each node writes
//!   only rows of its own node name, so the rows never collide; node names
//!   must be distinct.
//!
//! On a mirror the change-feed trigger on `narinfos` is enabled for
//! replicated rows (`ENABLE ALWAYS TRIGGER`), so a server's in-memory hot
//! path learns of replicated inserts and deletions as it learns of local
//! ones (see [`crate::changes`]).
//!
//! [`subscription_status`] reports each subscription's state and lag.
//! Everything here needs PostgreSQL: on SQLite the status is empty and the
//! other calls fail with a clear error.

mod conninfo;
mod status;

pub use conninfo::ConnInfo;
pub use status::{subscription_status, SubscriptionState, SubscriptionStatus};

/// The publication of the store, on the primary.
pub const STORE_PUBLICATION: &str = "narherder";
/// The publication of a node's analytics rows, on each mirror.
pub const ANALYTICS_PUBLICATION: &str = "narherder_analytics";

/// The tables a mirror needs to serve (and to take over as primary), in
/// the store publication.
pub const STORE_TABLES: &[&str] = &[
    "items",
    "narinfos",
    "refs",
    "nar_files",
    "roots",
    "root_items",
];

/// The per-node analytics tables, in the analytics publication.
pub const ANALYTICS_TABLES: &[&str] = &["request_totals", "item_requests", "missed_hashes"];
