//! Usage-based eviction: under a size limit, drop the least recently
//! requested unrooted items first, without ever breaking a closure.
//!
//! Request times come from [`record_usage`] (the server's analytics call it
//! with batches of accesses; never one write per request). Eviction works
//! in rounds, each one write transaction under the writers' lock:
//!
//! 1. candidates are stored narinfos that nothing but themselves
//!    references, that no unexpired root names, ordered never-requested
//!    first, then by last request time, then by age (oldest added first);
//! 2. the round takes candidates in that order until their nar files cover
//!    what is still over the limit (at most [`EvictOptions::batch_size`]),
//!    deletes them, and counts the nar files (distinct URLs) no narinfo
//!    names any more;
//! 3. their referents may have become candidates for the next round.
//!
//! Because only unreferenced narinfos are deleted, and the check runs in
//! the deleting transaction, the closure invariant holds at every commit,
//! with concurrent imports and across crashes (see [`crate::gc`] for the
//! argument, which is the same). Rooted items are never candidates, and
//! everything they reference keeps a referrer. Nar files are removed from
//! the storage directory as the collector does: after the commit, inside
//! the next transaction, after checking again that no narinfo names them.
//!
//! The size is the sum of `FileSize` over distinct nar file URLs. A dry run
//! performs the same rounds inside one transaction and rolls it back, so
//! it reports exactly what a real run would do at that moment (it holds the
//! writers' lock meanwhile).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::dialect::on_conn;
use crate::gc::now_secs;
use crate::store::{hash_key, key_hash, Store};
use crate::Result;

/// How to evict.
#[derive(Debug, Clone)]
pub struct EvictOptions {
    /// The size the nar files must fit in, in bytes.
    pub max_size: u64,
    /// Only report what would be evicted.
    pub dry_run: bool,
    /// Most narinfos deleted per transaction (at least 1).
    pub batch_size: usize,
    /// The nar storage directory to remove files from; `None`: leave files.
    pub storage: Option<PathBuf>,
    /// How many store paths the report's sample holds.
    pub sample_size: usize,
}

impl EvictOptions {
    /// Options for a limit of `max_size` bytes, other fields defaulted.
    pub fn new(max_size: u64) -> Self {
        EvictOptions {
            max_size,
            dry_run: false,
            batch_size: crate::gc::DEFAULT_BATCH,
            storage: None,
            sample_size: 10,
        }
    }
}

/// What an eviction did (or, for a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EvictReport {
    /// Total nar file size before (sum of `FileSize` over distinct URLs).
    pub size_before: u64,
    /// Total nar file size after.
    pub size_after: u64,
    /// Narinfos evicted.
    pub evicted: u64,
    /// Nar files (distinct URLs) no narinfo names any more.
    pub nar_files_deleted: u64,
    /// Sum of their `FileSize`.
    pub bytes_freed: u64,
    /// Nar files removed from the storage directory.
    pub files_removed: u64,
    /// Whether the store now fits the limit (false when only rooted or
    /// referenced items are left above it).
    pub fits: bool,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Time taken.
    pub elapsed: Duration,
    /// Store paths of the first evicted narinfos, in eviction order.
    pub sample: Vec<String>,
}

const USAGE_UPSERT: &str = "INSERT INTO item_usage (item_id, last_requested, requests) \
     SELECT i.id, u.t, u.n FROM ev_usage u CROSS JOIN items i CROSS JOIN narinfos n \
     WHERE i.hash = u.k AND n.item_id = i.id \
     ON CONFLICT (item_id) DO UPDATE SET \
     last_requested = CASE WHEN excluded.last_requested > item_usage.last_requested \
       THEN excluded.last_requested ELSE item_usage.last_requested END, \
     requests = item_usage.requests + excluded.requests";

/// Records requests: `(hash part, time)` pairs, time in seconds since the
/// Unix epoch, in one transaction. Only items with a stored narinfo are
/// recorded (misses and malformed hashes are skipped: a client cannot grow
/// the table with made-up hashes). Returns how many items were updated.
pub async fn record_usage(store: &Store, accesses: &[(impl AsRef<str>, i64)]) -> Result<u64> {
    let mut agg: HashMap<[u8; 20], (i64, i64)> = HashMap::new();
    for (hash, t) in accesses {
        if let Some(k) = hash_key(hash.as_ref()) {
            let e = agg.entry(k).or_insert((*t, 0));
            e.0 = e.0.max(*t);
            e.1 += 1;
        }
    }
    if agg.is_empty() {
        return Ok(0);
    }
    let rows: Vec<([u8; 20], i64, i64)> = agg.into_iter().map(|(k, (t, n))| (k, t, n)).collect();
    let arg = crate::dialect::usage_arg(&rows);
    let _guard = store.lock_writes().await;
    let n = on_conn!(store, |conn, d| {
        sqlx::query(&d::temp_usage_ddl("ev_usage"))
            .execute(&mut *conn)
            .await?;
        let mut tx = d::begin_write(&mut conn).await?;
        sqlx::query("DELETE FROM ev_usage")
            .execute(&mut *tx)
            .await?;
        sqlx::query(&d::fill_usage_sql("ev_usage"))
            .bind(&arg)
            .execute(&mut *tx)
            .await?;
        let n = sqlx::query(USAGE_UPSERT)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM ev_usage")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        n
    });
    Ok(n)
}

/// Request time and count of a stored item, if any were recorded.
pub async fn usage_of(store: &Store, hash: &str) -> Result<Option<(i64, u64)>> {
    let Some(key) = hash_key(hash) else {
        return Ok(None);
    };
    let row: Option<(i64, i64)> = on_conn!(store, |conn, _d| {
        sqlx::query_as(
            "SELECT u.last_requested, u.requests FROM items i \
             JOIN item_usage u ON u.item_id = i.id WHERE i.hash = $1",
        )
        .bind(&key[..])
        .fetch_optional(&mut *conn)
        .await?
    });
    Ok(row.map(|(t, n)| (t, u64::try_from(n).unwrap_or(0))))
}

const TOTAL_SIZE: &str = "SELECT CAST(COALESCE(SUM(s), 0) AS BIGINT) FROM \
     (SELECT url, MAX(file_size) AS s FROM nar_files GROUP BY url) t";

/// Candidates in eviction order, with their nar file sizes, their key and
/// name (`$1` = now, `$2` = limit).
const CANDIDATES: &str = "SELECT n.id, \
       CAST(COALESCE((SELECT SUM(f.file_size) FROM nar_files f WHERE f.narinfo_id = n.id), 0) AS BIGINT), \
       i.hash, n.name \
     FROM narinfos n JOIN items i ON i.id = n.item_id \
     LEFT JOIN item_usage u ON u.item_id = n.item_id \
     WHERE NOT EXISTS (SELECT 1 FROM refs r WHERE r.to_id = n.item_id AND r.from_id <> n.id) \
       AND NOT EXISTS (SELECT 1 FROM root_items ri JOIN roots ro ON ro.id = ri.root_id \
         WHERE ri.item_id = n.item_id AND (ro.expires_at IS NULL OR ro.expires_at > $1)) \
     ORDER BY COALESCE(u.last_requested, -1), n.added_at, n.id LIMIT $2";

const BATCH_FILES: &str =
    "SELECT f.url, f.file_size FROM ev_batch b CROSS JOIN nar_files f WHERE f.narinfo_id = b.id";
const BATCH_REFS: &str = "INSERT INTO ev_next (id) SELECT r.to_id FROM ev_batch b \
     CROSS JOIN refs r WHERE r.from_id = b.id UNION SELECT n.item_id FROM ev_batch b \
     CROSS JOIN narinfos n WHERE n.id = b.id";
const DELETE_REFS: &str = "DELETE FROM refs WHERE from_id IN (SELECT id FROM ev_batch)";
const DELETE_FILES: &str = "DELETE FROM nar_files WHERE narinfo_id IN (SELECT id FROM ev_batch)";
const DELETE_NARINFOS: &str = "DELETE FROM narinfos WHERE id IN (SELECT id FROM ev_batch)";
const PRUNE_ITEMS: &str = "DELETE FROM items WHERE id IN (SELECT id FROM ev_next) \
     AND NOT EXISTS (SELECT 1 FROM narinfos n WHERE n.item_id = items.id) \
     AND NOT EXISTS (SELECT 1 FROM refs r WHERE r.to_id = items.id)";
const UNUSED_URLS: &str = "SELECT u.t FROM ev_urls u WHERE NOT EXISTS \
     (SELECT 1 FROM nar_files f WHERE f.url = u.t)";

/// One round's outcome.
struct Round {
    evicted: u64,
    gone: Vec<String>,
    bytes: u64,
    sample: Vec<String>,
}

/// Runs one eviction round on a connection inside a write transaction,
/// first removing the previous round's freed nar files (`pending`) when
/// `storage` is given. Written once, expanded per backend.
macro_rules! round {
    ($c:expr, $d:ident, $store:expr, $excess:expr, $batch:expr, $pending:expr, $storage:expr, $removed:expr) => {{
        let c = $c;
        if !$pending.is_empty() {
            sqlx::query(&$d::fill_texts_sql("ev_urls"))
                .bind($d::texts_arg(&$pending))
                .execute(&mut *c)
                .await?;
            let unused: Vec<String> = sqlx::query_scalar(UNUSED_URLS).fetch_all(&mut *c).await?;
            sqlx::query("DELETE FROM ev_urls").execute(&mut *c).await?;
            $pending.clear();
            if let Some(root) = $storage {
                for url in &unused {
                    match root.remove(url) {
                        Ok(true) => *$removed += 1,
                        Ok(false) => {}
                        Err(e) => tracing::warn!("evict: keeping nar file: {e}"),
                    }
                }
            }
        }
        let mut out = Round {
            evicted: 0,
            gone: Vec::new(),
            bytes: 0,
            sample: Vec::new(),
        };
        if $excess > 0 {
            let rows: Vec<(i64, i64, Vec<u8>, String)> = sqlx::query_as(CANDIDATES)
                .bind(now_secs())
                .bind(i64::try_from($batch).unwrap_or(i64::MAX))
                .fetch_all(&mut *c)
                .await?;
            let mut chosen = Vec::new();
            let mut covered: u64 = 0;
            for (id, size, key, name) in rows {
                if covered >= $excess {
                    break;
                }
                covered = covered.saturating_add(u64::try_from(size).unwrap_or(0));
                chosen.push(id);
                out.sample
                    .push(format!("{}/{}-{name}", $store.store_dir(), key_hash(&key)?));
            }
            if !chosen.is_empty() {
                sqlx::query(&$d::fill_ids_sql("ev_batch"))
                    .bind($d::ids_arg(&chosen))
                    .execute(&mut *c)
                    .await?;
                $d::analyze_temp(c, "ev_batch").await?;
                sqlx::query(BATCH_REFS).execute(&mut *c).await?;
                $d::analyze_temp(c, "ev_next").await?;
                let files: Vec<(String, Option<i64>)> =
                    sqlx::query_as(BATCH_FILES).fetch_all(&mut *c).await?;
                sqlx::query(DELETE_REFS).execute(&mut *c).await?;
                sqlx::query(DELETE_FILES).execute(&mut *c).await?;
                out.evicted = sqlx::query(DELETE_NARINFOS)
                    .execute(&mut *c)
                    .await?
                    .rows_affected();
                sqlx::query(PRUNE_ITEMS).execute(&mut *c).await?;
                let mut sizes: HashMap<String, u64> = HashMap::new();
                for (url, size) in files {
                    let e = sizes.entry(url).or_insert(0);
                    *e = (*e).max(size.map_or(0, |s| u64::try_from(s).unwrap_or(0)));
                }
                if !sizes.is_empty() {
                    let urls: Vec<String> = sizes.keys().cloned().collect();
                    sqlx::query(&$d::fill_texts_sql("ev_urls"))
                        .bind($d::texts_arg(&urls))
                        .execute(&mut *c)
                        .await?;
                    out.gone = sqlx::query_scalar(UNUSED_URLS).fetch_all(&mut *c).await?;
                    sqlx::query("DELETE FROM ev_urls").execute(&mut *c).await?;
                    out.bytes = out
                        .gone
                        .iter()
                        .map(|u| sizes.get(u).copied().unwrap_or(0))
                        .sum();
                }
                sqlx::query("DELETE FROM ev_batch").execute(&mut *c).await?;
                sqlx::query("DELETE FROM ev_next").execute(&mut *c).await?;
            }
        }
        out
    }};
}

/// Evicts until the nar files fit `options.max_size` (see the [module
/// documentation](self)), calling `progress` with the report so far after
/// each round.
pub async fn evict(
    store: &Store,
    options: &EvictOptions,
    progress: &mut (dyn FnMut(&EvictReport) + Send),
) -> Result<EvictReport> {
    let started = Instant::now();
    let batch = options.batch_size.max(1);
    let storage = match &options.storage {
        Some(dir) if !options.dry_run => Some(crate::storage::NarStorage::open(dir)?),
        _ => None,
    };
    let mut report = EvictReport {
        dry_run: options.dry_run,
        ..EvictReport::default()
    };
    on_conn!(store, |conn, d| {
        for t in ["ev_batch", "ev_next"] {
            sqlx::query(&d::temp_ids_ddl(t)).execute(&mut *conn).await?;
            sqlx::query(&format!("DELETE FROM {t}"))
                .execute(&mut *conn)
                .await?;
        }
        sqlx::query(&d::temp_texts_ddl("ev_urls"))
            .execute(&mut *conn)
            .await?;
        sqlx::query("DELETE FROM ev_urls")
            .execute(&mut *conn)
            .await?;
        let total: i64 = sqlx::query_scalar(TOTAL_SIZE).fetch_one(&mut *conn).await?;
        report.size_before = u64::try_from(total).unwrap_or(0);
        let mut size = report.size_before;
        let mut pending: Vec<String> = Vec::new();
        let mut removed = 0u64;
        let absorb = |report: &mut EvictReport, r: Round, size: &mut u64| {
            report.evicted += r.evicted;
            report.nar_files_deleted += r.gone.len() as u64;
            report.bytes_freed += r.bytes;
            *size = size.saturating_sub(r.bytes);
            let room = options.sample_size.saturating_sub(report.sample.len());
            report.sample.extend(r.sample.into_iter().take(room));
            r.gone
        };
        if options.dry_run {
            let mut tx = d::begin_write(&mut conn).await?;
            loop {
                let excess = size.saturating_sub(options.max_size);
                let none: Option<&crate::storage::NarStorage> = None;
                let r = round!(
                    &mut *tx,
                    d,
                    store,
                    excess,
                    batch,
                    pending,
                    none,
                    &mut removed
                );
                let done = r.evicted == 0;
                absorb(&mut report, r, &mut size);
                report.size_after = size;
                progress(&report);
                if done {
                    break;
                }
            }
            tx.rollback().await?;
        } else {
            loop {
                let excess = size.saturating_sub(options.max_size);
                let _guard = store.lock_writes().await;
                let mut tx = d::begin_write(&mut conn).await?;
                let r = round!(
                    &mut *tx,
                    d,
                    store,
                    excess,
                    batch,
                    pending,
                    storage.as_ref(),
                    &mut removed
                );
                tx.commit().await?;
                drop(_guard);
                let done = r.evicted == 0;
                pending = absorb(&mut report, r, &mut size);
                report.files_removed = removed;
                report.size_after = size;
                progress(&report);
                if done && pending.is_empty() {
                    break;
                }
            }
        }
    });
    report.size_after = report.size_before.saturating_sub(report.bytes_freed);
    report.fits = report.size_after <= options.max_size;
    report.elapsed = started.elapsed();
    Ok(report)
}
