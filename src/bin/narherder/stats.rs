//! `narherder stats`: request analytics.

use crate::Ctx;

/// Arguments of `narherder stats`.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  narherder stats
  narherder stats --days 30 --top 20")]
pub struct Args {
    /// Days to cover, today included.
    #[arg(long, default_value_t = 7)]
    days: u32,
    /// Length of the lists.
    #[arg(long, default_value_t = 10)]
    top: u32,
}

/// Runs `narherder stats`.
pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<u8> {
    let store = ctx.open().await?;
    let report = narherder::analytics::report(&store, args.days, args.top).await;
    let nodes = narherder::analytics::node_totals(&store, args.days).await;
    store.close().await;
    let r = report?;
    let nodes = nodes?;
    let t = r.totals;
    println!("last {} day(s), all nodes", r.days);
    println!("narinfo hits:    {}", t.narinfo_hits);
    println!("narinfo misses:  {}", t.narinfo_misses);
    println!("nar downloads:   {}", t.nar_downloads);
    if !nodes.is_empty() {
        println!("\nper node (narinfo hits, misses, nar downloads):");
        for n in &nodes {
            let t = &n.totals;
            println!(
                "  {:<24} {:>10} {:>10} {:>10}{}",
                n.node,
                t.narinfo_hits,
                t.narinfo_misses,
                t.nar_downloads,
                if n.replicated { "  (replicated)" } else { "" }
            );
        }
    }
    println!("\nmost requested items (narinfo hits, nar downloads):");
    for i in &r.top_items {
        println!("  {}  {:>8} {:>8}", i.hash, i.narinfo_hits, i.nar_downloads);
    }
    println!("\nmost missed hashes:");
    for m in &r.top_missed {
        println!("  {}  {:>8}", m.hash, m.misses);
    }
    println!("\nnever requested: {} stored item(s)", r.never_requested);
    for h in &r.never_requested_sample {
        println!("  {h}");
    }
    Ok(0)
}
