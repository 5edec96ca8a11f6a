//! Server settings: a TOML file whose keys mirror the command-line flags,
//! overridden by `NARHERDER_*` environment variables, overridden by flags;
//! defaults that work out of the box on the embedded SQLite database.
//!
//! ```toml
//! listen = "127.0.0.1:8080"
//! storage = "/var/lib/narherder/nars"
//! ttl = "1d"            # Cache-Control max-age of narinfo hits
//! negative-ttl = "5m"   # … and of misses
//! token-file = "/etc/narherder/tokens"
//! read-only = false
//! sign-key = "/etc/narherder/signing-key.sec"
//! require-signature = true
//! key = ["/etc/guix/acl", "/etc/nix/cache.pub"]
//! node-name = "mirror-eu"
//! nar-upstream = "http://primary.example:8080"
//! nar-cache-size = "200G"
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::auth::Tokens;
use crate::signing::{Keyring, SecretKey};
use crate::{Error, Result};

/// Settings as written in the file, the environment or on the command
/// line: everything optional, so layers can be stacked.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Settings {
    /// Database URL (the CLI's global `--database` wins over this).
    pub database: Option<String>,
    /// Address and port to listen on.
    pub listen: Option<String>,
    /// The nar storage directory.
    pub storage: Option<PathBuf>,
    /// `Cache-Control: max-age` of narinfo hits (`3600`, `1h`, `2d`, …).
    pub ttl: Option<String>,
    /// `Cache-Control: max-age` of narinfo misses.
    pub negative_ttl: Option<String>,
    /// `Priority` in `/nix-cache-info`.
    pub priority: Option<u32>,
    /// `WantMassQuery` in `/nix-cache-info`.
    pub want_mass_query: Option<bool>,
    /// File of write tokens, one per line.
    pub token_file: Option<PathBuf>,
    /// Refuse every write.
    pub read_only: Option<bool>,
    /// Secret key that signs uploaded narinfos that carry no signature.
    pub sign_key: Option<PathBuf>,
    /// Refuse uploaded narinfos that are not validly signed by a `key`.
    pub require_signature: Option<bool>,
    /// Trusted public key files (Guix ACL or `.pub`, Nix key files).
    pub key: Option<Vec<PathBuf>>,
    /// The node's name in analytics (default: the host name).
    pub node_name: Option<String>,
    /// Bytes of narinfo text kept in memory.
    pub cache_size: Option<String>,
    /// How often the change feed is polled.
    pub poll_interval: Option<String>,
    /// How often analytics are written to the database.
    pub flush_interval: Option<String>,
    /// Largest number of open connections.
    pub max_connections: Option<usize>,
    /// Largest uploaded nar file.
    pub max_nar_size: Option<String>,
    /// How long a client may take to send a request head, or between two
    /// pieces of a request body.
    pub read_timeout: Option<String>,
    /// Fetch missing nar files from this server (`http://host:port`).
    pub nar_upstream: Option<String>,
    /// Largest total size of the nar storage when fetching from an
    /// upstream (least recently used files go first).
    pub nar_cache_size: Option<String>,
}

impl Settings {
    /// Reads a TOML settings file.
    pub fn from_file(path: &Path) -> Result<Settings> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        toml::from_str(&text).map_err(|e| {
            Error::InvalidArgument(format!("{}: {}", path.display(), e.to_string().trim()))
        })
    }

    /// Settings from `NARHERDER_<KEY>` environment variables (key in upper
    /// case with `_`, e.g. `NARHERDER_NEGATIVE_TTL`; `NARHERDER_KEY` holds
    /// colon-separated paths, booleans are `1`/`true`/`0`/`false`).
    pub fn from_env() -> Result<Settings> {
        Settings::from_vars(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    /// Like [`Settings::from_env`] over any variable lookup.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Settings> {
        let b = |k: &str| -> Result<Option<bool>> {
            get(k)
                .map(|v| match v.trim().to_ascii_lowercase().as_str() {
                    "1" | "true" | "yes" | "on" => Ok(true),
                    "0" | "false" | "no" | "off" => Ok(false),
                    _ => Err(Error::InvalidArgument(format!(
                        "{k}={v:?}: expected true or false"
                    ))),
                })
                .transpose()
        };
        let n = |k: &str| -> Result<Option<u64>> {
            get(k)
                .map(|v| {
                    v.trim().parse::<u64>().map_err(|_| {
                        Error::InvalidArgument(format!("{k}={v:?}: expected a number"))
                    })
                })
                .transpose()
        };
        Ok(Settings {
            database: None,
            listen: get("NARHERDER_LISTEN"),
            storage: get("NARHERDER_STORAGE").map(PathBuf::from),
            ttl: get("NARHERDER_TTL"),
            negative_ttl: get("NARHERDER_NEGATIVE_TTL"),
            priority: n("NARHERDER_PRIORITY")?.map(|p| u32::try_from(p).unwrap_or(u32::MAX)),
            want_mass_query: b("NARHERDER_WANT_MASS_QUERY")?,
            token_file: get("NARHERDER_TOKEN_FILE").map(PathBuf::from),
            read_only: b("NARHERDER_READ_ONLY")?,
            sign_key: get("NARHERDER_SIGN_KEY").map(PathBuf::from),
            require_signature: b("NARHERDER_REQUIRE_SIGNATURE")?,
            key: get("NARHERDER_KEY").map(|v| v.split(':').map(PathBuf::from).collect()),
            node_name: get("NARHERDER_NODE_NAME"),
            cache_size: get("NARHERDER_CACHE_SIZE"),
            poll_interval: get("NARHERDER_POLL_INTERVAL"),
            flush_interval: get("NARHERDER_FLUSH_INTERVAL"),
            max_connections: n("NARHERDER_MAX_CONNECTIONS")?
                .map(|p| usize::try_from(p).unwrap_or(usize::MAX)),
            max_nar_size: get("NARHERDER_MAX_NAR_SIZE"),
            read_timeout: get("NARHERDER_READ_TIMEOUT"),
            nar_upstream: get("NARHERDER_NAR_UPSTREAM"),
            nar_cache_size: get("NARHERDER_NAR_CACHE_SIZE"),
        })
    }

    /// These settings with every unset one taken from `lower`.
    pub fn over(self, lower: Settings) -> Settings {
        Settings {
            database: self.database.or(lower.database),
            listen: self.listen.or(lower.listen),
            storage: self.storage.or(lower.storage),
            ttl: self.ttl.or(lower.ttl),
            negative_ttl: self.negative_ttl.or(lower.negative_ttl),
            priority: self.priority.or(lower.priority),
            want_mass_query: self.want_mass_query.or(lower.want_mass_query),
            token_file: self.token_file.or(lower.token_file),
            read_only: self.read_only.or(lower.read_only),
            sign_key: self.sign_key.or(lower.sign_key),
            require_signature: self.require_signature.or(lower.require_signature),
            key: self.key.or(lower.key),
            node_name: self.node_name.or(lower.node_name),
            cache_size: self.cache_size.or(lower.cache_size),
            poll_interval: self.poll_interval.or(lower.poll_interval),
            flush_interval: self.flush_interval.or(lower.flush_interval),
            max_connections: self.max_connections.or(lower.max_connections),
            max_nar_size: self.max_nar_size.or(lower.max_nar_size),
            read_timeout: self.read_timeout.or(lower.read_timeout),
            nar_upstream: self.nar_upstream.or(lower.nar_upstream),
            nar_cache_size: self.nar_cache_size.or(lower.nar_cache_size),
        }
    }

    /// The server configuration these settings describe (keys and token
    /// files are read now). `NARHERDER_TOKEN` adds a token from the
    /// environment.
    pub fn resolve(&self) -> Result<ServerConfig> {
        let mut c = ServerConfig::default();
        if let Some(l) = &self.listen {
            c.listen = l.parse().map_err(|_| {
                Error::InvalidArgument(format!("listen {l:?}: expected ADDRESS:PORT"))
            })?;
        }
        c.storage = self.storage.clone();
        if let Some(v) = &self.ttl {
            c.ttl = parse_duration(v, "ttl")?;
        }
        if let Some(v) = &self.negative_ttl {
            c.negative_ttl = parse_duration(v, "negative-ttl")?;
        }
        if let Some(p) = self.priority {
            c.priority = p;
        }
        if let Some(w) = self.want_mass_query {
            c.want_mass_query = w;
        }
        if let Some(f) = &self.token_file {
            c.tokens.extend(Tokens::from_file(f)?);
        }
        if let Ok(t) = std::env::var("NARHERDER_TOKEN") {
            c.tokens.extend(Tokens::new(&[t]));
        }
        c.read_only = self.read_only.unwrap_or(false);
        if let Some(k) = &self.sign_key {
            c.sign_key = Some(Arc::new(SecretKey::load(k)?));
        }
        c.require_signature = self.require_signature.unwrap_or(false);
        if let Some(keys) = &self.key {
            c.keyring = Keyring::from_files(keys)?;
        }
        if c.require_signature && c.keyring.is_empty() {
            return Err(Error::InvalidArgument(
                "require-signature needs at least one trusted key (--key FILE)".into(),
            ));
        }
        c.node_name = match &self.node_name {
            Some(n) if !n.trim().is_empty() => n.trim().to_string(),
            _ => default_node_name(),
        };
        if let Some(v) = &self.cache_size {
            c.cache_bytes = parse_size(v, "cache-size")?;
        }
        if let Some(v) = &self.poll_interval {
            c.poll_interval = parse_duration(v, "poll-interval")?.max(Duration::from_millis(10));
        }
        if let Some(v) = &self.flush_interval {
            c.flush_interval = parse_duration(v, "flush-interval")?.max(Duration::from_millis(10));
        }
        if let Some(m) = self.max_connections {
            c.max_connections = m.max(1);
        }
        if let Some(v) = &self.max_nar_size {
            c.max_nar_bytes = parse_size(v, "max-nar-size")?;
        }
        if let Some(v) = &self.read_timeout {
            c.read_timeout = parse_duration(v, "read-timeout")?.max(Duration::from_millis(100));
        }
        c.nar_upstream = self.nar_upstream.clone().filter(|u| !u.trim().is_empty());
        if let Some(v) = &self.nar_cache_size {
            c.nar_cache_bytes = Some(parse_size(v, "nar-cache-size")?);
        }
        if c.nar_upstream.is_some() && c.storage.is_none() {
            return Err(Error::InvalidArgument(
                "nar-upstream needs a storage directory to keep the fetched files (--storage DIR)"
                    .into(),
            ));
        }
        Ok(c)
    }
}

/// The host name, or `localhost`.
pub fn default_node_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_string())
}

/// Parses `90`, `90s`, `500ms`, `5m`, `2h`, `1d` (a bare number is seconds).
pub fn parse_duration(v: &str, what: &str) -> Result<Duration> {
    let v = v.trim();
    let bad = || {
        Error::InvalidArgument(format!(
            "{what} {v:?}: expected a duration such as 30, 500ms, 90s, 5m, 2h or 1d"
        ))
    };
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let ms = match unit {
        "" | "s" => n.checked_mul(1000),
        "ms" => Some(n),
        "m" | "min" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        "d" => n.checked_mul(86_400_000),
        _ => None,
    }
    .ok_or_else(bad)?;
    Ok(Duration::from_millis(ms))
}

/// Parses `1048576`, `64k`, `32M`, `2G` (powers of 1024).
pub fn parse_size(v: &str, what: &str) -> Result<u64> {
    let v = v.trim();
    let bad = || {
        Error::InvalidArgument(format!(
            "{what} {v:?}: expected a size such as 1048576, 64K, 32M or 2G"
        ))
    };
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let mult: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return Err(bad()),
    };
    n.checked_mul(mult).ok_or_else(bad)
}

/// A resolved server configuration.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on (port 0 picks a free one).
    pub listen: SocketAddr,
    /// The nar storage directory (`None`: no nar files are served).
    pub storage: Option<PathBuf>,
    /// `Cache-Control: max-age` of narinfo hits.
    pub ttl: Duration,
    /// `Cache-Control: max-age` of narinfo misses.
    pub negative_ttl: Duration,
    /// `Priority` in `/nix-cache-info`.
    pub priority: u32,
    /// `WantMassQuery` in `/nix-cache-info`.
    pub want_mass_query: bool,
    /// Write tokens (none: writes are refused).
    pub tokens: Tokens,
    /// Refuse every write (a mirror).
    pub read_only: bool,
    /// Signs uploaded narinfos that carry no signature.
    pub sign_key: Option<Arc<SecretKey>>,
    /// Refuse uploaded narinfos not validly signed by a key of `keyring`.
    pub require_signature: bool,
    /// Trusted keys for `require_signature`.
    pub keyring: Keyring,
    /// Node name for analytics, and host name in Guix signatures made here.
    pub node_name: String,
    /// Bytes of narinfo text kept in memory.
    pub cache_bytes: u64,
    /// Process-wide cap on SQLite's heap (page caches), in bytes.
    pub sqlite_heap_bytes: u64,
    /// How often the change feed is polled.
    pub poll_interval: Duration,
    /// How long change feed rows are kept.
    pub changes_retention: Duration,
    /// How often analytics are written.
    pub flush_interval: Duration,
    /// Largest number of open connections.
    pub max_connections: usize,
    /// Largest uploaded nar file.
    pub max_nar_bytes: u64,
    /// Request head / body read timeout.
    pub read_timeout: Duration,
    /// Where missing nar files are fetched from (see [`super::upstream`]).
    pub nar_upstream: Option<String>,
    /// Size limit of the nar storage when fetching from an upstream.
    pub nar_cache_bytes: Option<u64>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            storage: None,
            ttl: Duration::from_secs(86_400),
            negative_ttl: Duration::from_secs(300),
            priority: 100,
            want_mass_query: false,
            tokens: Tokens::default(),
            read_only: false,
            sign_key: None,
            require_signature: false,
            keyring: Keyring::default(),
            node_name: "localhost".into(),
            cache_bytes: 32 << 20,
            sqlite_heap_bytes: 8 << 20,
            poll_interval: Duration::from_millis(500),
            changes_retention: Duration::from_secs(600),
            flush_interval: Duration::from_secs(5),
            max_connections: 4096,
            max_nar_bytes: 8 << 30,
            read_timeout: Duration::from_secs(30),
            nar_upstream: None,
            nar_cache_bytes: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("90", "t").unwrap(), Duration::from_secs(90));
        assert_eq!(
            parse_duration("500ms", "t").unwrap(),
            Duration::from_millis(500)
        );
        assert_eq!(
            parse_duration("2h", "t").unwrap(),
            Duration::from_secs(7200)
        );
        assert_eq!(
            parse_duration("1d", "t").unwrap(),
            Duration::from_secs(86400)
        );
        assert!(parse_duration("1y", "ttl")
            .unwrap_err()
            .to_string()
            .contains("ttl"));
        assert!(parse_duration("-1", "t").is_err());
        assert_eq!(parse_size("64K", "s").unwrap(), 65536);
        assert_eq!(parse_size("2g", "s").unwrap(), 2 << 30);
        assert!(parse_size("12q", "s").is_err());
    }

    #[test]
    fn layers_and_file() {
        let file: Settings = toml::from_str(
            "listen = \"127.0.0.1:9000\"\nttl = \"2h\"\nnegative-ttl = \"1m\"\npriority = 40\n",
        )
        .unwrap();
        let env =
            Settings::from_vars(|k| (k == "NARHERDER_TTL").then(|| "10".to_string())).unwrap();
        let flags = Settings {
            priority: Some(7),
            ..Settings::default()
        };
        let c = flags.over(env.over(file)).resolve().unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.ttl, Duration::from_secs(10));
        assert_eq!(c.negative_ttl, Duration::from_secs(60));
        assert_eq!(c.priority, 7);
        let e = toml::from_str::<Settings>("bogus = 1").unwrap_err();
        assert!(e.to_string().contains("bogus"), "{e}");
        let e = Settings::from_vars(|k| (k == "NARHERDER_READ_ONLY").then(|| "maybe".into()))
            .unwrap_err();
        assert!(e.to_string().contains("NARHERDER_READ_ONLY"));
    }
}
