//! Request analytics: `narherder_analytics_record` writes a batch of
//! requests (narinfo hits and misses, nar downloads) in one transaction;
//! `narherder_analytics_read` reads the counts back.

use std::ffi::{c_char, CString};

use super::error::narherder_error;
use super::store::{narherder_store, with_store};
use super::{
    bytes_arg, check_out, guard, guard_value, narherder_status, str_arg, Failure, Outcome,
};
use crate::analytics::{report, Analytics};
use crate::changes::item_key;

/// Kinds of request (stable numbers).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum narherder_request_kind {
    /// A narinfo request answered with the narinfo.
    NarinfoHit = 0,
    /// A narinfo request answered with 404.
    NarinfoMiss = 1,
    /// A nar file download.
    NarDownload = 2,
}

/// One request to count: a [`narherder_request_kind`] and the hash part
/// asked for (`hash_len` bytes). For a miss, a string that is no hash part
/// is counted in the day's total only; for a hit it is an invalid
/// argument; for a download it counts in the total only (an unknown item).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct narherder_request {
    /// A [`narherder_request_kind`].
    pub kind: u32,
    /// The hash part.
    pub hash: *const u8,
    /// Its length in bytes.
    pub hash_len: usize,
}

/// Counts of the last days as read by [`narherder_analytics_read`]: day
/// totals over all nodes, the most requested items and the most missed
/// hashes. Strings are NUL-terminated, borrowed from the report, valid
/// until [`narherder_analytics_report_free`]; out-of-range getters return
/// NULL or 0.
///
/// Thread-safety: immutable; may be read from several threads at once.
/// Free from any thread.
pub struct narherder_analytics_report {
    _private: [u8; 0],
}

struct ReportHandle {
    hits: u64,
    misses: u64,
    downloads: u64,
    never_requested: u64,
    top: Vec<(CString, u64, u64)>,
    missed: Vec<(CString, u64)>,
}

/// Records a batch of `count` requests for the node `node` (a name of
/// `node_len` bytes written into every row, e.g. the host name): counted
/// in memory, then written in one transaction (per item and day, misses
/// per hash and day, day totals). Batch requests on the caller's side:
/// never one call per request. Hits of items not stored are dropped by the
/// database write (a client cannot grow the tables with made-up hashes).
///
/// # Safety
///
/// `store` is NULL or a store not yet freed; `node` points to `node_len`
/// readable bytes; `requests` is NULL or points to `count` requests, each
/// hash readable; `error_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn narherder_analytics_record(
    store: *const narherder_store,
    node: *const u8,
    node_len: usize,
    requests: *const narherder_request,
    count: usize,
    error_out: *mut *mut narherder_error,
) -> narherder_status {
    // SAFETY: forwarded contract.
    unsafe {
        guard(error_out, || -> Outcome {
            let node = str_arg(node, node_len, "node")?;
            if node.is_empty() {
                return Err(Failure::invalid("node: empty name"));
            }
            if requests.is_null() && count > 0 {
                return Err(Failure::null("requests"));
            }
            let requests: &[narherder_request] = if count == 0 {
                &[]
            } else {
                std::slice::from_raw_parts(requests, count)
            };
            let counters = Analytics::new(node);
            for (i, r) in requests.iter().enumerate() {
                let hash = bytes_arg(r.hash, r.hash_len, "requests[].hash")?;
                let key = std::str::from_utf8(hash).ok().and_then(item_key);
                match r.kind {
                    0 => {
                        let key = key.ok_or_else(|| {
                            Failure::invalid(format!(
                                "requests[{i}]: a hit needs a 32-character hash part"
                            ))
                        })?;
                        counters.narinfo_hit(&key);
                    }
                    1 => counters.narinfo_miss(key.as_ref()),
                    2 => counters.nar_download(key.as_ref()),
                    k => {
                        return Err(Failure::invalid(format!(
                        "requests[{i}].kind {k}: expected NARHERDER_REQUEST_KIND_NARINFO_HIT (0), \
                             _NARINFO_MISS (1) or _NAR_DOWNLOAD (2)"
                    )))
                    }
                }
            }
            with_store(store, |s| {
                s.block_on(counters.flush(&s.store))?;
                Ok(())
            })
        })
    }
}

/// Reads the analytics of the last `days` days (today included; 0 counts
/// as 1), all nodes: totals, the `top` most requested items and the `top`
/// most missed hashes. On success `*report_out` receives a report to free
/// with [`narherder_analytics_report_free`].
///
/// # Safety
///
/// `store` is NULL or a store not yet freed; `report_out` is writable;
/// `error_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn narherder_analytics_read(
    store: *const narherder_store,
    days: u32,
    top: u32,
    report_out: *mut *mut narherder_analytics_report,
    error_out: *mut *mut narherder_error,
) -> narherder_status {
    // SAFETY: forwarded contract.
    unsafe {
        guard(error_out, || -> Outcome {
            check_out(report_out, "report_out")?;
            let r = with_store(store, |s| Ok(s.block_on(report(&s.store, days, top))?))?;
            let c = |s: &str| CString::new(s).unwrap_or_default();
            let handle = ReportHandle {
                hits: r.totals.narinfo_hits,
                misses: r.totals.narinfo_misses,
                downloads: r.totals.nar_downloads,
                never_requested: r.never_requested,
                top: r
                    .top_items
                    .iter()
                    .map(|i| (c(&i.hash), i.narinfo_hits, i.nar_downloads))
                    .collect(),
                missed: r
                    .top_missed
                    .iter()
                    .map(|m| (c(&m.hash), m.misses))
                    .collect(),
            };
            *report_out = Box::into_raw(Box::new(handle)).cast();
            Ok(())
        })
    }
}

/// # Safety
///
/// `report` is NULL or a live report.
unsafe fn rep<'a>(report: *const narherder_analytics_report) -> Option<&'a ReportHandle> {
    // SAFETY: by the contract.
    unsafe { report.cast::<ReportHandle>().as_ref() }
}

/// Narinfo hits in the period (all nodes).
///
/// # Safety
///
/// `report` is NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn narherder_analytics_report_narinfo_hits(
    report: *const narherder_analytics_report,
) -> u64 {
    // SAFETY: forwarded contract.
    guard_value(0, || unsafe { rep(report) }.map_or(0, |r| r.hits))
}

/// Narinfo misses in the period (all nodes).
///
/// # Safety
///
/// `report` is NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn narherder_analytics_report_narinfo_misses(
    report: *const narherder_analytics_report,
) -> u64 {
    // SAFETY: forwarded contract.
    guard_value(0, || unsafe { rep(report) }.map_or(0, |r| r.misses))
}

/// Nar downloads in the period (all nodes).
///
/// # Safety
///
/// `report` is NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn narherder_analytics_report_nar_downloads(
    report: *const narherder_analytics_report,
) -> u64 {
    // SAFETY: forwarded contract.
    guard_value(0, || unsafe { rep(report) }.map_or(0, |r| r.downloads))
}

/// Stored items nobody requested in the period.
///
/// # Safety
///
/// `report` is NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn narherder_analytics_report_never_requested(
    report: *const narherder_analytics_report,
) -> u64 {
    // SAFETY: forwarded contract.
    guard_value(0, || {
        unsafe { rep(report) }.map_or(0, |r| r.never_requested)
    })
}

/// The number of entries of the most-requested list.
///
/// # Safety
///
/// `report` is NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn narherder_analytics_report_top_count(
    report: *const narherder_analytics_report,
) -> usize {
    // SAFETY: forwarded contract.
    guard_value(0, || unsafe { rep(report) }.map_or(0, |r| r.top.len()))
}

/// The hash part of the `index`-th most requested item.
///
/// # Safety
///
/// `report` is NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn narherder_analytics_report_top_hash(
    report: *const narherder_analytics_report,
    index: usize,
) -> *const c_char {
    guard_value(std::ptr::null(), || {
        // SAFETY: forwarded contract.
        unsafe { rep(report) }
            .and_then(|r| r.top.get(index))
            .map_or(std::ptr::null(), |t| t.0.as_ptr())
    })
}

/// The narinfo hits of the `index`-th most requested item.
///
/// # Safety
///
/// `report` is NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn narherder_analytics_report_top_narinfo_hits(
    report: *const narherder_analytics_report,
    index: usize,
) -> u64 {
    guard_value(0, || {
        // SAFETY: forwarded contract.
        unsafe { rep(report) }
            .and_then(|r| r.top.get(index))
            .map_or(0, |t| t.1)
    })
}

/// The nar downloads of the `index`-th most requested item.
///
/// # Safety
///
/// `report` is NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn narherder_analytics_report_top_nar_downloads(
    report: *const narherder_analytics_report,
    index: usize,
) -> u64 {
    guard_value(0, || {
        // SAFETY: forwarded contract.
        unsafe { rep(report) }
            .and_then(|r| r.top.get(index))
            .map_or(0, |t| t.2)
    })
}

/// The number of entries of the most-missed list.
///
/// # Safety
///
/// `report` is NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn narherder_analytics_report_missed_count(
    report: *const narherder_analytics_report,
) -> usize {
    // SAFETY: forwarded contract.
    guard_value(0, || unsafe { rep(report) }.map_or(0, |r| r.missed.len()))
}

/// The `index`-th most missed hash part.
///
/// # Safety
///
/// `report` is NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn narherder_analytics_report_missed_hash(
    report: *const narherder_analytics_report,
    index: usize,
) -> *const c_char {
    guard_value(std::ptr::null(), || {
        // SAFETY: forwarded contract.
        unsafe { rep(report) }
            .and_then(|r| r.missed.get(index))
            .map_or(std::ptr::null(), |m| m.0.as_ptr())
    })
}

/// How often the `index`-th most missed hash was asked for.
///
/// # Safety
///
/// `report` is NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn narherder_analytics_report_missed_misses(
    report: *const narherder_analytics_report,
    index: usize,
) -> u64 {
    guard_value(0, || {
        // SAFETY: forwarded contract.
        unsafe { rep(report) }
            .and_then(|r| r.missed.get(index))
            .map_or(0, |m| m.1)
    })
}

/// Frees a report. NULL is allowed. Any thread.
///
/// # Safety
///
/// `report` is NULL or a report not yet freed; it is not used again.
#[no_mangle]
pub unsafe extern "C" fn narherder_analytics_report_free(report: *mut narherder_analytics_report) {
    guard_value((), || {
        if !report.is_null() {
            // SAFETY: by the contract, report came from analytics_report.
            drop(unsafe { Box::from_raw(report.cast::<ReportHandle>()) });
        }
    })
}
