//! `narherder doctor` and `narherder::doctor`: one verdict per check and
//! the exit status, on a healthy deployment and on each thing that can be
//! wrong with one (missing database, old or new schema, unwritable storage,
//! missing nar files, secrets readable by others, no roots, failed GC).

mod common;
mod gc_util;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;

use common::{for_each_backend, hash_for};
use gc_util::{exec, import, nix, Node};
use narherder::doctor::{diagnose, Check, DoctorOptions, Verdict};
use narherder::gc::{gc, GcOptions};

fn verdict<'a>(checks: &'a [Check], name: &str) -> &'a Check {
    checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check {name:?} in {checks:?}"))
}

fn nodes() -> Vec<Node> {
    (0..6u64)
        .map(|i| Node {
            refs: if i > 0 { vec![0] } else { vec![] },
            added: -30 * 86_400,
            url: format!("nar/item-{i}.nar.xz"),
            size: 100 + i,
        })
        .collect()
}

fn write_nars(dir: &Path, nodes: &[Node]) {
    std::fs::create_dir_all(dir.join("nar")).unwrap();
    for n in nodes {
        std::fs::write(dir.join(&n.url), vec![b'x'; n.size as usize]).unwrap();
    }
}

#[tokio::test]
async fn every_check_on_both_backends() {
    for_each_backend("doctor_checks", |db| async move {
        let store = db.open(&nix()).await;
        let nodes = nodes();
        import(&store, &nodes).await;
        let dir = tempfile::tempdir().unwrap();
        let nars = dir.path().join("nars");
        write_nars(&nars, &nodes);
        let mut options = DoctorOptions {
            database: db.url.clone(),
            storage: Some(nars.clone()),
            sample: 50,
            ..DoctorOptions::default()
        };

        let checks = diagnose(&options).await;
        assert_eq!(
            verdict(&checks, "database").verdict,
            Verdict::Ok,
            "{checks:?}"
        );
        assert_eq!(
            verdict(&checks, "storage").verdict,
            Verdict::Ok,
            "{checks:?}"
        );
        assert_eq!(
            verdict(&checks, "nar files").verdict,
            Verdict::Ok,
            "{checks:?}"
        );
        assert_eq!(verdict(&checks, "signing key").verdict, Verdict::Skipped);
        assert_eq!(verdict(&checks, "roots").verdict, Verdict::Warn);
        assert_eq!(verdict(&checks, "last gc").verdict, Verdict::Warn);
        assert!(narherder::doctor::all_passed(&checks));

        // A wrong size, then a missing file.
        std::fs::write(nars.join("nar/item-3.nar.xz"), b"short").unwrap();
        let c = diagnose(&options).await;
        let nf = verdict(&c, "nar files");
        assert_eq!(nf.verdict, Verdict::Warn, "{c:?}");
        assert!(nf.detail.contains("item-3"), "{nf:?}");
        std::fs::remove_file(nars.join("nar/item-0.nar.xz")).unwrap();
        let c = diagnose(&options).await;
        let nf = verdict(&c, "nar files");
        assert_eq!(nf.verdict, Verdict::Fail, "{c:?}");
        assert!(nf.detail.contains("nar/item-0.nar.xz"), "{nf:?}");
        assert!(!narherder::doctor::all_passed(&c));
        write_nars(&nars, &nodes);

        // Roots and a collection.
        narherder::roots::add_root(&store, "r", &[hash_for(1)], None)
            .await
            .unwrap();
        gc(&store, &GcOptions::default()).await.unwrap();
        let c = diagnose(&options).await;
        assert_eq!(verdict(&c, "roots").verdict, Verdict::Ok, "{c:?}");
        let last = verdict(&c, "last gc");
        assert_eq!(last.verdict, Verdict::Ok, "{c:?}");
        assert!(last.detail.contains("deleted 4 narinfos"), "{last:?}");
        // An expired root only.
        exec(&store, "UPDATE roots SET expires_at = $1", &[1]).await;
        let c = diagnose(&options).await;
        assert_eq!(verdict(&c, "roots").verdict, Verdict::Warn, "{c:?}");

        // Secrets: a token file readable by others fails, mode 0600 passes.
        let tokens = dir.path().join("tokens");
        std::fs::write(&tokens, "a-token\n").unwrap();
        std::fs::set_permissions(&tokens, std::fs::Permissions::from_mode(0o644)).unwrap();
        options.token_file = Some(tokens.clone());
        let c = diagnose(&options).await;
        let t = verdict(&c, "token file");
        assert_eq!(t.verdict, Verdict::Fail, "{c:?}");
        assert!(
            t.detail.contains("0644") && t.detail.contains("chmod 600"),
            "{t:?}"
        );
        std::fs::set_permissions(&tokens, std::fs::Permissions::from_mode(0o600)).unwrap();
        let c = diagnose(&options).await;
        assert_eq!(verdict(&c, "token file").verdict, Verdict::Ok, "{c:?}");
        // A signing key that is not one.
        let key = dir.path().join("key.sec");
        std::fs::write(&key, "not a key\n").unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        options.sign_key = Some(key);
        let c = diagnose(&options).await;
        assert_eq!(verdict(&c, "signing key").verdict, Verdict::Fail, "{c:?}");
        options.sign_key = None;

        // Storage that is a file.
        options.storage = Some(tokens.clone());
        let c = diagnose(&options).await;
        assert_eq!(verdict(&c, "storage").verdict, Verdict::Fail, "{c:?}");
        options.storage = Some(nars.clone());

        // A PostgreSQL mirror needs its triggers enabled ALWAYS.
        if db.backend == "postgres" {
            assert_eq!(
                verdict(&c, "mirror triggers").verdict,
                Verdict::Skipped,
                "{c:?}"
            );
            exec(
                &store,
                "CREATE SUBSCRIPTION doctor_test CONNECTION 'host=127.0.0.1 dbname=nowhere' \
                 PUBLICATION nothing WITH (connect = false)",
                &[],
            )
            .await;
            let c = diagnose(&options).await;
            let r = verdict(&c, "replication");
            assert_eq!(r.verdict, Verdict::Fail, "{c:?}");
            assert!(r.detail.contains("doctor_test: disabled"), "{r:?}");
            // The schema enables the change feed ALWAYS and the running
            // totals' row-level twins REPLICA: a new mirror is ready.
            assert_eq!(verdict(&c, "mirror triggers").verdict, Verdict::Ok, "{c:?}");
            // An operator who reset them gets told how to fix it.
            for (t, tr) in [
                ("narinfos", "narinfo_changes"),
                ("nar_files", "store_totals_file_replicated"),
            ] {
                exec(&store, &format!("ALTER TABLE {t} ENABLE TRIGGER {tr}"), &[]).await;
            }
            let c = diagnose(&options).await;
            let m = verdict(&c, "mirror triggers");
            assert_eq!(m.verdict, Verdict::Fail, "{c:?}");
            for needed in [
                "ALTER TABLE narinfos ENABLE ALWAYS TRIGGER narinfo_changes;",
                "ALTER TABLE nar_files ENABLE ALWAYS TRIGGER store_totals_file_replicated;",
            ] {
                assert!(m.detail.contains(needed), "{m:?}");
            }
            assert!(
                !m.detail.contains("store_totals_narinfo_replicated"),
                "{m:?}"
            );
            for (t, tr) in [
                ("narinfos", "narinfo_changes"),
                ("nar_files", "store_totals_file_replicated"),
            ] {
                exec(
                    &store,
                    &format!("ALTER TABLE {t} ENABLE ALWAYS TRIGGER {tr}"),
                    &[],
                )
                .await;
            }
            let c = diagnose(&options).await;
            assert_eq!(verdict(&c, "mirror triggers").verdict, Verdict::Ok, "{c:?}");
            for sql in [
                "ALTER SUBSCRIPTION doctor_test SET (slot_name = NONE)",
                "DROP SUBSCRIPTION doctor_test",
            ] {
                exec(&store, sql, &[]).await;
            }
        } else {
            assert_eq!(verdict(&c, "mirror triggers").verdict, Verdict::Skipped);
        }

        // Schema versions: older is a warning (and nothing is migrated),
        // newer a failure.
        let v = narherder::store::SCHEMA_VERSION;
        const SET: &str = "UPDATE meta SET value = CAST($1 AS TEXT) WHERE key = 'schema_version'";
        exec(&store, SET, &[v - 1]).await;
        let c = diagnose(&options).await;
        let d = verdict(&c, "database");
        assert_eq!(d.verdict, Verdict::Warn, "{c:?}");
        assert!(d.detail.contains("migrates it"), "{d:?}");
        assert_eq!(verdict(&c, "nar files").verdict, Verdict::Skipped);
        exec(&store, SET, &[v + 1]).await;
        let c = diagnose(&options).await;
        let d = verdict(&c, "database");
        assert_eq!(d.verdict, Verdict::Fail, "{c:?}");
        assert!(d.detail.contains("upgrade narherder"), "{d:?}");
        assert_eq!(verdict(&c, "nar files").verdict, Verdict::Skipped);
        store.close().await;
        db
    })
    .await;
}

#[test]
fn cli_verdicts_and_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("narherder.db");
    let url = format!("sqlite://{}", db.display());
    let doctor = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_narherder"))
            .env_remove("NARHERDER_DATABASE")
            .args(["--database", &url, "doctor"])
            .args(extra)
            .output()
            .unwrap()
    };
    // No database yet: a failure, and the file is not created.
    let out = doctor(&[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL    database"), "{stdout}");
    assert!(stdout.contains("no SQLite database file"), "{stdout}");
    assert!(stdout.contains("verdict: 1 check(s) failed"), "{stdout}");
    assert!(!db.exists(), "doctor created the database");

    // A healthy one, configured through a serve config file.
    let st = Command::new(env!("CARGO_BIN_EXE_narherder"))
        .env_remove("NARHERDER_DATABASE")
        .args(["--database", &url, "--store-dir", "/nix/store", "info"])
        .output()
        .unwrap();
    assert!(st.status.success());
    let nars = dir.path().join("nars");
    std::fs::create_dir(&nars).unwrap();
    let config = dir.path().join("serve.toml");
    std::fs::write(
        &config,
        format!("storage = {:?}\n", nars.display().to_string()),
    )
    .unwrap();
    let out = doctor(&["--config", config.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("ok      storage"), "{stdout}");
    assert!(
        stdout.contains("verdict: healthy (2 warning(s))"),
        "{stdout}"
    );
    // An unreadable storage directory.
    std::fs::set_permissions(&nars, std::fs::Permissions::from_mode(0o500)).unwrap();
    let as_root = unsafe { libc::geteuid() } == 0;
    let out = doctor(&["--storage", nars.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !as_root {
        assert_eq!(out.status.code(), Some(1), "{stdout}");
        assert!(stdout.contains("is not writable"), "{stdout}");
    }
    std::fs::set_permissions(&nars, std::fs::Permissions::from_mode(0o700)).unwrap();
}
