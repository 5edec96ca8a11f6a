//! The admin API: JSON over HTTP, token required (as every write).
//!
//! ```text
//! GET    /admin/stats[?days=N&top=N]  counts and request analytics
//! GET    /admin/roots                 every root with its items
//! PUT    /admin/roots/<name>          replace a root: {"items": [...], "expires_at": T?}
//! POST   /admin/roots/<name>          add items to a root (same body)
//! DELETE /admin/roots/<name>          remove a root
//! POST   /admin/gc                    start a GC job: {"dry_run", "grace", "max_delete",
//!                                     "batch_size", "force"} (all optional) -> 202 {"id"}
//! GET    /admin/gc/<id>               the job's state, progress and report
//! ```
//!
//! Items are store paths, base names or hash parts. `expires_at` is seconds
//! since the epoch; `grace` a duration such as `6h`. One GC job runs at a
//! time (a second one gets 409).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use super::body::Body;
use super::routes::respond;
use super::upload::{authorize, read_limited};
use super::State;
use crate::gc::{GcOptions, GcProgress, GcReport};

/// A garbage collection started through the API.
#[derive(Debug, Clone)]
pub struct GcJob {
    /// `running`, `done` or `failed`.
    pub state: &'static str,
    /// The latest progress.
    pub progress: Option<GcProgress>,
    /// The report, once done.
    pub report: Option<GcReport>,
    /// The error, if failed.
    pub error: Option<String>,
}

/// The GC jobs of this server.
#[derive(Debug, Default)]
pub struct GcJobs {
    next: std::sync::atomic::AtomicU64,
    jobs: Mutex<HashMap<u64, Arc<Mutex<GcJob>>>>,
}

fn json_response(status: StatusCode, value: Value) -> Response<Body> {
    let mut text = value.to_string();
    text.push('\n');
    respond(status, "application/json", text, false)
}

fn fail(status: StatusCode, message: impl std::fmt::Display) -> Response<Body> {
    json_response(status, json!({ "error": message.to_string() }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RootBody {
    items: Vec<String>,
    expires_at: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct GcBody {
    dry_run: Option<bool>,
    grace: Option<String>,
    max_delete: Option<u64>,
    batch_size: Option<usize>,
    force: Option<bool>,
}

/// Parses a JSON body of at most 16 MiB.
async fn json_body<T: serde::de::DeserializeOwned>(
    state: &State,
    req: Request<Incoming>,
) -> std::result::Result<Option<T>, Response<Body>> {
    let bytes = read_limited(req.into_body(), 16 << 20, state.config.read_timeout).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| fail(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))
}

fn report_json(r: &GcReport) -> Value {
    json!({
        "live": r.live, "dead": r.dead, "deleted": r.deleted,
        "nar_files_deleted": r.nar_files_deleted, "bytes_freed": r.bytes_freed,
        "nar_bytes_freed": r.nar_bytes_freed, "files_removed": r.files_removed,
        "logs_removed": r.logs_removed, "kept": r.kept, "elapsed_seconds": r.elapsed.as_secs_f64(),
        "dry_run": r.dry_run, "sample": r.sample,
    })
}

fn job_json(id: u64, j: &GcJob) -> Value {
    json!({
        "id": id,
        "state": j.state,
        "progress": j.progress.map(|p| json!({
            "dead": p.dead, "deleted": p.deleted, "batches": p.batches,
            "files_removed": p.files_removed })),
        "report": j.report.as_ref().map(report_json),
        "error": j.error,
    })
}

/// Answers `/admin/…`.
pub(super) async fn handle(
    state: &Arc<State>,
    req: Request<Incoming>,
    path: &str,
) -> Response<Body> {
    if let Err(r) = authorize(state, &req) {
        return r;
    }
    let method = req.method().clone();
    if path == "/admin/stats" && method == Method::GET {
        return stats(state, req.uri().query().unwrap_or("")).await;
    }
    if path == "/admin/roots" && method == Method::GET {
        return match crate::roots::list_roots(&state.store).await {
            Ok(roots) => json_response(
                StatusCode::OK,
                json!(roots
                    .iter()
                    .map(|r| json!({
                        "name": r.name, "expires_at": r.expires_at, "updated_at": r.updated_at,
                        "items": r.items.iter().map(|i| json!({
                            "hash": i.hash, "store_path": i.store_path })).collect::<Vec<_>>(),
                    }))
                    .collect::<Vec<_>>()),
            ),
            Err(e) => fail(StatusCode::SERVICE_UNAVAILABLE, e),
        };
    }
    if let Some(name) = path.strip_prefix("/admin/roots/") {
        return root(state, req, method, name).await;
    }
    if path == "/admin/gc" && method == Method::POST {
        return start_gc(state, req).await;
    }
    if let Some(id) = path.strip_prefix("/admin/gc/") {
        if method != Method::GET {
            return fail(StatusCode::METHOD_NOT_ALLOWED, "use GET");
        }
        let Ok(id) = id.parse::<u64>() else {
            return fail(StatusCode::NOT_FOUND, format!("no GC job {id:?}"));
        };
        let job = state
            .gc_jobs
            .jobs
            .lock()
            .ok()
            .and_then(|j| j.get(&id).cloned());
        return match job {
            Some(j) => {
                let j = j
                    .lock()
                    .map(|g| g.clone())
                    .unwrap_or_else(|p| p.into_inner().clone());
                json_response(StatusCode::OK, job_json(id, &j))
            }
            None => fail(StatusCode::NOT_FOUND, format!("no GC job {id}")),
        };
    }
    fail(
        StatusCode::NOT_FOUND,
        format!("no admin endpoint {method} {path}"),
    )
}

async fn stats(state: &State, query: &str) -> Response<Body> {
    let param = |name: &str| -> Option<u32> {
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| v.parse().ok())
    };
    let days = param("days").unwrap_or(7);
    let top = param("top").unwrap_or(20).min(1000);
    let counts = state.store.counts().await;
    let report = crate::analytics::report(&state.store, days, top).await;
    match (counts, report) {
        (Ok(c), Ok(r)) => json_response(
            StatusCode::OK,
            json!({
                "narinfos": c.narinfos,
                "nar_files": c.nar_files,
                "database_bytes": c.database_bytes,
                "days": r.days,
                "narinfo_hits": r.totals.narinfo_hits,
                "narinfo_misses": r.totals.narinfo_misses,
                "nar_downloads": r.totals.nar_downloads,
                "top_items": r.top_items.iter().map(|i| json!({
                    "hash": i.hash, "narinfo_hits": i.narinfo_hits,
                    "nar_downloads": i.nar_downloads})).collect::<Vec<_>>(),
                "top_missed": r.top_missed.iter().map(|m| json!({
                    "hash": m.hash, "misses": m.misses})).collect::<Vec<_>>(),
                "never_requested": r.never_requested,
            }),
        ),
        (Err(e), _) | (_, Err(e)) => fail(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}

async fn root(state: &State, req: Request<Incoming>, method: Method, name: &str) -> Response<Body> {
    if let Err(e) = crate::roots::check_root_name(name) {
        return fail(StatusCode::BAD_REQUEST, e);
    }
    if method == Method::DELETE {
        return match crate::roots::remove_root(&state.store, name).await {
            Ok(true) => json_response(StatusCode::OK, json!({ "removed": name })),
            Ok(false) => fail(StatusCode::NOT_FOUND, format!("no root {name:?}")),
            Err(e) => fail(StatusCode::SERVICE_UNAVAILABLE, e),
        };
    }
    if method != Method::PUT && method != Method::POST {
        return fail(StatusCode::METHOD_NOT_ALLOWED, "use PUT, POST or DELETE");
    }
    let body: RootBody = match json_body(state, req).await {
        Ok(Some(b)) => b,
        Ok(None) => {
            return fail(
                StatusCode::BAD_REQUEST,
                "a JSON body {\"items\": [...]} is required",
            )
        }
        Err(r) => return r,
    };
    let mut items = Vec::with_capacity(body.items.len());
    for spec in &body.items {
        match crate::roots::parse_item(spec, state.store.store_dir()) {
            Ok(h) => items.push(h),
            Err(e) => return fail(StatusCode::BAD_REQUEST, e),
        }
    }
    let result = if method == Method::PUT {
        crate::roots::set_root(&state.store, name, &items, body.expires_at).await
    } else {
        crate::roots::add_root(&state.store, name, &items, body.expires_at).await
    };
    match result {
        Ok(()) => json_response(
            StatusCode::OK,
            json!({ "root": name, "items": items.len() }),
        ),
        Err(e @ crate::Error::InvalidArgument(_)) => fail(StatusCode::BAD_REQUEST, e),
        Err(e) => fail(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}

async fn start_gc(state: &Arc<State>, req: Request<Incoming>) -> Response<Body> {
    let body: GcBody = match json_body(state, req).await {
        Ok(b) => b.unwrap_or_default(),
        Err(r) => return r,
    };
    let mut options = GcOptions {
        storage: state.config.storage.clone(),
        ..GcOptions::default()
    };
    if let Some(d) = body.dry_run {
        options.dry_run = d;
    }
    if let Some(g) = &body.grace {
        match crate::duration::parse_duration(g) {
            Ok(g) => options.grace = g,
            Err(e) => return fail(StatusCode::BAD_REQUEST, e),
        }
    }
    options.max_delete = body.max_delete;
    if let Some(b) = body.batch_size {
        options.batch_size = b.max(1);
    }
    options.force = body.force.unwrap_or(false);
    let jobs = &state.gc_jobs;
    let job = Arc::new(Mutex::new(GcJob {
        state: "running",
        progress: None,
        report: None,
        error: None,
    }));
    let id = {
        let Ok(mut map) = jobs.jobs.lock() else {
            return fail(StatusCode::INTERNAL_SERVER_ERROR, "GC job table poisoned");
        };
        if map
            .values()
            .any(|j| j.lock().map(|g| g.state == "running").unwrap_or(false))
        {
            return fail(StatusCode::CONFLICT, "a GC job is already running");
        }
        let id = jobs.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        map.insert(id, job.clone());
        id
    };
    let store = state.store.clone();
    tokio::spawn(async move {
        let progress_job = job.clone();
        let mut progress = move |p: &GcProgress| {
            if let Ok(mut g) = progress_job.lock() {
                g.progress = Some(*p);
            }
        };
        let result = crate::gc::collect_garbage(&store, &options, &mut progress).await;
        if let Ok(mut g) = job.lock() {
            match result {
                Ok(report) => {
                    tracing::info!(deleted = report.deleted, "GC job {id} done");
                    g.state = "done";
                    g.report = Some(report);
                }
                Err(e) => {
                    tracing::warn!("GC job {id} failed: {e}");
                    g.state = "failed";
                    g.error = Some(e.to_string());
                }
            }
        }
    });
    json_response(
        StatusCode::ACCEPTED,
        json!({ "id": id, "state": "running" }),
    )
}
