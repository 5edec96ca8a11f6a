//! Checks of a deployment, each with a clear verdict: what `narherder
//! doctor` runs. The checks only read (a storage check writes and removes
//! one small file); in particular the database is never created or migrated
//! here — a database that needs migrating is reported, not changed.
//!
//! * `database` — reachable, and its schema version is this narherder's;
//! * `storage` — the nar directory exists and is writable;
//! * `signing key`, `token file` — readable, well formed, and not readable
//!   by group or others;
//! * `nar files` — the nar files of a random sample of narinfos exist in
//!   the storage directory (with the FileSize the narinfo gives);
//! * `roots`, `last gc` — a root is in force; the last collection succeeded;
//! * `mirror triggers`, `replication` — on PostgreSQL with subscriptions,
//!   the triggers fire for replicated rows, and each subscription streams
//!   with its lag under [`DoctorOptions::max_lag`].

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::Connection as _;

use crate::dialect::on_conn;
use crate::store::{key_hash, schema, Store, StoreOptions, SCHEMA_VERSION};
use crate::Result;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// Fine.
    Ok,
    /// Not configured or not applicable; nothing was checked.
    Skipped,
    /// Works, but deserves attention.
    Warn,
    /// Broken: the deployment will not work as configured.
    Fail,
}

impl Verdict {
    /// `ok`, `skipped`, `warn` or `FAIL`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Skipped => "skipped",
            Verdict::Warn => "warn",
            Verdict::Fail => "FAIL",
        }
    }
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was checked, e.g. `database`.
    pub name: &'static str,
    /// The verdict.
    pub verdict: Verdict,
    /// What was found, in a sentence an operator can act on.
    pub detail: String,
}

fn check(name: &'static str, verdict: Verdict, detail: impl Into<String>) -> Check {
    Check {
        name,
        verdict,
        detail: detail.into(),
    }
}

/// What to check.
#[derive(Debug, Clone)]
pub struct DoctorOptions {
    /// Database URL.
    pub database: String,
    /// Expected store directory, if any.
    pub store_dir: Option<String>,
    /// Nar storage directory, if the deployment has one.
    pub storage: Option<PathBuf>,
    /// Secret signing key file, if any.
    pub sign_key: Option<PathBuf>,
    /// Write token file, if any.
    pub token_file: Option<PathBuf>,
    /// How many narinfos to sample for the nar file check.
    pub sample: u32,
    /// Replication lag beyond which a subscription is a failure.
    pub max_lag: Duration,
}

impl Default for DoctorOptions {
    fn default() -> Self {
        DoctorOptions {
            database: crate::store::default_database_url(),
            store_dir: None,
            storage: None,
            sign_key: None,
            token_file: None,
            sample: 100,
            max_lag: Duration::from_secs(300),
        }
    }
}

/// Whether no check failed.
pub fn all_passed(checks: &[Check]) -> bool {
    checks.iter().all(|c| c.verdict != Verdict::Fail)
}

/// Runs every check (see the [module documentation](self)).
pub async fn diagnose(options: &DoctorOptions) -> Vec<Check> {
    let mut out = Vec::new();
    let db = database(options).await;
    let migrated = db.verdict == Verdict::Ok;
    out.push(db);
    out.push(storage(options.storage.as_deref()));
    out.push(secret_file(
        "signing key",
        options.sign_key.as_deref(),
        |p| crate::signing::SecretKey::load(p).map(|_| ()),
    ));
    out.push(secret_file(
        "token file",
        options.token_file.as_deref(),
        |p| crate::server::auth::Tokens::from_file(p).map(|_| ()),
    ));
    if !migrated {
        for name in [
            "nar files",
            "roots",
            "last gc",
            "mirror triggers",
            "replication",
        ] {
            out.push(check(
                name,
                Verdict::Skipped,
                "needs a reachable database at the current schema version",
            ));
        }
        return out;
    }
    let store_options = StoreOptions {
        store_dir: options.store_dir.clone(),
        max_connections: Some(2),
        ..StoreOptions::default()
    };
    match Store::open(&options.database, &store_options).await {
        Ok(store) => {
            out.push(nar_files(&store, options).await);
            out.extend(gc_state(&store).await);
            out.push(mirror_triggers(&store).await);
            out.push(replication(&store, options.max_lag).await);
            store.close().await;
        }
        Err(e) => out.push(check("store", Verdict::Fail, e.to_string())),
    }
    out
}

/// Reads the schema version without creating or migrating anything.
async fn schema_version(url: &str) -> Result<Option<i64>> {
    const SQL: &str = "SELECT value FROM meta WHERE key = 'schema_version'";
    let stored: Option<String> = if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        if path.is_empty() || path == ":memory:" || !Path::new(path).is_file() {
            return Err(crate::Error::Store(format!(
                "no SQLite database file at {path:?} (narherder import or serve creates it)"
            )));
        }
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(path)
            .read_only(true);
        let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
        let has_meta: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
        )
        .fetch_one(&mut conn)
        .await?;
        let v = if has_meta == 0 {
            None
        } else {
            sqlx::query_scalar(SQL).fetch_optional(&mut conn).await?
        };
        conn.close().await?;
        v
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        let has_meta: bool = sqlx::query_scalar("SELECT to_regclass('meta') IS NOT NULL")
            .fetch_one(&mut conn)
            .await?;
        let v = if has_meta {
            sqlx::query_scalar(SQL).fetch_optional(&mut conn).await?
        } else {
            None
        };
        conn.close().await?;
        v
    } else {
        return Err(crate::Error::InvalidArgument(format!(
            "database URL {url:?}: expected sqlite://PATH or postgres://…"
        )));
    };
    stored.map(|s| schema::parse_version(Some(s))).transpose()
}

/// A URL fit for messages: without a password.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

async fn database(options: &DoctorOptions) -> Check {
    let url = redact(&options.database);
    match schema_version(&options.database).await {
        Err(e) => check("database", Verdict::Fail, format!("{url}: {e}")),
        Ok(None) => check(
            "database",
            Verdict::Fail,
            format!("{url} is reachable but holds no narherder store (no schema version)"),
        ),
        Ok(Some(v)) if v == SCHEMA_VERSION => check(
            "database",
            Verdict::Ok,
            format!("{url} is reachable, schema version {v} (current)"),
        ),
        Ok(Some(v)) if v < SCHEMA_VERSION => check(
            "database",
            Verdict::Warn,
            format!(
                "{url} has schema version {v}; this narherder writes {SCHEMA_VERSION} and \
                 migrates it when the server or an import next opens it"
            ),
        ),
        Ok(Some(v)) => check(
            "database",
            Verdict::Fail,
            format!(
                "{url} has schema version {v}, newer than this narherder ({SCHEMA_VERSION}): \
                 upgrade narherder"
            ),
        ),
    }
}

fn storage(dir: Option<&Path>) -> Check {
    let Some(dir) = dir else {
        return check(
            "storage",
            Verdict::Skipped,
            "no storage directory given (--storage or storage = … in the config)",
        );
    };
    match std::fs::metadata(dir) {
        Err(e) => return check("storage", Verdict::Fail, format!("{}: {e}", dir.display())),
        Ok(m) if !m.is_dir() => {
            return check(
                "storage",
                Verdict::Fail,
                format!("{} is not a directory", dir.display()),
            )
        }
        Ok(_) => {}
    }
    let probe = dir.join(format!(".narherder-doctor-{}", std::process::id()));
    let written = std::fs::write(&probe, b"narherder doctor\n");
    let _ = std::fs::remove_file(&probe);
    match written {
        Ok(()) => check(
            "storage",
            Verdict::Ok,
            format!("{} exists and is writable", dir.display()),
        ),
        Err(e) => check(
            "storage",
            Verdict::Fail,
            format!("{} is not writable: {e}", dir.display()),
        ),
    }
}

fn secret_file(
    name: &'static str,
    path: Option<&Path>,
    parse: impl Fn(&Path) -> Result<()>,
) -> Check {
    let Some(path) = path else {
        return check(name, Verdict::Skipped, "none configured");
    };
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => return check(name, Verdict::Fail, format!("{}: {e}", path.display())),
    };
    if let Err(e) = parse(path) {
        return check(name, Verdict::Fail, e.to_string());
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return check(
            name,
            Verdict::Fail,
            format!(
                "{} has mode {mode:04o}: group or others can read or change a secret \
                 (chmod 600 {})",
                path.display(),
                path.display()
            ),
        );
    }
    check(
        name,
        Verdict::Ok,
        format!("{} is well formed, mode {mode:04o}", path.display()),
    )
}

async fn nar_files(store: &Store, options: &DoctorOptions) -> Check {
    let Some(dir) = &options.storage else {
        return check("nar files", Verdict::Skipped, "no storage directory given");
    };
    if !dir.is_dir() {
        return check(
            "nar files",
            Verdict::Skipped,
            "the storage directory is missing",
        );
    }
    let storage = match crate::storage::NarStorage::open(dir) {
        Ok(s) => s,
        Err(e) => return check("nar files", Verdict::Fail, e.to_string()),
    };
    let sample = match sample_hashes(store, options.sample).await {
        Ok(s) => s,
        Err(e) => return check("nar files", Verdict::Fail, e.to_string()),
    };
    if sample.is_empty() {
        return check("nar files", Verdict::Ok, "the store holds no narinfo yet");
    }
    let mut missing = Vec::new();
    let mut wrong_size = Vec::new();
    let mut files = 0usize;
    for hash in &sample {
        let nar_files = match store.nar_files(hash).await {
            Ok(f) => f,
            Err(e) => return check("nar files", Verdict::Fail, e.to_string()),
        };
        for f in nar_files {
            files += 1;
            match storage.existing(&f.url) {
                Ok(Some(path)) => {
                    let len = std::fs::metadata(&path).map(|m| m.len()).ok();
                    if let (Some(want), Some(have)) = (f.file_size, len) {
                        if want != have {
                            wrong_size.push(format!("{} ({have} bytes, FileSize {want})", f.url));
                        }
                    }
                }
                Ok(None) => missing.push(f.url.clone()),
                Err(e) => missing.push(format!("{} ({e})", f.url)),
            }
        }
    }
    let examples = |v: &[String]| v.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
    if !missing.is_empty() {
        check(
            "nar files",
            Verdict::Fail,
            format!(
                "{} of {files} nar files of {} sampled narinfos are missing from {}, e.g. {} \
                 (narherder check lists them all)",
                missing.len(),
                sample.len(),
                dir.display(),
                examples(&missing)
            ),
        )
    } else if !wrong_size.is_empty() {
        check(
            "nar files",
            Verdict::Warn,
            format!(
                "{} of {files} sampled nar files differ from their FileSize, e.g. {}",
                wrong_size.len(),
                examples(&wrong_size)
            ),
        )
    } else {
        check(
            "nar files",
            Verdict::Ok,
            format!(
                "all {files} nar files of {} sampled narinfos are present",
                sample.len()
            ),
        )
    }
}

const ROOT_COUNTS: &str = "SELECT COUNT(*), \
     COALESCE(SUM(CASE WHEN expires_at IS NULL OR expires_at > $1 THEN 1 ELSE 0 END), 0) FROM roots";
const MAX_ID: &str = "SELECT COALESCE(MAX(id), 0) FROM narinfos";
const AT_OR_AFTER: &str = "SELECT i.hash FROM narinfos n JOIN items i ON i.id = n.item_id \
     WHERE n.id >= $1 ORDER BY n.id LIMIT 1";

/// Up to `n` distinct hash parts of stored narinfos chosen at random, by
/// index probes (no scan): random ids below the largest, each rounded up to
/// the next stored narinfo.
async fn sample_hashes(store: &Store, n: u32) -> Result<Vec<String>> {
    use rand_core::RngCore as _;
    let max: i64 = on_conn!(store, |conn, _d| {
        sqlx::query_scalar(MAX_ID).fetch_one(&mut *conn).await?
    });
    let mut out = std::collections::BTreeSet::new();
    if max <= 0 {
        return Ok(Vec::new());
    }
    let mut rng = rand_core::OsRng;
    on_conn!(store, |conn, _d| {
        for _ in 0..n {
            let id = 1 + i64::try_from(rng.next_u64() % max.unsigned_abs()).unwrap_or(0);
            let key: Option<Vec<u8>> = sqlx::query_scalar(AT_OR_AFTER)
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?;
            if let Some(k) = key {
                out.insert(key_hash(&k)?);
            }
        }
    });
    Ok(out.into_iter().collect())
}

/// Triggers that must fire for rows applied by logical replication.
/// (The running totals' own triggers are statement-level, which the apply
/// worker never fires; schema 5 gives them row-level twins enabled
/// REPLICA for mirrors.)
const MIRROR_TRIGGERS: &[(&str, &str)] = &[
    ("narinfos", "narinfo_changes"),
    ("narinfos", "store_totals_narinfo_replicated"),
    ("nar_files", "store_totals_file_replicated"),
];

/// On a PostgreSQL mirror (a database with subscriptions), the triggers
/// that keep the change feed and the running totals must be enabled
/// ALWAYS: the replication apply worker does not fire ordinary triggers.
async fn mirror_triggers(store: &Store) -> Check {
    const NAME: &str = "mirror triggers";
    let crate::store::Backend::Postgres(pool) = store.backend() else {
        return check(NAME, Verdict::Skipped, "SQLite: no replication");
    };
    let result: Result<(i64, Vec<String>)> = async {
        let subs: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid \
             WHERE d.datname = current_database()",
        )
        .fetch_one(pool)
        .await?;
        let mut not_always = Vec::new();
        for (table, trigger) in MIRROR_TRIGGERS {
            let enabled: Option<String> = sqlx::query_scalar(
                "SELECT t.tgenabled::text FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
                 WHERE c.relname = $1 AND t.tgname = $2 AND c.relnamespace = to_regnamespace(current_schema())",
            )
            .bind(table)
            .bind(trigger)
            .fetch_optional(pool)
            .await?;
            // ALWAYS, or REPLICA (fires in the apply worker only).
            if !matches!(enabled.as_deref(), Some("A" | "R")) {
                not_always.push(format!("ALTER TABLE {table} ENABLE ALWAYS TRIGGER {trigger};"));
            }
        }
        Ok((subs, not_always))
    }
    .await;
    match result {
        Err(e) => check(NAME, Verdict::Fail, e.to_string()),
        Ok((0, _)) => check(
            NAME,
            Verdict::Skipped,
            "not a mirror (no subscription in this database)",
        ),
        Ok((_, missing)) if missing.is_empty() => check(
            NAME,
            Verdict::Ok,
            "the change feed and running totals follow replicated rows",
        ),
        Ok((_, missing)) => check(
            NAME,
            Verdict::Fail,
            format!(
                "this mirror's triggers do not fire for replicated rows, so it keeps serving \
                 deleted narinfos and its totals drift; run: {}",
                missing.join(" ")
            ),
        ),
    }
}

/// Each subscription: enabled, streaming, and its lag under `max_lag`.
async fn replication(store: &Store, max_lag: Duration) -> Check {
    use crate::replication::SubscriptionState;
    const NAME: &str = "replication";
    if !matches!(store.backend(), crate::store::Backend::Postgres(_)) {
        return check(NAME, Verdict::Skipped, "SQLite: no replication");
    }
    let subs = match crate::replication::subscription_status(store).await {
        Ok(s) => s,
        Err(e) => return check(NAME, Verdict::Fail, e.to_string()),
    };
    if subs.is_empty() {
        return check(NAME, Verdict::Skipped, "no subscription in this database");
    }
    let mut verdict = Verdict::Ok;
    let mut parts = Vec::new();
    for s in &subs {
        let (v, what) = match (&s.state, s.lag_seconds) {
            (SubscriptionState::Disabled, _) => (Verdict::Fail, "disabled".to_string()),
            (SubscriptionState::Down, _) => (
                Verdict::Fail,
                "enabled but no apply worker runs (publisher unreachable or apply failing; \
                 see the PostgreSQL log)"
                    .to_string(),
            ),
            (SubscriptionState::Copying { ready, total }, _) => (
                Verdict::Warn,
                format!("initial copy under way ({ready} of {total} tables)"),
            ),
            (SubscriptionState::Streaming, Some(lag)) if lag > max_lag.as_secs_f64() => (
                Verdict::Fail,
                format!(
                    "streaming, {lag:.1} s behind (more than {})",
                    crate::duration::format_duration(max_lag)
                ),
            ),
            (SubscriptionState::Streaming, Some(lag)) => {
                (Verdict::Ok, format!("streaming, {lag:.1} s behind"))
            }
            (SubscriptionState::Streaming, None) => (
                Verdict::Warn,
                format!(
                    "streaming, lag unknown: {}",
                    s.publisher_error
                        .as_deref()
                        .unwrap_or("the publisher did not say")
                ),
            ),
        };
        verdict = verdict.max(v);
        parts.push(format!("{}: {what}", s.name));
    }
    check(NAME, verdict, parts.join("; "))
}

async fn gc_state(store: &Store) -> Vec<Check> {
    let now = crate::changes::now_secs();
    let mut out = Vec::new();
    let counts: Result<(i64, i64)> = async {
        Ok(on_conn!(store, |conn, _d| {
            sqlx::query_as(ROOT_COUNTS)
                .bind(now)
                .fetch_one(&mut *conn)
                .await?
        }))
    }
    .await;
    match counts {
        Err(e) => out.push(check("roots", Verdict::Fail, e.to_string())),
        Ok((0, _)) => out.push(check(
            "roots",
            Verdict::Warn,
            "no GC root: narherder gc refuses to run (narherder roots add …)",
        )),
        Ok((all, 0)) => out.push(check(
            "roots",
            Verdict::Warn,
            format!("all {all} roots have expired: narherder gc refuses to run"),
        )),
        Ok((all, in_force)) => out.push(check(
            "roots",
            Verdict::Ok,
            format!("{in_force} of {all} roots in force"),
        )),
    }
    match crate::gc_runs::recent(store, 1).await {
        Err(e) => out.push(check("last gc", Verdict::Fail, e.to_string())),
        Ok(runs) => out.push(match runs.first() {
            None => check(
                "last gc",
                Verdict::Warn,
                "no garbage collection recorded yet",
            ),
            Some(r) => {
                let when = crate::duration::format_rfc3339(r.started_at);
                match &r.error {
                    Some(e) => check(
                        "last gc",
                        Verdict::Warn,
                        format!("the run of {when} failed: {e}"),
                    ),
                    None => check(
                        "last gc",
                        Verdict::Ok,
                        format!(
                            "{when}: deleted {} narinfos, freed {}",
                            r.deleted,
                            crate::size::format_size(r.bytes_freed)
                        ),
                    ),
                }
            }
        }),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite://./x.db"), "sqlite://./x.db");
    }

    #[test]
    fn verdict_order() {
        assert!(Verdict::Fail > Verdict::Warn && Verdict::Warn > Verdict::Ok);
        assert!(!all_passed(&[check("x", Verdict::Fail, "")]));
        assert!(all_passed(&[check("x", Verdict::Warn, "")]));
    }
}
