//! Build logs: where they live and when garbage collection removes them.
//!
//! A build log is a plain text file `<storage>/log/<store-file-name>`
//! (the server's `GET`/`PUT /log/…`). Its name is a store file name,
//! `<hash>-<name>`: the base name of an output (as `guix publish` names
//! logs) or of a derivation (as `nix log` and `nix store copy-log` do).
//!
//! # Which logs are garbage
//!
//! A log is still needed while a stored narinfo describes the item it is
//! named after (same hash part) or names it as its `Deriver`. Garbage
//! collection ([`crate::gc`]) removes, after its sweep, every log that no
//! stored narinfo needs and that was last written before the grace cutoff;
//! so a log uploaded before its narinfo survives a collection that runs in
//! between, as a narinfo imported within the grace period does.
//!
//! The check runs twice. First without a lock, over every candidate (one
//! pass over `narinfos` for the derivation logs: `Deriver` has no index).
//! Then, for the logs found unneeded, inside a write transaction holding
//! the writers' lock, against what an import may have committed since:
//! the items by hash part, and the derivers of the narinfos added since
//! the first check began (`narinfos_added` index). Only then are the
//! files removed, each after checking again that it is still an old
//! regular file. Entries that are not regular files, or whose names are
//! not store file names, are never touched.

use std::collections::HashSet;
use std::path::Path;
use std::time::UNIX_EPOCH;

use crate::dialect::on_conn;
use crate::store::{hash_key, Store};
use crate::{Error, Result};

/// The directory of the logs under the storage directory.
pub const LOG_DIR: &str = "log";

/// Logs checked per statement (and per transaction when removing them).
const PER_STATEMENT: usize = 10_000;

/// Whether `name` can name a build log: a store file name,
/// `<32 nix-base32 characters>-<name>`.
pub fn is_log_name(name: &str) -> bool {
    crate::narinfo::check_base_name(name).is_ok()
}

/// A log that may be garbage: its file name and the key of its hash part.
struct Candidate {
    name: String,
    key: [u8; 20],
}

/// The logs of `root` older than `cutoff` (seconds since the epoch). A
/// missing log directory has none; a log directory that is a symbolic
/// link is refused.
fn old_logs(root: &Path, cutoff: i64) -> Result<Vec<Candidate>> {
    let dir = root.join(LOG_DIR);
    let io = |source: std::io::Error| Error::Io {
        path: dir.clone(),
        source,
    };
    match std::fs::symlink_metadata(&dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(e)),
        Ok(m) if !m.is_dir() => {
            return Err(Error::InvalidArgument(format!(
                "{}: expected the build log directory, found something else \
                 (a symbolic link is not followed)",
                dir.display()
            )))
        }
        Ok(_) => {}
    }
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if !is_log_name(&name) || !is_old_file(&entry.path(), cutoff) {
            continue;
        }
        if let Some(key) = hash_key(&name[..32]) {
            found.push(Candidate { name, key });
        }
    }
    Ok(found)
}

/// Whether `path` is a regular file (not followed if a link) last written
/// before `cutoff`.
fn is_old_file(path: &Path, cutoff: i64) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return false;
    };
    let written = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_secs()).ok());
    meta.is_file() && written.is_some_and(|w| w < cutoff)
}

/// Of the candidates in the temporary tables, the keys of the items that
/// a stored narinfo describes.
const DESCRIBED: &str = "SELECT k.k FROM gc_log_keys k CROSS JOIN items i \
     CROSS JOIN narinfos n WHERE i.hash = k.k AND n.item_id = i.id";
/// Derivation logs that a stored narinfo names as its deriver, with that
/// narinfo's item key (one pass over `narinfos`).
const DERIVERS: &str = "SELECT n.deriver, i.hash FROM narinfos n CROSS JOIN items i \
     WHERE i.id = n.item_id AND n.deriver IN (SELECT t FROM gc_log_names)";
/// Derivation logs named as deriver by a narinfo added since `$1`.
const RECENT_DERIVERS: &str = "SELECT n.deriver FROM narinfos n \
     WHERE n.added_at >= $1 AND n.deriver IN (SELECT t FROM gc_log_names)";

/// Removes the build logs under `root` that no stored narinfo needs and
/// that were last written before `cutoff` (see the [module
/// documentation](self)); returns how many it removed.
///
/// With `gone`, removes nothing and counts instead the logs that would be
/// garbage once the narinfos of the items in `gone` (keys of hash parts)
/// were deleted too: a dry run's figure.
pub(crate) async fn collect(
    store: &Store,
    root: &Path,
    cutoff: i64,
    gone: Option<&HashSet<Vec<u8>>>,
) -> Result<u64> {
    let started = crate::gc::now_secs();
    let dir = root.to_path_buf();
    let candidates = tokio::task::spawn_blocking(move || old_logs(&dir, cutoff))
        .await
        .map_err(|e| Error::Store(format!("listing the build logs: {e}")))??;
    if candidates.is_empty() {
        return Ok(0);
    }
    let mut removed = 0u64;
    on_conn!(store, |conn, d| {
        for t in ["gc_log_names", "gc_log_keys"] {
            sqlx::query(&format!("DROP TABLE IF EXISTS {t}"))
                .execute(&mut *conn)
                .await?;
        }
        sqlx::query(&d::temp_texts_ddl("gc_log_names"))
            .execute(&mut *conn)
            .await?;
        sqlx::query(&d::temp_keys_ddl("gc_log_keys"))
            .execute(&mut *conn)
            .await?;

        // The first check, without a lock.
        let mut unneeded: Vec<&Candidate> = Vec::new();
        for chunk in candidates.chunks(PER_STATEMENT) {
            let keys: Vec<[u8; 20]> = chunk.iter().map(|c| c.key).collect();
            sqlx::query(&d::fill_keys_sql("gc_log_keys"))
                .bind(d::keys_arg(&keys))
                .execute(&mut *conn)
                .await?;
            d::analyze_temp(&mut conn, "gc_log_keys").await?;
            let described: Vec<Vec<u8>> =
                sqlx::query_scalar(DESCRIBED).fetch_all(&mut *conn).await?;
            sqlx::query("DELETE FROM gc_log_keys")
                .execute(&mut *conn)
                .await?;
            let kept: HashSet<&[u8]> = described
                .iter()
                .map(Vec::as_slice)
                .filter(|k| !gone.is_some_and(|g| g.contains(*k)))
                .collect();
            unneeded.extend(chunk.iter().filter(|c| !kept.contains(&c.key[..])));
        }
        let derivations: Vec<String> = unneeded
            .iter()
            .filter(|c| c.name.ends_with(".drv"))
            .map(|c| c.name.clone())
            .collect();
        if !derivations.is_empty() {
            for chunk in derivations.chunks(PER_STATEMENT) {
                sqlx::query(&d::fill_texts_sql("gc_log_names"))
                    .bind(d::texts_arg(chunk))
                    .execute(&mut *conn)
                    .await?;
            }
            d::analyze_temp(&mut conn, "gc_log_names").await?;
            let named: Vec<(String, Vec<u8>)> =
                sqlx::query_as(DERIVERS).fetch_all(&mut *conn).await?;
            sqlx::query("DELETE FROM gc_log_names")
                .execute(&mut *conn)
                .await?;
            // Named by at least one narinfo that stays.
            let kept: HashSet<&str> = named
                .iter()
                .filter(|(_, key)| !gone.is_some_and(|g| g.contains(key)))
                .map(|(deriver, _)| deriver.as_str())
                .collect();
            unneeded.retain(|c| !kept.contains(c.name.as_str()));
        }

        if gone.is_some() {
            removed = unneeded.len() as u64;
        } else {
            // The second check and the removal, under the writers' lock.
            let logs = root.join(LOG_DIR);
            for chunk in unneeded.chunks(PER_STATEMENT) {
                let _guard = store.lock_writes().await;
                let mut tx = d::begin_write(&mut conn).await?;
                let keys: Vec<[u8; 20]> = chunk.iter().map(|c| c.key).collect();
                let names: Vec<String> = chunk.iter().map(|c| c.name.clone()).collect();
                sqlx::query(&d::fill_keys_sql("gc_log_keys"))
                    .bind(d::keys_arg(&keys))
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(&d::fill_texts_sql("gc_log_names"))
                    .bind(d::texts_arg(&names))
                    .execute(&mut *tx)
                    .await?;
                let described: Vec<Vec<u8>> =
                    sqlx::query_scalar(DESCRIBED).fetch_all(&mut *tx).await?;
                let named: Vec<String> = sqlx::query_scalar(RECENT_DERIVERS)
                    .bind(started.saturating_sub(1))
                    .fetch_all(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM gc_log_keys")
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM gc_log_names")
                    .execute(&mut *tx)
                    .await?;
                let described: HashSet<&[u8]> = described.iter().map(Vec::as_slice).collect();
                let named: HashSet<&str> = named.iter().map(String::as_str).collect();
                for c in chunk {
                    if described.contains(&c.key[..]) || named.contains(c.name.as_str()) {
                        continue;
                    }
                    let path = logs.join(&c.name);
                    if !is_old_file(&path, cutoff) {
                        continue;
                    }
                    match std::fs::remove_file(&path) {
                        Ok(()) => removed += 1,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => {
                            tracing::warn!("gc: keeping build log {}: {e}", path.display())
                        }
                    }
                }
                tx.commit().await?;
            }
        }
        for t in ["gc_log_names", "gc_log_keys"] {
            sqlx::query(&format!("DROP TABLE IF EXISTS {t}"))
                .execute(&mut *conn)
                .await?;
        }
    });
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_file_names() {
        let h = "0123456789abcdfghijklmnpqrsvwxyz";
        assert!(is_log_name(&format!("{h}-hello-2.12.drv")));
        assert!(is_log_name(&format!("{h}-hello")));
        assert!(!is_log_name(&format!("{h}-")));
        assert!(!is_log_name(&format!("{h}-../x")));
        assert!(!is_log_name(&format!("{h}-.hidden")));
        assert!(!is_log_name(&format!("{h}hello")));
        assert!(!is_log_name("eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-hello"));
        assert!(!is_log_name("short-hello"));
        assert!(!is_log_name(&format!("{h}-{}", "x".repeat(212))));
    }
}
