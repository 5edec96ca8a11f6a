//! The status page, `GET /`: the [`crate::status::Overview`] of the store
//! as one self-contained HTML document — inline CSS and SVG, no script, no
//! external asset, everything that comes from the database escaped.
//!
//! The overview reads small tables only; the rendered page is kept for
//! [`PAGE_TTL`] so that a crowd of dashboards costs one render.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::{Response, StatusCode};

use super::body::Body;
use super::plot::{line_plot, Series};
use super::routes::{error, respond};
use super::State;
use crate::duration::{format_duration, format_rfc3339};
use crate::size::format_size;
use crate::status::{overview, Overview, OverviewOptions};

/// How long a rendered page is served again before it is rendered anew.
pub const PAGE_TTL: Duration = Duration::from_secs(10);

const HTML_TYPE: &str = "text/html; charset=utf-8";

/// The last rendered page.
#[derive(Debug, Default)]
pub struct PageCache {
    page: tokio::sync::Mutex<Option<(Instant, Bytes)>>,
}

/// Escapes text for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Answers `GET /` (and `HEAD /`).
pub(super) async fn serve(state: &State, head: bool) -> Response<Body> {
    let mut cached = state.status_page.page.lock().await;
    if let Some((at, page)) = cached.as_ref() {
        if at.elapsed() < PAGE_TTL {
            return page_response(page.clone(), head);
        }
    }
    match overview(&state.store, &OverviewOptions::default()).await {
        Ok(o) => {
            let page = Bytes::from(render(&o, &state.config.node_name));
            *cached = Some((Instant::now(), page.clone()));
            page_response(page, head)
        }
        Err(e) => {
            tracing::error!("status page: {e}");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database is not answering",
                None,
            )
        }
    }
}

fn page_response(page: Bytes, head: bool) -> Response<Body> {
    let mut r = respond(StatusCode::OK, HTML_TYPE, page, head);
    r.headers_mut().insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-cache"),
    );
    r
}

fn date(t: i64) -> String {
    format_rfc3339(t).chars().take(10).collect()
}

fn when(t: i64) -> String {
    format_rfc3339(t).replace('T', " ").replace('Z', " UTC")
}

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em auto;max-width:60em;color:#222;\
background:#fff;padding:0 1em}h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;\
margin-top:1.6em;border-bottom:1px solid #ddd}table{border-collapse:collapse;margin:.4em 0}\
td,th{padding:.2em .8em;text-align:left;border-bottom:1px solid #eee}td.n,th.n{text-align:right;\
font-variant-numeric:tabular-nums}code{font-size:.9em}.muted{color:#777}.bad{color:#b00}\
.ok{color:#070}dl.totals{display:grid;grid-template-columns:max-content auto;gap:.2em 1.5em}\
dl.totals dt{color:#555}dl.totals dd{margin:0;font-weight:bold}svg.plot{max-width:100%;height:auto}\
svg .grid{stroke:#e4e4e4}svg .axis{stroke:#888}svg text{font-size:11px;fill:#444}";

/// Renders an overview as a complete HTML page; `node` names this server.
pub fn render(o: &Overview, node: &str) -> String {
    let mut h = String::with_capacity(16 * 1024);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>narherder — {node}</title><style>{STYLE}</style></head><body>\
         <h1>narherder</h1><p class=\"muted\">Node <b>{node}</b> serving <code>{dir}</code> \
         from {backend} · {at}</p>",
        node = escape(node),
        dir = escape(&o.store_dir),
        backend = if o.backend == "postgres" {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        at = when(o.generated_at),
    );
    store_section(&mut h, o);
    requests_section(&mut h, o);
    top_section(&mut h, o);
    gc_section(&mut h, o);
    roots_section(&mut h, o);
    replication_section(&mut h, o);
    h.push_str("</body></html>\n");
    h
}

fn store_section(h: &mut String, o: &Overview) {
    let t = &o.totals;
    let _ = write!(
        h,
        "<h2>Store</h2><dl class=\"totals\">\
         <dt>Narinfos</dt><dd id=\"narinfos\">{}</dd>\
         <dt>Nar files</dt><dd>{} ({})</dd>\
         <dt>Total NarSize</dt><dd>{}</dd>\
         <dt>Database</dt><dd>{}</dd>\
         <dt>Roots</dt><dd>{}</dd></dl>",
        t.narinfos,
        t.nar_files,
        format_size(t.file_size),
        format_size(t.nar_size),
        o.database_bytes
            .map(format_size)
            .unwrap_or_else(|| "unknown".into()),
        o.root_count,
    );
}

fn requests_section(h: &mut String, o: &Overview) {
    let labels: Vec<String> = o.days.iter().map(|d| date(d.day * 86_400)).collect();
    let series = [
        Series {
            name: "narinfo hits",
            colour: "#1f77b4",
            values: o.days.iter().map(|d| d.narinfo_hits).collect(),
        },
        Series {
            name: "narinfo misses",
            colour: "#d62728",
            values: o.days.iter().map(|d| d.narinfo_misses).collect(),
        },
        Series {
            name: "nar downloads",
            colour: "#2ca02c",
            values: o.days.iter().map(|d| d.nar_downloads).collect(),
        },
    ];
    let sum = |f: fn(&crate::status::DayCounts) -> u64| o.days.iter().map(f).sum::<u64>();
    let _ = write!(
        h,
        "<h2>Requests per day (last {} days)</h2>{}\
         <p>Totals: <b>{}</b> narinfo hits, <b>{}</b> misses, <b>{}</b> nar downloads.</p>",
        o.days.len(),
        line_plot("Requests per day", &labels, &series),
        sum(|d| d.narinfo_hits),
        sum(|d| d.narinfo_misses),
        sum(|d| d.nar_downloads),
    );
}

fn top_section(h: &mut String, o: &Overview) {
    h.push_str("<h2>Most requested items</h2>");
    if o.top_items.is_empty() {
        h.push_str("<p class=\"muted\">No requests recorded yet.</p>");
    } else {
        h.push_str(
            "<table><tr><th>Item</th><th class=\"n\">Narinfo hits</th>\
             <th class=\"n\">Nar downloads</th></tr>",
        );
        for i in &o.top_items {
            let item = match &i.store_path {
                Some(p) => format!("<code>{}</code>", escape(p)),
                None => format!(
                    "<code>{}</code> <span class=\"muted\">(no longer stored)</span>",
                    escape(&i.hash)
                ),
            };
            let _ = write!(
                h,
                "<tr><td>{item}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                i.narinfo_hits, i.nar_downloads
            );
        }
        h.push_str("</table>");
    }
    h.push_str("<h2>Most missed hashes</h2>");
    if o.top_missed.is_empty() {
        h.push_str("<p class=\"muted\">No misses recorded.</p>");
    } else {
        h.push_str("<table><tr><th>Hash</th><th class=\"n\">Misses</th></tr>");
        for m in &o.top_missed {
            let _ = write!(
                h,
                "<tr><td><code>{}</code></td><td class=\"n\">{}</td></tr>",
                escape(&m.hash),
                m.misses
            );
        }
        h.push_str("</table>");
    }
}

fn gc_section(h: &mut String, o: &Overview) {
    h.push_str("<h2>Last garbage collections</h2>");
    if o.gc_runs.is_empty() {
        h.push_str("<p class=\"muted\">No garbage collection has run.</p>");
        return;
    }
    h.push_str(
        "<table><tr><th>Started</th><th class=\"n\">Took</th><th class=\"n\">Deleted</th>\
         <th class=\"n\">Nar files</th><th class=\"n\">Freed</th><th class=\"n\">Kept</th>\
         <th>Result</th></tr>",
    );
    for r in &o.gc_runs {
        let took = Duration::from_secs(u64::try_from(r.finished_at - r.started_at).unwrap_or(0));
        let result = match &r.error {
            None => "<span class=\"ok\">ok</span>".to_string(),
            Some(e) => format!("<span class=\"bad\">failed: {}</span>", escape(e)),
        };
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td>{result}</td></tr>",
            when(r.started_at),
            format_duration(took),
            r.deleted,
            r.nar_files_deleted,
            format_size(r.bytes_freed),
            r.kept,
        );
    }
    h.push_str("</table>");
}

fn roots_section(h: &mut String, o: &Overview) {
    let _ = write!(h, "<h2>Roots ({})</h2>", o.root_count);
    if o.roots.is_empty() {
        h.push_str("<p class=\"bad\">No roots: garbage collection refuses to run without one.</p>");
        return;
    }
    h.push_str(
        "<table><tr><th>Name</th><th class=\"n\">Items</th><th>Updated</th><th>Expires</th></tr>",
    );
    for r in &o.roots {
        let expires = match r.expires_at {
            None => "never".to_string(),
            Some(t) if t <= o.generated_at => {
                format!("<span class=\"bad\">expired {}</span>", when(t))
            }
            Some(t) => when(t),
        };
        let _ = write!(
            h,
            "<tr><td><code>{}</code></td><td class=\"n\">{}</td><td>{}</td><td>{expires}</td></tr>",
            escape(&r.name),
            r.items,
            when(r.updated_at),
        );
    }
    if o.root_count > o.roots.len() as u64 {
        let _ = write!(
            h,
            "<tr><td colspan=\"4\" class=\"muted\">… and {} more</td></tr>",
            o.root_count - o.roots.len() as u64
        );
    }
    h.push_str("</table>");
}

fn replication_section(h: &mut String, o: &Overview) {
    if o.backend != "postgres" {
        return;
    }
    h.push_str("<h2>Replication</h2>");
    if o.replication.is_empty() {
        h.push_str("<p class=\"muted\">No subscription in this database (a primary, or a single server).</p>");
        return;
    }
    h.push_str(
        "<table><tr><th>Subscription</th><th>State</th><th class=\"n\">Lag</th>\
         <th class=\"n\">Behind</th><th>Last message</th></tr>",
    );
    for s in &o.replication {
        use crate::replication::SubscriptionState;
        let class = match s.state {
            SubscriptionState::Streaming => "ok",
            SubscriptionState::Copying { .. } => "muted",
            _ => "bad",
        };
        let lag = match (s.lag_seconds, &s.publisher_error) {
            (Some(secs), _) => format!("{secs:.1} s"),
            (None, Some(e)) => format!(
                "<span class=\"muted\" title=\"{}\">unknown</span>",
                escape(e)
            ),
            (None, None) => "unknown".to_string(),
        };
        let behind = s
            .lag_bytes
            .map(|b| format_size(u64::try_from(b).unwrap_or(0)))
            .unwrap_or_else(|| "unknown".into());
        let last = s
            .last_message
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| when(i64::try_from(d.as_secs()).unwrap_or(0)))
            .unwrap_or_else(|| "never".into());
        let _ = write!(
            h,
            "<tr><td><code>{}</code></td><td class=\"{class}\">{}</td><td class=\"n\">{lag}</td>\
             <td class=\"n\">{behind}</td><td>{last}</td></tr>",
            escape(&s.name),
            escape(&s.state.to_string()),
        );
    }
    h.push_str("</table>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::MissStat;
    use crate::gc_runs::GcRun;
    use crate::status::{DayCounts, RootSummary, StoreTotals, TopItem};

    fn sample() -> Overview {
        Overview {
            generated_at: 1_764_000_000,
            backend: "sqlite",
            store_dir: "/gnu/store".into(),
            totals: StoreTotals {
                narinfos: 1234,
                nar_size: 5 << 30,
                nar_files: 1300,
                file_size: 2 << 30,
            },
            database_bytes: Some(10 << 20),
            days: (0..30)
                .map(|i| DayCounts {
                    day: 20_400 + i,
                    narinfo_hits: 100 + i as u64,
                    narinfo_misses: 7,
                    nar_downloads: 40,
                })
                .collect(),
            top_items: vec![TopItem {
                hash: "0".repeat(32),
                store_path: Some(format!("/gnu/store/{}-<b>evil</b>", "0".repeat(32))),
                narinfo_hits: 9,
                nar_downloads: 3,
            }],
            top_missed: vec![MissStat {
                hash: "1".repeat(32),
                misses: 5,
            }],
            gc_runs: vec![GcRun {
                started_at: 1_763_990_000,
                finished_at: 1_763_990_065,
                live: 10,
                dead: 4,
                deleted: 4,
                nar_files_deleted: 4,
                bytes_freed: 4096,
                nar_bytes_freed: 8192,
                files_removed: 4,
                kept: 0,
                error: Some("disk <full> & \"sad\"".into()),
            }],
            roots: vec![RootSummary {
                name: "channel/master/<script>alert(1)</script>".into(),
                expires_at: Some(1),
                updated_at: 1_763_000_000,
                items: 42,
            }],
            root_count: 3,
            replication: vec![],
        }
    }

    #[test]
    fn renders_every_section_escaped() {
        let page = render(&sample(), "node-<1>");
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.trim_end().ends_with("</html>"));
        for want in [
            "node-&lt;1&gt;",
            "<dd id=\"narinfos\">1234</dd>",
            "5.0 GiB",
            "<svg",
            "-&lt;b&gt;evil&lt;/b&gt;",
            "failed: disk &lt;full&gt; &amp; &quot;sad&quot;",
            "channel/master/&lt;script&gt;alert(1)&lt;/script&gt;",
            "expired 1970-01-01 00:00:01 UTC",
            "… and 2 more",
            "1m5s",
        ] {
            assert!(page.contains(want), "missing {want:?}");
        }
        assert!(!page.contains("<script"), "unescaped script tag");
        assert!(
            !page.contains("Replication"),
            "SQLite has no replication section"
        );
        let mut pg = sample();
        pg.backend = "postgres";
        pg.replication = vec![crate::replication::SubscriptionStatus {
            name: "mirror<eu>".into(),
            publications: vec!["narherder".into()],
            enabled: true,
            state: crate::replication::SubscriptionState::Streaming,
            worker_pid: Some(7),
            received_lsn: Some("0/16B3748".into()),
            lag_bytes: Some(2048),
            lag_seconds: Some(1.25),
            last_message: Some(std::time::UNIX_EPOCH + Duration::from_secs(1_764_000_000)),
            publisher_error: None,
        }];
        let page = render(&pg, "n");
        for want in [
            "<h2>Replication</h2>",
            "mirror&lt;eu&gt;",
            ">streaming<",
            "1.2 s",
            "2.0 KiB",
            "2025-11-24 16:00:00 UTC",
        ] {
            assert!(page.contains(want), "missing {want:?}");
        }
        assert!(!page.contains("<b>evil"), "unescaped store path");
        // Self-contained: nothing is fetched from elsewhere.
        assert!(!page.contains("src=") && !page.contains("href="));
    }
}
