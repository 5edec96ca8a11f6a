//! The server's further routes and upload checks, in process on
//! 127.0.0.1:0 (SQLite): NarHash/NarSize verification of compressed nar
//! uploads (xz, zstd, bzip2, gzip; a mismatch is a 400 and nothing is
//! stored), `guix publish`'s content-addressed `/file/<name>/sha256/<hash>`,
//! nix-serve's legacy `nar/<hash>-<narhash>.nar` URLs, and build logs at
//! `/log/<store-file-name>` (PUT with a token, GET, HEAD, Range, 404s).

mod common;
mod server_support;

use std::io::Write;
use std::time::Duration;

use common::{hash_for, sqlite_db, TestDb};
use narherder::server::auth::Tokens;
use narherder::server::files::fixed_output_path;
use narherder::server::Server;
use narherder::store::{Store, StoreOptions};
use narherder::{nix32, Narinfo};
use server_support::{config, get, request, start};
use sha2::{Digest, Sha256};

const TOKEN: &str = "routes-token";

/// A server with nar storage and the upload token on a fresh SQLite store
/// for `/nix/store`; the other fields keep the database alive as long as
/// the value.
struct Writable {
    server: Server,
    storage: tempfile::TempDir,
    _store: Store,
    _db: TestDb,
}

async fn writable() -> Writable {
    let db = sqlite_db();
    let store = db.open(&StoreOptions::with_store_dir("/nix/store")).await;
    let storage = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.storage = Some(storage.path().to_path_buf());
    cfg.tokens = Tokens::new(&[TOKEN]);
    let server = start(&store, cfg).await;
    Writable {
        server,
        storage,
        _store: store,
        _db: db,
    }
}

fn auth() -> [(&'static str, String); 1] {
    [("Authorization", format!("Bearer {TOKEN}"))]
}

fn with_auth(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, String)> {
    let mut h: Vec<(&str, String)> = auth().to_vec();
    h.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    h
}

async fn put(
    addr: std::net::SocketAddr,
    path: &str,
    headers: &[(&'static str, String)],
    body: &[u8],
) -> server_support::Resp {
    let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    request(addr, "PUT", path, &h, body).await
}

async fn get_with(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> server_support::Resp {
    request(addr, method, path, headers, b"").await
}

/// A nar holding one regular file with `contents`.
fn file_nar(contents: &[u8], executable: bool) -> Vec<u8> {
    fn s(out: &mut Vec<u8>, t: &[u8]) {
        out.extend((t.len() as u64).to_le_bytes());
        out.extend(t);
        out.resize(out.len().div_ceil(8) * 8, 0);
    }
    let mut nar = Vec::new();
    for t in [&b"nix-archive-1"[..], b"(", b"type", b"regular"] {
        s(&mut nar, t);
    }
    if executable {
        s(&mut nar, b"executable");
        s(&mut nar, b"");
    }
    s(&mut nar, b"contents");
    s(&mut nar, contents);
    s(&mut nar, b")");
    nar
}

fn compress(compression: &str, data: &[u8]) -> Vec<u8> {
    match compression {
        "none" => data.to_vec(),
        "xz" => {
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        "zstd" => zstd::encode_all(data, 3).unwrap(),
        "bzip2" => {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        "gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        other => panic!("no encoder for {other}"),
    }
}

fn sha(data: &[u8]) -> String {
    nix32::encode(&Sha256::digest(data))
}

/// The narinfo of `store_path` whose nar `nar` is stored as `file`
/// (compressed with `compression`) at `url`.
fn narinfo_text(store_path: &str, url: &str, compression: &str, file: &[u8], nar: &[u8]) -> String {
    format!(
        "StorePath: {store_path}\nURL: {url}\nCompression: {compression}\nFileHash: sha256:{}\n\
         FileSize: {}\nNarHash: sha256:{}\nNarSize: {}\nReferences: \n",
        sha(file),
        file.len(),
        sha(nar),
        nar.len()
    )
}

/// Uploads a nar file and its narinfo; returns the narinfo PUT's response.
async fn upload(
    addr: std::net::SocketAddr,
    store_path: &str,
    url: &str,
    narinfo: &str,
    file: &[u8],
) -> server_support::Resp {
    let r = put(addr, &format!("/{url}"), &auth(), file).await;
    assert_eq!(r.status, 200, "PUT {url}: {}", r.text());
    let hash = &store_path["/nix/store/".len()..][..32];
    put(
        addr,
        &format!("/{hash}.narinfo"),
        &auth(),
        narinfo.as_bytes(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_uploads_are_verified() {
    let w = writable().await;
    let addr = w.server.local_addr();

    let nar = file_nar(&b"some build output\n".repeat(2000), false);
    let other = file_nar(b"something else entirely\n", false);
    let mut n = 0;
    let mut item = |name: &str| {
        n += 1;
        format!("/nix/store/{}-{name}", hash_for(1000 + n))
    };
    for compression in ["xz", "zstd", "bzip2", "gzip"] {
        let file = compress(compression, &nar);
        let url = format!("nar/{}.nar.{compression}", sha(&file));
        // Right NarHash and NarSize: stored and served.
        let good = item(compression);
        let text = narinfo_text(&good, &url, compression, &file, &nar);
        let r = upload(addr, &good, &url, &text, &file).await;
        assert_eq!(r.status, 200, "{compression}: {}", r.text());
        let served = get(addr, &format!("/{url}")).await;
        assert_eq!(served.status, 200, "{compression}");
        assert_eq!(served.body, file);

        // Another item claiming the same file but another nar: NarHash.
        let bad = item(compression);
        let url2 = format!("nar/{}-2.nar.{compression}", sha(&file));
        let mut text = narinfo_text(&bad, &url2, compression, &file, &nar);
        text = text.replace(&sha(&nar), &sha(&other[..]));
        let r = upload(addr, &bad, &url2, &text, &file).await;
        assert_eq!(r.status, 400, "{compression}: {}", r.text());
        assert!(r.text().contains("NarHash"), "{}", r.text());
        let hash = &bad["/nix/store/".len()..][..32];
        assert_eq!(get(addr, &format!("/{hash}.narinfo")).await.status, 404);
        assert_eq!(get(addr, &format!("/{url2}")).await.status, 404);
        assert!(!w.storage.path().join(&url2).exists(), "nothing stored");

        // NarSize too small (the decoder stops after NarSize + 1 bytes).
        let short = item(compression);
        let url3 = format!("nar/{}-3.nar.{compression}", sha(&file));
        let text = narinfo_text(&short, &url3, compression, &file, &nar).replace(
            &format!("NarSize: {}", nar.len()),
            &format!("NarSize: {}", nar.len() - 8),
        );
        let r = upload(addr, &short, &url3, &text, &file).await;
        assert_eq!(r.status, 400, "{compression}: {}", r.text());
        assert!(r.text().contains("NarSize"), "{}", r.text());
        assert!(!w.storage.path().join(&url3).exists());

        // Not compressed at all although the narinfo says so.
        let garbage = item(compression);
        let url4 = format!("nar/{}-4.nar.{compression}", sha(&nar));
        let text = narinfo_text(&garbage, &url4, compression, &nar, &nar);
        let r = upload(addr, &garbage, &url4, &text, &nar).await;
        assert_eq!(r.status, 400, "{compression}: {}", r.text());
        assert!(
            r.text().contains(&format!("not valid {compression}")),
            "{}",
            r.text()
        );
    }
    // A compression the server cannot decode: refused, naming it.
    let br = item("br");
    let url = format!("nar/{}.nar.br", sha(&nar));
    let text = narinfo_text(&br, &url, "br", &nar, &nar);
    let r = upload(addr, &br, &url, &text, &nar).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("\"br\""), "{}", r.text());
    w.server.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_addressed_files_and_legacy_nar_urls() {
    let w = writable().await;
    let addr = w.server.local_addr();

    // A source tarball stored zstd-compressed, a script uncompressed.
    let cases = [
        (
            "hello-1.0.tar.gz",
            b"tarball bytes ".repeat(5000),
            false,
            "zstd",
        ),
        ("build.sh", b"#!/bin/sh\necho hi\n".to_vec(), true, "none"),
    ];
    for (name, contents, executable, compression) in &cases {
        let digest: [u8; 32] = Sha256::digest(contents).into();
        let path = fixed_output_path("/nix/store", name, &digest);
        let nar = file_nar(contents, *executable);
        let file = compress(compression, &nar);
        let url = format!(
            "nar/{}.nar{}",
            sha(&file),
            if *compression == "none" { "" } else { ".zst" }
        );
        let text = narinfo_text(&path, &url, compression, &file, &nar);
        let r = upload(addr, &path, &url, &text, &file).await;
        assert_eq!(r.status, 200, "{name}: {}", r.text());

        // /file/<name>/sha256/<nix32 or hex>: the file itself.
        let by_nix32 = format!("/file/{name}/sha256/{}", nix32::encode(&digest));
        let by_hex = format!("/file/{name}/sha256/{}", hex::encode(digest));
        for p in [&by_nix32, &by_hex] {
            let r = get(addr, p).await;
            assert_eq!(r.status, 200, "{p}: {}", r.text());
            assert_eq!(&r.body, contents, "{p}");
            assert_eq!(
                r.header("content-length"),
                Some(contents.len().to_string().as_str())
            );
            assert_eq!(r.header("content-type"), Some("application/octet-stream"));
            assert_eq!(r.header("accept-ranges"), Some("bytes"));
        }
        let r = get_with(addr, "HEAD", &by_nix32, &[]).await;
        assert_eq!(r.status, 200);
        assert!(r.body.is_empty());
        assert_eq!(
            r.header("content-length"),
            Some(contents.len().to_string().as_str())
        );
        let r = get_with(addr, "GET", &by_nix32, &[("Range", "bytes=3-12")]).await;
        assert_eq!(r.status, 206);
        assert_eq!(r.body, contents[3..=12]);
        assert_eq!(
            r.header("content-range"),
            Some(format!("bytes 3-12/{}", contents.len()).as_str())
        );
        let r = get_with(addr, "GET", &by_nix32, &[("Range", "bytes=-4")]).await;
        assert_eq!(r.status, 206);
        assert_eq!(r.body, contents[contents.len() - 4..]);
        let r = get_with(addr, "GET", &by_nix32, &[("Range", "bytes=99999999-")]).await;
        assert_eq!(r.status, 416);
        // Another name or another hash names another (absent) item.
        assert_eq!(
            get(addr, &format!("/file/other/sha256/{}", hex::encode(digest)))
                .await
                .status,
            404
        );
        assert_eq!(
            get(
                addr,
                &format!("/file/{name}/sha256/{}", hex::encode([9u8; 32]))
            )
            .await
            .status,
            404
        );
        assert_eq!(request(addr, "POST", &by_hex, &[], b"").await.status, 405);

        // nix-serve's legacy URL: the uncompressed nar, whatever is stored.
        let hash = &path["/nix/store/".len()..][..32];
        let legacy = format!("/nar/{hash}-{}.nar", sha(&nar));
        let r = get(addr, &legacy).await;
        assert_eq!(r.status, 200, "{legacy}: {}", r.text());
        assert_eq!(r.body, nar);
        assert_eq!(r.header("content-type"), Some("application/x-nix-nar"));
        let r = get_with(addr, "GET", &legacy, &[("Range", "bytes=8-23")]).await;
        assert_eq!(r.status, 206);
        assert_eq!(r.body, nar[8..24]);
        let r = get_with(addr, "HEAD", &legacy, &[]).await;
        assert_eq!((r.status, r.body.len()), (200, 0));
        assert_eq!(
            r.header("content-length"),
            Some(nar.len().to_string().as_str())
        );
        let wrong = format!("/nar/{hash}-{}.nar", sha(b"not it"));
        assert_eq!(get(addr, &wrong).await.status, 404);
    }
    // Malformed: 404, never 5xx.
    for p in [
        "/file/",
        "/file/x",
        "/file/x/sha256/",
        "/file/../../etc/passwd/sha256/00",
        "/file/x/sha256/zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
    ] {
        assert_eq!(get(addr, p).await.status, 404, "{p}");
    }
    // A store item that is a directory is not a file.
    let dir_nar = {
        let mut v = Vec::new();
        for t in [&b"nix-archive-1"[..], b"(", b"type", b"directory", b")"] {
            v.extend((t.len() as u64).to_le_bytes());
            v.extend(t);
            v.resize(v.len().div_ceil(8) * 8, 0);
        }
        v
    };
    let digest = [3u8; 32];
    let path = fixed_output_path("/nix/store", "adir", &digest);
    let url = format!("nar/{}.nar", sha(&dir_nar));
    let text = narinfo_text(&path, &url, "none", &dir_nar, &dir_nar);
    assert_eq!(upload(addr, &path, &url, &text, &dir_nar).await.status, 200);
    let r = get(addr, &format!("/file/adir/sha256/{}", hex::encode(digest))).await;
    assert_eq!(r.status, 404);
    assert!(
        r.text().contains("not a single regular file"),
        "{}",
        r.text()
    );
    w.server.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn build_logs() {
    let w = writable().await;
    let addr = w.server.local_addr();

    let base = format!("{}-hello-2.12.drv", hash_for(1));
    let path = format!("/log/{base}");
    let log = b"building hello...\nchecking for gcc... yes\n".repeat(50);
    assert_eq!(get(addr, &path).await.status, 404);
    // Writes need the token.
    let r = request(addr, "PUT", &path, &[], &log).await;
    assert_eq!(r.status, 401);
    let r = request(
        addr,
        "PUT",
        &path,
        &[("Authorization", "Bearer wrong")],
        &log,
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(get(addr, &path).await.status, 404);

    let r = put(addr, &path, &auth(), &log).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = get(addr, &path).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, log);
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(
        r.header("content-length"),
        Some(log.len().to_string().as_str())
    );
    let r = get_with(addr, "HEAD", &path, &[]).await;
    assert_eq!((r.status, r.body.len()), (200, 0));
    assert_eq!(
        r.header("content-length"),
        Some(log.len().to_string().as_str())
    );
    let r = get_with(addr, "GET", &path, &[("Range", "bytes=9-13")]).await;
    assert_eq!(r.status, 206);
    assert_eq!(r.body, b"hello");

    // Compressed uploads (Nix's log-compression) are stored decoded and
    // replace the earlier log.
    let newer = b"second build\n".repeat(100);
    for (encoding, compression) in [
        ("xz", "xz"),
        ("zstd", "zstd"),
        ("gzip", "gzip"),
        ("bzip2", "bzip2"),
    ] {
        let mut body = newer.clone();
        body.extend_from_slice(encoding.as_bytes());
        let r = put(
            addr,
            &path,
            &with_auth(&[("Content-Encoding", encoding)]),
            &compress(compression, &body),
        )
        .await;
        assert_eq!(r.status, 200, "{encoding}: {}", r.text());
        assert_eq!(get(addr, &path).await.body, body, "{encoding}");
    }
    let kept = get(addr, &path).await.body;
    // Undecodable: refused, the stored log kept.
    let r = put(
        addr,
        &path,
        &with_auth(&[("Content-Encoding", "br")]),
        b"xx",
    )
    .await;
    assert_eq!(r.status, 415, "{}", r.text());
    let r = put(
        addr,
        &path,
        &with_auth(&[("Content-Encoding", "xz")]),
        b"not xz",
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(get(addr, &path).await.body, kept);
    // Not a store file name: refused, never outside log/.
    for bad in [
        "/log/../../x",
        "/log/short-name",
        &format!("/log/{}-", hash_for(2)),
        "/log/",
    ] {
        assert!(
            matches!(put(addr, bad, &auth(), b"x").await.status, 400 | 404),
            "{bad}"
        );
        assert_eq!(get(addr, bad).await.status, 404, "{bad}");
    }
    assert_eq!(request(addr, "DELETE", &path, &[], b"").await.status, 405);
    assert_eq!(
        std::fs::read_dir(w.storage.path().join("log"))
            .unwrap()
            .count(),
        1,
        "one log, no temporary files left"
    );
    w.server.shutdown(Duration::from_secs(5)).await.unwrap();
}

/// Guix names nar files by item, so a narinfo of the upload can name a
/// Guix-style URL; the verified upload is then served there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guix_style_compressed_upload() {
    let w = writable().await;
    let addr = w.server.local_addr();
    let nar = file_nar(b"guix output\n", false);
    let file = compress("zstd", &nar);
    let path = format!("/nix/store/{}-thing-1.0", hash_for(77));
    let url = format!("nar/zstd/{}-thing-1.0", hash_for(77));
    let text = narinfo_text(&path, &url, "zstd", &file, &nar);
    assert_eq!(upload(addr, &path, &url, &text, &file).await.status, 200);
    let served = get(addr, &format!("/{url}")).await;
    assert_eq!((served.status, served.body), (200, file));
    let n = Narinfo::parse(
        &get(addr, &format!("/{}.narinfo", hash_for(77)))
            .await
            .text(),
    )
    .unwrap();
    assert_eq!(n.nar_size(), nar.len() as u64);
    w.server.shutdown(Duration::from_secs(5)).await.unwrap();
}
