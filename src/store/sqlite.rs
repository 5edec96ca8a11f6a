//! SQLite: opening the file and the set-at-a-time statements.
//!
//! Sets travel as one JSON text parameter read with `json_each`, so a
//! statement binds one value however many rows it touches (no bind-limit
//! chunking) and SQLite, not the driver, does the per-row work. Hash keys
//! travel as hex and are turned back into blobs by `unhex`.
//! `CROSS JOIN` makes SQLite walk the JSON list first and probe the indexes.

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
    .pragma("temp_store", "memory");
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

/// `["<hex>", …]`
fn json_keys(keys: &[Key]) -> String {
    let mut s = String::with_capacity(keys.len() * 43 + 2);
    s.push('[');
    for (i, k) in keys.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push('"');
        for b in k {
            let _ = write!(s, "{b:02x}");
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

/// Appends `v` as a JSON string.
fn json_str(s: &mut String, v: &str) {
    s.push('"');
    for c in v.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(s, "\\u{:04x}", c as u32);
            }
            c => s.push(c),
        }
    }
    s.push('"');
}

fn json_opt_str(s: &mut String, v: Option<&str>) {
    match v {
        Some(v) => json_str(s, v),
        None => s.push_str("null"),
    }
}

fn json_opt_int(s: &mut String, v: Option<i64>) {
    match v {
        Some(v) => {
            let _ = write!(s, "{v}");
        }
        None => s.push_str("null"),
    }
}

fn position(key: i64) -> Result<usize> {
    usize::try_from(key).map_err(|_| Error::Store(format!("json_each returned key {key}")))
}

const INTERN_INSERT: &str = "INSERT INTO items (hash) SELECT unhex(value) FROM json_each($1) \
     WHERE true ON CONFLICT (hash) DO NOTHING";
const INTERN_SELECT: &str = "SELECT j.key, i.id FROM json_each($1) j CROSS JOIN items i \
     WHERE i.hash = unhex(j.value)";
const NARINFO_IDS: &str = "SELECT n.id FROM json_each($1) j CROSS JOIN items i \
     CROSS JOIN narinfos n WHERE i.hash = unhex(j.value) AND n.id = i.id";
const TEXTS_OF: &str =
    "SELECT n.id, n.text FROM json_each($1) j CROSS JOIN narinfos n WHERE n.id = j.value";
const DELETE_REFS: &str = "DELETE FROM refs WHERE from_id IN (SELECT value FROM json_each($1))";
const DELETE_FILES: &str =
    "DELETE FROM nar_files WHERE narinfo_id IN (SELECT value FROM json_each($1))";
const DELETE_NARINFOS: &str = "DELETE FROM narinfos WHERE id IN (SELECT value FROM json_each($1))";
const INSERT_NARINFOS: &str = "INSERT INTO narinfos \
     (id, name, text, nar_hash, nar_size, deriver, system, ca, added_at) \
     SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, value->>6, \
     value->>7, value->>8 FROM json_each($1)";
const INSERT_REFS: &str =
    "INSERT INTO refs (from_id, to_id) SELECT value->>0, value->>1 FROM json_each($1)";
const INSERT_FILES: &str = "INSERT INTO nar_files \
     (narinfo_id, idx, url, compression, file_size, file_hash) \
     SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5 FROM json_each($1)";
const GET_MANY: &str = "SELECT j.key, i.hash, n.name, n.text, n.nar_hash, n.nar_size, \
     n.deriver, n.system, n.ca, n.added_at FROM json_each($1) j CROSS JOIN items i \
     CROSS JOIN narinfos n WHERE i.hash = unhex(j.value) AND n.id = i.id";
const EXISTS_MANY: &str = "SELECT j.key FROM json_each($1) j CROSS JOIN items i \
     CROSS JOIN narinfos n WHERE i.hash = unhex(j.value) AND n.id = i.id";

impl Bulk for SqliteConnection {
    async fn intern(&mut self, keys: &[Key]) -> Result<Vec<i64>> {
        let json = json_keys(keys);
        sqlx::query(INTERN_INSERT)
            .bind(&json)
            .execute(&mut *self)
            .await?;
        let rows: Vec<(i64, i64)> = sqlx::query_as(INTERN_SELECT)
            .bind(&json)
            .fetch_all(&mut *self)
            .await?;
        let mut ids = vec![0i64; keys.len()];
        let mut seen = 0;
        for (pos, id) in rows {
            if let Some(slot) = ids.get_mut(position(pos)?) {
                *slot = id;
                seen += 1;
            }
        }
        if seen != keys.len() {
            return Err(Error::Store(format!(
                "interned {} of {} hashes",
                seen,
                keys.len()
            )));
        }
        Ok(ids)
    }

    async fn narinfo_ids(&mut self, keys: &[Key]) -> Result<Vec<i64>> {
        Ok(sqlx::query_scalar(NARINFO_IDS)
            .bind(json_keys(keys))
            .fetch_all(&mut *self)
            .await?)
    }

    async fn texts_of(&mut self, ids: &[i64]) -> Result<Vec<(i64, String)>> {
        Ok(sqlx::query_as(TEXTS_OF)
            .bind(json_ints(ids))
            .fetch_all(&mut *self)
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
        let mut s = String::with_capacity(rows.iter().map(|r| r.text.len() + 200).sum());
        s.push('[');
        for (i, r) in rows.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let _ = write!(s, "[{},", r.id);
            json_str(&mut s, r.name);
            s.push(',');
            json_str(&mut s, r.text);
            s.push(',');
            json_str(&mut s, r.nar_hash);
            let _ = write!(s, ",{},", r.nar_size);
            json_opt_str(&mut s, r.deriver);
            s.push(',');
            json_opt_str(&mut s, r.system);
            s.push(',');
            json_opt_str(&mut s, r.ca);
            let _ = write!(s, ",{}]", r.added_at);
        }
        s.push(']');
        sqlx::query(INSERT_NARINFOS)
            .bind(s)
            .execute(&mut *self)
            .await?;
        Ok(())
    }

    async fn insert_refs(&mut self, edges: &[(i64, i64)]) -> Result<()> {
        let mut s = String::with_capacity(edges.len() * 16 + 2);
        s.push('[');
        for (i, (from, to)) in edges.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let _ = write!(s, "[{from},{to}]");
        }
        s.push(']');
        sqlx::query(INSERT_REFS).bind(s).execute(&mut *self).await?;
        Ok(())
    }

    async fn insert_files(&mut self, rows: &[FileRow<'_>]) -> Result<()> {
        let mut s = String::with_capacity(rows.len() * 200 + 2);
        s.push('[');
        for (i, r) in rows.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let _ = write!(s, "[{},{},", r.narinfo_id, r.idx);
            json_str(&mut s, r.url);
            s.push(',');
            json_opt_str(&mut s, r.compression);
            s.push(',');
            json_opt_int(&mut s, r.file_size);
            s.push(',');
            json_opt_str(&mut s, r.file_hash);
            s.push(']');
        }
        s.push(']');
        sqlx::query(INSERT_FILES)
            .bind(s)
            .execute(&mut *self)
            .await?;
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
    fn json_encoding() {
        let mut s = String::new();
        json_str(&mut s, "a\"b\\c\nd\u{1}é");
        assert_eq!(s, "\"a\\\"b\\\\c\\nd\\u0001é\"");
        assert_eq!(json_ints(&[1, -2, 3]), "[1,-2,3]");
        assert_eq!(
            json_keys(&[[0xab; 20]]),
            format!("[\"{}\"]", "ab".repeat(20))
        );
    }
}
