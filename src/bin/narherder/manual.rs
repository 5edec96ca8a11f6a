//! `narherder man` and `narherder completions`: man pages and shell
//! completions generated from the command-line definition itself, so they
//! never drift from `--help`.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::CommandFactory as _;

/// Arguments of `narherder man`.
#[derive(clap::Args)]
#[command(after_help = "Example:
  narherder man /usr/local/share/man/man1 && man narherder-gc")]
pub struct ManArgs {
    /// Directory to write the pages into (created if missing): narherder.1
    /// and one narherder-<command>.1 per subcommand.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
}

/// Arguments of `narherder completions`.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  narherder completions bash > /usr/share/bash-completion/completions/narherder
  narherder completions zsh > /usr/share/zsh/vendor-completions/_narherder
  narherder completions fish > ~/.config/fish/completions/narherder.fish")]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

/// Writes the man pages; prints their names.
pub fn man(args: ManArgs) -> anyhow::Result<u8> {
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let cmd = crate::Cli::command();
    clap_mangen::generate_to(cmd, &args.dir)
        .with_context(|| format!("writing man pages into {}", args.dir.display()))?;
    let mut pages: Vec<String> = std::fs::read_dir(&args.dir)
        .with_context(|| args.dir.display().to_string())?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("narherder") && n.ends_with(".1"))
        .collect();
    pages.sort();
    for p in pages {
        println!("{}", args.dir.join(p).display());
    }
    Ok(0)
}

/// Prints the completion script for a shell.
pub fn completions(args: CompletionsArgs) -> anyhow::Result<u8> {
    let mut cmd = crate::Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "narherder", &mut std::io::stdout());
    Ok(0)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    /// Every command, nested ones included, with its full name.
    fn walk(cmd: &clap::Command, prefix: &str, out: &mut Vec<(String, clap::Command)>) {
        let name = if prefix.is_empty() {
            cmd.get_name().to_string()
        } else {
            format!("{prefix} {}", cmd.get_name())
        };
        out.push((name.clone(), cmd.clone()));
        for sub in cmd.get_subcommands() {
            walk(sub, &name, out);
        }
    }

    #[test]
    fn every_command_and_flag_has_help_and_an_example() {
        let mut all = Vec::new();
        walk(&crate::Cli::command(), "", &mut all);
        assert!(all.len() > 15, "only {} commands found", all.len());
        let mut problems = Vec::new();
        for (name, cmd) in &all {
            if cmd.get_name() == "help" {
                continue;
            }
            if cmd.get_about().is_none() && cmd.get_long_about().is_none() && name != "narherder" {
                problems.push(format!("{name}: no description"));
            }
            let text = [
                cmd.get_after_help(),
                cmd.get_after_long_help(),
                cmd.get_long_about(),
            ]
            .iter()
            .flatten()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join("\n");
            if !text.contains("Example") || !text.contains("narherder ") {
                problems.push(format!("{name}: no example in --help"));
            }
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                let help = arg.get_help().or(arg.get_long_help());
                if help.is_none_or_empty() {
                    problems.push(format!("{name}: argument {id} has no help text"));
                }
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    trait NoneOrEmpty {
        fn is_none_or_empty(&self) -> bool;
    }

    impl NoneOrEmpty for Option<&clap::builder::StyledStr> {
        fn is_none_or_empty(&self) -> bool {
            match self {
                None => true,
                Some(s) => s.to_string().trim().is_empty(),
            }
        }
    }

    #[test]
    fn the_definition_is_consistent() {
        crate::Cli::command().debug_assert();
    }
}
