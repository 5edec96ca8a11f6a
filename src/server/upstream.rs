//! Nar files fetched from an upstream (`--nar-upstream URL`): a mirror
//! whose storage lacks a nar file that one of its narinfos names fetches
//! it from the primary (or another mirror) on the first request, streams
//! it to the client while storing it, and keeps its storage under a size
//! limit by dropping the least recently used files.
//!
//! * Only nar files a stored narinfo names are fetched (the caller checks),
//!   so the mirror is no open proxy.
//! * The size is checked against `FileSize` (or, uncompressed, `NarSize`)
//!   and the upstream's Content-Length; the SHA-256 against `FileHash`
//!   (or, uncompressed, `NarHash`) where the narinfo gives one. A file
//!   that fails a check is never stored, and the client's transfer is cut
//!   short, so it cannot take a wrong file for a whole one.
//! * Concurrent requests for the same file share one fetch: the first
//!   streams it, the others wait for it to be stored and are then served
//!   from disk. Range and HEAD requests for a missing file also wait.
//! * Upstreams are plain `http://` (integrity comes from the hashes of the
//!   narinfos, which replicate over PostgreSQL's own, possibly encrypted,
//!   connection); put a TLS-terminating proxy in front otherwise.
//!
//! Recency is kept in memory; at start-up the files' modification times
//! (their fetch times) order them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt as _;
use tokio::sync::{mpsc, watch};

use super::body::Body;
use super::routes::error;
use super::State;
use crate::changes::ItemKey;
use crate::nix32;
use crate::storage::NarStorage;
use crate::store::Backend;
use crate::{Error, Result};

/// How long connecting to the upstream and receiving its answer may take.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);
/// Directory (under the storage root) of files being fetched.
const TMP_DIR: &str = ".upstream-tmp";

/// Where nar files come from, and the local files fetched so far.
#[derive(Debug)]
pub struct Upstream {
    host: String,
    port: u16,
    /// Path prefix of the upstream URL, without a trailing `/`.
    prefix: String,
    storage: NarStorage,
    limit: Option<u64>,
    lru: Mutex<Lru>,
    inflight: Mutex<HashMap<String, watch::Receiver<Option<bool>>>>,
    /// Files fetched and stored.
    pub fetched: std::sync::atomic::AtomicU64,
    /// Files dropped to stay under the limit.
    pub evicted: std::sync::atomic::AtomicU64,
}

#[derive(Debug, Default)]
struct Lru {
    /// Relative path → (size, last use).
    files: HashMap<String, (u64, u64)>,
    total: u64,
    clock: u64,
}

/// What the upstream knows of a missing file, from its narinfo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Expected {
    /// Its size in bytes.
    pub size: Option<u64>,
    /// Its SHA-256.
    pub sha256: Option<[u8; 32]>,
}

/// What [`Upstream::missing`] decided.
pub enum Missing {
    /// Answer with this (the streamed file, or an error).
    Respond(Box<Response<Body>>),
    /// The file is now stored at this path: serve it as usual.
    Stored(PathBuf),
}

impl Upstream {
    /// An upstream at `url` (`http://host[:port][/prefix]`) filling
    /// `storage`, keeping it under `limit` bytes if given. Scans the
    /// storage's `nar/` directory for what is there.
    pub fn new(url: &str, storage: NarStorage, limit: Option<u64>) -> Result<Upstream> {
        let bad = |why: &str| Error::InvalidArgument(format!("nar upstream {url:?}: {why}"));
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| bad("expected an http:// URL (https: use a local TLS proxy)"))?;
        let (authority, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let port_of = |p: &str| {
            p.parse::<u16>()
                .map_err(|_| bad("the port is not a number"))
        };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("unclosed `[` in the host"))?;
            match after.strip_prefix(':') {
                Some(p) => (h, port_of(p)?),
                None if after.is_empty() => (h, 80),
                None => return Err(bad("expected http://HOST[:PORT][/PATH]")),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, port_of(p)?),
                None => (authority, 80),
            }
        };
        if host.is_empty() || prefix.contains(['?', '#']) {
            return Err(bad("expected http://HOST[:PORT][/PATH]"));
        }
        let up = Upstream {
            host: host.to_string(),
            port,
            prefix: prefix.to_string(),
            storage,
            limit,
            lru: Mutex::new(Lru::default()),
            inflight: Mutex::new(HashMap::new()),
            fetched: Default::default(),
            evicted: Default::default(),
        };
        up.scan()?;
        let tmp = up.storage.root().join(TMP_DIR);
        let _ = std::fs::remove_dir_all(&tmp);
        Ok(up)
    }

    fn lru(&self) -> std::sync::MutexGuard<'_, Lru> {
        self.lru.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads what the storage's `nar/` directory holds, oldest first.
    fn scan(&self) -> Result<()> {
        let root = self.storage.root();
        let mut found = Vec::new();
        for entry in walkdir::WalkDir::new(root.join("nar")).follow_links(false) {
            let Ok(entry) = entry else { continue };
            if !entry.file_type().is_file() {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            let Ok(rel) = entry.path().strip_prefix(root) else {
                continue;
            };
            let Some(rel) = rel.to_str() else { continue };
            let mtime = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs());
            found.push((mtime, rel.replace('\\', "/"), meta.len()));
        }
        found.sort();
        let mut lru = self.lru();
        for (_, rel, size) in found {
            lru.clock += 1;
            let clock = lru.clock;
            lru.total += size;
            lru.files.insert(rel, (size, clock));
        }
        Ok(())
    }

    /// Bytes of nar files held locally.
    pub fn stored_bytes(&self) -> u64 {
        self.lru().total
    }

    /// Marks a local file as just used.
    pub fn touch(&self, rel: &str) {
        let mut lru = self.lru();
        lru.clock += 1;
        let clock = lru.clock;
        if let Some(e) = lru.files.get_mut(rel) {
            e.1 = clock;
        }
    }

    /// Records a stored file and drops the least recently used others
    /// while over the limit.
    fn stored(&self, rel: &str, size: u64) {
        let victims = {
            let mut lru = self.lru();
            lru.clock += 1;
            let clock = lru.clock;
            if let Some((old, _)) = lru.files.insert(rel.to_string(), (size, clock)) {
                lru.total -= old;
            }
            lru.total += size;
            let Some(limit) = self.limit else { return };
            let mut order: Vec<(u64, String, u64)> = lru
                .files
                .iter()
                .filter(|(r, _)| r.as_str() != rel)
                .map(|(r, &(s, t))| (t, r.clone(), s))
                .collect();
            order.sort();
            let mut victims = Vec::new();
            for (_, r, s) in order {
                if lru.total <= limit {
                    break;
                }
                lru.files.remove(&r);
                lru.total -= s;
                victims.push(r);
            }
            victims
        };
        for r in victims {
            match self.storage.remove(&r) {
                Ok(_) => {
                    self.evicted
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                Err(e) => tracing::warn!("dropping {r} from the nar cache: {e}"),
            }
        }
    }

    /// Answers a request for `rel`, a nar file the narinfo of `key` names
    /// and the storage lacks: streams it from the upstream (a whole GET),
    /// or fetches it and returns its path (HEAD, ranges, or another request
    /// already fetching it).
    pub(super) async fn missing(
        self: &Arc<Self>,
        state: &State,
        rel: &str,
        key: &ItemKey,
        stream: bool,
    ) -> Missing {
        let expected = match expected(state, rel).await {
            Ok(e) => e,
            Err(e) => {
                tracing::error!("looking up the size and hash of {rel}: {e}");
                return Missing::Respond(Box::new(error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the database is not answering",
                    None,
                )));
            }
        };
        // Join a fetch in flight, or lead one.
        let (done_tx, waiting) = {
            let mut inflight = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
            match inflight.get(rel) {
                Some(rx) => (None, Some(rx.clone())),
                None => {
                    let (tx, rx) = watch::channel(None);
                    inflight.insert(rel.to_string(), rx);
                    (Some(tx), None)
                }
            }
        };
        if let Some(mut rx) = waiting {
            let ok = loop {
                if let Some(ok) = *rx.borrow_and_update() {
                    break ok;
                }
                if rx.changed().await.is_err() {
                    break false;
                }
            };
            return self.after_fetch(rel, ok);
        }
        let Some(done_tx) = done_tx else {
            return Missing::Respond(Box::new(error(
                StatusCode::BAD_GATEWAY,
                "nar fetch failed",
                None,
            )));
        };
        let started = self.start_fetch(rel, expected).await;
        let (len, incoming) = match started {
            Ok(x) => x,
            Err((status, why)) => {
                tracing::warn!("fetching {rel} from the upstream: {why}");
                self.finish(rel, &done_tx, false);
                return Missing::Respond(Box::new(error(status, &why, None)));
            }
        };
        if !stream {
            let ok = self.receive(rel, expected, len, incoming, None).await;
            self.finish(rel, &done_tx, ok);
            return self.after_fetch(rel, ok);
        }
        let (tx, rx) = mpsc::channel(8);
        let this = self.clone();
        let rel_owned = rel.to_string();
        tokio::spawn(async move {
            let ok = this
                .receive(&rel_owned, expected, len, incoming, Some(tx))
                .await;
            this.finish(&rel_owned, &done_tx, ok);
        });
        state.analytics.nar_download(Some(key));
        let mut r = Response::new(Body::Stream { rx, remaining: len });
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-nix-nar"),
        );
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        Missing::Respond(Box::new(r))
    }

    fn after_fetch(&self, rel: &str, ok: bool) -> Missing {
        if ok {
            if let Ok(Some(p)) = self.storage.existing(rel) {
                return Missing::Stored(p);
            }
        }
        Missing::Respond(Box::new(error(
            StatusCode::BAD_GATEWAY,
            "the nar file could not be fetched from the upstream",
            None,
        )))
    }

    fn finish(&self, rel: &str, done: &watch::Sender<Option<bool>>, ok: bool) {
        self.inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(rel);
        let _ = done.send(Some(ok));
    }

    /// Sends the GET and checks the answer's status and length.
    async fn start_fetch(
        &self,
        rel: &str,
        expected: Expected,
    ) -> std::result::Result<(u64, hyper::body::Incoming), (StatusCode, String)> {
        let gateway = |why: String| (StatusCode::BAD_GATEWAY, why);
        let path = format!("{}/{}", self.prefix, encode_path(rel));
        let fut = async {
            let stream = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
                .await
                .map_err(|e| gateway(format!("connecting to {}:{}: {e}", self.host, self.port)))?;
            let _ = stream.set_nodelay(true);
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                    .await
                    .map_err(|e| gateway(format!("upstream handshake: {e}")))?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            let host = if self.port == 80 {
                self.host.clone()
            } else {
                format!("{}:{}", self.host, self.port)
            };
            let req = hyper::Request::get(&path)
                .header(header::HOST, host)
                .header(header::USER_AGENT, "narherder")
                .body(http_body_util::Empty::<Bytes>::new())
                .map_err(|e| gateway(format!("building the request for {path}: {e}")))?;
            sender
                .send_request(req)
                .await
                .map_err(|e| gateway(format!("upstream request {path}: {e}")))
        };
        let resp = tokio::time::timeout(UPSTREAM_TIMEOUT, fut)
            .await
            .map_err(|_| {
                gateway(format!(
                    "the upstream did not answer within {UPSTREAM_TIMEOUT:?}"
                ))
            })??;
        match resp.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => {
                return Err((
                    StatusCode::NOT_FOUND,
                    "nar file not found (here or upstream)".into(),
                ))
            }
            s => return Err(gateway(format!("the upstream answered {s} for {path}"))),
        }
        let announced = resp
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let len = match (announced, expected.size) {
            (Some(a), Some(e)) if a != e => {
                return Err(gateway(format!(
                    "the upstream sends {a} bytes for {path}, the narinfo says {e}"
                )))
            }
            (Some(a), _) => a,
            (None, Some(e)) => e,
            (None, None) => {
                return Err(gateway(format!(
                    "the upstream gives no length for {path} and the narinfo none either"
                )))
            }
        };
        Ok((len, resp.into_body()))
    }

    /// Receives the body into a temporary file (and to the client, if
    /// any), checks it and moves it into place. Returns whether it did.
    async fn receive(
        &self,
        rel: &str,
        expected: Expected,
        len: u64,
        mut incoming: hyper::body::Incoming,
        mut client: Option<mpsc::Sender<std::io::Result<Bytes>>>,
    ) -> bool {
        let fail = |client: &mut Option<mpsc::Sender<std::io::Result<Bytes>>>, why: String| {
            tracing::warn!("fetching {rel}: {why}");
            if let Some(c) = client.take() {
                let _ = c.try_send(Err(std::io::Error::other(why)));
            }
            false
        };
        let tmp_dir = self.storage.root().join(TMP_DIR);
        if let Err(e) = tokio::fs::create_dir_all(&tmp_dir).await {
            return fail(&mut client, format!("{}: {e}", tmp_dir.display()));
        }
        let tmp = tmp_dir.join(format!(
            "{}-{}",
            std::process::id(),
            TMP_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let mut file = match tokio::fs::File::create(&tmp).await {
            Ok(f) => f,
            Err(e) => return fail(&mut client, format!("{}: {e}", tmp.display())),
        };
        let mut hasher = Sha256::new();
        let mut got: u64 = 0;
        let mut held: Option<Bytes> = None;
        let result: std::result::Result<(), String> = async {
            while let Some(frame) = incoming.frame().await {
                let frame = frame.map_err(|e| format!("reading from the upstream: {e}"))?;
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                got += data.len() as u64;
                if got > len {
                    return Err(format!("the upstream sent more than {len} bytes"));
                }
                hasher.update(&data);
                file.write_all(&data)
                    .await
                    .map_err(|e| format!("{}: {e}", tmp.display()))?;
                // The last piece waits for the checks, so that a client
                // never receives a whole file that fails them.
                if let Some(previous) = held.replace(data) {
                    send(&mut client, previous).await;
                }
            }
            if got != len {
                return Err(format!("the upstream sent {got} of {len} bytes"));
            }
            if let Some(want) = expected.sha256 {
                let have: [u8; 32] = hasher.finalize_reset().into();
                if have != want {
                    return Err(format!(
                        "SHA-256 mismatch: the narinfo says {}, the upstream sent {}",
                        nix32::encode(&want),
                        nix32::encode(&have)
                    ));
                }
            }
            file.flush()
                .await
                .map_err(|e| format!("{}: {e}", tmp.display()))?;
            if let Some(last) = held.take() {
                send(&mut client, last).await;
            }
            Ok(())
        }
        .await;
        drop(file);
        if let Err(why) = result {
            let _ = tokio::fs::remove_file(&tmp).await;
            return fail(&mut client, why);
        }
        if let Err(why) = self.place(&tmp, rel).await {
            let _ = tokio::fs::remove_file(&tmp).await;
            // The client got every byte, checked: only storing failed.
            tracing::warn!("storing {rel}: {why}");
            return false;
        }
        self.fetched
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.stored(rel, len);
        true
    }

    /// Moves a checked temporary file to where `rel` maps, inside the
    /// storage directory.
    async fn place(&self, tmp: &Path, rel: &str) -> std::result::Result<(), String> {
        let dest = self.storage.path_for(rel).map_err(|e| e.to_string())?;
        let parent = dest
            .parent()
            .ok_or_else(|| format!("{} has no parent directory", dest.display()))?;
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| format!("{}: {e}", parent.display()))?;
        let real = tokio::fs::canonicalize(parent)
            .await
            .map_err(|e| format!("{}: {e}", parent.display()))?;
        if !real.starts_with(self.storage.root()) {
            return Err(format!(
                "{} resolves outside the storage directory",
                parent.display()
            ));
        }
        tokio::fs::rename(tmp, &dest)
            .await
            .map_err(|e| format!("{}: {e}", dest.display()))
    }
}

/// Sends a piece to the client, forgetting a client that left (the file
/// is still stored).
async fn send(client: &mut Option<mpsc::Sender<std::io::Result<Bytes>>>, data: Bytes) {
    if let Some(c) = client {
        if c.send(Ok(data)).await.is_err() {
            *client = None;
        }
    }
}

static TMP_COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The size and hash the narinfo naming `rel` gives for the file.
async fn expected(state: &State, rel: &str) -> Result<Expected> {
    const SQL: &str = "SELECT f.file_size, f.file_hash, f.compression, n.nar_size, n.nar_hash \
         FROM nar_files f JOIN narinfos n ON n.id = f.narinfo_id \
         WHERE f.url IN ($1, $2) LIMIT 1";
    type Row = (Option<i64>, Option<String>, Option<String>, i64, String);
    let slash = format!("/{rel}");
    let row: Option<Row> = match state.store.backend() {
        Backend::Sqlite(pool) => {
            sqlx::query_as(SQL)
                .bind(rel)
                .bind(&slash)
                .fetch_optional(pool)
                .await?
        }
        Backend::Postgres(pool) => {
            sqlx::query_as(SQL)
                .bind(rel)
                .bind(&slash)
                .fetch_optional(pool)
                .await?
        }
    };
    let Some((file_size, file_hash, compression, nar_size, nar_hash)) = row else {
        return Ok(Expected::default());
    };
    let uncompressed = compression.as_deref().map_or(true, |c| c == "none");
    Ok(Expected {
        size: file_size
            .or(uncompressed.then_some(nar_size))
            .and_then(|s| u64::try_from(s).ok()),
        sha256: file_hash
            .as_deref()
            .and_then(parse_sha256)
            .or_else(|| uncompressed.then(|| parse_sha256(&nar_hash)).flatten()),
    })
}

/// `sha256:<nix32>` or `sha256:<hex>` → the digest.
pub fn parse_sha256(text: &str) -> Option<[u8; 32]> {
    let h = text.trim().strip_prefix("sha256:")?;
    match h.len() {
        52 => nix32::decode_array(h).ok(),
        64 => {
            let mut out = [0u8; 32];
            hex::decode_to_slice(h, &mut out).ok()?;
            Some(out)
        }
        _ => None,
    }
}

/// Percent-encodes what is not safe in a URL path (keeps `/`).
fn encode_path(rel: &str) -> String {
    let mut out = String::with_capacity(rel.len());
    for b in rel.bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~+=".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let s = || NarStorage::open(dir.path()).unwrap();
        let u = Upstream::new("http://primary.example:8080/cache/", s(), None).unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.prefix.as_str()),
            ("primary.example", 8080, "/cache")
        );
        let u = Upstream::new("http://[::1]", s(), None).unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 80));
        assert!(Upstream::new("https://x", s(), None).is_err());
        assert!(Upstream::new("http://:80", s(), None).is_err());
        assert!(Upstream::new("http://h:x", s(), None).is_err());
        assert_eq!(encode_path("nar/xz/a b%"), "nar/xz/a%20b%25");
        let hex = "sha256:".to_string() + &"ab".repeat(32);
        assert_eq!(parse_sha256(&hex), Some([0xab; 32]));
        let n = format!("sha256:{}", nix32::encode(&[7u8; 32]));
        assert_eq!(parse_sha256(&n), Some([7u8; 32]));
        assert_eq!(parse_sha256("md5:abc"), None);
    }

    #[test]
    fn lru_keeps_under_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let storage = NarStorage::open(dir.path()).unwrap();
        for (i, name) in ["a", "b", "c"].iter().enumerate() {
            let p = dir.path().join("nar").join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, vec![0u8; 100]).unwrap();
            let t = std::time::UNIX_EPOCH + Duration::from_secs(1000 + i as u64);
            std::fs::File::options()
                .write(true)
                .open(&p)
                .unwrap()
                .set_modified(t)
                .unwrap();
        }
        let up = Upstream::new("http://h", storage, Some(200)).unwrap();
        assert_eq!(up.stored_bytes(), 300);
        up.touch("nar/a"); // a is now the most recent; b the least
        std::fs::write(dir.path().join("nar/d"), vec![0u8; 50]).unwrap();
        up.stored("nar/d", 50);
        assert!(!dir.path().join("nar/b").exists());
        assert!(!dir.path().join("nar/c").exists());
        assert!(dir.path().join("nar/a").exists());
        assert!(dir.path().join("nar/d").exists());
        assert_eq!(up.stored_bytes(), 150);
    }
}
