//! A normal client's latency while hostile clients load the server: the
//! figures of BENCHMARKS.md, "Hostile clients". Not a criterion bench: one
//! run of each scenario, printed as a table.
//!
//! `cargo bench --bench hostile`
//!
//! A server on an on-disk SQLite store of 10 000 synthetic narinfos; the
//! normal client opens a keep-alive connection and GETs random narinfos one
//! at a time for each scenario's duration:
//!
//! * idle: nobody else;
//! * slowloris: 1000 connections each trickling a request head, one byte
//!   every 100 ms;
//! * flood: 8 connections sending pipelined narinfo GETs (hits and misses)
//!   as fast as the server answers;
//! * garbage: 8 connections sending malformed requests in a loop (each
//!   answered 400 and closed);
//! * full: `--max-connections` 256 filled with 256 idle connections
//!   (`--read-timeout` 2 s): a new client waits until they time out.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use narherder::server::{Server, ServerConfig};
use narherder::store::{AddMode, Store, StoreOptions};
use narherder::synth::{Generator, SynthOptions};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const ITEMS: usize = 10_000;
const RUN: Duration = Duration::from_secs(5);

async fn read_response<R: tokio::io::AsyncBufRead + Unpin>(r: &mut R) -> Option<u16> {
    let mut line = String::new();
    if r.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let status = line.get(9..12)?.parse().ok()?;
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        r.read_line(&mut h).await.ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).await.ok()?;
    Some(status)
}

/// GETs random narinfos on one keep-alive connection (reconnecting when
/// the server closes it) until `RUN` is over; returns the latencies.
async fn normal_client(addr: SocketAddr, hashes: Arc<Vec<String>>) -> Vec<Duration> {
    let mut lat = Vec::new();
    let end = Instant::now() + RUN;
    let mut i = 7usize;
    let mut conn: Option<(
        BufReader<tokio::net::tcp::OwnedReadHalf>,
        tokio::net::tcp::OwnedWriteHalf,
    )> = None;
    while Instant::now() < end {
        i = (i * 1_103_515_245 + 12_345) % hashes.len();
        let start = Instant::now();
        if conn.is_none() {
            let s = TcpStream::connect(addr).await.expect("connect");
            s.set_nodelay(true).ok();
            let (r, w) = s.into_split();
            conn = Some((BufReader::new(r), w));
        }
        let (r, w) = conn.as_mut().expect("connection");
        let req = format!("GET /{}.narinfo HTTP/1.1\r\nHost: b\r\n\r\n", hashes[i]);
        let ok = w.write_all(req.as_bytes()).await.is_ok() && read_response(r).await == Some(200);
        if ok {
            lat.push(start.elapsed());
        } else {
            conn = None;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    lat
}

fn summary(name: &str, mut lat: Vec<Duration>, load: &str) {
    lat.sort();
    let q = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
    };
    println!(
        "| {name} | {} | {:.2} | {:.2} | {:.2} | {:.1} | {load} |",
        lat.len(),
        q(0.5),
        q(0.99),
        q(0.999),
        lat.last().map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
    );
}

async fn start(store: &Store, max_connections: usize, read_timeout: Duration) -> Server {
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse().expect("address"),
        max_connections,
        read_timeout,
        flush_interval: Duration::from_secs(3600),
        ..ServerConfig::default()
    };
    Server::start(store.clone(), config).await.expect("server")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = Store::open(&url, &StoreOptions::with_store_dir("/gnu/store"))
        .await
        .expect("store");
    let mut gen = Generator::new(SynthOptions {
        count: ITEMS,
        seed: 5,
        ..SynthOptions::default()
    });
    let mut items = Vec::new();
    while let Some(item) = gen.next_item() {
        items.push(gen.render(&item).expect("render"));
    }
    store.add_many(&items, AddMode::Keep).await.expect("add");
    let hashes: Arc<Vec<String>> =
        Arc::new(items.iter().map(|n| n.hash_part().to_string()).collect());

    println!("| scenario | requests | p50 ms | p99 ms | p99.9 ms | max ms | hostile load |");
    println!("|---|---|---|---|---|---|---|");
    let server = start(&store, 4096, Duration::from_secs(30)).await;
    let addr = server.local_addr();
    summary("idle", normal_client(addr, hashes.clone()).await, "none");

    // Slowloris.
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..1000 {
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let Ok(mut s) = TcpStream::connect(addr).await else {
                return;
            };
            let head = b"GET /nix-cache-info HTTP/1.1\r\nHost: b\r\nX-Slow: ";
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let b = [head.get(i).copied().unwrap_or(b'a')];
                if s.write_all(&b).await.is_err() {
                    return;
                }
                i += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    summary(
        "slowloris",
        normal_client(addr, hashes.clone()).await,
        "1000 connections trickling a head",
    );
    stop.store(true, Ordering::Relaxed);
    for t in tasks.drain(..) {
        let _ = t.await;
    }

    // Flood of pipelined requests.
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    for k in 0..8 {
        let (stop, answered, hashes) = (stop.clone(), answered.clone(), hashes.clone());
        tasks.push(tokio::spawn(async move {
            let s = TcpStream::connect(addr).await.expect("connect");
            let (r, mut w) = s.into_split();
            let mut r = BufReader::new(r);
            let mut n = k * 977;
            while !stop.load(Ordering::Relaxed) {
                let mut batch = String::new();
                for j in 0..64 {
                    n = (n + 1) % hashes.len();
                    if j % 2 == 0 {
                        batch.push_str(&format!("GET /{}.narinfo HTTP/1.1\r\nHost: b\r\n\r\n", hashes[n]));
                    } else {
                        batch.push_str("GET /eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee.narinfo HTTP/1.1\r\nHost: b\r\n\r\n");
                    }
                }
                if w.write_all(batch.as_bytes()).await.is_err() {
                    return;
                }
                for _ in 0..64 {
                    if read_response(&mut r).await.is_none() {
                        return;
                    }
                    answered.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let t0 = Instant::now();
    let lat = normal_client(addr, hashes.clone()).await;
    let rate = answered.load(Ordering::Relaxed) as f64 / t0.elapsed().as_secs_f64();
    summary(
        "flood",
        lat,
        &format!("8 connections pipelining GETs: {rate:.0} answers/s"),
    );
    stop.store(true, Ordering::Relaxed);
    for t in tasks.drain(..) {
        let _ = t.await;
    }

    // Garbage requests.
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    for _ in 0..8 {
        let (stop, sent) = (stop.clone(), sent.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let Ok(mut s) = TcpStream::connect(addr).await else {
                    continue;
                };
                let _ = s
                    .write_all(b"GET /\x00\xff HTTP/1.1\r\nHost: b\r\n\r\n")
                    .await;
                let mut buf = [0u8; 256];
                let _ = s.read(&mut buf).await;
                sent.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let t0 = Instant::now();
    let lat = normal_client(addr, hashes.clone()).await;
    let rate = sent.load(Ordering::Relaxed) as f64 / t0.elapsed().as_secs_f64();
    summary(
        "garbage",
        lat,
        &format!("8 loops of malformed requests: {rate:.0} connections/s"),
    );
    stop.store(true, Ordering::Relaxed);
    for t in tasks.drain(..) {
        let _ = t.await;
    }
    server
        .shutdown(Duration::from_secs(5))
        .await
        .expect("shutdown");

    // Connection slots all taken by idle clients.
    let server = start(&store, 256, Duration::from_secs(2)).await;
    let addr = server.local_addr();
    let mut idle = Vec::new();
    for _ in 0..256 {
        idle.push(TcpStream::connect(addr).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    summary(
        "full",
        normal_client(addr, hashes.clone()).await,
        "256 idle connections = --max-connections, --read-timeout 2s",
    );
    drop(idle);
    server
        .shutdown(Duration::from_secs(5))
        .await
        .expect("shutdown");
}
