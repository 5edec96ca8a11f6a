//! The HTTP server, in process on 127.0.0.1:0: every route, status and
//! header of the read API, pipelining, the change feed (another store
//! handle writes, as another process would), nar files with Range and path
//! traversal attempts, malformed requests, writes and tokens, signing on
//! entry, analytics and metrics. The read path and change feed also run on
//! PostgreSQL (see tests/common).

mod common;
mod server_support;

use std::time::{Duration, Instant};

use common::{for_each_backend, hash_for, sqlite_db, synthetic_text};
use narherder::changes::item_key;
use narherder::server::auth::Tokens;
use narherder::signing::nix::NixSecretKey;
use narherder::signing::{verify_narinfo, Keyring, SecretKey};
use narherder::store::{AddMode, Store, StoreOptions};
use narherder::{nix32, Narinfo};
use server_support::{config, eventually, get, request, start, Conn};
use sha2::{Digest, Sha256};

const TOKEN: &str = "test-token-123";

fn nix() -> StoreOptions {
    StoreOptions::with_store_dir("/nix/store")
}

fn narinfo(n: u64, refs: &[String]) -> Narinfo {
    let h = hash_for(n);
    Narinfo::parse(&synthetic_text(
        "/nix/store",
        &h,
        &format!("item-{n}"),
        refs,
        1,
    ))
    .unwrap()
}

async fn add_items(store: &Store, range: std::ops::Range<u64>) -> Vec<Narinfo> {
    let items: Vec<Narinfo> = range.map(|n| narinfo(n, &[])).collect();
    store.add_many(&items, AddMode::Keep).await.unwrap();
    items
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_api_and_change_feed() {
    for_each_backend("server_read", |db| async move {
        let store = db.open(&nix()).await;
        let items = add_items(&store, 0..20).await;
        let mut cfg = config();
        cfg.ttl = Duration::from_secs(1234);
        cfg.negative_ttl = Duration::from_secs(56);
        cfg.priority = 40;
        let server = start(&store, cfg).await;
        let addr = server.local_addr();

        let r = get(addr, "/nix-cache-info").await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.text(),
            "StoreDir: /nix/store\nWantMassQuery: 0\nPriority: 40\n"
        );

        // Hits: exact text, type, TTL; HEAD has the length and no body.
        for n in &items[..5] {
            let path = format!("/{}.narinfo", n.hash_part());
            let r = get(addr, &path).await;
            assert_eq!(r.status, 200, "{}", db.backend);
            assert_eq!(r.text(), n.text());
            assert_eq!(r.header("content-type"), Some("application/x-nix-narinfo"));
            assert_eq!(r.header("cache-control"), Some("max-age=1234"));
            let h = request(addr, "HEAD", &path, &[], b"").await;
            assert_eq!(h.status, 200);
            assert_eq!(
                h.header("content-length"),
                Some(n.text().len().to_string().as_str())
            );
            assert!(h.body.is_empty());
        }
        // Misses: valid hash, invalid name, HEAD.
        for path in [
            format!("/{}.narinfo", hash_for(999)),
            "/not-a-hash.narinfo".to_string(),
            "/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee.narinfo".to_string(),
        ] {
            let r = get(addr, &path).await;
            assert_eq!(r.status, 404, "{path}");
            assert_eq!(r.header("cache-control"), Some("max-age=56"));
            let h = request(addr, "HEAD", &path, &[], b"").await;
            assert_eq!(h.status, 404);
        }
        assert_eq!(get(addr, "/nope").await.status, 404);
        let r = request(
            addr,
            "DELETE",
            &format!("/{}.narinfo", items[0].hash_part()),
            &[],
            b"",
        )
        .await;
        assert_eq!(r.status, 405);
        assert!(r.header("allow").is_some());

        // Another handle (as another process would) adds and removes.
        let other = Store::open(&db.url, &nix()).await.unwrap();
        let fresh = narinfo(500, &[]);
        other.add(&fresh, AddMode::Keep).await.unwrap();
        let path = format!("/{}.narinfo", fresh.hash_part());
        let t0 = Instant::now();
        assert!(
            eventually(Duration::from_secs(2), || async {
                get(addr, &path).await.status == 200
            })
            .await,
            "{}: an item added elsewhere is served within 2 s",
            db.backend
        );
        eprintln!("{}: added item served after {:?}", db.backend, t0.elapsed());
        assert_eq!(get(addr, &path).await.text(), fresh.text());
        // Removed elsewhere: a cached hit must stop being served.
        let gone = &items[1];
        let gpath = format!("/{}.narinfo", gone.hash_part());
        assert_eq!(get(addr, &gpath).await.status, 200);
        other.remove(gone.hash_part()).await.unwrap();
        assert!(
            eventually(Duration::from_secs(2), || async {
                get(addr, &gpath).await.status == 404
            })
            .await,
            "{}: an item removed elsewhere stops being served within 2 s",
            db.backend
        );
        // Replaced elsewhere: the new text is served.
        let h2 = items[2].hash_part();
        let replaced = Narinfo::parse(&items[2].text().replace(
            &format!("Deriver: {h2}-item-2.drv\n"),
            &format!("Deriver: {h2}-changed.drv\n"),
        ))
        .unwrap();
        assert_ne!(replaced.text(), items[2].text());
        other.add(&replaced, AddMode::Replace).await.unwrap();
        let rpath = format!("/{}.narinfo", items[2].hash_part());
        assert!(
            eventually(Duration::from_secs(2), || async {
                get(addr, &rpath).await.text() == replaced.text()
            })
            .await,
            "{}: a replaced narinfo is served anew",
            db.backend
        );
        other.close().await;
        server.shutdown(Duration::from_secs(5)).await.unwrap();
        store.close().await;
        db
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_pipelined_requests_answer_in_order() {
    let db = sqlite_db();
    let store = db.open(&nix()).await;
    let items = add_items(&store, 0..50).await;
    let server = start(&store, config()).await;
    let mut expected = Vec::new();
    let mut raw = Vec::new();
    for i in 0..100u64 {
        // Alternate hits and misses; a few HEADs too.
        let (path, body) = if i % 2 == 0 {
            let n = &items[(i / 2) as usize];
            (
                format!("/{}.narinfo", n.hash_part()),
                Some(n.text().to_string()),
            )
        } else {
            (format!("/{}.narinfo", hash_for(10_000 + i)), None)
        };
        let method = if i % 10 == 3 { "HEAD" } else { "GET" };
        raw.extend_from_slice(format!("{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        expected.push((method, body));
    }
    let mut conn = Conn::open(server.local_addr()).await;
    conn.send(&raw).await;
    for (i, (method, body)) in expected.iter().enumerate() {
        let r = conn.read(*method == "HEAD").await;
        match body {
            Some(text) => {
                assert_eq!(r.status, 200, "response {i}");
                assert_eq!(
                    r.header("content-length"),
                    Some(text.len().to_string().as_str())
                );
                if *method == "GET" {
                    assert_eq!(&r.text(), text, "response {i} in order");
                }
            }
            None => assert_eq!(r.status, 404, "response {i}"),
        }
    }
    // The connection is still open after all those 404s.
    let r = conn.request("GET", "/nix-cache-info", &[], b"").await;
    assert_eq!(r.status, 200);
    server.shutdown(Duration::from_secs(5)).await.unwrap();
}

/// A narinfo of an uncompressed nar `data`, with `URL: url`.
fn nar_narinfo(n: u64, url: &str, data: &[u8], refs: &[String]) -> Narinfo {
    let h = hash_for(n);
    let sha = nix32::encode(&Sha256::digest(data));
    Narinfo::parse(&format!(
        "StorePath: /nix/store/{h}-nar-{n}\nURL: {url}\nCompression: none\nFileHash: sha256:{sha}\nFileSize: {len}\nNarHash: sha256:{sha}\nNarSize: {len}\nReferences: {}\n",
        refs.join(" "),
        len = data.len()
    ))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nar_files_ranges_and_traversal() {
    let db = sqlite_db();
    let store = db.open(&nix()).await;
    let storage = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    // A Nix URL and a Guix-style URL.
    std::fs::create_dir_all(storage.path().join("nar/none")).unwrap();
    std::fs::write(storage.path().join("nar/abc.nar"), &data).unwrap();
    let guix_name = format!("{}-nar-2", hash_for(2));
    std::fs::write(
        storage.path().join("nar/none").join(&guix_name),
        &data[..1000],
    )
    .unwrap();
    std::fs::write(storage.path().join("nar/unnamed.nar"), b"secret").unwrap();
    std::fs::write(storage.path().join("outside"), b"outside").unwrap();
    let a = nar_narinfo(1, "nar/abc.nar", &data, &[]);
    let b = nar_narinfo(2, &format!("nar/none/{guix_name}"), &data[..1000], &[]);
    store.add_many(&[a, b], AddMode::Keep).await.unwrap();
    let mut cfg = config();
    cfg.storage = Some(storage.path().to_path_buf());
    let server = start(&store, cfg).await;
    let addr = server.local_addr();

    let r = get(addr, "/nar/abc.nar").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, data);
    assert_eq!(r.header("content-type"), Some("application/x-nix-nar"));
    let r = get(addr, &format!("/nar/none/{guix_name}")).await;
    assert_eq!((r.status, r.body.as_slice()), (200, &data[..1000]));
    let h = request(addr, "HEAD", "/nar/abc.nar", &[], b"").await;
    assert_eq!(
        (h.status, h.header("content-length")),
        (200, Some("100000"))
    );

    let r = request(
        addr,
        "GET",
        "/nar/abc.nar",
        &[("Range", "bytes=10-19")],
        b"",
    )
    .await;
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &data[10..20]);
    assert_eq!(r.header("content-range"), Some("bytes 10-19/100000"));
    let r = request(addr, "GET", "/nar/abc.nar", &[("Range", "bytes=-5")], b"").await;
    assert_eq!((r.status, r.body.as_slice()), (206, &data[99_995..]));
    let r = request(
        addr,
        "GET",
        "/nar/abc.nar",
        &[("Range", "bytes=99990-")],
        b"",
    )
    .await;
    assert_eq!((r.status, r.body.len()), (206, 10));
    let r = request(
        addr,
        "GET",
        "/nar/abc.nar",
        &[("Range", "bytes=100000-")],
        b"",
    )
    .await;
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some("bytes */100000"));

    // Not named by any narinfo, or reaching outside: refused.
    for path in [
        "/nar/unnamed.nar",
        "/nar/../outside",
        "/nar/%2e%2e/outside",
        "/nar/%2E%2E/%2e%2e/etc/passwd",
        "/nar//etc/passwd",
        "/nar/abc.nar%00",
        "/nar/none/..%2f..%2foutside",
        "/nar/missing.nar",
    ] {
        let r = get(addr, path).await;
        assert!(
            r.status == 400 || r.status == 404,
            "{path}: {} {}",
            r.status,
            r.text()
        );
        assert!(!r.text().contains("secret") && !r.text().contains("outside\n"));
    }
    // A raw NUL in the request line: refused (4xx or the connection closed).
    let mut c = Conn::open(addr).await;
    c.send(b"GET /nar/abc.nar\0x HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let mut buf = Vec::new();
    use tokio::io::AsyncReadExt;
    let _ = tokio::time::timeout(Duration::from_secs(5), c.reader.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf);
    assert!(text.is_empty() || text.starts_with("HTTP/1.1 4"), "{text}");
    assert_eq!(get(addr, "/nar/abc.nar").await.status, 200);
    server.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_requests_get_4xx() {
    let db = sqlite_db();
    let store = db.open(&nix()).await;
    let items = add_items(&store, 0..3).await;
    let mut cfg = config();
    cfg.tokens = Tokens::new(&[TOKEN]);
    let server = start(&store, cfg).await;
    let addr = server.local_addr();
    let ok_path = format!("/{}.narinfo", items[0].hash_part());
    // (`/` is the status page: these ask for a path that does not exist.)
    let bad: Vec<Vec<u8>> = vec![
        b"GARBAGE\r\n\r\n".to_vec(),
        b"GET\r\n\r\n".to_vec(),
        b"GET /no-such-page HTTP/9.9\r\n\r\n".to_vec(),
        format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(100_000)).into_bytes(),
        format!(
            "GET /no-such-page HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "b".repeat(100_000)
        )
        .into_bytes(),
        {
            let mut v = b"GET /no-such-page HTTP/1.1\r\nHost: x\r\n".to_vec();
            for i in 0..200 {
                v.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
            }
            v.extend_from_slice(b"\r\n");
            v
        },
        b"GET /no-such-page HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n".to_vec(),
        b"GET /no-such-page HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"
            .to_vec(),
    ];
    for raw in bad {
        let mut c = Conn::open(addr).await;
        c.send(&raw).await;
        let mut buf = Vec::new();
        use tokio::io::AsyncReadExt;
        let _ = tokio::time::timeout(Duration::from_secs(5), c.reader.read_to_end(&mut buf)).await;
        let text = String::from_utf8_lossy(&buf);
        let status: Option<u16> = text.split(' ').nth(1).and_then(|s| s.parse().ok());
        if let Some(s) = status {
            assert!(
                (400..500).contains(&s),
                "{:?} -> {text}",
                String::from_utf8_lossy(&raw[..raw.len().min(40)])
            );
        }
        // Still serving.
        assert_eq!(get(addr, &ok_path).await.status, 200);
    }
    // Oversized narinfo upload: 413 before the body is read.
    let mut c = Conn::open(addr).await;
    c.send(format!("PUT {ok_path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 5000000\r\nExpect: 100-continue\r\n\r\n").as_bytes()).await;
    let r = c.read(false).await;
    assert_eq!(r.status, 413, "413 instead of 100 Continue");
    // A body larger than its limit sent without a length.
    let mut c = Conn::open(addr).await;
    c.send(format!("PUT {ok_path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nTransfer-Encoding: chunked\r\n\r\n").as_bytes()).await;
    let chunk = vec![b'a'; 300_000];
    let mut sent = 0;
    let mut status = None;
    while sent < 2_000_000 {
        let mut piece = format!("{:x}\r\n", chunk.len()).into_bytes();
        piece.extend_from_slice(&chunk);
        piece.extend_from_slice(b"\r\n");
        if tokio::io::AsyncWriteExt::write_all(&mut c.writer, &piece)
            .await
            .is_err()
        {
            break;
        }
        sent += chunk.len();
    }
    let _ = tokio::io::AsyncWriteExt::write_all(&mut c.writer, b"0\r\n\r\n").await;
    if let Ok(r) = tokio::time::timeout(Duration::from_secs(5), c.read(false)).await {
        eprintln!("chunked oversize: {} {}", r.status, r.text());
        status = Some(r.status);
    }
    assert_eq!(status, Some(413));
    assert_eq!(get(addr, &ok_path).await.status, 200);
    server.shutdown(Duration::from_secs(5)).await.unwrap();
}

fn auth() -> String {
    format!("Bearer {TOKEN}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_need_tokens_and_are_verified() {
    let db = sqlite_db();
    let store = db.open(&nix()).await;
    let storage = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.storage = Some(storage.path().to_path_buf());
    cfg.tokens = Tokens::new(&[TOKEN]);
    let server = start(&store, cfg).await;
    let addr = server.local_addr();

    let data = b"pretend this is a nar archive".to_vec();
    let sha = nix32::encode(&Sha256::digest(&data));
    let url = format!("nar/{sha}.nar");
    let dep = nar_narinfo(7, &format!("nar/dep-{sha}.nar"), &data, &[]);
    let top = nar_narinfo(8, &url, &data, &[dep.base_name().to_string()]);
    let top_path = format!("/{}.narinfo", top.hash_part());

    // No token, a wrong token, a wrong basic password: 401.
    for h in [
        vec![],
        vec![("Authorization", "Bearer nope")],
        vec![("Authorization", "Basic bml4Om5vcGU=")],
    ] {
        let r = request(addr, "PUT", &top_path, &h, top.text().as_bytes()).await;
        assert_eq!(r.status, 401, "{h:?}");
        assert!(r.header("www-authenticate").is_some());
        let r = request(addr, "PUT", &format!("/{url}"), &h, &data).await;
        assert_eq!(r.status, 401);
    }
    let a = auth();
    let with = [("Authorization", a.as_str())];
    // The nar PUT needs Expect: 100-continue answered.
    let mut c = Conn::open(addr).await;
    c.send(format!("PUT /{url} HTTP/1.1\r\nHost: x\r\nAuthorization: {a}\r\nContent-Type: application/x-nix-nar\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n", data.len()).as_bytes()).await;
    let cont = c.read(false).await;
    assert_eq!(
        cont.status, 100,
        "100 Continue comes before the body is sent"
    );
    c.send(&data).await;
    assert_eq!(c.read(false).await.status, 200);
    // Not yet served: no narinfo names it.
    assert_eq!(get(addr, &format!("/{url}")).await.status, 404);

    // Narinfo whose reference is missing: 400 naming it.
    let r = request(addr, "PUT", &top_path, &with, top.text().as_bytes()).await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains(dep.hash_part()), "{}", r.text());
    // The dependency, with the wrong FileHash: 400.
    let dep_url = format!("/nar/dep-{sha}.nar");
    assert_eq!(
        request(addr, "PUT", &dep_url, &with, b"other bytes")
            .await
            .status,
        200
    );
    let r = request(
        addr,
        "PUT",
        &format!("/{}.narinfo", dep.hash_part()),
        &with,
        dep.text().as_bytes(),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(
        r.text().contains("FileSize") || r.text().contains("FileHash"),
        "{}",
        r.text()
    );
    // Right bytes: accepted.
    assert_eq!(
        request(addr, "PUT", &dep_url, &with, &data).await.status,
        200
    );
    let r = request(
        addr,
        "PUT",
        &format!("/{}.narinfo", dep.hash_part()),
        &with,
        dep.text().as_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = request(addr, "PUT", &top_path, &with, top.text().as_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    // Served at once, with its nar.
    assert_eq!(get(addr, &top_path).await.text(), top.text());
    assert_eq!(get(addr, &format!("/{url}")).await.body, data);
    // Uploading the same narinfo again is fine.
    assert_eq!(
        request(addr, "PUT", &top_path, &with, top.text().as_bytes())
            .await
            .status,
        200
    );

    // Bad narinfos: 400 with the reason.
    let r = request(addr, "PUT", &top_path, &with, b"StorePath: nonsense\n").await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("invalid narinfo"), "{}", r.text());
    let r = request(
        addr,
        "PUT",
        &format!("/{}.narinfo", hash_for(1234)),
        &with,
        top.text().as_bytes(),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("was sent to"), "{}", r.text());
    // A nar that was never uploaded.
    let lonely = nar_narinfo(9, "nar/never.nar", b"x", &[]);
    let r = request(
        addr,
        "PUT",
        &format!("/{}.narinfo", lonely.hash_part()),
        &with,
        lonely.text().as_bytes(),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("has not been uploaded"), "{}", r.text());
    // PUT /nix-cache-info is accepted harmlessly.
    let r = request(
        addr,
        "PUT",
        "/nix-cache-info",
        &with,
        b"StoreDir: /elsewhere\n",
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(get(addr, "/nix-cache-info")
        .await
        .text()
        .contains("/nix/store"));
    // Basic auth with the token as password (netrc).
    use base64::Engine as _;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("nix:{TOKEN}"))
    );
    let r = request(
        addr,
        "GET",
        "/admin/stats",
        &[("Authorization", &basic)],
        b"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["narinfos"], 2);
    assert_eq!(
        request(addr, "GET", "/admin/stats", &[], b"").await.status,
        401
    );
    server.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_signing_and_required_signatures() {
    let db = sqlite_db();
    let store = db.open(&nix()).await;
    let dir = tempfile::tempdir().unwrap();
    // Read-only: writes refused even with a token.
    let mut cfg = config();
    cfg.tokens = Tokens::new(&[TOKEN]);
    cfg.read_only = true;
    let server = start(&store, cfg).await;
    let n = narinfo(1, &[]);
    let p = format!("/{}.narinfo", n.hash_part());
    let a = auth();
    let r = request(
        server.local_addr(),
        "PUT",
        &p,
        &[("Authorization", &a)],
        n.text().as_bytes(),
    )
    .await;
    assert_eq!(r.status, 403);
    server.shutdown(Duration::from_secs(5)).await.unwrap();

    // Signing on entry (no storage: the narinfo names no local file).
    let key = NixSecretKey::generate("test-cache-1").unwrap();
    let key_file = dir.path().join("key.sec");
    std::fs::write(&key_file, key.to_file_string().as_bytes()).unwrap();
    let pub_file = dir.path().join("key.pub");
    std::fs::write(&pub_file, format!("{}\n", key.public_key())).unwrap();
    let unsigned_text: String = n
        .text()
        .lines()
        .filter(|l| !l.starts_with("Sig:"))
        .map(|l| format!("{l}\n"))
        .collect();
    let mut cfg = config();
    cfg.tokens = Tokens::new(&[TOKEN]);
    cfg.sign_key = Some(std::sync::Arc::new(SecretKey::load(&key_file).unwrap()));
    let server = start(&store, cfg).await;
    let addr = server.local_addr();
    let r = request(
        addr,
        "PUT",
        &p,
        &[("Authorization", &a)],
        unsigned_text.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let served = Narinfo::parse(&get(addr, &p).await.text()).unwrap();
    let keys = Keyring::from_files(&[&pub_file]).unwrap();
    assert!(
        verify_narinfo(&served, &keys).is_valid(),
        "{}",
        served.text()
    );
    // A narinfo that arrives signed is stored untouched.
    let m = narinfo(2, &[]);
    let pm = format!("/{}.narinfo", m.hash_part());
    assert_eq!(
        request(
            addr,
            "PUT",
            &pm,
            &[("Authorization", &a)],
            m.text().as_bytes()
        )
        .await
        .status,
        200
    );
    assert_eq!(get(addr, &pm).await.text(), m.text());
    server.shutdown(Duration::from_secs(5)).await.unwrap();

    // Required signatures: the synthetic Sig: does not verify.
    let mut cfg = config();
    cfg.tokens = Tokens::new(&[TOKEN]);
    cfg.require_signature = true;
    cfg.keyring = keys;
    let server = start(&store, cfg).await;
    let addr = server.local_addr();
    let o = narinfo(3, &[]);
    let r = request(
        addr,
        "PUT",
        &format!("/{}.narinfo", o.hash_part()),
        &[("Authorization", &a)],
        o.text().as_bytes(),
    )
    .await;
    assert_eq!(r.status, 403);
    assert!(r.text().contains("signature required"), "{}", r.text());
    // One signed by the trusted key passes.
    let q = narherder::signing::sign_narinfo(
        &Narinfo::parse(
            &narinfo(4, &[])
                .text()
                .lines()
                .filter(|l| !l.starts_with("Sig:"))
                .map(|l| format!("{l}\n"))
                .collect::<String>(),
        )
        .unwrap(),
        &SecretKey::load(&key_file).unwrap(),
        "h",
    )
    .unwrap();
    let r = request(
        addr,
        "PUT",
        &format!("/{}.narinfo", q.hash_part()),
        &[("Authorization", &a)],
        q.text().as_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    server.shutdown(Duration::from_secs(5)).await.unwrap();
}

/// A flush of thousands of distinct rows (a flood of misses, more than one
/// statement's worth) lands whole, and a second flush adds to the same
/// rows, on both backends.
#[tokio::test]
async fn analytics_flushes_add_up() {
    for_each_backend("analytics_flush", |db| async move {
        let store = db.open(&nix()).await;
        let a = narherder::analytics::Analytics::new("n1");
        let keys: Vec<_> = (0..12_000u64)
            .map(|i| item_key(&hash_for(i)).unwrap())
            .collect();
        for k in &keys {
            a.narinfo_miss(Some(k));
        }
        for k in &keys[..200] {
            a.narinfo_hit(k);
            a.narinfo_hit(k);
        }
        let first = a.flush(&store).await.unwrap();
        assert_eq!(
            (first.item_rows, first.miss_rows, first.total_rows),
            (200, 12_000, 1)
        );
        for k in &keys[..10] {
            a.narinfo_miss(Some(k));
            a.narinfo_hit(k);
        }
        a.flush(&store).await.unwrap();
        let r = narherder::analytics::report(&store, 1, 5).await.unwrap();
        assert_eq!(r.totals.narinfo_hits, 410);
        assert_eq!(r.totals.narinfo_misses, 12_010);
        assert_eq!(r.top_items[0].narinfo_hits, 3);
        assert_eq!(r.top_missed[0].misses, 2);
        store.close().await;
        db
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_and_metrics_after_a_burst() {
    let db = sqlite_db();
    let store = db.open(&nix()).await;
    let items = add_items(&store, 0..10).await;
    let server = start(&store, config()).await;
    let addr = server.local_addr();
    let mut c = Conn::open(addr).await;
    for _ in 0..5 {
        for n in &items[..3] {
            assert_eq!(
                c.request("GET", &format!("/{}.narinfo", n.hash_part()), &[], b"")
                    .await
                    .status,
                200
            );
        }
    }
    let missed = hash_for(777);
    for _ in 0..4 {
        assert_eq!(
            c.request("GET", &format!("/{missed}.narinfo"), &[], b"")
                .await
                .status,
            404
        );
    }
    assert_eq!(
        c.request("GET", "/junk.narinfo", &[], b"").await.status,
        404
    );
    let report = server.flush_analytics().await.unwrap();
    assert_eq!(report.item_rows, 3);
    assert_eq!(report.miss_rows, 1);
    // A second burst adds to the same rows.
    assert_eq!(
        c.request(
            "GET",
            &format!("/{}.narinfo", items[0].hash_part()),
            &[],
            b""
        )
        .await
        .status,
        200
    );
    server.flush_analytics().await.unwrap();
    let r = narherder::analytics::report(&store, 1, 5).await.unwrap();
    assert_eq!(r.totals.narinfo_hits, 16);
    assert_eq!(r.totals.narinfo_misses, 5);
    assert_eq!(r.top_items[0].hash, items[0].hash_part());
    assert_eq!(r.top_items[0].narinfo_hits, 6);
    assert_eq!(r.top_missed[0].hash, missed);
    assert_eq!(r.top_missed[0].misses, 4);
    assert_eq!(r.never_requested, 7);
    // Rows are per node.
    if let narherder::store::Backend::Sqlite(pool) = store.backend() {
        let nodes: Vec<String> = sqlx::query_scalar("SELECT DISTINCT node FROM item_requests")
            .fetch_all(pool)
            .await
            .unwrap();
        assert_eq!(nodes, vec!["test-node".to_string()]);
    }
    let m = c.request("GET", "/metrics", &[], b"").await;
    assert_eq!(m.status, 200);
    let text = m.text();
    for needle in [
        "narherder_http_requests_total{route=\"narinfo\",status=\"200\"} 16",
        "narherder_http_requests_total{route=\"narinfo\",status=\"404\"} 5",
        "narherder_http_request_duration_seconds_bucket{route=\"narinfo\",le=\"+Inf\"} 21",
        "narherder_narinfos 10",
        "narherder_database_bytes",
        "narherder_cache_hits_total",
        "narherder_analytics_flush_lag_seconds",
    ] {
        assert!(text.contains(needle), "{needle} in\n{text}");
    }
    // Shutdown flushes what is left.
    assert_eq!(
        c.request(
            "GET",
            &format!("/{}.narinfo", items[9].hash_part()),
            &[],
            b""
        )
        .await
        .status,
        200
    );
    drop(c);
    server.shutdown(Duration::from_secs(5)).await.unwrap();
    let r = narherder::analytics::report(&store, 1, 5).await.unwrap();
    assert_eq!(r.totals.narinfo_hits, 17);
    assert_eq!(r.never_requested, 6);
    let _ = item_key(&missed).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_roots_gc_jobs_and_usage() {
    let db = sqlite_db();
    let store = db.open(&nix()).await;
    let items = add_items(&store, 0..5).await;
    let mut cfg = config();
    cfg.tokens = Tokens::new(&[TOKEN]);
    let server = start(&store, cfg).await;
    let addr = server.local_addr();
    let a = auth();
    let with = [("Authorization", a.as_str())];

    // Requests feed eviction's last-request times on flush.
    let p0 = format!("/{}.narinfo", items[0].hash_part());
    assert_eq!(get(addr, &p0).await.status, 200);
    let report = server.flush_analytics().await.unwrap();
    assert_eq!(report.usage_rows, 1);
    let usage = narherder::evict::usage_of(&store, items[0].hash_part())
        .await
        .unwrap();
    assert!(usage.is_some_and(|(t, _)| t > 0), "{usage:?}");

    // Roots: set (by store path), list, add, bad item, remove.
    let body = format!("{{\"items\": [\"{}\"]}}", items[0].store_path());
    let r = request(
        addr,
        "PUT",
        "/admin/roots/channel/master/abc",
        &with,
        body.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = request(
        addr,
        "POST",
        "/admin/roots/extra",
        &with,
        format!("{{\"items\": [\"{}\"]}}", items[1].hash_part()).as_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = request(addr, "GET", "/admin/roots", &with, b"").await;
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["channel/master/abc", "extra"]);
    let r = request(
        addr,
        "PUT",
        "/admin/roots/bad",
        &with,
        b"{\"items\": [\"/etc/passwd\"]}",
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
    let r = request(addr, "PUT", "/admin/roots/bad", &with, b"{not json").await;
    assert_eq!(r.status, 400);
    assert_eq!(
        request(addr, "DELETE", "/admin/roots/extra", &with, b"")
            .await
            .status,
        200
    );
    assert_eq!(
        request(addr, "DELETE", "/admin/roots/extra", &with, b"")
            .await
            .status,
        404
    );
    assert_eq!(
        request(addr, "GET", "/admin/roots", &[], b"").await.status,
        401
    );

    // GC as a background job: everything but the rooted item goes.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = request(addr, "POST", "/admin/gc", &with, b"{\"grace\": \"0s\"}").await;
    assert_eq!(r.status, 202, "{}", r.text());
    let id = serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()["id"]
        .as_u64()
        .unwrap();
    let mut done = None;
    for _ in 0..100 {
        let r = request(addr, "GET", &format!("/admin/gc/{id}"), &with, b"").await;
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        if v["state"] != "running" {
            done = Some(v);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let v = done.expect("GC job finishes");
    assert_eq!(v["state"], "done", "{v}");
    assert_eq!(v["report"]["deleted"], 4, "{v}");
    assert_eq!(
        request(addr, "GET", "/admin/gc/999", &with, b"")
            .await
            .status,
        404
    );
    // The server stops serving the collected items (change feed).
    let p3 = format!("/{}.narinfo", items[3].hash_part());
    assert!(
        eventually(Duration::from_secs(2), || async {
            get(addr, &p3).await.status == 404
        })
        .await
    );
    assert_eq!(get(addr, &p0).await.status, 200);
    server.shutdown(Duration::from_secs(5)).await.unwrap();
}
