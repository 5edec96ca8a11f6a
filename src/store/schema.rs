//! Versioned schema migrations, one list per backend.
//!
//! The version lives in the `meta` table (`schema_version`), next to the
//! store directory the database serves (`store_dir`). On open, inside one
//! transaction, the runner creates `meta` if needed, refuses a database
//! written by a newer narherder, applies the missing migrations in order and
//! records the new version; a crash part-way leaves the old schema intact.

/// One migration: the schema version it produces and its SQL.
pub(crate) struct Migration {
    pub(crate) version: i64,
    pub(crate) sql: &'static str,
}

/// The schema version this narherder writes (the last migration's).
pub const SCHEMA_VERSION: i64 = 3;

/// SQLite migrations, in order.
pub(crate) const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        sql: include_str!("../../migrations/sqlite/0001_initial.sql"),
    },
    Migration {
        version: 2,
        sql: include_str!("../../migrations/sqlite/0002_roots_gc.sql"),
    },
    Migration {
        version: 3,
        sql: include_str!("../../migrations/sqlite/0003_serving.sql"),
    },
];

/// PostgreSQL migrations, in order.
pub(crate) const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        sql: include_str!("../../migrations/postgres/0001_initial.sql"),
    },
    Migration {
        version: 2,
        sql: include_str!("../../migrations/postgres/0002_roots_gc.sql"),
    },
    Migration {
        version: 3,
        sql: include_str!("../../migrations/postgres/0003_serving.sql"),
    },
];

/// Creates the `meta` table (the same in both dialects).
pub(crate) const META_DDL: &str =
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)";
/// Reads one `meta` value.
pub(crate) const META_GET: &str = "SELECT value FROM meta WHERE key = $1";
/// Writes one `meta` value.
pub(crate) const META_SET: &str = "INSERT INTO meta (key, value) VALUES ($1, $2) \
     ON CONFLICT (key) DO UPDATE SET value = excluded.value";

/// The default store directory of a new store (Guix's).
pub const DEFAULT_STORE_DIR: &str = "/gnu/store";

/// Parses the stored schema version.
pub(crate) fn parse_version(stored: Option<String>) -> crate::Result<i64> {
    match stored {
        None => Ok(0),
        Some(v) => v.trim().parse::<i64>().map_err(|_| {
            crate::Error::Store(format!(
                "corrupt database: meta schema_version is {v:?}, expected an integer"
            ))
        }),
    }
}

/// Refuses a schema newer than [`SCHEMA_VERSION`].
pub(crate) fn check_not_newer(version: i64) -> crate::Result<()> {
    if version > SCHEMA_VERSION {
        return Err(crate::Error::Store(format!(
            "database schema version {version} is newer than this narherder \
             (knows up to {SCHEMA_VERSION}); upgrade narherder"
        )));
    }
    Ok(())
}

/// Decides the store directory: the stored one, unless the caller asked for
/// a different one (an error); a new database takes the requested one or
/// [`DEFAULT_STORE_DIR`]. Returns the directory and whether to record it.
pub(crate) fn decide_store_dir(
    stored: Option<String>,
    requested: Option<&str>,
) -> crate::Result<(String, bool)> {
    let requested = requested.map(normalize_store_dir).transpose()?;
    match (stored, requested) {
        (Some(s), Some(r)) if s != r => Err(crate::Error::Store(format!(
            "this database serves store directory {s}, not {r} \
             (a store serves the one store directory chosen when it was created)"
        ))),
        (Some(s), _) => Ok((s, false)),
        (None, r) => Ok((r.unwrap_or_else(|| DEFAULT_STORE_DIR.to_string()), true)),
    }
}

/// `/gnu/store/` → `/gnu/store`; refuses relative and empty directories.
pub(crate) fn normalize_store_dir(dir: &str) -> crate::Result<String> {
    let trimmed = dir.trim_end_matches('/');
    if !dir.starts_with('/') || trimmed.is_empty() || trimmed.contains(['\n', '\r', '\0']) {
        return Err(crate::Error::InvalidArgument(format!(
            "store directory {dir:?} must be an absolute directory such as /gnu/store"
        )));
    }
    Ok(trimmed.to_string())
}

/// Runs the migrations on an open transaction `$tx` of either backend and
/// evaluates to the store directory. A macro so that one body serves both
/// connection types without generic sqlx bounds.
macro_rules! migrate {
    ($tx:expr, $migrations:expr, $requested:expr) => {{
        use $crate::store::schema as s;
        sqlx::query(s::META_DDL).execute(&mut *$tx).await?;
        let stored: Option<String> = sqlx::query_scalar(s::META_GET)
            .bind("schema_version")
            .fetch_optional(&mut *$tx)
            .await?;
        let mut version = s::parse_version(stored)?;
        s::check_not_newer(version)?;
        let from = version;
        for m in $migrations.iter().filter(|m| m.version > from) {
            sqlx::raw_sql(m.sql).execute(&mut *$tx).await.map_err(|e| {
                $crate::Error::Store(format!("applying schema migration {}: {e}", m.version))
            })?;
            version = m.version;
            sqlx::query(s::META_SET)
                .bind("schema_version")
                .bind(version.to_string())
                .execute(&mut *$tx)
                .await?;
        }
        let stored_dir: Option<String> = sqlx::query_scalar(s::META_GET)
            .bind("store_dir")
            .fetch_optional(&mut *$tx)
            .await?;
        let (dir, record) = s::decide_store_dir(stored_dir, $requested)?;
        if record {
            sqlx::query(s::META_SET)
                .bind("store_dir")
                .bind(&dir)
                .execute(&mut *$tx)
                .await?;
        }
        // Outside a bulk load the reverse-edge index must exist (a no-op
        // when it does).
        let bulk: Option<String> = sqlx::query_scalar(s::META_GET)
            .bind($crate::store::sql::BULK_FLAG)
            .fetch_optional(&mut *$tx)
            .await?;
        if bulk.is_none() {
            sqlx::query($crate::store::sql::CREATE_REVERSE_INDEX)
                .execute(&mut *$tx)
                .await?;
        }
        dir
    }};
}
pub(crate) use migrate;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_dir_rules() {
        assert_eq!(
            decide_store_dir(None, None).unwrap(),
            ("/gnu/store".into(), true)
        );
        assert_eq!(
            decide_store_dir(None, Some("/nix/store/")).unwrap(),
            ("/nix/store".into(), true)
        );
        assert_eq!(
            decide_store_dir(Some("/nix/store".into()), None).unwrap(),
            ("/nix/store".into(), false)
        );
        let e = decide_store_dir(Some("/gnu/store".into()), Some("/nix/store")).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("/gnu/store") && msg.contains("/nix/store"),
            "{msg}"
        );
        assert!(normalize_store_dir("nix/store").is_err());
        assert!(normalize_store_dir("/").is_err());
    }

    #[test]
    fn versions() {
        assert_eq!(parse_version(None).unwrap(), 0);
        assert_eq!(parse_version(Some("3".into())).unwrap(), 3);
        assert!(parse_version(Some("x".into())).is_err());
        let msg = check_not_newer(7).unwrap_err().to_string();
        assert!(msg.contains("database schema version 7 is newer"), "{msg}");
        assert!(
            msg.contains(&format!("knows up to {SCHEMA_VERSION}")),
            "{msg}"
        );
        assert!(check_not_newer(SCHEMA_VERSION).is_ok());
        assert_eq!(SQLITE.last().unwrap().version, SCHEMA_VERSION);
        assert_eq!(POSTGRES.last().unwrap().version, SCHEMA_VERSION);
    }
}
