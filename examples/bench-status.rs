//! Status page benchmark: how long the overview behind `GET /` takes on a
//! large store, with a month of analytics.
//!
//! ```text
//! cargo run --release --example bench-status -- sqlite://DB [--populate] [--runs 20]
//! ```
//!
//! Opens the store (timing it: on a database of an older schema this
//! includes the one-time migration that fills the running totals), with
//! `--populate` first writes `--days` days of analytics for
//! `--items-per-day` stored items and `--misses-per-day` missed hashes per
//! day, a few roots and GC runs, then times `narherder::status::overview`
//! (the database reads) and the HTML rendering, `--runs` times.

use std::time::{Duration, Instant};

use clap::Parser;
use narherder::analytics::day_of;
use narherder::changes::item_key;
use narherder::gc::GcReport;
use narherder::status::{overview, OverviewOptions};
use narherder::store::{Backend, Store, StoreOptions};

/// Time the status page's overview.
#[derive(Parser)]
struct Args {
    /// Database URL.
    database: String,
    /// Write a month of synthetic analytics, roots and GC runs first.
    #[arg(long)]
    populate: bool,
    /// Days of analytics to write.
    #[arg(long, default_value_t = 30)]
    days: i64,
    /// Distinct stored items requested per day.
    #[arg(long, default_value_t = 20_000)]
    items_per_day: u32,
    /// Distinct missed hashes per day.
    #[arg(long, default_value_t = 5_000)]
    misses_per_day: u32,
    /// Timed runs.
    #[arg(long, default_value_t = 20)]
    runs: usize,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A deterministic pseudo-random sequence (xorshift).
fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

async fn populate(store: &Store, args: &Args) -> anyhow::Result<()> {
    let t = Instant::now();
    let hashes = store.list(None, args.items_per_day * 2).await?;
    anyhow::ensure!(!hashes.is_empty(), "the store is empty");
    let Backend::Sqlite(pool) = store.backend() else {
        anyhow::bail!("--populate writes SQLite databases only");
    };
    let today = day_of(now());
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut tx = pool.begin().await?;
    let mut rows = 0u64;
    for d in 0..args.days {
        let day = today - d;
        let (mut hits, mut misses, mut downloads) = (0i64, 0i64, 0i64);
        for i in 0..args.items_per_day as usize {
            let h = &hashes[(i + d as usize * 97) % hashes.len()];
            let Some(key) = item_key(h) else { continue };
            let n = (next(&mut rng) % 50) as i64 + 1;
            let dl = (next(&mut rng) % 5) as i64;
            sqlx::query(
                "INSERT OR IGNORE INTO item_requests (node, day, hash, narinfo_hits, nar_downloads, last_at) \
                 VALUES ('bench', $1, $2, $3, $4, $5)",
            )
            .bind(day)
            .bind(&key[..])
            .bind(n)
            .bind(dl)
            .bind(day * 86_400)
            .execute(&mut *tx)
            .await?;
            hits += n;
            downloads += dl;
            rows += 1;
        }
        for _ in 0..args.misses_per_day {
            let mut key = [0u8; 20];
            for chunk in key.chunks_mut(8) {
                let b = next(&mut rng).to_le_bytes();
                chunk.copy_from_slice(&b[..chunk.len()]);
            }
            let n = (next(&mut rng) % 20) as i64 + 1;
            sqlx::query(
                "INSERT OR IGNORE INTO missed_hashes (node, day, hash, misses, last_at) \
                 VALUES ('bench', $1, $2, $3, $4)",
            )
            .bind(day)
            .bind(&key[..])
            .bind(n)
            .bind(day * 86_400)
            .execute(&mut *tx)
            .await?;
            misses += n;
            rows += 1;
        }
        sqlx::query(
            "INSERT OR REPLACE INTO request_totals (node, day, narinfo_hits, narinfo_misses, nar_downloads) \
             VALUES ('bench', $1, $2, $3, $4)",
        )
        .bind(day)
        .bind(hits)
        .bind(misses)
        .bind(downloads)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    for r in 0..3 {
        let items: Vec<&String> = hashes.iter().skip(r * 1000).take(10_000).collect();
        narherder::roots::set_root(store, &format!("channel/master/bench-{r}"), &items, None)
            .await?;
    }
    for i in 0..20 {
        let report = GcReport {
            deleted: 1000 + i,
            bytes_freed: (1000 + i) << 20,
            ..GcReport::default()
        };
        let at = now() - (20 - i as i64) * 86_400;
        narherder::gc_runs::record(store, at, at + 60, Ok(&report)).await?;
    }
    println!(
        "populated: {rows} analytics rows over {} days, 3 roots, 20 GC runs in {:.1} s",
        args.days,
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

fn stats(mut v: Vec<Duration>) -> String {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "min {:.1} ms, median {:.1} ms, max {:.1} ms",
        ms(v[0]),
        ms(v[v.len() / 2]),
        ms(v[v.len() - 1])
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let t = Instant::now();
    let store = Store::open(&args.database, &StoreOptions::default()).await?;
    println!(
        "open (including any migration): {:.2} s",
        t.elapsed().as_secs_f64()
    );
    if args.populate {
        populate(&store, &args).await?;
    }
    let options = OverviewOptions::default();
    let t = Instant::now();
    let first = overview(&store, &options).await?;
    println!(
        "first overview: {:.1} ms ({} narinfos, {} nar files, {} roots, {} GC runs, {} top items)",
        t.elapsed().as_secs_f64() * 1000.0,
        first.totals.narinfos,
        first.totals.nar_files,
        first.root_count,
        first.gc_runs.len(),
        first.top_items.len()
    );
    let mut reads = Vec::new();
    let mut renders = Vec::new();
    let mut bytes = 0;
    for _ in 0..args.runs.max(1) {
        let t = Instant::now();
        let o = overview(&store, &options).await?;
        reads.push(t.elapsed());
        let t = Instant::now();
        bytes = narherder::server::status::render(&o, "bench").len();
        renders.push(t.elapsed());
    }
    println!("overview ({} runs): {}", reads.len(), stats(reads));
    println!("render: {} ({bytes} bytes of HTML)", stats(renders));
    store.close().await;
    Ok(())
}
