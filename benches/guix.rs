//! Guix signatures: verifying a real narinfo's `Signature:` (SHA-256 of the
//! signed bytes, base64 and s-expression decoding, ECDSA check) and signing.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use narherder::signing::guix::{self, Acl, GuixSecretKey};
use std::path::Path;

fn data(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/guix")
        .join(name)
}

/// (signed prefix, Signature value) of a narinfo file.
fn split(text: &str) -> (&str, &str) {
    let at = text.find("\nSignature: ").expect("a Signature line") + 1;
    let line = &text[at..];
    let end = line.find('\n').unwrap_or(line.len());
    (&text[..at], &line["Signature: ".len()..end])
}

fn bench(c: &mut Criterion) {
    let text = std::fs::read_to_string(data(
        "cs56i9digj9qg1bd383cmxc6xrfpdn9n.hello-2.12.2.bordeaux.narinfo",
    ))
    .unwrap();
    let (prefix, field) = split(&text);
    let acl = Acl::read_file(&data("keys/acl")).unwrap();
    assert!(guix::verify(prefix.as_bytes(), field, &acl).is_valid());
    c.bench_function("guix verify bordeaux narinfo", |b| {
        b.iter(|| guix::verify(black_box(prefix.as_bytes()), black_box(field), &acl))
    });

    let key = GuixSecretKey::read_file(&data("keys/testhost.sec")).unwrap();
    c.bench_function("guix sign narinfo prefix", |b| {
        b.iter(|| guix::sign(&key, black_box(prefix.as_bytes())))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
