//! Helpers for the server tests: an in-process server on 127.0.0.1:0 and a
//! raw HTTP/1.1 client that reads exactly Content-Length bytes (as Guix's
//! client does), so that framing errors show.

#![allow(dead_code)]

use std::time::Duration;

use narherder::server::{Server, ServerConfig};
use narherder::store::Store;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A parsed response.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One connection.
pub struct Conn {
    pub reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    pub writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Conn {
    pub async fn open(addr: std::net::SocketAddr) -> Conn {
        let s = TcpStream::connect(addr).await.expect("connect");
        s.set_nodelay(true).unwrap();
        let (r, w) = s.into_split();
        Conn {
            reader: BufReader::new(r),
            writer: w,
        }
    }

    pub async fn send(&mut self, raw: &[u8]) {
        self.writer.write_all(raw).await.expect("write");
    }

    /// Reads one response; `head` when it answers a HEAD (no body).
    pub async fn read(&mut self, head: bool) -> Resp {
        tokio::time::timeout(Duration::from_secs(10), self.read_inner(head))
            .await
            .expect("response within 10 s")
    }

    async fn read_inner(&mut self, head: bool) -> Resp {
        let mut line = String::new();
        self.reader.read_line(&mut line).await.expect("status line");
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {line:?}"));
        let mut headers = Vec::new();
        loop {
            let mut l = String::new();
            self.reader.read_line(&mut l).await.expect("header");
            let l = l.trim_end_matches(['\r', '\n']);
            if l.is_empty() {
                break;
            }
            let (k, v) = l.split_once(':').expect("header colon");
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        let mut r = Resp {
            status,
            headers,
            body: Vec::new(),
        };
        assert!(
            r.header("transfer-encoding").is_none(),
            "chunked response: {r:?}"
        );
        if status == 100 {
            return r;
        }
        let len: usize = r
            .header("content-length")
            .unwrap_or_else(|| panic!("no Content-Length: {r:?}"))
            .parse()
            .unwrap();
        if !head {
            let mut body = vec![0; len];
            self.reader.read_exact(&mut body).await.expect("body");
            r.body = body;
        }
        r
    }

    /// Sends a request and reads its response.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Resp {
        let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: test\r\n");
        for (k, v) in headers {
            raw.push_str(&format!("{k}: {v}\r\n"));
        }
        if !body.is_empty() || method == "PUT" {
            raw.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        raw.push_str("\r\n");
        let mut bytes = raw.into_bytes();
        bytes.extend_from_slice(body);
        self.send(&bytes).await;
        self.read(method == "HEAD").await
    }
}

/// A request on a fresh connection.
pub async fn request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    Conn::open(addr)
        .await
        .request(method, path, headers, body)
        .await
}

pub async fn get(addr: std::net::SocketAddr, path: &str) -> Resp {
    request(addr, "GET", path, &[], b"").await
}

/// A test configuration: port 0, fast polling and flushing.
pub fn config() -> ServerConfig {
    ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        poll_interval: Duration::from_millis(100),
        flush_interval: Duration::from_secs(3600),
        node_name: "test-node".into(),
        ..ServerConfig::default()
    }
}

pub async fn start(store: &Store, config: ServerConfig) -> Server {
    Server::start(store.clone(), config)
        .await
        .expect("server starts")
}

/// Waits up to `limit` for `f` to hold.
pub async fn eventually<F, Fut>(limit: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = tokio::time::Instant::now() + limit;
    loop {
        if f().await {
            return true;
        }
        if tokio::time::Instant::now() > end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
