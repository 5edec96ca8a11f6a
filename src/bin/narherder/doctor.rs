//! `narherder doctor`: checks a deployment and prints one verdict per check.

use std::path::PathBuf;

use narherder::doctor::{all_passed, diagnose, DoctorOptions, Verdict};
use narherder::duration::parse_duration;
use narherder::server::Settings;

use crate::Ctx;

/// Arguments of `narherder doctor`.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  narherder doctor --config /etc/narherder/serve.toml
  narherder --database postgres://narherder@db/narherder doctor --storage /var/lib/narherder/nars

Exit status: 0 when no check failed (warnings allowed), 1 when one failed.")]
pub struct Args {
    /// Read storage, sign-key, token-file and database from this serve
    /// configuration file (flags and NARHERDER_* variables win).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Nar storage directory to check (exists, writable, holds the nar files).
    #[arg(long, value_name = "DIR")]
    storage: Option<PathBuf>,
    /// Secret signing key file to check (well formed, mode 0600).
    #[arg(long, value_name = "FILE")]
    sign_key: Option<PathBuf>,
    /// Write token file to check (well formed, mode 0600).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// How many narinfos, chosen at random, to check the nar files of.
    #[arg(long, value_name = "N", default_value_t = 100)]
    sample: u32,
    /// Replication lag above which a subscription fails the check.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    max_lag: std::time::Duration,
}

/// Runs `narherder doctor`.
pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<u8> {
    let flags = Settings {
        storage: args.storage,
        sign_key: args.sign_key,
        token_file: args.token_file,
        ..Settings::default()
    };
    let settings = crate::support::layered_settings(flags, args.config.as_deref())?;
    let database = crate::support::server_database(ctx, &settings);
    let options = DoctorOptions {
        database,
        store_dir: ctx.store_dir.clone(),
        storage: settings.storage,
        sign_key: settings.sign_key,
        token_file: settings.token_file,
        sample: args.sample,
        max_lag: args.max_lag,
    };
    let checks = diagnose(&options).await;
    let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    for c in &checks {
        println!("{:<7} {:<width$}  {}", c.verdict.as_str(), c.name, c.detail);
    }
    let failed = checks.iter().filter(|c| c.verdict == Verdict::Fail).count();
    let warned = checks.iter().filter(|c| c.verdict == Verdict::Warn).count();
    if all_passed(&checks) {
        println!("verdict: healthy ({warned} warning(s))");
        Ok(0)
    } else {
        println!("verdict: {failed} check(s) failed, {warned} warning(s)");
        Ok(crate::EXIT_PARTIAL)
    }
}
