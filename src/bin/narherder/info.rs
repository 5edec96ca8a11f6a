//! `narherder info`: counts and sizes.

use crate::Ctx;

/// Arguments of `narherder info`.
#[derive(clap::Args)]
pub struct Args {}

/// `bytes` in binary units, e.g. `1.5 GiB`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Runs `narherder info`.
pub async fn run(ctx: &Ctx, _args: Args) -> anyhow::Result<u8> {
    let store = ctx.open().await?;
    let counts = store.counts().await;
    store.close().await;
    let c = counts?;
    println!("database:    {}", ctx.database);
    println!("store dir:   {}", store.store_dir());
    println!("narinfos:    {}", c.narinfos);
    println!("items:       {}", c.items);
    println!("references:  {}", c.references);
    println!("nar files:   {}", c.nar_files);
    println!(
        "nar size:    {} ({} bytes)",
        human(c.total_nar_size),
        c.total_nar_size
    );
    println!(
        "file size:   {} ({} bytes)",
        human(c.total_file_size),
        c.total_file_size
    );
    if c.bulk_load {
        println!(
            "bulk load:   unfinished (reverse-edge index missing; the next import rebuilds it)"
        );
    }
    if let Some(bytes) = c.database_bytes {
        println!("database size: {} ({} bytes)", human(bytes), bytes);
    }
    Ok(0)
}
