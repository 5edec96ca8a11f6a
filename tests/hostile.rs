//! Hostile clients: oversized request lines and headers, oversized bodies,
//! slow clients (slowloris), more connections than allowed, path traversal
//! (plain and percent-encoded), every method on every route, NUL bytes and
//! invalid UTF-8 in paths. The answer is always a 4xx (or a closed
//! connection for a client that never finishes its request), never a 5xx,
//! and the server keeps answering everyone else.

mod common;
mod server_support;

use std::time::{Duration, Instant};

use narherder::server::auth::Tokens;
use narherder::store::StoreOptions;
use narherder::Narinfo;
use server_support::{config, get, request, start, Conn};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOKEN: &str = "hostile-test-token";

fn data(rel: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/data/{rel}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// Sends raw bytes on a new connection and returns the status of the first
/// answer, or `None` when the server closed without one.
async fn raw_status(addr: std::net::SocketAddr, raw: &[u8]) -> Option<u16> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(raw).await;
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
        .await
        .expect("an answer or a close within 10 s")
        .unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..n]);
    text.strip_prefix("HTTP/1.1 ")
        .and_then(|t| t.get(..3))
        .and_then(|c| c.parse().ok())
}

async fn still_serving(addr: std::net::SocketAddr) {
    let r = get(addr, "/nix-cache-info").await;
    assert_eq!(r.status, 200, "the server stopped answering");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_4xx_and_the_server_keeps_serving() {
    let db = common::sqlite_db();
    let store = db.open(&StoreOptions::with_store_dir("/gnu/store")).await;
    let n = Narinfo::parse(&data(
        "guix/cs56i9digj9qg1bd383cmxc6xrfpdn9n.hello-2.12.2.bordeaux.narinfo",
    ))
    .unwrap();
    store
        .add(&n, narherder::store::AddMode::Keep)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("nars");
    std::fs::create_dir_all(storage.join("nar/lzip")).unwrap();
    std::fs::write(storage.join("nar/lzip").join(n.base_name()), b"nar bytes").unwrap();
    // A secret next to the storage directory that traversal must not reach.
    std::fs::write(dir.path().join("secret"), b"TOP SECRET").unwrap();
    let mut cfg = config();
    cfg.storage = Some(storage);
    cfg.tokens = Tokens::new(&[TOKEN]);
    cfg.max_nar_bytes = 1 << 20;
    let server = start(&store, cfg).await;
    let addr = server.local_addr();
    let hash = n.hash_part().to_string();

    // Header and request-line size limits.
    let big = "a".repeat(100 * 1024);
    let s = raw_status(
        addr,
        format!("GET /nix-cache-info HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n").as_bytes(),
    )
    .await;
    assert!(matches!(s, Some(431) | Some(400)), "huge header: {s:?}");
    let s = raw_status(
        addr,
        format!("GET /{big}.narinfo HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
    )
    .await;
    assert!(
        matches!(s, Some(414) | Some(431) | Some(400)),
        "huge request line: {s:?}"
    );
    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    let s = raw_status(
        addr,
        format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes(),
    )
    .await;
    assert!(matches!(s, Some(431) | Some(400)), "200 headers: {s:?}");
    still_serving(addr).await;

    // NUL, DEL, invalid UTF-8 and spaces in the request target: a 400.
    for target in [
        &b"/\x00.narinfo"[..],
        b"/nar/\x00",
        b"/a\x7f",
        b"/\xff\xfe.narinfo",
        b"/nar/\xc3\x28",
    ] {
        let mut raw = b"GET ".to_vec();
        raw.extend_from_slice(target);
        raw.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\n\r\n");
        let s = raw_status(addr, &raw).await;
        assert_eq!(s, Some(400), "target {target:?}");
    }
    // … and percent-encoded, which parse: never a 5xx.
    for path in [
        "/%00.narinfo",
        "/%ff%fe.narinfo",
        "/nar/%00",
        "/nar/lzip/%c3%28",
        &format!("/{hash}%00.narinfo"),
    ] {
        let r = get(addr, path).await;
        assert!((400..500).contains(&r.status), "{path}: {}", r.status);
    }
    still_serving(addr).await;

    // Path traversal, plain and encoded: never the secret, never a 5xx.
    for path in [
        "/nar/../secret",
        "/nar/../../secret",
        "/nar/lzip/../../secret",
        "/nar/%2e%2e/secret",
        "/nar/%2E%2E%2Fsecret",
        "/nar/..%2fsecret",
        "/nar/lzip/..%2f..%2fsecret",
        "/nar//etc/passwd",
        "/nar/%2fetc%2fpasswd",
        "/../secret",
        "/%2e%2e/secret",
    ] {
        for method in ["GET", "HEAD"] {
            let r = request(addr, method, path, &[], b"").await;
            assert!(
                (400..500).contains(&r.status),
                "{method} {path}: {}",
                r.status
            );
            assert!(!r.text().contains("TOP SECRET"), "{path} leaked the file");
        }
        let r = request(
            addr,
            "PUT",
            path,
            &[("Authorization", &format!("Bearer {TOKEN}"))],
            b"x",
        )
        .await;
        assert!((400..500).contains(&r.status), "PUT {path}: {}", r.status);
    }
    assert_eq!(
        std::fs::read(dir.path().join("secret")).unwrap(),
        b"TOP SECRET"
    );

    // Every method on every route, without a token: no 5xx, no write.
    let routes = [
        "/nix-cache-info".to_string(),
        format!("/{hash}.narinfo"),
        "/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee.narinfo".into(),
        format!("/nar/lzip/{}", n.base_name()),
        "/nar/lzip/missing".into(),
        "/metrics".into(),
        "/admin".into(),
        "/admin/stats".into(),
        "/admin/roots".into(),
        "/admin/roots/x".into(),
        "/admin/gc".into(),
        "/admin/gc/1".into(),
        "/".into(),
        "/nope".into(),
    ];
    for path in &routes {
        for method in ["GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS", "PATCH"] {
            let r = request(addr, method, path, &[], b"").await;
            assert!(r.status < 500, "{method} {path}: {}", r.status);
            if method == "PUT" || method == "POST" || method == "DELETE" {
                assert!(
                    r.status >= 400,
                    "{method} {path} without a token: {}",
                    r.status
                );
            }
        }
    }
    assert_eq!(
        get(addr, &format!("/{hash}.narinfo")).await.body,
        n.text().as_bytes()
    );

    // Body size limits: a narinfo body over its limit and a nar over
    // max_nar_bytes, announced; then a nar body pushed blindly.
    let auth = format!("Bearer {TOKEN}");
    // (With `Expect: 100-continue`, as Nix sends every PUT: the server
    // answers from the announced length, and the client never has to push
    // a body the server will not read — which, sent blindly, may meet a
    // closed connection before the answer can be read.)
    let huge = 2u64 << 20;
    for path in ["/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee.narinfo", "/nar/big.nar"] {
        let mut c = Conn::open(addr).await;
        c.send(
            format!(
                "PUT {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n\
                 Expect: 100-continue\r\nContent-Length: {huge}\r\n\r\n"
            )
            .as_bytes(),
        )
        .await;
        let r = c.read(false).await;
        assert_eq!(r.status, 413, "oversized PUT {path}: {}", r.text());
    }
    // The same pushed without waiting: the server may answer 413 and close
    // before the client has written everything; either way it goes on.
    {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "PUT /nar/big.nar HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n\
             Content-Length: {huge}\r\n\r\n"
        );
        let mut raw = head.into_bytes();
        raw.resize(raw.len() + huge as usize, b'a');
        let _ = s.write_all(&raw).await;
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut answer)).await;
        if !answer.is_empty() {
            assert!(
                answer.starts_with(b"HTTP/1.1 413"),
                "{:?}",
                String::from_utf8_lossy(&answer)
            );
        }
    }
    still_serving(addr).await;
    let mut c = Conn::open(addr).await;
    c.send(
        format!(
            "PUT /nar/big2.nar HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Length: {}\r\n\r\n",
            1u64 << 40
        )
        .as_bytes(),
    )
    .await;
    let r = c.read(false).await;
    assert_eq!(r.status, 413, "announced 1 TiB nar");
    still_serving(addr).await;
    server.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_clients_are_cut_off_and_cannot_starve_others() {
    let db = common::sqlite_db();
    let store = db.open(&StoreOptions::default()).await;
    let mut cfg = config();
    cfg.read_timeout = Duration::from_millis(800);
    cfg.max_connections = 8;
    cfg.tokens = Tokens::new(&[TOKEN]);
    let server = start(&store, cfg).await;
    let addr = server.local_addr();

    // Slowloris: a request head trickled one byte at a time, forever.
    let started = Instant::now();
    let mut slow = TcpStream::connect(addr).await.unwrap();
    let head = b"GET /nix-cache-info HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    let mut closed = false;
    for i in 0..200 {
        let b = [head.get(i).copied().unwrap_or(b'a')];
        if slow.write_all(&b).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Others are answered meanwhile.
        if i % 20 == 0 {
            still_serving(addr).await;
        }
        let mut probe = [0u8; 512];
        if let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(1), slow.read(&mut probe)).await
        {
            // An answer (408) or a close: either way, cut off.
            let _ = n;
            closed = true;
            break;
        }
    }
    assert!(closed, "a trickling client was never cut off");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "cut off only after {:?}",
        started.elapsed()
    );

    // A slow body: the upload is abandoned after the read timeout.
    let mut c = Conn::open(addr).await;
    c.send(
        format!("PUT /nar/slow.nar HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 1000\r\n\r\nabc")
            .as_bytes(),
    )
    .await;
    let r = c.read(false).await;
    assert!((400..500).contains(&r.status), "slow body: {}", r.status);

    // More connections than allowed, all idle: they hold the slots only
    // until the read timeout, then a normal client gets through.
    let mut idle = Vec::new();
    for _ in 0..8 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    let started = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(10), get(addr, "/nix-cache-info"))
        .await
        .expect("served once the idle connections time out");
    assert_eq!(r.status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    // The idle connections were closed by the server.
    for mut s in idle {
        let mut b = [0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut b))
            .await
            .expect("idle connection closed")
            .unwrap_or(0);
        assert!(n == 0 || b.starts_with(b"HTTP/1.1 408"), "{n}");
    }
    server.shutdown(Duration::from_secs(5)).await.unwrap();
}
