//! SQLite: opening the file and the set-at-a-time statements.
//!
//! Sets travel as one JSON text parameter read with `json_each`, so a
//! statement binds one value however many rows it touches (no bind-limit
//! chunking) and SQLite, not the driver, does the per-row work. Hash keys
//! travel as hex and are turned back into blobs by `unhex`.
//! `CROSS JOIN` makes SQLite walk the JSON list first and probe the indexes.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::str::FromStr as _;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};

use super::key::Key;
use super::schema::{migrate, SQLITE};
use super::write::{Bulk, FileRow, NarinfoRow};
use super::GetRow;
use crate::{Error, Result};

/// Database size in bytes.
pub(crate) const DATABASE_BYTES: &str =
    "SELECT p.page_count * s.page_size FROM pragma_page_count() p, pragma_page_size() s";

/// Forgets unreferenced items without a narinfo. `NOT IN` builds each
/// list once (no per-item probe of the reverse index, absent during a bulk
/// load).
pub(crate) const PRUNE_ITEMS: &str = "DELETE FROM items WHERE \
     id NOT IN (SELECT item_id FROM narinfos) AND id NOT IN (SELECT to_id FROM refs)";

/// Largest memory map of the database file (address space, not memory).
const MMAP_BYTES: u64 = 1 << 32;

/// Page cache per connection, in KiB (negative `cache_size` means KiB).
const CACHE_KIB: i64 = 64 * 1024;

/// Opens (creating if missing) the database at `path`, migrates it and
/// returns the pool and the store directory.
pub(crate) async fn open(
    path: &str,
    store_dir: Option<&str>,
    max_connections: Option<u32>,
) -> Result<(SqlitePool, String)> {
    if path.is_empty() {
        return Err(Error::InvalidArgument(
            "database URL sqlite:// names no file (try sqlite://./narherder.db)".into(),
        ));
    }
    let memory = path == ":memory:";
    let options = if memory {
        SqliteConnectOptions::from_str("sqlite::memory:")?
    } else {
        SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
    }
    .synchronous(SqliteSynchronous::Normal)
    .busy_timeout(super::BUSY_TIMEOUT)
    .foreign_keys(false)
    .pragma("cache_size", format!("-{CACHE_KIB}"))
    .pragma("temp_store", "memory")
    // Reads through a shared memory map: every pooled connection sees the
    // OS page cache instead of warming a private cache of its own.
    .pragma("mmap_size", MMAP_BYTES.to_string());
    // An in-memory database lives as long as its one connection.
    let pool = if memory {
        SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
    } else {
        SqlitePoolOptions::new().max_connections(max_connections.unwrap_or(4).max(1))
    }
    .connect_with(options)
    .await
    .map_err(|e| Error::Store(format!("opening SQLite database {path}: {e}")))?;
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let dir = migrate!(tx, SQLITE, store_dir);
    tx.commit().await?;
    Ok((pool, dir))
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// `["<hex>", …]`
fn json_keys(keys: &[Key]) -> String {
    let mut s = String::with_capacity(keys.len() * 43 + 2);
    s.push('[');
    for (i, k) in keys.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push('"');
        for &b in k {
            s.push(HEX[usize::from(b >> 4)] as char);
            s.push(HEX[usize::from(b & 15)] as char);
        }
        s.push('"');
    }
    s.push(']');
    s
}

/// `[1,2,…]`
fn json_ints(ids: &[i64]) -> String {
    let mut s = String::with_capacity(ids.len() * 8 + 2);
    s.push('[');
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{id}");
    }
    s.push(']');
    s
}

/// Bind parameters per statement (SQLite allows 32766).
const MAX_BINDS: usize = 32_000;

/// `"{head} VALUES (?,…,?),(…)"` for `rows` rows of `cols` values.
/// Anonymous `?` parameters: SQLite looks numbered `$N` names up one by one
/// when preparing, which is quadratic in their number.
fn values_sql(head: &str, cols: usize, rows: usize) -> String {
    let mut s = String::with_capacity(head.len() + 8 + rows * (cols * 2 + 2));
    s.push_str(head);
    s.push_str(" VALUES ");
    for r in 0..rows {
        s.push_str(if r == 0 { "(" } else { ",(" });
        for c in 0..cols {
            s.push_str(if c == 0 { "?" } else { ",?" });
        }
        s.push(')');
    }
    s
}

/// Parses `[1,null,3]` (from `json_group_array`) into `n` optional ids.
fn parse_id_array(json: &str, n: usize) -> Result<Vec<Option<i64>>> {
    let bad = || Error::Store(format!("unexpected id list from the database: {json:.80}"));
    let inner = json
        .strip_prefix('[')
        .and_then(|j| j.strip_suffix(']'))
        .ok_or_else(bad)?;
    let ids: Vec<Option<i64>> = if inner.is_empty() {
        Vec::new()
    } else {
        inner
            .split(',')
            .map(|v| match v.trim() {
                "null" => Ok(None),
                v => v.parse::<i64>().map(Some).map_err(|_| bad()),
            })
            .collect::<Result<_>>()?
    };
    if ids.len() != n {
        return Err(bad());
    }
    Ok(ids)
}

fn position(key: i64) -> Result<usize> {
    usize::try_from(key).map_err(|_| Error::Store(format!("json_each returned key {key}")))
}

/// The ids of a JSON list of hex keys as one JSON array, `null` for the
/// unknown ones: one row instead of one per key.
const INTERN_SELECT: &str = "SELECT json_group_array(i.id ORDER BY j.key) \
     FROM json_each($1) j LEFT JOIN items i ON i.hash = unhex(j.value)";
const INTERN_INSERT: &str = "INSERT INTO items (hash)";
const NARINFO_IDS: &str = "SELECT n.id FROM json_each($1) j CROSS JOIN items i \
     CROSS JOIN narinfos n WHERE i.hash = unhex(j.value) AND n.item_id = i.id";
const STORED_OF: &str = "SELECT n.item_id, n.id, n.text FROM json_each($1) j \
     CROSS JOIN narinfos n WHERE n.item_id = j.value";
const DELETE_REFS: &str = "DELETE FROM refs WHERE from_id IN (SELECT value FROM json_each($1))";
const DELETE_FILES: &str =
    "DELETE FROM nar_files WHERE narinfo_id IN (SELECT value FROM json_each($1))";
const DELETE_NARINFOS: &str = "DELETE FROM narinfos WHERE id IN (SELECT value FROM json_each($1))";
const INSERT_NARINFOS: &str = "INSERT INTO narinfos \
     (id, item_id, name, text, nar_hash, nar_size, deriver, system, ca, added_at)";
const INSERT_REFS: &str = "INSERT INTO refs (from_id, to_id)";
const INSERT_FILES: &str =
    "INSERT INTO nar_files (narinfo_id, idx, url, compression, file_size, file_hash)";
const GET_MANY: &str = "SELECT j.key, i.hash, n.name, n.text, n.nar_hash, n.nar_size, \
     n.deriver, n.system, n.ca, n.added_at FROM json_each($1) j CROSS JOIN items i \
     CROSS JOIN narinfos n WHERE i.hash = unhex(j.value) AND n.item_id = i.id";
const GET_TEXTS: &str = "SELECT j.key, n.text FROM json_each($1) j CROSS JOIN items i \
     CROSS JOIN narinfos n WHERE i.hash = unhex(j.value) AND n.item_id = i.id";
const EXISTS_MANY: &str = "SELECT j.key FROM json_each($1) j CROSS JOIN items i \
     CROSS JOIN narinfos n WHERE i.hash = unhex(j.value) AND n.item_id = i.id";

impl Bulk for SqliteConnection {
    async fn intern(&mut self, keys: &[Key]) -> Result<Vec<i64>> {
        let found: String = sqlx::query_scalar(INTERN_SELECT)
            .bind(json_keys(keys))
            .fetch_one(&mut *self)
            .await?;
        let mut ids = parse_id_array(&found, keys.len())?;
        let missing: Vec<usize> = (0..keys.len()).filter(|&i| ids[i].is_none()).collect();
        if !missing.is_empty() {
            let mut new_ids: HashMap<Vec<u8>, i64> = HashMap::with_capacity(missing.len());
            for chunk in missing.chunks(MAX_BINDS) {
                let mut sql = values_sql(INTERN_INSERT, 1, chunk.len());
                sql.push_str(" RETURNING hash, id");
                let mut q = sqlx::query_as::<_, (Vec<u8>, i64)>(&sql);
                for &i in chunk {
                    q = q.bind(&keys[i][..]);
                }
                new_ids.extend(q.fetch_all(&mut *self).await?);
            }
            for i in missing {
                ids[i] = new_ids.get(&keys[i][..]).copied();
            }
        }
        ids.into_iter()
            .map(|id| id.ok_or_else(|| Error::Store("interning a hash returned no id".into())))
            .collect()
    }

    async fn narinfo_ids(&mut self, keys: &[Key]) -> Result<Vec<i64>> {
        Ok(sqlx::query_scalar(NARINFO_IDS)
            .bind(json_keys(keys))
            .fetch_all(&mut *self)
            .await?)
    }

    async fn stored_of(&mut self, item_ids: &[i64]) -> Result<Vec<(i64, i64, String)>> {
        Ok(sqlx::query_as(STORED_OF)
            .bind(json_ints(item_ids))
            .fetch_all(&mut *self)
            .await?)
    }

    async fn next_narinfo_id(&mut self) -> Result<i64> {
        Ok(sqlx::query_scalar(super::sql::NEXT_NARINFO_ID)
            .fetch_one(&mut *self)
            .await?)
    }

    async fn delete_narinfos(&mut self, ids: &[i64]) -> Result<u64> {
        let json = json_ints(ids);
        sqlx::query(DELETE_REFS)
            .bind(&json)
            .execute(&mut *self)
            .await?;
        sqlx::query(DELETE_FILES)
            .bind(&json)
            .execute(&mut *self)
            .await?;
        Ok(sqlx::query(DELETE_NARINFOS)
            .bind(&json)
            .execute(&mut *self)
            .await?
            .rows_affected())
    }

    async fn insert_narinfos(&mut self, rows: &[NarinfoRow<'_>]) -> Result<()> {
        for chunk in rows.chunks(MAX_BINDS / 10) {
            let sql = values_sql(INSERT_NARINFOS, 10, chunk.len());
            let mut q = sqlx::query(&sql);
            for r in chunk {
                q = q
                    .bind(r.id)
                    .bind(r.item_id)
                    .bind(r.name)
                    .bind(r.text)
                    .bind(r.nar_hash)
                    .bind(r.nar_size)
                    .bind(r.deriver)
                    .bind(r.system)
                    .bind(r.ca)
                    .bind(r.added_at);
            }
            q.execute(&mut *self).await?;
        }
        Ok(())
    }

    async fn insert_refs(&mut self, edges: &[(i64, i64)]) -> Result<()> {
        for chunk in edges.chunks(MAX_BINDS / 2) {
            let sql = values_sql(INSERT_REFS, 2, chunk.len());
            let mut q = sqlx::query(&sql);
            for &(from, to) in chunk {
                q = q.bind(from).bind(to);
            }
            q.execute(&mut *self).await?;
        }
        Ok(())
    }

    async fn insert_files(&mut self, rows: &[FileRow<'_>]) -> Result<()> {
        for chunk in rows.chunks(MAX_BINDS / 6) {
            let sql = values_sql(INSERT_FILES, 6, chunk.len());
            let mut q = sqlx::query(&sql);
            for r in chunk {
                q = q
                    .bind(r.narinfo_id)
                    .bind(r.idx)
                    .bind(r.url)
                    .bind(r.compression)
                    .bind(r.file_size)
                    .bind(r.file_hash);
            }
            q.execute(&mut *self).await?;
        }
        Ok(())
    }
}

/// Rows of the stored narinfos among `keys`, with their positions.
pub(crate) async fn get_many(pool: &SqlitePool, keys: &[Key]) -> Result<Vec<(usize, GetRow)>> {
    type Row = (
        i64,
        Vec<u8>,
        String,
        String,
        String,
        i64,
        Option<String>,
        Option<String>,
        Option<String>,
        i64,
    );
    let rows: Vec<Row> = sqlx::query_as(GET_MANY)
        .bind(json_keys(keys))
        .fetch_all(pool)
        .await?;
    rows.into_iter()
        .map(|r| {
            Ok((
                position(r.0)?,
                (r.1, r.2, r.3, r.4, r.5, r.6, r.7, r.8, r.9),
            ))
        })
        .collect()
}

/// Texts of the stored narinfos among `keys`, with their positions.
pub(crate) async fn get_texts(pool: &SqlitePool, keys: &[Key]) -> Result<Vec<(usize, String)>> {
    let rows: Vec<(i64, String)> = sqlx::query_as(GET_TEXTS)
        .bind(json_keys(keys))
        .fetch_all(pool)
        .await?;
    rows.into_iter()
        .map(|(k, t)| Ok((position(k)?, t)))
        .collect()
}

/// Positions of the `keys` that have a stored narinfo.
pub(crate) async fn exists_many(pool: &SqlitePool, keys: &[Key]) -> Result<Vec<usize>> {
    let rows: Vec<i64> = sqlx::query_scalar(EXISTS_MANY)
        .bind(json_keys(keys))
        .fetch_all(pool)
        .await?;
    rows.into_iter().map(position).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        assert_eq!(json_ints(&[1, -2, 3]), "[1,-2,3]");
        assert_eq!(
            json_keys(&[[0xab; 20]]),
            format!("[\"{}\"]", "ab".repeat(20))
        );
        assert_eq!(
            parse_id_array("[1,null,3]", 3).unwrap(),
            vec![Some(1), None, Some(3)]
        );
        assert_eq!(parse_id_array("[]", 0).unwrap(), vec![]);
        assert!(parse_id_array("[1,x]", 2).is_err());
        assert!(parse_id_array("[1,2]", 3).is_err());
        assert_eq!(
            values_sql("INSERT INTO t (a, b)", 2, 2),
            "INSERT INTO t (a, b) VALUES (?,?),(?,?)"
        );
    }
}
