//! Request routing and the small read handlers. Every response carries a
//! Content-Length (hyper writes it from the body's exact size, and from the
//! explicit header for HEAD).

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use super::body::Body;
use super::metrics::{Gauges, Route};
use super::State;
use crate::changes::item_key;

pub(super) const NARINFO_TYPE: &str = "application/x-nix-narinfo";
const TEXT_TYPE: &str = "text/plain; charset=utf-8";

/// Answers one request and counts it.
pub(super) async fn handle(state: &Arc<State>, req: Request<Incoming>) -> Response<Body> {
    let start = Instant::now();
    let (route, resp) = dispatch(state, req).await;
    state
        .metrics
        .record(route, resp.status().as_u16(), start.elapsed());
    resp
}

async fn dispatch(state: &Arc<State>, req: Request<Incoming>) -> (Route, Response<Body>) {
    let head = req.method() == Method::HEAD;
    let read = head || req.method() == Method::GET;
    // The hot path first, without copying the path: narinfo reads.
    if read {
        if let Some(name) = narinfo_name(req.uri().path()) {
            return (Route::Narinfo, narinfo(state, name, head).await);
        }
    }
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    if path == "/nix-cache-info" {
        let r = match method {
            _ if read => respond(
                StatusCode::OK,
                "text/x-nix-cache-info",
                state.cache_info.clone(),
                head,
            ),
            Method::PUT => super::upload::put_cache_info(state, req).await,
            _ => not_allowed("GET, HEAD, PUT"),
        };
        return (Route::CacheInfo, r);
    }
    if let Some(name) = narinfo_name(&path) {
        return match method {
            _ if read => (Route::Narinfo, narinfo(state, name, head).await),
            Method::PUT => (
                Route::UploadNarinfo,
                super::upload::put_narinfo(state, req, name).await,
            ),
            _ => (Route::Narinfo, not_allowed("GET, HEAD, PUT")),
        };
    }
    if path.starts_with("/nar/") {
        return match method {
            _ if read => (
                Route::Nar,
                super::nar::serve(state, &req, &path, head).await,
            ),
            Method::PUT => (
                Route::UploadNar,
                super::upload::put_nar(state, req, &path).await,
            ),
            _ => (Route::Nar, not_allowed("GET, HEAD, PUT")),
        };
    }
    if let Some(rest) = path.strip_prefix("/file/") {
        return match method {
            _ if read => (
                Route::File,
                super::files::serve(state, &req, rest, head).await,
            ),
            _ => (Route::File, not_allowed("GET, HEAD")),
        };
    }
    if let Some(base) = path.strip_prefix("/log/") {
        return match method {
            _ if read => (
                Route::Log,
                super::logs::serve(state, &req, base, head).await,
            ),
            Method::PUT => (Route::Log, super::logs::put(state, req, base).await),
            _ => (Route::Log, not_allowed("GET, HEAD, PUT")),
        };
    }
    if path == "/metrics" {
        return match method {
            _ if read => (Route::Metrics, metrics(state, head).await),
            _ => (Route::Metrics, not_allowed("GET, HEAD")),
        };
    }
    if path == "/" && read {
        return (Route::Other, super::status::serve(state, head).await);
    }
    if path.starts_with("/admin/") || path == "/admin" {
        return (Route::Admin, super::admin::handle(state, req, &path).await);
    }
    (
        Route::Other,
        error(StatusCode::NOT_FOUND, "not found", None),
    )
}

/// `<name>` of `/<name>.narinfo`.
fn narinfo_name(path: &str) -> Option<&str> {
    path.strip_prefix('/')
        .and_then(|p| p.strip_suffix(".narinfo"))
        .filter(|n| !n.contains('/'))
}

async fn narinfo(state: &State, name: &str, head: bool) -> Response<Body> {
    let key = item_key(name);
    let found = match &key {
        Some(k) => state.hot.get_key(k).await,
        None => Ok(None),
    };
    match found {
        Ok(Some(text)) => {
            if let Some(k) = &key {
                state.analytics.narinfo_hit(k);
            }
            let mut r = respond(StatusCode::OK, NARINFO_TYPE, text, head);
            r.headers_mut()
                .insert(header::CACHE_CONTROL, state.hit_cache_control.clone());
            r
        }
        Ok(None) => {
            state.analytics.narinfo_miss(key.as_ref());
            let mut r = respond(
                StatusCode::NOT_FOUND,
                TEXT_TYPE,
                Bytes::from_static(b"404 narinfo not found\n"),
                head,
            );
            r.headers_mut()
                .insert(header::CACHE_CONTROL, state.miss_cache_control.clone());
            r
        }
        Err(e) => {
            tracing::error!("looking up {name}.narinfo: {e}");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database is not answering",
                None,
            )
        }
    }
}

async fn metrics(state: &State, head: bool) -> Response<Body> {
    let stats = &state.hot.stats;
    use std::sync::atomic::Ordering::Relaxed;
    let database_bytes = match database_bytes(&state.store).await {
        Ok(b) => u64::try_from(b).ok(),
        Err(e) => {
            tracing::warn!("metrics: {e}");
            None
        }
    };
    let lag = state
        .analytics
        .last_flush()
        .map(|t| (crate::changes::now_secs() - t).max(0) as f64);
    let g = Gauges {
        narinfos: state.hot.narinfo_count() as u64,
        database_bytes,
        cache_hits: stats.cache_hits.load(Relaxed),
        memory_misses: stats.memory_misses.load(Relaxed),
        cache_loads: stats.loads.load(Relaxed),
        cache_load_batches: stats.load_batches.load(Relaxed),
        cache_bytes: state.hot.cache_bytes(),
        analytics_flush_lag: lag.or(Some(state.started.elapsed().as_secs_f64())),
        changes_applied: stats.changes_applied.load(Relaxed),
    };
    respond(
        StatusCode::OK,
        "text/plain; version=0.0.4; charset=utf-8",
        state.metrics.render(&g),
        head,
    )
}

/// The database size, cheaply (no table scans: `/metrics` is scraped often).
async fn database_bytes(store: &crate::store::Store) -> crate::Result<i64> {
    use crate::store::Backend;
    Ok(match store.backend() {
        Backend::Sqlite(pool) => sqlx::query_scalar(
            "SELECT p.page_count * s.page_size FROM pragma_page_count() p, pragma_page_size() s",
        )
        .fetch_one(pool)
        .await?,
        Backend::Postgres(pool) => {
            sqlx::query_scalar("SELECT pg_database_size(current_database())")
                .fetch_one(pool)
                .await?
        }
    })
}

/// A response with `body` (or, for HEAD, its length only).
pub(super) fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
    head: bool,
) -> Response<Body> {
    let body: Bytes = body.into();
    let len = body.len();
    let mut r = Response::new(if head {
        Body::empty()
    } else {
        Body::bytes(body)
    });
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    r
}

/// A plain-text error: `message` and a newline.
pub(super) fn error(
    status: StatusCode,
    message: &str,
    extra: Option<(header::HeaderName, HeaderValue)>,
) -> Response<Body> {
    let mut r = respond(status, TEXT_TYPE, format!("{message}\n"), false);
    if let Some((k, v)) = extra {
        r.headers_mut().insert(k, v);
    }
    r
}

fn not_allowed(allow: &'static str) -> Response<Body> {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed",
        Some((header::ALLOW, HeaderValue::from_static(allow))),
    )
}
