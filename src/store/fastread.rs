//! A fast read path for point lookups on SQLite, beside the sqlx pool.
//!
//! A lookup through sqlx-sqlite costs tens of microseconds (the statement
//! goes to a worker thread and back through channels); the same point query
//! through the SQLite C API on a prepared statement costs a few
//! microseconds. [`FastReader`] keeps a few raw read-only connections to
//! the store's database file, each with its statements prepared once, each
//! behind a mutex, and answers [`FastReader::get_text`],
//! [`FastReader::get_texts`] and [`FastReader::exists_many`] on them.
//!
//! In front of them sits a byte-bounded cache of answers (texts and
//! misses), so that a warm lookup is a hash-map probe and a copy. It is
//! never stale: before answering, the reader runs `PRAGMA data_version` on
//! a connection of its own, whose value changes whenever any other
//! connection — the store's pool, another process — has committed; a
//! change empties the cache. When the cache outgrows its budget it is
//! emptied too (cheap, and a working set that fits stays warm).
//!
//! Freshness without the cache: every lookup is a statement of its own (a
//! batch is one read transaction), and the database is in WAL mode, so each
//! one sees every transaction committed before it started, by this process
//! or another.
//!
//! PostgreSQL has no such path ([`FastReader::open`] returns `None`): use
//! the [`Store`] methods.

use std::collections::HashMap;
use std::ffi::{c_int, CStr, CString};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use libsqlite3_sys as ffi;

use super::key::try_key;
use super::{Backend, Store, BUSY_TIMEOUT};
use crate::{Error, Result};

const GET_TEXT: &CStr =
    c"SELECT n.text FROM items i JOIN narinfos n ON n.item_id = i.id WHERE i.hash = ?1";
const EXISTS: &CStr =
    c"SELECT 1 FROM items i JOIN narinfos n ON n.item_id = i.id WHERE i.hash = ?1";
const BEGIN: &CStr = c"BEGIN";
const COMMIT: &CStr = c"COMMIT";
const ROLLBACK: &CStr = c"ROLLBACK";
const DATA_VERSION: &CStr = c"PRAGMA data_version";

/// The cache budget used by [`FastReader::open`]: 64 MiB of texts.
pub const DEFAULT_CACHE_BYTES: usize = 64 << 20;

/// What a cached miss counts against the budget.
const MISS_BYTES: usize = 64;
/// What a cached text counts beyond its bytes.
const ENTRY_BYTES: usize = 64;

/// Raw connections kept by a reader: lookups from several threads at once
/// take different connections.
const CONNECTIONS: usize = 4;

/// Raw read-only SQLite connections with prepared point queries (see the
/// [module documentation](self)). Usable from several threads at once.
pub struct FastReader {
    conns: Vec<Mutex<Conn>>,
    /// The connection whose `PRAGMA data_version` tells whether the cache
    /// is still valid (it never reads anything else).
    version: Mutex<Conn>,
    cache: Mutex<Cache>,
    cache_bytes: usize,
}

/// Answers seen at one data version: a text, or `None` for a miss.
#[derive(Default)]
struct Cache {
    version: i64,
    map: HashMap<[u8; 20], Option<Arc<[u8]>>>,
    bytes: usize,
}

impl Cache {
    /// Adopts `version`, emptying the cache if it changed.
    fn at(&mut self, version: i64) {
        if self.version != version {
            self.map.clear();
            self.bytes = 0;
            self.version = version;
        }
    }

    /// Remembers an answer read at `version` (dropped if the cache has
    /// moved on since).
    fn insert(&mut self, version: i64, key: [u8; 20], text: Option<Arc<[u8]>>, budget: usize) {
        if self.version != version {
            return;
        }
        let cost = text.as_ref().map_or(MISS_BYTES, |t| t.len() + ENTRY_BYTES);
        if cost > budget {
            return;
        }
        if self.bytes + cost > budget {
            self.map.clear();
            self.bytes = 0;
        }
        if self.map.insert(key, text).is_none() {
            self.bytes += cost;
        }
    }
}

impl std::fmt::Debug for FastReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FastReader")
            .field("connections", &self.conns.len())
            .finish()
    }
}

/// One connection and its prepared statements (finalized on drop).
struct Conn {
    db: *mut ffi::sqlite3,
    get: *mut ffi::sqlite3_stmt,
    exists: *mut ffi::sqlite3_stmt,
    begin: *mut ffi::sqlite3_stmt,
    commit: *mut ffi::sqlite3_stmt,
    rollback: *mut ffi::sqlite3_stmt,
    data_version: *mut ffi::sqlite3_stmt,
}

// SAFETY: a connection is only ever used by the thread holding its mutex,
// and SQLite (built thread-safe) allows a connection to move between
// threads.
unsafe impl Send for Conn {}

impl Drop for Conn {
    fn drop(&mut self) {
        // SAFETY: the statements and the connection were created by
        // `Conn::open`, are not used after this, and finalizing NULL is a
        // no-op.
        unsafe {
            for stmt in [
                self.get,
                self.exists,
                self.begin,
                self.commit,
                self.rollback,
                self.data_version,
            ] {
                ffi::sqlite3_finalize(stmt);
            }
            ffi::sqlite3_close(self.db);
        }
    }
}

/// The message of the last error on `db`.
fn errmsg(db: *mut ffi::sqlite3) -> String {
    // SAFETY: sqlite3_errmsg accepts any connection (NULL gives a generic
    // message) and returns a NUL-terminated string valid until the next call.
    unsafe {
        let p = ffi::sqlite3_errmsg(db);
        if p.is_null() {
            "unknown SQLite error".into()
        } else {
            CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    }
}

fn sqlite_error(path: &Path, what: &str, db: *mut ffi::sqlite3) -> Error {
    Error::Store(format!(
        "{}: fast read path: {what}: {}",
        path.display(),
        errmsg(db)
    ))
}

impl Conn {
    fn open(path: &Path) -> Result<Conn> {
        let c_path = CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| {
            Error::Store(format!("{}: a NUL byte in the file name", path.display()))
        })?;
        let mut db = std::ptr::null_mut();
        // SAFETY: c_path is NUL-terminated; db receives a handle (possibly
        // non-NULL on failure, closed by Conn's drop below).
        let rc = unsafe {
            ffi::sqlite3_open_v2(
                c_path.as_ptr(),
                &mut db,
                ffi::SQLITE_OPEN_READWRITE | ffi::SQLITE_OPEN_NOMUTEX,
                std::ptr::null(),
            )
        };
        let mut conn = Conn {
            db,
            get: std::ptr::null_mut(),
            exists: std::ptr::null_mut(),
            begin: std::ptr::null_mut(),
            commit: std::ptr::null_mut(),
            rollback: std::ptr::null_mut(),
            data_version: std::ptr::null_mut(),
        };
        if rc != ffi::SQLITE_OK {
            return Err(sqlite_error(path, "open", db));
        }
        let busy_ms = c_int::try_from(BUSY_TIMEOUT.as_millis()).unwrap_or(c_int::MAX);
        // SAFETY: db is an open connection; the SQL is NUL-terminated.
        let rc = unsafe {
            ffi::sqlite3_busy_timeout(db, busy_ms);
            ffi::sqlite3_exec(
                db,
                c"PRAGMA query_only = 1".as_ptr(),
                None,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        if rc != ffi::SQLITE_OK {
            return Err(sqlite_error(path, "PRAGMA query_only", db));
        }
        conn.get = conn.prepare(path, GET_TEXT)?;
        conn.exists = conn.prepare(path, EXISTS)?;
        conn.begin = conn.prepare(path, BEGIN)?;
        conn.commit = conn.prepare(path, COMMIT)?;
        conn.rollback = conn.prepare(path, ROLLBACK)?;
        conn.data_version = conn.prepare(path, DATA_VERSION)?;
        Ok(conn)
    }

    fn prepare(&self, path: &Path, sql: &CStr) -> Result<*mut ffi::sqlite3_stmt> {
        let mut stmt = std::ptr::null_mut();
        // SAFETY: db is open; sql is NUL-terminated (-1: read to the NUL).
        let rc = unsafe {
            ffi::sqlite3_prepare_v3(
                self.db,
                sql.as_ptr(),
                -1,
                ffi::SQLITE_PREPARE_PERSISTENT,
                &mut stmt,
                std::ptr::null_mut(),
            )
        };
        if rc != ffi::SQLITE_OK || stmt.is_null() {
            return Err(sqlite_error(path, "prepare", self.db));
        }
        Ok(stmt)
    }

    fn error(&self, what: &str) -> Error {
        Error::Store(format!("fast read path: {what}: {}", errmsg(self.db)))
    }

    /// Runs a statement without results (BEGIN, COMMIT, ROLLBACK).
    fn exec(&self, stmt: *mut ffi::sqlite3_stmt, what: &str) -> Result<()> {
        // SAFETY: stmt is a prepared statement of this connection, reset
        // before returning.
        let rc = unsafe {
            let rc = ffi::sqlite3_step(stmt);
            ffi::sqlite3_reset(stmt);
            rc
        };
        if rc == ffi::SQLITE_DONE {
            Ok(())
        } else {
            Err(self.error(what))
        }
    }

    /// `PRAGMA data_version` of this connection.
    fn data_version(&self) -> Result<i64> {
        // SAFETY: the statement belongs to this connection, used by the
        // holder of its mutex, and is reset before returning.
        unsafe {
            let rc = ffi::sqlite3_step(self.data_version);
            let out = if rc == ffi::SQLITE_ROW {
                Ok(ffi::sqlite3_column_int64(self.data_version, 0))
            } else {
                Err(self.error("PRAGMA data_version"))
            };
            ffi::sqlite3_reset(self.data_version);
            out
        }
    }

    /// Runs `stmt` for `key`, giving the first column of the row (as bytes)
    /// to `f`; `None` when there is no row.
    fn lookup<R>(
        &self,
        stmt: *mut ffi::sqlite3_stmt,
        key: &[u8; 20],
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<Option<R>> {
        // SAFETY: stmt belongs to this connection and is used only by the
        // holder of the connection's mutex; the key outlives the step
        // (SQLITE_STATIC) and the bindings are cleared before returning;
        // the column pointer is read before the reset that invalidates it.
        unsafe {
            let rc = ffi::sqlite3_bind_blob(stmt, 1, key.as_ptr().cast(), 20, ffi::SQLITE_STATIC());
            if rc != ffi::SQLITE_OK {
                ffi::sqlite3_reset(stmt);
                ffi::sqlite3_clear_bindings(stmt);
                return Err(self.error("bind"));
            }
            let rc = ffi::sqlite3_step(stmt);
            let out = match rc {
                ffi::SQLITE_ROW => {
                    let p = ffi::sqlite3_column_blob(stmt, 0).cast::<u8>();
                    let n = usize::try_from(ffi::sqlite3_column_bytes(stmt, 0)).unwrap_or(0);
                    let bytes: &[u8] = if p.is_null() || n == 0 {
                        &[]
                    } else {
                        std::slice::from_raw_parts(p, n)
                    };
                    Ok(Some(f(bytes)))
                }
                ffi::SQLITE_DONE => Ok(None),
                _ => Err(self.error("step")),
            };
            ffi::sqlite3_reset(stmt);
            ffi::sqlite3_clear_bindings(stmt);
            out
        }
    }
}

impl FastReader {
    /// A reader on the store's SQLite file with a cache of
    /// [`DEFAULT_CACHE_BYTES`], or `None` for PostgreSQL.
    pub fn open(store: &Store) -> Result<Option<FastReader>> {
        FastReader::open_with_cache(store, DEFAULT_CACHE_BYTES)
    }

    /// A reader whose cache holds up to `cache_bytes` (0: no cache), or
    /// `None` for PostgreSQL and in-memory SQLite databases (which other
    /// connections cannot open).
    pub fn open_with_cache(store: &Store, cache_bytes: usize) -> Result<Option<FastReader>> {
        let Backend::Sqlite(pool) = store.backend() else {
            return Ok(None);
        };
        let options = pool.connect_options();
        let path = options.get_filename();
        let name = path.as_os_str().to_string_lossy();
        if name.is_empty() || name == ":memory:" || name.starts_with("file:") {
            return Ok(None);
        }
        let conns = (0..CONNECTIONS)
            .map(|_| Conn::open(path).map(Mutex::new))
            .collect::<Result<Vec<_>>>()?;
        let version = Mutex::new(Conn::open(path)?);
        Ok(Some(FastReader {
            conns,
            version,
            cache: Mutex::new(Cache::default()),
            cache_bytes,
        }))
    }

    /// A free connection if there is one, else waits for the first.
    fn conn(&self) -> MutexGuard<'_, Conn> {
        for m in &self.conns {
            if let Ok(guard) = m.try_lock() {
                return guard;
            }
        }
        // A panic while holding a connection leaves it usable: statements
        // are reset on every path.
        self.conns[0].lock().unwrap_or_else(|p| p.into_inner())
    }

    fn cache(&self) -> MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current data version, after which the cache holds only answers
    /// at least that fresh; `None` without a cache.
    fn refresh(&self) -> Result<Option<i64>> {
        if self.cache_bytes == 0 {
            return Ok(None);
        }
        let v = self
            .version
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .data_version()?;
        self.cache().at(v);
        Ok(Some(v))
    }

    /// The cached answer for `key`: `Some(None)` is a cached miss.
    fn cached(&self, key: &[u8; 20]) -> Option<Option<Arc<[u8]>>> {
        self.cache().map.get(key).cloned()
    }

    /// The stored text for a hash part, given to `f` as bytes; `None` when
    /// no narinfo is stored (or the string is no hash part).
    pub fn get_text_with<R>(&self, hash: &str, f: impl FnOnce(&[u8]) -> R) -> Result<Option<R>> {
        let Some(key) = try_key(hash) else {
            return Ok(None);
        };
        let Some(version) = self.refresh()? else {
            let conn = self.conn();
            return conn.lookup(conn.get, &key, f);
        };
        if let Some(answer) = self.cached(&key) {
            return Ok(answer.map(|t| f(&t)));
        }
        let text = {
            let conn = self.conn();
            conn.lookup(conn.get, &key, |b: &[u8]| Arc::<[u8]>::from(b))?
        };
        self.cache()
            .insert(version, key, text.clone(), self.cache_bytes);
        Ok(text.map(|t| f(&t)))
    }

    /// The stored text for a hash part, if any.
    pub fn get_text(&self, hash: &str) -> Result<Option<String>> {
        self.get_text_with(hash, |b| String::from_utf8(b.to_vec()))?
            .transpose()
            .map_err(|_| Error::Store(format!("stored text of {hash} is not UTF-8")))
    }

    /// The stored texts for many hash parts, read at one data version (the
    /// lookups the cache cannot answer run in one read transaction), each
    /// given to `f` as bytes: entry *i* answers `hashes[i]`.
    pub fn get_texts_with<R>(
        &self,
        hashes: &[&str],
        mut f: impl FnMut(&[u8]) -> R,
    ) -> Result<Vec<Option<R>>> {
        let keys: Vec<Option<[u8; 20]>> = hashes.iter().map(|h| try_key(h)).collect();
        let Some(version) = self.refresh()? else {
            return self.batch(&keys, |conn, key| conn.lookup(conn.get, key, &mut f));
        };
        // Answers from the cache; the rest from the database.
        let mut answers: Vec<Option<Option<Arc<[u8]>>>> = {
            let cache = self.cache();
            keys.iter()
                .map(|k| k.and_then(|k| cache.map.get(&k).cloned()))
                .collect()
        };
        let missing: Vec<Option<[u8; 20]>> = keys
            .iter()
            .zip(&answers)
            .map(|(k, a)| if a.is_none() { *k } else { None })
            .collect();
        if missing.iter().any(Option::is_some) {
            let read = self.batch(&missing, |conn, key| {
                conn.lookup(conn.get, key, |b: &[u8]| Arc::<[u8]>::from(b))
            })?;
            let mut cache = self.cache();
            for ((key, answer), text) in missing.iter().zip(answers.iter_mut()).zip(read) {
                if let Some(key) = key {
                    cache.insert(version, *key, text.clone(), self.cache_bytes);
                    *answer = Some(text);
                }
            }
        }
        Ok(answers
            .into_iter()
            .map(|a| a.flatten().map(|t| f(&t)))
            .collect())
    }

    /// The stored texts for many hash parts (see [`FastReader::get_texts_with`]).
    pub fn get_texts(&self, hashes: &[&str]) -> Result<Vec<Option<String>>> {
        self.get_texts_with(hashes, |b| String::from_utf8(b.to_vec()).ok())
            .map(|v| v.into_iter().map(Option::flatten).collect())
    }

    /// Whether each hash part has a stored narinfo (cached answers, the
    /// rest in one read transaction).
    pub fn exists_many(&self, hashes: &[&str]) -> Result<Vec<bool>> {
        let keys: Vec<Option<[u8; 20]>> = hashes.iter().map(|h| try_key(h)).collect();
        let mut out: Vec<Option<bool>> = if self.refresh()?.is_some() {
            let cache = self.cache();
            keys.iter()
                .map(|k| k.and_then(|k| cache.map.get(&k).map(Option::is_some)))
                .collect()
        } else {
            vec![None; keys.len()]
        };
        let missing: Vec<Option<[u8; 20]>> = keys
            .iter()
            .zip(&out)
            .map(|(k, a)| if a.is_none() { *k } else { None })
            .collect();
        if missing.iter().any(Option::is_some) {
            let read = self.batch(&missing, |conn, key| conn.lookup(conn.exists, key, |_| ()))?;
            for ((key, answer), found) in missing.iter().zip(out.iter_mut()).zip(read) {
                if key.is_some() {
                    *answer = Some(found.is_some());
                }
            }
        }
        Ok(out.into_iter().map(|a| a.unwrap_or(false)).collect())
    }

    /// Runs `one` for every key (`None`: no lookup, a `None` answer) in one
    /// read transaction.
    fn batch<R>(
        &self,
        keys: &[Option<[u8; 20]>],
        mut one: impl FnMut(&Conn, &[u8; 20]) -> Result<Option<R>>,
    ) -> Result<Vec<Option<R>>> {
        let conn = self.conn();
        conn.exec(conn.begin, "BEGIN")?;
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let r = match key {
                Some(key) => one(&conn, key),
                None => Ok(None),
            };
            match r {
                Ok(r) => out.push(r),
                Err(e) => {
                    let _ = conn.exec(conn.rollback, "ROLLBACK");
                    return Err(e);
                }
            }
        }
        conn.exec(conn.commit, "COMMIT")?;
        Ok(out)
    }
}
