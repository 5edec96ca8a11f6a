//! Replication between throwaway PostgreSQL clusters (started here with
//! `scripts/pg-cluster`, `wal_level = logical`): a primary and a mirror
//! served by `narherder serve --read-only`, imports and GC reaching the
//! mirror, the mirror serving while the primary is down and catching up
//! after, analytics flowing back, nar files fetched through
//! `--nar-upstream`, and the errors of the replication commands.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use narherder::replication::{
    self as repl, subscription_status, ConnInfo, SubscribeOptions, SubscriptionState,
};
use narherder::store::{AddMode, Store, StoreOptions};
use narherder::{nix32, Narinfo};
use sha2::{Digest, Sha256};
use sqlx::Connection as _;

#[tokio::test]
async fn status_is_empty_without_subscriptions() {
    common::for_each_backend("repl_status_empty", |db| async move {
        let store = db.open(&StoreOptions::default()).await;
        let s = subscription_status(&store).await.unwrap();
        assert!(s.is_empty(), "{}: {s:?}", db.backend);
        if db.backend == "sqlite" {
            let e = repl::publish(&store).await.unwrap_err().to_string();
            assert!(e.contains("replication needs PostgreSQL"), "{e}");
            let e = repl::unsubscribe(&store, None)
                .await
                .unwrap_err()
                .to_string();
            assert!(e.contains("replication needs PostgreSQL"), "{e}");
        }
        store.close().await;
        db
    })
    .await;
}

// ---------------------------------------------------------------------------
// Clusters, servers and HTTP.

const PGBIN: &str = "/usr/lib/postgresql/15/bin";

/// A throwaway cluster, stopped and removed on drop.
struct Cluster {
    dir: String,
    port: u16,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pg-cluster")
}

impl Cluster {
    fn start(name: &str, wal_level: &str) -> Cluster {
        let out = Command::new(script())
            .args(["start", name])
            .env("PGCLUSTER_WAL_LEVEL", wal_level)
            .output()
            .expect("running scripts/pg-cluster");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "pg-cluster start {name}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let field = |k: &str| {
            text.split_whitespace()
                .find_map(|w| w.strip_prefix(k))
                .unwrap_or_else(|| panic!("pg-cluster printed no {k}: {text}"))
                .to_string()
        };
        Cluster {
            dir: field("PGCLUSTER_DIR="),
            port: field("PGCLUSTER_PORT=").parse().unwrap(),
        }
    }

    fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    fn conninfo(&self, db: &str) -> String {
        format!(
            "host=127.0.0.1 port={} dbname={db} user=postgres",
            self.port
        )
    }

    async fn create_db(&self, db: &str) {
        let mut c = sqlx::PgConnection::connect(&self.url("postgres"))
            .await
            .unwrap();
        sqlx::query(&format!("CREATE DATABASE {db}"))
            .execute(&mut c)
            .await
            .unwrap();
        c.close().await.unwrap();
    }

    fn control(&self, verb: &str) {
        let st = Command::new(script())
            .args([verb, &self.dir])
            .status()
            .unwrap();
        assert!(st.success(), "pg-cluster {verb} failed");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(script()).args(["stop", &self.dir]).status();
    }
}

/// Starts clusters in parallel; `None` (after saying so) when PostgreSQL
/// is not installed, except under `CI=true`, where that fails.
fn clusters(specs: &[(&str, &str)]) -> Option<Vec<Cluster>> {
    if !Path::new(PGBIN).join("initdb").exists() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!(
                "{PGBIN}/initdb is missing but CI=true: install postgresql-15 (scripts/test does)"
            );
        }
        eprintln!("SKIPPED: {PGBIN}/initdb not found");
        return None;
    }
    let handles: Vec<_> = specs
        .iter()
        .map(|&(n, w)| {
            let (n, w) = (n.to_string(), w.to_string());
            std::thread::spawn(move || Cluster::start(&n, &w))
        })
        .collect();
    Some(handles.into_iter().map(|h| h.join().unwrap()).collect())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `narherder serve` process, stopped with SIGTERM on drop.
struct Serve {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Serve {
    fn start(database: &str, log: PathBuf, extra: &[&str]) -> Serve {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let mut args = vec![
            "--database",
            database,
            "serve",
            "--listen",
            &listen,
            "--poll-interval",
            "100ms",
            "--flush-interval",
            "200ms",
        ];
        args.extend_from_slice(extra);
        let child = Command::new(env!("CARGO_BIN_EXE_narherder"))
            .args(&args)
            .env_remove("NARHERDER_DATABASE")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut s = Serve { child, port, log };
        let end = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(st)) = s.child.try_wait() {
                panic!("narherder serve exited with {st}: {}", s.log_text());
            }
            assert!(
                Instant::now() < end,
                "serve never listened: {}",
                s.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        s
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn stop(mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: signalling our own child process.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// One request on a fresh connection: status, headers, body (whatever
/// arrived before the connection ended).
fn http(port: u16, path: &str, extra: &str) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let body = raw.get(split + 4..).unwrap_or_default().to_vec();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|x| x.parse().ok())
        .unwrap_or(0);
    (status, head, body)
}

fn narinfo_status(port: u16, hash: &str) -> u16 {
    http(port, &format!("/{hash}.narinfo"), "").0
}

/// Polls `check` until it holds; returns how long that took.
async fn wait_for<F, Fut>(what: &str, limit: Duration, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------
// Narinfos.

const STORE_DIR: &str = "/nix/store";

fn plain(n: u64) -> (String, Narinfo) {
    let h = common::hash_for(n);
    let text = common::synthetic_text(STORE_DIR, &h, &format!("pkg-{n}"), &[], 1);
    (h, Narinfo::parse(&text).unwrap())
}

/// A narinfo whose nar file is `content`, claiming `claimed` as its
/// SHA-256 (the real one when `None`); returns the hash part, the narinfo
/// and the nar URL.
fn with_nar(n: u64, content: &[u8], claimed: Option<[u8; 32]>) -> (String, Narinfo, String) {
    let h = common::hash_for(n);
    let real: [u8; 32] = Sha256::digest(content).into();
    let url = format!("nar/{}.nar.xz", nix32::encode(&real));
    let text = format!(
        "StorePath: {STORE_DIR}/{h}-nar-{n}\nURL: {url}\nCompression: xz\n\
         FileHash: sha256:{}\nFileSize: {}\nNarHash: sha256:{}\nNarSize: {}\nReferences: \n",
        nix32::encode(&claimed.unwrap_or(real)),
        content.len(),
        nix32::encode(&[9u8; 32]),
        content.len() * 3
    );
    (h, Narinfo::parse(&text).unwrap(), url)
}

fn content(seed: u8, len: usize) -> Vec<u8> {
    let mut x = u32::from(seed).wrapping_mul(2_654_435_761) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

async fn add(store: &Store, n: &Narinfo) {
    store.add(n, AddMode::Keep).await.unwrap();
}

// ---------------------------------------------------------------------------
// The scenario.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn primary_and_mirror() {
    let Some(cl) = clusters(&[
        ("primary", "logical"),
        ("mirror", "logical"),
        ("plain", "replica"),
    ]) else {
        return;
    };
    let (p, m, plain_cluster) = (&cl[0], &cl[1], &cl[2]);
    for db in ["nh", "empty"] {
        p.create_db(db).await;
    }
    for db in ["nh", "busy", "nopub"] {
        m.create_db(db).await;
    }
    plain_cluster.create_db("nh").await;
    let tmp = tempfile::tempdir().unwrap();
    let p_storage = tmp.path().join("primary-nars");
    let m_storage = tmp.path().join("mirror-nars");

    // The primary: a few narinfos, two with nar files (one with a wrong
    // FileHash), published.
    let primary = Store::open(&p.url("nh"), &StoreOptions::with_store_dir(STORE_DIR))
        .await
        .unwrap();
    let (a, na) = plain(1);
    let (b, nb) = plain(2);
    let good = content(1, 300_000);
    let (g, ng, g_url) = with_nar(3, &good, None);
    let bad = content(2, 5_000);
    let (x, nx, x_url) = with_nar(4, &bad, Some([1u8; 32]));
    for n in [&na, &nb, &ng, &nx] {
        add(&primary, n).await;
    }
    for (url, data) in [(&g_url, &good), (&x_url, &bad)] {
        let path = p_storage.join(url);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, data).unwrap();
    }
    narherder::roots::add_root(&primary, "keep", &[&a, &g, &x], None)
        .await
        .unwrap();
    let r = repl::publish(&primary).await.unwrap();
    assert!(r.created && !r.altered, "{r:?}");
    let r = repl::publish(&primary).await.unwrap();
    assert!(!r.created && !r.altered, "publish is idempotent: {r:?}");

    // The mirror subscribes (a keyword connection string) and waits.
    let mirror = Store::open(&m.url("nh"), &StoreOptions::default())
        .await
        .unwrap();
    let mut options = SubscribeOptions::new(ConnInfo::parse(&p.conninfo("nh")).unwrap());
    options.name = Some("mirror_1".into());
    let mut last = None;
    let r = repl::subscribe(&mirror, &options, |pr| last = Some(*pr))
        .await
        .unwrap();
    assert!(r.created, "{r:?}");
    assert_eq!(r.analytics_published, Ok(()));
    let last = last.expect("progress was reported");
    assert_eq!((last.ready, last.total), (6, 6), "{last:?}");
    let again = repl::subscribe(&mirror, &options, |_| {}).await.unwrap();
    assert!(!again.created, "subscribe is idempotent: {again:?}");
    let mirror = Store::open(&m.url("nh"), &StoreOptions::default())
        .await
        .unwrap();
    assert_eq!(
        mirror.store_dir(),
        STORE_DIR,
        "the mirror took the primary's store directory"
    );
    assert_eq!(mirror.counts().await.unwrap().narinfos, 4);
    wait_for(
        "the subscription streams",
        Duration::from_secs(10),
        || async {
            let s = subscription_status(&mirror).await.unwrap();
            s.len() == 1 && s[0].state == SubscriptionState::Streaming && s[0].lag_bytes.is_some()
        },
    )
    .await;
    let s = &subscription_status(&mirror).await.unwrap()[0];
    assert_eq!(s.name, "mirror_1");
    assert_eq!(s.publications, vec!["narherder".to_string()]);
    assert!(
        s.enabled && s.worker_pid.is_some() && s.last_message.is_some(),
        "{s:?}"
    );
    assert!(s.lag_seconds.is_some(), "{s:?}");

    // Servers: the primary with its nar files, the mirror read-only,
    // fetching nar files from the primary.
    let p_srv = Serve::start(
        &p.url("nh"),
        tmp.path().join("primary.log"),
        &[
            "--node-name",
            "primary",
            "--storage",
            p_storage.to_str().unwrap(),
        ],
    );
    let upstream = format!("http://127.0.0.1:{}", p_srv.port);
    let m_srv = Serve::start(
        &m.url("nh"),
        tmp.path().join("mirror.log"),
        &[
            "--read-only",
            "--node-name",
            "mirror-1",
            "--storage",
            m_storage.to_str().unwrap(),
            "--nar-upstream",
            &upstream,
            "--nar-cache-size",
            "10M",
        ],
    );
    let (st, _, body) = http(m_srv.port, &format!("/{a}.narinfo"), "");
    assert_eq!(st, 200);
    assert_eq!(String::from_utf8(body).unwrap(), na.text());

    // An import on the primary is served by the mirror.
    let (c, nc) = plain(5);
    assert_eq!(narinfo_status(m_srv.port, &c), 404);
    add(&primary, &nc).await;
    let took = wait_for(
        "a new narinfo on the mirror",
        Duration::from_secs(10),
        || async { narinfo_status(m_srv.port, &c) == 200 },
    )
    .await;
    eprintln!("import → served by the mirror: {took:?}");

    // GC on the primary: the unrooted narinfos leave the mirror. (`added_at`
    // is in whole seconds and a zero grace period keeps what was added this
    // second: let the second of b's and c's import pass first.)
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let gc = narherder::gc::collect_garbage(
        &primary,
        &narherder::gc::GcOptions {
            grace: Duration::ZERO,
            ..Default::default()
        },
        &mut |_| {},
    )
    .await
    .unwrap();
    assert_eq!(gc.deleted, 2, "{gc:?}");
    let took = wait_for(
        "GC reaching the mirror",
        Duration::from_secs(10),
        || async { narinfo_status(m_srv.port, &b) == 404 && narinfo_status(m_srv.port, &c) == 404 },
    )
    .await;
    eprintln!("GC → gone from the mirror: {took:?}");
    // The mirror's running totals (the status page's) followed the initial
    // copy, the new import and the deletions, row by row.
    let mirror_store = Store::open(&m.url("nh"), &StoreOptions::default())
        .await
        .unwrap();
    wait_for("the mirror's totals", Duration::from_secs(10), || async {
        let totals = narherder::status::store_totals(&mirror_store)
            .await
            .unwrap();
        let counts = mirror_store.counts().await.unwrap();
        totals.narinfos == counts.narinfos
            && totals.nar_size == counts.total_nar_size
            && totals.nar_files == counts.nar_files
            && totals.file_size == counts.total_file_size
    })
    .await;
    let primary_counts = primary.counts().await.unwrap();
    assert_eq!(
        narherder::status::store_totals(&mirror_store)
            .await
            .unwrap()
            .narinfos,
        primary_counts.narinfos
    );
    mirror_store.close().await;
    assert_eq!(narinfo_status(m_srv.port, &a), 200);

    // Nar files through the upstream: fetched and streamed, then local.
    let (st, head, body) = http(m_srv.port, &format!("/{g_url}"), "");
    assert_eq!(st, 200, "{head}");
    assert!(
        body == good,
        "the streamed nar differs ({} bytes)",
        body.len()
    );
    // (Stored once the last byte is checked, just after it was sent.)
    let stored = m_storage.join(&g_url);
    wait_for("the fetched nar stored", Duration::from_secs(5), || async {
        stored.exists()
    })
    .await;
    assert_eq!(std::fs::read(&stored).unwrap(), good);
    std::fs::remove_file(p_storage.join(&g_url)).unwrap();
    let (st, _, body) = http(m_srv.port, &format!("/{g_url}"), "");
    assert!(
        st == 200 && body == good,
        "served again from the mirror's storage"
    );
    let (st, _, body) = http(m_srv.port, &format!("/{g_url}"), "Range: bytes=10-19\r\n");
    assert_eq!((st, body.as_slice()), (206, &good[10..20]));
    // A file whose hash disagrees with its narinfo is cut short and not
    // kept.
    let (st, head, body) = http(m_srv.port, &format!("/{x_url}"), "");
    assert!(st != 200 || body.len() < bad.len(), "{st} {head}");
    assert!(!m_storage.join(&x_url).exists());
    // Nothing that no narinfo names is fetched.
    let (st, _, _) = http(
        m_srv.port,
        "/nar/0000000000000000000000000000000000000000000000000000.nar.xz",
        "",
    );
    assert_eq!(st, 404);

    // Analytics flow back: the primary subscribes to the mirror's.
    assert_eq!(narinfo_status(p_srv.port, &common::hash_for(99)), 404);
    let mirror_hits = 5;
    for _ in 0..mirror_hits {
        assert_eq!(narinfo_status(m_srv.port, &a), 200);
    }
    let mut from_mirror = SubscribeOptions::new(ConnInfo::parse(&m.url("nh")).unwrap());
    from_mirror.analytics = true;
    let r = repl::subscribe(&primary, &from_mirror, |_| {})
        .await
        .unwrap();
    assert!(r.created, "{r:?}");
    let analytics_sub = r.name.clone();
    wait_for(
        "the mirror's analytics on the primary",
        Duration::from_secs(15),
        || async {
            let nodes = narherder::analytics::node_totals(&primary, 1)
                .await
                .unwrap();
            let mirror_ok = nodes.iter().any(|n| {
                n.node == "mirror-1" && n.replicated && n.totals.narinfo_hits >= mirror_hits
            });
            let primary_ok = nodes
                .iter()
                .any(|n| n.node == "primary" && !n.replicated && n.totals.narinfo_misses >= 1);
            mirror_ok && primary_ok
        },
    )
    .await;
    // The mirror's requests count for eviction on the primary too.
    let usage = narherder::evict::usage_of(&primary, &a).await.unwrap();
    assert!(usage.is_some_and(|(_, n)| n >= 1), "{usage:?}");
    let out = Command::new(env!("CARGO_BIN_EXE_narherder"))
        .args(["--database", &p.url("nh"), "stats", "--days", "1"])
        .env_remove("NARHERDER_DATABASE")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("mirror-1") && text.contains("(replicated)"),
        "{text}"
    );
    assert!(text.contains("primary"), "{text}");

    // The primary goes down: the mirror keeps serving.
    p_srv.stop();
    primary.close().await;
    p.control("pause");
    assert_eq!(narinfo_status(m_srv.port, &a), 200);
    let (st, _, body) = http(m_srv.port, &format!("/{g_url}"), "");
    assert!(st == 200 && body == good);
    wait_for(
        "the mirror seeing its primary down",
        Duration::from_secs(15),
        || async {
            let s = &subscription_status(&mirror).await.unwrap()[0];
            s.state == SubscriptionState::Down || s.publisher_error.is_some()
        },
    )
    .await;
    let out = Command::new(env!("CARGO_BIN_EXE_narherder"))
        .args(["--database", &m.url("nh"), "replication", "status"])
        .env_remove("NARHERDER_DATABASE")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "status exits 1 when not streaming"
    );

    // It comes back with new imports: the mirror catches up.
    p.control("resume");
    let primary = Store::open(&p.url("nh"), &StoreOptions::default())
        .await
        .unwrap();
    let (d, nd) = plain(6);
    add(&primary, &nd).await;
    let took = wait_for(
        "the mirror catching up",
        Duration::from_secs(30),
        || async { narinfo_status(m_srv.port, &d) == 200 },
    )
    .await;
    eprintln!("primary back → new import served by the mirror: {took:?}");
    let out = Command::new(env!("CARGO_BIN_EXE_narherder"))
        .args(["--database", &m.url("nh"), "replication", "status"])
        .env_remove("NARHERDER_DATABASE")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("mirror_1") && text.contains("streaming"),
        "{text}"
    );
    m_srv.stop();

    // Errors, each clear.
    let e = repl::publish(
        &Store::open(&plain_cluster.url("nh"), &StoreOptions::default())
            .await
            .unwrap(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(e.contains("wal_level = replica"), "{e}");
    let busy = Store::open(&m.url("busy"), &StoreOptions::with_store_dir(STORE_DIR))
        .await
        .unwrap();
    add(&busy, &plain(7).1).await;
    let e = repl::subscribe(&busy, &options, |_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("already holds store rows (") && e.contains("1 in narinfos"),
        "{e}"
    );
    let nopub = Store::open(&m.url("nopub"), &StoreOptions::default())
        .await
        .unwrap();
    let to_empty = SubscribeOptions::new(ConnInfo::parse(&p.conninfo("empty")).unwrap());
    let e = repl::subscribe(&nopub, &to_empty, |_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("has no publication narherder"), "{e}");
    let from_plain = SubscribeOptions::new(ConnInfo::parse(&plain_cluster.conninfo("nh")).unwrap());
    let e = repl::subscribe(&nopub, &from_plain, |_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("wal_level = replica"), "{e}");
    // The name mirror_1 is taken on the primary by the first mirror.
    let e = repl::subscribe(&nopub, &options, |_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("already has a replication slot mirror_1 (in use)"),
        "{e}"
    );
    // With --replace-data and a default name, the busy database becomes a
    // mirror too.
    let mut replace = SubscribeOptions::new(options.from.clone());
    replace.replace_data = true;
    let r = repl::subscribe(&busy, &replace, |_| {}).await.unwrap();
    assert!(r.rows_discarded >= 2, "{r:?}");
    assert!(r.name.starts_with("narherder_"), "{r:?}");
    assert_eq!(busy.counts().await.unwrap().narinfos, 4);
    assert_eq!(repl::unsubscribe(&busy, None).await.unwrap().len(), 1);

    // Unsubscribing: idempotent, and the mirror can then take writes.
    let gone = repl::unsubscribe(&mirror, None).await.unwrap();
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].slot_left, None);
    assert!(repl::unsubscribe(&mirror, None).await.unwrap().is_empty());
    assert!(subscription_status(&mirror).await.unwrap().is_empty());
    add(&mirror, &plain(8).1).await;
    let gone = repl::unsubscribe(&primary, Some(&analytics_sub))
        .await
        .unwrap();
    assert_eq!(gone.len(), 1);
    for s in [&primary, &mirror, &busy, &nopub] {
        s.close().await;
    }
}
