//! `narherder serve` as a process: settings from a TOML file, the
//! environment and flags (flags win), a slow in-flight upload that survives
//! SIGTERM (graceful shutdown), analytics flushed at exit, `narherder stats`.

mod common;
mod server_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{hash_for, sqlite_db, synthetic_text};
use narherder::store::{AddMode, StoreOptions};
use narherder::Narinfo;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_port(port: u16, child: &mut Child) {
    let end = Instant::now() + Duration::from_secs(20);
    while Instant::now() < end {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut err);
            panic!("narherder serve exited with {status}:\n{err}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("narherder serve never listened on {port}");
}

/// One request on a fresh connection; returns (status, body).
fn http(port: u16, raw: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(raw.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|x| x.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn get(port: u16, path: &str) -> (u16, String) {
    http(
        port,
        &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_settings_sigterm_and_stats() {
    let db = sqlite_db();
    let store = db.open(&StoreOptions::with_store_dir("/nix/store")).await;
    let items: Vec<Narinfo> = (0..3)
        .map(|n| {
            let h = hash_for(n);
            Narinfo::parse(&synthetic_text("/nix/store", &h, "x", &[], 1)).unwrap()
        })
        .collect();
    store.add_many(&items, AddMode::Keep).await.unwrap();
    store.close().await;

    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("narherder.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:1\"\npriority = 11\nttl = \"2h\"\nnegative-ttl = \"7s\"\n\
             token-file = \"{}\"\nnode-name = \"from-file\"\n",
            dir.path().join("tokens").display()
        ),
    )
    .unwrap();
    std::fs::write(dir.path().join("tokens"), "# tokens\nsecret-1\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_narherder"))
        .args(["--database", &db.url, "serve", "--config"])
        .arg(&config)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--priority", "22"])
        .env("NARHERDER_NEGATIVE_TTL", "9s")
        .env("NARHERDER_STORAGE", dir.path().join("nars"))
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_port(port, &mut child);

    // Flag over file (priority, listen), env over file (negative TTL).
    let (s, body) = get(port, "/nix-cache-info");
    assert_eq!(s, 200);
    assert!(body.contains("Priority: 22"), "{body}");
    let p = format!("/{}.narinfo", items[0].hash_part());
    let raw = http(
        port,
        &format!("GET {p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    );
    assert_eq!(raw.0, 200);
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(
        format!(
            "GET /{}.narinfo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            hash_for(99)
        )
        .as_bytes(),
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.contains("cache-control: max-age=9"), "{out}");
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(format!("HEAD {p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.contains("cache-control: max-age=7200"), "{out}");

    // A slow upload in flight when SIGTERM arrives still completes.
    let body = b"0123456789".repeat(100);
    let mut slow = TcpStream::connect(("127.0.0.1", port)).unwrap();
    slow.write_all(
        format!(
            "PUT /nar/slow.nar HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer secret-1\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .unwrap();
    slow.write_all(&body[..500]).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let rc = unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(rc, 0);
    std::thread::sleep(Duration::from_millis(300));
    slow.write_all(&body[500..]).unwrap();
    let mut out = String::new();
    slow.read_to_string(&mut out).unwrap();
    assert!(
        out.starts_with("HTTP/1.1 200"),
        "in-flight upload after SIGTERM: {out}"
    );
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{status}: {err}");
    assert!(err.contains("SIGTERM"), "{err}");
    assert!(!err.contains("secret-1"), "a token was logged: {err}");

    // Analytics were flushed at exit, under the file's node name.
    let out = Command::new(env!("CARGO_BIN_EXE_narherder"))
        .args(["--database", &db.url, "stats", "--days", "1"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("narinfo hits:    2"), "{text}");
    assert!(text.contains("narinfo misses:  1"), "{text}");
    assert!(text.contains(items[0].hash_part()), "{text}");
    assert!(text.contains(&hash_for(99)), "{text}");
    assert!(text.contains("never requested: 2"), "{text}");
    let store = db.open(&StoreOptions::default()).await;
    if let narherder::store::Backend::Sqlite(pool) = store.backend() {
        let node: String = sqlx::query_scalar("SELECT node FROM request_totals")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(node, "from-file");
    }
}
