//! The `narherder` command-line interface.

use clap::Parser;

/// Store, serve and garbage-collect Guix and Nix narinfos.
#[derive(Parser)]
#[command(name = "narherder", version, about)]
struct Cli {}

fn main() {
    let _ = Cli::parse();
}
