//! `narherder_gc_run`: garbage collection (mark from the roots and recent
//! additions over references, sweep the rest in bounded batches).

use std::path::PathBuf;
use std::time::Duration;

use super::error::narherder_error;
use super::store::{narherder_store, with_store};
use super::{
    check_stats_out, guard, micros, narherder_status, opt_str_arg, read_options, write_stats,
    Outcome,
};
use crate::gc::{gc, GcOptions};

/// How to collect garbage. Pass `sizeof(narherder_gc_options)` next to it;
/// NULL means all defaults (a real run, 6 hours of grace, no limit, nar
/// files left alone, refusing to run without a root in force). Fields are
/// only ever added at the end (with 0 meaning their default).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct narherder_gc_options {
    /// Only report what would be deleted.
    pub dry_run: bool,
    /// Narinfos added within this many seconds are live, with their
    /// closure. Negative: the default (6 hours); 0: no grace period.
    pub grace_seconds: i64,
    /// Delete at most this many narinfos; 0: no limit.
    pub max_delete: u64,
    /// The nar storage directory (UTF-8, `storage_dir_len` bytes): nar
    /// files of deleted narinfos are removed from it. NULL: leave files
    /// alone.
    pub storage_dir: *const u8,
    /// Length of `storage_dir`.
    pub storage_dir_len: usize,
    /// Run even when no root is in force (everything older than the grace
    /// period is then garbage). Without it such a run fails with
    /// `NARHERDER_STATUS_INVALID_ARGUMENT`.
    pub force: bool,
    /// Narinfos deleted per transaction; 0: the default (10000).
    pub batch_size: usize,
}

/// What a collection did (or, for a dry run, would do). Pass
/// `sizeof(narherder_gc_stats)` next to it; fields are only ever added at
/// the end.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct narherder_gc_stats {
    /// Stored narinfos that are live.
    pub live: u64,
    /// Stored narinfos that are garbage.
    pub dead: u64,
    /// Narinfos deleted (dry run: that would be).
    pub deleted: u64,
    /// Nar files (distinct URLs) no stored narinfo names any more.
    pub nar_files_deleted: u64,
    /// Sum of `FileSize` of those nar files.
    pub bytes_freed: u64,
    /// Sum of `NarSize` of the deleted narinfos.
    pub nar_bytes_freed: u64,
    /// Nar files removed from the storage directory.
    pub files_removed: u64,
    /// Dead narinfos kept (beyond `max_delete`, or protected by an import
    /// or a root that arrived during the collection).
    pub kept: u64,
    /// Time spent marking, in microseconds.
    pub mark_us: u64,
    /// Total time, in microseconds.
    pub elapsed_us: u64,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Build logs removed from the storage directory because no narinfo
    /// needs them any more (dry run: that would be).
    pub logs_removed: u64,
}

/// Collects garbage: live = the closure of the roots in force over
/// references, plus everything added within the grace period and its
/// closure; the rest is deleted in bounded batches (with its nar files
/// when a storage directory is given). `options` may be NULL (defaults).
/// On success the first `stats_size` bytes of `*stats_out` receive the
/// statistics.
///
/// # Safety
///
/// `store` is NULL or a store not yet freed; `options` is NULL or points to
/// `options_size` readable bytes; `stats_out` points to `stats_size`
/// writable bytes; `error_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn narherder_gc_run(
    store: *const narherder_store,
    options: *const narherder_gc_options,
    options_size: usize,
    stats_out: *mut narherder_gc_stats,
    stats_size: usize,
    error_out: *mut *mut narherder_error,
) -> narherder_status {
    // SAFETY: forwarded contract.
    unsafe {
        guard(error_out, || -> Outcome {
            check_stats_out(stats_out, stats_size, "stats_out")?;
            let mut opts = GcOptions::default();
            if let Some(o) = read_options(options, options_size, "options")? {
                opts.dry_run = o.dry_run;
                if let Ok(secs) = u64::try_from(o.grace_seconds) {
                    opts.grace = Duration::from_secs(secs);
                }
                opts.max_delete = (o.max_delete > 0).then_some(o.max_delete);
                opts.storage =
                    opt_str_arg(o.storage_dir, o.storage_dir_len, "options.storage_dir")?
                        .map(PathBuf::from);
                opts.force = o.force;
                if o.batch_size > 0 {
                    opts.batch_size = o.batch_size;
                }
            }
            let report = with_store(store, |s| Ok(s.block_on(gc(&s.store, &opts))?))?;
            let stats = narherder_gc_stats {
                live: report.live,
                dead: report.dead,
                deleted: report.deleted,
                nar_files_deleted: report.nar_files_deleted,
                bytes_freed: report.bytes_freed,
                nar_bytes_freed: report.nar_bytes_freed,
                files_removed: report.files_removed,
                kept: report.kept,
                mark_us: micros(report.mark_elapsed),
                elapsed_us: micros(report.elapsed),
                dry_run: report.dry_run,
                logs_removed: report.logs_removed,
            };
            write_stats(stats_out, stats_size, &stats);
            Ok(())
        })
    }
}
