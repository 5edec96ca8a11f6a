//! `narherder show`: stored narinfo texts, byte for byte as served.

use std::io::Write;

use crate::{Ctx, EXIT_PARTIAL};

/// Arguments of `narherder show`.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  narherder show 0mdqa9w1p6cmli6976v4wi0sw9r4p5pr
  narherder show /gnu/store/0mdqa9w1p6cmli6976v4wi0sw9r4p5pr-hello-2.12.2")]
pub struct Args {
    /// Hash parts, base names (`<hash>-<name>`) or full store paths.
    #[arg(required = true, value_name = "ITEM")]
    items: Vec<String>,
}

/// The 32-character hash part named by `item`: a hash part, a base name, a
/// store path, or a `<hash>.narinfo` file name.
pub fn hash_part(item: &str) -> Option<&str> {
    let base = item.rsplit('/').next().unwrap_or(item);
    let hash = base.get(..32)?;
    let rest = &base[32..];
    let ok = hash
        .bytes()
        .all(|b| b"0123456789abcdfghijklmnpqrsvwxyz".contains(&b))
        && (rest.is_empty() || rest.starts_with('-') || rest == ".narinfo");
    ok.then_some(hash)
}

/// Runs `narherder show`.
pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<u8> {
    let mut status = 0;
    let mut hashes = Vec::new();
    for item in &args.items {
        match hash_part(item) {
            Some(h) => hashes.push(h.to_string()),
            None => {
                eprintln!("narherder: {item}: not a hash part, base name or store path");
                status = EXIT_PARTIAL;
            }
        }
    }
    let store = ctx.open().await?;
    let keys: Vec<&str> = hashes.iter().map(String::as_str).collect();
    let stored = store.get_many(&keys).await;
    store.close().await;
    let stored = stored?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut first = true;
    for (hash, stored) in hashes.iter().zip(stored) {
        match stored {
            Some(stored) => {
                if !first {
                    out.write_all(b"\n")?;
                }
                first = false;
                out.write_all(stored.text.as_bytes())?;
            }
            None => {
                eprintln!("narherder: {hash}: not in the store");
                status = EXIT_PARTIAL;
            }
        }
    }
    out.flush()?;
    Ok(status)
}
