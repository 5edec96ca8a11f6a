//! `narherder import`: files, directories or standard input into the store.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use narherder::import::{
    self as lib, BulkLoad, ImportOptions, ImportProgress, ImportSource, Rejection,
};
use narherder::signing::{verify_narinfo, Keyring};
use narherder::storage::{NarFilesMode, NarStorage};

use crate::{Ctx, EXIT_PARTIAL};

/// Arguments of `narherder import`.
#[derive(clap::Args)]
pub struct Args {
    /// Nar storage directory that nar files are copied or linked into.
    #[arg(long, value_name = "DIR")]
    storage: Option<PathBuf>,
    /// What to do with the nar files next to the narinfos.
    #[arg(long, value_name = "MODE", default_value = "leave", value_parser = ["leave", "copy", "hardlink"])]
    nar_files: String,
    /// Replace a different narinfo already stored for the same hash.
    #[arg(long)]
    replace: bool,
    /// Import only narinfos with a valid signature by one of the --key files.
    #[arg(long, requires = "key")]
    require_signature: bool,
    /// Public key trusted by --require-signature (repeatable): a Guix `.pub`
    /// file, a Guix ACL (`/etc/guix/acl`) or a Nix key file.
    #[arg(long, value_name = "FILE")]
    key: Vec<PathBuf>,
    /// Drop the reverse-edge index during the import and rebuild it at the
    /// end: `auto` does so when the store is empty.
    #[arg(long, value_name = "WHEN", default_value = "auto", value_parser = ["auto", "always", "never"])]
    bulk_load: String,
    /// Number of parser threads (default: one per core, at most 4).
    #[arg(long, value_name = "N")]
    parsers: Option<usize>,
    /// Read, parse and check, but write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Narinfos per transaction.
    #[arg(long, default_value_t = 5000, value_name = "N")]
    batch_size: usize,
    /// Files, directories (walked for *.narinfo) or `-` for standard input.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<String>,
}

/// Progress on a terminal: a bar on stderr, rejections above it.
struct Bar(ProgressBar);

impl ImportProgress for Bar {
    fn found(&self, n: u64) {
        self.0.inc_length(n);
    }
    fn files_done(&self, n: u64) {
        self.0.inc(n);
    }
    fn committed(&self, imported: u64) {
        self.0.set_message(format!("{imported} imported"));
    }
    fn rejected(&self, r: &Rejection) {
        self.0.suspend(|| eprintln!("{r}"));
    }
    fn warning(&self, message: &str) {
        self.0.suspend(|| eprintln!("warning: {message}"));
    }
}

/// Runs `narherder import`.
pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<u8> {
    let verify: Option<lib::Verifier> = if args.require_signature {
        let keyring = Keyring::from_files(&args.key)?;
        if keyring.is_empty() {
            anyhow::bail!("--require-signature: the --key files hold no public key");
        }
        Some(Arc::new(move |n: &narherder::Narinfo| {
            verify_narinfo(n, &keyring)
        }))
    } else {
        if !args.key.is_empty() {
            anyhow::bail!("--key is only used with --require-signature");
        }
        None
    };
    let nar_files = NarFilesMode::parse(&args.nar_files)?;
    let storage = args.storage.as_ref().map(NarStorage::open).transpose()?;
    if nar_files != NarFilesMode::Leave && storage.is_none() {
        anyhow::bail!("--nar-files {} needs --storage DIR", nar_files.as_str());
    }
    let store = ctx.open().await?;
    let sources: Vec<ImportSource> = args
        .paths
        .iter()
        .map(|p| ImportSource::from_arg(p))
        .collect();
    let opts = ImportOptions {
        batch_size: args.batch_size.max(1),
        replace: args.replace,
        verify,
        dry_run: args.dry_run,
        parsers: args
            .parsers
            .unwrap_or(ImportOptions::default().parsers)
            .max(1),
        bulk_load: match args.bulk_load.as_str() {
            "always" => BulkLoad::Always,
            "never" => BulkLoad::Never,
            _ => BulkLoad::Auto,
        },
        storage,
        nar_files,
    };
    let pb = if std::io::stderr().is_terminal() {
        ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    pb.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} files, {per_sec}, ETA {eta}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let bar = Arc::new(Bar(pb.clone()));
    let result = lib::import(&store, &sources, &opts, bar).await;
    pb.finish_and_clear();
    store.close().await;
    let report = result?;
    eprintln!("{report}");
    Ok(if report.rejections.is_empty() {
        0
    } else {
        EXIT_PARTIAL
    })
}
