//! `narherder check`: narinfos without their nar file, nar files without a
//! narinfo.

use std::path::PathBuf;

use narherder::storage::{self, NarStorage};

use crate::{Ctx, EXIT_PARTIAL};

/// Arguments of `narherder check`.
#[derive(clap::Args)]
#[command(after_help = "Example:
  narherder check --storage /var/lib/narherder/nars")]
pub struct Args {
    /// The nar storage directory.
    #[arg(long, default_value = ".", value_name = "DIR")]
    storage: PathBuf,
}

/// Runs `narherder check`.
pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<u8> {
    let nar_storage = NarStorage::open(&args.storage)?;
    let store = ctx.open().await?;
    let result = storage::check(&store, &nar_storage, |problem| println!("{problem}")).await;
    store.close().await;
    let report = result?;
    eprintln!("{report}");
    Ok(if report.is_clean() { 0 } else { EXIT_PARTIAL })
}
