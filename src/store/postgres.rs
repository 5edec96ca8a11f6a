//! PostgreSQL: connecting and the set-at-a-time statements.
//!
//! Sets travel as one array parameter per column, unpacked with `UNNEST`, so
//! a statement binds a handful of values however many rows it touches.
//! Writers serialise on a transaction-level advisory lock, which makes the
//! read-decide-write of `add_many` exact even with several writing
//! processes.

use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};

use super::key::Key;
use super::schema::{migrate, POSTGRES};
use super::write::{Bulk, FileRow, NarinfoRow};
use super::GetRow;
use crate::{Error, Result};

/// Database size in bytes.
pub(crate) const DATABASE_BYTES: &str = "SELECT pg_database_size(current_database())";

/// Forgets unreferenced items without a narinfo (anti-joins).
pub(crate) const PRUNE_ITEMS: &str = "DELETE FROM items i WHERE \
     NOT EXISTS (SELECT 1 FROM narinfos n WHERE n.item_id = i.id) AND \
     NOT EXISTS (SELECT 1 FROM refs r WHERE r.to_id = i.id)";

/// Advisory lock key taken by every writing transaction ("narherd").
const WRITER_LOCK: i64 = 0x006e_6172_6865_7264;

/// Connects to `url`, migrates the database and returns the pool and the
/// store directory.
pub(crate) async fn open(
    url: &str,
    store_dir: Option<&str>,
    max_connections: Option<u32>,
) -> Result<(PgPool, String)> {
    let pool = PgPoolOptions::new()
        .max_connections(max_connections.unwrap_or(8).max(1))
        .connect(url)
        .await
        .map_err(|e| Error::Store(format!("connecting to PostgreSQL: {e}")))?;
    let mut tx = pool.begin().await?;
    lock_writers(&mut tx).await?;
    let dir = migrate!(tx, POSTGRES, store_dir);
    tx.commit().await?;
    Ok((pool, dir))
}

/// Takes the writers' lock until the end of the transaction.
pub(crate) async fn lock_writers(tx: &mut Transaction<'_, Postgres>) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(WRITER_LOCK)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn key_slices(keys: &[Key]) -> Vec<&[u8]> {
    keys.iter().map(|k| &k[..]).collect()
}

fn position(ord: i64) -> Result<usize> {
    ord.checked_sub(1)
        .and_then(|p| usize::try_from(p).ok())
        .ok_or_else(|| Error::Store(format!("UNNEST returned ordinality {ord}")))
}

const INTERN_INSERT: &str = "INSERT INTO items (hash) SELECT h FROM UNNEST($1::bytea[]) AS t(h) \
     ON CONFLICT (hash) DO NOTHING";
const INTERN_SELECT: &str = "SELECT j.ord, i.id FROM UNNEST($1::bytea[]) WITH ORDINALITY \
     AS j(h, ord) JOIN items i ON i.hash = j.h";
const NARINFO_IDS: &str =
    "SELECT n.id FROM items i JOIN narinfos n ON n.item_id = i.id WHERE i.hash = ANY($1::bytea[])";
const STORED_OF: &str = "SELECT item_id, id, text FROM narinfos WHERE item_id = ANY($1::int8[])";
const DELETE_REFS: &str = "DELETE FROM refs WHERE from_id = ANY($1::int8[])";
const DELETE_FILES: &str = "DELETE FROM nar_files WHERE narinfo_id = ANY($1::int8[])";
const DELETE_NARINFOS: &str = "DELETE FROM narinfos WHERE id = ANY($1::int8[])";
const INSERT_NARINFOS: &str = "INSERT INTO narinfos \
     (id, item_id, name, text, nar_hash, nar_size, deriver, system, ca, added_at) \
     SELECT * FROM UNNEST($1::int8[], $2::int8[], $3::text[], $4::text[], $5::text[], \
     $6::int8[], $7::text[], $8::text[], $9::text[], $10::int8[])";
const INSERT_REFS: &str =
    "INSERT INTO refs (from_id, to_id) SELECT * FROM UNNEST($1::int8[], $2::int8[])";
const INSERT_FILES: &str = "INSERT INTO nar_files \
     (narinfo_id, idx, url, compression, file_size, file_hash) \
     SELECT * FROM UNNEST($1::int8[], $2::int4[], $3::text[], $4::text[], $5::int8[], \
     $6::text[])";
const GET_MANY: &str = "SELECT j.ord, i.hash, n.name, n.text, n.nar_hash, n.nar_size, \
     n.deriver, n.system, n.ca, n.added_at FROM UNNEST($1::bytea[]) WITH ORDINALITY AS j(h, ord) \
     JOIN items i ON i.hash = j.h JOIN narinfos n ON n.item_id = i.id";
const GET_TEXTS: &str = "SELECT j.ord, n.text FROM UNNEST($1::bytea[]) WITH ORDINALITY \
     AS j(h, ord) JOIN items i ON i.hash = j.h JOIN narinfos n ON n.item_id = i.id";
const EXISTS_MANY: &str = "SELECT j.ord FROM UNNEST($1::bytea[]) WITH ORDINALITY AS j(h, ord) \
     JOIN items i ON i.hash = j.h JOIN narinfos n ON n.item_id = i.id";

impl Bulk for PgConnection {
    async fn intern(&mut self, keys: &[Key]) -> Result<Vec<i64>> {
        let slices = key_slices(keys);
        sqlx::query(INTERN_INSERT)
            .bind(&slices)
            .execute(&mut *self)
            .await?;
        let rows: Vec<(i64, i64)> = sqlx::query_as(INTERN_SELECT)
            .bind(&slices)
            .fetch_all(&mut *self)
            .await?;
        let mut ids = vec![0i64; keys.len()];
        let mut seen = 0;
        for (ord, id) in rows {
            if let Some(slot) = ids.get_mut(position(ord)?) {
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
            .bind(key_slices(keys))
            .fetch_all(&mut *self)
            .await?)
    }

    async fn stored_of(&mut self, item_ids: &[i64]) -> Result<Vec<(i64, i64, String)>> {
        Ok(sqlx::query_as(STORED_OF)
            .bind(item_ids)
            .fetch_all(&mut *self)
            .await?)
    }

    async fn next_narinfo_id(&mut self) -> Result<i64> {
        Ok(sqlx::query_scalar(super::sql::NEXT_NARINFO_ID)
            .fetch_one(&mut *self)
            .await?)
    }

    async fn delete_narinfos(&mut self, ids: &[i64]) -> Result<u64> {
        sqlx::query(DELETE_REFS)
            .bind(ids)
            .execute(&mut *self)
            .await?;
        sqlx::query(DELETE_FILES)
            .bind(ids)
            .execute(&mut *self)
            .await?;
        Ok(sqlx::query(DELETE_NARINFOS)
            .bind(ids)
            .execute(&mut *self)
            .await?
            .rows_affected())
    }

    async fn insert_narinfos(&mut self, rows: &[NarinfoRow<'_>]) -> Result<()> {
        let col = |f: fn(&NarinfoRow<'_>) -> i64| rows.iter().map(f).collect::<Vec<i64>>();
        let ids = col(|r| r.id);
        let item_ids = col(|r| r.item_id);
        let sizes = col(|r| r.nar_size);
        let added = col(|r| r.added_at);
        let names: Vec<&str> = rows.iter().map(|r| r.name).collect();
        let texts: Vec<&str> = rows.iter().map(|r| r.text).collect();
        let nar_hashes: Vec<&str> = rows.iter().map(|r| r.nar_hash).collect();
        let derivers: Vec<Option<&str>> = rows.iter().map(|r| r.deriver).collect();
        let systems: Vec<Option<&str>> = rows.iter().map(|r| r.system).collect();
        let cas: Vec<Option<&str>> = rows.iter().map(|r| r.ca).collect();
        sqlx::query(INSERT_NARINFOS)
            .bind(&ids)
            .bind(&item_ids)
            .bind(&names)
            .bind(&texts)
            .bind(&nar_hashes)
            .bind(&sizes)
            .bind(&derivers)
            .bind(&systems)
            .bind(&cas)
            .bind(&added)
            .execute(&mut *self)
            .await?;
        Ok(())
    }

    async fn insert_refs(&mut self, edges: &[(i64, i64)]) -> Result<()> {
        let from: Vec<i64> = edges.iter().map(|e| e.0).collect();
        let to: Vec<i64> = edges.iter().map(|e| e.1).collect();
        sqlx::query(INSERT_REFS)
            .bind(&from)
            .bind(&to)
            .execute(&mut *self)
            .await?;
        Ok(())
    }

    async fn insert_files(&mut self, rows: &[FileRow<'_>]) -> Result<()> {
        let ids: Vec<i64> = rows.iter().map(|r| r.narinfo_id).collect();
        let idx: Vec<i32> = rows
            .iter()
            .map(|r| i32::try_from(r.idx).unwrap_or(i32::MAX))
            .collect();
        let urls: Vec<&str> = rows.iter().map(|r| r.url).collect();
        let comps: Vec<Option<&str>> = rows.iter().map(|r| r.compression).collect();
        let sizes: Vec<Option<i64>> = rows.iter().map(|r| r.file_size).collect();
        let hashes: Vec<Option<&str>> = rows.iter().map(|r| r.file_hash).collect();
        sqlx::query(INSERT_FILES)
            .bind(&ids)
            .bind(&idx)
            .bind(&urls)
            .bind(&comps)
            .bind(&sizes)
            .bind(&hashes)
            .execute(&mut *self)
            .await?;
        Ok(())
    }
}

/// Rows of the stored narinfos among `keys`, with their positions.
pub(crate) async fn get_many(pool: &PgPool, keys: &[Key]) -> Result<Vec<(usize, GetRow)>> {
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
        .bind(key_slices(keys))
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
pub(crate) async fn get_texts(pool: &PgPool, keys: &[Key]) -> Result<Vec<(usize, String)>> {
    let rows: Vec<(i64, String)> = sqlx::query_as(GET_TEXTS)
        .bind(key_slices(keys))
        .fetch_all(pool)
        .await?;
    rows.into_iter()
        .map(|(k, t)| Ok((position(k)?, t)))
        .collect()
}

/// Positions of the `keys` that have a stored narinfo.
pub(crate) async fn exists_many(pool: &PgPool, keys: &[Key]) -> Result<Vec<usize>> {
    let rows: Vec<i64> = sqlx::query_scalar(EXISTS_MANY)
        .bind(key_slices(keys))
        .fetch_all(pool)
        .await?;
    rows.into_iter().map(position).collect()
}
