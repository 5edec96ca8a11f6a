//! Writes a synthetic binary cache (see `narherder::synth`) and prints the
//! realised out-degree distribution.
//!
//! ```text
//! cargo run --release --example gen-cache -- DIR --count 100000 [--seed 1] [--nix] [--two-level] [--nar-files]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use narherder::synth::{write_cache, FileLayout, Flavour, SynthOptions};

/// Write a synthetic Guix- or Nix-like cache of narinfo files.
#[derive(Parser)]
struct Args {
    /// Output directory (created if missing).
    dir: PathBuf,
    /// Number of narinfos.
    #[arg(long, default_value_t = 10_000)]
    count: usize,
    /// Seed: the same seed always gives the same files.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Nix-like (`/nix/store`, `nar/<filehash>.nar.xz`) instead of Guix-like.
    #[arg(long)]
    nix: bool,
    /// `<dir>/<2 chars>/<hash>.narinfo` instead of a flat directory.
    #[arg(long)]
    two_level: bool,
    /// Also write an empty nar file where each URL points.
    #[arg(long)]
    nar_files: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let opts = SynthOptions {
        count: args.count,
        seed: args.seed,
        flavour: if args.nix {
            Flavour::Nix
        } else {
            Flavour::Guix
        },
        layout: if args.two_level {
            FileLayout::TwoLevel
        } else {
            FileLayout::Flat
        },
        nar_files: args.nar_files,
    };
    let started = Instant::now();
    match write_cache(&args.dir, &opts) {
        Ok(summary) => {
            println!(
                "wrote {} narinfos ({} bytes of text) to {} in {:.1} s",
                summary.narinfos,
                summary.bytes,
                args.dir.display(),
                started.elapsed().as_secs_f64()
            );
            println!("{}", summary.degrees);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gen-cache: {e}");
            ExitCode::FAILURE
        }
    }
}
