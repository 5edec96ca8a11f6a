//! The manual (doc/) against the code it describes: the configuration
//! reference lists exactly the keys `narherder serve` accepts, with their
//! flags and environment variables; the C API reference names every
//! function of include/narherder.h; relative links resolve.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use narherder::server::Settings;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The keys `Settings` accepts, from serde's own list of expected fields.
fn settings_keys() -> BTreeSet<String> {
    let err = toml::from_str::<Settings>("no-such-key-at-all = 1")
        .expect_err("an unknown key is refused")
        .to_string();
    let list = err
        .split("expected one of")
        .nth(1)
        .unwrap_or_else(|| panic!("unexpected serde message: {err}"));
    list.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// Rows of the serve table: (key, flag column, environment column).
fn documented() -> Vec<(String, String, String)> {
    let doc = read("doc/configuration.md");
    let table = doc
        .split("## `narherder serve`")
        .nth(1)
        .and_then(|s| s.split("\n#").next())
        .expect("a `narherder serve` section");
    table
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cols: Vec<&str> = l.split('|').map(str::trim).collect();
            let key = cols[1].trim_matches('`').to_string();
            (key, cols[2].to_string(), cols[3].to_string())
        })
        .collect()
}

#[test]
fn configuration_reference_matches_the_settings() {
    let rows = documented();
    let keys: BTreeSet<String> = rows.iter().map(|r| r.0.clone()).collect();
    let accepted = settings_keys();
    assert!(accepted.len() >= 15, "{accepted:?}");
    let undocumented: Vec<_> = accepted.difference(&keys).collect();
    let unknown: Vec<_> = keys.difference(&accepted).collect();
    assert!(
        undocumented.is_empty() && unknown.is_empty(),
        "doc/configuration.md is out of date: undocumented keys {undocumented:?}, \
         documented keys serve does not accept {unknown:?}"
    );
    // Each documented key is accepted on its own in a file.
    for (key, _, _) in &rows {
        let value = match key.as_str() {
            "priority" | "max-connections" => "1".to_string(),
            "want-mass-query" | "read-only" | "require-signature" => "true".to_string(),
            "key" => "[\"/k\"]".to_string(),
            _ => "\"x\"".to_string(),
        };
        toml::from_str::<Settings>(&format!("{key} = {value}"))
            .unwrap_or_else(|e| panic!("documented key {key}: {e}"));
    }
}

#[test]
fn configuration_reference_names_the_flags_and_variables() {
    let rows = documented();
    // Flags: the serve help lists each documented one, and the table each
    // serve flag (but --config and --help).
    let help = Command::new(env!("CARGO_BIN_EXE_narherder"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout).to_string();
    let flags: BTreeSet<String> = help
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("--"))
        .map(|w| {
            w.trim_end_matches([',', '.', ')', ']'])
                .split(['=', '<', ' '])
                .next()
                .unwrap_or("")
                .to_string()
        })
        .filter(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        .collect();
    let documented_flags: BTreeSet<String> = rows
        .iter()
        .filter_map(|r| {
            r.1.split('`')
                .nth(1)
                .map(|f| f.trim_start_matches("--").to_string())
        })
        .collect();
    for f in &documented_flags {
        assert!(
            flags.contains(f),
            "documented flag --{f} is not in serve --help"
        );
    }
    for f in &flags {
        if ["config", "help", "store-dir"].contains(&f.as_str()) {
            continue;
        }
        assert!(
            documented_flags.contains(f),
            "serve flag --{f} is missing from doc/configuration.md"
        );
    }
    // Environment: exactly the variables Settings::from_vars reads.
    let read = std::sync::Mutex::new(BTreeSet::new());
    Settings::from_vars(|k| {
        read.lock().unwrap().insert(k.to_string());
        None
    })
    .unwrap();
    let read = read.into_inner().unwrap();
    let documented_env: BTreeSet<String> = rows
        .iter()
        .filter_map(|r| r.2.split('`').nth(1).map(str::to_string))
        .filter(|v| v != "NARHERDER_DATABASE")
        .collect();
    assert_eq!(
        documented_env, read,
        "environment variables in doc/configuration.md differ from what serve reads"
    );
}

#[test]
fn c_api_reference_names_every_function() {
    let header = read("include/narherder.h");
    let doc = read("doc/c-api.md");
    let mut missing = Vec::new();
    let mut n = 0;
    for line in header.lines() {
        if line.starts_with("//") || line.starts_with('#') || line.starts_with(' ') {
            continue;
        }
        if let Some(name) = line
            .split('(')
            .next()
            .and_then(|l| l.split_whitespace().last())
            .map(|w| w.trim_start_matches('*'))
            .filter(|w| w.starts_with("narherder_") && line.contains('('))
        {
            n += 1;
            if !doc.contains(&format!("`{name}`")) {
                missing.push(name.to_string());
            }
        }
    }
    assert!(n > 50, "only {n} functions found in the header");
    assert!(missing.is_empty(), "doc/c-api.md lacks {missing:?}");
}

#[test]
fn manual_links_resolve() {
    let dir = root().join("doc");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if !path.extension().is_some_and(|e| e == "md") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for target in text.split("](").skip(1).filter_map(|s| s.split(')').next()) {
            if target.starts_with("http") || target.starts_with('#') {
                continue;
            }
            let file = target.split('#').next().unwrap_or("");
            let resolved: PathBuf = dir.join(file);
            // The Guile reference is written with the Guile bindings.
            if file == "guile-api.md" && !resolved.exists() {
                eprintln!("note: doc/guile-api.md is not written yet");
                continue;
            }
            assert!(
                resolved.exists(),
                "{}: link to {target} does not resolve",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(checked > 15, "only {checked} links checked");
    let index = read("doc/README.md");
    for page in [
        "concepts.md",
        "quickstart-guix.md",
        "quickstart-nix.md",
        "configuration.md",
        "c-api.md",
        "guile-api.md",
        "operations.md",
    ] {
        assert!(
            index.contains(&format!("]({page})")),
            "doc/README.md does not link {page}"
        );
    }
}
