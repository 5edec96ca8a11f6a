//! `narherder gc`: mark and sweep.

use std::path::PathBuf;

use narherder::duration::{format_duration, parse_duration};
use narherder::gc::{collect_garbage, GcOptions, DEFAULT_BATCH};
use narherder::size::format_size;

use crate::Ctx;

/// Arguments of `narherder gc`.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  narherder gc --dry-run
  narherder gc --storage /var/lib/narherder/nars --grace 1d
  narherder gc --storage /var/lib/narherder/nars --max-delete 100000

Refuses to run without a root in force (see narherder roots); --force overrides.")]
pub struct Args {
    /// Only report what would be deleted.
    #[arg(long)]
    dry_run: bool,
    /// Narinfos added within this period are kept with their closure.
    #[arg(long, value_name = "DURATION", default_value = "6h", value_parser = parse_duration)]
    grace: std::time::Duration,
    /// Delete at most this many narinfos.
    #[arg(long, value_name = "N")]
    max_delete: Option<u64>,
    /// Narinfos deleted per transaction.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_BATCH)]
    batch: usize,
    /// Nar storage directory: also remove the nar files of deleted narinfos
    /// and the build logs (`log/`) no narinfo needs any more.
    #[arg(long, value_name = "DIR")]
    storage: Option<PathBuf>,
    /// Run even when no root is in force.
    #[arg(long)]
    force: bool,
}

/// Runs `narherder gc`.
pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<u8> {
    let store = ctx.open().await?;
    let options = GcOptions {
        dry_run: args.dry_run,
        grace: args.grace,
        max_delete: args.max_delete,
        batch_size: args.batch,
        storage: args.storage,
        force: args.force,
        sample_size: 10,
    };
    let mut progress = |p: &narherder::gc::GcProgress| {
        if p.batches == 0 {
            eprintln!("gc: mark done: {} dead narinfo(s)", p.dead);
        } else {
            eprintln!(
                "gc: batch {}: {}/{} deleted, {} file(s) removed",
                p.batches, p.deleted, p.dead, p.files_removed
            );
        }
    };
    let result = collect_garbage(&store, &options, &mut progress).await;
    store.close().await;
    let r = result?;
    let verb = if r.dry_run { "would delete" } else { "deleted" };
    println!("live narinfos:   {}", r.live);
    println!("dead narinfos:   {}", r.dead);
    println!("{verb}:  {} narinfo(s)", r.deleted);
    println!(
        "nar files:       {} ({} FileSize, {} NarSize)",
        r.nar_files_deleted,
        format_size(r.bytes_freed),
        format_size(r.nar_bytes_freed)
    );
    if !r.dry_run {
        println!("files removed:   {}", r.files_removed);
    }
    if options.storage.is_some() {
        let verb = if r.dry_run {
            "logs to remove: "
        } else {
            "logs removed:   "
        };
        println!("{verb} {}", r.logs_removed);
    }
    if !r.dry_run {
        println!("dead kept:       {}", r.kept);
    }
    println!(
        "time:            {:.2}s (mark {:.2}s), grace {}",
        r.elapsed.as_secs_f64(),
        r.mark_elapsed.as_secs_f64(),
        format_duration(options.grace)
    );
    for p in &r.sample {
        println!("  {p}");
    }
    Ok(0)
}
