//! The `narherder` command-line interface: parses arguments and hands over
//! to one module per subcommand. The work itself is done by the library.
//!
//! Exit status: 0 on success, 1 when something was rejected, invalid or not
//! found, 2 for usage errors, 3 when the command could not run.

mod keys;
mod sign;
mod support;
mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Store, serve and garbage-collect Guix and Nix narinfos.
#[derive(Parser)]
#[command(name = "narherder", version, about)]
struct Cli {
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
}

/// Exit status for "could not run".
pub const EXIT_FAILURE: u8 = 3;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
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
