//! Request metrics in the Prometheus text format (`GET /metrics`).
//!
//! Counting is a few relaxed atomic increments per request: a fixed table
//! of routes × status codes and one latency histogram per route.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// The routes requests are counted under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `/nix-cache-info`.
    CacheInfo,
    /// `GET`/`HEAD /<hash>.narinfo`.
    Narinfo,
    /// Nar files.
    Nar,
    /// `PUT /<hash>.narinfo`.
    UploadNarinfo,
    /// `PUT /nar/…`.
    UploadNar,
    /// `/admin/…`.
    Admin,
    /// `/metrics`.
    Metrics,
    /// `/file/…` (content-addressed files).
    File,
    /// `/log/…` (build logs, read and upload).
    Log,
    /// Anything else.
    Other,
}

const ROUTES: [(Route, &str); 10] = [
    (Route::CacheInfo, "nix-cache-info"),
    (Route::Narinfo, "narinfo"),
    (Route::Nar, "nar"),
    (Route::UploadNarinfo, "upload-narinfo"),
    (Route::UploadNar, "upload-nar"),
    (Route::Admin, "admin"),
    (Route::Metrics, "metrics"),
    (Route::File, "file"),
    (Route::Log, "log"),
    (Route::Other, "other"),
];

const STATUSES: [u16; 18] = [
    100, 200, 201, 204, 206, 400, 401, 403, 404, 405, 409, 411, 413, 415, 416, 500, 503, 0,
];

/// Latency bucket upper bounds in seconds.
const BUCKETS: [f64; 12] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.05, 0.25, 1.0, 5.0,
];

struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_ns: AtomicU64,
}

impl Histogram {
    fn new() -> Histogram {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_ns: AtomicU64::new(0),
        }
    }
}

/// The server's counters.
pub struct Metrics {
    requests: Vec<[AtomicU64; STATUSES.len()]>,
    latency: Vec<Histogram>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

fn route_index(r: Route) -> usize {
    ROUTES
        .iter()
        .position(|(x, _)| *x == r)
        .unwrap_or(ROUTES.len() - 1)
}

fn status_index(s: u16) -> usize {
    STATUSES
        .iter()
        .position(|&x| x == s)
        .unwrap_or(STATUSES.len() - 1)
}

/// Extra gauges shown by [`Metrics::render`].
#[derive(Debug, Clone, Default)]
pub struct Gauges {
    /// Stored narinfos.
    pub narinfos: u64,
    /// Database size in bytes, if known.
    pub database_bytes: Option<u64>,
    /// Narinfo lookups answered from the text cache.
    pub cache_hits: u64,
    /// Narinfo lookups answered "absent" from memory.
    pub memory_misses: u64,
    /// Narinfo lookups that went to the database.
    pub cache_loads: u64,
    /// Database round trips for those.
    pub cache_load_batches: u64,
    /// Bytes in the text cache.
    pub cache_bytes: u64,
    /// Seconds since the last analytics flush, if one happened.
    pub analytics_flush_lag: Option<f64>,
    /// Changes applied from the change feed.
    pub changes_applied: u64,
}

impl Metrics {
    /// Zeroed counters.
    pub fn new() -> Metrics {
        Metrics {
            requests: ROUTES
                .iter()
                .map(|_| std::array::from_fn(|_| AtomicU64::new(0)))
                .collect(),
            latency: ROUTES.iter().map(|_| Histogram::new()).collect(),
        }
    }

    /// Counts one request.
    pub fn record(&self, route: Route, status: u16, elapsed: std::time::Duration) {
        let r = route_index(route);
        if let Some(row) = self.requests.get(r) {
            row[status_index(status)].fetch_add(1, Ordering::Relaxed);
        }
        if let Some(h) = self.latency.get(r) {
            let secs = elapsed.as_secs_f64();
            if let Some(i) = BUCKETS.iter().position(|&b| secs <= b) {
                h.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
            h.count.fetch_add(1, Ordering::Relaxed);
            h.sum_ns.fetch_add(
                u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
        }
    }

    /// How many requests of `route` got `status` so far.
    pub fn count(&self, route: Route, status: u16) -> u64 {
        self.requests
            .get(route_index(route))
            .map_or(0, |row| row[status_index(status)].load(Ordering::Relaxed))
    }

    /// The Prometheus text exposition of everything.
    pub fn render(&self, g: &Gauges) -> String {
        let mut s = String::with_capacity(8192);
        s.push_str("# HELP narherder_http_requests_total HTTP requests by route and status.\n");
        s.push_str("# TYPE narherder_http_requests_total counter\n");
        for (ri, (_, name)) in ROUTES.iter().enumerate() {
            for (si, status) in STATUSES.iter().enumerate() {
                let n = self.requests[ri][si].load(Ordering::Relaxed);
                if n > 0 {
                    let status = if *status == 0 {
                        "other".to_string()
                    } else {
                        status.to_string()
                    };
                    let _ = writeln!(
                        s,
                        "narherder_http_requests_total{{route=\"{name}\",status=\"{status}\"}} {n}"
                    );
                }
            }
        }
        s.push_str(
            "# HELP narherder_http_request_duration_seconds Time to produce the response head.\n",
        );
        s.push_str("# TYPE narherder_http_request_duration_seconds histogram\n");
        for (ri, (_, name)) in ROUTES.iter().enumerate() {
            let h = &self.latency[ri];
            let count = h.count.load(Ordering::Relaxed);
            if count == 0 {
                continue;
            }
            let mut cumulative = 0;
            for (bi, b) in BUCKETS.iter().enumerate() {
                cumulative += h.buckets[bi].load(Ordering::Relaxed);
                let _ = writeln!(
                    s,
                    "narherder_http_request_duration_seconds_bucket{{route=\"{name}\",le=\"{b}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                s,
                "narherder_http_request_duration_seconds_bucket{{route=\"{name}\",le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                s,
                "narherder_http_request_duration_seconds_sum{{route=\"{name}\"}} {}",
                h.sum_ns.load(Ordering::Relaxed) as f64 / 1e9
            );
            let _ = writeln!(
                s,
                "narherder_http_request_duration_seconds_count{{route=\"{name}\"}} {count}"
            );
        }
        let mut gauge = |name: &str, kind: &str, help: &str, v: String| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}");
        };
        gauge(
            "narherder_narinfos",
            "gauge",
            "Stored narinfos.",
            g.narinfos.to_string(),
        );
        if let Some(b) = g.database_bytes {
            gauge(
                "narherder_database_bytes",
                "gauge",
                "Size of the database.",
                b.to_string(),
            );
        }
        gauge(
            "narherder_cache_hits_total",
            "counter",
            "Narinfo lookups answered from the in-memory text cache.",
            g.cache_hits.to_string(),
        );
        gauge(
            "narherder_cache_memory_misses_total",
            "counter",
            "Narinfo lookups answered as absent without the database.",
            g.memory_misses.to_string(),
        );
        gauge(
            "narherder_cache_loads_total",
            "counter",
            "Narinfo lookups that went to the database.",
            g.cache_loads.to_string(),
        );
        gauge(
            "narherder_cache_load_batches_total",
            "counter",
            "Database round trips made for those lookups.",
            g.cache_load_batches.to_string(),
        );
        gauge(
            "narherder_cache_bytes",
            "gauge",
            "Bytes held by the narinfo text cache.",
            g.cache_bytes.to_string(),
        );
        gauge(
            "narherder_changes_applied_total",
            "counter",
            "Change feed rows applied to the in-memory index.",
            g.changes_applied.to_string(),
        );
        if let Some(lag) = g.analytics_flush_lag {
            gauge(
                "narherder_analytics_flush_lag_seconds",
                "gauge",
                "Seconds since analytics were last written to the database.",
                format!("{lag}"),
            );
        }
        s
    }
}
