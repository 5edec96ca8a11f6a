//! A fast read path for point lookups on SQLite, beside the sqlx pool.
//!
//! A lookup through sqlx-sqlite costs tens of microseconds (the statement
//! goes to a worker thread and back through channels); the same point query
//! through the SQLite C API on a prepared statement costs about a
//! microsecond. [`FastReader`] keeps a few raw read-only connections to the
//! store's database file, each with its statements prepared once, each
//! behind a mutex, and answers [`FastReader::get_text`],
//! [`FastReader::get_texts`] and [`FastReader::exists_many`] on them.
//!
//! Freshness: every lookup is a statement of its own (a batch is one read
//! transaction), and the database is in WAL mode, so each one sees every
//! transaction committed before it started, by this process or another.
//! Nothing is cached here.
//!
//! PostgreSQL has no such path ([`FastReader::open`] returns `None`): use
//! the [`Store`] methods.

use std::ffi::{c_int, CStr, CString};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use libsqlite3_sys as ffi;

use super::key::try_key;
use super::{Backend, Store, BUSY_TIMEOUT};
use crate::{Error, Result};

const GET_TEXT: &CStr =
    c"SELECT n.text FROM items i JOIN narinfos n ON n.id = i.id WHERE i.hash = ?1";
const EXISTS: &CStr = c"SELECT 1 FROM items i JOIN narinfos n ON n.id = i.id WHERE i.hash = ?1";
const BEGIN: &CStr = c"BEGIN";
const COMMIT: &CStr = c"COMMIT";
const ROLLBACK: &CStr = c"ROLLBACK";

/// Raw connections kept by a reader: lookups from several threads at once
/// take different connections.
const CONNECTIONS: usize = 4;

/// Raw read-only SQLite connections with prepared point queries (see the
/// [module documentation](self)). Usable from several threads at once.
pub struct FastReader {
    conns: Vec<Mutex<Conn>>,
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
    /// A reader on the store's SQLite file, or `None` for PostgreSQL.
    pub fn open(store: &Store) -> Result<Option<FastReader>> {
        let Backend::Sqlite(pool) = store.backend() else {
            return Ok(None);
        };
        let options = pool.connect_options();
        let path = options.get_filename();
        let conns = (0..CONNECTIONS)
            .map(|_| Conn::open(path).map(Mutex::new))
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(FastReader { conns }))
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

    /// The stored text for a hash part, given to `f` as bytes; `None` when
    /// no narinfo is stored (or the string is no hash part).
    pub fn get_text_with<R>(&self, hash: &str, f: impl FnOnce(&[u8]) -> R) -> Result<Option<R>> {
        let Some(key) = try_key(hash) else {
            return Ok(None);
        };
        let conn = self.conn();
        conn.lookup(conn.get, &key, f)
    }

    /// The stored text for a hash part, if any.
    pub fn get_text(&self, hash: &str) -> Result<Option<String>> {
        self.get_text_with(hash, |b| String::from_utf8(b.to_vec()))?
            .transpose()
            .map_err(|_| Error::Store(format!("stored text of {hash} is not UTF-8")))
    }

    /// The stored texts for many hash parts, read in one transaction (one
    /// consistent snapshot), each given to `f` as bytes: entry *i* answers
    /// `hashes[i]`.
    pub fn get_texts_with<R>(
        &self,
        hashes: &[&str],
        mut f: impl FnMut(&[u8]) -> R,
    ) -> Result<Vec<Option<R>>> {
        self.batch(hashes, |conn, key| conn.lookup(conn.get, key, &mut f))
    }

    /// The stored texts for many hash parts (see [`FastReader::get_texts_with`]).
    pub fn get_texts(&self, hashes: &[&str]) -> Result<Vec<Option<String>>> {
        self.get_texts_with(hashes, |b| String::from_utf8(b.to_vec()).ok())
            .map(|v| v.into_iter().map(Option::flatten).collect())
    }

    /// Whether each hash part has a stored narinfo, in one transaction.
    pub fn exists_many(&self, hashes: &[&str]) -> Result<Vec<bool>> {
        Ok(self
            .batch(hashes, |conn, key| conn.lookup(conn.exists, key, |_| ()))?
            .into_iter()
            .map(|o| o.is_some())
            .collect())
    }

    fn batch<R>(
        &self,
        hashes: &[&str],
        mut one: impl FnMut(&Conn, &[u8; 20]) -> Result<Option<R>>,
    ) -> Result<Vec<Option<R>>> {
        let conn = self.conn();
        conn.exec(conn.begin, "BEGIN")?;
        let mut out = Vec::with_capacity(hashes.len());
        for h in hashes {
            let r = match try_key(h) {
                Some(key) => one(&conn, &key),
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
