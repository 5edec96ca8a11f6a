//! The hot path: answering narinfo lookups from memory.
//!
//! * A set of 64-bit fingerprints of every stored hash (keyed SipHash of the
//!   20-byte key; 8 bytes per narinfo plus the table's slack) answers most
//!   misses without touching the database.
//! * A bounded cache of narinfo texts, weighed by bytes, answers hits.
//! * A fingerprint that is present but whose text is not cached goes to the
//!   loader, which gathers all the lookups waiting at that moment into one
//!   `get_many` round trip (up to 4 in flight), so concurrent misses share
//!   queries and an idle server adds no delay.
//! * The change feed ([`crate::changes`]), polled every `poll_interval`,
//!   keeps both up to date with writes made by any process.
//!
//! A deleted item's fingerprint stays in the set (another stored key might
//! share it); a cached "absent" entry answers it instead, and the set is
//! rebuilt from the database when such stale fingerprints pile up.
//! Loads that raced with a change are answered but not cached.

use std::collections::HashSet;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::changes::{item_hash, item_key, ChangeFeed, ChangeOp, ItemKey, Poll};
use crate::store::{Backend, Store};
use crate::Result;

/// A cached answer.
#[derive(Clone)]
enum Entry {
    Present(Bytes),
    Absent,
}

#[derive(Clone)]
struct Weigh;

impl quick_cache::Weighter<ItemKey, Entry> for Weigh {
    fn weight(&self, _key: &ItemKey, val: &Entry) -> u64 {
        // The key, the entry and the cache's own bookkeeping.
        64 + match val {
            Entry::Present(b) => b.len() as u64,
            Entry::Absent => 0,
        }
    }
}

/// Passes fingerprints (already uniformly random) through unchanged.
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type FpSet = HashSet<u64, BuildHasherDefault<Identity>>;

struct KeySet {
    set: FpSet,
    /// Fingerprints of deleted items still in the set.
    stale: usize,
}

type Waiter = (ItemKey, oneshot::Sender<Result<Option<Bytes>>>);

/// Counters of the hot path, for `/metrics`.
#[derive(Debug, Default)]
pub struct HotStats {
    /// Lookups answered from the text cache.
    pub cache_hits: AtomicU64,
    /// Lookups answered "absent" from the fingerprint set or cache.
    pub memory_misses: AtomicU64,
    /// Lookups that went to the database.
    pub loads: AtomicU64,
    /// Database round trips of the loader.
    pub load_batches: AtomicU64,
    /// Changes applied from the feed.
    pub changes_applied: AtomicU64,
    /// Rebuilds of the fingerprint set.
    pub rebuilds: AtomicU64,
}

/// The in-memory narinfo index and cache. Cheap to share behind an `Arc`.
pub struct Hot {
    store: Store,
    keys: RwLock<KeySet>,
    fp_seed: std::collections::hash_map::RandomState,
    cache: quick_cache::sync::Cache<ItemKey, Entry, Weigh>,
    loader: mpsc::UnboundedSender<Waiter>,
    /// Bumped by every applied change; loads that straddle a bump are not
    /// cached.
    epoch: AtomicU64,
    /// Stored narinfos, as far as the feed tells.
    count: AtomicUsize,
    /// Counters.
    pub stats: HotStats,
}

impl std::fmt::Debug for Hot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hot")
            .field("narinfos", &self.count.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

const LOAD_BATCH: usize = 500;
const LOADS_IN_FLIGHT: usize = 4;

impl Hot {
    /// Loads the fingerprints of every stored narinfo and starts the
    /// loader. Returns the index and a change feed positioned so that no
    /// change after the load is missed; pass it to [`Hot::follow`].
    pub async fn load(store: Store, cache_bytes: u64) -> Result<(Arc<Hot>, ChangeFeed)> {
        let feed = ChangeFeed::at_end(&store).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let estimated_items = (cache_bytes / 1024).clamp(1024, 1 << 20) as usize;
        let hot = Arc::new(Hot {
            store,
            keys: RwLock::new(KeySet {
                set: FpSet::default(),
                stale: 0,
            }),
            fp_seed: std::collections::hash_map::RandomState::new(),
            cache: quick_cache::sync::Cache::with_weighter(estimated_items, cache_bytes, Weigh),
            loader: tx,
            epoch: AtomicU64::new(0),
            count: AtomicUsize::new(0),
            stats: HotStats::default(),
        });
        hot.rebuild().await?;
        tokio::spawn(loader(Arc::downgrade(&hot), rx));
        Ok((hot, feed))
    }

    fn fp(&self, key: &ItemKey) -> u64 {
        let mut h = self.fp_seed.build_hasher();
        h.write(key);
        h.finish()
    }

    /// Reloads the fingerprint set from the database.
    pub async fn rebuild(&self) -> Result<()> {
        let (set, n) = fingerprints(&self.store, |k| self.fp(k)).await?;
        let mut guard = self.keys.write().unwrap_or_else(|p| p.into_inner());
        guard.set = set;
        guard.stale = 0;
        drop(guard);
        self.count.store(n, Ordering::Relaxed);
        self.stats.rebuilds.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Number of stored narinfos, as the index knows it.
    pub fn narinfo_count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Bytes held by the text cache (as weighed).
    pub fn cache_bytes(&self) -> u64 {
        self.cache.weight()
    }

    /// The text of the narinfo whose hash part is `hash`, or `None`.
    pub async fn get(&self, hash: &str) -> Result<Option<Bytes>> {
        match item_key(hash) {
            Some(key) => self.get_key(&key).await,
            None => Ok(None),
        }
    }

    /// The text of the narinfo of `key`, or `None`.
    pub async fn get_key(&self, key: &ItemKey) -> Result<Option<Bytes>> {
        if let Some(e) = self.cache.get(key) {
            return Ok(match e {
                Entry::Present(b) => {
                    self.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
                    Some(b)
                }
                Entry::Absent => {
                    self.stats.memory_misses.fetch_add(1, Ordering::Relaxed);
                    None
                }
            });
        }
        let fp = self.fp(key);
        let known = self
            .keys
            .read()
            .map(|g| g.set.contains(&fp))
            .unwrap_or(true);
        if !known {
            self.stats.memory_misses.fetch_add(1, Ordering::Relaxed);
            return Ok(None);
        }
        self.stats.loads.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        if self.loader.send((*key, tx)).is_err() {
            return Err(crate::Error::Store("the narinfo loader has stopped".into()));
        }
        rx.await
            .map_err(|_| crate::Error::Store("the narinfo loader dropped a lookup".into()))?
    }

    /// Records a narinfo this process has just stored (read-your-writes
    /// without waiting for the feed).
    pub fn put(&self, key: &ItemKey, text: Bytes) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        let fp = self.fp(key);
        let mut g = self.keys.write().unwrap_or_else(|p| p.into_inner());
        if g.set.insert(fp) {
            self.count.fetch_add(1, Ordering::Relaxed);
        }
        drop(g);
        self.cache.insert(*key, Entry::Present(text));
    }

    /// Applies changes read from the feed.
    pub fn apply(&self, changes: &[crate::changes::Change]) {
        if changes.is_empty() {
            return;
        }
        self.epoch.fetch_add(1, Ordering::SeqCst);
        let mut g = self.keys.write().unwrap_or_else(|p| p.into_inner());
        for c in changes {
            let fp = self.fp(&c.key);
            match c.op {
                ChangeOp::Put => {
                    if g.set.insert(fp) {
                        self.count.fetch_add(1, Ordering::Relaxed);
                    }
                    self.cache.remove(&c.key);
                }
                ChangeOp::Delete => {
                    if g.set.contains(&fp) {
                        g.stale += 1;
                        let _ =
                            self.count
                                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                                    Some(n.saturating_sub(1))
                                });
                    }
                    self.cache.insert(c.key, Entry::Absent);
                }
            }
        }
        drop(g);
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.stats
            .changes_applied
            .fetch_add(changes.len() as u64, Ordering::Relaxed);
    }

    fn needs_rebuild(&self) -> bool {
        let g = self.keys.read().unwrap_or_else(|p| p.into_inner());
        g.stale > 10_000 && g.stale > g.set.len() / 4
    }

    /// Polls the change feed every `interval` and applies what it finds,
    /// pruning feed rows older than `retention` now and then, until the
    /// index is dropped. Errors are logged and retried.
    pub async fn follow(
        self: Arc<Self>,
        mut feed: ChangeFeed,
        interval: Duration,
        retention: Duration,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut ticks: u64 = 0;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = stop.changed() => return,
            }
            ticks += 1;
            match feed.poll(&self.store).await {
                Ok(Poll::Changes(changes)) => {
                    self.apply(&changes);
                    if self.needs_rebuild() {
                        if let Err(e) = self.rebuild().await {
                            tracing::warn!("rebuilding the narinfo index: {e}");
                        }
                    }
                }
                Ok(Poll::Lost) => {
                    tracing::warn!("change feed rows were pruned before this server read them: reloading the index");
                    self.epoch.fetch_add(1, Ordering::SeqCst);
                    self.cache.clear();
                    if let Err(e) = self.rebuild().await {
                        tracing::warn!("reloading the narinfo index: {e}");
                    }
                }
                Err(e) => tracing::warn!("polling the change feed: {e}"),
            }
            if ticks % 120 == 0 {
                if let Err(e) = crate::changes::prune_changes(&self.store, retention).await {
                    tracing::warn!("pruning the change feed: {e}");
                }
            }
        }
    }
}

/// The keys of every stored narinfo, read in pages (so that the rows of a
/// large store are never all in memory at once) into a set sized up front.
async fn fingerprints(store: &Store, fp: impl Fn(&ItemKey) -> u64) -> Result<(FpSet, usize)> {
    const COUNT: &str = "SELECT COUNT(*) FROM narinfos";
    const PAGE: &str = "SELECT i.hash FROM items i JOIN narinfos n ON n.item_id = i.id \
         WHERE i.hash > $1 ORDER BY i.hash LIMIT $2";
    const PAGE_ROWS: i64 = 50_000;
    let count: i64 = match store.backend() {
        Backend::Sqlite(pool) => sqlx::query_scalar(COUNT).fetch_one(pool).await?,
        Backend::Postgres(pool) => sqlx::query_scalar(COUNT).fetch_one(pool).await?,
    };
    let count = usize::try_from(count).unwrap_or(0);
    let mut set = FpSet::with_capacity_and_hasher(count + count / 16 + 16, Default::default());
    let mut after: Vec<u8> = Vec::new();
    let mut n = 0;
    loop {
        let rows: Vec<Vec<u8>> = match store.backend() {
            Backend::Sqlite(pool) => {
                sqlx::query_scalar(PAGE)
                    .bind(&after)
                    .bind(PAGE_ROWS)
                    .fetch_all(pool)
                    .await?
            }
            Backend::Postgres(pool) => {
                sqlx::query_scalar(PAGE)
                    .bind(&after)
                    .bind(PAGE_ROWS)
                    .fetch_all(pool)
                    .await?
            }
        };
        let last = rows.len() < PAGE_ROWS as usize;
        for k in &rows {
            if let Ok(key) = ItemKey::try_from(k.as_slice()) {
                set.insert(fp(&key));
                n += 1;
            }
        }
        match rows.into_iter().last() {
            Some(k) if !last => after = k,
            _ => break,
        }
    }
    Ok((set, n))
}

/// Gathers waiting lookups into `get_many` batches.
async fn loader(hot: std::sync::Weak<Hot>, mut rx: mpsc::UnboundedReceiver<Waiter>) {
    let permits = Arc::new(Semaphore::new(LOADS_IN_FLIGHT));
    while let Some(first) = rx.recv().await {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < LOAD_BATCH {
            match rx.try_recv() {
                Ok(w) => batch.push(w),
                Err(_) => break,
            }
        }
        let Some(hot) = hot.upgrade() else { return };
        tokio::spawn(async move {
            load_batch(&hot, batch).await;
            drop(permit);
        });
    }
}

async fn load_batch(hot: &Hot, batch: Vec<Waiter>) {
    hot.stats.load_batches.fetch_add(1, Ordering::Relaxed);
    let epoch = hot.epoch.load(Ordering::SeqCst);
    let hashes: Vec<String> = batch.iter().map(|(k, _)| item_hash(k)).collect();
    let refs: Vec<&str> = hashes.iter().map(String::as_str).collect();
    match hot.store.get_many(&refs).await {
        Ok(found) => {
            let cache_them = hot.epoch.load(Ordering::SeqCst) == epoch;
            for ((key, tx), stored) in batch.into_iter().zip(found) {
                let text = stored.map(|s| Bytes::from(s.text));
                if cache_them {
                    let entry = match &text {
                        Some(t) => Entry::Present(t.clone()),
                        None => Entry::Absent,
                    };
                    hot.cache.insert(key, entry);
                }
                let _ = tx.send(Ok(text));
            }
        }
        Err(e) => {
            let msg = e.to_string();
            for (_, tx) in batch {
                let _ = tx.send(Err(crate::Error::Store(msg.clone())));
            }
        }
    }
}
