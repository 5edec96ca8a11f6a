//! What differs between SQLite and PostgreSQL for the modules that run
//! their own SQL on a [`Store`](crate::store::Store) (roots, gc, evict):
//! how a list travels as one parameter, and how a write transaction starts.
//!
//! Each backend is a module with the same items; [`on_conn!`] runs one body
//! once per backend with `$d` naming the right module, so the SQL and the
//! logic are written once and each expansion is concrete (no generic sqlx
//! bounds). Lists go into temporary tables (`fill_*`), so the statements
//! that use them are the same text on both backends.

/// Runs `$body` on a connection acquired from the store's pool, with
/// `$conn` the connection and `$d` the dialect module
/// ([`sqlite`] or [`postgres`]).
macro_rules! on_conn {
    ($store:expr, |$conn:ident, $d:ident| $body:block) => {
        match $store.backend() {
            $crate::store::Backend::Sqlite(pool) => {
                #[allow(unused_mut)]
                let mut $conn = pool.acquire().await?;
                #[allow(unused_imports)]
                use $crate::dialect::sqlite as $d;
                $body
            }
            $crate::store::Backend::Postgres(pool) => {
                #[allow(unused_mut)]
                let mut $conn = pool.acquire().await?;
                #[allow(unused_imports)]
                use $crate::dialect::postgres as $d;
                $body
            }
        }
    };
}
pub(crate) use on_conn;

/// Request counts as one JSON parameter, `[["<hex key>", time, count], …]`,
/// for `fill_usage_sql` of either backend.
pub(crate) fn usage_arg(rows: &[([u8; 20], i64, i64)]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(rows.len() * 70 + 2);
    s.push('[');
    for (i, (k, t, n)) in rows.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str("[\"");
        for b in k {
            let _ = write!(s, "{b:02x}");
        }
        let _ = write!(s, "\",{t},{n}]");
    }
    s.push(']');
    s
}

/// SQLite: lists travel as JSON text read with `json_each`.
pub(crate) mod sqlite {
    use std::fmt::Write as _;

    use sqlx::sqlite::SqliteConnection;
    use sqlx::{Connection as _, Sqlite, Transaction};

    use crate::Result;

    /// The database type.
    pub(crate) type Db = Sqlite;

    /// Starts a write transaction (taking the database's write lock now).
    pub(crate) async fn begin_write(conn: &mut SqliteConnection) -> Result<Transaction<'_, Db>> {
        Ok(conn.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Settings for a long bulk job on this connection (GC, eviction): a
    /// 1 GiB page cache (the default keeps 64 MiB, and the sweep's random
    /// index updates on a large database then read most pages again from
    /// the OS) and memory-mapped reads.
    pub(crate) const BULK_ON: &[&str] = &[
        "PRAGMA cache_size = -1048576",
        "PRAGMA mmap_size = 4294967296",
    ];
    /// Back to the store's settings.
    pub(crate) const BULK_OFF: &[&str] = &["PRAGMA cache_size = -65536", "PRAGMA mmap_size = 0"];

    /// Creates (or empties) a temporary table of integer ids.
    pub(crate) fn temp_ids_ddl(table: &str) -> String {
        format!("CREATE TEMP TABLE IF NOT EXISTS {table} (id INTEGER PRIMARY KEY)")
    }

    /// Gives the planner statistics on a temporary table just filled:
    /// nothing to do on SQLite, whose joins with temporary tables are
    /// written `CROSS JOIN` (fixed order) instead.
    pub(crate) async fn analyze_temp(_conn: &mut SqliteConnection, _table: &str) -> Result<()> {
        Ok(())
    }

    /// Creates a temporary table of texts.
    pub(crate) fn temp_texts_ddl(table: &str) -> String {
        format!("CREATE TEMP TABLE IF NOT EXISTS {table} (t TEXT PRIMARY KEY)")
    }

    /// An aggregate of the integers `expr` of a group as one text,
    /// comma-separated.
    pub(crate) fn ids_concat(expr: &str) -> String {
        format!("group_concat({expr})")
    }

    /// Inserts the ids bound as `$1` into `table` (duplicates ignored).
    pub(crate) fn fill_ids_sql(table: &str) -> String {
        format!("INSERT INTO {table} (id) SELECT value FROM json_each($1) WHERE true ON CONFLICT DO NOTHING")
    }

    /// Inserts the texts bound as `$1` into `table` (duplicates ignored).
    pub(crate) fn fill_texts_sql(table: &str) -> String {
        format!("INSERT INTO {table} (t) SELECT value FROM json_each($1) WHERE true ON CONFLICT DO NOTHING")
    }

    /// Creates a temporary table of hash-part keys.
    pub(crate) fn temp_keys_ddl(table: &str) -> String {
        format!("CREATE TEMP TABLE IF NOT EXISTS {table} (k BLOB PRIMARY KEY)")
    }

    /// Creates a temporary table of request counts.
    pub(crate) fn temp_usage_ddl(table: &str) -> String {
        format!("CREATE TEMP TABLE IF NOT EXISTS {table} (k BLOB PRIMARY KEY, t INTEGER NOT NULL, n INTEGER NOT NULL)")
    }

    /// Inserts the [`super::usage_arg`] bound as `$1` into `table`.
    pub(crate) fn fill_usage_sql(table: &str) -> String {
        format!("INSERT INTO {table} (k, t, n) SELECT unhex(value->>0), value->>1, value->>2 FROM json_each($1) WHERE true ON CONFLICT DO NOTHING")
    }

    /// Inserts the keys bound as `$1` into `table` (duplicates ignored).
    pub(crate) fn fill_keys_sql(table: &str) -> String {
        format!("INSERT INTO {table} (k) SELECT unhex(value) FROM json_each($1) WHERE true ON CONFLICT DO NOTHING")
    }

    /// The `$1` of [`fill_keys_sql`].
    pub(crate) fn keys_arg(keys: &[[u8; 20]]) -> String {
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

    /// The `$1` of [`fill_ids_sql`].
    pub(crate) fn ids_arg(ids: &[i64]) -> String {
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

    /// The `$1` of [`fill_texts_sql`].
    pub(crate) fn texts_arg(texts: &[String]) -> String {
        let mut s = String::with_capacity(texts.iter().map(|t| t.len() + 3).sum::<usize>() + 2);
        s.push('[');
        for (i, t) in texts.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push('"');
            for c in t.chars() {
                match c {
                    '"' => s.push_str("\\\""),
                    '\\' => s.push_str("\\\\"),
                    c if (c as u32) < 0x20 => {
                        let _ = write!(s, "\\u{:04x}", c as u32);
                    }
                    c => s.push(c),
                }
            }
            s.push('"');
        }
        s.push(']');
        s
    }
}

/// PostgreSQL: lists travel as arrays unpacked with `UNNEST`; writers take
/// the store's advisory lock.
pub(crate) mod postgres {
    use sqlx::postgres::PgConnection;
    use sqlx::{Connection as _, Postgres, Transaction};

    use crate::Result;

    /// The database type.
    pub(crate) type Db = Postgres;

    /// Starts a write transaction holding the writers' lock.
    pub(crate) async fn begin_write(conn: &mut PgConnection) -> Result<Transaction<'_, Db>> {
        let mut tx = conn.begin().await?;
        crate::store::pg_lock_writers(&mut tx).await?;
        Ok(tx)
    }

    /// Settings for a long bulk job on this connection (GC, eviction): room
    /// for the mark's hash tables.
    pub(crate) const BULK_ON: &[&str] = &["SET work_mem = '256MB'"];
    /// Back to the server's settings.
    pub(crate) const BULK_OFF: &[&str] = &["RESET work_mem"];

    /// Creates a temporary table of integer ids.
    pub(crate) fn temp_ids_ddl(table: &str) -> String {
        format!("CREATE TEMP TABLE IF NOT EXISTS {table} (id BIGINT PRIMARY KEY)")
    }

    /// Gives the planner statistics on a temporary table just filled
    /// (`ANALYZE`). Without them PostgreSQL assumes a temporary table
    /// of thousands of rows and joins a batch of a hundred ids with `refs`
    /// by scanning `refs` whole (77 ms instead of 1 ms per statement on a
    /// 20k-narinfo store, growing with the store).
    pub(crate) async fn analyze_temp(conn: &mut PgConnection, table: &str) -> Result<()> {
        sqlx::query(&format!("ANALYZE {table}"))
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Creates a temporary table of texts.
    pub(crate) fn temp_texts_ddl(table: &str) -> String {
        format!("CREATE TEMP TABLE IF NOT EXISTS {table} (t TEXT PRIMARY KEY)")
    }

    /// An aggregate of the integers `expr` of a group as one text,
    /// comma-separated.
    pub(crate) fn ids_concat(expr: &str) -> String {
        format!("string_agg(({expr})::text, ',')")
    }

    /// Inserts the ids bound as `$1` into `table` (duplicates ignored).
    pub(crate) fn fill_ids_sql(table: &str) -> String {
        format!("INSERT INTO {table} (id) SELECT * FROM UNNEST($1::int8[]) ON CONFLICT DO NOTHING")
    }

    /// Inserts the texts bound as `$1` into `table` (duplicates ignored).
    pub(crate) fn fill_texts_sql(table: &str) -> String {
        format!("INSERT INTO {table} (t) SELECT * FROM UNNEST($1::text[]) ON CONFLICT DO NOTHING")
    }

    /// Creates a temporary table of hash-part keys.
    pub(crate) fn temp_keys_ddl(table: &str) -> String {
        format!("CREATE TEMP TABLE IF NOT EXISTS {table} (k BYTEA PRIMARY KEY)")
    }

    /// Creates a temporary table of request counts.
    pub(crate) fn temp_usage_ddl(table: &str) -> String {
        format!("CREATE TEMP TABLE IF NOT EXISTS {table} (k BYTEA PRIMARY KEY, t BIGINT NOT NULL, n BIGINT NOT NULL)")
    }

    /// Inserts the [`super::usage_arg`] bound as `$1` into `table`.
    pub(crate) fn fill_usage_sql(table: &str) -> String {
        format!("INSERT INTO {table} (k, t, n) SELECT decode(e->>0, 'hex'), (e->>1)::int8, (e->>2)::int8 FROM jsonb_array_elements($1::jsonb) e ON CONFLICT DO NOTHING")
    }

    /// Inserts the keys bound as `$1` into `table` (duplicates ignored).
    pub(crate) fn fill_keys_sql(table: &str) -> String {
        format!("INSERT INTO {table} (k) SELECT * FROM UNNEST($1::bytea[]) ON CONFLICT DO NOTHING")
    }

    /// The `$1` of [`fill_keys_sql`].
    pub(crate) fn keys_arg(keys: &[[u8; 20]]) -> Vec<Vec<u8>> {
        keys.iter().map(|k| k.to_vec()).collect()
    }

    /// The `$1` of [`fill_ids_sql`].
    pub(crate) fn ids_arg(ids: &[i64]) -> Vec<i64> {
        ids.to_vec()
    }

    /// The `$1` of [`fill_texts_sql`].
    pub(crate) fn texts_arg(texts: &[String]) -> Vec<String> {
        texts.to_vec()
    }
}
