//! Replication lag: how long after a narinfo is committed on the primary a
//! mirror's `narherder serve --read-only` answers it, while the primary
//! imports a synthetic cache (100,000 narinfos by default).
//!
//! Two throwaway clusters (`scripts/pg-cluster`, `wal_level = logical`), a
//! subscription, a release `narherder serve` on the mirror. While one task
//! imports in batches (`BENCH_BATCH`, default 2,000; `Store::add_many`,
//! one transaction each),
//! a prober commits a small narinfo every 100 ms through another
//! connection and polls the mirror's server every 5 ms until it answers
//! 200; the lag is the time from the commit's return to that answer.
//!
//! `scripts/bench-replication` runs it; environment: `BENCH_COUNT`
//! (narinfos imported), `BENCH_POLL` (the mirror's `--poll-interval`,
//! default the server's 500ms), `BENCH_BATCH` (narinfos per import
//! transaction).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use narherder::replication::{self as repl, ConnInfo, SubscribeOptions};
use narherder::store::{AddMode, Store, StoreOptions};
use narherder::synth::{Flavour, Generator, SynthOptions};
use narherder::{nix32, Narinfo};

struct Cluster {
    dir: String,
    port: u16,
}

fn script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pg-cluster")
}

impl Cluster {
    fn start(name: &str) -> Cluster {
        let out = Command::new(script())
            .args(["start", name])
            .output()
            .expect("scripts/pg-cluster");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let field = |k: &str| {
            text.split_whitespace()
                .find_map(|w| w.strip_prefix(k))
                .expect("pg-cluster output")
                .to_string()
        };
        Cluster {
            dir: field("PGCLUSTER_DIR="),
            port: field("PGCLUSTER_PORT=").parse().expect("port"),
        }
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(script()).args(["stop", &self.dir]).status();
    }
}

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn status(port: u16, path: &str) -> u16 {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    if write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .is_err()
    {
        return 0;
    }
    let mut head = [0u8; 16];
    let mut got = 0;
    while got < 12 {
        match s.read(&mut head[got..]) {
            Ok(0) | Err(_) => return 0,
            Ok(n) => got += n,
        }
    }
    std::str::from_utf8(&head[9..12])
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn probe(n: u64) -> (String, Narinfo) {
    let mut key = [0x5au8; 20];
    key[12..].copy_from_slice(&n.to_be_bytes());
    let hash = nix32::encode(&key);
    let text = format!(
        "StorePath: /gnu/store/{hash}-probe-{n}\nURL: nar/lzip/{hash}-probe-{n}\n\
         Compression: lzip\nFileSize: 100\nNarHash: sha256:{}\nNarSize: 300\nReferences: \n",
        nix32::encode(&[7u8; 32])
    );
    (hash, Narinfo::parse(&text).expect("probe narinfo"))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let count: usize = std::env::var("BENCH_COUNT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let poll = std::env::var("BENCH_POLL").unwrap_or_else(|_| "500ms".into());
    let batch: usize = std::env::var("BENCH_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
        .max(1);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (p, m) = (
        Cluster::start("bench-primary"),
        Cluster::start("bench-mirror"),
    );
    let options = StoreOptions::with_store_dir("/gnu/store");
    let (primary, prober, mirror) = rt.block_on(async {
        let primary = Store::open(&p.url(), &options).await.expect("primary");
        let prober = Store::open(&p.url(), &options).await.expect("prober");
        repl::publish(&primary).await.expect("publish");
        let mirror = Store::open(&m.url(), &options).await.expect("mirror");
        let from = ConnInfo::parse(&p.url()).expect("conninfo");
        repl::subscribe(&mirror, &SubscribeOptions::new(from), |_| {})
            .await
            .expect("subscribe");
        (primary, prober, mirror)
    });
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let _server = Serve(
        Command::new(env!("CARGO_BIN_EXE_narherder"))
            .args([
                "--database",
                &m.url(),
                "serve",
                "--read-only",
                "--node-name",
                "mirror",
            ])
            .args([
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--poll-interval",
                &poll,
            ])
            .env_remove("NARHERDER_DATABASE")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("narherder serve"),
    );
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(20));
    }

    let narinfos: Vec<Narinfo> = {
        let mut gen = Generator::new(SynthOptions {
            count,
            seed: 1,
            flavour: Flavour::Guix,
            ..SynthOptions::default()
        });
        let mut out = Vec::with_capacity(count);
        while let Some(item) = gen.next_item() {
            out.push(gen.render(&item).expect("render"));
        }
        out
    };
    let done = Arc::new(AtomicBool::new(false));
    let (lags, import_secs) = rt.block_on(async {
        let flag = done.clone();
        let import = tokio::spawn(async move {
            let start = Instant::now();
            for chunk in narinfos.chunks(batch) {
                primary
                    .add_many(chunk, AddMode::Keep)
                    .await
                    .expect("import");
            }
            flag.store(true, Ordering::SeqCst);
            start.elapsed().as_secs_f64()
        });
        let mut watchers = Vec::new();
        let mut n = 0u64;
        while !done.load(Ordering::SeqCst) {
            let (hash, narinfo) = probe(n);
            n += 1;
            prober.add(&narinfo, AddMode::Keep).await.expect("probe");
            let committed = Instant::now();
            watchers.push(tokio::task::spawn_blocking(move || {
                let path = format!("/{hash}.narinfo");
                while status(port, &path) != 200 {
                    if committed.elapsed() > Duration::from_secs(120) {
                        return None;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                Some(committed.elapsed())
            }));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let import_secs = import.await.expect("import task");
        let ended = Instant::now();
        let want = u64::try_from(count).unwrap_or(u64::MAX) + n;
        while mirror.counts().await.expect("counts").narinfos < want {
            assert!(
                ended.elapsed() < Duration::from_secs(300),
                "the mirror never caught up"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        println!(
            "the mirror held all {want} narinfos {:.2} s after the import's last commit",
            ended.elapsed().as_secs_f64()
        );
        let mut lags = Vec::new();
        for w in watchers {
            lags.push(w.await.expect("watcher").expect("probe never served"));
        }
        (lags, import_secs)
    });
    let mut sorted = lags.clone();
    sorted.sort();
    let served = rt.block_on(mirror.counts()).expect("counts").narinfos;
    println!(
        "imported {count} narinfos on the primary in batches of {batch}: {import_secs:.1} s ({:.0}/s) while probing",
        count as f64 / import_secs
    );
    println!(
        "mirror (--poll-interval {poll}): {} probes, lag p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms; mirror holds {served} narinfos",
        sorted.len(),
        percentile(&sorted, 0.5).as_secs_f64() * 1e3,
        percentile(&sorted, 0.9).as_secs_f64() * 1e3,
        percentile(&sorted, 0.99).as_secs_f64() * 1e3,
        sorted.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
    );
}
