//! `narherder keys`: signing key pairs.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Subcommand, ValueEnum};
use narherder::signing::{guix, nix};

/// Which signature scheme a key is for.
#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    /// Guix: ECDSA on Ed25519, libgcrypt s-expression key files.
    Guix,
    /// Nix: Ed25519, `name:base64` key files.
    Nix,
}

/// Key management.
#[derive(Subcommand)]
#[command(after_help = "Examples:
  narherder keys generate --format guix --output /etc/narherder/signing
  narherder keys generate --format nix --name cache.example.org-1 --output cache")]
pub enum Args {
    /// Generate a key pair: writes PREFIX.pub and PREFIX.sec (mode 0600).
    ///
    /// Existing files are never overwritten.
    ///
    /// Example: narherder keys generate --format nix --name cache.example.org-1 --output /etc/narherder/signing
    Generate {
        /// Signature scheme.
        #[arg(long, value_enum)]
        format: Format,
        /// Key name (Nix only; it prefixes every `Sig:`). Default: `<hostname>-1`.
        #[arg(long)]
        name: Option<String>,
        /// Where to write: PREFIX.pub and PREFIX.sec.
        #[arg(long, value_name = "PREFIX")]
        output: PathBuf,
    },
}

/// Runs `narherder keys …`.
pub fn run(args: Args) -> anyhow::Result<u8> {
    match args {
        Args::Generate {
            format: Format::Guix,
            name,
            output,
        } => {
            if name.is_some() {
                anyhow::bail!("--name applies to Nix keys only (Guix signatures name the host with `sign --host`)");
            }
            let key = guix::GuixSecretKey::generate();
            let (public, secret) = guix::write_key_pair(&key, &output)?;
            println!("wrote {} and {}", public.display(), secret.display());
        }
        Args::Generate {
            format: Format::Nix,
            name,
            output,
        } => {
            let name = match name {
                Some(name) => name,
                None => format!(
                    "{}-1",
                    crate::support::hostname().context("no --name given")?
                ),
            };
            let key = nix::write_key_pair(&output, &name)?;
            println!("{}", key.public_key());
        }
    }
    Ok(0)
}
