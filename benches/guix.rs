//! Guix signatures: verifying a real narinfo's `Signature:` (SHA-256 of the
//! signed bytes, base64 and s-expression decoding, ECDSA check) and signing.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use ed25519_dalek::{Signer as _, Verifier as _};
use narherder::signing::guix::{self, Acl, GuixSecretKey, GuixSignature};
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

    let b64 = field.rsplit(';').next().unwrap();
    c.bench_function("guix decode signature (base64 + sexp)", |b| {
        b.iter(|| GuixSignature::parse_base64(black_box(b64)).unwrap())
    });

    // For scale: an EdDSA (Nix-style) verification of the same bytes on the
    // same machine.
    let nix_key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let nix_sig = nix_key.sign(prefix.as_bytes());
    let nix_public = nix_key.verifying_key();
    c.bench_function("reference: ed25519-dalek verify", |b| {
        b.iter(|| nix_public.verify(black_box(prefix.as_bytes()), &nix_sig))
    });

    let key = GuixSecretKey::read_file(&data("keys/testhost.sec")).unwrap();
    c.bench_function("guix sign narinfo prefix", |b| {
        b.iter(|| guix::sign(&key, black_box(prefix.as_bytes())))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
