//! `narherder_error`: what a failed call reports through its `error_out`.

use std::ffi::{c_char, CString};

use super::{guard_value, narherder_status, Failure};

/// An error object: a status and a message. Received through the optional
/// `error_out` of a failed call; freed with [`narherder_error_free`].
///
/// Thread-safety: immutable; may be read from several threads at once and
/// freed from any thread.
pub struct narherder_error {
    _private: [u8; 0],
}

/// The value behind a `narherder_error` pointer.
struct ErrorObject {
    status: narherder_status,
    message: CString,
}

/// A new error object for `failure`.
pub(crate) fn new_error(failure: Failure) -> *mut narherder_error {
    // A NUL inside a message (from a quoted input) is shown as U+FFFD.
    let text = failure.message.replace('\0', "\u{fffd}");
    let message = CString::new(text).unwrap_or_default();
    Box::into_raw(Box::new(ErrorObject {
        status: failure.status,
        message,
    }))
    .cast()
}

/// # Safety
///
/// `error` is NULL or a live pointer returned by [`new_error`].
unsafe fn object<'a>(error: *const narherder_error) -> Option<&'a ErrorObject> {
    // SAFETY: by the contract, a non-NULL error points to an ErrorObject.
    unsafe { error.cast::<ErrorObject>().as_ref() }
}

/// The status of an error (the one its call returned);
/// `NARHERDER_STATUS_NULL_ARGUMENT` when `error` is NULL.
///
/// # Safety
///
/// `error` is NULL or an error object not yet freed.
#[no_mangle]
pub unsafe extern "C" fn narherder_error_status(error: *const narherder_error) -> narherder_status {
    guard_value(narherder_status::Panic, || {
        // SAFETY: forwarded contract.
        unsafe { object(error) }.map_or(narherder_status::NullArgument, |e| e.status)
    })
}

/// The message of an error: a NUL-terminated UTF-8 string owned by the
/// error object, valid until [`narherder_error_free`]; `""` when `error`
/// is NULL.
///
/// # Safety
///
/// `error` is NULL or an error object not yet freed.
#[no_mangle]
pub unsafe extern "C" fn narherder_error_message(error: *const narherder_error) -> *const c_char {
    guard_value(c"".as_ptr(), || {
        // SAFETY: forwarded contract.
        unsafe { object(error) }.map_or(c"".as_ptr(), |e| e.message.as_ptr())
    })
}

/// Frees an error object. NULL is allowed. Any thread.
///
/// # Safety
///
/// `error` is NULL or an error object not yet freed; it is not used again.
#[no_mangle]
pub unsafe extern "C" fn narherder_error_free(error: *mut narherder_error) {
    guard_value((), || {
        if !error.is_null() {
            // SAFETY: by the contract, error came from new_error (a
            // Box<ErrorObject>) and is freed once.
            drop(unsafe { Box::from_raw(error.cast::<ErrorObject>()) });
        }
    })
}
