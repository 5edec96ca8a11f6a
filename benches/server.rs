//! The server's hot path in memory: a narinfo lookup that hits the text
//! cache, one answered "absent" by the fingerprint set, and the cost of
//! counting a request for analytics. (No HTTP: the end-to-end comparison
//! with nginx is `scripts/bench-server`; see BENCHMARKS.md.)
//!
//! `cargo bench --bench server`.

use criterion::{criterion_group, criterion_main, Criterion};
use narherder::analytics::Analytics;
use narherder::changes::item_key;
use narherder::server::hot::Hot;
use narherder::store::{AddMode, Store, StoreOptions};
use narherder::synth::{Flavour, Generator, SynthOptions};

const COUNT: usize = 10_000;

fn bench_hot(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let (hot, hashes) = rt.block_on(async {
        let store = Store::open(&url, &StoreOptions::with_store_dir("/gnu/store"))
            .await
            .expect("store");
        let mut gen = Generator::new(SynthOptions {
            count: COUNT,
            seed: 1,
            flavour: Flavour::Guix,
            ..SynthOptions::default()
        });
        let mut items = Vec::new();
        while let Some(item) = gen.next_item() {
            items.push(gen.render(&item).expect("render"));
        }
        store.add_many(&items, AddMode::Keep).await.expect("add");
        let hashes: Vec<String> = items.iter().map(|n| n.hash_part().to_string()).collect();
        let (hot, _feed) = Hot::load(store, 64 << 20).await.expect("hot");
        for h in &hashes {
            hot.get(h).await.expect("warm");
        }
        (hot, hashes)
    });
    let keys: Vec<_> = hashes.iter().filter_map(|h| item_key(h)).collect();
    let mut group = c.benchmark_group("hot");
    let mut i = 0;
    group.bench_function("hit", |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            rt.block_on(hot.get_key(&keys[i]))
                .expect("hit")
                .expect("present")
        })
    });
    let misses: Vec<_> = (0..1000u32)
        .map(|n| {
            let mut k = [0u8; 20];
            k[..4].copy_from_slice(&n.to_le_bytes());
            k[19] = 0xa5;
            k
        })
        .collect();
    group.bench_function("miss", |b| {
        b.iter(|| {
            i = (i + 1) % misses.len();
            rt.block_on(hot.get_key(&misses[i])).expect("miss")
        })
    });
    let analytics = Analytics::new("bench");
    group.bench_function("count_hit", |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            analytics.narinfo_hit(&keys[i]);
        })
    });
    group.finish();
}

criterion_group!(benches, bench_hot);
criterion_main!(benches);
