//! GC roots on SQLite and PostgreSQL: add, set atomically, remove, list
//! with missing items and expiry, and the CLI.

mod common;
mod gc_util;

use common::{for_each_backend, hash_for};
use gc_util::*;
use narherder::gc::{gc, GcOptions};
use narherder::roots::{add_root, count_roots, list_roots, remove_root, set_root};

#[tokio::test]
async fn add_set_remove_list() {
    for_each_backend("roots_api", |db| async move {
        let store = db.open(&nix()).await;
        import(
            &store,
            &[Node {
                refs: vec![],
                added: -100,
                url: "nar/a.nar".into(),
                size: 1,
            }],
        )
        .await;
        let present = format!("/nix/store/{}", base(0));
        let missing = hash_for(77);
        add_root(
            &store,
            "channel/master/abc",
            &[present.clone(), missing.clone()],
            None,
        )
        .await
        .unwrap();
        // Adding again, by base name and hash part, adds nothing new.
        add_root(&store, "channel/master/abc", &[base(0), hash_for(0)], None)
            .await
            .unwrap();
        let roots = list_roots(&store).await.unwrap();
        assert_eq!(roots.len(), 1);
        let r = &roots[0];
        assert_eq!(r.name, "channel/master/abc");
        assert_eq!(r.expires_at, None);
        assert_eq!(r.items.len(), 2);
        let p = r.items.iter().find(|i| i.hash == hash_for(0)).unwrap();
        assert_eq!(p.store_path.as_deref(), Some(present.as_str()));
        let m = r.items.iter().find(|i| i.hash == missing).unwrap();
        assert!(!m.is_present());

        // add with an expiry sets it; add without keeps it.
        let t = now() + 3600;
        add_root(&store, "channel/master/abc", &[hash_for(78)], Some(t))
            .await
            .unwrap();
        add_root(&store, "channel/master/abc", &[hash_for(79)], None)
            .await
            .unwrap();
        let r = list_roots(&store).await.unwrap().remove(0);
        assert_eq!(r.expires_at, Some(t));
        assert_eq!(r.items.len(), 4);
        assert!(!r.is_expired(now()));
        assert!(r.is_expired(t));

        // set replaces set and expiry.
        set_root(&store, "channel/master/abc", &[hash_for(80)], None)
            .await
            .unwrap();
        let r = list_roots(&store).await.unwrap().remove(0);
        assert_eq!(r.expires_at, None);
        assert_eq!(
            r.items.iter().map(|i| i.hash.clone()).collect::<Vec<_>>(),
            vec![hash_for(80)]
        );
        // An empty set is a root that protects nothing.
        set_root(&store, "release/1.5", &Vec::<String>::new(), None)
            .await
            .unwrap();
        assert_eq!(count_roots(&store).await.unwrap(), 2);

        // Bad input changes nothing.
        let bad = set_root(
            &store,
            "channel/master/abc",
            &[hash_for(81), "nonsense".into()],
            None,
        )
        .await;
        assert!(bad.is_err());
        let r = list_roots(&store).await.unwrap().remove(0);
        assert_eq!(r.items.len(), 1);
        assert!(add_root(&store, "bad name", &[hash_for(1)], None)
            .await
            .is_err());
        assert!(
            add_root(&store, "x", &["/gnu/store/".to_string() + &base(0)], None)
                .await
                .is_err()
        );

        assert!(remove_root(&store, "channel/master/abc").await.unwrap());
        assert!(!remove_root(&store, "channel/master/abc").await.unwrap());
        assert_eq!(list_roots(&store).await.unwrap().len(), 1);
        store.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn rooted_missing_items_survive_pruning_and_protect_later_imports() {
    for_each_backend("roots_missing", |db| async move {
        let store = db.open(&nix()).await;
        add_root(&store, "future", &[hash_for(5)], None)
            .await
            .unwrap();
        // Pruning unreferenced items keeps a rooted one.
        store.prune_items().await.unwrap();
        let r = list_roots(&store).await.unwrap().remove(0);
        assert_eq!(r.items.len(), 1);
        // The item arrives later, old, with a reference: both are kept.
        let nodes: Vec<Node> = (0..6u64)
            .map(|i| Node {
                refs: if i == 5 { vec![4] } else { vec![] },
                added: -86_400,
                url: format!("nar/{i}.nar"),
                size: 10,
            })
            .collect();
        import(&store, &nodes).await;
        let r = list_roots(&store).await.unwrap().remove(0);
        assert!(r.items[0].is_present());
        let report = gc(&store, &GcOptions::default()).await.unwrap();
        assert_eq!(report.deleted, 4);
        assert!(store.exists(&hash_for(5)).await.unwrap());
        assert!(store.exists(&hash_for(4)).await.unwrap());
        // An expired root protects nothing (forced: no root in force).
        set_root(&store, "future", &[hash_for(5)], Some(now() - 1))
            .await
            .unwrap();
        let report = gc(
            &store,
            &GcOptions {
                force: true,
                ..GcOptions::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(report.deleted, 2);
        store.close().await;
        db
    })
    .await;
}

/// Replacing a root set while GC runs: GC sees the old set or the new one,
/// never none, so the items both sets name always survive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_is_atomic_against_gc() {
    for_each_backend("roots_atomic", |db| async move {
        let store = db.open(&nix()).await;
        let nodes: Vec<Node> = (0..200u64)
            .map(|i| Node {
                refs: vec![],
                added: -86_400,
                url: format!("nar/{i}.nar"),
                size: 1,
            })
            .collect();
        import(&store, &nodes).await;
        let a: Vec<String> = (0..100).map(hash_for).collect();
        let b: Vec<String> = (50..150).map(hash_for).collect();
        set_root(&store, "ch", &a, None).await.unwrap();
        let other = db.open(&nix()).await;
        let flipper = tokio::spawn(async move {
            for k in 0..20 {
                let set = if k % 2 == 0 { &b } else { &a };
                set_root(&other, "ch", set, None).await.unwrap();
            }
            other.close().await;
        });
        let r = gc(
            &store,
            &GcOptions {
                batch_size: 7,
                ..GcOptions::default()
            },
        )
        .await
        .unwrap();
        flipper.await.unwrap();
        assert!((50..=150).contains(&r.deleted), "{r:?}");
        for i in 50..100 {
            assert!(store.exists(&hash_for(i)).await.unwrap());
        }
        store.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn cli_roots() {
    for_each_backend("roots_cli", |db| async move {
        let store = db.open(&nix()).await;
        import(
            &store,
            &[Node {
                refs: vec![],
                added: -100,
                url: "nar/a.nar".into(),
                size: 1,
            }],
        )
        .await;
        store.close().await;
        let exe = env!("CARGO_BIN_EXE_narherder");
        let run = |args: &[&str], stdin: Option<&str>| {
            use std::io::Write as _;
            let mut child = std::process::Command::new(exe)
                .args(args)
                .args(["--database", &db.url])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            if let Some(s) = stdin {
                child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
            } else {
                drop(child.stdin.take());
            }
            let out = child.wait_with_output().unwrap();
            (
                out.status.code(),
                String::from_utf8(out.stdout).unwrap(),
                String::from_utf8(out.stderr).unwrap(),
            )
        };
        let (code, _, err) = run(
            &[
                "roots",
                "add",
                "r1",
                &base(0),
                &hash_for(9),
                "--expires",
                "7d",
            ],
            None,
        );
        assert_eq!(code, Some(0), "{err}");
        let list = format!("# channel\n{}\n\n{}  # comment\n", base(0), hash_for(10));
        let (code, _, err) = run(&["roots", "set", "r2", "--from-file", "-"], Some(&list));
        assert_eq!(code, Some(0), "{err}");
        let (code, out, _) = run(&["roots", "list"], None);
        assert_eq!(code, Some(0));
        assert!(out.contains("r1\t2 item(s), 1 missing\texpires "), "{out}");
        assert!(
            out.contains("r2\t2 item(s), 1 missing\tnever expires"),
            "{out}"
        );
        assert!(out.contains(&format!("{}  MISSING", hash_for(10))), "{out}");
        assert!(out.contains(&format!("/nix/store/{}", base(0))), "{out}");
        let (code, _, _) = run(&["roots", "remove", "r1"], None);
        assert_eq!(code, Some(0));
        let (code, _, err) = run(&["roots", "remove", "r1"], None);
        assert_eq!(code, Some(1), "{err}");
        let (code, _, err) = run(&["roots", "add", "r3", "junk"], None);
        assert_eq!(code, Some(3));
        assert!(err.contains("junk"), "{err}");
        let (code, out, err) = run(&["gc", "--dry-run", "--grace", "0s"], None);
        assert_eq!(code, Some(0), "{err}");
        assert!(out.contains("would delete:  0 narinfo(s)"), "{out}");
        // A build log that no narinfo needs, written before the cutoff.
        let storage = tempfile::tempdir().unwrap();
        let log = storage
            .path()
            .join("log")
            .join(format!("{}-orphan", hash_for(11)));
        std::fs::create_dir(storage.path().join("log")).unwrap();
        write_aged(&log, b"log", std::time::Duration::from_secs(60));
        let dir = storage.path().to_str().unwrap();
        let (code, out, err) = run(
            &["gc", "--dry-run", "--grace", "0s", "--storage", dir],
            None,
        );
        assert_eq!(code, Some(0), "{err}");
        assert!(out.contains("logs to remove:  1\n"), "{out}");
        assert!(log.exists());
        let (code, out, err) = run(&["gc", "--grace", "0s", "--storage", dir], None);
        assert_eq!(code, Some(0), "{err}");
        assert!(out.contains("logs removed:    1\n"), "{out}");
        assert!(!log.exists());
        db
    })
    .await;
}
