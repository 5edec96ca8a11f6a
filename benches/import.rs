//! Import throughput: a generated Guix-like cache of 20,000 narinfos
//! imported into a fresh SQLite database per iteration.
//!
//! `cargo bench --bench import`. The 100k and 1M figures (and PostgreSQL)
//! come from `scripts/bench-import`; see BENCHMARKS.md.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use narherder::import::{import, ImportOptions, ImportSource, NoProgress};
use narherder::store::{Store, StoreOptions};
use narherder::synth::{write_cache, FileLayout, Flavour, SynthOptions};

/// Narinfos per iteration under `cargo bench`; `cargo test --all-targets`
/// runs the bench once as a smoke test, on a small cache.
fn count() -> usize {
    if std::env::args().any(|a| a == "--bench") {
        20_000
    } else {
        2_000
    }
}

fn bench_import(c: &mut Criterion) {
    let count = count();
    let cache = tempfile::tempdir().expect("temp dir");
    let summary = write_cache(
        cache.path(),
        &SynthOptions {
            count,
            seed: 1,
            flavour: Flavour::Guix,
            layout: FileLayout::Flat,
            nar_files: false,
        },
    )
    .expect("generate");
    eprintln!("{}", summary.degrees);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let sources = vec![ImportSource::Path(cache.path().to_path_buf())];
    let mut group = c.benchmark_group("import");
    group.sample_size(10);
    group.throughput(Throughput::Elements(count as u64));
    group.bench_function("sqlite_20k_guix", |b| {
        b.iter_batched(
            || tempfile::tempdir().expect("temp dir"),
            |db_dir| {
                rt.block_on(async {
                    let url = format!("sqlite://{}", db_dir.path().join("bench.db").display());
                    let store = Store::open(&url, &StoreOptions::default())
                        .await
                        .expect("open");
                    let report = import(
                        &store,
                        &sources,
                        &ImportOptions::default(),
                        Arc::new(NoProgress),
                    )
                    .await
                    .expect("import");
                    assert_eq!(report.new as usize, count);
                    store.close().await;
                });
                db_dir
            },
            criterion::BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, bench_import);
criterion_main!(benches);
