//! Nar files: streamed from the storage directory for the URLs that stored
//! narinfos name, and only those, with Content-Length, single-range
//! requests (206, 416) and HEAD. nix-serve's legacy URLs
//! (`nar/<hash>-<narhash>.nar`) get the uncompressed nar of that item,
//! decompressed on the fly when only compressed files are stored. The status is decided — the file found,
//! opened and measured — before the first body byte.

use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};

use std::path::PathBuf;

use super::body::Body;
use super::routes::error;
use super::State;
use crate::changes::{item_key, ItemKey};
use crate::compression::Compression;
use crate::narinfo::Narinfo;
use crate::storage::url_to_relative;
use crate::store::Backend;

const NAR_TYPE: &str = "application/x-nix-nar";

/// What a `Range` header asks for, given the file length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// No (usable) range: the whole file.
    Whole,
    /// Bytes `start..=end`.
    Part {
        /// First byte.
        start: u64,
        /// Last byte (inclusive).
        end: u64,
    },
    /// Cannot be satisfied (416).
    Unsatisfiable,
}

/// Interprets a `Range` header value for a file of `len` bytes. Only one
/// `bytes=` range is honoured; anything else (several ranges, other units,
/// garbage) is ignored, as RFC 9110 allows, and the whole file is sent.
pub fn parse_range(value: &str, len: u64) -> RangeRequest {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeRequest::Whole;
    };
    if spec.contains(',') {
        return RangeRequest::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeRequest::Whole;
    };
    let (a, b) = (a.trim(), b.trim());
    let num = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (a.is_empty(), num(a), num(b)) {
        // bytes=-N: the last N bytes.
        (true, _, Some(n)) => {
            if n == 0 || len == 0 {
                RangeRequest::Unsatisfiable
            } else {
                RangeRequest::Part {
                    start: len.saturating_sub(n),
                    end: len - 1,
                }
            }
        }
        (false, Some(start), end) if b.is_empty() || end.is_some() => {
            if start >= len {
                return RangeRequest::Unsatisfiable;
            }
            let end = end.map_or(len - 1, |e| e.min(len - 1));
            if end < start {
                RangeRequest::Whole
            } else {
                RangeRequest::Part { start, end }
            }
        }
        _ => RangeRequest::Whole,
    }
}

/// The item whose narinfo names the nar URL `path` (normalised `rel`).
async fn named_by(state: &State, path: &str, rel: &str) -> crate::Result<Option<ItemKey>> {
    // Guix: nar/<compression>/<hash>-<name>: ask the hot path.
    if let Some(last) = rel.rsplit('/').next() {
        if let Some(key) = last
            .get(..32)
            .filter(|_| last.as_bytes().get(32) == Some(&b'-'))
            .and_then(item_key)
        {
            if let Some(text) = state.hot.get_key(&key).await? {
                let names_it = std::str::from_utf8(&text).ok().is_some_and(|t| {
                    t.lines()
                        .filter_map(|l| l.strip_prefix("URL:"))
                        .any(|u| url_to_relative(u.trim()).is_ok_and(|r| r == rel))
                });
                if names_it {
                    return Ok(Some(key));
                }
            }
        }
    }
    // Nix (nar/<filehash>.nar.<ext>) and anything else: the URL index.
    const SQL: &str = "SELECT i.hash FROM nar_files f JOIN narinfos n ON n.id = f.narinfo_id \
         JOIN items i ON i.id = n.item_id WHERE f.url IN ($1, $2, $3) LIMIT 1";
    let slash = format!("/{rel}");
    let row: Option<Vec<u8>> = match state.store.backend() {
        Backend::Sqlite(pool) => {
            sqlx::query_scalar(SQL)
                .bind(rel)
                .bind(&slash)
                .bind(path)
                .fetch_optional(pool)
                .await?
        }
        Backend::Postgres(pool) => {
            sqlx::query_scalar(SQL)
                .bind(rel)
                .bind(&slash)
                .bind(path)
                .fetch_optional(pool)
                .await?
        }
    };
    Ok(row.and_then(|k| ItemKey::try_from(k.as_slice()).ok()))
}

/// `GET`/`HEAD /nar/…`.
pub(super) async fn serve<B>(
    state: &State,
    req: &Request<B>,
    path: &str,
    head: bool,
) -> Response<Body> {
    let Some(storage) = &state.storage else {
        return error(
            StatusCode::NOT_FOUND,
            "this server keeps no nar files",
            None,
        );
    };
    let rel = match url_to_relative(path) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string(), None),
    };
    let key = match named_by(state, path, &rel).await {
        Ok(Some(k)) => k,
        Ok(None) => {
            return match legacy(state, storage, req, &rel, head).await {
                Some(r) => r,
                None => error(StatusCode::NOT_FOUND, "no narinfo names this nar", None),
            }
        }
        Err(e) => {
            tracing::error!("looking up the narinfo of {rel}: {e}");
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database is not answering",
                None,
            );
        }
    };
    let file_path = match storage.existing(&rel) {
        Ok(Some(p)) => {
            if let Some(up) = &state.upstream {
                up.touch(&rel);
            }
            p
        }
        Ok(None) => {
            let Some(up) = &state.upstream else {
                return error(StatusCode::NOT_FOUND, "nar file not found", None);
            };
            // Fetch it; a whole GET is streamed while it is stored.
            let whole = !head && !req.headers().contains_key(header::RANGE);
            match up.missing(state, &rel, &key, whole).await {
                super::upstream::Missing::Respond(r) => return *r,
                super::upstream::Missing::Stored(p) => p,
            }
        }
        Err(e) => {
            tracing::warn!("refusing nar {rel}: {e}");
            return error(StatusCode::NOT_FOUND, "nar file not found", None);
        }
    };
    let len = match tokio::fs::metadata(&file_path).await {
        Ok(m) => m.len(),
        Err(e) => {
            tracing::warn!("{}: {e}", file_path.display());
            return error(StatusCode::NOT_FOUND, "nar file not found", None);
        }
    };
    let source = Source::File {
        path: file_path,
        offset: 0,
    };
    ranged(req, source, len, NAR_TYPE, head, || {
        state.analytics.nar_download(Some(&key))
    })
    .await
}

/// Where the bytes of a ranged response come from.
pub(super) enum Source {
    /// The file at `path`, from byte `offset` on.
    File {
        /// The file.
        path: PathBuf,
        /// Where the content starts.
        offset: u64,
    },
    /// The file at `path` decompressed, from decompressed byte `offset` on.
    Decoded {
        /// The compressed file.
        path: PathBuf,
        /// Its compression.
        compression: Compression,
        /// Where the content starts in the decompressed bytes.
        offset: u64,
    },
}

/// A response with `len` bytes of `source`, or the single range of them
/// that the request's `Range` header asks for (206, or 416), with
/// Content-Length, Accept-Ranges and, for HEAD, no body. The file is
/// opened before the status is chosen. `first_byte` runs when a body that
/// starts at the first byte is sent (a download, for analytics).
pub(super) async fn ranged<B>(
    req: &Request<B>,
    source: Source,
    len: u64,
    content_type: &'static str,
    head: bool,
    first_byte: impl FnOnce(),
) -> Response<Body> {
    let range = req
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map_or(RangeRequest::Whole, |v| parse_range(v, len));
    let (status, start, count) = match range {
        RangeRequest::Whole => (StatusCode::OK, 0, len),
        RangeRequest::Part { start, end } => (StatusCode::PARTIAL_CONTENT, start, end - start + 1),
        RangeRequest::Unsatisfiable => {
            return error(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range not satisfiable",
                HeaderValue::from_str(&format!("bytes */{len}"))
                    .ok()
                    .map(|v| (header::CONTENT_RANGE, v)),
            );
        }
    };
    let body = if head {
        Ok(Body::empty())
    } else {
        match source {
            Source::File { path, offset } => match tokio::fs::File::open(&path).await {
                Ok(file) => Body::file_range(file, offset + start, count)
                    .await
                    .map_err(|e| (path, e)),
                Err(e) => Err((path, e)),
            },
            Source::Decoded {
                path,
                compression,
                offset,
            } => {
                let p = path.clone();
                let opened = tokio::task::spawn_blocking(move || {
                    std::fs::File::open(&p).and_then(|f| compression.decoder(f))
                })
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e)));
                match opened {
                    Ok(reader) => Ok(Body::reader(reader, offset + start, count)),
                    Err(e) => Err((path, e)),
                }
            }
        }
    };
    let body = match body {
        Ok(b) => b,
        Err((path, e)) => {
            tracing::error!("{}: {e}", path.display());
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot read the file",
                None,
            );
        }
    };
    if !head && start == 0 {
        first_byte();
    }
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if status == StatusCode::PARTIAL_CONTENT {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{len}", start + count - 1))
        {
            h.insert(header::CONTENT_RANGE, v);
        }
    }
    r
}

/// The item and NarHash (nix32) of nix-serve's legacy nar URL
/// `nar/<hash>-<narhash>.nar`.
fn legacy_url(rel: &str) -> Option<(ItemKey, &str)> {
    let base = rel.strip_prefix("nar/")?.strip_suffix(".nar")?;
    let (hash, nar_hash) = base.split_once('-')?;
    if nar_hash.len() != 52 || !nar_hash.bytes().all(crate::nix32::is_nix32_char) {
        return None;
    }
    Some((item_key(hash)?, nar_hash))
}

/// nix-serve's legacy `nar/<hash>-<narhash>.nar`, for an item whose
/// narinfo names other URLs: the uncompressed nar, from an uncompressed
/// file or decompressed on the fly, if the NarHash matches. `None` when the
/// URL is not of that form or no such nar is stored.
async fn legacy<B>(
    state: &State,
    storage: &crate::storage::NarStorage,
    req: &Request<B>,
    rel: &str,
    head: bool,
) -> Option<Response<Body>> {
    let (key, nar_hash) = legacy_url(rel)?;
    let text = state.hot.get_key(&key).await.ok()??;
    let narinfo =
        Narinfo::parse_in(std::str::from_utf8(&text).ok()?, state.store.store_dir()).ok()?;
    if narinfo.nar_hash_nix32().strip_prefix("sha256:") != Some(nar_hash) {
        return None;
    }
    let source = narinfo_source(storage, &narinfo, 0)?;
    Some(
        ranged(req, source, narinfo.nar_size(), NAR_TYPE, head, || {
            state.analytics.nar_download(Some(&key))
        })
        .await,
    )
}

/// The best stored file of `narinfo`'s nar as a [`Source`] of the
/// uncompressed nar (from byte `offset`): an uncompressed file if there
/// is one, else the first whose compression can be decoded.
pub(super) fn narinfo_source(
    storage: &crate::storage::NarStorage,
    narinfo: &Narinfo,
    offset: u64,
) -> Option<Source> {
    let mut best: Option<Source> = None;
    for f in narinfo.files() {
        let Ok(compression) = Compression::parse(f.compression.as_deref()) else {
            continue;
        };
        let Ok(Some(path)) = url_to_relative(&f.url).and_then(|r| storage.existing(&r)) else {
            continue;
        };
        if compression == Compression::None {
            return Some(Source::File { path, offset });
        }
        if best.is_none() {
            best = Some(Source::Decoded {
                path,
                compression,
                offset,
            });
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use RangeRequest::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Part { start: 0, end: 9 });
        assert_eq!(parse_range("bytes=90-", 100), Part { start: 90, end: 99 });
        assert_eq!(parse_range("bytes=-10", 100), Part { start: 90, end: 99 });
        assert_eq!(parse_range("bytes=-1000", 100), Part { start: 0, end: 99 });
        assert_eq!(
            parse_range("bytes=50-1000", 100),
            Part { start: 50, end: 99 }
        );
        assert_eq!(parse_range("bytes=100-", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Whole);
        assert_eq!(parse_range("items=0-1", 100), Whole);
        assert_eq!(parse_range("bytes=9-3", 100), Whole);
        assert_eq!(parse_range("bytes=x-3", 100), Whole);
        assert_eq!(parse_range("bytes=0-", 0), Unsatisfiable);
    }
}
