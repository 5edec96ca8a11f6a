//! `narherder evict`: usage-based eviction under a size limit.

use std::path::PathBuf;

use narherder::evict::{evict, EvictOptions};
use narherder::size::{format_size, parse_size};

use crate::Ctx;

/// Arguments of `narherder evict`.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  narherder evict --max-size 500GiB --dry-run
  narherder evict --max-size 2T --storage /var/lib/narherder/nars")]
pub struct Args {
    /// The size the nar files must fit in (e.g. 500GiB, 10G, 123456).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_size: u64,
    /// Only report what would be evicted.
    #[arg(long)]
    dry_run: bool,
    /// Narinfos deleted per transaction at most.
    #[arg(long, value_name = "N", default_value_t = narherder::gc::DEFAULT_BATCH)]
    batch: usize,
    /// Nar storage directory: also remove the nar files of evicted narinfos.
    #[arg(long, value_name = "DIR")]
    storage: Option<PathBuf>,
}

/// Runs `narherder evict`.
pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<u8> {
    let store = ctx.open().await?;
    let options = EvictOptions {
        max_size: args.max_size,
        dry_run: args.dry_run,
        batch_size: args.batch,
        storage: args.storage,
        sample_size: 10,
    };
    let mut progress = |r: &narherder::evict::EvictReport| {
        eprintln!(
            "evict: {} evicted, size now {}",
            r.evicted,
            format_size(r.size_after)
        );
    };
    let result = evict(&store, &options, &mut progress).await;
    store.close().await;
    let r = result?;
    let verb = if r.dry_run { "would evict" } else { "evicted" };
    println!("size before:  {}", format_size(r.size_before));
    println!("size after:   {}", format_size(r.size_after));
    println!(
        "{verb}: {} narinfo(s), {} nar file(s)",
        r.evicted, r.nar_files_deleted
    );
    if !r.dry_run {
        println!("files removed: {}", r.files_removed);
    }
    if !r.fits {
        println!(
            "still over {}: the rest is rooted or referenced",
            format_size(options.max_size)
        );
    }
    for p in &r.sample {
        println!("  {p}");
    }
    Ok(0)
}
