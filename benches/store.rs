//! Store lookups (and batch adds) on SQLite with ~100k synthetic narinfos.
//!
//! `cargo bench --bench store` (`NARHERDER_BENCH_ITEMS` changes the size).
//! The set-up prints the import rate and the database bytes per narinfo.

use std::time::Instant;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use narherder::store::{AddMode, Store, StoreOptions};
use narherder::Narinfo;
use tokio::runtime::Runtime;

#[path = "../tests/common/mod.rs"]
mod common;
use common::{hash_for, synthetic_text};

/// Out-degree of item `i`: median about 5, mean about 30, a long tail.
fn degree(i: u64) -> u64 {
    let x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40;
    match x % 100 {
        0..=4 => 400 + x % 200,
        5..=9 => 40 + x % 60,
        r => r % 11,
    }
}

fn narinfo(i: u64) -> Narinfo {
    let d = degree(i);
    let mut refs = Vec::with_capacity(d as usize + 1);
    if i % 3 == 0 {
        refs.push(format!("{}-item-{i}", hash_for(i)));
    }
    let mut x = i ^ 0x5851_f42d_4c95_7f2d;
    for _ in 0..d {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        // Mostly earlier items, sometimes ones never stored.
        let r = if i > 0 { (x >> 33) % i.max(1) } else { 1 };
        let r = if (x >> 20) % 50 == 0 {
            r + 50_000_000
        } else {
            r
        };
        refs.push(format!("{}-item-{r}", hash_for(r)));
    }
    let name = format!("item-{i}");
    let text = synthetic_text(
        "/nix/store",
        &hash_for(i),
        &name,
        &refs,
        1 + (i % 3 == 0) as usize,
    );
    Narinfo::parse(&text).expect("synthetic narinfo")
}

struct Fixture {
    rt: Runtime,
    store: Store,
    items: u64,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    // `cargo test --all-targets` runs benches once in test mode: keep it small.
    let benching = std::env::args().any(|a| a == "--bench");
    let items: u64 = std::env::var("NARHERDER_BENCH_ITEMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if benching { 100_000 } else { 2_000 });
    let rt = Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = rt
        .block_on(Store::open(
            &url,
            &StoreOptions::with_store_dir("/nix/store"),
        ))
        .unwrap();
    rt.block_on(store.begin_bulk_load()).unwrap();
    let mut text_bytes = 0u64;
    let mut add_time = std::time::Duration::ZERO;
    let t0 = Instant::now();
    for start in (0..items).step_by(5000) {
        let batch: Vec<Narinfo> = (start..(start + 5000).min(items)).map(narinfo).collect();
        text_bytes += batch.iter().map(|n| n.text().len() as u64).sum::<u64>();
        let t = Instant::now();
        rt.block_on(store.add_many(&batch, AddMode::Keep)).unwrap();
        add_time += t.elapsed();
    }
    let t = Instant::now();
    rt.block_on(store.end_bulk_load()).unwrap();
    let index_time = t.elapsed();
    let info = rt.block_on(store.counts()).unwrap();
    eprintln!(
        "store bench: {} narinfos, {} references, {} items; bulk add_many {:.0} narinfos/s \
         ({:.2} s, parse+add {:.2} s, reverse index {:.2} s); text {:.0} B/narinfo; \
         database {:.0} B/narinfo",
        info.narinfos,
        info.references,
        info.items,
        items as f64 / add_time.as_secs_f64(),
        add_time.as_secs_f64(),
        t0.elapsed().as_secs_f64(),
        index_time.as_secs_f64(),
        text_bytes as f64 / items as f64,
        info.database_bytes.unwrap_or(0) as f64 / items as f64,
    );
    Fixture {
        rt,
        store,
        items,
        _dir: dir,
    }
}

fn benches(c: &mut Criterion) {
    let f = fixture();
    let (rt, store, items) = (&f.rt, &f.store, f.items);
    let mut i = 0u64;
    c.bench_function("store/get (hit)", |b| {
        b.iter(|| {
            i = (i + 7919) % items;
            let got = rt.block_on(store.get(&hash_for(i))).unwrap();
            assert!(got.is_some());
        })
    });
    c.bench_function("store/get_text (hit)", |b| {
        b.iter(|| {
            i = (i + 7919) % items;
            assert!(rt.block_on(store.get_text(&hash_for(i))).unwrap().is_some());
        })
    });
    c.bench_function("store/get (miss)", |b| {
        b.iter(|| {
            i += 1;
            assert!(rt
                .block_on(store.get(&hash_for(10_000_000 + i)))
                .unwrap()
                .is_none());
        })
    });
    // 1000 hashes, one in ten a miss.
    let batch = |start: u64| -> Vec<String> {
        (0..1000u64)
            .map(|k| {
                if k % 10 == 9 {
                    hash_for(20_000_000 + start + k)
                } else {
                    hash_for((start * 1000 + k * 97) % items)
                }
            })
            .collect()
    };
    let mut round = 0u64;
    c.bench_function("store/get_many(1000)", |b| {
        b.iter_batched(
            || {
                round += 1;
                batch(round)
            },
            |hashes| {
                let asked: Vec<&str> = hashes.iter().map(String::as_str).collect();
                let got = rt.block_on(store.get_many(&asked)).unwrap();
                assert_eq!(got.iter().filter(|g| g.is_some()).count(), 900);
            },
            BatchSize::SmallInput,
        )
    });
    c.bench_function("store/get_texts(1000)", |b| {
        b.iter_batched(
            || {
                round += 1;
                batch(round)
            },
            |hashes| {
                let asked: Vec<&str> = hashes.iter().map(String::as_str).collect();
                let got = rt.block_on(store.get_texts(&asked)).unwrap();
                assert_eq!(got.iter().filter(|g| g.is_some()).count(), 900);
            },
            BatchSize::SmallInput,
        )
    });
    c.bench_function("store/exists_many(1000)", |b| {
        b.iter_batched(
            || {
                round += 1;
                batch(round)
            },
            |hashes| {
                let asked: Vec<&str> = hashes.iter().map(String::as_str).collect();
                let got = rt.block_on(store.exists_many(&asked)).unwrap();
                assert_eq!(got.iter().filter(|g| **g).count(), 900);
            },
            BatchSize::SmallInput,
        )
    });
    // The closure of the newest item reaches a large part of the graph: the
    // shape of a GC mark from one root (one recursive statement).
    let root = hash_for(items - 1);
    let reach = rt.block_on(store.closure(&root)).unwrap().len();
    let leaf = hash_for(0);
    let up = rt.block_on(store.referrers(&leaf)).unwrap().len();
    eprintln!(
        "store bench: closure of item {} = {reach} items; referrers of item 0 = {up}",
        items - 1
    );
    let mut group = c.benchmark_group("store/graph");
    group.sample_size(10);
    group.bench_function(format!("closure ({reach} items)"), |b| {
        b.iter(|| rt.block_on(store.closure(&root)).unwrap())
    });
    group.bench_function(format!("referrers ({up} items)"), |b| {
        b.iter(|| rt.block_on(store.referrers(&leaf)).unwrap())
    });
    group.finish();

    let mut next = items;
    let mut group = c.benchmark_group("store/add_many");
    group.sample_size(10);
    group.bench_function("1000 new narinfos", |b| {
        b.iter_batched(
            || {
                let batch: Vec<Narinfo> = (next..next + 1000).map(narinfo).collect();
                next += 1000;
                batch
            },
            |batch| rt.block_on(store.add_many(&batch, AddMode::Keep)).unwrap(),
            BatchSize::LargeInput,
        )
    });
    group.finish();
    rt.block_on(store.close());
}

criterion_group!(store_benches, benches);
criterion_main!(store_benches);
