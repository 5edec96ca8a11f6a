//! `narherder_narinfo`: one narinfo (stored, parsed or signed), and the
//! single-narinfo calls on a store: add, get, remove.

use std::ffi::{c_char, CString};
use std::sync::OnceLock;

use super::error::narherder_error;
use super::store::{narherder_store, with_store, OpenStore};
use super::{check_out, guard, guard_value, narherder_status, str_arg, Failure, Outcome};
use crate::store::{AddMode, AddOutcome};
use crate::Narinfo;

/// A narinfo: its text and its fields.
///
/// Every string a getter returns is NUL-terminated UTF-8 borrowed from the
/// narinfo: valid until [`narherder_narinfo_free`] (or until the batch that
/// holds it is freed). Getters given NULL, or an index out of range, return
/// NULL (strings), 0 (counts and sizes) or -1 (a file size).
///
/// Thread-safety: immutable once returned; getters may be called from
/// several threads at once (fields are parsed from the text on the first
/// getter call, once). Free from any thread.
pub struct narherder_narinfo {
    _private: [u8; 0],
}

/// Add modes of [`narherder_narinfo_add`] (stable numbers).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum narherder_add_mode {
    /// Keep a different narinfo already stored for the hash: the call fails
    /// with `NARHERDER_STATUS_CONFLICT`.
    Keep = 0,
    /// Replace a different narinfo stored for the hash.
    Replace = 1,
}

/// What [`narherder_narinfo_add`] did (stable numbers).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum narherder_add_outcome {
    /// The narinfo was new.
    Inserted = 0,
    /// The same text was already stored: nothing changed.
    Unchanged = 1,
    /// A different text was stored and has been replaced.
    Replaced = 2,
}

/// The value behind a `narherder_narinfo` pointer (also held inline by
/// batches).
pub(crate) struct NarinfoHandle {
    text: CString,
    fields: OnceLock<Option<Fields>>,
}

/// The fields, as C strings.
struct Fields {
    store_path: CString,
    hash: CString,
    nar_hash: CString,
    nar_size: u64,
    references: Vec<CString>,
    deriver: Option<CString>,
    system: Option<CString>,
    ca: Option<CString>,
    files: Vec<FileFields>,
    signature: Option<CString>,
    sigs: Vec<CString>,
}

struct FileFields {
    url: CString,
    compression: Option<CString>,
    file_size: Option<u64>,
    file_hash: Option<CString>,
}

fn c(s: &str) -> CString {
    // The parser refuses control characters, NUL included.
    CString::new(s).unwrap_or_default()
}

fn c_opt(s: Option<&str>) -> Option<CString> {
    s.map(c)
}

impl Fields {
    fn of(n: &Narinfo) -> Fields {
        Fields {
            store_path: c(n.store_path()),
            hash: c(n.hash_part()),
            nar_hash: c(n.nar_hash()),
            nar_size: n.nar_size(),
            references: n.references().iter().map(|r| c(r)).collect(),
            deriver: c_opt(n.deriver()),
            system: c_opt(n.system()),
            ca: c_opt(n.ca()),
            files: n
                .files()
                .iter()
                .map(|f| FileFields {
                    url: c(&f.url),
                    compression: c_opt(f.compression.as_deref()),
                    file_size: f.file_size,
                    file_hash: c_opt(f.file_hash.as_deref()),
                })
                .collect(),
            signature: c_opt(n.signature()),
            sigs: n.sigs().iter().map(|s| c(s)).collect(),
        }
    }
}

impl NarinfoHandle {
    /// A handle on stored text (parsed on the first getter call).
    pub(crate) fn from_stored(text: &[u8]) -> Result<NarinfoHandle, Failure> {
        let mut v = Vec::with_capacity(text.len() + 1);
        v.extend_from_slice(text);
        let text = CString::new(v).map_err(|_| {
            Failure::new(
                narherder_status::Store,
                "a stored narinfo text holds a NUL byte",
            )
        })?;
        Ok(NarinfoHandle {
            text,
            fields: OnceLock::new(),
        })
    }

    /// A handle on a parsed narinfo.
    pub(crate) fn from_narinfo(n: &Narinfo) -> NarinfoHandle {
        let fields = OnceLock::new();
        let _ = fields.set(Some(Fields::of(n)));
        NarinfoHandle {
            text: c(n.text()),
            fields,
        }
    }

    fn fields(&self) -> Option<&Fields> {
        self.fields
            .get_or_init(|| {
                let text = self.text.to_str().ok()?;
                Narinfo::parse(text).ok().map(|n| Fields::of(&n))
            })
            .as_ref()
    }

    /// Boxes the handle for C.
    pub(crate) fn into_raw(self) -> *mut narherder_narinfo {
        Box::into_raw(Box::new(self)).cast()
    }

    /// The text's bytes (without the NUL).
    pub(crate) fn text_bytes(&self) -> &[u8] {
        self.text.as_bytes()
    }

    /// The pointer C sees for a handle held elsewhere (in a batch).
    pub(crate) fn as_ptr(&self) -> *const narherder_narinfo {
        (self as *const NarinfoHandle).cast()
    }
}

/// # Safety
///
/// `narinfo` is NULL or a live narinfo handle.
unsafe fn handle<'a>(narinfo: *const narherder_narinfo) -> Option<&'a NarinfoHandle> {
    // SAFETY: by the contract.
    unsafe { narinfo.cast::<NarinfoHandle>().as_ref() }
}

/// # Safety
///
/// `narinfo` is NULL or a live narinfo handle.
unsafe fn field<T: Copy>(
    narinfo: *const narherder_narinfo,
    neutral: T,
    get: impl FnOnce(&Fields) -> T,
) -> T {
    guard_value(neutral, || {
        // SAFETY: forwarded contract.
        unsafe { handle(narinfo) }
            .and_then(NarinfoHandle::fields)
            .map_or(neutral, get)
    })
}

fn ptr_of(s: &CString) -> *const c_char {
    s.as_ptr()
}

fn opt_ptr(s: &Option<CString>) -> *const c_char {
    s.as_ref().map_or(std::ptr::null(), |s| s.as_ptr())
}

/// Reads the hash input of get and remove.
///
/// # Safety
///
/// As for [`str_arg`].
unsafe fn hash_arg<'a>(hash: *const u8, hash_len: usize) -> Result<&'a str, Failure> {
    // SAFETY: forwarded contract.
    unsafe { str_arg(hash, hash_len, "hash") }
}

/// Looks one hash part up through the fast path or the pool.
pub(crate) fn get_one(s: &OpenStore, hash: &str) -> Result<Option<NarinfoHandle>, Failure> {
    match &s.fast {
        Some(fast) => fast
            .get_text_with(hash, NarinfoHandle::from_stored)?
            .transpose(),
        None => s
            .block_on(s.store.get_text(hash))?
            .map(|t| NarinfoHandle::from_stored(t.as_bytes()))
            .transpose(),
    }
}

/// Parses a narinfo text (`text_len` bytes of UTF-8) without storing it.
/// On success `*narinfo_out` receives a narinfo to free with
/// [`narherder_narinfo_free`]; a malformed text fails with
/// `NARHERDER_STATUS_BAD_NARINFO`, the message naming line and field.
///
/// # Safety
///
/// `text` points to `text_len` readable bytes; `narinfo_out` is writable;
/// `error_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn narherder_narinfo_parse(
    text: *const u8,
    text_len: usize,
    narinfo_out: *mut *mut narherder_narinfo,
    error_out: *mut *mut narherder_error,
) -> narherder_status {
    // SAFETY: forwarded contract.
    unsafe {
        guard(error_out, || -> Outcome {
            check_out(narinfo_out, "narinfo_out")?;
            let text = str_arg(text, text_len, "text")?;
            let n = Narinfo::parse(text)?;
            *narinfo_out = NarinfoHandle::from_narinfo(&n).into_raw();
            Ok(())
        })
    }
}

/// Adds a narinfo text to the store. `mode` is a [`narherder_add_mode`]:
/// with `NARHERDER_ADD_MODE_KEEP` a different narinfo already stored for
/// the hash makes the call fail with `NARHERDER_STATUS_CONFLICT`. A
/// malformed text fails with `NARHERDER_STATUS_BAD_NARINFO`, a narinfo of
/// another store directory with `NARHERDER_STATUS_STORE`. On success
/// `*outcome_out` (if not NULL) receives a [`narherder_add_outcome`].
///
/// # Safety
///
/// `store` is NULL or a store not yet freed; `text` points to `text_len`
/// readable bytes; `outcome_out` is NULL or writable; `error_out` is NULL
/// or writable.
#[no_mangle]
pub unsafe extern "C" fn narherder_narinfo_add(
    store: *const narherder_store,
    text: *const u8,
    text_len: usize,
    mode: u32,
    outcome_out: *mut narherder_add_outcome,
    error_out: *mut *mut narherder_error,
) -> narherder_status {
    // SAFETY: forwarded contract.
    unsafe {
        guard(error_out, || -> Outcome {
            let text = str_arg(text, text_len, "text")?;
            let mode = match mode {
                0 => AddMode::Keep,
                1 => AddMode::Replace,
                m => {
                    return Err(Failure::invalid(format!(
                        "add mode {m}: expected NARHERDER_ADD_MODE_KEEP (0) or _REPLACE (1)"
                    )))
                }
            };
            let outcome = with_store(store, |s| {
                let n = Narinfo::parse(text)?;
                Ok(s.block_on(s.store.add(&n, mode))?)
            })?;
            let outcome = match outcome {
                AddOutcome::Inserted => narherder_add_outcome::Inserted,
                AddOutcome::Unchanged => narherder_add_outcome::Unchanged,
                AddOutcome::Replaced => narherder_add_outcome::Replaced,
                AddOutcome::Conflict => {
                    return Err(Failure::new(
                        narherder_status::Conflict,
                        "a different narinfo is already stored for this hash",
                    ))
                }
            };
            if !outcome_out.is_null() {
                *outcome_out = outcome;
            }
            Ok(())
        })
    }
}

/// Looks a hash part (the 32 characters before the `-` of a store path's
/// base name) up. On success `*narinfo_out` receives the stored narinfo,
/// to free with [`narherder_narinfo_free`], or NULL when none is stored
/// (a miss is a success; so is a string that is no hash part).
///
/// # Safety
///
/// `store` is NULL or a store not yet freed; `hash` points to `hash_len`
/// readable bytes; `narinfo_out` is writable; `error_out` is NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn narherder_narinfo_get(
    store: *const narherder_store,
    hash: *const u8,
    hash_len: usize,
    narinfo_out: *mut *mut narherder_narinfo,
    error_out: *mut *mut narherder_error,
) -> narherder_status {
    // SAFETY: forwarded contract.
    unsafe {
        guard(error_out, || -> Outcome {
            check_out(narinfo_out, "narinfo_out")?;
            let hash = hash_arg(hash, hash_len)?;
            let found = with_store(store, |s| get_one(s, hash))?;
            *narinfo_out = found.map_or(std::ptr::null_mut(), NarinfoHandle::into_raw);
            Ok(())
        })
    }
}

/// Looks `hash` up and, for a hit, copies its text to `out` when it fits
/// in `cap` bytes; returns the text's length, or `None` for a miss.
///
/// # Safety
///
/// `store` is NULL or a store not yet freed; `out` points to `cap` writable
/// bytes that nothing else borrows during the call (NULL allowed when `cap`
/// is 0).
unsafe fn copy_text(
    store: *const narherder_store,
    hash: &str,
    out: *mut u8,
    cap: usize,
) -> Result<Option<i64>, Failure> {
    let copy = |text: &[u8]| -> i64 {
        if !text.is_empty() && text.len() <= cap {
            // SAFETY: out has cap >= text.len() > 0 writable bytes, so it
            // is not NULL, and nothing else borrows them (the contract).
            unsafe { std::ptr::copy_nonoverlapping(text.as_ptr(), out, text.len()) };
        }
        i64::try_from(text.len()).unwrap_or(i64::MAX)
    };
    // SAFETY: forwarded contract.
    unsafe {
        with_store(store, |s| match &s.fast {
            Some(fast) => Ok(fast.get_text_with(hash, copy)?),
            None => Ok(s
                .block_on(s.store.get_text(hash))?
                .map(|t| copy(t.as_bytes()))),
        })
    }
}

/// Looks a hash part up like [`narherder_narinfo_get`], but copies the
/// stored text into the caller's buffer instead of returning a handle: one
/// call and nothing to free, the hot path of bindings that copy the text
/// anyway (the Guile modules). On success `*len_out` receives the text's
/// length in bytes, or -1 for a miss (a string that is no hash part is a
/// miss). When that length is at most `buf_len` the text (without a NUL)
/// is in `buf[0..len)`; otherwise `buf` is left alone and the caller may
/// ask again with a buffer of `*len_out` bytes. On failure the contents of
/// `buf` are unspecified.
///
/// # Safety
///
/// `store` is NULL or a store not yet freed; `hash` points to `hash_len`
/// readable bytes; `buf` points to `buf_len` writable bytes (NULL allowed
/// when `buf_len` is 0); `len_out` is writable; `error_out` is NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn narherder_narinfo_get_text(
    store: *const narherder_store,
    hash: *const u8,
    hash_len: usize,
    buf: *mut u8,
    buf_len: usize,
    len_out: *mut i64,
    error_out: *mut *mut narherder_error,
) -> narherder_status {
    // SAFETY: forwarded contract.
    unsafe {
        guard(error_out, || -> Outcome {
            check_out(len_out, "len_out")?;
            if buf.is_null() && buf_len > 0 {
                return Err(Failure::null("buf"));
            }
            let hash = hash_arg(hash, hash_len)?;
            // buf is not NULL when buf_len > 0 (checked above).
            let len = copy_text(store, hash, buf, buf_len)?;
            *len_out = len.unwrap_or(-1);
            Ok(())
        })
    }
}

/// Bytes of a hash part.
const HASH_PART_LEN: usize = 32;

/// The leanest lookup, for bindings whose foreign calls cost per argument
/// (the Guile modules): four arguments, the answer in the return value, and
/// one buffer for the hash going in and the text coming out.
///
/// On entry `io[0..32)` holds the hash part (32 ASCII bytes). The return
/// value is the length in bytes of the stored text for a hit, `-1` for a
/// miss (32 bytes that are no hash part are a miss) and `-2` for a failure,
/// whose details go to `*error_out` (see [`narherder_error_status`]).
/// On a hit whose text fits (`len <= io_len`) the text, without a NUL,
/// replaces the hash in `io[0..len)`; a longer text leaves `io` as it was,
/// so the caller can ask again with a buffer of `len` bytes that still
/// starts with the hash.
///
/// [`narherder_error_status`]: crate::capi::error::narherder_error_status
///
/// # Safety
///
/// `store` is NULL or a store not yet freed; `io` points to `io_len`
/// readable and writable bytes, `io_len` at least 32; `error_out` is NULL
/// or writable.
#[no_mangle]
pub unsafe extern "C" fn narherder_narinfo_get_text_in_place(
    store: *const narherder_store,
    io: *mut u8,
    io_len: usize,
    error_out: *mut *mut narherder_error,
) -> i64 {
    let mut len = -2;
    // SAFETY: forwarded contract.
    let status = unsafe {
        guard(error_out, || -> Outcome {
            if io.is_null() {
                return Err(Failure::null("io"));
            }
            if io_len < HASH_PART_LEN {
                return Err(Failure::new(
                    narherder_status::InvalidArgument,
                    format!(
                        "io_len is {io_len}; the buffer holds the {}-byte hash part",
                        HASH_PART_LEN
                    ),
                ));
            }
            // The hash is copied out first: the text may overwrite it.
            let mut hash = [0u8; HASH_PART_LEN];
            std::ptr::copy_nonoverlapping(io, hash.as_mut_ptr(), hash.len());
            let Ok(hash) = std::str::from_utf8(&hash) else {
                len = -1;
                return Ok(());
            };
            // Nothing borrows io any more: the hash is a copy.
            len = copy_text(store, hash, io, io_len)?.unwrap_or(-1);
            Ok(())
        })
    };
    if status == narherder_status::Ok {
        len
    } else {
        -2
    }
}

/// Removes the narinfo of a hash part (with its references and nar file
/// records; nar files on disk are left alone). On success `*removed_out`
/// (if not NULL) says whether one was stored. This does not check
/// referrers: keeping references served is the garbage collector's job.
///
/// # Safety
///
/// `store` is NULL or a store not yet freed; `hash` points to `hash_len`
/// readable bytes; `removed_out` is NULL or writable; `error_out` is NULL
/// or writable.
#[no_mangle]
pub unsafe extern "C" fn narherder_narinfo_remove(
    store: *const narherder_store,
    hash: *const u8,
    hash_len: usize,
    removed_out: *mut bool,
    error_out: *mut *mut narherder_error,
) -> narherder_status {
    // SAFETY: forwarded contract.
    unsafe {
        guard(error_out, || -> Outcome {
            let hash = hash_arg(hash, hash_len)?;
            let removed = with_store(store, |s| Ok(s.block_on(s.store.remove(hash))?))?;
            if !removed_out.is_null() {
                *removed_out = removed;
            }
            Ok(())
        })
    }
}

/// Frees a narinfo returned by `narherder_narinfo_get`, `_parse` or
/// `narherder_secret_key_sign` (not one borrowed from a batch). NULL is
/// allowed. Any thread.
///
/// # Safety
///
/// `narinfo` is NULL or an owned narinfo not yet freed; it is not used
/// again.
#[no_mangle]
pub unsafe extern "C" fn narherder_narinfo_free(narinfo: *mut narherder_narinfo) {
    guard_value((), || {
        if !narinfo.is_null() {
            // SAFETY: by the contract, narinfo came from into_raw.
            drop(unsafe { Box::from_raw(narinfo.cast::<NarinfoHandle>()) });
        }
    })
}

/// The narinfo's text, byte for byte as stored (NUL-terminated; the text
/// itself never holds a NUL). When `len_out` is not NULL it receives the
/// length in bytes (without the NUL). NULL for a NULL narinfo.
///
/// # Safety
///
/// `narinfo` is NULL or a live narinfo; `len_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn narherder_narinfo_text(
    narinfo: *const narherder_narinfo,
    len_out: *mut usize,
) -> *const c_char {
    guard_value(std::ptr::null(), || {
        // SAFETY: forwarded contract.
        match unsafe { handle(narinfo) } {
            Some(h) => {
                if !len_out.is_null() {
                    // SAFETY: len_out is writable by the contract.
                    unsafe { *len_out = h.text.as_bytes().len() };
                }
                h.text.as_ptr()
            }
            None => std::ptr::null(),
        }
    })
}

/// The full store path, e.g. `/gnu/store/<hash>-hello-2.12.2`.
///
/// # Safety
///
/// `narinfo` is NULL or a live narinfo.
#[no_mangle]
pub unsafe extern "C" fn narherder_narinfo_store_path(
    narinfo: *const narherder_narinfo,
) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { field(narinfo, std::ptr::null(), |f| ptr_of(&f.store_path)) }
}

/// The 32-character hash part of the store path.
///
/// # Safety
///
/// `narinfo` is NULL or a live narinfo.
#[no_mangle]
pub unsafe extern "C" fn narherder_narinfo_hash(
    narinfo: *const narherder_narinfo,
) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { field(narinfo, std::ptr::null(), |f| ptr_of(&f.hash)) }
}

/// `NarHash` as written, e.g. `sha256:<nix32>`.
///
/// # Safety
///
/// `narinfo` is NULL or a live narinfo.
#[no_mangle]
pub unsafe extern "C" fn narherder_narinfo_nar_hash(
    narinfo: *const narherder_narinfo,
) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { field(narinfo, std::ptr::null(), |f| ptr_of(&f.nar_hash)) }
}

/// `NarSize`; 0 for NULL.
///
/// # Safety
///
/// `narinfo` is NULL or a live narinfo.
#[no_mangle]
pub unsafe extern "C" fn narherder_narinfo_nar_size(narinfo: *const narherder_narinfo) -> u64 {
    // SAFETY: forwarded contract.
    unsafe { field(narinfo, 0, |f| f.nar_size) }
}

/// The number of `References` (base names, as written).
///
/// # Safety
///
/// `narinfo` is NULL or a live narinfo.
#[no_mangle]
pub unsafe extern "C" fn narherder_narinfo_references_count(
    narinfo: *const narherder_narinfo,
) -> usize {
    // SAFETY: forwarded contract.
    unsafe { field(narinfo, 0, |f| f.references.len()) }
}

/// The `index`-th reference (a base name `<hash>-<name>`, in file order);
/// NULL when out of range.
///
/// # Safety
///
/// `narinfo` is NULL or a live narinfo.
#[no_mangle]
pub unsafe extern "C" fn narherder_narinfo_reference(
    narinfo: *const narherder_narinfo,
    index: usize,
) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe {
        field(narinfo, std::ptr::null(), |f| {
            f.references.get(index).map_or(std::ptr::null(), ptr_of)
        })
    }
}

/// `Deriver` (a base name), or NULL when absent.
///
/// # Safety
///
/// `narinfo` is NULL or a live narinfo.
#[no_mangle]
pub unsafe extern "C" fn narherder_narinfo_deriver(
    narinfo: *const narherder_narinfo,
) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { field(narinfo, std::ptr::null(), |f| opt_ptr(&f.deriver)) }
}

/// `System`, or NULL when absent.
///
/// # Safety
///
/// `narinfo` is NULL or a live narinfo.
#[no_mangle]
pub unsafe extern "C" fn narherder_narinfo_system(
    narinfo: *const narherder_narinfo,
) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { field(narinfo, std::ptr::null(), |f| opt_ptr(&f.system)) }
}

/// `CA`, or NULL when absent.
///
/// # Safety
///
/// `narinfo` is NULL or a live narinfo.
#[no_mangle]
pub unsafe extern "C" fn narherder_narinfo_ca(narinfo: *const narherder_narinfo) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { field(narinfo, std::ptr::null(), |f| opt_ptr(&f.ca)) }
}

/// The Guix `Signature:` value (`1;<host>;<base64>`), or NULL when absent.
///
/// # Safety
///
/// `narinfo` is NULL or a live narinfo.
#[no_mangle]
pub unsafe extern "C" fn narherder_narinfo_signature(
    narinfo: *const narherder_narinfo,
) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { field(narinfo, std::ptr::null(), |f| opt_ptr(&f.signature)) }
}

/// The number of Nix `Sig:` lines.
///
/// # Safety
///
/// `narinfo` is NULL or a live narinfo.
#[no_mangle]
pub unsafe extern "C" fn narherder_narinfo_sigs_count(narinfo: *const narherder_narinfo) -> usize {
    // SAFETY: forwarded contract.
    unsafe { field(narinfo, 0, |f| f.sigs.len()) }
}

/// The `index`-th Nix `Sig:` value (`<keyname>:<base64>`, in file order);
/// NULL when out of range.
///
/// # Safety
///
/// `narinfo` is NULL or a live narinfo.
#[no_mangle]
pub unsafe extern "C" fn narherder_narinfo_sig(
    narinfo: *const narherder_narinfo,
    index: usize,
) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe {
        field(narinfo, std::ptr::null(), |f| {
            f.sigs.get(index).map_or(std::ptr::null(), ptr_of)
        })
    }
}

/// The number of URL groups (`URL`, `Compression`, `FileSize`, `FileHash`
/// lines that belong together, one per compression).
///
/// # Safety
///
/// `narinfo` is NULL or a live narinfo.
#[no_mangle]
pub unsafe extern "C" fn narherder_narinfo_files_count(narinfo: *const narherder_narinfo) -> usize {
    // SAFETY: forwarded contract.
    unsafe { field(narinfo, 0, |f| f.files.len()) }
}

/// The `URL` of the `index`-th group; NULL when out of range.
///
/// # Safety
///
/// `narinfo` is NULL or a live narinfo.
#[no_mangle]
pub unsafe extern "C" fn narherder_narinfo_file_url(
    narinfo: *const narherder_narinfo,
    index: usize,
) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe {
        field(narinfo, std::ptr::null(), |f| {
            f.files
                .get(index)
                .map_or(std::ptr::null(), |g| ptr_of(&g.url))
        })
    }
}

/// The `Compression` of the `index`-th group; NULL when absent or out of
/// range.
///
/// # Safety
///
/// `narinfo` is NULL or a live narinfo.
#[no_mangle]
pub unsafe extern "C" fn narherder_narinfo_file_compression(
    narinfo: *const narherder_narinfo,
    index: usize,
) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe {
        field(narinfo, std::ptr::null(), |f| {
            f.files
                .get(index)
                .map_or(std::ptr::null(), |g| opt_ptr(&g.compression))
        })
    }
}

/// The `FileSize` of the `index`-th group; -1 when absent or out of range.
///
/// # Safety
///
/// `narinfo` is NULL or a live narinfo.
#[no_mangle]
pub unsafe extern "C" fn narherder_narinfo_file_size(
    narinfo: *const narherder_narinfo,
    index: usize,
) -> i64 {
    // SAFETY: forwarded contract.
    unsafe {
        field(narinfo, -1, |f| {
            f.files
                .get(index)
                .and_then(|g| g.file_size)
                .and_then(|s| i64::try_from(s).ok())
                .unwrap_or(-1)
        })
    }
}

/// The `FileHash` of the `index`-th group; NULL when absent or out of
/// range.
///
/// # Safety
///
/// `narinfo` is NULL or a live narinfo.
#[no_mangle]
pub unsafe extern "C" fn narherder_narinfo_file_hash(
    narinfo: *const narherder_narinfo,
    index: usize,
) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe {
        field(narinfo, std::ptr::null(), |f| {
            f.files
                .get(index)
                .map_or(std::ptr::null(), |g| opt_ptr(&g.file_hash))
        })
    }
}
