//! GC roots: named sets of store items the garbage collector keeps, with
//! everything they reference.
//!
//! A root has a name (`channel/master/<commit>`, `release/1.5`), a set of
//! items and optionally an expiry time, after which it no longer protects
//! anything. Items are named by store path, base name or hash part and
//! kept as interned item ids, so a root may name an item that has no
//! narinfo (yet): it is protected from the moment it arrives, and
//! [`list_roots`] says which items are missing.
//!
//! Each operation is one write transaction: [`set_root`] replaces a root's
//! whole set atomically, so the collector sees either the old set or the
//! new one.

use crate::dialect::on_conn;
use crate::store::{hash_key, key_hash, Store, HASH_CHARS};
use crate::{Error, Result};

/// A root as listed by [`list_roots`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    /// The root's name.
    pub name: String,
    /// When it stops protecting its items (seconds since the Unix epoch);
    /// `None`: never.
    pub expires_at: Option<i64>,
    /// When it was last changed (seconds since the Unix epoch).
    pub updated_at: i64,
    /// Its items, sorted by hash part.
    pub items: Vec<RootItem>,
}

impl Root {
    /// Whether the root has expired at time `now`.
    pub fn is_expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }
}

/// One item of a root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootItem {
    /// The 32-character hash part.
    pub hash: String,
    /// The full store path when a narinfo is stored for it; `None` when the
    /// item is missing from the store.
    pub store_path: Option<String>,
}

impl RootItem {
    /// Whether a narinfo is stored for the item.
    pub fn is_present(&self) -> bool {
        self.store_path.is_some()
    }
}

/// The hash part of an item named by store path (`/gnu/store/<hash>-name`,
/// whose directory must be `store_dir`), base name (`<hash>-name`) or hash
/// part (`<hash>`).
pub fn parse_item(spec: &str, store_dir: &str) -> Result<String> {
    let spec = spec.trim();
    let bad = |why: &str| {
        Error::InvalidArgument(format!(
            "item {spec:?}: {why} (expected a store path, a base name <hash>-<name> or a \
             32-character hash part)"
        ))
    };
    let base = match spec.rsplit_once('/') {
        Some((dir, base)) => {
            if dir.trim_end_matches('/') != store_dir {
                return Err(bad(&format!("not in the store directory {store_dir}")));
            }
            base
        }
        None => spec,
    };
    let hash = base.get(..HASH_CHARS).ok_or_else(|| bad("too short"))?;
    if base.len() > HASH_CHARS && base.as_bytes().get(HASH_CHARS) != Some(&b'-') {
        return Err(bad("the hash part must be followed by `-`"));
    }
    if base.len() == HASH_CHARS + 1 {
        return Err(bad("empty name after the hash part"));
    }
    if hash_key(hash).is_none() {
        return Err(bad("the hash part is not 32 nix-base32 characters"));
    }
    Ok(hash.to_string())
}

/// The items of a list file: one per line; blank lines and `#` comments
/// (whole-line or trailing) ignored.
pub fn read_item_list(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Checks a root name: 1 to 512 characters, no whitespace or control
/// characters.
pub fn check_root_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 512
        || name.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(Error::InvalidArgument(format!(
            "root name {name:?}: expected 1 to 512 characters without spaces or control \
             characters (e.g. channel/master/<commit>)"
        )));
    }
    Ok(())
}

fn keys_of(store: &Store, items: &[impl AsRef<str>]) -> Result<Vec<[u8; 20]>> {
    let mut keys = Vec::with_capacity(items.len());
    for item in items {
        let hash = parse_item(item.as_ref(), store.store_dir())?;
        keys.push(hash_key(&hash).ok_or_else(|| {
            Error::InvalidArgument(format!("item {:?}: bad hash part", item.as_ref()))
        })?);
    }
    keys.sort_unstable();
    keys.dedup();
    Ok(keys)
}

/// Keep the expiry of an existing root when none is given.
const UPSERT_KEEP: &str = "INSERT INTO roots (name, expires_at, updated_at) VALUES ($1, $2, $3) \
     ON CONFLICT (name) DO UPDATE SET expires_at = COALESCE(excluded.expires_at, roots.expires_at), \
     updated_at = excluded.updated_at RETURNING id";
/// Replace the expiry.
const UPSERT_REPLACE: &str = "INSERT INTO roots (name, expires_at, updated_at) \
     VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET expires_at = excluded.expires_at, \
     updated_at = excluded.updated_at RETURNING id";
const INTERN: &str =
    "INSERT INTO items (hash) SELECT k FROM root_keys WHERE true ON CONFLICT (hash) DO NOTHING";
const LINK: &str = "INSERT INTO root_items (root_id, item_id) SELECT $1, i.id FROM root_keys k \
     CROSS JOIN items i WHERE i.hash = k.k ON CONFLICT DO NOTHING";
const UNLINK_ALL: &str = "DELETE FROM root_items WHERE root_id = $1";
const REMOVE: &str = "DELETE FROM roots WHERE name = $1 RETURNING id";
const LIST: &str = "SELECT r.name, r.expires_at, r.updated_at, i.hash, n.name \
     FROM roots r LEFT JOIN root_items ri ON ri.root_id = r.id \
     LEFT JOIN items i ON i.id = ri.item_id LEFT JOIN narinfos n ON n.item_id = i.id \
     ORDER BY r.name, i.hash";

/// Writes a root: `replace` replaces its set and expiry, otherwise items
/// are added and a `None` expiry keeps the existing one.
async fn write_root(
    store: &Store,
    name: &str,
    items: &[impl AsRef<str>],
    expires_at: Option<i64>,
    replace: bool,
) -> Result<()> {
    check_root_name(name)?;
    let keys = keys_of(store, items)?;
    let now = crate::gc::now_secs();
    let _guard = store.lock_writes().await;
    on_conn!(store, |conn, d| {
        sqlx::query(&d::temp_keys_ddl("root_keys"))
            .execute(&mut *conn)
            .await?;
        let mut tx = d::begin_write(&mut conn).await?;
        sqlx::query("DELETE FROM root_keys")
            .execute(&mut *tx)
            .await?;
        let upsert = if replace { UPSERT_REPLACE } else { UPSERT_KEEP };
        let id: i64 = sqlx::query_scalar(upsert)
            .bind(name)
            .bind(expires_at)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
        if replace {
            sqlx::query(UNLINK_ALL).bind(id).execute(&mut *tx).await?;
        }
        if !keys.is_empty() {
            sqlx::query(&d::fill_keys_sql("root_keys"))
                .bind(d::keys_arg(&keys))
                .execute(&mut *tx)
                .await?;
            sqlx::query(INTERN).execute(&mut *tx).await?;
            sqlx::query(LINK).bind(id).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM root_keys")
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
    });
    Ok(())
}

/// Adds items to a root, creating it if needed. `expires_at` (seconds
/// since the Unix epoch) sets the expiry; `None` keeps the root's expiry
/// (a new root never expires).
pub async fn add_root(
    store: &Store,
    name: &str,
    items: &[impl AsRef<str>],
    expires_at: Option<i64>,
) -> Result<()> {
    write_root(store, name, items, expires_at, false).await
}

/// Replaces a root's whole item set and its expiry (`None`: never), in
/// one transaction; creates the root if needed. An empty set is allowed
/// (the root then protects nothing but still counts as a root).
pub async fn set_root(
    store: &Store,
    name: &str,
    items: &[impl AsRef<str>],
    expires_at: Option<i64>,
) -> Result<()> {
    write_root(store, name, items, expires_at, true).await
}

/// Removes a root; returns whether it existed.
pub async fn remove_root(store: &Store, name: &str) -> Result<bool> {
    let _guard = store.lock_writes().await;
    let removed = on_conn!(store, |conn, d| {
        let mut tx = d::begin_write(&mut conn).await?;
        let id: Option<i64> = sqlx::query_scalar(REMOVE)
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(id) = id {
            sqlx::query(UNLINK_ALL).bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        id.is_some()
    });
    Ok(removed)
}

/// Every root with its items, sorted by name, each item marked present
/// (with its store path) or missing.
pub async fn list_roots(store: &Store) -> Result<Vec<Root>> {
    type Row = (String, Option<i64>, i64, Option<Vec<u8>>, Option<String>);
    let rows: Vec<Row> = on_conn!(store, |conn, _d| {
        sqlx::query_as(LIST).fetch_all(&mut *conn).await?
    });
    let mut roots: Vec<Root> = Vec::new();
    for (name, expires_at, updated_at, key, item_name) in rows {
        if roots.last().map(|r| r.name != name).unwrap_or(true) {
            roots.push(Root {
                name,
                expires_at,
                updated_at,
                items: Vec::new(),
            });
        }
        if let (Some(key), Some(root)) = (key, roots.last_mut()) {
            let hash = key_hash(&key)?;
            let store_path = item_name.map(|n| format!("{}/{hash}-{n}", store.store_dir()));
            root.items.push(RootItem { hash, store_path });
        }
    }
    Ok(roots)
}

/// How many roots exist (expired ones included).
pub async fn count_roots(store: &Store) -> Result<u64> {
    let n: i64 = on_conn!(store, |conn, _d| {
        sqlx::query_scalar("SELECT COUNT(*) FROM roots")
            .fetch_one(&mut *conn)
            .await?
    });
    Ok(u64::try_from(n).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "cs56i9digj9qg1bd383cmxc6xrfpdn9n";

    #[test]
    fn items() {
        for spec in [
            H.to_string(),
            format!("{H}-hello-2.12.2"),
            format!("/gnu/store/{H}-hello-2.12.2"),
            format!(" /gnu/store/{H}-hello "),
        ] {
            assert_eq!(parse_item(&spec, "/gnu/store").unwrap(), H, "{spec}");
        }
        for bad in [
            format!("/nix/store/{H}-hello"),
            format!("{H}hello"),
            format!("{H}-"),
            "short".to_string(),
            "es56i9digj9qg1bd383cmxc6xrfpdn9n".to_string(),
        ] {
            assert!(parse_item(&bad, "/gnu/store").is_err(), "{bad}");
        }
    }

    #[test]
    fn lists_and_names() {
        let text = "# a channel\n\nabc  # trailing\n  def\n#x\n";
        assert_eq!(read_item_list(text), vec!["abc", "def"]);
        assert!(check_root_name("channel/master/abc").is_ok());
        for bad in ["", "a b", "a\nb", &"x".repeat(513)] {
            assert!(check_root_name(bad).is_err());
        }
    }
}
