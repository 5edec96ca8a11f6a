//! The narinfo store: narinfos, their reference graph and their nar files in
//! a database — SQLite (a file, the embedded default) or PostgreSQL (for
//! several machines).
//!
//! ```text
//! sqlite://PATH  sqlite:PATH         a file, created if missing (WAL mode)
//! postgres://…   postgresql://…      an existing PostgreSQL database
//! ```
//!
//! Which database a program uses: its `--database URL` option, else the
//! `NARHERDER_DATABASE` environment variable, else `sqlite://./narherder.db`
//! (see [`default_database_url`]).
//!
//! A store serves one store directory (`/gnu/store` unless chosen otherwise
//! when the database is created); narinfos of other directories are refused.
//! Every write is one transaction, so a crash leaves each narinfo either
//! wholly present or absent. Several processes may read while one writes.
//!
//! Layout (see `migrations/`): `items` interns every hash part the store has
//! heard of (stored narinfos and the items they reference, stored or not) as
//! a 20-byte key with an integer id; `narinfos` holds one row per narinfo
//! (its id grows with every insertion; `item_id` says which item it
//! describes) with the text and fields; `refs` holds the edges from a
//! narinfo row to referenced item ids, clustered by narinfo so that a
//! recursive walk reads a node's edges with one seek; `nar_files` the
//! archives. Because new narinfo rows always get the next id, an import in
//! any order appends to `narinfos`, `refs` and `nar_files`; only `items`'
//! hash index and the reverse-edge index (`refs_to`, which
//! [`Store::begin_bulk_load`] defers) take random inserts.
//!
//! Writes: SQLite writers take the database lock up front (`BEGIN
//! IMMEDIATE`, busy timeout 5 s); PostgreSQL writers take a transaction-level
//! advisory lock. Readers never wait for writers (WAL / MVCC).
//!
//! Lookups by hash treat a string that is not a 32-character nix-base32 hash
//! part as a miss: such a key can never be stored.

pub mod fastread;
mod key;
mod postgres;
pub mod schema;
mod sqlite;
mod write;

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;

use crate::narinfo::{NarFile, Narinfo};
use crate::{Error, Result};
use key::{hash_of, try_key, Key};

pub use schema::{DEFAULT_STORE_DIR, SCHEMA_VERSION};

// Hooks for the modules that run their own SQL on the store (roots, gc,
// evict): hash-part keys and the PostgreSQL writers' lock.
pub(crate) use key::{hash_of as key_hash, try_key as hash_key, HASH_CHARS};
pub(crate) use postgres::lock_writers as pg_lock_writers;

/// Environment variable naming the database when no `--database` is given.
pub const DATABASE_ENV: &str = "NARHERDER_DATABASE";
/// The database used when neither `--database` nor [`DATABASE_ENV`] is given.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://./narherder.db";

/// The database URL to use when the caller was given none: the
/// `NARHERDER_DATABASE` environment variable if set and non-empty, else
/// `sqlite://./narherder.db`. (Programs check their `--database` option
/// first.)
pub fn default_database_url() -> String {
    match std::env::var(DATABASE_ENV) {
        Ok(url) if !url.trim().is_empty() => url,
        _ => DEFAULT_DATABASE_URL.to_string(),
    }
}

/// How to open a store.
#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    /// The store directory (e.g. `/nix/store`). For a new database it is
    /// recorded (default [`DEFAULT_STORE_DIR`]); for an existing one it must
    /// match the recorded one. `None` accepts whatever the database has.
    pub store_dir: Option<String>,
    /// Largest number of pooled connections (default 4 for SQLite, 8 for
    /// PostgreSQL).
    pub max_connections: Option<u32>,
}

impl StoreOptions {
    /// Options that ask for `store_dir`.
    pub fn with_store_dir(store_dir: impl Into<String>) -> Self {
        StoreOptions {
            store_dir: Some(store_dir.into()),
            ..StoreOptions::default()
        }
    }
}

/// What to do when a different narinfo is already stored for a hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AddMode {
    /// Keep the stored one: [`Store::add`] fails with [`Error::Conflict`],
    /// [`Store::add_many`] reports [`AddOutcome::Conflict`].
    #[default]
    Keep,
    /// Replace it (its references and nar files too).
    Replace,
}

/// What adding one narinfo did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddOutcome {
    /// It was new.
    Inserted,
    /// The very same text was already stored: nothing changed.
    Unchanged,
    /// A different text was stored and has been replaced ([`AddMode::Replace`]).
    Replaced,
    /// A different text is stored and was kept ([`AddMode::Keep`], from
    /// [`Store::add_many`] only; [`Store::add`] returns [`Error::Conflict`]).
    Conflict,
}

/// A stored narinfo: its text as served and the fields kept beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredNarinfo {
    /// The 32-character hash part.
    pub hash: String,
    /// The full store path.
    pub store_path: String,
    /// The text, byte for byte as added.
    pub text: String,
    /// `NarHash` as written.
    pub nar_hash: String,
    /// `NarSize`.
    pub nar_size: u64,
    /// `Deriver` (a base name), if any.
    pub deriver: Option<String>,
    /// `System`, if any.
    pub system: Option<String>,
    /// `CA`, if any.
    pub ca: Option<String>,
    /// When it was added (or last replaced), in seconds since the Unix epoch.
    pub added_at: i64,
}

/// Counts and sizes of a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreInfo {
    /// Stored narinfos.
    pub narinfos: u64,
    /// Reference edges (self-references included).
    pub references: u64,
    /// Nar files (one per URL group).
    pub nar_files: u64,
    /// Hash parts known: stored narinfos and referenced items.
    pub items: u64,
    /// Sum of `NarSize` over the narinfos.
    pub total_nar_size: u64,
    /// Sum of `FileSize` over the nar files that give one.
    pub total_file_size: u64,
    /// Size of the database in bytes (SQLite: pages in use and free;
    /// PostgreSQL: `pg_database_size`).
    pub database_bytes: Option<u64>,
    /// Whether a bulk load is in progress (or crashed): the reverse-edge
    /// index is then absent and [`Store::referrers`] slow. See
    /// [`Store::begin_bulk_load`].
    pub bulk_load: bool,
}

/// The database behind a store, for modules that run their own SQL.
#[derive(Debug, Clone)]
pub enum Backend {
    /// SQLite.
    Sqlite(SqlitePool),
    /// PostgreSQL.
    Postgres(PgPool),
}

/// A narinfo store. Cheap to clone (clones share the pool); usable from
/// several tasks at once.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
    store_dir: String,
    /// Serialises this process's writers (SQLite allows one at a time).
    write_lock: Arc<tokio::sync::Mutex<()>>,
}

/// Evaluates `$body` with `$pool` bound to whichever pool the store has.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            Backend::Sqlite($pool) => $body,
            Backend::Postgres($pool) => $body,
        }
    };
}

/// Shared SQL (both dialects agree).
mod sql {
    pub const GET: &str = "SELECT i.hash, n.name, n.text, n.nar_hash, n.nar_size, n.deriver, \
         n.system, n.ca, n.added_at FROM items i JOIN narinfos n ON n.item_id = i.id \
         WHERE i.hash = $1";
    pub const GET_TEXT: &str =
        "SELECT n.text FROM items i JOIN narinfos n ON n.item_id = i.id WHERE i.hash = $1";
    pub const NAR_FILES: &str = "SELECT f.url, f.compression, f.file_size, f.file_hash \
         FROM items i JOIN narinfos n ON n.item_id = i.id JOIN nar_files f ON f.narinfo_id = n.id \
         WHERE i.hash = $1 ORDER BY f.idx";
    pub const REFERENCES: &str = "SELECT t.hash FROM items i JOIN narinfos n ON n.item_id = i.id \
         JOIN refs r ON r.from_id = n.id JOIN items t ON t.id = r.to_id WHERE i.hash = $1 \
         ORDER BY t.hash";
    pub const HAS_NARINFO: &str =
        "SELECT COUNT(*) FROM items i JOIN narinfos n ON n.item_id = i.id WHERE i.hash = $1";
    pub const LIST: &str = "SELECT i.hash, n.name FROM items i JOIN narinfos n \
         ON n.item_id = i.id WHERE i.hash > $1 ORDER BY i.hash LIMIT $2";
    /// Items reachable from an item: through its narinfo (if stored) to the
    /// items that narinfo references.
    pub const CLOSURE: &str = "WITH RECURSIVE c(id) AS ( \
           SELECT id FROM items WHERE hash = $1 \
           UNION \
           SELECT r.to_id FROM c JOIN narinfos n ON n.item_id = c.id \
           JOIN refs r ON r.from_id = n.id) \
         SELECT i.hash FROM c JOIN items i ON i.id = c.id ORDER BY i.hash";
    /// Items from which an item is reachable (uses the reverse index). The
    /// walk goes over narinfo ids, so each step looks a narinfo up once per
    /// node, not once per edge; the item itself is added at the end.
    pub const REFERRERS: &str = "WITH RECURSIVE c(nid) AS ( \
           SELECT r.from_id FROM items i JOIN refs r ON r.to_id = i.id WHERE i.hash = $1 \
           UNION \
           SELECT r.from_id FROM c JOIN narinfos n ON n.id = c.nid \
           JOIN refs r ON r.to_id = n.item_id) \
         SELECT i.hash FROM ( \
           SELECT n.item_id AS id FROM c JOIN narinfos n ON n.id = c.nid \
           UNION SELECT id FROM items WHERE hash = $1) x \
         JOIN items i ON i.id = x.id ORDER BY i.hash";
    pub const COUNTS: &str = "SELECT \
           (SELECT COUNT(*) FROM narinfos), \
           (SELECT COUNT(*) FROM refs), \
           (SELECT COUNT(*) FROM nar_files), \
           (SELECT COUNT(*) FROM items), \
           (SELECT CAST(COALESCE(SUM(nar_size), 0) AS BIGINT) FROM narinfos), \
           (SELECT CAST(COALESCE(SUM(file_size), 0) AS BIGINT) FROM nar_files)";
    pub const DROP_REVERSE_INDEX: &str = "DROP INDEX IF EXISTS refs_to";
    pub const CREATE_REVERSE_INDEX: &str =
        "CREATE INDEX IF NOT EXISTS refs_to ON refs (to_id, from_id)";
    pub const BULK_FLAG: &str = "bulk_load";
    pub const NEXT_NARINFO_ID: &str =
        "SELECT CAST(COALESCE(MAX(id), 0) + 1 AS BIGINT) FROM narinfos";
}

/// Row of [`sql::GET`].
type GetRow = (
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

fn to_u64(v: i64, what: &str) -> Result<u64> {
    u64::try_from(v).map_err(|_| Error::Store(format!("corrupt database: negative {what} ({v})")))
}

impl Store {
    /// Opens (and, for SQLite, creates) the store at `url`, applying schema
    /// migrations. See the [module documentation](self) for URLs.
    pub async fn open(url: &str, options: &StoreOptions) -> Result<Store> {
        let requested = options.store_dir.as_deref();
        let (backend, store_dir) = if let Some(path) = sqlite_path(url) {
            let (pool, dir) = sqlite::open(path, requested, options.max_connections).await?;
            (Backend::Sqlite(pool), dir)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let (pool, dir) = postgres::open(url, requested, options.max_connections).await?;
            (Backend::Postgres(pool), dir)
        } else {
            return Err(Error::InvalidArgument(format!(
                "database URL {url:?}: expected sqlite://PATH, sqlite:PATH, \
                 postgres://… or postgresql://…"
            )));
        };
        Ok(Store {
            backend,
            store_dir,
            write_lock: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    /// Serialises this process's writers; modules that write with their own
    /// SQL hold it around each write transaction, as the store does.
    pub(crate) async fn lock_writes(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.write_lock.lock().await
    }

    /// The store directory this store serves, e.g. `/gnu/store`.
    pub fn store_dir(&self) -> &str {
        &self.store_dir
    }

    /// The database behind the store.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }

    /// Adds one narinfo. Adding the same text again is a no-op
    /// ([`AddOutcome::Unchanged`]); a different text for a stored hash is an
    /// [`Error::Conflict`] unless `mode` is [`AddMode::Replace`]. A narinfo
    /// for another store directory is an [`Error::Store`].
    pub async fn add(&self, narinfo: &Narinfo, mode: AddMode) -> Result<AddOutcome> {
        let outcome = self.add_many(std::slice::from_ref(narinfo), mode).await?;
        match outcome.first() {
            Some(AddOutcome::Conflict) => Err(Error::Conflict {
                hash: narinfo.hash_part().to_string(),
            }),
            Some(o) => Ok(*o),
            None => Err(Error::Store("add: no outcome reported".into())),
        }
    }

    /// Adds narinfos in one transaction (the import path) and reports, in
    /// input order, what happened to each. Conflicts are reported per
    /// narinfo ([`AddOutcome::Conflict`]) and do not stop the others; a
    /// narinfo for another store directory fails the whole call before
    /// anything is written. Later entries see earlier ones of the same call.
    ///
    /// For large imports call [`Store::begin_bulk_load`] first and
    /// [`Store::end_bulk_load`] after the last batch (about 4× cheaper per
    /// narinfo, see BENCHMARKS.md); batches of a few thousand work well.
    pub async fn add_many(&self, narinfos: &[Narinfo], mode: AddMode) -> Result<Vec<AddOutcome>> {
        if narinfos.is_empty() {
            return Ok(Vec::new());
        }
        let batch = write::Batch::new(narinfos, &self.store_dir)?;
        let now = now_secs();
        let _guard = self.write_lock.lock().await;
        match &self.backend {
            Backend::Sqlite(pool) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let out = batch.apply(&mut *tx, mode, now).await?;
                tx.commit().await?;
                Ok(out)
            }
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                postgres::lock_writers(&mut tx).await?;
                let out = batch.apply(&mut *tx, mode, now).await?;
                tx.commit().await?;
                Ok(out)
            }
        }
    }

    /// The stored narinfo for a hash part, if any.
    pub async fn get(&self, hash: &str) -> Result<Option<StoredNarinfo>> {
        let Some(key) = try_key(hash) else {
            return Ok(None);
        };
        let row: Option<GetRow> = on_pool!(self, pool => {
            sqlx::query_as(sql::GET).bind(&key[..]).fetch_optional(pool).await?
        });
        row.map(|r| self.stored(r)).transpose()
    }

    /// The text to serve for a hash part, if stored.
    pub async fn get_text(&self, hash: &str) -> Result<Option<String>> {
        let Some(key) = try_key(hash) else {
            return Ok(None);
        };
        Ok(on_pool!(self, pool => {
            sqlx::query_scalar(sql::GET_TEXT).bind(&key[..]).fetch_optional(pool).await?
        }))
    }

    /// The stored narinfos for many hash parts, in one statement: entry *i*
    /// answers `hashes[i]`.
    pub async fn get_many(&self, hashes: &[&str]) -> Result<Vec<Option<StoredNarinfo>>> {
        let (keys, slots) = keys_of(hashes);
        let mut out: Vec<Option<StoredNarinfo>> = vec![None; hashes.len()];
        if keys.is_empty() {
            return Ok(out);
        }
        let rows = match &self.backend {
            Backend::Sqlite(pool) => sqlite::get_many(pool, &keys).await?,
            Backend::Postgres(pool) => postgres::get_many(pool, &keys).await?,
        };
        for (pos, row) in rows {
            let stored = self.stored(row)?;
            for &slot in slots_of(&slots, pos)? {
                out[slot] = Some(stored.clone());
            }
        }
        Ok(out)
    }

    /// The texts to serve for many hash parts, in one statement (the
    /// serving path's batch lookup): entry *i* answers `hashes[i]`.
    pub async fn get_texts(&self, hashes: &[&str]) -> Result<Vec<Option<String>>> {
        let (keys, slots) = keys_of(hashes);
        let mut out: Vec<Option<String>> = vec![None; hashes.len()];
        if keys.is_empty() {
            return Ok(out);
        }
        let rows = match &self.backend {
            Backend::Sqlite(pool) => sqlite::get_texts(pool, &keys).await?,
            Backend::Postgres(pool) => postgres::get_texts(pool, &keys).await?,
        };
        for (pos, text) in rows {
            let positions = slots_of(&slots, pos)?;
            if let Some((&last, rest)) = positions.split_last() {
                for &slot in rest {
                    out[slot] = Some(text.clone());
                }
                out[last] = Some(text);
            }
        }
        Ok(out)
    }

    /// Whether each hash part has a stored narinfo, in one statement.
    pub async fn exists_many(&self, hashes: &[&str]) -> Result<Vec<bool>> {
        let (keys, slots) = keys_of(hashes);
        let mut out = vec![false; hashes.len()];
        if keys.is_empty() {
            return Ok(out);
        }
        let found = match &self.backend {
            Backend::Sqlite(pool) => sqlite::exists_many(pool, &keys).await?,
            Backend::Postgres(pool) => postgres::exists_many(pool, &keys).await?,
        };
        for pos in found {
            for &slot in slots_of(&slots, pos)? {
                out[slot] = true;
            }
        }
        Ok(out)
    }

    /// Whether a narinfo is stored for a hash part.
    pub async fn exists(&self, hash: &str) -> Result<bool> {
        let Some(key) = try_key(hash) else {
            return Ok(false);
        };
        let n: i64 = on_pool!(self, pool => {
            sqlx::query_scalar(sql::HAS_NARINFO).bind(&key[..]).fetch_one(pool).await?
        });
        Ok(n > 0)
    }

    /// The nar files of a stored narinfo, in file order (empty if it is not
    /// stored).
    pub async fn nar_files(&self, hash: &str) -> Result<Vec<NarFile>> {
        let Some(key) = try_key(hash) else {
            return Ok(Vec::new());
        };
        type Row = (String, Option<String>, Option<i64>, Option<String>);
        let rows: Vec<Row> = on_pool!(self, pool => {
            sqlx::query_as(sql::NAR_FILES).bind(&key[..]).fetch_all(pool).await?
        });
        rows.into_iter()
            .map(|(url, compression, size, file_hash)| {
                Ok(NarFile {
                    url,
                    compression,
                    file_size: size.map(|s| to_u64(s, "FileSize")).transpose()?,
                    file_hash,
                })
            })
            .collect()
    }

    /// The hash parts a stored narinfo references (sorted, deduplicated;
    /// itself included if it references itself), or `None` if it is not
    /// stored.
    pub async fn references(&self, hash: &str) -> Result<Option<Vec<String>>> {
        if !self.exists(hash).await? {
            return Ok(None);
        }
        let key = key::key(hash, "hash")?;
        self.hashes_query(sql::REFERENCES, &key).await.map(Some)
    }

    /// Removes the narinfo of a hash part (its references and nar files
    /// too). Returns whether it was stored. The hash stays known as an item
    /// while something references it (see [`Store::prune_items`]).
    ///
    /// This does not check referrers: keeping every served narinfo's
    /// references served is the garbage collector's job.
    pub async fn remove(&self, hash: &str) -> Result<bool> {
        Ok(self.remove_many(&[hash]).await? == 1)
    }

    /// Removes the narinfos of several hash parts in one transaction;
    /// returns how many were stored.
    pub async fn remove_many(&self, hashes: &[&str]) -> Result<u64> {
        let (keys, _) = keys_of(hashes);
        if keys.is_empty() {
            return Ok(0);
        }
        let _guard = self.write_lock.lock().await;
        match &self.backend {
            Backend::Sqlite(pool) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let n = write::remove(&mut *tx, &keys).await?;
                tx.commit().await?;
                Ok(n)
            }
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                postgres::lock_writers(&mut tx).await?;
                let n = write::remove(&mut *tx, &keys).await?;
                tx.commit().await?;
                Ok(n)
            }
        }
    }

    /// Forgets hash parts that have no narinfo and that no narinfo
    /// references any more; returns how many.
    pub async fn prune_items(&self) -> Result<u64> {
        let _guard = self.write_lock.lock().await;
        Ok(match &self.backend {
            Backend::Sqlite(pool) => sqlx::query(sqlite::PRUNE_ITEMS)
                .execute(pool)
                .await?
                .rows_affected(),
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                postgres::lock_writers(&mut tx).await?;
                let n = sqlx::query(postgres::PRUNE_ITEMS)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                n
            }
        })
    }

    /// Starts a bulk load: drops the reverse-edge index, so that a large
    /// import appends to every table and index except `items`' hash index
    /// instead of inserting at random places (which, once the tables
    /// outgrow the page cache, rewrites most pages at every commit). Until
    /// [`Store::end_bulk_load`], [`Store::referrers`] scans every edge.
    ///
    /// The state is recorded in the database, so other processes opening
    /// the store leave the index alone; a bulk load interrupted by a crash
    /// stays in effect until `end_bulk_load` is called (a later import or
    /// `narherder` maintenance does it). Idempotent.
    pub async fn begin_bulk_load(&self) -> Result<()> {
        self.ddl(&[sql::DROP_REVERSE_INDEX], Some("1")).await
    }

    /// Ends a bulk load: rebuilds the reverse-edge index in one sort and
    /// clears the flag. Idempotent, and harmless without a bulk load.
    pub async fn end_bulk_load(&self) -> Result<()> {
        self.ddl(&[sql::CREATE_REVERSE_INDEX], None).await
    }

    /// Runs DDL statements and sets (`Some`) or clears the bulk-load flag,
    /// in one writing transaction.
    async fn ddl(&self, statements: &[&str], flag: Option<&str>) -> Result<()> {
        let _guard = self.write_lock.lock().await;
        macro_rules! body {
            ($tx:expr) => {{
                for s in statements {
                    sqlx::query(s).execute(&mut *$tx).await?;
                }
                match flag {
                    Some(v) => {
                        sqlx::query(schema::META_SET)
                            .bind(sql::BULK_FLAG)
                            .bind(v)
                            .execute(&mut *$tx)
                            .await?;
                    }
                    None => {
                        sqlx::query("DELETE FROM meta WHERE key = $1")
                            .bind(sql::BULK_FLAG)
                            .execute(&mut *$tx)
                            .await?;
                    }
                }
            }};
        }
        match &self.backend {
            Backend::Sqlite(pool) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                body!(tx);
                tx.commit().await?;
            }
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                postgres::lock_writers(&mut tx).await?;
                body!(tx);
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// Up to `limit` stored hash parts in ascending order, starting after
    /// `after` (a hash part, or a store path whose hash part is used).
    pub async fn list(&self, after: Option<&str>, limit: u32) -> Result<Vec<String>> {
        Ok(self
            .list_rows(after, limit)
            .await?
            .into_iter()
            .map(|(hash, _)| hash)
            .collect())
    }

    /// Like [`Store::list`], returning store paths (still ordered and paged
    /// by hash part).
    pub async fn list_paths(&self, after: Option<&str>, limit: u32) -> Result<Vec<String>> {
        Ok(self
            .list_rows(after, limit)
            .await?
            .into_iter()
            .map(|(hash, name)| format!("{}/{hash}-{name}", self.store_dir))
            .collect())
    }

    async fn list_rows(&self, after: Option<&str>, limit: u32) -> Result<Vec<(String, String)>> {
        let after: Vec<u8> = match after {
            None => Vec::new(),
            Some(a) => {
                let base = a.rsplit('/').next().unwrap_or(a);
                let hash = base.get(..key::HASH_CHARS).unwrap_or(base);
                key::key(hash, "list: after")?.to_vec()
            }
        };
        let rows: Vec<(Vec<u8>, String)> = on_pool!(self, pool => {
            sqlx::query_as(sql::LIST)
                .bind(&after)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        });
        rows.into_iter()
            .map(|(k, name)| Ok((hash_of(&k)?, name)))
            .collect()
    }

    /// The closure of an item: itself and every item reachable from it over
    /// references, sorted by hash part, in one recursive statement. Items
    /// referenced but not stored are included; an unknown hash gives an
    /// empty list.
    pub async fn closure(&self, hash: &str) -> Result<Vec<String>> {
        let key = key::key(hash, "closure of")?;
        self.hashes_query(sql::CLOSURE, &key).await
    }

    /// The referrers closure of an item: itself and every stored item from
    /// which it is reachable, sorted, in one recursive statement.
    pub async fn referrers(&self, hash: &str) -> Result<Vec<String>> {
        let key = key::key(hash, "referrers of")?;
        self.hashes_query(sql::REFERRERS, &key).await
    }

    async fn hashes_query(&self, sql: &str, key: &Key) -> Result<Vec<String>> {
        let rows: Vec<Vec<u8>> = on_pool!(self, pool => {
            sqlx::query_scalar(sql).bind(&key[..]).fetch_all(pool).await?
        });
        rows.iter().map(|k| hash_of(k)).collect()
    }

    /// Counts and sizes.
    pub async fn counts(&self) -> Result<StoreInfo> {
        type Row = (i64, i64, i64, i64, i64, i64);
        let (row, bytes, bulk): (Row, Option<i64>, Option<String>) = match &self.backend {
            Backend::Sqlite(pool) => (
                sqlx::query_as(sql::COUNTS).fetch_one(pool).await?,
                sqlx::query_scalar(sqlite::DATABASE_BYTES)
                    .fetch_optional(pool)
                    .await?,
                sqlx::query_scalar(schema::META_GET)
                    .bind(sql::BULK_FLAG)
                    .fetch_optional(pool)
                    .await?,
            ),
            Backend::Postgres(pool) => (
                sqlx::query_as(sql::COUNTS).fetch_one(pool).await?,
                sqlx::query_scalar(postgres::DATABASE_BYTES)
                    .fetch_optional(pool)
                    .await?,
                sqlx::query_scalar(schema::META_GET)
                    .bind(sql::BULK_FLAG)
                    .fetch_optional(pool)
                    .await?,
            ),
        };
        Ok(StoreInfo {
            narinfos: to_u64(row.0, "count")?,
            references: to_u64(row.1, "count")?,
            nar_files: to_u64(row.2, "count")?,
            items: to_u64(row.3, "count")?,
            total_nar_size: to_u64(row.4, "size")?,
            total_file_size: to_u64(row.5, "size")?,
            database_bytes: bytes.and_then(|b| u64::try_from(b).ok()),
            bulk_load: bulk.is_some(),
        })
    }

    fn stored(&self, r: GetRow) -> Result<StoredNarinfo> {
        let (key, name, text, nar_hash, nar_size, deriver, system, ca, added_at) = r;
        let hash = hash_of(&key)?;
        Ok(StoredNarinfo {
            store_path: format!("{}/{hash}-{name}", self.store_dir),
            hash,
            text,
            nar_hash,
            nar_size: to_u64(nar_size, "NarSize")?,
            deriver,
            system,
            ca,
            added_at,
        })
    }
}

/// The path of a `sqlite://PATH` or `sqlite:PATH` URL.
fn sqlite_path(url: &str) -> Option<&str> {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
}

/// The distinct valid keys among `hashes` and, for each, the input
/// positions asking for it (`slots[k]` lists positions for `keys[k]`).
fn keys_of(hashes: &[&str]) -> (Vec<Key>, Vec<Vec<usize>>) {
    let mut index = std::collections::HashMap::with_capacity(hashes.len());
    let mut keys = Vec::with_capacity(hashes.len());
    let mut slots: Vec<Vec<usize>> = Vec::with_capacity(hashes.len());
    for (pos, h) in hashes.iter().enumerate() {
        if let Some(k) = try_key(h) {
            let i = *index.entry(k).or_insert_with(|| {
                keys.push(k);
                slots.push(Vec::new());
                keys.len() - 1
            });
            slots[i].push(pos);
        }
    }
    (keys, slots)
}

fn slots_of(slots: &[Vec<usize>], pos: usize) -> Result<&[usize]> {
    slots
        .get(pos)
        .map(|s| s.as_slice())
        .ok_or_else(|| Error::Store(format!("database returned an unknown position {pos}")))
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// How long a connection waits for a lock held by another writer.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
