//! `narherder list`: every stored item, a page at a time.

use std::io::Write;

use crate::Ctx;

/// Arguments of `narherder list`.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  narherder list | wc -l
  narherder list --paths > stored-paths.txt")]
pub struct Args {
    /// Print full store paths instead of hash parts.
    #[arg(long)]
    paths: bool,
}

/// Items fetched per query.
const PAGE: u32 = 10_000;

/// Runs `narherder list`.
pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<u8> {
    let store = ctx.open().await?;
    let result = list(&store, args.paths).await;
    store.close().await;
    result?;
    Ok(0)
}

async fn list(store: &narherder::store::Store, paths: bool) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut after: Option<String> = None;
    loop {
        let page = if paths {
            store.list_paths(after.as_deref(), PAGE).await?
        } else {
            store.list(after.as_deref(), PAGE).await?
        };
        for item in &page {
            writeln!(out, "{item}")?;
        }
        match page.last() {
            Some(last) if page.len() == PAGE as usize => after = Some(last.clone()),
            _ => break,
        }
    }
    out.flush()?;
    Ok(())
}
