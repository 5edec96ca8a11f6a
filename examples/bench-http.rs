//! Sequential HTTP/1.1 GETs over one keep-alive connection: the latency of
//! a narinfo server as one client sees it (used by `scripts/bench-server`).
//!
//! ```text
//! cargo run --release --example bench-http -- 127.0.0.1:8080 PATHS --requests 100000
//! ```
//!
//! PATHS holds one request path per line; they are requested in turn
//! (cycling) after a warm-up pass. Each response is read exactly by its
//! Content-Length. Prints µs per request and the status counts.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;

/// Measure sequential keep-alive GET latency.
#[derive(Parser)]
struct Args {
    /// Server address, e.g. 127.0.0.1:8080.
    addr: String,
    /// File of request paths, one per line.
    paths: PathBuf,
    /// Requests to time (after one warm-up pass over the paths, at most
    /// as many as timed).
    #[arg(long, default_value_t = 100_000)]
    requests: usize,
}

fn read_response(r: &mut BufReader<TcpStream>, line: &mut String) -> std::io::Result<u16> {
    line.clear();
    r.read_line(line)?;
    let status: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut len = None;
    loop {
        line.clear();
        r.read_line(line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse::<usize>().ok();
            }
        }
    }
    let len = len.ok_or_else(|| std::io::Error::other("response without Content-Length"))?;
    let mut body = vec![0; len];
    r.read_exact(&mut body)?;
    Ok(status)
}

fn run(args: &Args) -> std::io::Result<()> {
    let text = std::fs::read_to_string(&args.paths)?;
    let paths: Vec<String> = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(|p| format!("GET {p} HTTP/1.1\r\nHost: bench\r\n\r\n"))
        .collect();
    if paths.is_empty() {
        return Err(std::io::Error::other("no paths"));
    }
    let stream = TcpStream::connect(&args.addr)?;
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    for req in paths.iter().take(args.requests) {
        writer.write_all(req.as_bytes())?;
        read_response(&mut reader, &mut line)?;
    }
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let start = Instant::now();
    for req in paths.iter().cycle().take(args.requests) {
        writer.write_all(req.as_bytes())?;
        *statuses
            .entry(read_response(&mut reader, &mut line)?)
            .or_default() += 1;
    }
    let elapsed = start.elapsed();
    println!(
        "{:.2} us/request over {} requests ({:?})",
        elapsed.as_secs_f64() * 1e6 / args.requests as f64,
        args.requests,
        statuses
    );
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-http: {e}");
            ExitCode::FAILURE
        }
    }
}
