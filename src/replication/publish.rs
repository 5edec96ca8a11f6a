//! Publications: the store on the primary, the analytics on each mirror.

use sqlx::PgConnection;

use super::{pg_pool, ANALYTICS_PUBLICATION, ANALYTICS_TABLES, STORE_PUBLICATION, STORE_TABLES};
use crate::store::Store;
use crate::{Error, Result};

/// What [`publish`] or [`publish_analytics`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishReport {
    /// The publication's name.
    pub publication: String,
    /// Whether it was created (`false`: it existed).
    pub created: bool,
    /// Whether its table list was corrected (it existed with other tables).
    pub altered: bool,
    /// The tables it publishes.
    pub tables: Vec<String>,
}

/// Publishes the store for mirrors ([`STORE_PUBLICATION`] of
/// [`STORE_TABLES`]). Idempotent: an existing publication is left alone, or
/// its table list corrected. Fails when this server's `wal_level` is not
/// `logical`.
pub async fn publish(store: &Store) -> Result<PublishReport> {
    publish_tables(store, STORE_PUBLICATION, STORE_TABLES).await
}

/// Publishes this node's analytics rows for the primary
/// ([`ANALYTICS_PUBLICATION`] of [`ANALYTICS_TABLES`]). Idempotent.
pub async fn publish_analytics(store: &Store) -> Result<PublishReport> {
    publish_tables(store, ANALYTICS_PUBLICATION, ANALYTICS_TABLES).await
}

/// Drops a publication if it exists; returns whether it did.
pub async fn unpublish(store: &Store, publication: &str) -> Result<bool> {
    let pool = pg_pool(store)?;
    let mut conn = pool.acquire().await?;
    if !publication_exists(&mut conn, publication).await? {
        return Ok(false);
    }
    let sql: String = sqlx::query_scalar("SELECT format('DROP PUBLICATION %I', $1::text)")
        .bind(publication)
        .fetch_one(&mut *conn)
        .await?;
    sqlx::query(&sql).execute(&mut *conn).await?;
    Ok(true)
}

async fn publish_tables(store: &Store, name: &str, tables: &[&str]) -> Result<PublishReport> {
    let pool = pg_pool(store)?;
    let mut conn = pool.acquire().await?;
    require_logical(&mut conn, "this PostgreSQL server").await?;
    let wanted: Vec<String> = tables.iter().map(|t| t.to_string()).collect();
    let mut report = PublishReport {
        publication: name.to_string(),
        created: false,
        altered: false,
        tables: wanted.clone(),
    };
    // The tables named as this connection resolves them (the store's
    // schema), so that the publication never picks up a namesake.
    let list: String = sqlx::query_scalar(
        "SELECT string_agg(format('%I.%I', current_schema(), t), ', ' ORDER BY o) \
         FROM unnest($1::text[]) WITH ORDINALITY AS x(t, o)",
    )
    .bind(&wanted)
    .fetch_one(&mut *conn)
    .await?;
    if publication_exists(&mut conn, name).await? {
        let mut have: Vec<String> = sqlx::query_scalar(
            "SELECT tablename::text FROM pg_publication_tables \
             WHERE pubname = $1 AND schemaname = current_schema() ORDER BY tablename",
        )
        .bind(name)
        .fetch_all(&mut *conn)
        .await?;
        let all: i64 =
            sqlx::query_scalar("SELECT count(*) FROM pg_publication_tables WHERE pubname = $1")
                .bind(name)
                .fetch_one(&mut *conn)
                .await?;
        let mut sorted = wanted.clone();
        sorted.sort();
        have.sort();
        if have != sorted || usize::try_from(all).ok() != Some(have.len()) {
            let sql: String =
                sqlx::query_scalar("SELECT format('ALTER PUBLICATION %I SET TABLE ', $1::text)")
                    .bind(name)
                    .fetch_one(&mut *conn)
                    .await?;
            sqlx::query(&format!("{sql}{list}"))
                .execute(&mut *conn)
                .await
                .map_err(|e| Error::Store(format!("correcting publication {name}: {e}")))?;
            report.altered = true;
        }
        return Ok(report);
    }
    let sql: String =
        sqlx::query_scalar("SELECT format('CREATE PUBLICATION %I FOR TABLE ', $1::text)")
            .bind(name)
            .fetch_one(&mut *conn)
            .await?;
    sqlx::query(&format!("{sql}{list}"))
        .execute(&mut *conn)
        .await
        .map_err(|e| {
            Error::Store(format!(
                "creating publication {name}: {e} (the user needs the CREATE privilege on \
                 the database and must own the store's tables)"
            ))
        })?;
    report.created = true;
    Ok(report)
}

/// Whether publication `name` exists in the connection's database.
pub(super) async fn publication_exists(conn: &mut PgConnection, name: &str) -> Result<bool> {
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_publication WHERE pubname = $1")
        .bind(name)
        .fetch_one(&mut *conn)
        .await?;
    Ok(n > 0)
}

/// Fails unless the server behind `conn` has `wal_level = logical` and
/// room for replication slots and WAL senders. `who` names it in messages.
pub(super) async fn require_logical(conn: &mut PgConnection, who: &str) -> Result<()> {
    let (level, slots, senders): (String, String, String) = sqlx::query_as(
        "SELECT current_setting('wal_level'), current_setting('max_replication_slots'), \
         current_setting('max_wal_senders')",
    )
    .fetch_one(&mut *conn)
    .await?;
    if level != "logical" {
        return Err(Error::Store(format!(
            "{who} has wal_level = {level}; logical replication needs wal_level = logical: \
             set it in postgresql.conf (or run ALTER SYSTEM SET wal_level = logical) and \
             restart PostgreSQL"
        )));
    }
    for (setting, value) in [
        ("max_replication_slots", slots),
        ("max_wal_senders", senders),
    ] {
        if value.trim() == "0" {
            return Err(Error::Store(format!(
                "{who} has {setting} = 0; logical replication needs at least one per mirror: \
                 raise it in postgresql.conf and restart PostgreSQL"
            )));
        }
    }
    Ok(())
}
