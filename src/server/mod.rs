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
mod routes;
pub mod upload;

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

/// Everything a request handler needs.
pub struct State {
    store: Store,
    config: ServerConfig,
    hot: Arc<hot::Hot>,
    storage: Option<NarStorage>,
    uploads: Option<upload::Uploads>,
    analytics: Arc<Analytics>,
    metrics: metrics::Metrics,
    gc_jobs: admin::GcJobs,
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
            store,
            hot,
            storage,
            uploads,
            config,
            started: Instant::now(),
        });
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
        let read_timeout = state.config.read_timeout;
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, std::convert::Infallible>(routes::handle(&state, req).await) }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(read_timeout)
                .keep_alive(true)
                .pipeline_flush(true)
                .max_buf_size(64 * 1024)
                .max_headers(64);
            let conn = builder.serve_connection(TokioIo::new(socket), service);
            tokio::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                _ = stop.changed() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, "connection: {e}");
            }
            drop(permit);
        });
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
    let server = Server::start(store, config).await?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| Error::Store(format!("installing the SIGTERM handler: {e}")))?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
    }
    server.shutdown(Duration::from_secs(30)).await
}
