//! Helpers shared by the integration tests: a fresh database on every
//! backend, and synthetic narinfos.
//!
//! PostgreSQL comes from `NARHERDER_TEST_POSTGRES` (a `postgres://…/postgres`
//! URL of a throwaway cluster; `scripts/test` starts one and exports it).
//! Each test gets a database of its own there, dropped afterwards. Without
//! the variable the PostgreSQL half is skipped, except under `CI=true`,
//! where that is a failure.

#![allow(dead_code)]

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use narherder::nix32;
use narherder::store::{Store, StoreOptions};
use sqlx::Connection as _;

/// Environment variable naming the PostgreSQL test cluster.
pub const POSTGRES_ENV: &str = "NARHERDER_TEST_POSTGRES";

/// A fresh, empty database for one test.
pub struct TestDb {
    /// Database URL to open.
    pub url: String,
    /// `"sqlite"` or `"postgres"`.
    pub backend: &'static str,
    /// For PostgreSQL: the admin URL and the database to drop afterwards.
    drop: Option<(String, String)>,
    /// For SQLite: the temporary directory holding the file.
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// Opens a store on this database.
    pub async fn open(&self, options: &StoreOptions) -> Store {
        Store::open(&self.url, options)
            .await
            .unwrap_or_else(|e| panic!("{}: opening {}: {e}", self.backend, self.url))
    }

    /// The SQLite file, if this is SQLite.
    pub fn sqlite_path(&self) -> Option<std::path::PathBuf> {
        self._dir.as_ref().map(|d| d.path().join("narherder.db"))
    }

    /// Drops the PostgreSQL database (for tests that do not use
    /// [`for_each_backend`]).
    pub async fn finish_public(self) {
        self.finish().await
    }

    async fn finish(self) {
        if let Some((admin, name)) = &self.drop {
            if let Ok(mut c) = sqlx::PgConnection::connect(admin).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut c)
                    .await;
                let _ = c.close().await;
            }
        }
    }
}

/// The PostgreSQL admin URL, or `None` (after saying so) when tests should
/// run on SQLite only. Panics under `CI=true` when it is missing.
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var(POSTGRES_ENV) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{POSTGRES_ENV} is unset but CI=true: PostgreSQL tests must not be skipped (run scripts/test)");
            }
            eprintln!("SKIPPED postgres: {POSTGRES_ENV} unset");
            None
        }
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique_name(test: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let clean: String = test
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(30)
        .collect::<String>()
        .to_ascii_lowercase();
    format!("nh_{clean}_{}_{n}", std::process::id())
}

/// `postgres://u@h:p/postgres` with the database replaced by `name`.
pub fn with_database(admin: &str, name: &str) -> String {
    let (base, query) = match admin.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (admin, None),
    };
    let after_scheme = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[after_scheme..].find('/') {
        Some(slash) => &base[..after_scheme + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// A fresh SQLite database in a temporary directory.
pub fn sqlite_db() -> TestDb {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("narherder.db").display());
    TestDb {
        url,
        backend: "sqlite",
        drop: None,
        _dir: Some(dir),
    }
}

/// A fresh PostgreSQL database in the test cluster at `admin`.
pub async fn postgres_db(admin: &str, test: &str) -> TestDb {
    let name = unique_name(test);
    let mut c = sqlx::PgConnection::connect(admin)
        .await
        .unwrap_or_else(|e| panic!("connecting to {POSTGRES_ENV}={admin}: {e}"));
    // `name` is built from [a-z0-9_] only.
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut c)
        .await
        .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
    let _ = c.close().await;
    TestDb {
        url: with_database(admin, &name),
        backend: "postgres",
        drop: Some((admin.to_string(), name)),
        _dir: None,
    }
}

/// Fresh databases for `test`: SQLite, and PostgreSQL when available.
pub async fn databases(test: &str) -> Vec<TestDb> {
    let mut dbs = vec![sqlite_db()];
    if let Some(admin) = postgres_admin_url() {
        dbs.push(postgres_db(&admin, test).await);
    }
    dbs
}

/// Runs `f` once per backend on a fresh database, dropping it afterwards.
pub async fn for_each_backend<F, Fut>(test: &str, f: F)
where
    F: Fn(TestDb) -> Fut,
    Fut: Future<Output = TestDb>,
{
    for db in databases(test).await {
        eprintln!("-- {test} on {}", db.backend);
        let db = f(db).await;
        db.finish().await;
    }
}

/// A deterministic 32-character hash part for `n` (distinct for distinct
/// `n`, spread over the key space).
pub fn hash_for(n: u64) -> String {
    let mut bytes = [0u8; 20];
    let mut x = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5851_f42d_4c95_7f2d;
    for chunk in bytes.chunks_mut(8) {
        x ^= x >> 31;
        x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        let b = x.to_le_bytes();
        chunk.copy_from_slice(&b[..chunk.len()]);
    }
    // Keep n itself in the last 8 bytes so distinct n never collide.
    bytes[12..].copy_from_slice(&n.to_be_bytes());
    nix32::encode(&bytes)
}

/// The text of a synthetic Nix-style narinfo for `hash` referencing the
/// base names `refs`, with `files` URL groups.
pub fn synthetic_text(
    store_dir: &str,
    hash: &str,
    name: &str,
    refs: &[String],
    files: usize,
) -> String {
    let digest = |salt: u8| {
        let mut b = [salt; 32];
        b[..hash.len().min(32)].copy_from_slice(&hash.as_bytes()[..hash.len().min(32)]);
        nix32::encode(&b)
    };
    let mut t = format!("StorePath: {store_dir}/{hash}-{name}\n");
    for i in 0..files {
        let fh = digest(i as u8 + 1);
        t.push_str(&format!(
            "URL: nar/{fh}.nar.xz\nCompression: xz\nFileHash: sha256:{fh}\nFileSize: {}\n",
            1000 + i
        ));
    }
    t.push_str(&format!(
        "NarHash: sha256:{}\nNarSize: {}\nReferences: {}\nDeriver: {hash}-{name}.drv\n",
        digest(0),
        4096 + hash.len(),
        refs.join(" ")
    ));
    t.push_str("Sig: test-1:dGhpcyBpcyBub3QgYSByZWFsIHNpZ25hdHVyZSwganVzdCBzaXh0eS1mb3VyIGJ5dGVzIG9mIHRlc3QgZGF0YSEh\n");
    t
}
