//! CPU time per signature operation, measured with getrusage rather than wall
//! time, so that figures stay meaningful on a machine shared with other work
//! (criterion's wall-clock medians in `benches/guix.rs` and `benches/nix.rs`
//! inflate with load). Run: `cargo bench --bench signing_cpu`.

use narherder::signing::{guix, nix, verify_narinfo, Keyring};
use narherder::Narinfo;

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the zeroed struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let secs = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 * 1e-6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

fn measure(label: &str, calls: u32, f: &mut dyn FnMut()) {
    for _ in 0..calls / 20 {
        f();
    }
    let start = cpu_seconds();
    for _ in 0..calls {
        f();
    }
    let per_call = (cpu_seconds() - start) / f64::from(calls) * 1e6;
    println!("{label:<40} {per_call:>8.1} µs CPU per call ({calls} calls)");
}

fn main() {
    // `cargo test --benches` passes --bench-less arguments; run briefly then.
    let calls = if std::env::args().any(|a| a == "--bench") {
        20_000
    } else {
        50
    };
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/");
    let read = |rel: &str| std::fs::read_to_string(format!("{data}{rel}")).expect("test data");
    let guix_text = read("guix/cs56i9digj9qg1bd383cmxc6xrfpdn9n.hello-2.12.2.bordeaux.narinfo");
    let nix_text = read("nix/0a3yijp35sygmy51cnrrz11vimwapz7c.dbus-conf-self-ref.narinfo");
    let keys = Keyring::from_files(&[
        format!("{data}guix/keys/acl"),
        format!("{data}nix/keys.txt"),
    ])
    .expect("keys");
    let guix_key = guix::GuixSecretKey::read_file(std::path::Path::new(&format!(
        "{data}guix/keys/testhost.sec"
    )))
    .expect("guix key");
    let nix_key = nix::NixSecretKey::generate("bench-1").expect("nix key");
    let nix_narinfo = Narinfo::parse(&nix_text).expect("nix narinfo");

    measure("Guix parse + verify (bordeaux narinfo)", calls, &mut || {
        let n = Narinfo::parse(&guix_text).expect("parse");
        assert!(verify_narinfo(&n, &keys).is_valid());
    });
    measure("Guix sign (narinfo prefix)", calls, &mut || {
        std::hint::black_box(guix::sign(&guix_key, guix_text.as_bytes()));
    });
    measure("Nix parse + verify (dbus-conf narinfo)", calls, &mut || {
        let n = Narinfo::parse(&nix_text).expect("parse");
        assert!(verify_narinfo(&n, &keys).is_valid());
    });
    measure("Nix sign (fingerprint)", calls, &mut || {
        std::hint::black_box(nix::sign_narinfo_sig(&nix_narinfo, &nix_key));
    });
}
