//! Nix signatures: verifying and signing a real cache.nixos.org narinfo.
//!
//! Run with `cargo bench --bench nix`.

use std::path::Path;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use narherder::signing::nix::{
    fingerprint_of, load_public_keys, sign_narinfo_sig, verify_narinfo, NixSecretKey,
};
use narherder::Narinfo;

fn data(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/nix")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn bench(c: &mut Criterion) {
    let keys =
        load_public_keys(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/nix/keys.txt"))
            .expect("keys.txt");
    // A typical narinfo: six references, one signature.
    let text = data("0a3yijp35sygmy51cnrrz11vimwapz7c.dbus-conf-self-ref.narinfo");
    let narinfo = Narinfo::parse(&text).expect("dbus-conf narinfo parses");
    assert!(verify_narinfo(&narinfo, &keys).is_valid());

    let mut group = c.benchmark_group("nix");
    group.bench_function("fingerprint", |b| {
        b.iter(|| fingerprint_of(black_box(&narinfo), true))
    });
    group.bench_function("verify (fingerprint + ed25519)", |b| {
        b.iter(|| verify_narinfo(black_box(&narinfo), &keys))
    });
    group.bench_function("parse + verify", |b| {
        b.iter(|| {
            let n = Narinfo::parse(black_box(&text)).expect("parses");
            verify_narinfo(&n, &keys)
        })
    });
    let secret = NixSecretKey::generate("bench-1").expect("key");
    group.bench_function("sign (fingerprint + ed25519)", |b| {
        b.iter(|| sign_narinfo_sig(black_box(&narinfo), &secret))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
