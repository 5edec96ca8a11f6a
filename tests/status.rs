//! The operator's view: the running totals (schema version 5) follow every
//! kind of write on both backends, garbage collections are logged, the
//! overview reads analytics, and the status page (`GET /`) renders — in
//! headless Chromium too, which must produce a screenshot and report no
//! console error.

mod common;
mod gc_util;
mod server_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{for_each_backend, hash_for, sqlite_db, synthetic_text};
use gc_util::{base, exec, import, nix, now, Node};
use narherder::changes::item_key;
use narherder::gc::{gc, GcOptions};
use narherder::status::{overview, store_totals, OverviewOptions};
use narherder::store::{AddMode, Store};
use narherder::Narinfo;
use server_support::{config, get, start};

async fn assert_totals(store: &Store, step: &str) {
    let t = store_totals(store).await.unwrap();
    let c = store.counts().await.unwrap();
    assert_eq!(
        (t.narinfos, t.nar_size, t.nar_files, t.file_size),
        (c.narinfos, c.total_nar_size, c.nar_files, c.total_file_size),
        "{step}: running totals differ from a full count"
    );
}

fn node(refs: &[u64], added: i64, i: u64) -> Node {
    Node {
        refs: refs.to_vec(),
        added,
        url: format!("nar/item-{i}.nar.xz"),
        size: 1000 + i * 10,
    }
}

#[tokio::test]
async fn totals_follow_every_write_and_gc_runs_are_logged() {
    for_each_backend("status_totals", |db| async move {
        let store = db.open(&nix()).await;
        assert_totals(&store, "empty").await;
        // 0 <- 1 <- 2 rooted; 3 <- 4 old garbage; 5 recent.
        let old = -30 * 86_400;
        let nodes = vec![
            node(&[], old, 0),
            node(&[0], old, 1),
            node(&[1, 0], old, 2),
            node(&[], old, 3),
            node(&[3], old, 4),
            node(&[0], 0, 5),
        ];
        import(&store, &nodes).await;
        assert_totals(&store, "import").await;
        assert_eq!(store_totals(&store).await.unwrap().narinfos, 6);

        // Replace one narinfo by a text with two nar files and another size.
        let h = hash_for(5);
        let text = synthetic_text("/nix/store", &h, "item-5", &[base(0)], 2)
            .replace("NarSize: 4128", "NarSize: 999999");
        let n = Narinfo::parse(&text).unwrap();
        store.add(&n, AddMode::Replace).await.unwrap();
        assert_totals(&store, "replace").await;
        // A file size changed in place.
        exec(
            &store,
            "UPDATE nar_files SET file_size = file_size + $1",
            &[7],
        )
        .await;
        exec(&store, "UPDATE narinfos SET nar_size = nar_size + $1", &[3]).await;
        assert_totals(&store, "updates").await;

        // A failed collection (no root) is logged with its error; a dry run is not.
        assert!(gc(&store, &GcOptions::default()).await.is_err());
        let dry = GcOptions {
            dry_run: true,
            force: true,
            ..GcOptions::default()
        };
        gc(&store, &dry).await.unwrap();
        let runs = narherder::gc_runs::recent(&store, 10).await.unwrap();
        assert_eq!(runs.len(), 1, "{runs:?}");
        assert!(
            runs[0]
                .error
                .as_deref()
                .unwrap_or("")
                .contains("no GC root"),
            "{runs:?}"
        );

        narherder::roots::add_root(&store, "test/root", &[hash_for(2)], None)
            .await
            .unwrap();
        let report = gc(&store, &GcOptions::default()).await.unwrap();
        assert_eq!(report.deleted, 2);
        assert_totals(&store, "gc").await;
        let runs = narherder::gc_runs::recent(&store, 10).await.unwrap();
        assert_eq!(runs.len(), 2);
        let last = &runs[0];
        assert_eq!(last.error, None);
        assert_eq!((last.deleted, last.dead), (2, 2));
        assert_eq!(last.bytes_freed, report.bytes_freed);
        assert_eq!(last.bytes_freed, 1030 + 1040 + 2 * 7);
        assert!(last.finished_at >= last.started_at && last.started_at >= now() - 60);

        store.remove(&hash_for(5)).await.unwrap();
        assert_totals(&store, "remove").await;
        assert_eq!(store_totals(&store).await.unwrap().narinfos, 3);
        db
    })
    .await;
}

#[tokio::test]
async fn overview_reads_analytics_roots_and_gc() {
    for_each_backend("status_overview", |db| async move {
        let store = db.open(&nix()).await;
        let nodes: Vec<Node> = (0..4).map(|i| node(&[], 0, i)).collect();
        import(&store, &nodes).await;
        narherder::roots::add_root(&store, "channel/a", &[hash_for(0), hash_for(1)], None)
            .await
            .unwrap();
        let a = narherder::analytics::Analytics::new("n1");
        let k0 = item_key(&hash_for(0)).unwrap();
        let k1 = item_key(&hash_for(1)).unwrap();
        for _ in 0..5 {
            a.narinfo_hit(&k0);
        }
        a.nar_download(Some(&k0));
        a.narinfo_hit(&k1);
        let missing = item_key(&hash_for(99)).unwrap();
        a.narinfo_miss(Some(&missing));
        a.narinfo_miss(Some(&missing));
        a.flush_all(&store).await.unwrap();
        // Yesterday, by another node.
        let yesterday = narherder::analytics::day_of(now()) - 1;
        exec(
            &store,
            "INSERT INTO request_totals (node, day, narinfo_hits, narinfo_misses, nar_downloads) \
             VALUES ('n2', $1, $2, $3, $4)",
            &[yesterday, 40, 4, 20],
        )
        .await;

        let o = overview(&store, &OverviewOptions::default()).await.unwrap();
        assert_eq!(o.days.len(), 30);
        let today = o.days.last().unwrap();
        assert_eq!(
            (
                today.narinfo_hits,
                today.narinfo_misses,
                today.nar_downloads
            ),
            (6, 2, 1)
        );
        let y = &o.days[28];
        assert_eq!(
            (y.day, y.narinfo_hits, y.nar_downloads),
            (yesterday, 40, 20)
        );
        assert!(o.days[..28].iter().all(|d| d.narinfo_hits == 0));
        assert_eq!(o.top_items.len(), 2);
        assert_eq!(o.top_items[0].hash, hash_for(0));
        assert_eq!(
            o.top_items[0].store_path.as_deref(),
            Some(format!("/nix/store/{}-item-0", hash_for(0)).as_str())
        );
        assert_eq!(
            (o.top_items[0].narinfo_hits, o.top_items[0].nar_downloads),
            (5, 1)
        );
        assert_eq!(o.top_missed.len(), 1);
        assert_eq!(
            (o.top_missed[0].hash.as_str(), o.top_missed[0].misses),
            (hash_for(99).as_str(), 2)
        );
        assert_eq!(o.root_count, 1);
        assert_eq!(
            (o.roots[0].name.as_str(), o.roots[0].items),
            ("channel/a", 2)
        );
        assert_eq!(o.totals.narinfos, 4);
        assert!(o.database_bytes.unwrap_or(0) > 0);
        assert!(o.replication.is_empty());
        if db.backend == "postgres" {
            exec(
                &store,
                "CREATE SUBSCRIPTION status_test CONNECTION 'host=127.0.0.1 dbname=nowhere' \
                 PUBLICATION nothing WITH (connect = false)",
                &[],
            )
            .await;
            let o = overview(&store, &OverviewOptions::default()).await.unwrap();
            assert_eq!(o.replication.len(), 1);
            let page = narherder::server::status::render(&o, "n");
            assert!(page.contains("<code>status_test</code>"), "{page}");
            assert!(page.contains(">disabled<"), "{page}");
            for sql in [
                "ALTER SUBSCRIPTION status_test SET (slot_name = NONE)",
                "DROP SUBSCRIPTION status_test",
            ] {
                exec(&store, sql, &[]).await;
            }
        }
        db
    })
    .await;
}

/// Headless Chromium: `chromium` on PATH (Debian's package; scripts/test
/// installs it). Missing outside CI: the browser half is skipped, saying so.
fn chromium() -> Option<String> {
    for c in ["chromium", "chromium-browser", "google-chrome"] {
        if Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return Some(c.to_string());
        }
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("chromium is not installed but CI=true: run scripts/test (it installs Debian's chromium)");
    }
    eprintln!("SKIPPED chromium half: chromium not installed (apt-get install chromium)");
    None
}

fn run_chromium(bin: &str, profile: &Path, extra: &[String], url: &str) -> std::process::Output {
    let mut cmd = Command::new(bin);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--enable-logging=stderr",
        "--v=0",
        "--window-size=1280,1600",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(extra)
    .arg(url)
    .env("HOME", profile);
    let out = cmd.output().expect("running chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Console messages Chromium logged (`…:CONSOLE(…)] "…"` lines), and page
/// errors.
fn console_errors(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| {
            l.contains(":CONSOLE")
                || l.contains("Uncaught")
                || l.contains("Failed to load resource")
                || l.contains("Refused to")
        })
        .collect()
}

#[tokio::test]
async fn status_page_renders_in_headless_chromium() {
    let db = sqlite_db();
    let store = db.open(&nix()).await;
    let nodes: Vec<Node> = (0..20)
        .map(|i| node(if i > 0 { &[0] } else { &[] }, 0, i))
        .collect();
    import(&store, &nodes).await;
    narherder::roots::add_root(&store, "channel/<b>x</b>", &[hash_for(3)], None)
        .await
        .unwrap();
    for d in 1..30i64 {
        let day = narherder::analytics::day_of(now()) - d;
        exec(
            &store,
            "INSERT INTO request_totals (node, day, narinfo_hits, narinfo_misses, nar_downloads) \
             VALUES ('n', $1, $2, $3, $4)",
            &[day, 1000 + d * 37 % 400, 50 + d, 300 + d * 11 % 90],
        )
        .await;
    }
    let server = start(&store, config()).await;
    let addr = server.local_addr();
    let k = item_key(&hash_for(7)).unwrap();
    server.state().analytics().narinfo_hit(&k);
    server.flush_analytics().await.unwrap();

    let r = get(addr, "/").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let page = r.text();
    assert_eq!(
        r.header("content-length").and_then(|l| l.parse().ok()),
        Some(page.len())
    );
    for want in [
        "<dd id=\"narinfos\">20</dd>",
        "Requests per day",
        "<svg",
        &format!("{}-item-7", hash_for(7)),
        "channel/&lt;b&gt;x&lt;/b&gt;",
        "No garbage collection has run.",
    ] {
        assert!(page.contains(want), "missing {want:?} in\n{page}");
    }
    let head = server_support::request(addr, "HEAD", "/", &[], b"").await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    let post = server_support::request(addr, "POST", "/", &[], b"x").await;
    assert_eq!(post.status, 404);

    if let Some(bin) = chromium() {
        let url = format!("http://{addr}/");
        let dir = tempfile::tempdir().unwrap();
        let shot = dir.path().join("status.png");
        let profile = dir.path().join("profile");
        std::fs::create_dir_all(&profile).unwrap();
        let (bin2, profile2, shot2, url2) =
            (bin.clone(), profile.clone(), shot.clone(), url.clone());
        // Chromium blocks: run it off the runtime, which keeps serving.
        let out = tokio::task::spawn_blocking(move || {
            run_chromium(
                &bin2,
                &profile2,
                &[format!("--screenshot={}", shot2.display())],
                &url2,
            )
        })
        .await
        .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let png = std::fs::read(&shot).expect("chromium wrote no screenshot");
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
        assert!(
            png.len() > 10_000,
            "screenshot suspiciously small: {} bytes",
            png.len()
        );
        assert!(
            console_errors(&stderr).is_empty(),
            "console errors:\n{stderr}"
        );
        if let Ok(keep) = std::env::var("NARHERDER_KEEP_SCREENSHOT") {
            std::fs::copy(&shot, keep).unwrap();
        }

        // The detector itself: a page that logs an error is caught.
        let bad = dir.path().join("bad.html");
        std::fs::write(
            &bad,
            "<html><body><script>undefinedFn();</script></body></html>",
        )
        .unwrap();
        let (bin4, profile4) = (bin.clone(), profile.clone());
        let out = tokio::task::spawn_blocking(move || {
            run_chromium(
                &bin4,
                &profile4,
                &["--dump-dom".to_string()],
                &format!("file://{}", bad.display()),
            )
        })
        .await
        .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(
            !console_errors(&stderr).is_empty(),
            "a script error went unnoticed:\n{stderr}"
        );

        let (bin3, profile3, url3) = (bin, profile, url);
        let out = tokio::task::spawn_blocking(move || {
            run_chromium(&bin3, &profile3, &["--dump-dom".to_string()], &url3)
        })
        .await
        .unwrap();
        let dom = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(dom.contains("<svg"), "the DOM has no plot:\n{dom}");
        assert!(dom.contains("Most requested items"), "{dom}");
        assert!(
            console_errors(&stderr).is_empty(),
            "console errors:\n{stderr}"
        );
    }
    server.shutdown(Duration::from_secs(5)).await.unwrap();
}
