//! `narherder sign`: sign narinfos with a Guix or Nix secret key.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use narherder::signing::{sign_narinfo, SecretKey};
use narherder::Narinfo;

/// Sign narinfos and print them.
///
/// Guix keys add a `Signature:` line right after the signed part (the URL
/// groups after it stay unsigned, as modern guix publish writes them); Nix
/// keys add a `Sig:` line. A file may hold several narinfos separated by
/// blank lines; they are printed in order, separated the same way.
///
/// Example: narherder sign --key /etc/guix/signing-key.sec --host ci.example.org hello.narinfo
#[derive(clap::Args)]
pub struct Args {
    /// Secret key file (Guix `.sec` or Nix `name:base64`).
    #[arg(long, value_name = "SECRET_KEY_FILE")]
    key: PathBuf,
    /// Host name in Guix signatures (default: this machine's host name).
    #[arg(long)]
    host: Option<String>,
    /// Narinfo file to sign (`-` for standard input).
    narinfo: PathBuf,
}

/// Runs `narherder sign`.
pub fn run(args: Args) -> anyhow::Result<u8> {
    let key = SecretKey::load(&args.key)?;
    let host = match (&key, args.host) {
        (SecretKey::Guix(_), None) => crate::support::hostname().context("no --host given")?,
        (_, host) => host.unwrap_or_default(),
    };
    let (name, text) = crate::support::read_input(&args.narinfo)?;
    let mut out = Vec::new();
    for (i, (line, parsed)) in Narinfo::parse_many(&text).into_iter().enumerate() {
        let narinfo = parsed.with_context(|| format!("{name}:{line}"))?;
        let signed =
            sign_narinfo(&narinfo, &key, &host).with_context(|| format!("{name}:{line}"))?;
        if i > 0 {
            out.push(b'\n');
        }
        out.extend_from_slice(signed.text().as_bytes());
    }
    std::io::stdout().lock().write_all(&out)?;
    Ok(0)
}
