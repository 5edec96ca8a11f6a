//! `narherder roots`: add, remove, replace and list GC roots.

use std::io::Read as _;

use narherder::duration::{format_rfc3339, parse_time_or_duration};
use narherder::roots;

use crate::Ctx;

/// Arguments of `narherder roots`.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  narherder roots add release/1.4 /gnu/store/0mdqa9w1p6cmli6976v4wi0sw9r4p5pr-hello-2.12.2
  narherder roots set channel/master/$COMMIT --from-file outputs-$COMMIT.txt --expires 30d
  narherder roots list")]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Add items (store paths, base names or hash parts) to a root,
    /// creating it if needed.
    #[command(after_help = "Example:
  narherder roots add release/1.4 /gnu/store/0mdqa9w1p6cmli6976v4wi0sw9r4p5pr-hello-2.12.2 --expires 90d")]
    Add {
        /// The root's name, e.g. channel/master/<commit>.
        name: String,
        /// Items to add.
        #[arg(required = true)]
        items: Vec<String>,
        /// Expiry: a duration from now (7d) or an RFC 3339 time; default:
        /// keep the root's (a new root never expires).
        #[arg(long, value_name = "DURATION|TIME")]
        expires: Option<String>,
    },
    /// Replace a root's whole item set atomically, from a list file.
    #[command(after_help = "Example:
  narherder roots set channel/master/$COMMIT --from-file outputs-$COMMIT.txt --expires 30d")]
    Set {
        /// The root's name.
        name: String,
        /// One item per line, `#` comments; `-` reads standard input.
        #[arg(long, value_name = "FILE")]
        from_file: String,
        /// Expiry: a duration from now (7d) or an RFC 3339 time; default:
        /// never.
        #[arg(long, value_name = "DURATION|TIME")]
        expires: Option<String>,
    },
    /// Remove a root.
    #[command(after_help = "Example:
  narherder roots remove channel/master/0123abc")]
    Remove {
        /// The root's name.
        name: String,
    },
    /// List roots, their expiry and items (marking missing ones).
    #[command(after_help = "Example:
  narherder roots list")]
    List,
}

fn expiry(s: &Option<String>) -> anyhow::Result<Option<i64>> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    Ok(s.as_deref()
        .map(|s| parse_time_or_duration(s, i64::try_from(now).unwrap_or(i64::MAX)))
        .transpose()?)
}

/// Runs `narherder roots`.
pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<u8> {
    let store = ctx.open().await?;
    let result = async {
        match args.command {
            Command::Add {
                name,
                items,
                expires,
            } => {
                roots::add_root(&store, &name, &items, expiry(&expires)?).await?;
                println!("root {name}: added {} item(s)", items.len());
                Ok(0)
            }
            Command::Set {
                name,
                from_file,
                expires,
            } => {
                let text = if from_file == "-" {
                    let mut s = String::new();
                    std::io::stdin().read_to_string(&mut s)?;
                    s
                } else {
                    std::fs::read_to_string(&from_file)
                        .map_err(|e| anyhow::anyhow!("reading {from_file}: {e}"))?
                };
                let items = roots::read_item_list(&text);
                roots::set_root(&store, &name, &items, expiry(&expires)?).await?;
                println!("root {name}: set to {} item(s)", items.len());
                Ok(0)
            }
            Command::Remove { name } => {
                if roots::remove_root(&store, &name).await? {
                    println!("root {name}: removed");
                    Ok(0)
                } else {
                    eprintln!("narherder: no root named {name}");
                    Ok(1)
                }
            }
            Command::List => {
                let stamp = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)?
                    .as_secs() as i64;
                for root in roots::list_roots(&store).await? {
                    let expiry = match root.expires_at {
                        None => "never expires".to_string(),
                        Some(t) if t <= stamp => format!("EXPIRED {}", format_rfc3339(t)),
                        Some(t) => format!("expires {}", format_rfc3339(t)),
                    };
                    let missing = root.items.iter().filter(|i| !i.is_present()).count();
                    println!(
                        "{}\t{} item(s), {missing} missing\t{expiry}",
                        root.name,
                        root.items.len()
                    );
                    for item in &root.items {
                        match &item.store_path {
                            Some(p) => println!("  {p}"),
                            None => println!("  {}  MISSING (no narinfo stored)", item.hash),
                        }
                    }
                }
                Ok(0)
            }
        }
    }
    .await;
    store.close().await;
    result
}
