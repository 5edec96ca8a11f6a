//! `narherder serve`: the HTTP binary cache. Settings come from flags, then
//! `NARHERDER_*` variables, then `--config FILE` (TOML, keys named like the
//! flags), then defaults.

use std::path::PathBuf;

use anyhow::Context as _;
use narherder::server::{self, Settings};

use crate::Ctx;

/// Arguments of `narherder serve`.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  narherder serve --storage /var/lib/narherder/nars --listen 127.0.0.1:8080
  narherder serve --config /etc/narherder/serve.toml
  NARHERDER_TOKEN=secret narherder --store-dir /nix/store serve --storage nars --sign-key cache.sec

Every flag is also a key of the --config file (e.g. negative-ttl = \"5m\") and an environment
variable (NARHERDER_NEGATIVE_TTL); flags win over variables, variables over the file.")]
pub struct Args {
    /// TOML file of settings (keys named like these flags).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address and port to listen on [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<String>,
    /// Directory of nar files (served for the URLs narinfos name).
    #[arg(long, value_name = "DIR")]
    storage: Option<PathBuf>,
    /// Cache-Control max-age of narinfo hits [default: 1d].
    #[arg(long, value_name = "DURATION")]
    ttl: Option<String>,
    /// Cache-Control max-age of narinfo misses [default: 5m].
    #[arg(long, value_name = "DURATION")]
    negative_ttl: Option<String>,
    /// Priority announced in /nix-cache-info [default: 100].
    #[arg(long)]
    priority: Option<u32>,
    /// Announce WantMassQuery: 1 in /nix-cache-info.
    #[arg(long)]
    want_mass_query: bool,
    /// File of write tokens, one per line (NARHERDER_TOKEN adds one).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Refuse every write (a mirror).
    #[arg(long)]
    read_only: bool,
    /// Sign uploaded narinfos that carry no signature with this secret key.
    #[arg(long, value_name = "FILE")]
    sign_key: Option<PathBuf>,
    /// Refuse uploaded narinfos that no --key validly signed.
    #[arg(long)]
    require_signature: bool,
    /// Trusted public key file (Guix ACL or .pub, Nix key file); repeatable.
    #[arg(long = "key", value_name = "FILE")]
    keys: Vec<PathBuf>,
    /// This node's name in analytics and in Guix signatures made here
    /// [default: the host name].
    #[arg(long, value_name = "NAME")]
    node_name: Option<String>,
    /// Bytes of narinfo text kept in memory [default: 32M].
    #[arg(long, value_name = "SIZE")]
    cache_size: Option<String>,
    /// How often the change feed is polled [default: 500ms].
    #[arg(long, value_name = "DURATION")]
    poll_interval: Option<String>,
    /// How often analytics are written to the database [default: 5s].
    #[arg(long, value_name = "DURATION")]
    flush_interval: Option<String>,
    /// Largest number of open connections [default: 4096].
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    /// Largest nar file accepted by PUT [default: 8G].
    #[arg(long, value_name = "SIZE")]
    max_nar_size: Option<String>,
    /// Time allowed for a request head, and between body pieces [default: 30s].
    #[arg(long, value_name = "DURATION")]
    read_timeout: Option<String>,
    /// Fetch nar files missing here from this server (a mirror's primary
    /// or another mirror), streaming them while storing them.
    #[arg(long, value_name = "URL")]
    nar_upstream: Option<String>,
    /// Keep the nar storage under this size when fetching from an upstream
    /// (least recently used files go first) [default: no limit].
    #[arg(long, value_name = "SIZE")]
    nar_cache_size: Option<String>,
}

impl Args {
    fn settings(self) -> Settings {
        Settings {
            database: None,
            listen: self.listen,
            storage: self.storage,
            ttl: self.ttl,
            negative_ttl: self.negative_ttl,
            priority: self.priority,
            want_mass_query: self.want_mass_query.then_some(true),
            token_file: self.token_file,
            read_only: self.read_only.then_some(true),
            sign_key: self.sign_key,
            require_signature: self.require_signature.then_some(true),
            key: (!self.keys.is_empty()).then_some(self.keys),
            node_name: self.node_name,
            cache_size: self.cache_size,
            poll_interval: self.poll_interval,
            flush_interval: self.flush_interval,
            max_connections: self.max_connections,
            max_nar_size: self.max_nar_size,
            read_timeout: self.read_timeout,
            nar_upstream: self.nar_upstream,
            nar_cache_size: self.nar_cache_size,
        }
    }
}

/// Runs `narherder serve` until SIGINT or SIGTERM.
pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<u8> {
    limit_malloc_arenas();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let config_file = args.config.clone();
    let settings = crate::support::layered_settings(args.settings(), config_file.as_deref())?;
    let config = settings.resolve()?;
    // The global --database (or NARHERDER_DATABASE) wins over the file.
    let database = crate::support::server_database(ctx, &settings);
    // The server reads narinfos in small batches (its hot path caches
    // them): a memory map of the whole database file and import-sized
    // page caches would only grow its resident size.
    let options = narherder::store::StoreOptions {
        store_dir: ctx.store_dir.clone(),
        sqlite_mmap_bytes: Some(0),
        sqlite_cache_kib: Some(2 * 1024),
        ..Default::default()
    };
    let store = narherder::store::Store::open(&database, &options)
        .await
        .with_context(|| format!("opening {database}"))?;
    server::run_until_signal(store.clone(), config).await?;
    store.close().await;
    Ok(0)
}

/// glibc gives every thread that allocates its own malloc arena (up to
/// 8 per core); the database threads' short-lived row buffers then keep
/// tens of MiB resident. Two arenas keep the server's peak RSS near its
/// real working set (measured: 97 -> 69 MiB after loading 10,000 narinfos
/// from a 1M store). `MALLOC_ARENA_MAX` in the environment still wins.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only adjusts an allocator parameter.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}
