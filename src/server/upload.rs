//! Writes: `PUT /nar/…` and `PUT /<hash>.narinfo` as `nix copy --to
//! http://…` sends them, `PUT /nix-cache-info`, and the admin API. All need
//! a token; a read-only server refuses them.
//!
//! A nar usually arrives before its narinfo, so it waits in an upload area
//! (`<storage>/.uploads/`, outside the served `nar/` tree) with its size and
//! SHA-256. When the narinfo arrives, each of its files is checked —
//! FileSize and FileHash, and NarSize/NarHash of the nar inside, decoding
//! compressed ones (the Nix client never checks FileHash itself, and a
//! server must not serve a nar that does not match its narinfo) — then
//! moved into place, and
//! only then is the narinfo stored. References must already be in the
//! cache, so a served narinfo's references are always served too.
//! Unclaimed uploads are deleted after an hour.

// Helpers return the refusal to send as their error: a cold path where
// boxing the response would buy nothing.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::body::Body;
use super::routes::{error, respond};
use super::State;
use crate::changes::item_key;
use crate::compression::Compression;
use crate::narinfo::{Narinfo, MAX_NARINFO_BYTES};
use crate::signing::{sign_narinfo, verify_narinfo};
use crate::storage::{url_to_relative, NarFilesMode};
use crate::store::AddMode;
use crate::{Error, Result};

/// Unclaimed uploads older than this are deleted.
const UPLOAD_TTL: Duration = Duration::from_secs(3600);

struct Pending {
    path: PathBuf,
    size: u64,
    sha256: [u8; 32],
    at: Instant,
}

/// The upload area: nar files received but not yet claimed by a narinfo.
#[derive(Clone)]
pub struct Uploads {
    dir: PathBuf,
    pending: Arc<Mutex<HashMap<String, Pending>>>,
}

impl std::fmt::Debug for Uploads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uploads")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Uploads {
    /// The upload area of the storage directory `root` (emptied: uploads
    /// from a previous run are unclaimed by definition).
    pub fn open(root: &Path) -> Result<Uploads> {
        let dir = root.join(".uploads");
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        }
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(Uploads {
            dir,
            pending: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    /// A fresh temporary file name in the upload area.
    pub(super) fn temp_path(&self) -> PathBuf {
        self.dir.join(format!(
            "{}.{}",
            std::process::id(),
            UPLOAD_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn add(&self, rel: String, p: Pending) {
        if let Some(old) = self.lock().insert(rel, p) {
            let _ = std::fs::remove_file(old.path);
        }
    }

    fn take(&self, rel: &str) -> Option<Pending> {
        self.lock().remove(rel)
    }

    fn expire(&self) {
        let now = Instant::now();
        self.lock().retain(|_, p| {
            let keep = now.duration_since(p.at) < UPLOAD_TTL;
            if !keep {
                let _ = std::fs::remove_file(&p.path);
            }
            keep
        });
    }
}

/// Deletes expired uploads every minute.
pub(super) async fn sweeper(uploads: Uploads, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(60)) => uploads.expire(),
            _ = stop.changed() => return,
        }
    }
}

/// Refuses the write unless the server takes writes and the request
/// carries a valid token.
pub(super) fn authorize<B>(
    state: &State,
    req: &Request<B>,
) -> std::result::Result<(), Response<Body>> {
    if state.config.read_only {
        return Err(error(
            StatusCode::FORBIDDEN,
            "this server is read-only",
            None,
        ));
    }
    if state.config.tokens.is_empty() {
        return Err(error(
            StatusCode::FORBIDDEN,
            "writes are disabled: no token is configured",
            None,
        ));
    }
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    if state.config.tokens.authorizes(auth) {
        Ok(())
    } else {
        Err(error(
            StatusCode::UNAUTHORIZED,
            "a valid token is required (Authorization: Bearer, or as the basic auth password)",
            Some((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"narherder\""),
            )),
        ))
    }
}

fn declared_length<B>(req: &Request<B>) -> Option<u64> {
    req.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// Reads a whole body of at most `limit` bytes, each piece within
/// `timeout`. `Err` is the response to send.
pub(super) async fn read_limited(
    body: Incoming,
    limit: u64,
    timeout: Duration,
) -> std::result::Result<Bytes, Response<Body>> {
    let mut body = body;
    let mut out = Vec::new();
    loop {
        let frame = match tokio::time::timeout(timeout, body.frame()).await {
            Err(_) => {
                return Err(error(
                    StatusCode::REQUEST_TIMEOUT,
                    "request body too slow",
                    None,
                ))
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    &format!("reading the body: {e}"),
                    None,
                ))
            }
            Ok(Some(Ok(f))) => f,
        };
        if let Ok(data) = frame.into_data() {
            if (out.len() + data.len()) as u64 > limit {
                return Err(too_large(limit));
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out.into())
}

fn too_large(limit: u64) -> Response<Body> {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("request body larger than {limit} bytes"),
        None,
    )
}

/// `PUT /nix-cache-info`: the Nix client sends it when the GET gave 404.
/// The server's own answer stands; the body is read and dropped.
pub(super) async fn put_cache_info(state: &State, req: Request<Incoming>) -> Response<Body> {
    if let Err(r) = authorize(state, &req) {
        return r;
    }
    match read_limited(req.into_body(), 64 * 1024, state.config.read_timeout).await {
        Ok(_) => respond(StatusCode::OK, "text/plain", Bytes::new(), false),
        Err(r) => r,
    }
}

/// `PUT /nar/…`.
pub(super) async fn put_nar(state: &State, req: Request<Incoming>, path: &str) -> Response<Body> {
    if let Err(r) = authorize(state, &req) {
        return r;
    }
    let Some(uploads) = &state.uploads else {
        return error(
            StatusCode::FORBIDDEN,
            "this server keeps no nar files (no --storage)",
            None,
        );
    };
    let rel = match url_to_relative(path) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string(), None),
    };
    let limit = state.config.max_nar_bytes;
    if declared_length(&req).is_some_and(|n| n > limit) {
        return too_large(limit);
    }
    let tmp = uploads.temp_path();
    match receive(req.into_body(), &tmp, limit, state.config.read_timeout).await {
        Ok((size, sha256)) => {
            uploads.add(
                rel,
                Pending {
                    path: tmp,
                    size,
                    sha256,
                    at: Instant::now(),
                },
            );
            respond(StatusCode::OK, "text/plain", Bytes::new(), false)
        }
        Err(r) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            r
        }
    }
}

static UPLOAD_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Streams a body of at most `limit` bytes into `path`, hashing it.
/// `Err` is the response to send.
pub(super) async fn receive(
    mut body: Incoming,
    path: &Path,
    limit: u64,
    timeout: Duration,
) -> std::result::Result<(u64, [u8; 32]), Response<Body>> {
    let io_error = |e: std::io::Error| {
        tracing::error!("writing upload {}: {e}", path.display());
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot store the upload",
            None,
        )
    };
    let mut file = tokio::fs::File::create(path).await.map_err(io_error)?;
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    loop {
        let frame = match tokio::time::timeout(timeout, body.frame()).await {
            Err(_) => {
                return Err(error(
                    StatusCode::REQUEST_TIMEOUT,
                    "request body too slow",
                    None,
                ))
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    &format!("reading the body: {e}"),
                    None,
                ))
            }
            Ok(Some(Ok(f))) => f,
        };
        if let Ok(data) = frame.into_data() {
            size += data.len() as u64;
            if size > limit {
                return Err(too_large(limit));
            }
            hasher.update(&data);
            file.write_all(&data).await.map_err(io_error)?;
        }
    }
    file.flush().await.map_err(io_error)?;
    file.sync_all().await.map_err(io_error)?;
    Ok((size, hasher.finalize().into()))
}

/// Parses `sha256:<nix32 or hex>`.
fn sha256_of(field: &str) -> Option<[u8; 32]> {
    let v = field.strip_prefix("sha256:")?;
    if v.len() == 64 {
        hex::decode(v).ok()?.try_into().ok()
    } else {
        crate::nix32::decode_array(v).ok()
    }
}

/// A 400 with `why`.
fn bad(why: &str) -> Response<Body> {
    error(StatusCode::BAD_REQUEST, why, None)
}

/// An upload claimed by a narinfo: its relative URL, the file, and its
/// compression.
type Claimed = (String, Pending, Compression);

/// Why the nar of `size` bytes with digest `sha256` (uncompressed `url`)
/// does not match the narinfo's NarSize and NarHash, if it does not.
fn nar_mismatch(narinfo: &Narinfo, url: &str, size: u64, sha256: &[u8; 32]) -> Option<String> {
    if size != narinfo.nar_size() {
        Some(format!(
            "NarSize is {} but the nar in {url} has {}{size} bytes",
            narinfo.nar_size(),
            if size > narinfo.nar_size() {
                "at least "
            } else {
                ""
            },
        ))
    } else if *sha256 != narinfo.nar_hash_bytes() {
        Some(format!(
            "NarHash does not match the nar in {url} (its sha256 is {})",
            crate::nix32::encode(sha256)
        ))
    } else {
        None
    }
}

/// Checks NarSize and NarHash against the nar inside every compressed
/// upload, decompressing each in a blocking thread (at most NarSize + 1
/// bytes). On a mismatch the bad upload is deleted, the others go back to
/// the upload area, and the 400 to send is returned.
async fn check_compressed(
    state: &State,
    narinfo: &Narinfo,
    claimed: Vec<Claimed>,
) -> std::result::Result<Vec<(String, Pending)>, Response<Body>> {
    let mut checked: Vec<(String, Pending)> = Vec::with_capacity(claimed.len());
    let mut rest = claimed.into_iter();
    let mut problem = None;
    for (rel, p, compression) in rest.by_ref() {
        if compression != Compression::None {
            let path = p.path.clone();
            let limit = narinfo.nar_size();
            let digest = tokio::task::spawn_blocking(move || {
                crate::compression::nar_digest(&path, compression, limit)
            })
            .await;
            let why = match digest {
                Ok(Ok((size, sha256))) => nar_mismatch(narinfo, &rel, size, &sha256),
                Ok(Err(e)) => Some(format!("{rel}: {e}")),
                Err(e) => Some(format!("{rel}: decompressing failed: {e}")),
            };
            if let Some(why) = why {
                let _ = tokio::fs::remove_file(&p.path).await;
                problem = Some(why);
                break;
            }
        }
        checked.push((rel, p));
    }
    match problem {
        None => Ok(checked),
        Some(why) => {
            if let Some(uploads) = &state.uploads {
                for (rel, p) in checked.into_iter().chain(rest.map(|(r, p, _)| (r, p))) {
                    uploads.add(rel, p);
                }
            }
            Err(bad(&why))
        }
    }
}

/// Checks the nar files of `narinfo` against the uploads and the storage
/// directory; returns the uploads to move into place (those compressed
/// still to be checked by [`check_compressed`]).
fn check_files(
    state: &State,
    narinfo: &Narinfo,
) -> std::result::Result<Vec<Claimed>, Response<Body>> {
    let (Some(storage), Some(uploads)) = (&state.storage, &state.uploads) else {
        return Ok(Vec::new());
    };
    let mut claimed = Vec::new();
    let give_back = |claimed: Vec<Claimed>| {
        for (rel, p, _) in claimed {
            uploads.add(rel, p);
        }
    };
    for file in narinfo.files() {
        let rel = match url_to_relative(&file.url) {
            Ok(r) => r,
            Err(e) => {
                give_back(claimed);
                return Err(bad(&e.to_string()));
            }
        };
        if let Some(p) = uploads.take(&rel) {
            let mut problem = None;
            if let Some(size) = file.file_size {
                if size != p.size {
                    problem = Some(format!(
                        "FileSize of {} is {size} but {} bytes were uploaded",
                        file.url, p.size
                    ));
                }
            }
            if let (None, Some(fh)) = (&problem, &file.file_hash) {
                match sha256_of(fh) {
                    Some(h) if h == p.sha256 => {}
                    Some(_) => {
                        problem = Some(format!(
                            "FileHash of {} does not match the uploaded file (its sha256 is {})",
                            file.url,
                            crate::nix32::encode(&p.sha256)
                        ))
                    }
                    None => problem = Some(format!("FileHash {fh:?}: expected sha256:<hash>")),
                }
            }
            let compression = match Compression::parse(file.compression.as_deref()) {
                Ok(c) => c,
                Err(e) => {
                    give_back(claimed);
                    uploads.add(rel, p);
                    return Err(bad(&format!("{}: {e}", file.url)));
                }
            };
            if compression == Compression::None && problem.is_none() {
                problem = nar_mismatch(narinfo, &file.url, p.size, &p.sha256);
            }
            if let Some(why) = problem {
                let _ = std::fs::remove_file(&p.path);
                give_back(claimed);
                return Err(bad(&why));
            }
            claimed.push((rel, p, compression));
        } else {
            match storage.existing(&rel) {
                Ok(Some(path)) => {
                    let len = std::fs::metadata(&path).map(|m| m.len()).ok();
                    if let (Some(want), Some(have)) = (file.file_size, len) {
                        if want != have {
                            give_back(claimed);
                            return Err(bad(&format!(
                                "FileSize of {} is {want} but the stored file has {have} bytes",
                                file.url
                            )));
                        }
                    }
                }
                _ => {
                    give_back(claimed);
                    return Err(bad(&format!(
                        "nar file {} has not been uploaded (PUT it before the narinfo)",
                        file.url
                    )));
                }
            }
        }
    }
    Ok(claimed)
}

/// `PUT /<hash>.narinfo`.
pub(super) async fn put_narinfo(
    state: &State,
    req: Request<Incoming>,
    name: &str,
) -> Response<Body> {
    if let Err(r) = authorize(state, &req) {
        return r;
    }
    let limit = MAX_NARINFO_BYTES as u64;
    if declared_length(&req).is_some_and(|n| n > limit) {
        return too_large(limit);
    }
    let Some(key) = item_key(name) else {
        return bad(&format!(
            "{name:?} is not a 32-character nix-base32 hash part"
        ));
    };
    let body = match read_limited(req.into_body(), limit, state.config.read_timeout).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let text = match std::str::from_utf8(&body) {
        Ok(t) => t,
        Err(_) => return bad("the narinfo is not UTF-8"),
    };
    let mut narinfo = match Narinfo::parse_in(text, state.store.store_dir()) {
        Ok(n) => n,
        Err(e) => return bad(&format!("invalid narinfo: {e}")),
    };
    if narinfo.hash_part() != name {
        return bad(&format!(
            "the narinfo is for {} but was sent to /{name}.narinfo",
            narinfo.store_path()
        ));
    }
    if state.config.require_signature {
        let verdict = verify_narinfo(&narinfo, &state.config.keyring);
        if !verdict.is_valid() {
            return error(
                StatusCode::FORBIDDEN,
                &format!("signature required: {verdict}"),
                None,
            );
        }
    }
    let refs: Vec<&str> = narinfo.reference_hashes().filter(|h| *h != name).collect();
    match state.store.exists_many(&refs).await {
        Ok(found) => {
            let missing: Vec<&str> = refs
                .iter()
                .zip(found)
                .filter(|(_, f)| !f)
                .map(|(h, _)| *h)
                .collect();
            if !missing.is_empty() {
                return bad(&format!(
                    "references not in this cache (upload them first): {}",
                    missing.join(" ")
                ));
            }
        }
        Err(e) => {
            tracing::error!("checking references: {e}");
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database is not answering",
                None,
            );
        }
    }
    let claimed = match check_files(state, &narinfo) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let claimed = match check_compressed(state, &narinfo, claimed).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if narinfo.signature().is_none() && narinfo.sigs().is_empty() {
        if let Some(k) = &state.config.sign_key {
            match sign_narinfo(&narinfo, k, &state.config.node_name) {
                Ok(n) => narinfo = n,
                Err(e) => {
                    tracing::error!("signing {}: {e}", narinfo.store_path());
                    return error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "cannot sign the narinfo",
                        None,
                    );
                }
            }
        }
    }
    if let Some(storage) = &state.storage {
        for (rel, p) in claimed {
            let placed = storage.place(&p.path, &rel, NarFilesMode::Hardlink);
            let _ = std::fs::remove_file(&p.path);
            if let Err(e) = placed {
                tracing::error!("placing {rel}: {e}");
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "cannot store the nar file",
                    None,
                );
            }
        }
    }
    match state.store.add(&narinfo, AddMode::Keep).await {
        Ok(_) => {}
        Err(Error::Conflict { .. }) => {
            // The same item uploaded again (perhaps signed here the first
            // time): fine if it describes the same nar.
            let same = match state.store.get(name).await {
                Ok(Some(s)) => {
                    Narinfo::parse_in(&s.text, state.store.store_dir()).is_ok_and(|old| {
                        old.nar_hash_bytes() == narinfo.nar_hash_bytes()
                            && old.nar_size() == narinfo.nar_size()
                    })
                }
                _ => false,
            };
            if !same {
                return error(
                    StatusCode::CONFLICT,
                    "a different narinfo is stored for this item",
                    None,
                );
            }
            return respond(StatusCode::OK, "text/plain", Bytes::new(), false);
        }
        Err(e) => return bad(&format!("cannot store the narinfo: {e}")),
    }
    state.hot.put(&key, Bytes::from(narinfo.text().to_string()));
    tracing::info!(path = narinfo.store_path(), "narinfo uploaded");
    respond(StatusCode::OK, "text/plain", Bytes::new(), false)
}
