//! The Guix side: narinfos served by the server are fetched with pipelined
//! requests on one connection and read by Guile's HTTP reader, and their
//! Guix signatures are checked with libgcrypt through guile-gcrypt
//! (`tests/guile/fetch-verify.scm`), as a Guix client does — the build
//! farms' original signatures, served untouched, and a signature the server
//! made when an unsigned narinfo was uploaded. Without `guile` the test is
//! skipped loudly, except under `CI=true`.

mod common;
mod server_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::sqlite_db;
use narherder::server::auth::Tokens;
use narherder::signing::SecretKey;
use narherder::store::{AddMode, StoreOptions};
use narherder::Narinfo;
use server_support::{config, get, request, start};

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/guix")
        .join(rel)
}

fn guile_available() -> bool {
    let ok = Command::new("guile")
        .args(["-c", "(use-modules (gcrypt pk-crypto))"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("guile or guile-gcrypt is missing but CI=true (Debian: guile-3.0 guile-gcrypt)");
        }
        eprintln!("SKIPPED server_guix: guile with guile-gcrypt not found");
    }
    ok
}

fn fetch_verify(port: u16, keys: &[PathBuf], hashes: &[String]) -> (bool, String) {
    let keys: Vec<String> = keys.iter().map(|k| k.display().to_string()).collect();
    let out = Command::new("guile")
        .args(["--no-auto-compile", "-s"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/guile/fetch-verify.scm"))
        .arg("127.0.0.1")
        .arg(port.to_string())
        .arg(keys.join(","))
        .args(hashes)
        .output()
        .expect("running guile");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guix_client_verifies_served_signatures() {
    if !guile_available() {
        return;
    }
    let db = sqlite_db();
    let store = db.open(&StoreOptions::with_store_dir("/gnu/store")).await;
    let mut hashes = Vec::new();
    let mut narinfos = Vec::new();
    for entry in std::fs::read_dir(data("")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "narinfo") {
            let n = Narinfo::parse(&std::fs::read_to_string(&p).unwrap()).unwrap();
            hashes.push(n.hash_part().to_string());
            narinfos.push(n);
        }
    }
    assert_eq!(narinfos.len(), 5);
    store.add_many(&narinfos, AddMode::Keep).await.unwrap();

    let mut cfg = config();
    cfg.tokens = Tokens::new(&["t"]);
    cfg.sign_key = Some(std::sync::Arc::new(
        SecretKey::load(&data("keys/testhost.sec")).unwrap(),
    ));
    cfg.node_name = "narherder-test".into();
    let server = start(&store, cfg).await;
    let addr = server.local_addr();

    // An unsigned narinfo uploaded: the server signs it once, on entry.
    let synthetic = narinfos
        .iter()
        .find(|n| n.hash_part() == "0123456789abcdfghijklmnpqrsvwxyz")
        .unwrap();
    let unsigned: String = synthetic
        .text()
        .lines()
        .filter(|l| !l.starts_with("Signature:"))
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        .replace(
            "0123456789abcdfghijklmnpqrsvwxyz",
            "1123456789abcdfghijklmnpqrsvwxyz",
        );
    // (No --storage: the server does not check nar files.)
    let r = request(
        addr,
        "PUT",
        "/1123456789abcdfghijklmnpqrsvwxyz.narinfo",
        &[("Authorization", "Bearer t")],
        unsigned.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let served = get(addr, "/1123456789abcdfghijklmnpqrsvwxyz.narinfo")
        .await
        .text();
    assert!(served.contains("Signature: 1;narherder-test;"), "{served}");
    hashes.push("1123456789abcdfghijklmnpqrsvwxyz".into());

    let keys = vec![
        data("keys/berlin.guixsd.org.pub"),
        data("keys/bordeaux.guix.gnu.org.pub"),
        data("keys/testhost.pub"),
    ];
    let port = addr.port();
    let (ok, out) = {
        let (keys, hashes) = (keys.clone(), hashes.clone());
        tokio::task::spawn_blocking(move || fetch_verify(port, &keys, &hashes))
            .await
            .unwrap()
    };
    assert!(ok, "{out}");
    assert_eq!(out.matches(": valid").count(), 6, "{out}");

    // Original signatures are served byte for byte.
    for n in &narinfos {
        assert_eq!(
            get(addr, &format!("/{}.narinfo", n.hash_part()))
                .await
                .text(),
            n.text()
        );
    }

    // Misses in the middle of the pipeline do not disturb the rest, and a
    // key the client does not trust is reported as such.
    let mut with_miss = hashes.clone();
    with_miss.insert(2, "00000000000000000000000000000000".into());
    let (ok, out) = tokio::task::spawn_blocking(move || {
        fetch_verify(port, &[data("keys/testhost.pub")], &with_miss)
    })
    .await
    .unwrap();
    assert!(!ok);
    assert!(
        out.contains("00000000000000000000000000000000: 404"),
        "{out}"
    );
    assert!(out.contains("unauthorized-key"), "{out}");
    assert_eq!(out.matches(": valid").count(), 2, "{out}");
    server.shutdown(Duration::from_secs(5)).await.unwrap();
}
