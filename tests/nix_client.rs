//! The real Nix client (Debian's `nix-bin`) against the server: `nix copy
//! --to http://…` uploads a closure (nar PUTs with `Expect: 100-continue`,
//! narinfo PUTs, basic auth from a netrc file), then `nix copy --from` into
//! a fresh store with signature checking on; zstd, then xz compression
//! (the server decompresses every upload to check NarHash and NarSize).
//!
//! Set-up without a daemon and without `/nix`: `NIX_CONF_DIR`,
//! `XDG_CACHE_HOME` (its `nix` directory cleared between steps: the
//! narinfo disk cache hides requests), `NIX_REMOTE` pointing to a temporary
//! directory, `--store /abs/dir`. Without `nix` the test is skipped loudly,
//! except under `CI=true`, where that is a failure.

mod common;
mod server_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::sqlite_db;
use narherder::server::auth::Tokens;
use narherder::signing::{verify_narinfo, Keyring};
use narherder::store::StoreOptions;
use narherder::Narinfo;
use server_support::{config, start};

const TOKEN: &str = "nix-upload-token";

fn nix_available() -> bool {
    let found = Command::new("nix")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("`nix` is missing but CI=true: install nix-bin (scripts/test does)");
        }
        eprintln!("SKIPPED nix_client: `nix` not found (apt-get install nix-bin)");
    }
    found
}

struct Nix {
    root: PathBuf,
}

impl Nix {
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("nix");
        c.args(["--extra-experimental-features", "nix-command"])
            .args(args)
            .env("NIX_CONF_DIR", self.root.join("conf"))
            .env("XDG_CACHE_HOME", self.root.join("cache"))
            .env("NIX_REMOTE", self.root.join("remote"))
            .env("HOME", &self.root)
            .env_remove("NIX_PATH");
        c
    }

    /// Runs nix; returns stdout, panics with stderr on failure.
    fn run(&self, args: &[&str]) -> String {
        // The narinfo disk cache would hide requests from the next step.
        let _ = std::fs::remove_dir_all(self.root.join("cache/nix"));
        let out = self.command(args).output().expect("running nix");
        assert!(
            out.status.success(),
            "nix {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

fn store_dir(root: &Path, name: &str) -> String {
    root.join(name).to_string_lossy().into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nix_copy_to_and_from_the_server() {
    if !nix_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    for d in ["conf", "cache", "remote"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    let nix = Nix { root: root.clone() };
    let netrc = root.join("netrc");
    let db = sqlite_db();
    let store = db.open(&StoreOptions::with_store_dir("/nix/store")).await;
    let mut cfg = config();
    cfg.storage = Some(root.join("nars"));
    cfg.tokens = Tokens::new(&[TOKEN]);
    let server = start(&store, cfg).await;
    let port = server.local_addr().port();
    std::fs::write(
        &netrc,
        format!("machine 127.0.0.1 login nix password {TOKEN}\n"),
    )
    .unwrap();

    let nix_ = Nix { root: root.clone() };
    let (secret, public) = tokio::task::spawn_blocking(move || {
        std::fs::write(
            nix_.root.join("conf/nix.conf"),
            "download-attempts = 1\nsubstituters =\n",
        )
        .unwrap();
        let secret = nix_.run(&["key", "generate-secret", "--key-name", "narherder-test-1"]);
        let mut c = nix_.command(&["key", "convert-secret-to-public"]);
        c.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped());
        let mut child = c.spawn().unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(secret.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (secret, String::from_utf8(out.stdout).unwrap())
    })
    .await
    .unwrap();
    let secret_file = root.join("secret");
    std::fs::write(&secret_file, &secret).unwrap();
    std::fs::write(
        root.join("conf/nix.conf"),
        format!(
            "download-attempts = 1\nsubstituters =\nrequire-sigs = true\n\
             trusted-public-keys = {}\nnetrc-file = {}\nconnect-timeout = 5\n",
            public.trim(),
            netrc.display()
        ),
    )
    .unwrap();

    let s1 = store_dir(&root, "s1");
    let s2 = store_dir(&root, "s2");
    let secret_arg = secret_file.display().to_string();
    let (path, xz_path, upload_time, s2c) = tokio::task::spawn_blocking(move || {
        // A closure of three paths: c -> b -> a, c -> a.
        let path = nix.run(&[
            "eval", "--store", &s1, "--raw", "--expr",
            "let a = builtins.toFile \"a.txt\" \"hello\"; b = builtins.toFile \"b.txt\" \"ref ${a}\"; in builtins.toFile \"c.txt\" \"ref ${b} ${a}\"",
        ]);
        assert!(path.starts_with("/nix/store/") && path.ends_with("-c.txt"), "{path}");
        let to = format!("http://127.0.0.1:{port}?secret-key={secret_arg}&compression=zstd");
        let t0 = Instant::now();
        nix.run(&["copy", "--store", &s1, "--to", &to, &path]);
        let upload_time = t0.elapsed();
        let from = format!("http://127.0.0.1:{port}");
        nix.run(&["copy", "--store", &s2, "--from", &from, &path]);
        // Two more paths, xz-compressed (the server decompresses each
        // upload to check NarHash and NarSize), one referring to a.
        let xz_path = nix.run(&[
            "eval", "--store", &s1, "--raw", "--expr",
            "let a = builtins.toFile \"a.txt\" \"hello\"; d = builtins.toFile \"d.txt\" \"xz ${a}\"; in builtins.toFile \"e.txt\" \"ref ${d}\"",
        ]);
        let to_xz = format!("http://127.0.0.1:{port}?secret-key={secret_arg}&compression=xz");
        nix.run(&["copy", "--store", &s1, "--to", &to_xz, &xz_path]);
        nix.run(&["copy", "--store", &s2, "--from", &from, &xz_path]);
        (path, xz_path, upload_time, s2)
    })
    .await
    .unwrap();

    // The whole closure arrived in the fresh store, signatures checked.
    let base = path.trim_start_matches("/nix/store/");
    let copied = Path::new(&s2c).join("nix/store").join(base);
    let text = std::fs::read_to_string(&copied).unwrap();
    assert!(text.starts_with("ref /nix/store/"), "{text}");
    let names: Vec<String> = std::fs::read_dir(Path::new(&s2c).join("nix/store"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for suffix in ["-a.txt", "-b.txt", "-c.txt"] {
        assert!(
            names.iter().any(|n| n.ends_with(suffix)),
            "{suffix} in {names:?}"
        );
    }
    // The server holds the three narinfos, signed by the uploader's key, and
    // their zstd nars (checked against FileHash/FileSize on the way in).
    let info = store.counts().await.unwrap();
    assert_eq!(info.narinfos, 5);
    let xz_base = xz_path.trim_start_matches("/nix/store/");
    let copied = std::fs::read_to_string(Path::new(&s2c).join("nix/store").join(xz_base)).unwrap();
    assert!(copied.starts_with("ref /nix/store/"), "{copied}");
    let xz = Narinfo::parse(&store.get(&xz_base[..32]).await.unwrap().unwrap().text).unwrap();
    assert_eq!(xz.files()[0].compression.as_deref(), Some("xz"));
    let pub_file = root.join("public");
    std::fs::write(&pub_file, &public).unwrap();
    let keys = Keyring::from_files(&[&pub_file]).unwrap();
    let stored = store.get(&base[..32]).await.unwrap().unwrap();
    let n = Narinfo::parse(&stored.text).unwrap();
    assert!(verify_narinfo(&n, &keys).is_valid(), "{}", stored.text);
    assert_eq!(n.files()[0].compression.as_deref(), Some("zstd"));
    // Six PUTs with `Expect: 100-continue`: unanswered, each would wait a
    // second; answered, the copy takes a fraction of that.
    eprintln!("nix copy --to took {upload_time:?}");
    assert!(
        upload_time < Duration::from_secs(5),
        "nix copy --to took {upload_time:?}: PUTs stalled on Expect: 100-continue?"
    );
    server.shutdown(Duration::from_secs(5)).await.unwrap();
    store.close().await;
}
