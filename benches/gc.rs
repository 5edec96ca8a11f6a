//! Garbage collection on synthetic caches: mark and sweep times on SQLite
//! and PostgreSQL, and how they grow with size.
//!
//! ```text
//! cargo bench --bench gc                       # criterion: mark (dry run) of a 20k cache
//! NARHERDER_BENCH_GC_SIZES=100000,1000000 cargo bench --bench gc
//!                                              # one full GC per size and backend
//! NARHERDER_BENCH_POSTGRES=postgres://…/postgres  adds PostgreSQL
//! ```
//!
//! The synthetic cache: `N` narinfos in 10 generations (think channel
//! evaluations). Each narinfo has a heavy-tailed number of references
//! (log-normal before deduplication: median 5, capped at 2000; see the
//! figures printed when a cache is built), 90% to lower items of its own
//! generation (skewed towards the generation's first items, its "glibc"),
//! 10% to a base all generations share (the first 1% of the first one). Roots: the 200
//! highest items of each of the newest 7 generations. Grace: 0s, so
//! everything unreachable from the roots is garbage. Caches are built once
//! through `Store::add_many` and kept in `target/nh-bench/` (SQLite; a
//! template database on PostgreSQL); each full GC runs on a fresh copy.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::Criterion;
use narherder::gc::{gc, GcOptions};
use narherder::roots::set_root;
use narherder::store::{AddMode, Backend, Store, StoreOptions};
use narherder::{nix32, Narinfo};
use sqlx::Connection as _;

const GENERATIONS: u64 = 10;
const LIVE_GENERATIONS: u64 = 7;
const ROOTS_PER_GENERATION: u64 = 200;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(1e-300);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

fn hash(i: u64) -> String {
    let mut b = [0u8; 20];
    b[..8].copy_from_slice(&i.to_le_bytes());
    b[8..16].copy_from_slice(&i.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    nix32::encode(&b)
}

/// References of item `i` in a cache of `n`.
fn refs_of(i: u64, n: u64, rng: &mut Rng) -> Vec<u64> {
    let gen_size = (n / GENERATIONS).max(1);
    let gen_start = (i / gen_size) * gen_size;
    let k = (1.609 + 2.0 * rng.normal()).exp().round() as u64;
    let k = k.min(2000).min(i);
    let mut refs = Vec::with_capacity(k as usize);
    for _ in 0..k {
        let r = if rng.unit() < 0.9 && i > gen_start {
            gen_start + ((i - gen_start) as f64 * rng.unit().powi(2)) as u64
        } else {
            // The base every generation shares (the first generation's
            // first 1%: bootstrap binaries, which never change).
            let base = (gen_size / 100).max(1).min(i);
            (base as f64 * rng.unit()) as u64
        };
        refs.push(r.min(i.saturating_sub(1)));
    }
    refs.sort_unstable();
    refs.dedup();
    refs
}

fn text(i: u64, refs: &[u64]) -> String {
    let h = hash(i);
    let digest = nix32::encode(&[(i % 251) as u8; 32]);
    let refs: Vec<String> = refs
        .iter()
        .map(|&r| format!("{}-pkg-{r}", hash(r)))
        .collect();
    format!(
        "StorePath: /gnu/store/{h}-pkg-{i}\nURL: nar/zstd/{h}-pkg-{i}\nCompression: zstd\n\
         FileHash: sha256:{digest}\nFileSize: {}\nNarHash: sha256:{digest}\nNarSize: {}\n\
         References: {}\nDeriver: {h}-pkg-{i}.drv\nSystem: x86_64-linux\n",
        10_000 + i % 100_000,
        30_000 + i % 300_000,
        refs.join(" ")
    )
}

/// Fills `store` with the synthetic cache of `n` and its roots.
async fn build(store: &Store, n: u64) {
    let mut rng = Rng(n);
    let started = Instant::now();
    let mut chunk = Vec::with_capacity(5000);
    let mut edges = 0u64;
    let mut degrees = Vec::with_capacity(n as usize);
    for i in 0..n {
        let refs = refs_of(i, n, &mut rng);
        edges += refs.len() as u64;
        degrees.push(refs.len());
        chunk.push(Narinfo::parse(&text(i, &refs)).expect("synthetic narinfo"));
        if chunk.len() == 5000 || i + 1 == n {
            store
                .add_many(&chunk, AddMode::Keep)
                .await
                .expect("add_many");
            chunk.clear();
        }
    }
    let gen_size = (n / GENERATIONS).max(1);
    for g in GENERATIONS - LIVE_GENERATIONS..GENERATIONS {
        let end = ((g + 1) * gen_size).min(n);
        let items: Vec<String> = (end.saturating_sub(ROOTS_PER_GENERATION)..end)
            .map(hash)
            .collect();
        set_root(store, &format!("gen/{g}"), &items, None)
            .await
            .expect("root");
    }
    // A day old: the collections below use a zero grace period, which keeps
    // what was added in the current second (a dry run and the real run a
    // second apart would then disagree).
    let backdate = "UPDATE narinfos SET added_at = added_at - 86400";
    match store.backend() {
        Backend::Sqlite(p) => sqlx::query(backdate).execute(p).await.map(|_| ()),
        Backend::Postgres(p) => sqlx::query(backdate).execute(p).await.map(|_| ()),
    }
    .expect("backdate");
    degrees.sort_unstable();
    let at = |q: f64| {
        degrees
            .get(((n as f64 - 1.0) * q) as usize)
            .copied()
            .unwrap_or(0)
    };
    eprintln!(
        "built {n} narinfos, {edges} references (mean {:.1}, median {}, p99 {}) in {:.0?}",
        edges as f64 / n as f64,
        at(0.5),
        at(0.99),
        started.elapsed()
    );
}

fn bench_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/nh-bench");
    std::fs::create_dir_all(&dir).expect("bench dir");
    dir
}

fn options() -> StoreOptions {
    StoreOptions::with_store_dir("/gnu/store")
}

/// The SQLite template of size `n` (built if missing).
async fn sqlite_template(n: u64) -> PathBuf {
    let path = bench_dir().join(format!("gc-{n}-v4.db"));
    if !path.exists() {
        let tmp = path.with_extension("building");
        let _ = std::fs::remove_file(&tmp);
        let store = Store::open(&format!("sqlite://{}", tmp.display()), &options())
            .await
            .expect("open");
        build(&store, n).await;
        if let narherder::store::Backend::Sqlite(p) = store.backend() {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(p)
                .await
                .expect("checkpoint");
        }
        store.close().await;
        std::fs::rename(&tmp, &path).expect("rename");
    }
    path
}

/// A fresh copy of the SQLite template.
async fn sqlite_copy(n: u64) -> String {
    let template = sqlite_template(n).await;
    let copy = bench_dir().join(format!("gc-{n}-run.db"));
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", copy.display()));
    }
    std::fs::copy(&template, &copy).expect("copy");
    format!("sqlite://{}", copy.display())
}

fn with_database(admin: &str, name: &str) -> String {
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin);
    format!("{base}/{name}")
}

/// A fresh copy of the PostgreSQL template of size `n`.
async fn postgres_copy(admin: &str, n: u64) -> String {
    let mut c = sqlx::PgConnection::connect(admin).await.expect("connect");
    let template = format!("nh_gc_tpl_{n}_v4");
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(&template)
        .fetch_optional(&mut c)
        .await
        .expect("query");
    if exists.is_none() {
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {template}_building WITH (FORCE)"
        ))
        .execute(&mut c)
        .await
        .expect("drop");
        sqlx::query(&format!("CREATE DATABASE {template}_building"))
            .execute(&mut c)
            .await
            .expect("create");
        let store = Store::open(
            &with_database(admin, &format!("{template}_building")),
            &options(),
        )
        .await
        .expect("open");
        build(&store, n).await;
        store.close().await;
        // Autovacuum may be working on the new database.
        let mut tries = 0;
        while let Err(e) = sqlx::query(&format!(
            "ALTER DATABASE {template}_building RENAME TO {template}"
        ))
        .execute(&mut c)
        .await
        {
            tries += 1;
            assert!(tries < 100, "rename: {e}");
            sqlx::query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = $1 AND pid <> pg_backend_pid()",
            )
            .bind(format!("{template}_building"))
            .execute(&mut c)
            .await
            .expect("terminate");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let run = format!("nh_gc_run_{n}");
    sqlx::query(&format!("DROP DATABASE IF EXISTS {run} WITH (FORCE)"))
        .execute(&mut c)
        .await
        .expect("drop");
    sqlx::query(&format!("CREATE DATABASE {run} TEMPLATE {template}"))
        .execute(&mut c)
        .await
        .expect("create");
    let url = with_database(admin, &run);
    let mut r = sqlx::PgConnection::connect(&url).await.expect("connect");
    sqlx::query("VACUUM ANALYZE")
        .execute(&mut r)
        .await
        .expect("analyze");
    url
}

fn gc_options(dry_run: bool) -> GcOptions {
    GcOptions {
        dry_run,
        grace: Duration::ZERO,
        ..GcOptions::default()
    }
}

/// One full GC (dry run first) on a fresh copy; prints a table row.
async fn full_gc(backend: &str, url: &str, n: u64) {
    let store = Store::open(url, &options()).await.expect("open");
    let dry = gc(&store, &gc_options(true)).await.expect("dry run");
    let real = gc(&store, &gc_options(false)).await.expect("gc");
    assert_eq!(real.deleted, dry.deleted);
    let after = store.counts().await.expect("counts");
    assert_eq!(after.narinfos, real.live);
    println!(
        "| {backend} | {n} | {} | {} | {:.2} s | {:.2} s | {:.2} s | {:.2} s |",
        real.live,
        real.deleted,
        dry.elapsed.as_secs_f64(),
        real.mark_elapsed.as_secs_f64(),
        (real.elapsed - real.mark_elapsed).as_secs_f64(),
        real.elapsed.as_secs_f64()
    );
    store.close().await;
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let postgres = std::env::var("NARHERDER_BENCH_POSTGRES")
        .ok()
        .filter(|s| !s.is_empty());
    if let Ok(sizes) = std::env::var("NARHERDER_BENCH_GC_SIZES") {
        println!("| backend | narinfos | live | deleted | dry run | mark | sweep | full GC |");
        println!("|---|---|---|---|---|---|---|---|");
        for n in sizes
            .split(',')
            .filter_map(|s| s.trim().parse::<u64>().ok())
        {
            rt.block_on(async {
                let url = sqlite_copy(n).await;
                full_gc("sqlite", &url, n).await;
                if let Some(admin) = &postgres {
                    let url = postgres_copy(admin, n).await;
                    full_gc("postgres", &url, n).await;
                }
            });
        }
        return;
    }
    let mut c = Criterion::default().sample_size(10).configure_from_args();
    let n = 20_000;
    let url = rt.block_on(sqlite_copy(n));
    let store = rt.block_on(Store::open(&url, &options())).expect("open");
    c.bench_function("gc/dry run (mark + counts), sqlite, 20k narinfos", |b| {
        b.iter(|| rt.block_on(gc(&store, &gc_options(true))).expect("gc"))
    });
    rt.block_on(store.close());
    if let Some(admin) = &postgres {
        let url = rt.block_on(postgres_copy(admin, n));
        let store = rt.block_on(Store::open(&url, &options())).expect("open");
        c.bench_function("gc/dry run (mark + counts), postgres, 20k narinfos", |b| {
            b.iter(|| rt.block_on(gc(&store, &gc_options(true))).expect("gc"))
        });
        rt.block_on(store.close());
    }
    c.final_summary();
}
