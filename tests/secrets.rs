//! Secrets: key files are created 0600, exposed key and token files are
//! used with a warning, tokens never reach the logs (even at `trace`), and
//! error messages about a bad secret key do not repeat the key.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn narherder(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_narherder"))
        .args(args)
        .output()
        .expect("running narherder")
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn data(rel: &str) -> String {
    format!("{}/tests/data/{rel}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn generated_keys_are_0600_and_exposed_ones_warn() {
    let dir = tempfile::tempdir().unwrap();
    for format in ["guix", "nix"] {
        let prefix = dir.path().join(format);
        let mut args = vec!["keys", "generate", "--format", format];
        if format == "nix" {
            args.extend(["--name", "test-cache-1"]);
        }
        let prefix_s = prefix.to_str().unwrap().to_string();
        args.extend(["--output", &prefix_s]);
        let out = narherder(&args);
        assert!(out.status.success(), "{out:?}");
        let sec = dir.path().join(format!("{format}.sec"));
        assert_eq!(mode(&sec), 0o600, "{format} secret key mode");
        assert_eq!(mode(&dir.path().join(format!("{format}.pub"))), 0o644);
        // Signing with it: silent while private …
        let narinfo = if format == "guix" {
            data("guix/cs56i9digj9qg1bd383cmxc6xrfpdn9n.hello-2.12.2.bordeaux.narinfo")
        } else {
            data("nix/0a3yijp35sygmy51cnrrz11vimwapz7c.dbus-conf-self-ref.narinfo")
        };
        let sign = |sec: &Path| {
            narherder(&[
                "sign",
                "--key",
                sec.to_str().unwrap(),
                "--host",
                "h",
                &narinfo,
            ])
        };
        let out = sign(&sec);
        assert!(out.status.success(), "{out:?}");
        assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"));
        // … loud when others may read it, and still used.
        std::fs::set_permissions(&sec, std::fs::Permissions::from_mode(0o644)).unwrap();
        let out = sign(&sec);
        assert!(out.status.success(), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("warning") && err.contains("0644") && err.contains(sec.to_str().unwrap()),
            "{err}"
        );
        // A second generate never overwrites.
        let out = narherder(&args);
        assert!(!out.status.success());
        assert_eq!(mode(&sec), 0o644);
    }
}

#[test]
fn bad_secret_keys_are_not_echoed_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    // 63 bytes of base64: one short of a Nix secret key.
    let payload =
        "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldC1zZWNyZX";
    let sec = dir.path().join("bad.sec");
    std::fs::write(&sec, format!("cache-1:{payload}\n")).unwrap();
    std::fs::set_permissions(&sec, std::fs::Permissions::from_mode(0o600)).unwrap();
    let narinfo = data("nix/0a3yijp35sygmy51cnrrz11vimwapz7c.dbus-conf-self-ref.narinfo");
    let out = narherder(&["sign", "--key", sec.to_str().unwrap(), &narinfo]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.sec"), "names the file: {err}");
    assert!(!err.contains(&payload[..16]), "echoes the key: {err}");
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn tokens_never_reach_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let token = "tok-SECRET-3141592653";
    let wrong = "wrong-SECRET-2718281828";
    let token_file = dir.path().join("tokens");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let db = format!("sqlite://{}", dir.path().join("db").display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_narherder"))
        .args([
            "serve",
            "--database",
            &db,
            "--listen",
            "127.0.0.1:0",
            "--token-file",
            token_file.to_str().unwrap(),
        ])
        .env("RUST_LOG", "trace")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The address from the "serving" log line.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut log = String::new();
    let addr = loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            panic!("server exited: {log}");
        }
        // Without the colours tracing may add.
        let line = strip_ansi(&line);
        log.push_str(&line);
        if let Some(i) = line.find("addr=") {
            let a: String = line[i + 5..]
                .chars()
                .take_while(|c| !c.is_whitespace())
                .collect();
            break a;
        }
    };
    assert!(log.contains("its group"), "token file warning: {log}");
    let reader = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut rest);
        rest
    });
    use std::io::{Read, Write};
    for (auth, body) in [
        (format!("Bearer {wrong}"), "x"),
        (format!("Bearer {token}"), "not a narinfo"),
        (format!("Basic {wrong}"), "x"),
    ] {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(
            s,
            "PUT /eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee.narinfo HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 4"), "{answer}");
        assert!(
            !answer.contains(token) && !answer.contains(wrong),
            "{answer}"
        );
    }
    // SIGTERM, then everything it logged.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    log.push_str(&strip_ansi(&reader.join().unwrap()));
    assert!(!log.contains(token), "the token was logged:\n{log}");
    assert!(!log.contains(wrong), "a presented token was logged:\n{log}");
}
