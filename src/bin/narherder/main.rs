//! The `narherder` command-line interface: parses arguments, builds a tokio
//! runtime and hands over to one module per subcommand. The work itself is
//! done by the library.
//!
//! Exit status: 0 on success, 1 when something was rejected or not found,
//! 2 for usage errors, 3 when the command could not run (database, I/O).

mod check;
mod doctor;
mod evict;
mod gc;
mod import;
mod info;
mod keys;
mod list;
mod manual;
mod replication;
mod roots;
mod serve;
mod show;
mod sign;
mod stats;
mod support;
mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Store, serve and garbage-collect Guix and Nix narinfos.
#[derive(Parser)]
#[command(
    name = "narherder",
    version,
    about,
    after_help = "Examples:
  narherder import /srv/coordinator/output
  narherder roots set channel/master/$COMMIT --from-file outputs.txt
  narherder serve --storage /var/lib/narherder/nars
  narherder gc --storage /var/lib/narherder/nars
  narherder doctor --config /etc/narherder/serve.toml

Every command has --help with examples; narherder man DIR writes the man pages."
)]
pub(crate) struct Cli {
    /// Database URL: `sqlite://PATH` or `postgres://…` (default
    /// `sqlite://./narherder.db`).
    #[arg(long, global = true, env = "NARHERDER_DATABASE", value_name = "URL")]
    database: Option<String>,
    /// Store directory served by a new database (`/gnu/store` by default,
    /// `/nix/store` for Nix); an existing database must match it.
    #[arg(long, global = true, value_name = "DIR")]
    store_dir: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate signing keys.
    #[command(subcommand)]
    Keys(keys::Args),
    Sign(sign::Args),
    Verify(verify::Args),
    /// Import narinfo files, directories of them, or standard input.
    Import(import::Args),
    /// Print stored narinfos exactly as they are served.
    Show(show::Args),
    /// List stored items (hash parts, or store paths with --paths).
    List(list::Args),
    /// Print counts and sizes.
    Info(info::Args),
    /// Report narinfos whose nar file is missing and orphaned nar files.
    Check(check::Args),
    /// Serve the store over HTTP (Guix and Nix binary cache protocol).
    Serve(Box<serve::Args>),
    /// Show request analytics.
    Stats(stats::Args),
    /// Manage GC roots (named sets of items kept with their closure).
    Roots(roots::Args),
    /// Delete narinfos (and nar files) that no root or recent import keeps.
    Gc(gc::Args),
    /// Drop least recently requested unrooted items until the nar files fit.
    Evict(evict::Args),
    /// PostgreSQL logical replication: publish, subscribe, status, unsubscribe.
    Replication(replication::Args),
    /// Check a deployment: database, storage, keys, nar files, GC, replication.
    Doctor(doctor::Args),
    /// Write man pages generated from this command line's definition.
    Man(manual::ManArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(manual::CompletionsArgs),
}

/// What the database subcommands need from the global options.
pub struct Ctx {
    /// Database URL.
    pub database: String,
    /// Store directory asked for, if any.
    pub store_dir: Option<String>,
}

impl Ctx {
    /// Opens the store.
    pub async fn open(&self) -> narherder::Result<narherder::store::Store> {
        let options = narherder::store::StoreOptions {
            store_dir: self.store_dir.clone(),
            ..Default::default()
        };
        narherder::store::Store::open(&self.database, &options).await
    }
}

/// Exit status for "something was rejected or missing".
pub const EXIT_PARTIAL: u8 = 1;
/// Exit status for "could not run".
pub const EXIT_FAILURE: u8 = 3;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ctx = Ctx {
        database: cli
            .database
            .unwrap_or_else(narherder::store::default_database_url),
        store_dir: cli.store_dir,
    };
    let result = match cli.command {
        Command::Import(args) => block_on(import::run(&ctx, args)),
        Command::Show(args) => block_on(show::run(&ctx, args)),
        Command::List(args) => block_on(list::run(&ctx, args)),
        Command::Info(args) => block_on(info::run(&ctx, args)),
        Command::Check(args) => block_on(check::run(&ctx, args)),
        Command::Serve(args) => block_on(serve::run(&ctx, *args)),
        Command::Stats(args) => block_on(stats::run(&ctx, args)),
        Command::Roots(args) => block_on(roots::run(&ctx, args)),
        Command::Gc(args) => block_on(gc::run(&ctx, args)),
        Command::Evict(args) => block_on(evict::run(&ctx, args)),
        Command::Replication(args) => block_on(replication::run(&ctx, args)),
        Command::Doctor(args) => block_on(doctor::run(&ctx, args)),
        Command::Man(args) => manual::man(args),
        Command::Completions(args) => manual::completions(args),
        Command::Keys(args) => keys::run(args),
        Command::Sign(args) => sign::run(args),
        Command::Verify(args) => verify::run(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("narherder: {e:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// Runs a database subcommand on a multi-threaded tokio runtime.
fn block_on(command: impl std::future::Future<Output = anyhow::Result<u8>>) -> anyhow::Result<u8> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(command)
}
