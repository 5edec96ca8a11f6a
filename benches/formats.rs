//! Formats on the hot path: parsing and writing narinfos, nix-base32.
//!
//! Run with `cargo bench --bench formats`; results go in BENCHMARKS.md.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use narherder::narinfo::{Layout, Narinfo};
use narherder::nix32;

const GUIX: &str = include_str!(
    "../tests/data/guix/cs56i9digj9qg1bd383cmxc6xrfpdn9n.hello-2.12.2.bordeaux.narinfo"
);
const NIX: &str =
    include_str!("../tests/data/nix/syd87l2rxw8cbsxmxl853h0r6pdwhwjr.curl-two-sigs.narinfo");

fn narinfo(c: &mut Criterion) {
    c.bench_function("narinfo/parse guix (bordeaux hello)", |b| {
        b.iter(|| Narinfo::parse(black_box(GUIX)).unwrap())
    });
    c.bench_function("narinfo/parse nix (curl, two sigs)", |b| {
        b.iter(|| Narinfo::parse(black_box(NIX)).unwrap())
    });
    let guix_fields = Narinfo::parse(GUIX).unwrap().fields();
    c.bench_function("narinfo/build guix layout", |b| {
        b.iter(|| Narinfo::build(black_box(&guix_fields), Layout::Guix).unwrap())
    });
    let nix_fields = Narinfo::parse(NIX).unwrap().fields();
    c.bench_function("narinfo/build nix layout", |b| {
        b.iter(|| Narinfo::build(black_box(&nix_fields), Layout::Nix).unwrap())
    });
}

fn base32(c: &mut Criterion) {
    let digest: [u8; 32] = core::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(11));
    let encoded = nix32::encode(&digest);
    c.bench_function("nix32/encode 32 bytes", |b| {
        b.iter(|| nix32::encode(black_box(&digest)))
    });
    c.bench_function("nix32/decode 52 chars", |b| {
        b.iter(|| nix32::decode(black_box(&encoded)).unwrap())
    });
    c.bench_function("nix32/decode_array 52 chars", |b| {
        b.iter(|| nix32::decode_array::<32>(black_box(&encoded)).unwrap())
    });
}

criterion_group!(benches, narinfo, base32);
criterion_main!(benches);
