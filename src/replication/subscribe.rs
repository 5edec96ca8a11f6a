//! Subscriptions: a mirror following the primary's store, and the primary
//! gathering a mirror's analytics.

use std::time::{Duration, Instant};

use sqlx::{PgConnection, PgPool};

use super::conninfo::ConnInfo;
use super::publish::{publication_exists, publish_analytics, require_logical};
use super::{pg_pool, ANALYTICS_PUBLICATION, ANALYTICS_TABLES, STORE_PUBLICATION, STORE_TABLES};
use crate::store::{Store, SCHEMA_VERSION};
use crate::{Error, Result};

/// How to subscribe.
#[derive(Debug, Clone)]
pub struct SubscribeOptions {
    /// The publisher: the primary (store), or a mirror (analytics).
    pub from: ConnInfo,
    /// The subscription's name, also its replication slot's name on the
    /// publisher (default: derived from the subscribing database's
    /// identity for the store, from the publisher's for analytics, so that
    /// two mirrors never share a slot).
    pub name: Option<String>,
    /// Subscribe to a mirror's analytics instead of a primary's store.
    pub analytics: bool,
    /// Empty this database's store tables first (a mirror that followed
    /// another primary, or holds data it should not keep). Without it, a
    /// non-empty store is an error.
    pub replace_data: bool,
    /// Wait for the initial copy to finish.
    pub wait: bool,
}

impl SubscribeOptions {
    /// Options to follow the store published at `from`, waiting for the
    /// copy.
    pub fn new(from: ConnInfo) -> Self {
        SubscribeOptions {
            from,
            name: None,
            analytics: false,
            replace_data: false,
            wait: true,
        }
    }
}

/// Progress of the initial copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyProgress {
    /// Tables copied and caught up.
    pub ready: u32,
    /// Tables in the subscription.
    pub total: u32,
    /// Bytes the running copies have processed so far.
    pub bytes: u64,
    /// Time since waiting began.
    pub elapsed: Duration,
}

/// What [`subscribe`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeReport {
    /// The subscription's name.
    pub name: String,
    /// Whether it was created (`false`: it existed already, with the same
    /// publisher).
    pub created: bool,
    /// Tables it replicates.
    pub tables: u32,
    /// For a store subscription: whether this database now publishes its
    /// analytics for the primary, or why not.
    pub analytics_published: std::result::Result<(), String>,
    /// For an analytics subscription: nodes whose earlier replicated rows
    /// were dropped here to be copied again from the publisher.
    pub replaced_nodes: Vec<String>,
    /// Store rows emptied first ([`SubscribeOptions::replace_data`]).
    pub rows_discarded: u64,
}

/// What [`unsubscribe`] did to one subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubscribeReport {
    /// The subscription's name.
    pub name: String,
    /// A replication slot left on an unreachable publisher: drop it there
    /// (`SELECT pg_drop_replication_slot('…')`) once it is back, or it
    /// keeps WAL forever.
    pub slot_left: Option<String>,
}

/// How long connecting to a publisher may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the initial copy's progress is read.
const POLL: Duration = Duration::from_millis(200);

/// Subscribes this database: to the primary's store (a mirror), or with
/// [`SubscribeOptions::analytics`] to a mirror's analytics (on the
/// primary). Creates the subscription, then (with
/// [`SubscribeOptions::wait`]) reports the initial copy's progress to
/// `progress` until every table is ready. Idempotent: an existing
/// subscription with the same name and publisher is waited for, not
/// created again.
///
/// Fails clearly when either side lacks `wal_level = logical`, the
/// publication is missing, this database holds store rows of its own, the
/// slot name is taken on the publisher, or the schemas disagree.
pub async fn subscribe(
    store: &Store,
    options: &SubscribeOptions,
    mut progress: impl FnMut(&CopyProgress),
) -> Result<SubscribeReport> {
    let pool = pg_pool(store)?;
    let mut local = pool.acquire().await?;
    require_superuser(&mut local).await?;
    let mut remote = options.from.connect(CONNECT_TIMEOUT).await?;
    let who = format!("the publisher {}", options.from.redacted());
    require_logical(&mut remote, &who).await?;
    let (publication, tables) = if options.analytics {
        (ANALYTICS_PUBLICATION, ANALYTICS_TABLES)
    } else {
        (STORE_PUBLICATION, STORE_TABLES)
    };
    if !publication_exists(&mut remote, publication).await? {
        let fix = if options.analytics {
            "run `narherder replication subscribe` on that mirror first (it publishes its \
             analytics), or `narherder replication publish --analytics` there"
        } else {
            "run `narherder replication publish` on the primary first"
        };
        return Err(Error::Store(format!(
            "{who} has no publication {publication}: {fix}"
        )));
    }
    require_replication_role(&mut remote, &who).await?;
    let name = match &options.name {
        Some(n) => valid_name(n)?,
        None if options.analytics => {
            format!("narherder_analytics_{}", identity(&mut remote).await?)
        }
        None => format!("narherder_{}", identity(&mut local).await?),
    };
    let mut report = SubscribeReport {
        name: name.clone(),
        created: false,
        tables: u32::try_from(tables.len()).unwrap_or(u32::MAX),
        analytics_published: Ok(()),
        replaced_nodes: Vec::new(),
        rows_discarded: 0,
    };
    let existing = existing(&mut local, &name).await?;
    if let Some((oid, pubs)) = &existing {
        if pubs != &[publication.to_string()] {
            return Err(Error::Store(format!(
                "subscription {name} already exists for publication(s) {}; choose another \
                 --name or run `narherder replication unsubscribe --name {name}`",
                pubs.join(", ")
            )));
        }
        let conninfo: Option<String> =
            sqlx::query_scalar("SELECT subconninfo FROM pg_subscription WHERE oid = $1::oid")
                .bind(oid)
                .fetch_optional(&mut *local)
                .await?;
        if conninfo.as_deref() != Some(options.from.as_str()) {
            return Err(Error::Store(format!(
                "subscription {name} already exists and follows another publisher; run \
                 `narherder replication unsubscribe --name {name}` first"
            )));
        }
    } else {
        if !options.analytics {
            prepare_mirror(store, &mut local, &mut remote, options, &who, &mut report).await?;
        } else {
            report.replaced_nodes = prepare_analytics(&mut local, &mut remote, &who).await?;
        }
        check_slot_free(&mut remote, &name, &who).await?;
        let sql: String = sqlx::query_scalar(
            "SELECT format('CREATE SUBSCRIPTION %I CONNECTION %L PUBLICATION %I \
             WITH (copy_data = true, create_slot = true, binary = true)', $1::text, $2::text, $3::text)",
        )
        .bind(&name)
        .bind(options.from.as_str())
        .bind(publication)
        .fetch_one(&mut *local)
        .await?;
        sqlx::query(&sql)
            .execute(&mut *local)
            .await
            .map_err(|e| Error::Store(format!("creating subscription {name}: {e}")))?;
        report.created = true;
    }
    let _ = sqlx::Connection::close(remote).await;
    if !options.analytics {
        report.analytics_published = match publish_analytics(store).await {
            Ok(_) => Ok(()),
            Err(e) => Err(e.to_string()),
        };
    }
    drop(local);
    if options.wait {
        wait_ready(store, &name, &mut progress).await?;
    }
    Ok(report)
}

/// Waits until every table of subscription `name` is copied and caught
/// up, reporting progress. Fails if the initial copy fails (conflicting
/// rows, permissions: the PostgreSQL log of this server says which).
pub async fn wait_ready(
    store: &Store,
    name: &str,
    mut progress: impl FnMut(&CopyProgress),
) -> Result<()> {
    let pool = pg_pool(store)?;
    let started = Instant::now();
    let Some((oid, _)) = existing(&mut *pool.acquire().await?, name).await? else {
        return Err(Error::Store(format!("there is no subscription {name}")));
    };
    let errors_before = sync_errors(pool, oid).await?;
    loop {
        let (total, ready): (i64, i64) = sqlx::query_as(
            "SELECT count(*), count(*) FILTER (WHERE srsubstate = 'r') \
             FROM pg_subscription_rel WHERE srsubid = $1::oid",
        )
        .bind(oid)
        .fetch_one(pool)
        .await?;
        let bytes: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(sum(bytes_processed), 0) AS BIGINT) FROM pg_stat_progress_copy \
             WHERE datname = current_database()",
        )
        .fetch_one(pool)
        .await?;
        let p = CopyProgress {
            ready: u32::try_from(ready).unwrap_or(0),
            total: u32::try_from(total).unwrap_or(0),
            bytes: u64::try_from(bytes).unwrap_or(0),
            elapsed: started.elapsed(),
        };
        progress(&p);
        if ready >= total {
            return Ok(());
        }
        let errors = sync_errors(pool, oid).await?;
        if errors > errors_before {
            return Err(Error::Store(format!(
                "the initial copy of subscription {name} failed ({} attempt(s)); the \
                 PostgreSQL log of this server says why (rows that conflict with the \
                 publisher's, missing privileges). PostgreSQL retries by itself; run \
                 `narherder replication unsubscribe --name {name}` to give up",
                errors - errors_before
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Drops subscription `name`, or with `None` every subscription of this
/// database to a narherder publication. A publisher that cannot be reached
/// keeps its replication slot (reported). After dropping a store
/// subscription the identity sequences are moved past the replicated ids,
/// so that this database can take writes (become the primary).
/// Idempotent: no such subscription is not an error.
pub async fn unsubscribe(store: &Store, name: Option<&str>) -> Result<Vec<UnsubscribeReport>> {
    let pool = pg_pool(store)?;
    let mut conn = pool.acquire().await?;
    type Row = (String, Option<String>, Vec<String>);
    let subs: Vec<Row> = sqlx::query_as(
        "SELECT subname::text, subslotname::text, subpublications::text[] FROM pg_subscription \
         WHERE subdbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         ORDER BY subname",
    )
    .fetch_all(&mut *conn)
    .await?;
    let ours = |pubs: &[String]| {
        pubs.iter()
            .any(|p| p == STORE_PUBLICATION || p == ANALYTICS_PUBLICATION)
    };
    let mut out = Vec::new();
    let mut store_dropped = false;
    for (sub, slot, pubs) in subs {
        let wanted = match name {
            Some(n) => n == sub,
            None => ours(&pubs),
        };
        if !wanted {
            continue;
        }
        require_superuser(&mut conn).await?;
        let drop: String = sqlx::query_scalar("SELECT format('DROP SUBSCRIPTION %I', $1::text)")
            .bind(&sub)
            .fetch_one(&mut *conn)
            .await?;
        let mut report = UnsubscribeReport {
            name: sub.clone(),
            slot_left: None,
        };
        if let Err(first) = sqlx::query(&drop).execute(&mut *conn).await {
            // Most likely the publisher is unreachable: detach the slot and
            // drop the subscription locally.
            let detach: Vec<String> = sqlx::query_scalar(
                "SELECT unnest(ARRAY[format('ALTER SUBSCRIPTION %I DISABLE', $1::text), \
                 format('ALTER SUBSCRIPTION %I SET (slot_name = NONE)', $1::text)])",
            )
            .bind(&sub)
            .fetch_all(&mut *conn)
            .await?;
            for sql in detach.iter().chain(std::iter::once(&drop)) {
                sqlx::query(sql).execute(&mut *conn).await.map_err(|e| {
                    Error::Store(format!(
                        "dropping subscription {sub}: {first}; then, detaching it from its \
                         slot: {e}"
                    ))
                })?;
            }
            report.slot_left = slot;
        }
        store_dropped |= pubs.iter().any(|p| p == STORE_PUBLICATION);
        out.push(report);
    }
    if store_dropped {
        // Logical replication copies rows, not sequences.
        for table in ["items", "roots"] {
            sqlx::query(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                 GREATEST((SELECT COALESCE(max(id), 0) FROM {table}), 1))"
            ))
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(out)
}

/// Checks and prepares this database to become a mirror of the store at
/// `remote`: same or older schema there, the same store directory, and no
/// store rows here (or emptied, with `replace_data`). An empty database
/// takes the primary's store directory.
async fn prepare_mirror(
    store: &Store,
    local: &mut PgConnection,
    remote: &mut PgConnection,
    options: &SubscribeOptions,
    who: &str,
    report: &mut SubscribeReport,
) -> Result<()> {
    let meta = |key: &'static str| {
        sqlx::query_scalar::<_, String>("SELECT value FROM meta WHERE key = $1").bind(key)
    };
    let version: Option<String> = meta("schema_version")
        .fetch_optional(&mut *remote)
        .await
        .map_err(|e| Error::Store(format!("{who}: reading its narherder schema: {e}")))?;
    let version: i64 = version.and_then(|v| v.trim().parse().ok()).ok_or_else(|| {
        Error::Store(format!(
            "{who} has no narherder schema version in its meta table"
        ))
    })?;
    if version > SCHEMA_VERSION {
        return Err(Error::Store(format!(
            "{who} has schema version {version}, newer than this narherder's \
             ({SCHEMA_VERSION}): upgrade narherder here first (mirrors before the primary)"
        )));
    }
    let remote_dir: Option<String> = meta("store_dir").fetch_optional(&mut *remote).await?;
    let remote_dir =
        remote_dir.ok_or_else(|| Error::Store(format!("{who} records no store directory")))?;
    let mut counts = Vec::new();
    for table in STORE_TABLES {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&mut *local)
            .await?;
        if n > 0 {
            counts.push((*table, n));
        }
    }
    if !counts.is_empty() {
        if !options.replace_data {
            let list: Vec<String> = counts.iter().map(|(t, n)| format!("{n} in {t}")).collect();
            return Err(Error::Store(format!(
                "this database already holds store rows ({}); a mirror starts empty and \
                 receives everything from the primary: use a new database, or pass \
                 --replace-data to empty this one first",
                list.join(", ")
            )));
        }
        let list = STORE_TABLES.join(", ");
        sqlx::query(&format!("TRUNCATE {list}"))
            .execute(&mut *local)
            .await?;
        // TRUNCATE fires no row trigger: the running totals start again
        // from the empty store the initial copy fills.
        sqlx::query(
            "UPDATE store_totals SET narinfos = 0, nar_size = 0, nar_files = 0, file_size = 0 \
             WHERE id = 1",
        )
        .execute(&mut *local)
        .await?;
        report.rows_discarded = counts
            .iter()
            .map(|(_, n)| u64::try_from(*n).unwrap_or(0))
            .sum();
    }
    if remote_dir != store.store_dir() {
        // Nothing is stored here (checked above): serve the primary's
        // directory (handles opened before see the old one: reopen them).
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ('store_dir', $1) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(&remote_dir)
        .execute(&mut *local)
        .await?;
    }
    Ok(())
}

/// Makes room for a mirror's analytics rows: the nodes it has rows for
/// must be unknown here, or known from an earlier subscription (their rows
/// are dropped, to be copied again). Returns the nodes whose rows went.
async fn prepare_analytics(
    local: &mut PgConnection,
    remote: &mut PgConnection,
    who: &str,
) -> Result<Vec<String>> {
    let union = ANALYTICS_TABLES
        .iter()
        .map(|t| format!("SELECT node FROM {t}"))
        .collect::<Vec<_>>()
        .join(" UNION ");
    let nodes: Vec<String> = sqlx::query_scalar(&union)
        .fetch_all(&mut *remote)
        .await
        .map_err(|e| Error::Store(format!("{who}: reading its analytics: {e}")))?;
    let mut replaced = Vec::new();
    for node in nodes {
        let mut here = 0i64;
        for t in ANALYTICS_TABLES {
            let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {t} WHERE node = $1"))
                .bind(&node)
                .fetch_one(&mut *local)
                .await?;
            here += n;
        }
        if here == 0 {
            continue;
        }
        let replicated: i64 =
            sqlx::query_scalar("SELECT count(*) FROM replicated_nodes WHERE node = $1")
                .bind(&node)
                .fetch_one(&mut *local)
                .await?;
        if replicated == 0 {
            return Err(Error::Store(format!(
                "both this database and {who} have analytics rows for node {node:?}: every \
                 node needs a name of its own (narherder serve --node-name NAME)"
            )));
        }
        for t in ANALYTICS_TABLES {
            sqlx::query(&format!("DELETE FROM {t} WHERE node = $1"))
                .bind(&node)
                .execute(&mut *local)
                .await?;
        }
        replaced.push(node);
    }
    Ok(replaced)
}

/// The oid and publications of subscription `name` in this database.
async fn existing(conn: &mut PgConnection, name: &str) -> Result<Option<(i64, Vec<String>)>> {
    Ok(sqlx::query_as(
        "SELECT oid::int8, subpublications::text[] FROM pg_subscription WHERE subname = $1 \
         AND subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .bind(name)
    .fetch_optional(&mut *conn)
    .await?)
}

async fn sync_errors(pool: &PgPool, oid: i64) -> Result<i64> {
    let n: Option<i64> = sqlx::query_scalar(
        "SELECT sync_error_count FROM pg_stat_subscription_stats WHERE subid = $1::oid",
    )
    .bind(oid)
    .fetch_optional(pool)
    .await?;
    Ok(n.unwrap_or(0))
}

async fn require_superuser(conn: &mut PgConnection) -> Result<()> {
    let (user, superuser): (String, bool) = sqlx::query_as(
        "SELECT current_user::text, rolsuper FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(&mut *conn)
    .await?;
    if !superuser {
        return Err(Error::Store(format!(
            "user {user} may not manage subscriptions: PostgreSQL 15 lets only superusers \
             create and drop them; run this command with a superuser's database URL"
        )));
    }
    Ok(())
}

async fn require_replication_role(remote: &mut PgConnection, who: &str) -> Result<()> {
    let (user, ok): (String, bool) = sqlx::query_as(
        "SELECT current_user::text, rolreplication OR rolsuper FROM pg_roles \
         WHERE rolname = current_user",
    )
    .fetch_one(&mut *remote)
    .await?;
    if !ok {
        return Err(Error::Store(format!(
            "{who}: user {user} lacks the REPLICATION attribute (ALTER ROLE {user} \
             REPLICATION on the publisher)"
        )));
    }
    Ok(())
}

async fn check_slot_free(remote: &mut PgConnection, name: &str, who: &str) -> Result<()> {
    let taken: Option<bool> =
        sqlx::query_scalar("SELECT active FROM pg_replication_slots WHERE slot_name = $1")
            .bind(name)
            .fetch_optional(&mut *remote)
            .await?;
    match taken {
        None => Ok(()),
        Some(active) => Err(Error::Store(format!(
            "{who} already has a replication slot {name} ({}): another subscriber uses this \
             name, or an unsubscribe could not reach the publisher; choose another --name, \
             or if nobody uses it drop it there with SELECT pg_drop_replication_slot('{name}')",
            if active { "in use" } else { "not in use" }
        ))),
    }
}

/// A name-friendly identity of the database behind `conn`: its cluster's
/// system identifier and its oid.
async fn identity(conn: &mut PgConnection) -> Result<String> {
    let (db, sys): (i64, Option<String>) = sqlx::query_as(
        "SELECT (SELECT oid::int8 FROM pg_database WHERE datname = current_database()), \
         (SELECT system_identifier::text FROM pg_control_system())",
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(format!("{}_{db}", sys.unwrap_or_default()))
}

/// Checks a subscription name: a PostgreSQL identifier narherder can use
/// unquoted in messages (letters, digits, `_`; at most 63 bytes).
fn valid_name(name: &str) -> Result<String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(name.to_string())
    } else {
        Err(Error::InvalidArgument(format!(
            "subscription name {name:?}: expected 1 to 63 lower-case letters, digits or `_`, \
             not starting with a digit"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("mirror_eu_1").is_ok());
        assert!(valid_name("Mirror").is_err());
        assert!(valid_name("1abc").is_err());
        assert!(valid_name("a-b").is_err());
        assert!(valid_name(&"a".repeat(64)).is_err());
    }
}
