//! Loads a directory of narinfo files into a fresh SQLite store for the
//! server benchmark, fast: narinfo rows only (items and narinfos, as the
//! read path uses them), no reference edges and no nar files, one prepared
//! insert per row. A real import (`narherder import`) also stores the
//! reference graph, which the serving path never reads; at a million
//! narinfos with ~31 references each that takes far longer than the
//! benchmark itself.
//!
//! ```text
//! cargo run --release --example bench-load -- DIR sqlite://DB [--store-dir /gnu/store]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use narherder::changes::item_key;
use narherder::store::{Backend, Store, StoreOptions};
use narherder::Narinfo;

/// Load narinfo files into a store (rows only).
#[derive(Parser)]
struct Args {
    /// Directory of `<hash>.narinfo` files.
    dir: PathBuf,
    /// Database URL (SQLite).
    database: String,
    /// Store directory of the narinfos.
    #[arg(long, default_value = "/gnu/store")]
    store_dir: String,
}

async fn run(args: &Args) -> anyhow::Result<usize> {
    let store = Store::open(
        &args.database,
        &StoreOptions::with_store_dir(&args.store_dir),
    )
    .await?;
    let Backend::Sqlite(pool) = store.backend() else {
        anyhow::bail!("bench-load writes SQLite databases only");
    };
    let mut names: Vec<PathBuf> = std::fs::read_dir(&args.dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "narinfo"))
        .collect();
    names.sort();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let mut n = 0;
    for chunk in names.chunks(20_000) {
        let mut tx = pool.begin().await?;
        for path in chunk {
            let text = std::fs::read_to_string(path)?;
            let ni = Narinfo::parse_in(&text, &args.store_dir)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            let Some(key) = item_key(ni.hash_part()) else {
                continue;
            };
            let id: i64 = sqlx::query_scalar("INSERT INTO items (hash) VALUES ($1) RETURNING id")
                .bind(&key[..])
                .fetch_one(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO narinfos (item_id, name, text, nar_hash, nar_size, deriver, system, ca, added_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(id)
            .bind(ni.name())
            .bind(ni.text())
            .bind(ni.nar_hash())
            .bind(ni.nar_size() as i64)
            .bind(ni.deriver())
            .bind(ni.system())
            .bind(ni.ca())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            n += 1;
        }
        tx.commit().await?;
    }
    // The change feed rows of the load are of no use to a server started
    // afterwards.
    sqlx::query("DELETE FROM narinfo_changes")
        .execute(pool)
        .await?;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(pool)
        .await?;
    store.close().await;
    Ok(n)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let started = Instant::now();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench-load: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(&args)) {
        Ok(n) => {
            println!(
                "loaded {n} narinfos (rows only) in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench-load: {e:#}");
            ExitCode::FAILURE
        }
    }
}
