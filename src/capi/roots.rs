//! GC roots: named sets of items kept, with their closure, by the garbage
//! collector. `narherder_roots_add/_set/_remove/_list` and
//! `narherder_root_list`.

use std::ffi::{c_char, CString};

use super::error::narherder_error;
use super::store::{narherder_store, with_store};
use super::{
    check_out, guard, guard_value, narherder_slice, narherder_status, str_arg, strs_arg, Failure,
    Outcome,
};
use crate::roots::{add_root, list_roots, remove_root, set_root};

/// The roots of a store as listed by [`narherder_roots_list`], sorted by
/// name, each with its items sorted by hash part. Strings are NUL-terminated
/// and borrowed from the list: valid until [`narherder_root_list_free`].
/// Getters given NULL or an index out of range return NULL, 0 or -1.
///
/// Thread-safety: immutable; may be read from several threads at once.
/// Free from any thread.
pub struct narherder_root_list {
    _private: [u8; 0],
}

struct RootEntry {
    name: CString,
    expires_at: Option<i64>,
    updated_at: i64,
    items: Vec<(CString, Option<CString>)>,
}

struct RootListHandle {
    roots: Vec<RootEntry>,
}

fn c(s: &str) -> CString {
    CString::new(s.replace('\0', "\u{fffd}")).unwrap_or_default()
}

/// Reads a root name.
///
/// # Safety
///
/// As for [`str_arg`].
unsafe fn name_arg<'a>(name: *const u8, name_len: usize) -> Result<&'a str, Failure> {
    // SAFETY: forwarded contract.
    unsafe { str_arg(name, name_len, "name") }
}

fn expiry(expires_at: i64) -> Option<i64> {
    (expires_at >= 0).then_some(expires_at)
}

/// Adds items to a root, creating it if needed. Items are store paths
/// (`/gnu/store/<hash>-name`), base names (`<hash>-name`) or hash parts;
/// items not stored yet are allowed (they are kept once they arrive).
/// `expires_at` (seconds since the Unix epoch) sets the expiry; a negative
/// value keeps the root's expiry (a new root never expires). A bad name or
/// item fails with `NARHERDER_STATUS_INVALID_ARGUMENT`.
///
/// # Safety
///
/// `store` is NULL or a store not yet freed; `name` points to `name_len`
/// readable bytes; `items` is NULL or points to `count` slices of readable
/// bytes; `error_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn narherder_roots_add(
    store: *const narherder_store,
    name: *const u8,
    name_len: usize,
    items: *const narherder_slice,
    count: usize,
    expires_at: i64,
    error_out: *mut *mut narherder_error,
) -> narherder_status {
    // SAFETY: forwarded contract.
    unsafe {
        guard(error_out, || -> Outcome {
            let name = name_arg(name, name_len)?;
            let items = strs_arg(items, count, "items")?;
            with_store(store, |s| {
                Ok(s.block_on(add_root(&s.store, name, &items, expiry(expires_at)))?)
            })
        })
    }
}

/// Replaces a root's whole item set and expiry in one transaction
/// (creating the root if needed); an empty set is allowed. A negative
/// `expires_at` means never.
///
/// # Safety
///
/// As for [`narherder_roots_add`].
#[no_mangle]
pub unsafe extern "C" fn narherder_roots_set(
    store: *const narherder_store,
    name: *const u8,
    name_len: usize,
    items: *const narherder_slice,
    count: usize,
    expires_at: i64,
    error_out: *mut *mut narherder_error,
) -> narherder_status {
    // SAFETY: forwarded contract.
    unsafe {
        guard(error_out, || -> Outcome {
            let name = name_arg(name, name_len)?;
            let items = strs_arg(items, count, "items")?;
            with_store(store, |s| {
                Ok(s.block_on(set_root(&s.store, name, &items, expiry(expires_at)))?)
            })
        })
    }
}

/// Removes a root. On success `*removed_out` (if not NULL) says whether it
/// existed; removing a missing root is a success.
///
/// # Safety
///
/// `store` is NULL or a store not yet freed; `name` points to `name_len`
/// readable bytes; `removed_out` is NULL or writable; `error_out` is NULL
/// or writable.
#[no_mangle]
pub unsafe extern "C" fn narherder_roots_remove(
    store: *const narherder_store,
    name: *const u8,
    name_len: usize,
    removed_out: *mut bool,
    error_out: *mut *mut narherder_error,
) -> narherder_status {
    // SAFETY: forwarded contract.
    unsafe {
        guard(error_out, || -> Outcome {
            let name = name_arg(name, name_len)?;
            let removed = with_store(store, |s| Ok(s.block_on(remove_root(&s.store, name))?))?;
            if !removed_out.is_null() {
                *removed_out = removed;
            }
            Ok(())
        })
    }
}

/// Lists every root with its items. On success `*list_out` receives a list
/// to free with [`narherder_root_list_free`].
///
/// # Safety
///
/// `store` is NULL or a store not yet freed; `list_out` is writable;
/// `error_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn narherder_roots_list(
    store: *const narherder_store,
    list_out: *mut *mut narherder_root_list,
    error_out: *mut *mut narherder_error,
) -> narherder_status {
    // SAFETY: forwarded contract.
    unsafe {
        guard(error_out, || -> Outcome {
            check_out(list_out, "list_out")?;
            let roots = with_store(store, |s| Ok(s.block_on(list_roots(&s.store))?))?;
            let roots = roots
                .into_iter()
                .map(|r| RootEntry {
                    name: c(&r.name),
                    expires_at: r.expires_at,
                    updated_at: r.updated_at,
                    items: r
                        .items
                        .iter()
                        .map(|i| (c(&i.hash), i.store_path.as_deref().map(c)))
                        .collect(),
                })
                .collect();
            *list_out = Box::into_raw(Box::new(RootListHandle { roots })).cast();
            Ok(())
        })
    }
}

/// # Safety
///
/// `list` is NULL or a live root list.
unsafe fn root<'a>(list: *const narherder_root_list, index: usize) -> Option<&'a RootEntry> {
    // SAFETY: by the contract.
    unsafe { list.cast::<RootListHandle>().as_ref() }.and_then(|l| l.roots.get(index))
}

/// The number of roots.
///
/// # Safety
///
/// `list` is NULL or a live root list.
#[no_mangle]
pub unsafe extern "C" fn narherder_root_list_count(list: *const narherder_root_list) -> usize {
    guard_value(0, || {
        // SAFETY: forwarded contract.
        unsafe { list.cast::<RootListHandle>().as_ref() }.map_or(0, |l| l.roots.len())
    })
}

/// The name of the `index`-th root.
///
/// # Safety
///
/// `list` is NULL or a live root list.
#[no_mangle]
pub unsafe extern "C" fn narherder_root_list_name(
    list: *const narherder_root_list,
    index: usize,
) -> *const c_char {
    guard_value(std::ptr::null(), || {
        // SAFETY: forwarded contract.
        unsafe { root(list, index) }.map_or(std::ptr::null(), |r| r.name.as_ptr())
    })
}

/// When the `index`-th root expires (seconds since the Unix epoch); -1 for
/// never (or out of range).
///
/// # Safety
///
/// `list` is NULL or a live root list.
#[no_mangle]
pub unsafe extern "C" fn narherder_root_list_expires_at(
    list: *const narherder_root_list,
    index: usize,
) -> i64 {
    guard_value(-1, || {
        // SAFETY: forwarded contract.
        unsafe { root(list, index) }
            .and_then(|r| r.expires_at)
            .unwrap_or(-1)
    })
}

/// When the `index`-th root was last changed (seconds since the Unix
/// epoch); -1 when out of range.
///
/// # Safety
///
/// `list` is NULL or a live root list.
#[no_mangle]
pub unsafe extern "C" fn narherder_root_list_updated_at(
    list: *const narherder_root_list,
    index: usize,
) -> i64 {
    guard_value(-1, || {
        // SAFETY: forwarded contract.
        unsafe { root(list, index) }.map_or(-1, |r| r.updated_at)
    })
}

/// The number of items of the `index`-th root.
///
/// # Safety
///
/// `list` is NULL or a live root list.
#[no_mangle]
pub unsafe extern "C" fn narherder_root_list_items_count(
    list: *const narherder_root_list,
    index: usize,
) -> usize {
    guard_value(0, || {
        // SAFETY: forwarded contract.
        unsafe { root(list, index) }.map_or(0, |r| r.items.len())
    })
}

/// The hash part of item `item` of the `index`-th root.
///
/// # Safety
///
/// `list` is NULL or a live root list.
#[no_mangle]
pub unsafe extern "C" fn narherder_root_list_item_hash(
    list: *const narherder_root_list,
    index: usize,
    item: usize,
) -> *const c_char {
    guard_value(std::ptr::null(), || {
        // SAFETY: forwarded contract.
        unsafe { root(list, index) }
            .and_then(|r| r.items.get(item))
            .map_or(std::ptr::null(), |(h, _)| h.as_ptr())
    })
}

/// The store path of item `item` of the `index`-th root when a narinfo is
/// stored for it; NULL when the item is missing from the store.
///
/// # Safety
///
/// `list` is NULL or a live root list.
#[no_mangle]
pub unsafe extern "C" fn narherder_root_list_item_store_path(
    list: *const narherder_root_list,
    index: usize,
    item: usize,
) -> *const c_char {
    guard_value(std::ptr::null(), || {
        // SAFETY: forwarded contract.
        unsafe { root(list, index) }
            .and_then(|r| r.items.get(item))
            .and_then(|(_, p)| p.as_ref())
            .map_or(std::ptr::null(), |p| p.as_ptr())
    })
}

/// Frees a root list. NULL is allowed. Any thread.
///
/// # Safety
///
/// `list` is NULL or a root list not yet freed; it is not used again.
#[no_mangle]
pub unsafe extern "C" fn narherder_root_list_free(list: *mut narherder_root_list) {
    guard_value((), || {
        if !list.is_null() {
            // SAFETY: by the contract, list came from roots_list's Box.
            drop(unsafe { Box::from_raw(list.cast::<RootListHandle>()) });
        }
    })
}
