//! The deployment files under examples/deploy/ are accepted by the tools
//! that will read them: `nginx -t` on the nginx configuration (with a
//! throwaway self-signed certificate and prefix directory),
//! `systemd-analyze verify` on the units (after our own parser check),
//! Guile on the Guix service definition, and PostgreSQL 15 (`postgres -C`,
//! which parses the configuration without starting a server) on the
//! primary and mirror settings. Each check also feeds a broken copy to the
//! tool, to show that it would notice. Under CI=true a missing tool is a
//! failure (scripts/test installs nginx, systemd, guile and PostgreSQL).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn deploy(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/deploy")
        .join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(deploy(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Finds a tool: a name on PATH or an absolute file. Missing: a failure
/// under CI=true, otherwise a skip that says so.
fn tool(what: &str, candidates: &[&str], package: &str) -> Option<PathBuf> {
    for c in candidates {
        let p = Path::new(c);
        if p.is_absolute() {
            if p.is_file() {
                return Some(p.to_path_buf());
            }
        } else if let Ok(out) = Command::new("sh")
            .args(["-c", &format!("command -v {c}")])
            .output()
        {
            let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if out.status.success() && !s.is_empty() {
                return Some(PathBuf::from(s));
            }
        }
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{what} is missing but CI=true: apt-get install {package} (scripts/test does)");
    }
    eprintln!("SKIPPED {what}: not installed (apt-get install {package})");
    None
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

// ---------------------------------------------------------------- nginx

fn self_signed_cert(dir: &Path) -> (PathBuf, PathBuf) {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=cache.example.org", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl");
    assert!(out.status.success(), "openssl: {}", text(&out));
    (cert, key)
}

/// `nginx -t` on a main configuration that includes `site`.
fn nginx_test(nginx: &Path, dir: &Path, site: &str) -> Output {
    let prefix = dir.join("prefix");
    std::fs::create_dir_all(prefix.join("logs")).unwrap();
    std::fs::write(prefix.join("narherder.conf"), site).unwrap();
    let main = format!(
        "pid {p}/nginx.pid;\nerror_log {p}/logs/error.log;\nevents {{ worker_connections 64; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {p}/tmp-body;\n  proxy_temp_path {p}/tmp-proxy;\n\
           include {p}/narherder.conf;\n}}\n",
        p = prefix.display()
    );
    std::fs::write(prefix.join("nginx.conf"), main).unwrap();
    Command::new(nginx)
        .arg("-t")
        .arg("-p")
        .arg(&prefix)
        .arg("-e")
        .arg(prefix.join("logs/error.log"))
        .arg("-c")
        .arg(prefix.join("nginx.conf"))
        .output()
        .expect("running nginx")
}

#[test]
fn nginx_accepts_the_front_end_config() {
    let Some(nginx) = tool("nginx", &["nginx", "/usr/sbin/nginx"], "nginx") else {
        return;
    };
    let site = read("nginx/narherder.conf");
    for want in [
        "ssl_certificate ",
        "proxy_cache narherder_nars;",
        "location /nar/",
        "\\.narinfo$",
        "client_max_body_size",
    ] {
        assert!(site.contains(want), "nginx config lacks {want:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed_cert(dir.path());
    let cache = dir.path().join("cache");
    let site = site
        .replace(
            "/etc/letsencrypt/live/cache.example.org/fullchain.pem",
            cert.to_str().unwrap(),
        )
        .replace(
            "/etc/letsencrypt/live/cache.example.org/privkey.pem",
            key.to_str().unwrap(),
        )
        .replace("/var/cache/nginx/narherder", cache.to_str().unwrap());
    let out = nginx_test(&nginx, dir.path(), &site);
    let report = text(&out);
    assert!(out.status.success(), "nginx -t failed:\n{report}");
    assert!(report.contains("test is successful"), "{report}");
    assert!(
        !report.contains("[warn]") || !is_root(),
        "nginx warns:\n{report}"
    );

    // The same test notices a broken directive.
    let broken = site.replace("proxy_cache_lock on;", "proxy_cache_lock maybe;");
    let out = nginx_test(&nginx, dir.path(), &broken);
    assert!(!out.status.success(), "nginx -t accepted a broken config");
}

// -------------------------------------------------------------- systemd

/// Our own check of a unit file: sections, `Key=Value` lines, known
/// sections only, and the keys every unit here needs.
fn parse_unit(name: &str, text: &str) -> Vec<(String, String, String)> {
    let mut section = String::new();
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            assert!(
                ["Unit", "Service", "Timer", "Install"].contains(&s),
                "{name}:{}: unexpected section [{s}]",
                i + 1
            );
            section = s.to_string();
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("{name}:{}: not Key=Value: {line}", i + 1));
        assert!(
            !section.is_empty(),
            "{name}:{}: key outside a section",
            i + 1
        );
        assert!(
            !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric()),
            "{name}:{}: bad key {k:?}",
            i + 1
        );
        out.push((section.clone(), k.to_string(), v.trim().to_string()));
    }
    out
}

fn value<'a>(entries: &'a [(String, String, String)], section: &str, key: &str) -> Option<&'a str> {
    entries
        .iter()
        .find(|(s, k, _)| s == section && k == key)
        .map(|(_, _, v)| v.as_str())
}

#[test]
fn systemd_units_verify() {
    let units = [
        "narherder.service",
        "narherder-gc.service",
        "narherder-gc.timer",
    ];
    let parsed: Vec<_> = units
        .iter()
        .map(|u| parse_unit(u, &read(&format!("systemd/{u}"))))
        .collect();
    let serve = value(&parsed[0], "Service", "ExecStart").expect("ExecStart");
    assert!(serve.contains(" serve --config "), "{serve}");
    let gc = value(&parsed[1], "Service", "ExecStart").expect("ExecStart");
    assert!(gc.contains(" gc --storage "), "{gc}");
    assert_eq!(value(&parsed[1], "Service", "Type"), Some("oneshot"));
    assert!(value(&parsed[2], "Timer", "OnCalendar").is_some());
    assert_eq!(
        value(&parsed[2], "Install", "WantedBy"),
        Some("timers.target")
    );
    // Both services read the same environment file, so they open the same database.
    for p in &parsed[..2] {
        assert_eq!(
            value(p, "Service", "EnvironmentFile"),
            Some("/etc/narherder/environment")
        );
    }
    // The example config file names only keys `narherder serve` knows.
    let config = read("systemd/serve.toml.example");
    let settings: narherder::server::Settings =
        toml::from_str(&config).expect("serve.toml.example is a valid serve configuration");
    assert_eq!(
        settings.storage.as_deref(),
        Some(Path::new("/var/lib/narherder/nars"))
    );

    let Some(analyze) = tool("systemd-analyze", &["systemd-analyze"], "systemd") else {
        eprintln!("checked the units with our own parser only");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_narherder");
    let mut paths = Vec::new();
    for u in units {
        let t = read(&format!("systemd/{u}")).replace("/usr/local/bin/narherder", bin);
        let p = dir.path().join(u);
        std::fs::write(&p, t).unwrap();
        paths.push(p);
    }
    let verify = |files: &[PathBuf]| {
        Command::new(&analyze)
            .args(["verify", "--man=no"])
            .args(files)
            .env("SYSTEMD_LOG_LEVEL", "warning")
            .output()
            .expect("systemd-analyze")
    };
    let out = verify(&paths);
    let report = text(&out);
    // systemd-analyze exits 0 on many problems but prints them.
    let problems: Vec<&str> = report
        .lines()
        .filter(|l| !l.trim().is_empty())
        // Containers without systemd as PID 1 lack these; not the units' fault.
        .filter(|l| !l.contains("Failed to connect") && !l.contains("System has not been booted"))
        .collect();
    assert!(
        out.status.success() && problems.is_empty(),
        "systemd-analyze verify:\n{report}"
    );

    let bad = dir.path().join("bad.service");
    std::fs::write(
        &bad,
        read("systemd/narherder.service")
            .replace("/usr/local/bin/narherder", bin)
            .replace("Restart=on-failure", "Restart=sometimes"),
    )
    .unwrap();
    let report = text(&verify(&[bad]));
    assert!(
        report.contains("sometimes"),
        "a broken unit went unnoticed:\n{report}"
    );
}

// ----------------------------------------------------------------- Guix

#[test]
fn guile_reads_the_guix_service() {
    let Some(guile) = tool("guile", &["guile"], "guile-3.0") else {
        return;
    };
    let checker = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/deploy/read-guix-service.scm");
    let run = |file: &Path| {
        Command::new(&guile)
            .arg("--no-auto-compile")
            .arg(&checker)
            .arg(file)
            .output()
            .expect("guile")
    };
    let out = run(&deploy("guix/narherder-service.scm"));
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("gc-schedule"), "{}", text(&out));

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.scm");
    std::fs::write(
        &bad,
        read("guix/narherder-service.scm").replace("(node-name \"cache-eu-1\")", "(node \"x\")"),
    )
    .unwrap();
    let out = run(&bad);
    assert!(!out.status.success(), "an unknown field went unnoticed");
    assert!(text(&out).contains("unknown narherder-configuration field node"));
    std::fs::write(&bad, "(define (broken").unwrap();
    assert!(
        !run(&bad).status.success(),
        "unbalanced parentheses went unnoticed"
    );
}

// ----------------------------------------------------------- PostgreSQL

const PGBIN: &str = "/usr/lib/postgresql/15/bin";

#[test]
fn postgresql_accepts_primary_and_mirror_settings() {
    let Some(initdb) = tool(
        "PostgreSQL 15",
        &[&format!("{PGBIN}/initdb")],
        "postgresql-15",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let as_owner = |program: &Path| -> Command {
        if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    };
    if is_root() {
        let st = Command::new("chown")
            .arg("postgres:")
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(st.success());
    }
    let out = as_owner(&initdb)
        .arg("-D")
        .arg(&data)
        .args(["-A", "trust", "-U", "postgres", "--no-sync"])
        .output()
        .unwrap();
    assert!(out.status.success(), "initdb: {}", text(&out));
    let postgres = Path::new(PGBIN).join("postgres");
    let base = std::fs::read_to_string(data.join("postgresql.conf")).unwrap();
    let show = |conf: &str, params: &str| -> Output {
        let f = data.join("narherder.conf");
        std::fs::write(&f, conf).unwrap();
        std::fs::write(
            data.join("postgresql.conf"),
            format!("{base}\ninclude = 'narherder.conf'\n"),
        )
        .unwrap();
        as_owner(&postgres)
            .arg("-D")
            .arg(&data)
            .arg("-C")
            .arg(params)
            .output()
            .unwrap()
    };
    let primary = read("postgresql/primary.conf");
    let out = show(&primary, "wal_level");
    assert!(out.status.success(), "primary.conf: {}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "logical");
    let out = show(&primary, "max_slot_wal_keep_size");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "65536");
    let mirror = read("postgresql/mirror.conf");
    let out = show(&mirror, "max_logical_replication_workers");
    assert!(out.status.success(), "mirror.conf: {}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "8");
    // A misspelt parameter is refused.
    let out = show(
        &format!("{mirror}\nmax_logical_replication_worker = 8\n"),
        "wal_level",
    );
    assert!(
        !out.status.success(),
        "postgres accepted a misspelt parameter"
    );
}
