//! `narherder_import_run`: importing narinfo files and directories of them
//! (the layouts of `guix publish --cache`, the Guix Build Coordinator and
//! Nix `file://` caches) into a store.

use std::sync::Arc;

use super::error::narherder_error;
use super::keys::{keyring_ref, narherder_keyring};
use super::store::{narherder_store, with_store};
use super::{
    check_stats_out, guard, micros, narherder_slice, narherder_status, opt_str_arg, read_options,
    strs_arg, write_stats, Failure, Outcome,
};
use crate::import::{import, BulkLoad, ImportOptions, ImportSource, NoProgress, Verifier};
use crate::signing::verify_narinfo;
use crate::storage::{NarFilesMode, NarStorage};

/// What an import does with the nar files next to the narinfos (stable
/// numbers).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum narherder_nar_files {
    /// Leave them where they are.
    Leave = 0,
    /// Copy them into the storage directory.
    Copy = 1,
    /// Hard-link them into the storage directory (copying across file
    /// systems).
    Hardlink = 2,
}

/// When an import runs as a bulk load (the reverse-edge index rebuilt once
/// at the end instead of maintained row by row; stable numbers).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum narherder_bulk_load {
    /// When the store holds no narinfo yet (the first, large import).
    Auto = 0,
    /// Always.
    Always = 1,
    /// Never (small imports into a large store).
    Never = 2,
}

/// How to import. Pass `sizeof(narherder_import_options)` next to it; zero
/// (or NULL) fields take their defaults, and fields are only ever added at
/// the end.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct narherder_import_options {
    /// Narinfos per transaction; 0: the default (5000).
    pub batch_size: usize,
    /// Replace a different narinfo stored under the same hash (otherwise
    /// such a narinfo is rejected).
    pub replace: bool,
    /// Parser threads; 0: the default (cores - 1, at most 4).
    pub parsers: u32,
    /// The nar storage directory (UTF-8, `storage_dir_len` bytes); NULL:
    /// none (nar files are not touched).
    pub storage_dir: *const u8,
    /// Length of `storage_dir`.
    pub storage_dir_len: usize,
    /// A [`narherder_nar_files`] (ignored without a storage directory).
    pub nar_files: u32,
    /// When not NULL, only narinfos with a signature valid for this keyring
    /// are imported; the others are rejected. Borrowed for the call.
    pub keyring: *const narherder_keyring,
    /// Read, parse and check everything but write nothing (the narinfos
    /// that pass are counted in `checked`).
    pub dry_run: bool,
    /// A [`narherder_bulk_load`].
    pub bulk_load: u32,
}

/// What an import did. Pass `sizeof(narherder_import_stats)` next to it;
/// fields are only ever added at the end.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct narherder_import_stats {
    /// Files read.
    pub files: u64,
    /// Narinfos stored that were not there before.
    pub inserted: u64,
    /// Narinfos already stored with the same text.
    pub unchanged: u64,
    /// Narinfos that replaced a different stored text.
    pub replaced: u64,
    /// Narinfos (or whole files) rejected: malformed, conflicting, another
    /// store directory, or not validly signed.
    pub rejected: u64,
    /// Nar files copied or linked into the storage directory.
    pub nar_files_placed: u64,
    /// Nar files already in the storage directory.
    pub nar_files_present: u64,
    /// Nar files that were to be placed but were not found.
    pub nar_files_missing: u64,
    /// Wall-clock time in microseconds.
    pub elapsed_us: u64,
    /// Narinfos that passed every check in a dry run (nothing written).
    pub checked: u64,
    /// Part of `elapsed_us` spent writing to the database.
    pub write_us: u64,
    /// Part of `elapsed_us` spent rebuilding the reverse-edge index at the
    /// end of a bulk load.
    pub index_us: u64,
}

/// Imports `count` paths: directories (walked for `*.narinfo`) and files
/// (one or more narinfos separated by blank lines). Bad narinfos do not
/// fail the call: they are counted in `stats_out->rejected`, and the rest
/// is imported in transactions of `batch_size`. The call fails only when
/// the store does (or on bad arguments). `options` may be NULL. On success
/// the first `stats_size` bytes of `*stats_out` receive the statistics.
///
/// # Safety
///
/// `store` is NULL or a store not yet freed; `paths` is NULL or points to
/// `count` slices of readable bytes; `options` is NULL or points to
/// `options_size` readable bytes; `stats_out` points to `stats_size`
/// writable bytes; `error_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn narherder_import_run(
    store: *const narherder_store,
    paths: *const narherder_slice,
    count: usize,
    options: *const narherder_import_options,
    options_size: usize,
    stats_out: *mut narherder_import_stats,
    stats_size: usize,
    error_out: *mut *mut narherder_error,
) -> narherder_status {
    // SAFETY: forwarded contract.
    unsafe {
        guard(error_out, || -> Outcome {
            check_stats_out(stats_out, stats_size, "stats_out")?;
            let sources: Vec<ImportSource> = strs_arg(paths, count, "paths")?
                .into_iter()
                .map(|p| ImportSource::Path(p.into()))
                .collect();
            let mut opts = ImportOptions::default();
            if let Some(o) = read_options(options, options_size, "options")? {
                if o.batch_size > 0 {
                    opts.batch_size = o.batch_size;
                }
                opts.replace = o.replace;
                if o.parsers > 0 {
                    opts.parsers = usize::try_from(o.parsers).unwrap_or(1);
                }
                opts.nar_files = match o.nar_files {
                    0 => NarFilesMode::Leave,
                    1 => NarFilesMode::Copy,
                    2 => NarFilesMode::Hardlink,
                    m => {
                        return Err(Failure::invalid(format!(
                            "options.nar_files {m}: expected NARHERDER_NAR_FILES_LEAVE (0), _COPY (1) or _HARDLINK (2)"
                        )))
                    }
                };
                if let Some(dir) =
                    opt_str_arg(o.storage_dir, o.storage_dir_len, "options.storage_dir")?
                {
                    opts.storage = Some(NarStorage::open(dir)?);
                }
                opts.dry_run = o.dry_run;
                opts.bulk_load = match o.bulk_load {
                    0 => BulkLoad::Auto,
                    1 => BulkLoad::Always,
                    2 => BulkLoad::Never,
                    m => {
                        return Err(Failure::invalid(format!(
                            "options.bulk_load {m}: expected NARHERDER_BULK_LOAD_AUTO (0), _ALWAYS (1) or _NEVER (2)"
                        )))
                    }
                };
                if let Some(keys) = keyring_ref(o.keyring) {
                    // The keyring is borrowed for the call only: copy it.
                    let keys = keys.clone();
                    let verifier: Verifier = Arc::new(move |n| verify_narinfo(n, &keys));
                    opts.verify = Some(verifier);
                }
            }
            let report = with_store(store, |s| {
                Ok(s.block_on(import(&s.store, &sources, &opts, Arc::new(NoProgress)))?)
            })?;
            let stats = narherder_import_stats {
                files: report.files,
                inserted: report.new,
                unchanged: report.unchanged,
                replaced: report.replaced,
                rejected: u64::try_from(report.rejections.len()).unwrap_or(u64::MAX),
                nar_files_placed: report.nar_files_placed,
                nar_files_present: report.nar_files_present,
                nar_files_missing: report.nar_files_missing,
                elapsed_us: micros(report.elapsed),
                checked: report.checked,
                write_us: micros(report.write_time),
                index_us: micros(report.index_time),
            };
            write_stats(stats_out, stats_size, &stats);
            Ok(())
        })
    }
}
