//! What an operator wants to see at a glance: the store's size, requests per
//! day, the most requested items and the most missed hashes, the last
//! garbage collections and the roots. The server renders it as its status
//! page (`GET /`); `narherder doctor` reads parts of it.
//!
//! Everything here reads small tables — the running totals of schema
//! version 5 (`store_totals`, kept by triggers), the analytics tables
//! (`request_totals`, `item_requests`, `missed_hashes`), `gc_runs` and
//! `roots` — and a handful of point lookups, never a scan of the narinfos,
//! so an overview costs the same on a store of a thousand or a million
//! narinfos.

use crate::analytics::{day_of, MissStat};
use crate::changes::{item_hash, now_secs, ItemKey};
use crate::dialect::on_conn;
use crate::gc_runs::GcRun;
use crate::replication::{subscription_status, SubscriptionStatus};
use crate::store::{Backend, Store};
use crate::{Error, Result};

/// Counts and sizes of the stored narinfos, from the running totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreTotals {
    /// Stored narinfos.
    pub narinfos: u64,
    /// Sum of their `NarSize`.
    pub nar_size: u64,
    /// Nar files (URL groups) of the stored narinfos.
    pub nar_files: u64,
    /// Sum of `FileSize` over the nar files that give one: the space the nar
    /// files take.
    pub file_size: u64,
}

/// Request counts of one day, over all nodes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayCounts {
    /// Days since the Unix epoch (UTC).
    pub day: i64,
    /// Narinfo requests answered with the narinfo.
    pub narinfo_hits: u64,
    /// Narinfo requests answered with 404.
    pub narinfo_misses: u64,
    /// Nar downloads.
    pub nar_downloads: u64,
}

/// A most-requested item, with its store path when it is still stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopItem {
    /// The 32-character hash part.
    pub hash: String,
    /// The store path, if a narinfo is stored for it.
    pub store_path: Option<String>,
    /// Narinfo hits over the period.
    pub narinfo_hits: u64,
    /// Nar downloads over the period.
    pub nar_downloads: u64,
}

/// A root, without its items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootSummary {
    /// Its name.
    pub name: String,
    /// When it stops protecting its items (seconds since the epoch).
    pub expires_at: Option<i64>,
    /// When it was last changed (seconds since the epoch).
    pub updated_at: i64,
    /// How many items it names.
    pub items: u64,
}

/// How much an [`overview`] shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverviewOptions {
    /// Days of request history (today included).
    pub days: u32,
    /// Length of the most-requested and most-missed lists.
    pub top: u32,
    /// How many GC runs.
    pub gc_runs: u32,
    /// How many roots (the most recently changed).
    pub roots: u32,
}

impl Default for OverviewOptions {
    fn default() -> Self {
        OverviewOptions {
            days: 30,
            top: 10,
            gc_runs: 10,
            roots: 20,
        }
    }
}

/// The status of a store.
#[derive(Debug, Clone, PartialEq)]
pub struct Overview {
    /// When it was read, in seconds since the epoch.
    pub generated_at: i64,
    /// `"sqlite"` or `"postgres"`.
    pub backend: &'static str,
    /// The store directory served.
    pub store_dir: String,
    /// Counts and sizes.
    pub totals: StoreTotals,
    /// The database's size in bytes, when the database says.
    pub database_bytes: Option<u64>,
    /// One entry per day of the period, oldest first, days without requests
    /// included (as zeros).
    pub days: Vec<DayCounts>,
    /// The most requested items over the period.
    pub top_items: Vec<TopItem>,
    /// The most missed hashes over the period.
    pub top_missed: Vec<MissStat>,
    /// The last GC runs, newest first.
    pub gc_runs: Vec<GcRun>,
    /// The most recently changed roots.
    pub roots: Vec<RootSummary>,
    /// How many roots exist.
    pub root_count: u64,
    /// The replication subscriptions of this database (PostgreSQL mirrors,
    /// and a primary that gathers mirrors' analytics); empty on SQLite.
    pub replication: Vec<SubscriptionStatus>,
}

const TOTALS: &str =
    "SELECT narinfos, nar_size, nar_files, file_size FROM store_totals WHERE id = 1";
const DAYS: &str = "SELECT day, CAST(SUM(narinfo_hits) AS BIGINT), \
     CAST(SUM(narinfo_misses) AS BIGINT), CAST(SUM(nar_downloads) AS BIGINT) \
     FROM request_totals WHERE day >= $1 GROUP BY day ORDER BY day";
const TOP: &str = "SELECT hash, CAST(SUM(narinfo_hits) AS BIGINT), \
     CAST(SUM(nar_downloads) AS BIGINT) FROM item_requests WHERE day >= $1 \
     GROUP BY hash ORDER BY SUM(narinfo_hits) + SUM(nar_downloads) DESC, hash LIMIT $2";
const MISSED: &str = "SELECT hash, CAST(SUM(misses) AS BIGINT) FROM missed_hashes \
     WHERE day >= $1 GROUP BY hash ORDER BY SUM(misses) DESC, hash LIMIT $2";
const ROOTS: &str = "SELECT r.name, r.expires_at, r.updated_at, \
     (SELECT COUNT(*) FROM root_items ri WHERE ri.root_id = r.id) \
     FROM roots r ORDER BY r.updated_at DESC, r.name LIMIT $1";
const ROOT_COUNT: &str = "SELECT COUNT(*) FROM roots";

fn u(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn key_of(bytes: &[u8]) -> Result<ItemKey> {
    ItemKey::try_from(bytes).map_err(|_| {
        Error::Store(format!(
            "corrupt database: an analytics hash is {} bytes, expected 20",
            bytes.len()
        ))
    })
}

/// The running totals (schema version 5).
pub async fn store_totals(store: &Store) -> Result<StoreTotals> {
    let row: Option<(i64, i64, i64, i64)> = on_conn!(store, |conn, _d| {
        sqlx::query_as(TOTALS).fetch_optional(&mut *conn).await?
    });
    let (n, s, f, fs) = row
        .ok_or_else(|| Error::Store("corrupt database: the store_totals row is missing".into()))?;
    Ok(StoreTotals {
        narinfos: u(n),
        nar_size: u(s),
        nar_files: u(f),
        file_size: u(fs),
    })
}

/// Requests per day over the last `days` days (today included), oldest
/// first, one entry per day.
pub async fn requests_per_day(store: &Store, days: u32) -> Result<Vec<DayCounts>> {
    let days = days.max(1);
    let today = day_of(now_secs());
    let since = today - i64::from(days) + 1;
    let rows: Vec<(i64, i64, i64, i64)> = on_conn!(store, |conn, _d| {
        sqlx::query_as(DAYS)
            .bind(since)
            .fetch_all(&mut *conn)
            .await?
    });
    let mut out: Vec<DayCounts> = (since..=today)
        .map(|day| DayCounts {
            day,
            ..DayCounts::default()
        })
        .collect();
    for (day, h, m, d) in rows {
        let slot = usize::try_from(day - since)
            .ok()
            .and_then(|i| out.get_mut(i));
        if let Some(c) = slot {
            c.narinfo_hits = u(h);
            c.narinfo_misses = u(m);
            c.nar_downloads = u(d);
        }
    }
    Ok(out)
}

/// The database's size in bytes (SQLite: pages in use and free;
/// PostgreSQL: `pg_database_size`).
pub async fn database_bytes(store: &Store) -> Result<Option<u64>> {
    let bytes: Option<i64> = match store.backend() {
        Backend::Sqlite(pool) => sqlx::query_scalar(
            "SELECT p.page_count * s.page_size FROM pragma_page_count() p, pragma_page_size() s",
        )
        .fetch_optional(pool)
        .await?,
        Backend::Postgres(pool) => {
            sqlx::query_scalar("SELECT pg_database_size(current_database())")
                .fetch_optional(pool)
                .await?
        }
    };
    Ok(bytes.and_then(|b| u64::try_from(b).ok()))
}

/// Reads the overview (see the [module documentation](self)).
pub async fn overview(store: &Store, options: &OverviewOptions) -> Result<Overview> {
    let generated_at = now_secs();
    let totals = store_totals(store).await?;
    let days = requests_per_day(store, options.days).await?;
    let since = days.first().map(|d| d.day).unwrap_or(0);
    let top = i64::from(options.top);
    type Top = Vec<(Vec<u8>, i64, i64)>;
    type Missed = Vec<(Vec<u8>, i64)>;
    type Roots = Vec<(String, Option<i64>, i64, i64)>;
    let (top_rows, missed_rows, root_rows, root_count): (Top, Missed, Roots, i64) =
        on_conn!(store, |conn, _d| {
            (
                sqlx::query_as(TOP)
                    .bind(since)
                    .bind(top)
                    .fetch_all(&mut *conn)
                    .await?,
                sqlx::query_as(MISSED)
                    .bind(since)
                    .bind(top)
                    .fetch_all(&mut *conn)
                    .await?,
                sqlx::query_as(ROOTS)
                    .bind(i64::from(options.roots))
                    .fetch_all(&mut *conn)
                    .await?,
                sqlx::query_scalar(ROOT_COUNT).fetch_one(&mut *conn).await?,
            )
        });
    let hashes: Vec<String> = top_rows
        .iter()
        .map(|(k, _, _)| key_of(k).map(|k| item_hash(&k)))
        .collect::<Result<_>>()?;
    let refs: Vec<&str> = hashes.iter().map(String::as_str).collect();
    let stored = store.get_many(&refs).await?;
    let top_items = top_rows
        .iter()
        .zip(hashes)
        .zip(stored)
        .map(|(((_, h, d), hash), s)| TopItem {
            hash,
            store_path: s.map(|s| s.store_path),
            narinfo_hits: u(*h),
            nar_downloads: u(*d),
        })
        .collect();
    let top_missed = missed_rows
        .iter()
        .map(|(k, m)| {
            Ok(MissStat {
                hash: item_hash(&key_of(k)?),
                misses: u(*m),
            })
        })
        .collect::<Result<_>>()?;
    let database_bytes = database_bytes(store).await?;
    Ok(Overview {
        generated_at,
        backend: match store.backend() {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        },
        store_dir: store.store_dir().to_string(),
        totals,
        database_bytes,
        days,
        top_items,
        top_missed,
        gc_runs: crate::gc_runs::recent(store, options.gc_runs).await?,
        roots: root_rows
            .into_iter()
            .map(|(name, expires_at, updated_at, items)| RootSummary {
                name,
                expires_at,
                updated_at,
                items: u(items),
            })
            .collect(),
        root_count: u(root_count),
        replication: subscription_status(store).await?,
    })
}
