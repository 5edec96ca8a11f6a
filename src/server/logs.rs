//! Build logs: `GET`/`HEAD /log/<store-file-name>` as `guix publish`
//! serves them and `nix log` asks binary caches for them, and
//! `PUT /log/<store-file-name>` (with a token) as `nix store copy-log
//! --to http://…` uploads them.
//!
//! A log is kept as plain text at `<storage>/log/<store-file-name>`, where
//! the name is a store file name (`<hash>-<name>`, a derivation or an
//! output). An upload compressed with a `Content-Encoding` the server can
//! decode (xz, zstd, bzip2, gzip, lzip: Nix's `log-compression`) is stored
//! decompressed; it replaces an earlier log of the same name atomically.
//! Garbage collection removes the logs no narinfo needs any more
//! ([`crate::build_logs`]).

use std::io::Read;
use std::path::{Path, PathBuf};

use hyper::body::Incoming;
use hyper::header;
use hyper::{Request, Response, StatusCode};

use super::body::Body;
use super::nar::{ranged, Source};
use super::routes::{error, respond};
use super::State;
use crate::compression::Compression;

const LOG_TYPE: &str = "text/plain; charset=utf-8";

use crate::build_logs::LOG_DIR;

/// The log file for `base`, if `base` is a store file name and the server
/// has a storage directory.
fn log_path(state: &State, base: &str) -> Option<PathBuf> {
    let storage = state.storage.as_ref()?;
    crate::build_logs::is_log_name(base).then(|| storage.root().join(LOG_DIR).join(base))
}

/// `GET`/`HEAD /log/<base>`.
pub(super) async fn serve<B>(
    state: &State,
    req: &Request<B>,
    base: &str,
    head: bool,
) -> Response<Body> {
    let not_found = || error(StatusCode::NOT_FOUND, "no build log for that item", None);
    let Some(path) = log_path(state, base) else {
        return not_found();
    };
    let len = match tokio::fs::metadata(&path).await {
        Ok(m) if m.is_file() => m.len(),
        _ => return not_found(),
    };
    ranged(
        req,
        Source::File { path, offset: 0 },
        len,
        LOG_TYPE,
        head,
        || {},
    )
    .await
}

/// `PUT /log/<base>`.
pub(super) async fn put(state: &State, req: Request<Incoming>, base: &str) -> Response<Body> {
    if let Err(r) = super::upload::authorize(state, &req) {
        return r;
    }
    let (Some(path), Some(uploads)) = (log_path(state, base), &state.uploads) else {
        return error(
            StatusCode::BAD_REQUEST,
            &format!("/log/{base}: expected /log/<hash>-<name> on a server with --storage"),
            None,
        );
    };
    let encoding = req
        .headers()
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase());
    let compression = match encoding.as_deref() {
        None | Some("identity") => Compression::None,
        Some(e) => match Compression::parse(Some(e)) {
            Ok(c) => c,
            Err(_) => {
                return error(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    &format!(
                        "Content-Encoding {e:?}: expected identity, xz, zstd, bzip2, gzip or lzip"
                    ),
                    None,
                )
            }
        },
    };
    let limit = state.config.max_nar_bytes;
    let raw = uploads.temp_path();
    let received =
        super::upload::receive(req.into_body(), &raw, limit, state.config.read_timeout).await;
    if let Err(r) = received {
        let _ = tokio::fs::remove_file(&raw).await;
        return r;
    }
    let dest = path.clone();
    let tmp = uploads.temp_path();
    let stored = tokio::task::spawn_blocking(move || store(&raw, &tmp, &dest, compression, limit))
        .await
        .unwrap_or_else(|e| Err(format!("storing the log failed: {e}")));
    match stored {
        Ok(()) => {
            tracing::info!(log = base, "build log uploaded");
            respond(StatusCode::OK, "text/plain", bytes::Bytes::new(), false)
        }
        Err(why) => error(StatusCode::BAD_REQUEST, &why, None),
    }
}

/// Decodes `raw` into `tmp` (at most `limit` bytes) and renames it to
/// `dest`; removes both temporary files whatever happens.
fn store(
    raw: &Path,
    tmp: &Path,
    dest: &Path,
    compression: Compression,
    limit: u64,
) -> std::result::Result<(), String> {
    let result = (|| {
        let io = |e: std::io::Error| {
            tracing::error!("storing a log at {}: {e}", dest.display());
            "cannot store the log".to_string()
        };
        if compression == Compression::None {
            std::fs::rename(raw, tmp).map_err(io)?;
        } else {
            let file = std::fs::File::open(raw).map_err(io)?;
            let mut decoder = compression.decoder(file).map_err(io)?.take(limit + 1);
            let mut out = std::fs::File::create(tmp).map_err(io)?;
            let n = std::io::copy(&mut decoder, &mut out)
                .map_err(|e| format!("the log is not valid {} data: {e}", compression.name()))?;
            if n > limit {
                return Err(format!("the decompressed log is larger than {limit} bytes"));
            }
        }
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        std::fs::rename(tmp, dest).map_err(io)
    })();
    let _ = std::fs::remove_file(raw);
    let _ = std::fs::remove_file(tmp);
    result
}
