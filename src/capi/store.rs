//! `narherder_store`: an open store, with its own tokio runtime and the
//! database pool created inside it.

use std::ffi::{c_char, CString};
use std::sync::RwLock;
use std::time::Duration;

use tokio::runtime::Runtime;

use super::error::narherder_error;
use super::narherder_status;
use super::{check_out, guard, guard_value, opt_str_arg, read_options, str_arg, Failure, Outcome};
use crate::store::fastread::FastReader;
use crate::store::{Store, StoreOptions};

/// How long `narherder_store_close` waits for the runtime's threads.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// An open store: a database (SQLite file or PostgreSQL) of narinfos.
///
/// Each store owns a tokio runtime (two worker threads) and the database
/// pool created inside it; calls block the calling thread until they are
/// done. On SQLite, lookups (`narherder_narinfo_get`, `_get_many`,
/// `_exists_many`) go through raw read connections with prepared
/// statements instead of the pool, behind a cache of answers that any
/// commit (of this process or another) empties.
///
/// Thread-safety: every function may be called on one store from several
/// threads at once (the threads share the pool). `narherder_store_close`
/// waits for calls in progress; calls after it fail with
/// `NARHERDER_STATUS_CLOSED`. `narherder_store_free` must be the last call
/// on the store, from any thread.
///
/// Fork: a store belongs to the process that opened it. In a child created
/// by `fork()`, every call fails with `NARHERDER_STATUS_FORKED` and
/// `narherder_store_free` leaks the handle instead of touching the parent's
/// runtime and connections; open a new store in the child.
pub struct narherder_store {
    _private: [u8; 0],
}

/// How to open a store. Pass `sizeof(narherder_store_options)` next to it;
/// zero (or NULL) fields take their defaults, and fields are only ever
/// added at the end.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct narherder_store_options {
    /// The store directory (e.g. `/nix/store`), UTF-8, `store_dir_len`
    /// bytes. A new database records it (default `/gnu/store`); an existing
    /// one must have recorded the same. NULL: accept whatever the database
    /// has.
    pub store_dir: *const u8,
    /// Length of `store_dir` in bytes.
    pub store_dir_len: usize,
    /// Largest number of pooled database connections; 0: the default (4
    /// for SQLite, 8 for PostgreSQL).
    pub max_connections: u32,
    /// The SQLite fast lookup path (raw read connections and a cache): 0
    /// uses it (the default), 1 sends lookups through the pool like every
    /// other call.
    pub disable_fast_reads: u32,
    /// Budget of the SQLite lookup cache in bytes: 0 is the default
    /// (64 MiB); `SIZE_MAX` disables the cache (lookups still take the raw
    /// read connections). The cache never serves stale answers: any commit,
    /// by this process or another, empties it.
    pub read_cache_bytes: usize,
}

/// The value behind a `narherder_store` pointer.
pub(crate) struct StoreHandle {
    /// The process that opened the store.
    pid: u32,
    /// `None` once closed.
    state: RwLock<Option<OpenStore>>,
}

/// An open store's runtime, store and fast read path.
pub(crate) struct OpenStore {
    pub(crate) runtime: Runtime,
    pub(crate) store: Store,
    pub(crate) fast: Option<FastReader>,
}

impl OpenStore {
    /// Runs a future of the store on its runtime, blocking this thread.
    pub(crate) fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }
}

fn pid() -> u32 {
    std::process::id()
}

/// Runs `f` on the open store behind `store`: NULL, a forked child and a
/// closed store are failures.
///
/// # Safety
///
/// `store` is NULL or a store handle not yet freed.
pub(crate) unsafe fn with_store<T>(
    store: *const narherder_store,
    f: impl FnOnce(&OpenStore) -> Result<T, Failure>,
) -> Result<T, Failure> {
    // SAFETY: by the contract, a non-NULL store points to a StoreHandle.
    let handle = unsafe { store.cast::<StoreHandle>().as_ref() }.ok_or(Failure::null("store"))?;
    if handle.pid != pid() {
        return Err(forked());
    }
    let state = handle.state.read().unwrap_or_else(|p| p.into_inner());
    match state.as_ref() {
        Some(open) => f(open),
        None => Err(Failure::new(
            narherder_status::Closed,
            "the store was closed (narherder_store_close)",
        )),
    }
}

fn forked() -> Failure {
    Failure::new(
        narherder_status::Forked,
        "this store was opened by another process (before a fork): open a new store in the child",
    )
}

fn runtime() -> Result<Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("narherder-store")
        .enable_all()
        .build()
        .map_err(|e| {
            Failure::new(
                narherder_status::Runtime,
                format!("cannot start the store's runtime: {e}"),
            )
        })
}

/// Opens (and, for SQLite, creates) the store at a database URL:
/// `sqlite://PATH`, `sqlite:PATH`, `postgres://…` or `postgresql://…`,
/// applying schema migrations. `options` may be NULL (defaults).
/// On success `*store_out` receives a store to free with
/// [`narherder_store_free`] (after [`narherder_store_close`]).
///
/// # Safety
///
/// `url` points to `url_len` readable bytes; `options` is NULL or points to
/// `options_size` readable bytes; `store_out` is writable; `error_out` is
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn narherder_store_open(
    url: *const u8,
    url_len: usize,
    options: *const narherder_store_options,
    options_size: usize,
    store_out: *mut *mut narherder_store,
    error_out: *mut *mut narherder_error,
) -> narherder_status {
    // SAFETY: forwarded contract.
    unsafe {
        guard(error_out, || -> Outcome {
            check_out(store_out, "store_out")?;
            let url = str_arg(url, url_len, "url")?.to_owned();
            let opts = read_options(options, options_size, "options")?;
            let mut store_options = StoreOptions::default();
            let mut fast_reads = true;
            let mut cache_bytes = crate::store::fastread::DEFAULT_CACHE_BYTES;
            if let Some(o) = opts {
                store_options.store_dir =
                    opt_str_arg(o.store_dir, o.store_dir_len, "options.store_dir")?
                        .map(str::to_owned);
                if o.max_connections > 0 {
                    store_options.max_connections = Some(o.max_connections);
                }
                fast_reads = o.disable_fast_reads == 0;
                cache_bytes = match o.read_cache_bytes {
                    0 => cache_bytes,
                    usize::MAX => 0,
                    n => n,
                };
            }
            let runtime = runtime()?;
            let opened = runtime.block_on(async {
                let store = Store::open(&url, &store_options).await?;
                let fast = if fast_reads {
                    match FastReader::open_with_cache(&store, cache_bytes) {
                        Ok(f) => f,
                        Err(e) => {
                            store.close().await;
                            return Err(e);
                        }
                    }
                } else {
                    None
                };
                Ok::<_, crate::Error>((store, fast))
            });
            let (store, fast) = match opened {
                Ok(v) => v,
                Err(e) => {
                    runtime.shutdown_timeout(SHUTDOWN_TIMEOUT);
                    return Err(e.into());
                }
            };
            let handle = StoreHandle {
                pid: pid(),
                state: RwLock::new(Some(OpenStore {
                    runtime,
                    store,
                    fast,
                })),
            };
            *store_out = Box::into_raw(Box::new(handle)).cast();
            Ok(())
        })
    }
}

/// Closes a store: waits for calls in progress, closes the database pool,
/// then stops the runtime (waiting up to 10 seconds for its threads).
/// Closing a closed store is a success. The handle stays valid (calls fail
/// with `NARHERDER_STATUS_CLOSED`) until [`narherder_store_free`].
///
/// # Safety
///
/// `store` is NULL or a store not yet freed; `error_out` is NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn narherder_store_close(
    store: *mut narherder_store,
    error_out: *mut *mut narherder_error,
) -> narherder_status {
    // SAFETY: forwarded contract.
    unsafe {
        guard(error_out, || -> Outcome {
            let handle = store
                .cast::<StoreHandle>()
                .as_ref()
                .ok_or(Failure::null("store"))?;
            if handle.pid != pid() {
                return Err(forked());
            }
            let taken = handle
                .state
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            if let Some(open) = taken {
                let OpenStore {
                    runtime,
                    store,
                    fast,
                } = open;
                drop(fast);
                runtime.block_on(store.close());
                drop(store);
                runtime.shutdown_timeout(SHUTDOWN_TIMEOUT);
            }
            Ok(())
        })
    }
}

/// Frees a store. Never blocks: a store not closed first has its runtime
/// shut down in the background (its connections are dropped, not closed
/// politely). In a forked child it leaks the handle instead (see
/// [`narherder_store`]). NULL is allowed. Any thread, once no other call on
/// the store is in progress.
///
/// # Safety
///
/// `store` is NULL or a store not yet freed; it is not used again.
#[no_mangle]
pub unsafe extern "C" fn narherder_store_free(store: *mut narherder_store) {
    guard_value((), || {
        if store.is_null() {
            return;
        }
        // SAFETY: by the contract, store came from narherder_store_open (a
        // Box<StoreHandle>) and is freed once.
        let handle = unsafe { Box::from_raw(store.cast::<StoreHandle>()) };
        if handle.pid != pid() {
            std::mem::forget(handle);
            return;
        }
        let taken = handle
            .state
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(open) = taken {
            let OpenStore {
                runtime,
                store,
                fast,
            } = open;
            drop(fast);
            {
                let _inside = runtime.enter();
                drop(store);
            }
            runtime.shutdown_background();
        }
    })
}

/// The store directory the store serves, e.g. `/gnu/store`. On success
/// `*store_dir_out` receives a NUL-terminated string owned by the caller,
/// to free with [`narherder_string_free`].
///
/// # Safety
///
/// `store` is NULL or a store not yet freed; `store_dir_out` is writable;
/// `error_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn narherder_store_dir(
    store: *const narherder_store,
    store_dir_out: *mut *mut c_char,
    error_out: *mut *mut narherder_error,
) -> narherder_status {
    // SAFETY: forwarded contract.
    unsafe {
        guard(error_out, || -> Outcome {
            check_out(store_dir_out, "store_dir_out")?;
            let dir = with_store(store, |s| Ok(s.store.store_dir().to_owned()))?;
            let dir =
                CString::new(dir).map_err(|_| Failure::invalid("store directory holds a NUL"))?;
            *store_dir_out = dir.into_raw();
            Ok(())
        })
    }
}

/// The database engine of the store: `"sqlite"` or `"postgres"` (a static
/// string, never freed), through `*backend_out`.
///
/// # Safety
///
/// `store` is NULL or a store not yet freed; `backend_out` is writable;
/// `error_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn narherder_store_backend(
    store: *const narherder_store,
    backend_out: *mut *const c_char,
    error_out: *mut *mut narherder_error,
) -> narherder_status {
    // SAFETY: forwarded contract.
    unsafe {
        guard(error_out, || -> Outcome {
            check_out(backend_out, "backend_out")?;
            let name = with_store(store, |s| {
                Ok(match s.store.backend_name() {
                    "sqlite" => c"sqlite",
                    _ => c"postgres",
                })
            })?;
            *backend_out = name.as_ptr();
            Ok(())
        })
    }
}

/// Frees a string that narherder returned as owned (`char *`). NULL is
/// allowed. Any thread.
///
/// # Safety
///
/// `string` is NULL or an owned string from narherder not yet freed.
#[no_mangle]
pub unsafe extern "C" fn narherder_string_free(string: *mut c_char) {
    guard_value((), || {
        if !string.is_null() {
            // SAFETY: by the contract, string came from CString::into_raw.
            drop(unsafe { CString::from_raw(string) });
        }
    })
}
