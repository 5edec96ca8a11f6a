//! The log of garbage collections: one `gc_runs` row per collection that
//! deleted (or tried to delete) something, written by [`crate::gc`] at the
//! end of every run whoever started it (CLI, admin API, C ABI, Guile), and
//! read by the status page and `narherder doctor`. Dry runs change nothing
//! and are not recorded. The log keeps the last [`KEEP`] runs.

use crate::dialect::on_conn;
use crate::gc::GcReport;
use crate::store::Store;
use crate::Result;

/// How many runs the log keeps (older rows are dropped when a run is
/// recorded).
pub const KEEP: i64 = 1000;

/// One recorded collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcRun {
    /// When it started, in seconds since the Unix epoch.
    pub started_at: i64,
    /// When it ended, in seconds since the Unix epoch.
    pub finished_at: i64,
    /// Live narinfos found by the mark.
    pub live: u64,
    /// Dead narinfos found by the mark.
    pub dead: u64,
    /// Narinfos deleted.
    pub deleted: u64,
    /// Nar files (distinct URLs) no narinfo names any more.
    pub nar_files_deleted: u64,
    /// Sum of `FileSize` of those nar files.
    pub bytes_freed: u64,
    /// Sum of `NarSize` of the deleted narinfos.
    pub nar_bytes_freed: u64,
    /// Nar files removed from the storage directory.
    pub files_removed: u64,
    /// Dead narinfos kept (limit reached or protected meanwhile).
    pub kept: u64,
    /// Why the run failed; `None` when it succeeded.
    pub error: Option<String>,
}

const INSERT: &str = "INSERT INTO gc_runs (started_at, finished_at, live, dead, deleted, \
     nar_files_deleted, bytes_freed, nar_bytes_freed, files_removed, kept, error) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
const PRUNE: &str = "DELETE FROM gc_runs WHERE id <= (SELECT MAX(id) FROM gc_runs) - $1";
const RECENT: &str = "SELECT started_at, finished_at, live, dead, deleted, nar_files_deleted, \
     bytes_freed, nar_bytes_freed, files_removed, kept, error FROM gc_runs \
     ORDER BY started_at DESC, id DESC LIMIT $1";

fn i(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn u(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Records a finished collection (`Ok`: its report; `Err`: the error
/// message, with whatever counts are known, usually none).
pub async fn record(
    store: &Store,
    started_at: i64,
    finished_at: i64,
    outcome: std::result::Result<&GcReport, &str>,
) -> Result<()> {
    let empty = GcReport::default();
    let (r, error) = match outcome {
        Ok(r) => (r, None),
        Err(e) => (&empty, Some(e.to_string())),
    };
    let _guard = store.lock_writes().await;
    on_conn!(store, |conn, d| {
        let mut tx = d::begin_write(&mut conn).await?;
        sqlx::query(INSERT)
            .bind(started_at)
            .bind(finished_at)
            .bind(i(r.live))
            .bind(i(r.dead))
            .bind(i(r.deleted))
            .bind(i(r.nar_files_deleted))
            .bind(i(r.bytes_freed))
            .bind(i(r.nar_bytes_freed))
            .bind(i(r.files_removed))
            .bind(i(r.kept))
            .bind(error)
            .execute(&mut *tx)
            .await?;
        sqlx::query(PRUNE).bind(KEEP).execute(&mut *tx).await?;
        tx.commit().await?;
    });
    Ok(())
}

type Row = (
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    Option<String>,
);

/// The last `limit` recorded collections, newest first.
pub async fn recent(store: &Store, limit: u32) -> Result<Vec<GcRun>> {
    let rows: Vec<Row> = on_conn!(store, |conn, _d| {
        sqlx::query_as(RECENT)
            .bind(i64::from(limit))
            .fetch_all(&mut *conn)
            .await?
    });
    Ok(rows
        .into_iter()
        .map(|r| GcRun {
            started_at: r.0,
            finished_at: r.1,
            live: u(r.2),
            dead: u(r.3),
            deleted: u(r.4),
            nar_files_deleted: u(r.5),
            bytes_freed: u(r.6),
            nar_bytes_freed: u(r.7),
            files_removed: u(r.8),
            kept: u(r.9),
            error: r.10,
        })
        .collect())
}
