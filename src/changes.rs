//! The change feed: which narinfos were added, replaced or deleted, by any
//! process, in commit order.
//!
//! Database triggers on `narinfos` (schema version 3) append one row per
//! insert, update or delete to `narinfo_changes(seq, hash, op, at)`, so a
//! server learns about imports, garbage collection and uploads made by other
//! processes — and, on a PostgreSQL mirror whose trigger is enabled with
//! `ENABLE ALWAYS TRIGGER`, about rows applied by logical replication — by
//! polling [`ChangeFeed::poll`] every second or so. [`prune_changes`] drops
//! old rows.
//!
//! PostgreSQL hands out sequence numbers when rows are written, not when
//! they commit, so a row may become visible after rows with larger numbers.
//! narherder's writers hold one lock, which keeps the two orders equal; for
//! other writers [`ChangeFeed`] remembers holes in the numbering for a few
//! seconds and reads them again (applying a change twice is harmless).

use std::time::{Duration, Instant};

use crate::nix32;
use crate::store::{Backend, Store};
use crate::Result;

/// A 20-byte item key: the bytes of a 32-character hash part, as the
/// database stores them (`items.hash`).
pub type ItemKey = [u8; 20];

/// The key of a 32-character hash part, or `None` if `hash` is not one.
/// The same encoding as the store's: the nix32-decoded digest, reversed, so
/// that byte order follows the text order.
pub fn item_key(hash: &str) -> Option<ItemKey> {
    if hash.len() != 32 {
        return None;
    }
    let mut key: ItemKey = nix32::decode_array(hash).ok()?;
    key.reverse();
    Some(key)
}

/// The hash part of an item key.
pub fn item_hash(key: &ItemKey) -> String {
    let mut bytes = *key;
    bytes.reverse();
    nix32::encode(&bytes)
}

/// What happened to a narinfo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOp {
    /// Inserted or replaced.
    Put,
    /// Deleted.
    Delete,
}

/// One row of the change feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Position in the feed.
    pub seq: i64,
    /// The item.
    pub key: ItemKey,
    /// What happened.
    pub op: ChangeOp,
}

impl Change {
    /// The item's hash part.
    pub fn hash(&self) -> String {
        item_hash(&self.key)
    }
}

const AFTER: &str =
    "SELECT seq, hash, op FROM narinfo_changes WHERE seq > $1 ORDER BY seq LIMIT $2";
const LATEST: &str = "SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) FROM narinfo_changes";
const OLDEST: &str = "SELECT MIN(seq) FROM narinfo_changes";
const PRUNE: &str = "DELETE FROM narinfo_changes WHERE at < $1";

/// Up to `limit` changes with `seq > after`, in `seq` order. Rows whose key
/// is not 20 bytes or whose op is unknown are skipped.
pub async fn changes_after(store: &Store, after: i64, limit: u32) -> Result<Vec<Change>> {
    type Row = (i64, Vec<u8>, String);
    let rows: Vec<Row> = match store.backend() {
        Backend::Sqlite(pool) => {
            sqlx::query_as(AFTER)
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        }
        Backend::Postgres(pool) => {
            sqlx::query_as(AFTER)
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        }
    };
    Ok(rows
        .into_iter()
        .filter_map(|(seq, hash, op)| {
            let key: ItemKey = hash.as_slice().try_into().ok()?;
            let op = match op.as_str() {
                "put" => ChangeOp::Put,
                "del" => ChangeOp::Delete,
                _ => return None,
            };
            Some(Change { seq, key, op })
        })
        .collect())
}

/// The largest sequence number written so far (0 for an empty feed).
pub async fn latest_seq(store: &Store) -> Result<i64> {
    Ok(match store.backend() {
        Backend::Sqlite(pool) => sqlx::query_scalar(LATEST).fetch_one(pool).await?,
        Backend::Postgres(pool) => sqlx::query_scalar(LATEST).fetch_one(pool).await?,
    })
}

/// The smallest sequence number still in the feed, if any.
pub async fn oldest_seq(store: &Store) -> Result<Option<i64>> {
    Ok(match store.backend() {
        Backend::Sqlite(pool) => sqlx::query_scalar(OLDEST).fetch_one(pool).await?,
        Backend::Postgres(pool) => sqlx::query_scalar(OLDEST).fetch_one(pool).await?,
    })
}

/// Deletes the rows written more than `older_than` ago; returns how many.
pub async fn prune_changes(store: &Store, older_than: Duration) -> Result<u64> {
    let cutoff = now_secs() - i64::try_from(older_than.as_secs()).unwrap_or(i64::MAX / 2);
    Ok(match store.backend() {
        Backend::Sqlite(pool) => sqlx::query(PRUNE)
            .bind(cutoff)
            .execute(pool)
            .await?
            .rows_affected(),
        Backend::Postgres(pool) => sqlx::query(PRUNE)
            .bind(cutoff)
            .execute(pool)
            .await?
            .rows_affected(),
    })
}

/// What one [`ChangeFeed::poll`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll {
    /// These changes, in order (possibly none).
    Changes(Vec<Change>),
    /// Rows this reader never saw have been pruned: it must reload
    /// everything (and has moved to the end of the feed).
    Lost,
}

/// How long a hole in the numbering is read again before it is taken for
/// a rolled-back transaction.
const HOLE_PATIENCE: Duration = Duration::from_secs(10);
/// Rows read per query.
const BATCH: u32 = 10_000;

/// A reader of the change feed that remembers where it is.
#[derive(Debug)]
pub struct ChangeFeed {
    /// Largest sequence number seen.
    last: i64,
    /// Holes `(first, last)` below `last`, with when they were first seen.
    holes: Vec<(i64, i64, Instant)>,
}

impl ChangeFeed {
    /// A reader that starts at the current end of the feed (call this
    /// *before* loading whatever state the changes will update).
    pub async fn at_end(store: &Store) -> Result<ChangeFeed> {
        Ok(ChangeFeed::starting_after(latest_seq(store).await?))
    }

    /// A reader that will return the changes after `seq`.
    pub fn starting_after(seq: i64) -> ChangeFeed {
        ChangeFeed {
            last: seq,
            holes: Vec::new(),
        }
    }

    /// The largest sequence number seen.
    pub fn last_seq(&self) -> i64 {
        self.last
    }

    /// The changes since the previous poll.
    pub async fn poll(&mut self, store: &Store) -> Result<Poll> {
        let now = Instant::now();
        self.holes
            .retain(|&(_, _, seen)| now.duration_since(seen) < HOLE_PATIENCE);
        if self.last > 0 {
            if let Some(oldest) = oldest_seq(store).await? {
                if oldest > self.last + 1 && self.holes.is_empty() {
                    // Possibly pruned rows we never saw; or rolled-back
                    // numbers. Either way a reload is the safe answer.
                    self.last = latest_seq(store).await?;
                    return Ok(Poll::Lost);
                }
            }
        }
        let from = self
            .holes
            .iter()
            .map(|&(first, _, _)| first - 1)
            .min()
            .unwrap_or(self.last)
            .min(self.last);
        let mut out = Vec::new();
        let mut after = from;
        loop {
            let rows = changes_after(store, after, BATCH).await?;
            let n = rows.len();
            for change in rows {
                after = change.seq;
                if change.seq <= self.last {
                    // A re-read: keep it only if it fills a hole.
                    if let Some(i) = self
                        .holes
                        .iter()
                        .position(|&(a, b, _)| (a..=b).contains(&change.seq))
                    {
                        let (a, b, seen) = self.holes.swap_remove(i);
                        if a < change.seq {
                            self.holes.push((a, change.seq - 1, seen));
                        }
                        if change.seq < b {
                            self.holes.push((change.seq + 1, b, seen));
                        }
                        out.push(change);
                    }
                    continue;
                }
                if change.seq > self.last + 1 {
                    self.holes.push((self.last + 1, change.seq - 1, now));
                }
                self.last = change.seq;
                out.push(change);
            }
            if n < BATCH as usize {
                break;
            }
        }
        Ok(Poll::Changes(out))
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        let h = "0123456789abcdfghijklmnpqrsvwxyz";
        let k = item_key(h).unwrap();
        assert_eq!(item_hash(&k), h);
        assert!(item_key("0123456789abcdfghijklmnpqrsvwxy").is_none());
        assert!(item_key("0123456789abcdfghijklmnpqrsvwxye").is_none());
        // Byte order follows text order.
        let a = item_key("00000000000000000000000000000001").unwrap();
        let b = item_key("10000000000000000000000000000000").unwrap();
        assert!(a < b);
    }
}
