//! The deployment files under examples/deploy/ are accepted by the tools
//! that will read them: `nginx -t` on the nginx configuration (with a
//! throwaway self-signed certificate and prefix directory),
//! `systemd-analyze verify` on the units (after our own parser check),
//! Guile on the Guix service definition, and PostgreSQL 15 (`postgres -C`,
//! which parses the configuration without starting a server) on the
//! primary and mirror settings. Each check also feeds a broken copy to the
//! tool, to show that it would notice. Under CI=true a missing tool is a
//! failure (scripts/test installs nginx, systemd, guile and PostgreSQL).

mod common;
mod gc_util;
mod server_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

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

/// A free TCP port on 127.0.0.1 (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args(["--silent", "--show-error", "--insecure", "--max-time", "20"])
        .args(args)
        .output()
        .expect("curl")
}

/// Stops the nginx child on drop (also when an assertion fails).
struct Nginx(std::process::Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM: the master stops its workers and the cache manager too
        // (SIGKILL would orphan them).
        if let Ok(pid) = i32::try_from(self.0.id()) {
            // SAFETY: signalling our own child process.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let _ = self.0.wait();
    }
}

/// nginx with this configuration in front of a real narherder server:
/// narinfos pass through, nar files come from nginx's cache the second
/// time, over TLS.
#[tokio::test]
async fn nginx_fronts_a_running_server() {
    let Some(nginx) = tool("nginx", &["nginx", "/usr/sbin/nginx"], "nginx") else {
        return;
    };
    tool("curl", &["curl"], "curl").expect("curl is needed for this test");
    let dir = tempfile::tempdir().unwrap();
    // narherder with one narinfo and its nar file.
    let storage = dir.path().join("nars");
    std::fs::create_dir_all(storage.join("nar")).unwrap();
    std::fs::write(storage.join("nar/item-0.nar.xz"), vec![7u8; 1000]).unwrap();
    let db = common::sqlite_db();
    let store = db.open(&gc_util::nix()).await;
    let node = gc_util::Node {
        refs: vec![],
        added: 0,
        url: "nar/item-0.nar.xz".into(),
        size: 1000,
    };
    gc_util::import(&store, std::slice::from_ref(&node)).await;
    let config = narherder::server::ServerConfig {
        storage: Some(storage),
        ..server_support::config()
    };
    let server = server_support::start(&store, config).await;
    let upstream = server.local_addr();

    let (cert, key) = self_signed_cert(dir.path());
    let (https, http) = (free_port(), free_port());
    let site = read("nginx/narherder.conf")
        .replace("server 127.0.0.1:8080;", &format!("server {upstream};"))
        .replace(
            "listen 443 ssl http2;",
            &format!("listen 127.0.0.1:{https} ssl http2;"),
        )
        .replace("listen [::]:443 ssl http2;", "")
        .replace("listen 80;", &format!("listen 127.0.0.1:{http};"))
        .replace("listen [::]:80;", "")
        .replace(
            "/etc/letsencrypt/live/cache.example.org/fullchain.pem",
            cert.to_str().unwrap(),
        )
        .replace(
            "/etc/letsencrypt/live/cache.example.org/privkey.pem",
            key.to_str().unwrap(),
        )
        .replace(
            "/var/cache/nginx/narherder",
            dir.path().join("cache").to_str().unwrap(),
        );
    let prefix = dir.path().join("prefix");
    std::fs::create_dir_all(prefix.join("logs")).unwrap();
    std::fs::write(prefix.join("narherder.conf"), site).unwrap();
    let main = format!(
        "{user}pid {p}/nginx.pid;\nerror_log {p}/logs/error.log;\nevents {{ worker_connections 64; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {p}/tmp-body;\n  proxy_temp_path {p}/tmp-proxy;\n\
           include {p}/narherder.conf;\n}}\n",
        user = if is_root() { "user root root;\n" } else { "" },
        p = prefix.display()
    );
    std::fs::write(prefix.join("nginx.conf"), main).unwrap();
    let _nginx = Nginx(
        Command::new(&nginx)
            .arg("-p")
            .arg(&prefix)
            .arg("-e")
            .arg(prefix.join("logs/error.log"))
            .arg("-c")
            .arg(prefix.join("nginx.conf"))
            .args(["-g", "daemon off;"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("starting nginx"),
    );
    let base = format!("https://127.0.0.1:{https}");
    let up = server_support::eventually(Duration::from_secs(10), || async {
        std::net::TcpStream::connect(("127.0.0.1", https)).is_ok()
    })
    .await;
    assert!(
        up,
        "nginx did not start: {}",
        std::fs::read_to_string(prefix.join("logs/error.log")).unwrap_or_default()
    );

    let hash = common::hash_for(0);
    let run = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            curl(&refs)
        })
    };
    // A narinfo, through TLS, as narherder wrote it.
    let out = run(vec![format!("{base}/{hash}.narinfo")]).await.unwrap();
    let body = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        body.starts_with(&format!("StorePath: /nix/store/{hash}-item-0\n")),
        "{body}"
    );
    // A miss passes through as a 404.
    let out = run(vec![
        "-o".into(),
        "/dev/null".into(),
        "-w".into(),
        "%{http_code}".into(),
        format!("{base}/{}.narinfo", common::hash_for(9)),
    ])
    .await
    .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "404");
    // The nar file: a miss in nginx's cache, then a hit.
    let nar = |range: Option<&str>| {
        let mut a = vec![
            "-D".to_string(),
            "-".to_string(),
            "-o".into(),
            "/dev/null".into(),
        ];
        if let Some(r) = range {
            a.extend(["-r".to_string(), r.to_string()]);
        }
        a.push(format!("{base}/nar/item-0.nar.xz"));
        run(a)
    };
    let first = String::from_utf8_lossy(&nar(None).await.unwrap().stdout).to_lowercase();
    assert!(first.contains("x-cache-status: miss"), "{first}");
    assert!(first.contains("content-length: 1000"), "{first}");
    let second = String::from_utf8_lossy(&nar(None).await.unwrap().stdout).to_lowercase();
    assert!(second.contains("x-cache-status: hit"), "{second}");
    let ranged = String::from_utf8_lossy(&nar(Some("0-99")).await.unwrap().stdout).to_lowercase();
    assert!(ranged.contains(" 206"), "{ranged}");
    assert!(ranged.contains("content-length: 100"), "{ranged}");
    // Plain HTTP redirects to HTTPS.
    let out = run(vec![
        "-o".into(),
        "/dev/null".into(),
        "-w".into(),
        "%{http_code} %{redirect_url}".into(),
        format!("http://127.0.0.1:{http}/{hash}.narinfo"),
    ])
    .await
    .unwrap();
    let redirect = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(redirect.starts_with("301 https://"), "{redirect}");
    server.shutdown(Duration::from_secs(5)).await.unwrap();
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
