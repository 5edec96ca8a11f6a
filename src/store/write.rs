//! Adding and removing narinfos: the backend-neutral plan.
//!
//! [`Batch`] validates a slice of narinfos and interns their hash parts;
//! [`Batch::apply`] decides per narinfo (insert, no-op, replace, conflict)
//! and writes through [`Bulk`], which each backend implements with
//! set-at-a-time statements (SQLite: one JSON parameter per statement;
//! PostgreSQL: one array parameter per column), so a batch of thousands of
//! narinfos costs a handful of statements and no bind-parameter limit
//! applies.

use std::collections::{HashMap, HashSet};

use super::key::{self, Key, KeyHash};
use super::{AddMode, AddOutcome};
use crate::{Error, Narinfo, Result};

/// A `narinfos` row to insert.
pub(crate) struct NarinfoRow<'a> {
    pub id: i64,
    pub item_id: i64,
    pub name: &'a str,
    pub text: &'a str,
    pub nar_hash: &'a str,
    pub nar_size: i64,
    pub deriver: Option<&'a str>,
    pub system: Option<&'a str>,
    pub ca: Option<&'a str>,
    pub added_at: i64,
}

/// A `nar_files` row to insert.
pub(crate) struct FileRow<'a> {
    pub narinfo_id: i64,
    pub idx: i64,
    pub url: &'a str,
    pub compression: Option<&'a str>,
    pub file_size: Option<i64>,
    pub file_hash: Option<&'a str>,
}

/// Set-at-a-time statements on an open transaction. Implemented by
/// `SqliteConnection` and `PgConnection` (static dispatch only).
pub(crate) trait Bulk {
    /// Ensures every key is in `items`; returns their item ids, aligned.
    async fn intern(&mut self, keys: &[Key]) -> Result<Vec<i64>>;
    /// `narinfos.id` of the keys that have a stored narinfo (any order).
    async fn narinfo_ids(&mut self, keys: &[Key]) -> Result<Vec<i64>>;
    /// `(item_id, narinfos.id, text)` of the stored narinfos among `item_ids`.
    async fn stored_of(&mut self, item_ids: &[i64]) -> Result<Vec<(i64, i64, String)>>;
    /// One more than the largest `narinfos.id` (the writer holds the lock).
    async fn next_narinfo_id(&mut self) -> Result<i64>;
    /// Deletes narinfos (by `narinfos.id`) with their edges and files;
    /// returns how many.
    async fn delete_narinfos(&mut self, ids: &[i64]) -> Result<u64>;
    /// Inserts narinfo rows.
    async fn insert_narinfos(&mut self, rows: &[NarinfoRow<'_>]) -> Result<()>;
    /// Inserts reference edges.
    async fn insert_refs(&mut self, edges: &[(i64, i64)]) -> Result<()>;
    /// Inserts nar file rows.
    async fn insert_files(&mut self, rows: &[FileRow<'_>]) -> Result<()>;
}

/// Validated narinfos ready to write.
pub(crate) struct Batch<'a> {
    narinfos: &'a [Narinfo],
    /// Distinct keys of every hash part involved.
    keys: Vec<Key>,
    /// Per narinfo: index in `keys` of its own hash part.
    own: Vec<usize>,
    /// Indices in `keys` of the references, deduplicated, narinfo after
    /// narinfo; narinfo *i*'s are `refs[ref_start[i]..ref_start[i + 1]]`.
    refs: Vec<usize>,
    ref_start: Vec<usize>,
}

fn to_i64(v: u64, path: &str, field: &str) -> Result<i64> {
    i64::try_from(v).map_err(|_| {
        Error::Store(format!(
            "{path}: {field} {v} is larger than the database can hold (2^63-1)"
        ))
    })
}

impl<'a> Batch<'a> {
    /// Validates `narinfos` against the store directory and interns keys.
    pub(crate) fn new(narinfos: &'a [Narinfo], store_dir: &str) -> Result<Self> {
        let total_refs: usize = narinfos.iter().map(|n| n.references().len()).sum();
        let mut index: HashMap<Key, usize, KeyHash> =
            HashMap::with_capacity_and_hasher(total_refs + narinfos.len(), KeyHash::default());
        let mut keys = Vec::with_capacity(total_refs + narinfos.len());
        let mut intern = |k: Key| {
            *index.entry(k).or_insert_with(|| {
                keys.push(k);
                keys.len() - 1
            })
        };
        let mut own = Vec::with_capacity(narinfos.len());
        let mut refs = Vec::with_capacity(total_refs);
        let mut ref_start = Vec::with_capacity(narinfos.len() + 1);
        ref_start.push(0);
        for n in narinfos {
            if n.store_dir() != store_dir {
                return Err(Error::Store(format!(
                    "{}: this narinfo is for store directory {} but this store serves {}",
                    n.store_path(),
                    n.store_dir(),
                    store_dir
                )));
            }
            let k = key::try_key(n.hash_part()).ok_or_else(|| {
                Error::narinfo(
                    0,
                    "StorePath",
                    format!(
                        "{}: hash part is not 32 nix-base32 characters",
                        n.store_path()
                    ),
                )
            })?;
            own.push(intern(k));
            to_i64(n.nar_size(), n.store_path(), "NarSize")?;
            for f in n.files() {
                if let Some(s) = f.file_size {
                    to_i64(s, n.store_path(), "FileSize")?;
                }
            }
            let start = refs.len();
            for r in n.references() {
                let k = r
                    .get(..key::HASH_CHARS)
                    .and_then(key::try_key)
                    .ok_or_else(|| {
                        Error::narinfo(
                            0,
                            "References",
                            format!(
                                "{}: reference {r:?} does not start with a 32-character hash part",
                                n.store_path()
                            ),
                        )
                    })?;
                refs.push(intern(k));
            }
            refs[start..].sort_unstable();
            let mut kept = start;
            for j in start..refs.len() {
                if j == start || refs[j] != refs[kept - 1] {
                    refs[kept] = refs[j];
                    kept += 1;
                }
            }
            refs.truncate(kept);
            ref_start.push(refs.len());
        }
        Ok(Batch {
            narinfos,
            keys,
            own,
            refs,
            ref_start,
        })
    }

    /// Writes the batch on `conn` (inside the caller's transaction).
    pub(crate) async fn apply<C: Bulk>(
        &self,
        conn: &mut C,
        mode: AddMode,
        now: i64,
    ) -> Result<Vec<AddOutcome>> {
        let ids = conn.intern(&self.keys).await?;
        if ids.len() != self.keys.len() {
            return Err(Error::Store(format!(
                "interning {} hashes returned {} ids",
                self.keys.len(),
                ids.len()
            )));
        }
        let item: Vec<i64> = self.own.iter().map(|&k| ids[k]).collect();
        let mut distinct = item.clone();
        distinct.sort_unstable();
        distinct.dedup();
        // item id -> (narinfos.id, text) of what is stored now.
        let existing: HashMap<i64, (i64, String)> = conn
            .stored_of(&distinct)
            .await?
            .into_iter()
            .map(|(item, id, text)| (item, (id, text)))
            .collect();

        // Decide in input order; later entries see earlier ones.
        let mut current: HashMap<i64, &str> = existing
            .iter()
            .map(|(item, (_, t))| (*item, t.as_str()))
            .collect();
        let mut chosen: HashMap<i64, usize> = HashMap::new();
        let mut to_delete: HashSet<i64> = HashSet::new();
        let mut outcomes = Vec::with_capacity(self.narinfos.len());
        for (i, n) in self.narinfos.iter().enumerate() {
            let it = item[i];
            let outcome = match current.get(&it) {
                Some(t) if *t == n.text() => AddOutcome::Unchanged,
                Some(_) if mode == AddMode::Replace => {
                    if let Some((id, _)) = existing.get(&it) {
                        to_delete.insert(*id);
                    }
                    AddOutcome::Replaced
                }
                Some(_) => AddOutcome::Conflict,
                None => AddOutcome::Inserted,
            };
            if matches!(outcome, AddOutcome::Inserted | AddOutcome::Replaced) {
                chosen.insert(it, i);
                current.insert(it, n.text());
            }
            outcomes.push(outcome);
        }
        if chosen.is_empty() {
            return Ok(outcomes);
        }

        if !to_delete.is_empty() {
            let mut del: Vec<i64> = to_delete.into_iter().collect();
            del.sort_unstable();
            conn.delete_narinfos(&del).await?;
        }

        // New rows get ascending ids, in input order.
        let mut order: Vec<(usize, i64)> = chosen.into_iter().map(|(it, i)| (i, it)).collect();
        order.sort_unstable();
        let first_id = conn.next_narinfo_id().await?;
        let mut rows = Vec::with_capacity(order.len());
        let mut edges = Vec::new();
        let mut files = Vec::new();
        for (k, &(i, item_id)) in order.iter().enumerate() {
            let id = first_id + k as i64;
            let n = &self.narinfos[i];
            rows.push(NarinfoRow {
                id,
                item_id,
                name: n.name(),
                text: n.text(),
                nar_hash: n.nar_hash(),
                nar_size: to_i64(n.nar_size(), n.store_path(), "NarSize")?,
                deriver: n.deriver(),
                system: n.system(),
                ca: n.ca(),
                added_at: now,
            });
            let mine = &self.refs[self.ref_start[i]..self.ref_start[i + 1]];
            let mut targets: Vec<i64> = mine.iter().map(|&k| ids[k]).collect();
            targets.sort_unstable();
            edges.extend(targets.into_iter().map(|t| (id, t)));
            for (idx, f) in n.files().iter().enumerate() {
                files.push(FileRow {
                    narinfo_id: id,
                    idx: idx as i64,
                    url: &f.url,
                    compression: f.compression.as_deref(),
                    file_size: f
                        .file_size
                        .map(|s| to_i64(s, n.store_path(), "FileSize"))
                        .transpose()?,
                    file_hash: f.file_hash.as_deref(),
                });
            }
        }
        conn.insert_narinfos(&rows).await?;
        if !edges.is_empty() {
            conn.insert_refs(&edges).await?;
        }
        if !files.is_empty() {
            conn.insert_files(&files).await?;
        }
        Ok(outcomes)
    }
}

/// Removes the narinfos of `keys` on `conn` (inside the caller's
/// transaction); returns how many were stored.
pub(crate) async fn remove<C: Bulk>(conn: &mut C, keys: &[Key]) -> Result<u64> {
    let mut ids = conn.narinfo_ids(keys).await?;
    if ids.is_empty() {
        return Ok(0);
    }
    ids.sort_unstable();
    ids.dedup();
    conn.delete_narinfos(&ids).await
}
