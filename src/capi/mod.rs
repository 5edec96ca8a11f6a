//! The C ABI: `libnarherder`, declared by `include/narherder.h` (generated
//! from this module by cbindgen; `cargo run --example gen-header` rewrites
//! it, `tests/capi.rs` checks it).
//!
//! One file per handle type: [`error`] (`narherder_error`), [`store`]
//! (`narherder_store`), [`narinfo`] (`narherder_narinfo`), [`batch`]
//! (`narherder_narinfo_batch`), [`keys`] (`narherder_keyring`,
//! `narherder_secret_key`), [`import`], [`roots`] (`narherder_root_list`),
//! [`gc`], [`analytics`].
//!
//! Conventions, the same for every function (the header repeats them):
//!
//! * names are `narherder_<type>_<verb>`; every owned type has a `_free`
//!   that accepts NULL;
//! * handles are opaque: zero-sized marker types here, boxed Rust values
//!   behind them;
//! * a fallible function returns a [`narherder_status`] and takes an
//!   optional trailing `narherder_error **error_out` (NULL allowed) that
//!   receives an error object on failure and is left alone on success;
//! * outputs are written only on success; parameters come in the order
//!   object, inputs, outputs, `error_out`; there are no in/out parameters;
//! * a lookup that finds nothing is a success with `*out = NULL`;
//! * inputs are `(const uint8_t *ptr, size_t len)` pairs (a NULL pointer is
//!   allowed when `len` is 0), copied or used before the call returns;
//! * outputs are borrowed (valid until their owning handle is freed) or
//!   owned objects freed by a `narherder_*_free` function, never by `free`;
//! * no panic crosses the boundary: every export runs inside
//!   `catch_unwind`, and a panic becomes [`narherder_status::Panic`] (or a
//!   neutral value for getters);
//! * option and statistics structs only ever grow at the end; callers pass
//!   `sizeof` of their version next to the pointer.

#![allow(non_camel_case_types)]

// The order of these declarations is the order of the header's sections.
pub mod error;
// Stores: open, close, free.
pub mod store;
// One narinfo: parse, add, get, remove, getters.
pub mod narinfo;
// Many lookups in one call.
pub mod batch;
// Signing and verifying.
pub mod keys;
// Importing files and directories.
pub mod import;
// GC roots.
pub mod roots;
// Garbage collection.
pub mod gc;
// Request analytics.
pub mod analytics;

use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use self::error::narherder_error;
use crate::Error;

/// The version of the C ABI described by this header. It grows by one
/// whenever a function's or a struct's meaning changes incompatibly; adding
/// functions, or fields at the end of option and statistics structs, keeps
/// it. Compare it with [`narherder_abi_version`] at run time.
pub const NARHERDER_ABI_VERSION: u32 = 1;

/// What a call did. The numbers are stable and never reused; new statuses
/// are added at the end.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum narherder_status {
    /// Success (a lookup that finds nothing is a success too).
    Ok = 0,
    /// A bug in narherder: a Rust panic was caught at the boundary.
    Panic = 1,
    /// Called in a child process forked after the store was opened: the
    /// runtime and connections of the parent cannot be used there.
    Forked = 2,
    /// A pointer argument that must not be NULL was NULL.
    NullArgument = 3,
    /// An argument is malformed or out of range (bad URL, not UTF-8, …).
    InvalidArgument = 4,
    /// A narinfo text is malformed (the message names the line and field).
    BadNarinfo = 5,
    /// A named thing does not exist where its absence is an error.
    NotFound = 6,
    /// A different narinfo is already stored for this hash.
    Conflict = 7,
    /// The database reported an error.
    Database = 8,
    /// A file could not be read or written.
    Io = 9,
    /// The store was closed with `narherder_store_close`.
    Closed = 10,
    /// A key (file or text) is malformed or of the wrong kind.
    BadKey = 11,
    /// A signature could not be made or decoded.
    Signature = 12,
    /// The store refused the operation (another store directory, a newer
    /// schema, no GC root in force, …).
    Store = 13,
    /// The runtime behind a store could not be started.
    Runtime = 14,
}

impl narherder_status {
    /// The status's name, e.g. `NARHERDER_STATUS_OK`.
    pub fn name(self) -> &'static CStr {
        match self {
            Self::Ok => c"NARHERDER_STATUS_OK",
            Self::Panic => c"NARHERDER_STATUS_PANIC",
            Self::Forked => c"NARHERDER_STATUS_FORKED",
            Self::NullArgument => c"NARHERDER_STATUS_NULL_ARGUMENT",
            Self::InvalidArgument => c"NARHERDER_STATUS_INVALID_ARGUMENT",
            Self::BadNarinfo => c"NARHERDER_STATUS_BAD_NARINFO",
            Self::NotFound => c"NARHERDER_STATUS_NOT_FOUND",
            Self::Conflict => c"NARHERDER_STATUS_CONFLICT",
            Self::Database => c"NARHERDER_STATUS_DATABASE",
            Self::Io => c"NARHERDER_STATUS_IO",
            Self::Closed => c"NARHERDER_STATUS_CLOSED",
            Self::BadKey => c"NARHERDER_STATUS_BAD_KEY",
            Self::Signature => c"NARHERDER_STATUS_SIGNATURE",
            Self::Store => c"NARHERDER_STATUS_STORE",
            Self::Runtime => c"NARHERDER_STATUS_RUNTIME",
        }
    }

    const ALL: [narherder_status; 15] = [
        Self::Ok,
        Self::Panic,
        Self::Forked,
        Self::NullArgument,
        Self::InvalidArgument,
        Self::BadNarinfo,
        Self::NotFound,
        Self::Conflict,
        Self::Database,
        Self::Io,
        Self::Closed,
        Self::BadKey,
        Self::Signature,
        Self::Store,
        Self::Runtime,
    ];

    fn from_u32(n: u32) -> Option<Self> {
        Self::ALL.iter().copied().find(|s| *s as u32 == n)
    }
}

/// A borrowed byte string `(ptr, len)` given to narherder: not
/// NUL-terminated; `ptr` may be NULL when `len` is 0. Used for arrays of
/// strings (hashes, paths, root items).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct narherder_slice {
    /// The first byte.
    pub ptr: *const u8,
    /// The number of bytes.
    pub len: usize,
}

/// Why a call failed: a status and a message for the error object.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) status: narherder_status,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(status: narherder_status, message: impl Into<String>) -> Self {
        Failure {
            status,
            message: message.into(),
        }
    }

    pub(crate) fn null(what: &str) -> Self {
        Failure::new(
            narherder_status::NullArgument,
            format!("{what} must not be NULL"),
        )
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Failure::new(narherder_status::InvalidArgument, message)
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let status = match &e {
            Error::Narinfo { .. } => narherder_status::BadNarinfo,
            Error::Nix32(_) | Error::InvalidArgument(_) => narherder_status::InvalidArgument,
            Error::Key(_) | Error::Sexp(_) => narherder_status::BadKey,
            Error::Signature(_) => narherder_status::Signature,
            Error::Io { .. } => narherder_status::Io,
            Error::Database(_) | Error::Migration(_) => narherder_status::Database,
            Error::Store(_) => narherder_status::Store,
            Error::Conflict { .. } => narherder_status::Conflict,
        };
        Failure::new(status, e.to_string())
    }
}

/// Result of the body of an export.
pub(crate) type Outcome = Result<(), Failure>;

/// The text of a panic payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        format!("narherder panicked (a bug): {s}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        format!("narherder panicked (a bug): {s}")
    } else {
        "narherder panicked (a bug)".to_string()
    }
}

/// Runs the body of a fallible export: catches panics, turns failures into
/// a status and, when `error_out` is not NULL, an error object.
///
/// # Safety
///
/// `error_out` is NULL or points to writable storage for a pointer.
pub(crate) unsafe fn guard(
    error_out: *mut *mut narherder_error,
    body: impl FnOnce() -> Outcome,
) -> narherder_status {
    let failure = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => return narherder_status::Ok,
        Ok(Err(f)) => f,
        Err(payload) => Failure::new(narherder_status::Panic, panic_message(&*payload)),
    };
    let status = failure.status;
    if !error_out.is_null() {
        // Building the error object cannot panic in practice; if it did,
        // the status alone is reported.
        if let Ok(e) = catch_unwind(AssertUnwindSafe(|| error::new_error(failure))) {
            // SAFETY: error_out is not NULL and, by the contract, writable.
            unsafe { *error_out = e };
        }
    }
    status
}

/// Runs the body of an infallible export (a getter, a `_free`): a panic
/// gives `neutral`.
pub(crate) fn guard_value<T>(neutral: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(neutral)
}

/// The bytes of an input pair.
///
/// # Safety
///
/// `ptr` is NULL or points to `len` readable bytes that stay unchanged for
/// the lifetime `'a` (the call).
pub(crate) unsafe fn bytes_arg<'a>(
    ptr: *const u8,
    len: usize,
    what: &str,
) -> Result<&'a [u8], Failure> {
    if ptr.is_null() {
        if len == 0 {
            return Ok(&[]);
        }
        return Err(Failure::null(what));
    }
    if len > isize::MAX as usize {
        return Err(Failure::invalid(format!(
            "{what}: length {len} is too large"
        )));
    }
    // SAFETY: by the contract, ptr points to len readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// The UTF-8 text of an input pair.
///
/// # Safety
///
/// As for [`bytes_arg`].
pub(crate) unsafe fn str_arg<'a>(
    ptr: *const u8,
    len: usize,
    what: &str,
) -> Result<&'a str, Failure> {
    // SAFETY: forwarded contract.
    let bytes = unsafe { bytes_arg(ptr, len, what)? };
    std::str::from_utf8(bytes).map_err(|e| Failure::invalid(format!("{what}: not UTF-8 ({e})")))
}

/// Like [`str_arg`], but a NULL pointer gives `None` (an optional field).
///
/// # Safety
///
/// As for [`bytes_arg`].
pub(crate) unsafe fn opt_str_arg<'a>(
    ptr: *const u8,
    len: usize,
    what: &str,
) -> Result<Option<&'a str>, Failure> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: forwarded contract.
    unsafe { str_arg(ptr, len, what).map(Some) }
}

/// The strings of an array of slices.
///
/// # Safety
///
/// `items` is NULL (then `count` must be 0) or points to `count` slices,
/// each valid as for [`bytes_arg`].
pub(crate) unsafe fn strs_arg<'a>(
    items: *const narherder_slice,
    count: usize,
    what: &str,
) -> Result<Vec<&'a str>, Failure> {
    if items.is_null() {
        if count == 0 {
            return Ok(Vec::new());
        }
        return Err(Failure::null(what));
    }
    if count > isize::MAX as usize / std::mem::size_of::<narherder_slice>() {
        return Err(Failure::invalid(format!(
            "{what}: count {count} is too large"
        )));
    }
    // SAFETY: by the contract, items points to count slices.
    let slices = unsafe { std::slice::from_raw_parts(items, count) };
    slices
        .iter()
        .enumerate()
        // SAFETY: by the contract, each slice is valid.
        .map(|(i, s)| unsafe { str_arg(s.ptr, s.len, &format!("{what}[{i}]")) })
        .collect()
}

/// Reads an options struct of which the caller knows `size` bytes: fields
/// beyond them (added in later versions) take their zero value, which is
/// always their default. NULL gives the all-defaults struct.
///
/// # Safety
///
/// `ptr` is NULL or points to `size` readable bytes of a `T` as laid out by
/// an earlier or the same version of the header; `T` is a `#[repr(C)]`
/// struct of integers, booleans and pointers, valid when all-zero.
pub(crate) unsafe fn read_options<T: Copy>(
    ptr: *const T,
    size: usize,
    what: &str,
) -> Result<Option<T>, Failure> {
    if ptr.is_null() {
        return Ok(None);
    }
    if size == 0 {
        return Err(Failure::invalid(format!(
            "{what}: size 0 (pass sizeof the struct)"
        )));
    }
    let mut out = std::mem::MaybeUninit::<T>::zeroed();
    let n = size.min(std::mem::size_of::<T>());
    // SAFETY: ptr has `size` readable bytes, out has size_of::<T>(), n is
    // at most both; an all-zero T is valid, and the bytes copied come from a
    // T laid out the same way for its first n bytes.
    unsafe {
        std::ptr::copy_nonoverlapping(ptr.cast::<u8>(), out.as_mut_ptr().cast::<u8>(), n);
        Ok(Some(out.assume_init()))
    }
}

/// Writes a statistics struct into a caller's struct of `size` bytes
/// (fields the caller's version does not have are left out).
///
/// # Safety
///
/// `out` points to `size` writable bytes.
pub(crate) unsafe fn write_stats<T: Copy>(out: *mut T, size: usize, value: &T) {
    let n = size.min(std::mem::size_of::<T>());
    // SAFETY: value is a T (size_of::<T>() bytes), out has `size` writable
    // bytes, n is at most both.
    unsafe { std::ptr::copy_nonoverlapping((value as *const T).cast::<u8>(), out.cast::<u8>(), n) };
}

/// Checks a statistics output pointer and its size.
pub(crate) fn check_stats_out<T>(out: *mut T, size: usize, what: &str) -> Outcome {
    if out.is_null() {
        return Err(Failure::null(what));
    }
    if size == 0 {
        return Err(Failure::invalid(format!(
            "{what}: size 0 (pass sizeof the struct)"
        )));
    }
    Ok(())
}

/// Checks that an output pointer is not NULL.
pub(crate) fn check_out<T>(out: *mut T, what: &str) -> Outcome {
    if out.is_null() {
        Err(Failure::null(what))
    } else {
        Ok(())
    }
}

/// Microseconds of a duration, saturating.
pub(crate) fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// The ABI version of the loaded library ([`NARHERDER_ABI_VERSION`] of the
/// header it was built with). A program or binding should refuse to run
/// when it differs from the `NARHERDER_ABI_VERSION` it was compiled with.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn narherder_abi_version() -> u32 {
    guard_value(NARHERDER_ABI_VERSION, || NARHERDER_ABI_VERSION)
}

/// The library's version, e.g. `"0.1.0"`: a static NUL-terminated string,
/// never freed. Thread-safe.
#[no_mangle]
pub extern "C" fn narherder_version() -> *const c_char {
    const VERSION: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(v) => v,
            Err(_) => c"unknown",
        };
    guard_value(VERSION.as_ptr(), || VERSION.as_ptr())
}

/// The name of a status, e.g. `"NARHERDER_STATUS_NOT_FOUND"`: a static
/// NUL-terminated string, never freed; `"NARHERDER_STATUS_UNKNOWN"` for a
/// number that is no status. Thread-safe.
#[no_mangle]
pub extern "C" fn narherder_status_name(status: u32) -> *const c_char {
    guard_value(c"NARHERDER_STATUS_UNKNOWN".as_ptr(), || {
        narherder_status::from_u32(status)
            .map_or(c"NARHERDER_STATUS_UNKNOWN", narherder_status::name)
            .as_ptr()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_numbers_and_names_are_stable() {
        for (i, s) in narherder_status::ALL.iter().enumerate() {
            assert_eq!(*s as u32, i as u32);
            assert_eq!(narherder_status::from_u32(i as u32), Some(*s));
            let name = s.name().to_str().unwrap();
            assert!(name.starts_with("NARHERDER_STATUS_"), "{name}");
        }
        assert_eq!(narherder_status::from_u32(15), None);
    }

    #[test]
    fn guard_turns_a_panic_into_a_status_and_an_error() {
        let mut err: *mut narherder_error = std::ptr::null_mut();
        let status = unsafe { guard(&mut err, || panic!("boom")) };
        assert_eq!(status, narherder_status::Panic);
        assert!(!err.is_null());
        let msg = unsafe { CStr::from_ptr(error::narherder_error_message(err)) };
        assert!(msg.to_str().unwrap().contains("boom"));
        unsafe { error::narherder_error_free(err) };
    }
}
