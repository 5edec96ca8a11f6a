//! `narherder_narinfo_batch`: the answers to many lookups made in one call
//! (`narherder_narinfo_get_many`), and `narherder_narinfo_exists_many`.

use super::error::narherder_error;
use super::narinfo::{narherder_narinfo, NarinfoHandle};
use super::store::{narherder_store, with_store};
use super::{
    check_out, guard, guard_value, narherder_slice, narherder_status, strs_arg, Failure, Outcome,
};

/// The answers to a `narherder_narinfo_get_many` call: entry *i* answers
/// the *i*-th hash asked for, a narinfo or NULL (a miss). The narinfos are
/// borrowed from the batch: valid until [`narherder_narinfo_batch_free`],
/// never freed on their own.
///
/// Thread-safety: immutable; may be read from several threads at once.
/// Free from any thread.
pub struct narherder_narinfo_batch {
    _private: [u8; 0],
}

struct BatchHandle {
    entries: Vec<Option<NarinfoHandle>>,
    found: usize,
}

/// # Safety
///
/// `batch` is NULL or a live batch.
unsafe fn batch_ref<'a>(batch: *const narherder_narinfo_batch) -> Option<&'a BatchHandle> {
    // SAFETY: by the contract.
    unsafe { batch.cast::<BatchHandle>().as_ref() }
}

/// Looks many hash parts up in one call (on SQLite, one read transaction;
/// on PostgreSQL, one statement). `hashes` points to `count` slices (NULL
/// allowed when `count` is 0). On success `*batch_out` receives a batch of
/// `count` entries to free with [`narherder_narinfo_batch_free`]; misses
/// (and strings that are no hash part) are NULL entries, not errors.
///
/// # Safety
///
/// `store` is NULL or a store not yet freed; `hashes` is NULL or points to
/// `count` slices of readable bytes; `batch_out` is writable; `error_out`
/// is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn narherder_narinfo_get_many(
    store: *const narherder_store,
    hashes: *const narherder_slice,
    count: usize,
    batch_out: *mut *mut narherder_narinfo_batch,
    error_out: *mut *mut narherder_error,
) -> narherder_status {
    // SAFETY: forwarded contract.
    unsafe {
        guard(error_out, || -> Outcome {
            check_out(batch_out, "batch_out")?;
            let hashes = strs_arg(hashes, count, "hashes")?;
            let entries = with_store(store, |s| match &s.fast {
                Some(fast) => fast
                    .get_texts_with(&hashes, NarinfoHandle::from_stored)?
                    .into_iter()
                    .map(Option::transpose)
                    .collect::<Result<Vec<_>, Failure>>(),
                None => s
                    .block_on(s.store.get_many(&hashes))?
                    .into_iter()
                    .map(|o| {
                        o.map(|n| NarinfoHandle::from_stored(n.text.as_bytes()))
                            .transpose()
                    })
                    .collect::<Result<Vec<_>, Failure>>(),
            })?;
            let found = entries.iter().filter(|e| e.is_some()).count();
            *batch_out = Box::into_raw(Box::new(BatchHandle { entries, found })).cast();
            Ok(())
        })
    }
}

/// The number of entries (the `count` asked for); 0 for NULL.
///
/// # Safety
///
/// `batch` is NULL or a live batch.
#[no_mangle]
pub unsafe extern "C" fn narherder_narinfo_batch_count(
    batch: *const narherder_narinfo_batch,
) -> usize {
    guard_value(0, || {
        // SAFETY: forwarded contract.
        unsafe { batch_ref(batch) }.map_or(0, |b| b.entries.len())
    })
}

/// The number of hits (non-NULL entries); 0 for NULL.
///
/// # Safety
///
/// `batch` is NULL or a live batch.
#[no_mangle]
pub unsafe extern "C" fn narherder_narinfo_batch_found(
    batch: *const narherder_narinfo_batch,
) -> usize {
    guard_value(0, || {
        // SAFETY: forwarded contract.
        unsafe { batch_ref(batch) }.map_or(0, |b| b.found)
    })
}

/// The `index`-th entry: a narinfo borrowed from the batch, or NULL for a
/// miss (or an index out of range).
///
/// # Safety
///
/// `batch` is NULL or a live batch.
#[no_mangle]
pub unsafe extern "C" fn narherder_narinfo_batch_get(
    batch: *const narherder_narinfo_batch,
    index: usize,
) -> *const narherder_narinfo {
    guard_value(std::ptr::null(), || {
        // SAFETY: forwarded contract.
        unsafe { batch_ref(batch) }
            .and_then(|b| b.entries.get(index))
            .and_then(Option::as_ref)
            .map_or(std::ptr::null(), NarinfoHandle::as_ptr)
    })
}

/// Copies the texts of all entries of a batch into one buffer, one after
/// another in entry order, without NULs: a whole batch in one call (for
/// bindings that copy the texts anyway). Returns the total length of the
/// texts in bytes (0 for NULL). When `lens_out` is not NULL and that total
/// is at most `buf_len`, the texts are in `buf` and `lens_out[i]` receives
/// the length of entry *i*'s text, or -1 for a miss; otherwise nothing is
/// written (call with `lens_out` NULL to learn the size to allocate).
///
/// # Safety
///
/// `batch` is NULL or a live batch; `buf` points to `buf_len` writable
/// bytes (NULL allowed when `buf_len` is 0); `lens_out` is NULL or points
/// to [`narherder_narinfo_batch_count`] writable entries.
#[no_mangle]
pub unsafe extern "C" fn narherder_narinfo_batch_texts(
    batch: *const narherder_narinfo_batch,
    buf: *mut u8,
    buf_len: usize,
    lens_out: *mut i64,
) -> usize {
    guard_value(0, || {
        // SAFETY: forwarded contract.
        let Some(b) = (unsafe { batch_ref(batch) }) else {
            return 0;
        };
        let total: usize = b
            .entries
            .iter()
            .flatten()
            .map(|n| n.text_bytes().len())
            .sum();
        if lens_out.is_null() || total > buf_len || (buf.is_null() && total > 0) {
            return total;
        }
        let mut offset = 0;
        for (i, entry) in b.entries.iter().enumerate() {
            let len = match entry {
                Some(n) => {
                    let text = n.text_bytes();
                    // SAFETY: offset + text.len() <= total <= buf_len, and
                    // buf has buf_len writable bytes; lens_out has an entry
                    // per batch entry.
                    unsafe {
                        std::ptr::copy_nonoverlapping(text.as_ptr(), buf.add(offset), text.len())
                    };
                    offset += text.len();
                    i64::try_from(text.len()).unwrap_or(i64::MAX)
                }
                None => -1,
            };
            // SAFETY: see above.
            unsafe { *lens_out.add(i) = len };
        }
        total
    })
}

/// Frees a batch and the narinfos in it. NULL is allowed. Any thread.
///
/// # Safety
///
/// `batch` is NULL or a batch not yet freed; neither it nor its narinfos
/// are used again.
#[no_mangle]
pub unsafe extern "C" fn narherder_narinfo_batch_free(batch: *mut narherder_narinfo_batch) {
    guard_value((), || {
        if !batch.is_null() {
            // SAFETY: by the contract, batch came from get_many's Box.
            drop(unsafe { Box::from_raw(batch.cast::<BatchHandle>()) });
        }
    })
}

/// Says for each of `count` hash parts whether a narinfo is stored, in one
/// call. On success `exists_out[i]` answers `hashes[i]` (the array of
/// `count` booleans is the caller's).
///
/// # Safety
///
/// `store` is NULL or a store not yet freed; `hashes` is NULL or points to
/// `count` slices of readable bytes; `exists_out` points to `count`
/// writable booleans (NULL allowed when `count` is 0); `error_out` is NULL
/// or writable.
#[no_mangle]
pub unsafe extern "C" fn narherder_narinfo_exists_many(
    store: *const narherder_store,
    hashes: *const narherder_slice,
    count: usize,
    exists_out: *mut bool,
    error_out: *mut *mut narherder_error,
) -> narherder_status {
    // SAFETY: forwarded contract.
    unsafe {
        guard(error_out, || -> Outcome {
            if count > 0 {
                check_out(exists_out, "exists_out")?;
            }
            let hashes = strs_arg(hashes, count, "hashes")?;
            let found = with_store(store, |s| match &s.fast {
                Some(fast) => Ok(fast.exists_many(&hashes)?),
                None => Ok(s.block_on(s.store.exists_many(&hashes))?),
            })?;
            if found.len() != count {
                return Err(Failure::new(
                    narherder_status::Store,
                    "exists_many: wrong number of answers",
                ));
            }
            if count > 0 {
                std::ptr::copy_nonoverlapping(found.as_ptr(), exists_out, count);
            }
            Ok(())
        })
    }
}
