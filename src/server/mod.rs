//! The reference HTTP server: a Guix- and Nix-compatible binary cache over
//! a [`Store`].
//!
//! * `GET /nix-cache-info`; `GET`/`HEAD /<hash>.narinfo` from the in-memory
//!   hot path ([`hot`]); nar files streamed from the storage directory with
//!   Range support ([`nar`]), for the URLs stored narinfos name, and
//!   nix-serve's legacy `nar/<hash>-<narhash>.nar`;
//! * `guix publish`'s content-addressed `/file/<name>/sha256/<hash>`
//!   ([`files`]) and build logs at `/log/<store-file-name>` ([`logs`]);
//! * `PUT /<hash>.narinfo` and `PUT /nar/…` as `nix copy --to http://…`
//!   sends them, with a token ([`auth`], [`upload`]); a JSON admin API;
//! * `GET /metrics` ([`metrics`]); request analytics ([`crate::analytics`]).
//!
//! HTTP/1.1 with keep-alive and pipelining (answers strictly in order), an
//! exact Content-Length on every response, read timeouts, a connection
//! limit, and a graceful shutdown that lets requests finish and flushes
//! analytics.

pub mod admin;
pub mod auth;
pub mod body;
pub mod config;
pub mod files;
pub mod hot;
pub mod logs;
pub mod metrics;
pub mod nar;
mod plot;
mod routes;
pub mod status;
pub mod upload;
pub mod upstream;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::header::HeaderValue;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

use crate::analytics::{Analytics, FlushReport};
use crate::storage::NarStorage;
use crate::store::Store;
use crate::{Error, Result};

pub use config::{ServerConfig, Settings};

/// Largest request head (request line and headers) accepted, in bytes.
/// Real clients send well under 1 KiB.
pub const MAX_REQUEST_HEAD_BYTES: usize = 16 * 1024;

/// Everything a request handler needs.
pub struct State {
    store: Store,
    config: ServerConfig,
    hot: Arc<hot::Hot>,
    storage: Option<NarStorage>,
    uploads: Option<upload::Uploads>,
    upstream: Option<Arc<upstream::Upstream>>,
    analytics: Arc<Analytics>,
    metrics: metrics::Metrics,
    gc_jobs: admin::GcJobs,
    status_page: status::PageCache,
    cache_info: bytes::Bytes,
    hit_cache_control: HeaderValue,
    miss_cache_control: HeaderValue,
    started: Instant,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("listen", &self.config.listen)
            .finish_non_exhaustive()
    }
}

impl State {
    /// The analytics counters.
    pub fn analytics(&self) -> &Arc<Analytics> {
        &self.analytics
    }

    /// The hot path.
    pub fn hot(&self) -> &Arc<hot::Hot> {
        &self.hot
    }

    /// The request metrics.
    pub fn metrics(&self) -> &metrics::Metrics {
        &self.metrics
    }
}

impl State {
    /// The shared state of a server on `store` (the hot path loaded), and
    /// the change feed it follows from.
    pub(crate) async fn build(
        store: Store,
        config: ServerConfig,
    ) -> Result<(Arc<State>, crate::changes::ChangeFeed)> {
        if let crate::store::Backend::Sqlite(pool) = store.backend() {
            // SQLite's page caches (per connection, sized for imports) would
            // outgrow the memory budget on random reads: cap SQLite's heap,
            // process-wide; it then recycles pages instead of growing.
            sqlx::query(&format!(
                "PRAGMA soft_heap_limit = {}",
                config.sqlite_heap_bytes
            ))
            .execute(pool)
            .await?;
        }
        let (hot, feed) = hot::Hot::load(store.clone(), config.cache_bytes).await?;
        let storage = config.storage.as_ref().map(NarStorage::open).transpose()?;
        let uploads = storage
            .as_ref()
            .map(|s| upload::Uploads::open(s.root()))
            .transpose()?;
        let upstream = match (&config.nar_upstream, &config.storage) {
            (Some(url), Some(dir)) => Some(Arc::new(upstream::Upstream::new(
                url,
                NarStorage::open(dir)?,
                config.nar_cache_bytes,
            )?)),
            _ => None,
        };
        let cache_info = format!(
            "StoreDir: {}\nWantMassQuery: {}\nPriority: {}\n",
            store.store_dir(),
            u8::from(config.want_mass_query),
            config.priority
        );
        let state = Arc::new(State {
            analytics: Arc::new(Analytics::new(config.node_name.clone())),
            hit_cache_control: cache_control(config.ttl),
            miss_cache_control: cache_control(config.negative_ttl),
            cache_info: cache_info.into(),
            metrics: metrics::Metrics::new(),
            gc_jobs: admin::GcJobs::default(),
            status_page: status::PageCache::default(),
            store,
            hot,
            storage,
            uploads,
            upstream,
            config,
            started: Instant::now(),
        });
        Ok((state, feed))
    }
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    state: Arc<State>,
    stop: watch::Sender<bool>,
    accept: tokio::task::JoinHandle<()>,
    background: Vec<tokio::task::JoinHandle<()>>,
    connections: Arc<Semaphore>,
}

/// `max-age=<d>`, as a static header value: cloning it for every response
/// then copies a pointer instead of bumping a reference count that every
/// worker thread shares. (A few bytes leaked per server started.)
fn cache_control(d: Duration) -> HeaderValue {
    let text: &'static str = Box::leak(format!("max-age={}", d.as_secs()).into_boxed_str());
    HeaderValue::from_static(text)
}

impl Server {
    /// Binds `config.listen`, loads the hot path and starts serving, the
    /// change feed follower and the analytics flusher.
    pub async fn start(store: Store, config: ServerConfig) -> Result<Server> {
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| Error::Store(format!("cannot listen on {}: {e}", config.listen)))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Store(format!("listening socket: {e}")))?;
        let (state, feed) = State::build(store, config).await?;
        let (stop, stop_rx) = watch::channel(false);
        let connections = Arc::new(Semaphore::new(state.config.max_connections));
        let mut background = Vec::new();
        background.push(tokio::spawn(state.hot.clone().follow(
            feed,
            state.config.poll_interval,
            state.config.changes_retention,
            stop_rx.clone(),
        )));
        background.push(tokio::spawn(flusher(state.clone(), stop_rx.clone())));
        if let Some(u) = &state.uploads {
            background.push(tokio::spawn(upload::sweeper(u.clone(), stop_rx.clone())));
        }
        let accept = tokio::spawn(accept_loop(
            listener,
            state.clone(),
            connections.clone(),
            stop_rx,
        ));
        tracing::info!(%addr, store_dir = state.store.store_dir(), narinfos = state.hot.narinfo_count(), "serving");
        Ok(Server {
            addr,
            state,
            stop,
            accept,
            background,
            connections,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state.
    pub fn state(&self) -> &Arc<State> {
        &self.state
    }

    /// Writes the analytics gathered so far now (request times for
    /// eviction included).
    pub async fn flush_analytics(&self) -> Result<FlushReport> {
        self.state.analytics.flush_all(&self.state.store).await
    }

    /// Stops accepting connections, lets in-flight requests finish (up to
    /// `grace`), stops the background tasks and flushes analytics.
    pub async fn shutdown(self, grace: Duration) -> Result<()> {
        let _ = self.stop.send(true);
        let _ = self.accept.await;
        let max = u32::try_from(self.state.config.max_connections).unwrap_or(u32::MAX);
        if tokio::time::timeout(grace, self.connections.acquire_many(max))
            .await
            .is_err()
        {
            tracing::warn!("connections still open after {grace:?}; closing them");
        }
        for task in self.background {
            let _ = task.await;
        }
        let report = self.state.analytics.flush_all(&self.state.store).await?;
        tracing::info!(?report, "analytics flushed; stopped");
        Ok(())
    }
}

async fn accept_loop(
    listener: TcpListener,
    state: Arc<State>,
    connections: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let permit = tokio::select! {
            p = connections.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
            _ = stop.changed() => return,
        };
        let (socket, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let _ = socket.set_nodelay(true);
        let state = state.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            if let Err(e) = serve_connection(state, TokioIo::new(socket), stop).await {
                tracing::debug!(%peer, "connection: {e}");
            }
            drop(permit);
        });
    }
}

/// Serves HTTP/1.1 on one connection until the client closes it, a limit
/// or timeout ends it, or `stop` asks for a graceful end.
pub(crate) async fn serve_connection<I>(
    state: Arc<State>,
    io: I,
    mut stop: watch::Receiver<bool>,
) -> std::result::Result<(), hyper::Error>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let read_timeout = state.config.read_timeout;
    let service = hyper::service::service_fn(move |req| {
        let state = state.clone();
        async move { Ok::<_, std::convert::Infallible>(routes::handle(&state, req).await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(read_timeout)
        .keep_alive(true)
        // No `pipeline_flush`: with it, hyper (1.12) never flushes the 400,
        // 414 or 431 it writes for a request it cannot parse (it skips
        // flushing while unread bytes remain, and the bad request's bytes
        // always do), so a client sending a NUL or a too-long header got
        // a silent close instead of an answer. Found by fuzzing
        // (fuzz/regressions/route/); pipelined answers are still written
        // in order, one write each.
        .max_buf_size(64 * 1024)
        // The request line and headers together (a 431 beyond): what
        // `max_buf_size` alone does not bound when the head arrives whole.
        .max_header_size(MAX_REQUEST_HEAD_BYTES)
        .max_headers(64);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => r,
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    }
}

async fn flusher(state: Arc<State>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(state.config.flush_interval) => {}
            _ = stop.changed() => return,
        }
        if let Err(e) = state.analytics.flush(&state.store).await {
            tracing::warn!("writing analytics: {e}");
        }
    }
}

/// Runs a server until SIGINT or SIGTERM, then shuts it down gracefully.
pub async fn run_until_signal(store: Store, config: ServerConfig) -> Result<()> {
    // The handler first: a SIGTERM right after the server starts answering
    // must stop it gracefully, not kill it.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| Error::Store(format!("installing the SIGTERM handler: {e}")))?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(|e| Error::Store(format!("installing the SIGINT handler: {e}")))?;
    let server = Server::start(store, config).await?;
    tokio::select! {
        _ = int.recv() => tracing::info!("SIGINT: shutting down"),
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
    }
    server.shutdown(Duration::from_secs(30)).await
}
