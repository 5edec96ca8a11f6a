//! Garbage collection: mark what the roots and recent imports keep, sweep
//! the rest — narinfos and their nar files — in bounded batches.
//!
//! # What is live
//!
//! Live is the closure over References of (a) the items of every root that
//! has not expired and (b) every narinfo added within the grace period
//! ([`GcOptions::grace`]). The rest of the stored narinfos is dead.
//!
//! # Mark
//!
//! (On SQLite, joins of the temporary tables with the large tables are
//! written `CROSS JOIN`, which fixes the join order: the planner has no
//! statistics for temporary tables and would otherwise scan `refs` or
//! `nar_files` whole for a batch of a few rows.)
//!
//! One recursive statement (`WITH RECURSIVE … UNION …`, the same text on
//! SQLite and PostgreSQL) writes the live set into a temporary table; one
//! plain anti-join then writes the dead set (old narinfos not live) into
//! another. Nothing is walked node by node from Rust.
//!
//! # Sweep, and why the closure invariant always holds
//!
//! The invariant (DESIGN.md): whenever a narinfo is served, the narinfos of
//! all its references are served too. The sweep keeps it at every commit,
//! whatever runs concurrently and wherever the process is killed, because
//! of one rule checked *inside each deleting transaction*, while that
//! transaction holds the writers' lock (SQLite `BEGIN IMMEDIATE`;
//! PostgreSQL the store's advisory lock, taken before the transaction's
//! first read so, under READ COMMITTED, it reads every committed import):
//!
//! > a narinfo is deleted only if no stored narinfo other than itself
//! > references it, it is older than the grace cutoff, and no unexpired
//! > root names it.
//!
//! Deleting a narinfo that nothing references cannot leave a dangling
//! reference, so each committed batch preserves the invariant; by
//! induction it holds after any prefix of batches, in particular at a
//! `kill -9` (a transaction is all or nothing). The mark only *chooses*
//! candidates; safety does not depend on it being current:
//!
//! * an import that commits after the mark and references a dead item gives
//!   that item a referrer, so the rule refuses it (and, transitively, its
//!   own references, which keep their referrer);
//! * a narinfo re-imported (replaced) after the mark is younger than the
//!   cutoff and is refused;
//! * a root created during the sweep protects its items directly and their
//!   closure through the referrer rule.
//!
//! Applied to a batch as a whole, the rule drops from the batch every
//! member that a narinfo outside the batch references, and everything such
//! a member reaches. To delete a dead sub-graph at all under that rule the
//! sweep goes from referrers to referents (Kahn's topological order),
//! computed once after the mark, in memory, from the dead narinfos'
//! references ([`crate::gc_order`]): when a batch comes, the dead
//! narinfos that reference its members were deleted by earlier batches or
//! are in the same one. Each batch is one transaction of at most
//! [`GcOptions::batch_size`] narinfos, their reference rows and nar file
//! rows, and the items rows no longer needed. Dead narinfos on a reference
//! cycle (impossible for real store items, whose hashes are computed from
//! their references, but possible in hand-made data) have no place in that
//! order; a final transaction deletes the remaining dead narinfos that no
//! survivor reaches, all at once.
//!
//! A rerun after a kill recomputes the mark and finishes the job; without
//! concurrent changes GC deletes exactly the dead set.
//!
//! # Nar files
//!
//! A nar file is removed from [`GcOptions::storage`] only when the deletion
//! of its narinfos has committed, and only when no stored narinfo names its
//! URL any more (several narinfos may share one). The files that a batch
//! frees are removed during the *next* write transaction, after checking
//! again, under the writers' lock, that no narinfo imported in between
//! names them; so an import cannot slip between the check and the removal.
//! (An uploader that writes a nar file before its narinfo should likewise
//! check, inside the transaction that adds the narinfo, that the file is
//! still there.) A kill between a commit and the removal leaves orphaned
//! files, which are harmless and which `narherder check` reports. Files
//! already missing are fine. URLs are mapped to files by
//! [`crate::storage::NarStorage`]: never outside the storage directory.
//!
//! # Build logs
//!
//! After the sweep, the build logs under the storage directory that no
//! stored narinfo needs any more and that are older than the grace cutoff
//! are removed too ([`crate::build_logs`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::dialect::on_conn;
use crate::store::{key_hash, Store};
use crate::{Error, Result};

/// The grace period used when none is given: six hours.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(6 * 3600);
/// Narinfos deleted per transaction when no batch size is given.
pub const DEFAULT_BATCH: usize = 10_000;

/// How to collect garbage.
#[derive(Debug, Clone)]
pub struct GcOptions {
    /// Only report what would be deleted.
    pub dry_run: bool,
    /// Narinfos added within this period are live, with their closure.
    pub grace: Duration,
    /// Delete at most this many narinfos (the dry run ignores it).
    pub max_delete: Option<u64>,
    /// Narinfos deleted per transaction (at least 1).
    pub batch_size: usize,
    /// The nar storage directory; nar files of deleted narinfos, and build
    /// logs no narinfo needs, are removed from it. `None`: leave files
    /// alone.
    pub storage: Option<PathBuf>,
    /// Run even when no root is in force (which makes everything older than
    /// the grace period garbage).
    pub force: bool,
    /// How many store paths the report's sample holds.
    pub sample_size: usize,
}

impl Default for GcOptions {
    fn default() -> Self {
        GcOptions {
            dry_run: false,
            grace: DEFAULT_GRACE,
            max_delete: None,
            batch_size: DEFAULT_BATCH,
            storage: None,
            force: false,
            sample_size: 10,
        }
    }
}

/// Progress of a running collection, given to the progress callback after
/// the mark and after each batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcProgress {
    /// Dead narinfos found by the mark.
    pub dead: u64,
    /// Narinfos deleted so far.
    pub deleted: u64,
    /// Batches committed so far.
    pub batches: u64,
    /// Nar files removed from storage so far.
    pub files_removed: u64,
}

/// What a collection did (or, for a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GcReport {
    /// Stored narinfos that are live.
    pub live: u64,
    /// Stored narinfos that are dead (garbage).
    pub dead: u64,
    /// Narinfos deleted (dry run: that would be deleted, i.e. `dead`).
    pub deleted: u64,
    /// Nar files (distinct URLs) no stored narinfo names any more.
    pub nar_files_deleted: u64,
    /// Sum of `FileSize` of those nar files.
    pub bytes_freed: u64,
    /// Sum of `NarSize` of the deleted narinfos.
    pub nar_bytes_freed: u64,
    /// Nar files actually removed from the storage directory.
    pub files_removed: u64,
    /// Build logs removed from the storage directory's `log/` because no
    /// stored narinfo needs them any more ([`crate::build_logs`]); for a
    /// dry run, those that would be.
    pub logs_removed: u64,
    /// Dead narinfos kept: beyond `max_delete`, or protected by an import or
    /// a root that arrived during the collection.
    pub kept: u64,
    /// Time spent marking.
    pub mark_elapsed: Duration,
    /// Total time.
    pub elapsed: Duration,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Some store paths of dead narinfos.
    pub sample: Vec<String>,
}

/// Seconds since the Unix epoch.
pub(crate) fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

const TEMP_IDS: [&str; 4] = ["gc_live", "gc_dead", "gc_batch", "gc_next"];

/// Roots in force at `$1`.
const ROOTS_IN_FORCE: &str =
    "SELECT COUNT(*) FROM roots WHERE expires_at IS NULL OR expires_at > $1";

/// The mark: the closure of the unexpired roots' items (`$1` = now) and of
/// the narinfos added since `$2`.
const MARK: &str = "INSERT INTO gc_live (id) \
     WITH RECURSIVE live(id) AS ( \
         SELECT ri.item_id FROM root_items ri JOIN roots r ON r.id = ri.root_id \
          WHERE r.expires_at IS NULL OR r.expires_at > $1 \
       UNION \
         SELECT item_id FROM narinfos WHERE added_at >= $2 \
       UNION \
         SELECT f.to_id FROM live l JOIN narinfos m ON m.item_id = l.id \
         JOIN refs f ON f.from_id = m.id) \
     SELECT id FROM live";

/// The dead set: narinfos added before `$1` that are not live.
const DEAD: &str = "INSERT INTO gc_dead (id) SELECT n.id FROM narinfos n \
     WHERE n.added_at < $1 AND NOT EXISTS (SELECT 1 FROM gc_live l WHERE l.id = n.item_id)";

const COUNT_DEAD: &str = "SELECT COUNT(*), CAST(COALESCE(SUM(n.nar_size), 0) AS BIGINT) \
     FROM gc_dead d CROSS JOIN narinfos n WHERE n.id = d.id";
const COUNT_NARINFOS: &str = "SELECT COUNT(*) FROM narinfos";

/// Nar files (distinct URLs) of dead narinfos that no surviving narinfo
/// names, and their total `FileSize`.
const DEAD_FILES: &str = "SELECT COUNT(*), CAST(COALESCE(SUM(s), 0) AS BIGINT) FROM ( \
       SELECT f.url, MAX(f.file_size) AS s FROM gc_dead d \
       CROSS JOIN nar_files f WHERE f.narinfo_id = d.id \
       AND NOT EXISTS (SELECT 1 FROM nar_files g WHERE g.url = f.url \
         AND NOT EXISTS (SELECT 1 FROM gc_dead e WHERE e.id = g.narinfo_id)) \
       GROUP BY f.url) t";

/// The item keys of the dead narinfos (a dry run's build log figure).
const DEAD_KEYS: &str = "SELECT i.hash FROM gc_dead d CROSS JOIN narinfos n \
     CROSS JOIN items i WHERE n.id = d.id AND i.id = n.item_id";

const SAMPLE: &str = "SELECT i.hash, n.name FROM gc_dead d CROSS JOIN narinfos n \
     CROSS JOIN items i WHERE n.id = d.id AND i.id = n.item_id ORDER BY d.id LIMIT $1";

/// The dead narinfos and their items.
const DEAD_ITEMS: &str =
    "SELECT d.id, n.item_id FROM gc_dead d CROSS JOIN narinfos n WHERE n.id = d.id";

/// Dead narinfos whose references are read per statement.
const REFERENCES_PER_STATEMENT: usize = 20_000;

/// The items each dead narinfo with an id in `[$1, $2]` references, as one
/// text per narinfo; `concat` is the dialect's aggregate of them.
fn dead_references_sql(concat: &str) -> String {
    format!(
        "SELECT d.id, {concat} FROM gc_dead d CROSS JOIN refs r \
         WHERE d.id >= $1 AND d.id <= $2 AND r.from_id = d.id GROUP BY d.id"
    )
}

/// Drops from the batch what must stay whatever its referrers: what is not
/// stored any more or is younger than the cutoff `$1`, then ([`FILTER_ROOTED`])
/// what a root in force names. (Two statements: PostgreSQL cannot turn a
/// `NOT EXISTS` inside an `OR` into an anti-join, and evaluated it by
/// hashing the whole `narinfos` table for each batch.)
const FILTER_KEEP: &str = "DELETE FROM gc_batch WHERE \
     NOT EXISTS (SELECT 1 FROM narinfos n WHERE n.id = gc_batch.id AND n.added_at < $1)";
/// Drops from the batch what a root in force at `$1` names.
const FILTER_ROOTED: &str = "DELETE FROM gc_batch WHERE \
     EXISTS (SELECT 1 FROM narinfos m CROSS JOIN root_items ri CROSS JOIN roots ro \
       WHERE m.id = gc_batch.id AND ri.item_id = m.item_id AND ro.id = ri.root_id \
       AND (ro.expires_at IS NULL OR ro.expires_at > $1))";

/// The referrer rule for a batch as a whole: drop every member that a
/// narinfo outside the batch reaches.
const FILTER_REACHED: &str = "WITH RECURSIVE keep(id) AS ( \
         SELECT b.id FROM gc_batch b CROSS JOIN narinfos n WHERE n.id = b.id \
           AND EXISTS (SELECT 1 FROM refs r WHERE r.to_id = n.item_id \
             AND NOT EXISTS (SELECT 1 FROM gc_batch c WHERE c.id = r.from_id)) \
       UNION \
         SELECT m.id FROM keep k JOIN refs r ON r.from_id = k.id \
           JOIN narinfos m ON m.item_id = r.to_id) \
     DELETE FROM gc_batch WHERE id IN (SELECT id FROM keep)";

/// The items that the batch's deletion may leave unneeded (`gc_next`
/// holds item ids): the batch's own, and those it references that no
/// narinfo describes. (A referent described by a narinfo outside the batch
/// stays while that narinfo does, and is pruned with that narinfo's batch.)
const BATCH_NEXT: &str = "INSERT INTO gc_next (id) SELECT r.to_id FROM gc_batch b \
     CROSS JOIN refs r WHERE r.from_id = b.id \
       AND NOT EXISTS (SELECT 1 FROM narinfos m WHERE m.item_id = r.to_id) \
     UNION SELECT n.item_id FROM gc_batch b CROSS JOIN narinfos n WHERE n.id = b.id";
const BATCH_STATS: &str = "SELECT COUNT(*), CAST(COALESCE(SUM(n.nar_size), 0) AS BIGINT) \
     FROM gc_batch b CROSS JOIN narinfos n WHERE n.id = b.id";
const BATCH_FILES: &str =
    "SELECT f.url, f.file_size FROM gc_batch b CROSS JOIN nar_files f WHERE f.narinfo_id = b.id";
const DELETE_REFS: &str = "DELETE FROM refs WHERE from_id IN (SELECT id FROM gc_batch)";
const DELETE_FILES: &str = "DELETE FROM nar_files WHERE narinfo_id IN (SELECT id FROM gc_batch)";
const DELETE_NARINFOS: &str = "DELETE FROM narinfos WHERE id IN (SELECT id FROM gc_batch)";
/// Forgets the batch's items and its referents that no narinfo is and no
/// narinfo references any more (rooted items stay: see the migration's
/// trigger).
const PRUNE_ITEMS: &str = "DELETE FROM items WHERE id IN (SELECT id FROM gc_next) \
     AND NOT EXISTS (SELECT 1 FROM narinfos n WHERE n.item_id = items.id) \
     AND NOT EXISTS (SELECT 1 FROM refs r WHERE r.to_id = items.id)";
/// URLs among `gc_urls` that no stored narinfo names.
const UNUSED_URLS: &str = "SELECT u.t FROM gc_urls u WHERE NOT EXISTS \
     (SELECT 1 FROM nar_files f WHERE f.url = u.t)";
/// Dead narinfos still stored (for the final pass).
const REMAINING: &str = "SELECT d.id FROM gc_dead d \
     WHERE EXISTS (SELECT 1 FROM narinfos n WHERE n.id = d.id) ORDER BY d.id";

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Collects garbage (see the [module documentation](self)), calling
/// `progress` after the mark and after each committed batch.
///
/// The callback runs on the collecting task, between transactions (no lock
/// is held). It should return promptly: on a multi-threaded Tokio runtime a
/// callback that blocks for long must wrap the wait in
/// `tokio::task::block_in_place`, or tasks queued on its worker thread wait
/// with it.
///
/// Refuses to run, unless [`GcOptions::force`], when no root is in force
/// (there are none, or all have expired): everything older than the grace
/// period would be deleted.
///
/// Every run but a dry run is recorded in the GC log ([`crate::gc_runs`]),
/// failures included; a failure to record is logged, not returned.
pub async fn collect_garbage(
    store: &Store,
    options: &GcOptions,
    progress: &mut (dyn FnMut(&GcProgress) + Send),
) -> Result<GcReport> {
    let started_at = now_secs();
    let result = run_collection(store, options, progress).await;
    if !options.dry_run {
        let outcome = match &result {
            Ok(r) => Ok(r),
            Err(e) => Err(e.to_string()),
        };
        let outcome = outcome.as_ref().map_err(String::as_str).copied();
        if let Err(e) = crate::gc_runs::record(store, started_at, now_secs(), outcome).await {
            tracing::warn!("recording the garbage collection in gc_runs: {e}");
        }
    }
    result
}

async fn run_collection(
    store: &Store,
    options: &GcOptions,
    progress: &mut (dyn FnMut(&GcProgress) + Send),
) -> Result<GcReport> {
    let started = Instant::now();
    let now = now_secs();
    let grace = i64::try_from(options.grace.as_secs()).unwrap_or(i64::MAX);
    let cutoff = now.saturating_sub(grace);
    let batch_size = options.batch_size.max(1);
    let storage = match &options.storage {
        Some(dir) if !options.dry_run => Some(crate::storage::NarStorage::open(dir)?),
        _ => None,
    };
    let mut report = GcReport {
        dry_run: options.dry_run,
        ..GcReport::default()
    };
    // A dry run's build log figure treats the dead narinfos as deleted.
    let mut dead_keys: Option<std::collections::HashSet<Vec<u8>>> = None;

    on_conn!(store, |conn, d| {
        let in_force: i64 = sqlx::query_scalar(ROOTS_IN_FORCE)
            .bind(now)
            .fetch_one(&mut *conn)
            .await?;
        if in_force == 0 && !options.force {
            return Err(Error::InvalidArgument(
                "no GC root is in force (there are none, or all have expired): a collection \
                 would delete every narinfo older than the grace period; add roots \
                 (narherder roots add) or force it (--force)"
                    .into(),
            ));
        }
        for pragma in d::BULK_ON {
            sqlx::query(pragma).execute(&mut *conn).await?;
        }
        for t in TEMP_IDS {
            sqlx::query(&format!("DROP TABLE IF EXISTS {t}"))
                .execute(&mut *conn)
                .await?;
            sqlx::query(&d::temp_ids_ddl(t)).execute(&mut *conn).await?;
        }
        sqlx::query("DROP TABLE IF EXISTS gc_urls")
            .execute(&mut *conn)
            .await?;
        sqlx::query(&d::temp_texts_ddl("gc_urls"))
            .execute(&mut *conn)
            .await?;

        // Mark.
        sqlx::query(MARK)
            .bind(now)
            .bind(cutoff)
            .execute(&mut *conn)
            .await?;
        d::analyze_temp(&mut conn, "gc_live").await?;
        sqlx::query(DEAD).bind(cutoff).execute(&mut *conn).await?;
        d::analyze_temp(&mut conn, "gc_dead").await?;
        report.mark_elapsed = started.elapsed();
        let (dead, dead_nar): (i64, i64) = sqlx::query_as(COUNT_DEAD).fetch_one(&mut *conn).await?;
        let total: i64 = sqlx::query_scalar(COUNT_NARINFOS)
            .fetch_one(&mut *conn)
            .await?;
        report.dead = to_u64(dead);
        report.live = to_u64(total).saturating_sub(report.dead);
        let sample: Vec<(Vec<u8>, String)> = sqlx::query_as(SAMPLE)
            .bind(i64::try_from(options.sample_size).unwrap_or(i64::MAX))
            .fetch_all(&mut *conn)
            .await?;
        for (key, name) in sample {
            report
                .sample
                .push(format!("{}/{}-{name}", store.store_dir(), key_hash(&key)?));
        }
        progress(&GcProgress {
            dead: report.dead,
            deleted: 0,
            batches: 0,
            files_removed: 0,
        });

        if options.dry_run {
            let (files, bytes): (i64, i64) =
                sqlx::query_as(DEAD_FILES).fetch_one(&mut *conn).await?;
            report.deleted = report.dead;
            report.nar_bytes_freed = to_u64(dead_nar);
            report.nar_files_deleted = to_u64(files);
            report.bytes_freed = to_u64(bytes);
            if options.storage.is_some() {
                let keys: Vec<Vec<u8>> =
                    sqlx::query_scalar(DEAD_KEYS).fetch_all(&mut *conn).await?;
                dead_keys = Some(keys.into_iter().collect());
            }
        } else {
            // The sweep's order, from the dead narinfos' references.
            let dead_items: Vec<(i64, i64)> =
                sqlx::query_as(DEAD_ITEMS).fetch_all(&mut *conn).await?;
            let mut graph = crate::gc_order::DeadGraph::new(dead_items)?;
            let references = dead_references_sql(&d::ids_concat("r.to_id"));
            for (first, last) in graph.id_ranges(REFERENCES_PER_STATEMENT) {
                let rows: Vec<(i64, String)> = sqlx::query_as(&references)
                    .bind(first)
                    .bind(last)
                    .fetch_all(&mut *conn)
                    .await?;
                for (from, items) in rows {
                    graph.add_references(from, &items)?;
                }
            }
            let mut order = graph.order().into_iter();
            let mut pending_files: Vec<String> = Vec::new();
            let mut batches = 0u64;
            let mut final_pass_done = false;
            loop {
                let room = options.max_delete.map_or(usize::MAX, |m| {
                    usize::try_from(m.saturating_sub(report.deleted)).unwrap_or(usize::MAX)
                });
                let mut batch: Vec<i64> = order.by_ref().take(batch_size.min(room)).collect();
                if batch.is_empty() && room > 0 && !final_pass_done {
                    // What the order left out (cycles) or the rule kept:
                    // the whole rest at once, if it fits the budget.
                    final_pass_done = true;
                    let rest: Vec<i64> =
                        sqlx::query_scalar(REMAINING).fetch_all(&mut *conn).await?;
                    if rest.len() <= room {
                        batch = rest;
                    }
                }
                if batch.is_empty() && pending_files.is_empty() {
                    break;
                }

                let _guard = store.lock_writes().await;
                let mut tx = d::begin_write(&mut conn).await?;
                // The previous batch's nar files, now that its deletion has
                // committed, unless an import has named them since.
                if !pending_files.is_empty() {
                    sqlx::query(&d::fill_texts_sql("gc_urls"))
                        .bind(d::texts_arg(&pending_files))
                        .execute(&mut *tx)
                        .await?;
                    let unused: Vec<String> =
                        sqlx::query_scalar(UNUSED_URLS).fetch_all(&mut *tx).await?;
                    sqlx::query("DELETE FROM gc_urls").execute(&mut *tx).await?;
                    pending_files.clear();
                    if let Some(root) = &storage {
                        for url in &unused {
                            match root.remove(url) {
                                Ok(true) => report.files_removed += 1,
                                Ok(false) => {}
                                Err(e) => tracing::warn!("gc: keeping nar file: {e}"),
                            }
                        }
                    }
                }
                if !batch.is_empty() {
                    sqlx::query(&d::fill_ids_sql("gc_batch"))
                        .bind(d::ids_arg(&batch))
                        .execute(&mut *tx)
                        .await?;
                    d::analyze_temp(&mut tx, "gc_batch").await?;
                    sqlx::query(FILTER_KEEP)
                        .bind(cutoff)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(FILTER_ROOTED)
                        .bind(now_secs())
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(FILTER_REACHED).execute(&mut *tx).await?;
                    sqlx::query(BATCH_NEXT).execute(&mut *tx).await?;
                    d::analyze_temp(&mut tx, "gc_next").await?;
                    let (count, nar): (i64, i64) =
                        sqlx::query_as(BATCH_STATS).fetch_one(&mut *tx).await?;
                    let files: Vec<(String, Option<i64>)> =
                        sqlx::query_as(BATCH_FILES).fetch_all(&mut *tx).await?;
                    sqlx::query(DELETE_REFS).execute(&mut *tx).await?;
                    sqlx::query(DELETE_FILES).execute(&mut *tx).await?;
                    sqlx::query(DELETE_NARINFOS).execute(&mut *tx).await?;
                    sqlx::query(PRUNE_ITEMS).execute(&mut *tx).await?;
                    if !files.is_empty() {
                        let mut sizes: HashMap<String, u64> = HashMap::new();
                        for (url, size) in files {
                            let e = sizes.entry(url).or_insert(0);
                            *e = (*e).max(size.map_or(0, to_u64));
                        }
                        let urls: Vec<String> = sizes.keys().cloned().collect();
                        sqlx::query(&d::fill_texts_sql("gc_urls"))
                            .bind(d::texts_arg(&urls))
                            .execute(&mut *tx)
                            .await?;
                        d::analyze_temp(&mut tx, "gc_urls").await?;
                        let gone: Vec<String> =
                            sqlx::query_scalar(UNUSED_URLS).fetch_all(&mut *tx).await?;
                        sqlx::query("DELETE FROM gc_urls").execute(&mut *tx).await?;
                        report.nar_files_deleted += gone.len() as u64;
                        report.bytes_freed += gone
                            .iter()
                            .map(|u| sizes.get(u).copied().unwrap_or(0))
                            .sum::<u64>();
                        pending_files.extend(gone);
                    }
                    sqlx::query("DELETE FROM gc_batch")
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("DELETE FROM gc_next").execute(&mut *tx).await?;
                    report.deleted += to_u64(count);
                    report.nar_bytes_freed += to_u64(nar);
                }
                tx.commit().await?;
                drop(_guard);
                batches += 1;
                progress(&GcProgress {
                    dead: report.dead,
                    deleted: report.deleted,
                    batches,
                    files_removed: report.files_removed,
                });
            }
            report.kept = report.dead.saturating_sub(report.deleted);
        }
        for t in TEMP_IDS.iter().chain(&["gc_urls"]) {
            sqlx::query(&format!("DROP TABLE IF EXISTS {t}"))
                .execute(&mut *conn)
                .await?;
        }
        for pragma in d::BULK_OFF {
            sqlx::query(pragma).execute(&mut *conn).await?;
        }
    });
    // Build logs, now that the narinfos that needed them are gone.
    if let Some(root) = options.storage.as_deref() {
        report.logs_removed =
            crate::build_logs::collect(store, root, cutoff, dead_keys.as_ref()).await?;
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

/// [`collect_garbage`] without a progress callback.
pub async fn gc(store: &Store, options: &GcOptions) -> Result<GcReport> {
    collect_garbage(store, options, &mut |_| {}).await
}
