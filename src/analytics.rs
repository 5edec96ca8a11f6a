//! Request analytics: narinfo hits, narinfo misses (with the hash that was
//! missed) and nar downloads, per item and per day.
//!
//! Counting is in memory and cheap — a hash map behind one of 16 mutexes,
//! chosen by the item — and [`Analytics::flush`] writes what accumulated to
//! the database in one set-at-a-time upsert per table in one transaction (a server
//! calls it every few seconds and at shutdown), never one write per
//! request. If a flush fails, its counts are put back and go with the next.
//!
//! Rows carry the node name, so that every server (and every mirror) keeps
//! rows of its own that can later be gathered on the primary. Tables
//! (schema version 3): `request_totals(node, day, …)`,
//! `item_requests(node, day, hash, narinfo_hits, nar_downloads, last_at)`,
//! `missed_hashes(node, day, hash, misses, last_at)`. `day` counts days
//! since the Unix epoch (UTC).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

use crate::changes::{item_hash, now_secs, ItemKey};
use crate::store::{Backend, Store};
use crate::Result;

const SHARDS: usize = 16;

/// Counts of one stored item on one day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ItemCounts {
    /// Narinfo requests answered with the narinfo.
    pub narinfo_hits: u64,
    /// Nar file downloads.
    pub nar_downloads: u64,
    /// The last request, in seconds since the epoch.
    pub last_at: i64,
}

/// Day totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Narinfo requests answered with the narinfo.
    pub narinfo_hits: u64,
    /// Narinfo requests answered with 404 (any requested name).
    pub narinfo_misses: u64,
    /// Nar file downloads.
    pub nar_downloads: u64,
}

#[derive(Debug, Default)]
struct Shard {
    items: HashMap<(i64, ItemKey), ItemCounts>,
    misses: HashMap<(i64, ItemKey), (u64, i64)>,
    totals: HashMap<i64, Totals>,
}

impl Shard {
    fn absorb(&mut self, other: Shard) {
        for (k, c) in other.items {
            let e = self.items.entry(k).or_default();
            e.narinfo_hits += c.narinfo_hits;
            e.nar_downloads += c.nar_downloads;
            e.last_at = e.last_at.max(c.last_at);
        }
        for (k, (n, at)) in other.misses {
            let e = self.misses.entry(k).or_default();
            e.0 += n;
            e.1 = e.1.max(at);
        }
        for (d, t) in other.totals {
            let e = self.totals.entry(d).or_default();
            e.narinfo_hits += t.narinfo_hits;
            e.narinfo_misses += t.narinfo_misses;
            e.nar_downloads += t.nar_downloads;
        }
    }

    fn is_empty(&self) -> bool {
        self.items.is_empty() && self.misses.is_empty() && self.totals.is_empty()
    }
}

/// What one flush wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlushReport {
    /// `item_requests` rows upserted.
    pub item_rows: usize,
    /// `missed_hashes` rows upserted.
    pub miss_rows: usize,
    /// `request_totals` rows upserted.
    pub total_rows: usize,
    /// Items whose last request time went to `item_usage` (eviction).
    pub usage_rows: u64,
}

/// In-memory request counters of one node. Share it behind an `Arc`.
#[derive(Debug)]
pub struct Analytics {
    node: String,
    shards: Vec<Mutex<Shard>>,
    /// When the last successful flush ended (seconds since the epoch; 0
    /// before the first).
    last_flush: AtomicI64,
    /// Last request time per item not yet given to eviction, and when it
    /// was last given (eviction needs minutes, not seconds, of precision).
    usage: Mutex<(HashMap<ItemKey, i64>, i64)>,
}

/// How often request times are written for eviction.
const USAGE_INTERVAL_SECS: i64 = 60;

fn shard_of(key: &ItemKey) -> usize {
    // Keys are hashes: any byte is uniformly spread.
    usize::from(key[19]) % SHARDS
}

/// Days since the Unix epoch of a time in seconds.
pub fn day_of(secs: i64) -> i64 {
    secs.div_euclid(86_400)
}

impl Analytics {
    /// Counters for the node called `node`.
    pub fn new(node: impl Into<String>) -> Analytics {
        Analytics {
            node: node.into(),
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            last_flush: AtomicI64::new(0),
            usage: Mutex::new((HashMap::new(), now_secs())),
        }
    }

    /// The node name written into every row.
    pub fn node(&self) -> &str {
        &self.node
    }

    fn with_shard(&self, i: usize, f: impl FnOnce(&mut Shard)) {
        let mut guard = match self.shards[i % SHARDS].lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard);
    }

    /// Counts a narinfo request answered with the narinfo of `key`.
    pub fn narinfo_hit(&self, key: &ItemKey) {
        let now = now_secs();
        let day = day_of(now);
        self.with_shard(shard_of(key), |s| {
            let c = s.items.entry((day, *key)).or_default();
            c.narinfo_hits += 1;
            c.last_at = now;
            s.totals.entry(day).or_default().narinfo_hits += 1;
        });
    }

    /// Counts a narinfo request answered with 404; `key` is the requested
    /// hash part's key when the name was a valid hash part.
    pub fn narinfo_miss(&self, key: Option<&ItemKey>) {
        let now = now_secs();
        let day = day_of(now);
        let shard = key.map(shard_of).unwrap_or(0);
        self.with_shard(shard, |s| {
            if let Some(key) = key {
                let e = s.misses.entry((day, *key)).or_default();
                e.0 += 1;
                e.1 = now;
            }
            s.totals.entry(day).or_default().narinfo_misses += 1;
        });
    }

    /// Counts a nar download of the item `key` (`None` when the item is not
    /// known).
    pub fn nar_download(&self, key: Option<&ItemKey>) {
        let now = now_secs();
        let day = day_of(now);
        let shard = key.map(shard_of).unwrap_or(0);
        self.with_shard(shard, |s| {
            if let Some(key) = key {
                let c = s.items.entry((day, *key)).or_default();
                c.nar_downloads += 1;
                c.last_at = now;
            }
            s.totals.entry(day).or_default().nar_downloads += 1;
        });
    }

    /// When the last successful flush ended, in seconds since the epoch
    /// (`None` before the first).
    pub fn last_flush(&self) -> Option<i64> {
        match self.last_flush.load(Ordering::Relaxed) {
            0 => None,
            t => Some(t),
        }
    }

    fn take(&self) -> Shard {
        let mut all = Shard::default();
        for i in 0..SHARDS {
            self.with_shard(i, |s| all.absorb(std::mem::take(s)));
        }
        all
    }

    /// The items requested since the last flush with their last request
    /// time, without taking them (for eviction bookkeeping).
    pub fn pending_items(&self) -> Vec<(ItemKey, i64)> {
        let mut out: HashMap<ItemKey, i64> = HashMap::new();
        for i in 0..SHARDS {
            self.with_shard(i, |s| {
                for ((_, k), c) in &s.items {
                    let e = out.entry(*k).or_default();
                    *e = (*e).max(c.last_at);
                }
            });
        }
        out.into_iter().collect()
    }

    /// Writes what accumulated since the last flush, in one transaction.
    /// On failure the counts are kept for the next flush. Request times for
    /// eviction are written once a minute (see [`Analytics::flush_all`]).
    pub async fn flush(&self, store: &Store) -> Result<FlushReport> {
        self.flush_inner(store, false).await
    }

    /// Like [`Analytics::flush`], also writing every pending request time
    /// for eviction (at shutdown).
    pub async fn flush_all(&self, store: &Store) -> Result<FlushReport> {
        self.flush_inner(store, true).await
    }

    async fn flush_inner(&self, store: &Store, all: bool) -> Result<FlushReport> {
        let batch = self.take();
        let mut report = if batch.is_empty() {
            FlushReport::default()
        } else {
            match write_batch(store, &self.node, &batch).await {
                Ok(report) => report,
                Err(e) => {
                    self.with_shard(0, |s| s.absorb(batch));
                    return Err(e);
                }
            }
        };
        self.last_flush.store(now_secs(), Ordering::Relaxed);
        // Eviction drops the least recently requested items first: give it
        // the last request time of each item (one access per item and
        // write; exact counts are in item_requests).
        let due = {
            let mut u = self.usage.lock().unwrap_or_else(|p| p.into_inner());
            for ((_, key), c) in &batch.items {
                let e = u.0.entry(*key).or_default();
                *e = (*e).max(c.last_at);
            }
            let now = now_secs();
            if (all || now - u.1 >= USAGE_INTERVAL_SECS) && !u.0.is_empty() {
                u.1 = now;
                Some(std::mem::take(&mut u.0))
            } else {
                None
            }
        };
        if let Some(last) = due {
            let pairs: Vec<(String, i64)> = last.iter().map(|(k, t)| (item_hash(k), *t)).collect();
            match crate::evict::record_usage(store, &pairs).await {
                Ok(n) => report.usage_rows = n,
                Err(e) => {
                    tracing::warn!("recording request times for eviction: {e}");
                    let mut u = self.usage.lock().unwrap_or_else(|p| p.into_inner());
                    for (k, t) in last {
                        let e = u.0.entry(k).or_default();
                        *e = (*e).max(t);
                    }
                }
            }
        }
        Ok(report)
    }
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

const ITEMS_UPSERT: &str = " ON CONFLICT (node, day, hash) DO UPDATE SET \
     narinfo_hits = item_requests.narinfo_hits + excluded.narinfo_hits, \
     nar_downloads = item_requests.nar_downloads + excluded.nar_downloads, \
     last_at = CASE WHEN excluded.last_at > item_requests.last_at \
       THEN excluded.last_at ELSE item_requests.last_at END";
const MISSES_UPSERT: &str = " ON CONFLICT (node, day, hash) DO UPDATE SET \
     misses = missed_hashes.misses + excluded.misses, \
     last_at = CASE WHEN excluded.last_at > missed_hashes.last_at \
       THEN excluded.last_at ELSE missed_hashes.last_at END";
const TOTALS_UPSERT: &str = " ON CONFLICT (node, day) DO UPDATE SET \
     narinfo_hits = request_totals.narinfo_hits + excluded.narinfo_hits, \
     narinfo_misses = request_totals.narinfo_misses + excluded.narinfo_misses, \
     nar_downloads = request_totals.nar_downloads + excluded.nar_downloads";

/// Rows per statement: one statement per table for a usual flush, and a
/// bounded parameter (about 0.7 MB of JSON) for a flood of distinct misses.
const ROWS_PER_STATEMENT: usize = 10_000;

const ITEMS_INTO: &str =
    "INSERT INTO item_requests (node, day, hash, narinfo_hits, nar_downloads, last_at) ";
const MISSES_INTO: &str = "INSERT INTO missed_hashes (node, day, hash, misses, last_at) ";
const TOTALS_INTO: &str =
    "INSERT INTO request_totals (node, day, narinfo_hits, narinfo_misses, nar_downloads) ";

/// One JSON array of rows, `[[…],[…]]`, each row written by `row`.
fn json_rows<T>(rows: impl Iterator<Item = T>, mut row: impl FnMut(&mut String, T)) -> String {
    let mut s = String::from("[");
    for (i, r) in rows.enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push('[');
        row(&mut s, r);
        s.push(']');
    }
    s.push(']');
    s
}

fn hex_into(s: &mut String, key: &ItemKey) {
    use std::fmt::Write as _;
    s.push('"');
    for b in key {
        let _ = write!(s, "{b:02x}");
    }
    s.push('"');
}

/// SQLite: each table's rows as one JSON parameter (`json_each`), one
/// statement per table however many rows (a flush under a flood of
/// distinct misses writes 10⁵ rows; per-row parameters cost a linear
/// search each in sqlx-sqlite).
async fn write_sqlite(tx: &mut sqlx::SqliteConnection, node: &str, batch: &Shard) -> Result<()> {
    use std::fmt::Write as _;
    let items: Vec<_> = batch.items.iter().collect();
    let sql = format!(
        "{ITEMS_INTO}SELECT $1, value->>0, unhex(value->>1), value->>2, value->>3, \
         value->>4 FROM json_each($2) WHERE true{ITEMS_UPSERT}"
    );
    for chunk in items.chunks(ROWS_PER_STATEMENT) {
        let rows = json_rows(chunk.iter().copied(), |s, ((day, key), c)| {
            let _ = write!(s, "{day},");
            hex_into(s, key);
            let _ = write!(
                s,
                ",{},{},{}",
                to_i64(c.narinfo_hits),
                to_i64(c.nar_downloads),
                c.last_at
            );
        });
        sqlx::query(&sql)
            .bind(node)
            .bind(rows)
            .execute(&mut *tx)
            .await?;
    }
    let misses: Vec<_> = batch.misses.iter().collect();
    let sql = format!(
        "{MISSES_INTO}SELECT $1, value->>0, unhex(value->>1), value->>2, value->>3 \
         FROM json_each($2) WHERE true{MISSES_UPSERT}"
    );
    for chunk in misses.chunks(ROWS_PER_STATEMENT) {
        let rows = json_rows(chunk.iter().copied(), |s, ((day, key), (n, at))| {
            let _ = write!(s, "{day},");
            hex_into(s, key);
            let _ = write!(s, ",{},{at}", to_i64(*n));
        });
        sqlx::query(&sql)
            .bind(node)
            .bind(rows)
            .execute(&mut *tx)
            .await?;
    }
    if !batch.totals.is_empty() {
        let rows = json_rows(batch.totals.iter(), |s, (day, t)| {
            let _ = write!(
                s,
                "{day},{},{},{}",
                to_i64(t.narinfo_hits),
                to_i64(t.narinfo_misses),
                to_i64(t.nar_downloads)
            );
        });
        let sql = format!(
            "{TOTALS_INTO}SELECT $1, value->>0, value->>1, value->>2, value->>3 \
             FROM json_each($2) WHERE true{TOTALS_UPSERT}"
        );
        sqlx::query(&sql)
            .bind(node)
            .bind(rows)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// PostgreSQL: each table's rows as one array parameter per column.
async fn write_postgres(tx: &mut sqlx::PgConnection, node: &str, batch: &Shard) -> Result<()> {
    let items: Vec<_> = batch.items.iter().collect();
    let sql = format!(
        "{ITEMS_INTO}SELECT $1, * FROM UNNEST($2::int8[], $3::bytea[], $4::int8[], \
         $5::int8[], $6::int8[]){ITEMS_UPSERT}"
    );
    for chunk in items.chunks(ROWS_PER_STATEMENT) {
        let (mut day, mut hash, mut hits, mut downloads, mut at) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for &((d, k), c) in chunk {
            day.push(*d);
            hash.push(k.to_vec());
            hits.push(to_i64(c.narinfo_hits));
            downloads.push(to_i64(c.nar_downloads));
            at.push(c.last_at);
        }
        sqlx::query(&sql)
            .bind(node)
            .bind(day)
            .bind(hash)
            .bind(hits)
            .bind(downloads)
            .bind(at)
            .execute(&mut *tx)
            .await?;
    }
    let missed: Vec<_> = batch.misses.iter().collect();
    let sql = format!(
        "{MISSES_INTO}SELECT $1, * FROM UNNEST($2::int8[], $3::bytea[], $4::int8[], \
         $5::int8[]){MISSES_UPSERT}"
    );
    for chunk in missed.chunks(ROWS_PER_STATEMENT) {
        let (mut day, mut hash, mut misses, mut at) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for &((d, k), (n, t)) in chunk {
            day.push(*d);
            hash.push(k.to_vec());
            misses.push(to_i64(*n));
            at.push(*t);
        }
        sqlx::query(&sql)
            .bind(node)
            .bind(day)
            .bind(hash)
            .bind(misses)
            .bind(at)
            .execute(&mut *tx)
            .await?;
    }
    if !batch.totals.is_empty() {
        let (mut day, mut hits, mut misses, mut downloads) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (d, t) in &batch.totals {
            day.push(*d);
            hits.push(to_i64(t.narinfo_hits));
            misses.push(to_i64(t.narinfo_misses));
            downloads.push(to_i64(t.nar_downloads));
        }
        let sql = format!(
            "{TOTALS_INTO}SELECT $1, * FROM UNNEST($2::int8[], $3::int8[], $4::int8[], \
             $5::int8[]){TOTALS_UPSERT}"
        );
        sqlx::query(&sql)
            .bind(node)
            .bind(day)
            .bind(hits)
            .bind(misses)
            .bind(downloads)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

async fn write_batch(store: &Store, node: &str, batch: &Shard) -> Result<FlushReport> {
    match store.backend() {
        Backend::Sqlite(pool) => {
            let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
            write_sqlite(&mut tx, node, batch).await?;
            tx.commit().await?;
        }
        Backend::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            write_postgres(&mut tx, node, batch).await?;
            tx.commit().await?;
        }
    }
    Ok(FlushReport {
        item_rows: batch.items.len(),
        miss_rows: batch.misses.len(),
        total_rows: batch.totals.len(),
        usage_rows: 0,
    })
}

/// One line of a "most requested" list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemStat {
    /// The hash part.
    pub hash: String,
    /// Narinfo hits.
    pub narinfo_hits: u64,
    /// Nar downloads.
    pub nar_downloads: u64,
}

/// One line of a "most missed" list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissStat {
    /// The requested hash part.
    pub hash: String,
    /// How often it was asked for and missing.
    pub misses: u64,
}

/// What [`report`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsReport {
    /// Days covered (today and the `days - 1` before it).
    pub days: u32,
    /// Totals over all nodes and those days.
    pub totals: Totals,
    /// The most requested stored items (narinfo hits + nar downloads).
    pub top_items: Vec<ItemStat>,
    /// The most missed hashes.
    pub top_missed: Vec<MissStat>,
    /// How many stored items were not requested in those days.
    pub never_requested: u64,
    /// Some of them (up to `top`), by hash.
    pub never_requested_sample: Vec<String>,
}

const R_TOTALS: &str = "SELECT CAST(COALESCE(SUM(narinfo_hits), 0) AS BIGINT), \
     CAST(COALESCE(SUM(narinfo_misses), 0) AS BIGINT), \
     CAST(COALESCE(SUM(nar_downloads), 0) AS BIGINT) FROM request_totals WHERE day >= $1";
const R_TOP: &str = "SELECT hash, CAST(SUM(narinfo_hits) AS BIGINT) AS h, \
     CAST(SUM(nar_downloads) AS BIGINT) AS d FROM item_requests WHERE day >= $1 \
     GROUP BY hash ORDER BY SUM(narinfo_hits) + SUM(nar_downloads) DESC, hash LIMIT $2";
const R_MISSED: &str = "SELECT hash, CAST(SUM(misses) AS BIGINT) AS m FROM missed_hashes \
     WHERE day >= $1 GROUP BY hash ORDER BY m DESC, hash LIMIT $2";
const R_NEVER_COUNT: &str = "SELECT COUNT(*) FROM items i JOIN narinfos n ON n.item_id = i.id \
     WHERE NOT EXISTS (SELECT 1 FROM item_requests r WHERE r.hash = i.hash AND r.day >= $1)";
const R_NEVER: &str = "SELECT i.hash FROM items i JOIN narinfos n ON n.item_id = i.id \
     WHERE NOT EXISTS (SELECT 1 FROM item_requests r WHERE r.hash = i.hash AND r.day >= $1) \
     ORDER BY n.added_at, i.hash LIMIT $2";

fn key_text(k: &[u8]) -> String {
    match <ItemKey>::try_from(k) {
        Ok(key) => item_hash(&key),
        Err(_) => format!("<corrupt key {}>", hex::encode(k)),
    }
}

fn u(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Reads the analytics of the last `days` days (all nodes): totals, the
/// `top` most requested items, the `top` most missed hashes and the stored
/// items nobody requested.
pub async fn report(store: &Store, days: u32, top: u32) -> Result<StatsReport> {
    let days = days.max(1);
    let since = day_of(now_secs()) - i64::from(days) + 1;
    let top = i64::from(top);
    type Tot = (i64, i64, i64);
    macro_rules! run {
        ($pool:expr) => {{
            let t: Tot = sqlx::query_as(R_TOTALS)
                .bind(since)
                .fetch_one($pool)
                .await?;
            let items: Vec<(Vec<u8>, i64, i64)> = sqlx::query_as(R_TOP)
                .bind(since)
                .bind(top)
                .fetch_all($pool)
                .await?;
            let missed: Vec<(Vec<u8>, i64)> = sqlx::query_as(R_MISSED)
                .bind(since)
                .bind(top)
                .fetch_all($pool)
                .await?;
            let never: i64 = sqlx::query_scalar(R_NEVER_COUNT)
                .bind(since)
                .fetch_one($pool)
                .await?;
            let sample: Vec<Vec<u8>> = sqlx::query_scalar(R_NEVER)
                .bind(since)
                .bind(top)
                .fetch_all($pool)
                .await?;
            (t, items, missed, never, sample)
        }};
    }
    let (t, items, missed, never, sample) = match store.backend() {
        Backend::Sqlite(pool) => run!(pool),
        Backend::Postgres(pool) => run!(pool),
    };
    Ok(StatsReport {
        days,
        totals: Totals {
            narinfo_hits: u(t.0),
            narinfo_misses: u(t.1),
            nar_downloads: u(t.2),
        },
        top_items: items
            .into_iter()
            .map(|(k, h, d)| ItemStat {
                hash: key_text(&k),
                narinfo_hits: u(h),
                nar_downloads: u(d),
            })
            .collect(),
        top_missed: missed
            .into_iter()
            .map(|(k, m)| MissStat {
                hash: key_text(&k),
                misses: u(m),
            })
            .collect(),
        never_requested: u(never),
        never_requested_sample: sample.iter().map(|k| key_text(k)).collect(),
    })
}

/// Totals of one node (a server's `node-name`; on a primary, its mirrors'
/// rows arrive by replication, see [`crate::replication`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeTotals {
    /// The node's name.
    pub node: String,
    /// Its totals over the days asked for.
    pub totals: Totals,
    /// Whether its rows arrived by replication (from a mirror).
    pub replicated: bool,
}

const R_NODES: &str = "SELECT t.node, CAST(SUM(t.narinfo_hits) AS BIGINT), \
     CAST(SUM(t.narinfo_misses) AS BIGINT), CAST(SUM(t.nar_downloads) AS BIGINT), \
     EXISTS (SELECT 1 FROM replicated_nodes r WHERE r.node = t.node) \
     FROM request_totals t WHERE t.day >= $1 GROUP BY t.node ORDER BY t.node";

/// Per-node totals of the last `days` days, by node name.
pub async fn node_totals(store: &Store, days: u32) -> Result<Vec<NodeTotals>> {
    let since = day_of(now_secs()) - i64::from(days.max(1)) + 1;
    type Row = (String, i64, i64, i64, bool);
    let rows: Vec<Row> = match store.backend() {
        Backend::Sqlite(pool) => sqlx::query_as(R_NODES).bind(since).fetch_all(pool).await?,
        Backend::Postgres(pool) => sqlx::query_as(R_NODES).bind(since).fetch_all(pool).await?,
    };
    Ok(rows
        .into_iter()
        .map(|(node, h, m, d, replicated)| NodeTotals {
            node,
            totals: Totals {
                narinfo_hits: u(h),
                narinfo_misses: u(m),
                nar_downloads: u(d),
            },
            replicated,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_accumulate_and_take_empties() {
        let a = Analytics::new("n1");
        let k = [7u8; 20];
        a.narinfo_hit(&k);
        a.narinfo_hit(&k);
        a.nar_download(Some(&k));
        a.narinfo_miss(Some(&[9u8; 20]));
        a.narinfo_miss(None);
        let s = a.take();
        let day = day_of(now_secs());
        let c = s.items[&(day, k)];
        assert_eq!((c.narinfo_hits, c.nar_downloads), (2, 1));
        assert_eq!(s.misses[&(day, [9u8; 20])].0, 1);
        let t = s.totals[&day];
        assert_eq!(
            (t.narinfo_hits, t.narinfo_misses, t.nar_downloads),
            (2, 2, 1)
        );
        assert!(a.take().is_empty());
    }

    #[test]
    fn json_rows_and_hex_keys() {
        let rows = json_rows(
            [(1i64, [0xabu8; 20]), (2, [0u8; 20])].iter(),
            |s, (d, k)| {
                s.push_str(&d.to_string());
                s.push(',');
                hex_into(s, k);
            },
        );
        assert_eq!(
            rows,
            format!("[[1,\"{}\"],[2,\"{}\"]]", "ab".repeat(20), "00".repeat(20))
        );
        assert_eq!(json_rows(std::iter::empty::<i64>(), |_, _| {}), "[]");
    }
}
