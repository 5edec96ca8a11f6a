//! Helpers of the GC, roots and eviction tests: graphs of synthetic
//! narinfos, raw SQL on either backend, and the closure invariant.

#![allow(dead_code)]

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

use narherder::store::{AddMode, Backend, Store, StoreOptions};
use narherder::Narinfo;

use crate::common::{hash_for, synthetic_text};

/// Nix store options.
pub fn nix() -> StoreOptions {
    StoreOptions::with_store_dir("/nix/store")
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Writes `contents` to `path`, last modified `age` ago.
pub fn write_aged(path: &std::path::Path, contents: &[u8], age: std::time::Duration) {
    std::fs::write(path, contents).unwrap();
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - age)
        .unwrap();
}

/// A dry run with `options`.
pub async fn dry_run(store: &Store, options: &narherder::gc::GcOptions) -> narherder::gc::GcReport {
    let options = narherder::gc::GcOptions {
        dry_run: true,
        ..options.clone()
    };
    narherder::gc::gc(store, &options).await.unwrap()
}

/// One node of a test graph.
#[derive(Debug, Clone)]
pub struct Node {
    /// Indices of referenced nodes (may be >= the graph size: missing items).
    pub refs: Vec<u64>,
    /// `added_at` relative to now (negative: in the past).
    pub added: i64,
    /// Nar file URL (under nar/) and FileSize.
    pub url: String,
    /// FileSize.
    pub size: u64,
}

/// Base name of node `i`.
pub fn base(i: u64) -> String {
    format!("{}-item-{i}", hash_for(i))
}

/// The narinfo of node `i`.
pub fn narinfo(i: u64, node: &Node) -> Narinfo {
    let refs: Vec<String> = node.refs.iter().map(|&r| base(r)).collect();
    let text = synthetic_text("/nix/store", &hash_for(i), &format!("item-{i}"), &refs, 1);
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("URL: ") {
                format!("URL: {}\n", node.url)
            } else if l.starts_with("FileSize: ") {
                format!("FileSize: {}\n", node.size)
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    Narinfo::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Runs one statement with integer/text binds on either backend.
pub async fn exec(store: &Store, sql: &str, ints: &[i64]) {
    match store.backend() {
        Backend::Sqlite(p) => {
            let mut q = sqlx::query(sql);
            for i in ints {
                q = q.bind(*i);
            }
            q.execute(p).await.unwrap();
        }
        Backend::Postgres(p) => {
            let mut q = sqlx::query(sql);
            for i in ints {
                q = q.bind(*i);
            }
            q.execute(p).await.unwrap();
        }
    }
}

/// Items rows that nothing needs any more: no narinfo describes them, no
/// narinfo references them and no root names them (GC prunes these).
pub async fn unneeded_items(store: &Store) -> i64 {
    let sql = "SELECT COUNT(*) FROM items i \
         WHERE NOT EXISTS (SELECT 1 FROM narinfos n WHERE n.item_id = i.id) \
         AND NOT EXISTS (SELECT 1 FROM refs r WHERE r.to_id = i.id) \
         AND NOT EXISTS (SELECT 1 FROM root_items ri WHERE ri.item_id = i.id)";
    match store.backend() {
        Backend::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
        Backend::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
    }
}

/// Sets `added_at` of node `i`.
pub async fn set_added(store: &Store, i: u64, at: i64) {
    let key = narherder::nix32::decode(&hash_for(i)).unwrap();
    let mut key = key;
    key.reverse();
    let sql =
        "UPDATE narinfos SET added_at = $1 WHERE item_id = (SELECT id FROM items WHERE hash = $2)";
    match store.backend() {
        Backend::Sqlite(p) => {
            sqlx::query(sql)
                .bind(at)
                .bind(&key)
                .execute(p)
                .await
                .unwrap();
        }
        Backend::Postgres(p) => {
            sqlx::query(sql)
                .bind(at)
                .bind(&key)
                .execute(p)
                .await
                .unwrap();
        }
    }
}

/// Imports the nodes (all at once) and sets their `added_at`.
pub async fn import(store: &Store, nodes: &[Node]) {
    let narinfos: Vec<Narinfo> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| narinfo(i as u64, n))
        .collect();
    for chunk in narinfos.chunks(2000) {
        store.add_many(chunk, AddMode::Keep).await.unwrap();
    }
    let t = now();
    // Bulk: one statement per distinct offset would do; tests are small.
    for (i, n) in nodes.iter().enumerate() {
        set_added(store, i as u64, t + n.added).await;
    }
}

/// The stored hash parts.
pub async fn stored(store: &Store) -> BTreeSet<String> {
    store
        .list(None, u32::MAX)
        .await
        .unwrap()
        .into_iter()
        .collect()
}

/// Asserts the closure invariant: every stored narinfo's references that
/// are among `ever` (hashes that were ever stored) are stored.
pub async fn assert_closed(store: &Store, ever: &HashSet<String>) {
    let now_stored = stored(store).await;
    for h in &now_stored {
        let refs = store.references(h).await.unwrap().unwrap_or_default();
        for r in refs {
            if ever.contains(&r) {
                assert!(
                    now_stored.contains(&r),
                    "closure broken: {h} is stored but its reference {r} is not"
                );
            }
        }
    }
}

/// Plain BFS: indices reachable from `seeds` over the nodes' references.
pub fn reachable(nodes: &[Node], seeds: impl IntoIterator<Item = u64>) -> HashSet<u64> {
    let mut seen: HashSet<u64> = HashSet::new();
    let mut queue: VecDeque<u64> = VecDeque::new();
    for s in seeds {
        if seen.insert(s) {
            queue.push_back(s);
        }
    }
    while let Some(x) = queue.pop_front() {
        if let Some(n) = nodes.get(x as usize) {
            for &r in &n.refs {
                if seen.insert(r) {
                    queue.push_back(r);
                }
            }
        }
    }
    seen
}

/// Index of each node hash.
pub fn index(nodes: &[Node]) -> HashMap<String, u64> {
    (0..nodes.len() as u64).map(|i| (hash_for(i), i)).collect()
}
