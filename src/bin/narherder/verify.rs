//! `narherder verify`: check narinfo signatures against trusted keys.

use std::path::PathBuf;

use narherder::signing::{verify_narinfo, Keyring};
use narherder::Narinfo;

/// Check the signatures of narinfos.
///
/// Prints one line per narinfo, `<verdict> <file>` (`<file>:<line>` when a
/// file holds several narinfos), where the verdict is one of
/// valid-signature, corrupt-signature, unauthorized-key, hash-mismatch,
/// invalid-signature, unsigned, or invalid-narinfo (the reason then goes to
/// standard error). Exits 0 only if every narinfo is valid.
///
/// Example: narherder verify --key /etc/guix/acl --key cache.nixos.org.pub *.narinfo
#[derive(clap::Args)]
pub struct Args {
    /// Trusted public keys: Guix `.pub` files, Guix ACL files
    /// (`/etc/guix/acl`), or Nix key files (`name:base64` lines).
    #[arg(long = "key", value_name = "PUBLIC_KEY_FILE", required = true)]
    keys: Vec<PathBuf>,
    /// Narinfo files (`-` for standard input).
    #[arg(required = true)]
    narinfos: Vec<PathBuf>,
}

/// Runs `narherder verify`.
pub fn run(args: Args) -> anyhow::Result<u8> {
    let keyring = Keyring::from_files(&args.keys)?;
    let mut all_valid = true;
    for path in &args.narinfos {
        let (name, text) = match crate::support::read_input(path) {
            Ok(input) => input,
            Err(e) => {
                println!("unreadable {}", path.display());
                eprintln!("narherder: {e:#}");
                all_valid = false;
                continue;
            }
        };
        let records = Narinfo::parse_many(&text);
        let several = records.len() > 1;
        if records.is_empty() {
            println!("invalid-narinfo {name}");
            eprintln!("{name}: no narinfo in the file");
            all_valid = false;
        }
        for (line, parsed) in records {
            let label = if several {
                format!("{name}:{line}")
            } else {
                name.clone()
            };
            match parsed {
                Ok(narinfo) => {
                    let verdict = verify_narinfo(&narinfo, &keyring);
                    all_valid &= verdict.is_valid();
                    println!("{verdict} {label}");
                }
                Err(e) => {
                    all_valid = false;
                    println!("invalid-narinfo {label}");
                    eprintln!("{name}: {e}");
                }
            }
        }
    }
    Ok(if all_valid { 0 } else { 1 })
}
