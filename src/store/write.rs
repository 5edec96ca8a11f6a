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

use super::key::{self, Key};
use super::{AddMode, AddOutcome};
use crate::{Error, Narinfo, Result};

/// A `narinfos` row to insert.
pub(crate) struct NarinfoRow<'a> {
    pub id: i64,
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
    /// Ensures every key is in `items`; returns their ids, aligned.
    async fn intern(&mut self, keys: &[Key]) -> Result<Vec<i64>>;
    /// Ids of the keys that have a stored narinfo (any order).
    async fn narinfo_ids(&mut self, keys: &[Key]) -> Result<Vec<i64>>;
    /// `(id, text)` of the stored narinfos among `ids`.
    async fn texts_of(&mut self, ids: &[i64]) -> Result<Vec<(i64, String)>>;
    /// Deletes narinfos with their edges and files; returns how many.
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
    /// Per narinfo: indices in `keys` of its references (deduplicated).
    refs: Vec<Vec<usize>>,
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
        let mut index: HashMap<Key, usize> = HashMap::new();
        let mut keys = Vec::new();
        let mut intern = |k: Key| {
            *index.entry(k).or_insert_with(|| {
                keys.push(k);
                keys.len() - 1
            })
        };
        let mut own = Vec::with_capacity(narinfos.len());
        let mut refs = Vec::with_capacity(narinfos.len());
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
            let mut mine = Vec::with_capacity(n.references().len());
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
                mine.push(intern(k));
            }
            mine.sort_unstable();
            mine.dedup();
            refs.push(mine);
        }
        Ok(Batch {
            narinfos,
            keys,
            own,
            refs,
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
        let nid: Vec<i64> = self.own.iter().map(|&k| ids[k]).collect();
        let mut distinct = nid.clone();
        distinct.sort_unstable();
        distinct.dedup();
        let existing: HashMap<i64, String> = conn.texts_of(&distinct).await?.into_iter().collect();

        // Decide in input order; later entries see earlier ones.
        let mut current: HashMap<i64, &str> =
            existing.iter().map(|(id, t)| (*id, t.as_str())).collect();
        let mut chosen: HashMap<i64, usize> = HashMap::new();
        let mut to_delete: HashSet<i64> = HashSet::new();
        let mut outcomes = Vec::with_capacity(self.narinfos.len());
        for (i, n) in self.narinfos.iter().enumerate() {
            let id = nid[i];
            let outcome = match current.get(&id) {
                Some(t) if *t == n.text() => AddOutcome::Unchanged,
                Some(_) if mode == AddMode::Replace => {
                    if existing.contains_key(&id) {
                        to_delete.insert(id);
                    }
                    AddOutcome::Replaced
                }
                Some(_) => AddOutcome::Conflict,
                None => AddOutcome::Inserted,
            };
            if matches!(outcome, AddOutcome::Inserted | AddOutcome::Replaced) {
                chosen.insert(id, i);
                current.insert(id, n.text());
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

        let mut order: Vec<(i64, usize)> = chosen.into_iter().collect();
        order.sort_unstable();
        let mut rows = Vec::with_capacity(order.len());
        let mut edges = Vec::new();
        let mut files = Vec::new();
        for &(id, i) in &order {
            let n = &self.narinfos[i];
            rows.push(NarinfoRow {
                id,
                name: n.name(),
                text: n.text(),
                nar_hash: n.nar_hash(),
                nar_size: to_i64(n.nar_size(), n.store_path(), "NarSize")?,
                deriver: n.deriver(),
                system: n.system(),
                ca: n.ca(),
                added_at: now,
            });
            let mut targets: Vec<i64> = self.refs[i].iter().map(|&k| ids[k]).collect();
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
