//! Garbage collection on SQLite and PostgreSQL: GC's result against an
//! independent reachability computation (property test), dry runs, nar
//! files, concurrent imports and kill -9.

mod common;
mod gc_util;

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use common::{for_each_backend, hash_for, postgres_admin_url, postgres_db, sqlite_db, TestDb};
use gc_util::*;
use narherder::gc::{gc, GcOptions};
use narherder::roots::{add_root, set_root};
use narherder::store::AddMode;
use proptest::prelude::*;

const OLD: i64 = -10 * 86_400;
const FRESH: i64 = -60;

fn node(refs: Vec<u64>, added: i64, i: u64) -> Node {
    Node {
        refs,
        added,
        url: format!("nar/{}.nar.xz", hash_for(i)),
        size: 1000 + i,
    }
}

/// A random case: nodes referencing lower (or their own) indices and
/// missing items, fresh or old; roots with expiries in the past or future.
#[derive(Debug, Clone)]
struct Case {
    nodes: Vec<Node>,
    /// (items, expiry offset: None = never).
    roots: Vec<(Vec<u64>, Option<i64>)>,
}

fn case_strategy() -> impl Strategy<Value = Case> {
    (1usize..28).prop_flat_map(|n| {
        let nodes = (0..n)
            .map(|i| {
                (
                    proptest::collection::vec(0..=(i as u64), 0..4),
                    proptest::bool::weighted(0.1),
                    proptest::bool::weighted(0.15),
                    0u64..3,
                )
                    .prop_map(move |(mut refs, self_ref, fresh, missing)| {
                        if self_ref {
                            refs.push(i as u64);
                        }
                        if missing > 1 {
                            refs.push(1000 + missing);
                        }
                        refs.sort_unstable();
                        refs.dedup();
                        node(refs, if fresh { FRESH } else { OLD }, i as u64)
                    })
                    .boxed()
            })
            .collect::<Vec<_>>();
        let roots = proptest::collection::vec(
            (
                proptest::collection::vec(0..(n as u64 + 3), 1..4),
                prop_oneof![Just(None), Just(Some(-100i64)), Just(Some(3600i64))],
            ),
            0..4,
        );
        (nodes, roots).prop_map(|(nodes, roots)| Case { nodes, roots })
    })
}

/// Expected dead node indices.
fn expected_dead(case: &Case) -> BTreeSet<String> {
    let mut seeds: Vec<u64> = Vec::new();
    for (items, expiry) in &case.roots {
        if expiry.map_or(true, |e| e > 0) {
            seeds.extend(items);
        }
    }
    for (i, n) in case.nodes.iter().enumerate() {
        if n.added == FRESH {
            seeds.push(i as u64);
        }
    }
    let live = reachable(&case.nodes, seeds);
    (0..case.nodes.len() as u64)
        .filter(|i| !live.contains(i))
        .map(hash_for)
        .collect()
}

async fn run_case(db: &TestDb, case: &Case) {
    let store = db.open(&nix()).await;
    import(&store, &case.nodes).await;
    let t = now();
    for (k, (items, expiry)) in case.roots.iter().enumerate() {
        let items: Vec<String> = items.iter().map(|&i| hash_for(i)).collect();
        set_root(&store, &format!("root/{k}"), &items, expiry.map(|e| t + e))
            .await
            .unwrap();
    }
    let before = stored(&store).await;
    let ever: HashSet<String> = before.iter().cloned().collect();
    let want = expected_dead(case);
    let options = GcOptions {
        force: true,
        batch_size: 3,
        ..GcOptions::default()
    };

    let dry = gc(
        &store,
        &GcOptions {
            dry_run: true,
            ..options.clone()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        stored(&store).await,
        before,
        "the dry run changed the store"
    );
    assert_eq!(dry.dead, want.len() as u64);

    let real = gc(&store, &options).await.unwrap();
    let after = stored(&store).await;
    let deleted: BTreeSet<String> = before.difference(&after).cloned().collect();
    assert_eq!(deleted, want, "{case:?}");
    assert_eq!(real.dead, dry.dead);
    assert_eq!(real.deleted, dry.deleted);
    assert_eq!(real.nar_files_deleted, dry.nar_files_deleted);
    assert_eq!(real.bytes_freed, dry.bytes_freed);
    assert_eq!(real.nar_bytes_freed, dry.nar_bytes_freed);
    assert_eq!(real.live, after.len() as u64);
    assert_eq!(real.kept, 0);
    assert_eq!(
        unneeded_items(&store).await,
        0,
        "items left unpruned: {case:?}"
    );
    assert_closed(&store, &ever).await;
    // Nothing left to do.
    let again = gc(&store, &options).await.unwrap();
    assert_eq!(again.dead, 0);
    store.close().await;
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn gc_equals_reachability_sqlite(case in case_strategy()) {
        runtime().block_on(async {
            let db = sqlite_db();
            run_case(&db, &case).await;
        });
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn gc_equals_reachability_postgres(case in case_strategy()) {
        let Some(admin) = postgres_admin_url() else { return Ok(()); };
        runtime().block_on(async {
            let db = postgres_db(&admin, "gc_prop").await;
            run_case(&db, &case).await;
            db.finish_public().await;
        });
    }
}

#[tokio::test]
async fn cycles_are_collected_whole() {
    for_each_backend("cycles_are_collected_whole", |db| async move {
        let store = db.open(&nix()).await;
        // 0 <-> 1 (a cycle only hand-made data has), 2 -> 0, 3 -> 2; 4 rooted -> 5.
        let nodes = vec![
            node(vec![1], OLD, 0),
            node(vec![0, 1], OLD, 1),
            node(vec![0], OLD, 2),
            node(vec![2], OLD, 3),
            node(vec![5], OLD, 4),
            node(vec![], OLD, 5),
        ];
        import(&store, &nodes).await;
        add_root(&store, "keep", &[hash_for(4)], None)
            .await
            .unwrap();
        let r = gc(
            &store,
            &GcOptions {
                batch_size: 1,
                ..GcOptions::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(r.dead, 4);
        assert_eq!(r.deleted, 4);
        let left = stored(&store).await;
        assert_eq!(left, [hash_for(4), hash_for(5)].into_iter().collect());
        store.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn refuses_without_roots_unless_forced() {
    for_each_backend("refuses_without_roots", |db| async move {
        let store = db.open(&nix()).await;
        import(&store, &[node(vec![], OLD, 0)]).await;
        let e = gc(&store, &GcOptions::default())
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("no GC root is in force"), "{e}");
        // An expired root is no better.
        set_root(&store, "old", &[hash_for(0)], Some(now() - 10))
            .await
            .unwrap();
        assert!(gc(&store, &GcOptions::default()).await.is_err());
        assert_eq!(stored(&store).await.len(), 1);
        let r = gc(
            &store,
            &GcOptions {
                force: true,
                ..GcOptions::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(r.deleted, 1);
        store.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn grace_period_keeps_fresh_imports_and_their_closure() {
    for_each_backend("grace_period", |db| async move {
        let store = db.open(&nix()).await;
        let nodes = vec![
            node(vec![], OLD, 0),
            node(vec![0], OLD, 1),
            node(vec![1], FRESH, 2),
            node(vec![], OLD, 3),
        ];
        import(&store, &nodes).await;
        add_root(&store, "r", &["00000000000000000000000000000000"], None)
            .await
            .unwrap();
        let r = gc(&store, &GcOptions::default()).await.unwrap();
        assert_eq!(r.deleted, 1);
        assert!(!store.exists(&hash_for(3)).await.unwrap());
        // With no grace, everything unrooted goes.
        let r = gc(
            &store,
            &GcOptions {
                grace: Duration::ZERO,
                ..GcOptions::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(r.deleted, 3);
        store.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn nar_files_follow_their_narinfos() {
    for_each_backend("nar_files_follow", |db| async move {
        let store = db.open(&nix()).await;
        let dir = tempfile::tempdir().unwrap();
        let storage = dir.path().join("store");
        std::fs::create_dir_all(storage.join("nar")).unwrap();
        let outside = dir.path().join("outside.nar");
        std::fs::write(&outside, b"precious").unwrap();
        let mut nodes = vec![
            node(vec![], OLD, 0), // dead, own file
            node(vec![], OLD, 1), // dead, shares its file with 2
            node(vec![], OLD, 2), // live
            node(vec![], OLD, 3), // dead, file missing on disk
            node(vec![], OLD, 4), // dead, file is a symlink to a file outside
        ];
        nodes[1].url = "nar/shared.nar.xz".into();
        nodes[2].url = "nar/shared.nar.xz".into();
        nodes[4].url = "nar/link.nar.xz".into();
        for (i, n) in nodes.iter().enumerate() {
            if i != 3 && i != 4 {
                std::fs::write(storage.join(&n.url), b"nar").unwrap();
            }
        }
        std::os::unix::fs::symlink(&outside, storage.join("nar/link.nar.xz")).unwrap();
        import(&store, &nodes).await;
        add_root(&store, "r", &[hash_for(2)], None).await.unwrap();
        let options = GcOptions {
            storage: Some(storage.clone()),
            batch_size: 1,
            ..GcOptions::default()
        };
        let dry = dry_run(&store, &options).await;
        assert!(
            storage.join(&nodes[0].url).exists(),
            "the dry run removed a file"
        );
        let r = gc(&store, &options).await.unwrap();
        assert_eq!(r.deleted, 4);
        assert_eq!(r.nar_files_deleted, 3, "shared file counted as freed");
        assert_eq!(dry.nar_files_deleted, 3);
        assert_eq!(r.bytes_freed, 1000 + 1000 + 3 + 1000 + 4);
        assert_eq!(dry.bytes_freed, r.bytes_freed);
        assert_eq!(r.files_removed, 2, "own file and the symlink itself");
        assert!(!storage.join(&nodes[0].url).exists());
        assert!(
            storage.join("nar/shared.nar.xz").exists(),
            "shared nar file removed"
        );
        assert!(std::fs::symlink_metadata(storage.join("nar/link.nar.xz")).is_err());
        assert_eq!(std::fs::read(&outside).unwrap(), b"precious");
        store.close().await;
        db
    })
    .await;
}

/// Narinfos of `nodes` whose `Deriver` is `derivers[i]` (a base name).
fn with_derivers(nodes: &[Node], derivers: &[String]) -> Vec<narherder::Narinfo> {
    nodes
        .iter()
        .zip(derivers)
        .enumerate()
        .map(|(i, (n, drv))| {
            let text: String = narinfo(i as u64, n)
                .text()
                .lines()
                .map(|l| match l.strip_prefix("Deriver: ") {
                    Some(_) => format!("Deriver: {drv}\n"),
                    None => format!("{l}\n"),
                })
                .collect();
            narherder::Narinfo::parse(&text).unwrap()
        })
        .collect()
}

#[tokio::test]
async fn build_logs_follow_their_narinfos() {
    for_each_backend("build_logs_follow", |db| async move {
        let store = db.open(&nix()).await;
        let dir = tempfile::tempdir().unwrap();
        let storage = dir.path().join("store");
        let logs = storage.join("log");
        std::fs::create_dir_all(&logs).unwrap();
        let outside = dir.path().join("outside.log");
        std::fs::write(&outside, b"precious").unwrap();
        // 0 dead; 1 rooted; 2 dead, built by the same derivation as 1 (two
        // outputs); 3 dead, its logs uploaded a minute ago.
        let nodes: Vec<Node> = (0..4).map(|i| node(vec![], OLD, i)).collect();
        let drv = |i: u64| format!("{}-item-{i}.drv", hash_for(100 + i));
        let derivers = [drv(0), drv(1), drv(1), drv(3)];
        store
            .add_many(&with_derivers(&nodes, &derivers), AddMode::Keep)
            .await
            .unwrap();
        for i in 0..4 {
            set_added(&store, i, now() + OLD).await;
        }
        add_root(&store, "r", &[hash_for(1)], None).await.unwrap();

        let old = Duration::from_secs(10 * 86_400);
        let orphan = format!("{}-orphan", hash_for(200));
        // base(2) is garbage too: an output log, and node 2 goes.
        let garbage = [base(0), drv(0), orphan.clone(), drv(3), base(2)];
        let needed = [base(1), drv(1)];
        for name in garbage
            .iter()
            .chain(&needed)
            .chain(["README".to_string()].iter())
        {
            write_aged(&logs.join(name), b"log", old);
        }
        // Uploaded a minute ago, before its narinfo perhaps: kept.
        write_aged(&logs.join(base(3)), b"log", Duration::from_secs(60));
        std::fs::create_dir(logs.join(format!("{}-dir", hash_for(201)))).unwrap();
        let link = logs.join(format!("{}-link", hash_for(202)));
        std::os::unix::fs::symlink(&outside, &link).unwrap();

        let options = GcOptions {
            storage: Some(storage.clone()),
            batch_size: 1,
            ..GcOptions::default()
        };
        let dry = dry_run(&store, &options).await;
        assert_eq!(dry.logs_removed, 5, "dry run's figure");
        assert!(logs.join(base(0)).exists(), "the dry run removed a log");

        let r = gc(&store, &options).await.unwrap();
        assert_eq!(r.deleted, 3);
        assert_eq!(r.logs_removed, 5);
        for name in &garbage {
            assert!(!logs.join(name).exists(), "{name} was kept");
        }
        for name in needed.iter().chain([&base(3)]) {
            assert!(logs.join(name).exists(), "{name} was removed");
        }
        assert!(logs.join("README").exists());
        assert!(logs.join(format!("{}-dir", hash_for(201))).is_dir());
        assert!(std::fs::symlink_metadata(&link).is_ok(), "link removed");
        assert_eq!(std::fs::read(&outside).unwrap(), b"precious");

        // Nothing left to remove; a log directory that is a symbolic link
        // is refused, not followed.
        assert_eq!(gc(&store, &options).await.unwrap().logs_removed, 0);
        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        let victim = elsewhere.join(&orphan);
        write_aged(&victim, b"log", old);
        std::fs::rename(&logs, dir.path().join("log.moved")).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &logs).unwrap();
        let err = gc(&store, &options).await.unwrap_err().to_string();
        assert!(err.contains("build log directory"), "{err}");
        assert!(victim.exists());
        store.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn max_delete_and_resume() {
    for_each_backend("max_delete", |db| async move {
        let store = db.open(&nix()).await;
        // A chain 9 -> 8 -> ... -> 0, all dead.
        let nodes: Vec<Node> = (0..10)
            .map(|i| node(if i == 0 { vec![] } else { vec![i - 1] }, OLD, i))
            .collect();
        import(&store, &nodes).await;
        let ever: HashSet<String> = stored(&store).await.into_iter().collect();
        add_root(&store, "r", &["00000000000000000000000000000000"], None)
            .await
            .unwrap();
        let options = GcOptions {
            max_delete: Some(4),
            batch_size: 3,
            ..GcOptions::default()
        };
        let r = gc(&store, &options).await.unwrap();
        assert_eq!((r.dead, r.deleted, r.kept), (10, 4, 6));
        // Referrers went first: the survivors are the bottom of the chain.
        let left = stored(&store).await;
        assert_eq!(left, (0..6).map(hash_for).collect());
        assert_closed(&store, &ever).await;
        let r = gc(&store, &GcOptions::default()).await.unwrap();
        assert_eq!(r.deleted, 6);
        store.close().await;
        db
    })
    .await;
}

/// A store of `n` old narinfos where node i references i-1, i-7 and i/2,
/// and a root on the last `live` nodes' ... only node `n - 1 - k*50`.
fn big_graph(n: u64) -> Vec<Node> {
    (0..n)
        .map(|i| {
            let mut refs = vec![];
            if i > 0 {
                refs.push(i - 1);
                refs.push(i / 2);
            }
            if i >= 7 {
                refs.push(i - 7);
            }
            refs.sort_unstable();
            refs.dedup();
            node(refs, OLD, i)
        })
        .collect()
}

/// Imports, while GC runs with tiny batches, narinfos that reference items
/// GC has marked dead. Some imports happen while GC is paused between
/// batches (its progress callback waits), so their references are
/// certainly stored when the import commits; others run freely, and their
/// references that are stored right after their commit are recorded. All
/// recorded references must survive, and the closure invariant must hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn concurrent_import_during_gc() {
    for_each_backend("concurrent_import", |db| async move {
        let store = db.open(&nix()).await;
        // 60 chains of 10 (i references i-1 within its chain), all dead.
        let mut nodes: Vec<Node> = (0..600u64)
            .map(|i| node(if i % 10 == 0 { vec![] } else { vec![i - 1] }, OLD, i))
            .collect();
        for i in 600..610u64 {
            nodes.push(node(vec![], OLD, i));
        }
        import(&store, &nodes).await;
        add_root(&store, "island", &[hash_for(605)], None)
            .await
            .unwrap();
        let mut ever: HashSet<String> = stored(&store).await.into_iter().collect();
        let importer = db.open(&nix()).await;
        let (done_tx, done_rx) = std::sync::mpsc::channel::<u64>();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let gc_store = store.clone();
        let gc_task = tokio::spawn(async move {
            let mut progress = move |p: &narherder::gc::GcProgress| {
                if [3, 20, 60].contains(&p.batches) {
                    let _ = done_tx.send(p.batches);
                    // Waiting blocks this worker thread: hand its queued
                    // tasks to another one first (otherwise a task the
                    // importer needs can sit in this worker's LIFO slot until
                    // the wait ends, and GC goes on unpaused).
                    let answer =
                        tokio::task::block_in_place(|| go_rx.recv_timeout(Duration::from_secs(60)));
                    assert!(
                        answer.is_ok(),
                        "GC paused after batch {} but the importer did not answer: {answer:?}",
                        p.batches
                    );
                }
            };
            let options = GcOptions {
                batch_size: 2,
                ..GcOptions::default()
            };
            narherder::gc::collect_garbage(&gc_store, &options, &mut progress).await
        });
        let mut must_survive: HashSet<String> = HashSet::new();
        let mut added = Vec::new();
        let mut next = 10_000u64;
        let mut paused = 0;
        while paused < 3 {
            match done_rx.try_recv() {
                Ok(_) => {
                    // GC is paused between batches: import against what is
                    // stored now.
                    let now_stored = stored(&importer).await;
                    let targets: Vec<u64> = (0..600u64)
                        .filter(|i| now_stored.contains(&hash_for(*i)))
                        .step_by(53)
                        .collect();
                    assert!(!targets.is_empty());
                    let n = node(targets.clone(), 0, next);
                    importer
                        .add(&narinfo(next, &n), AddMode::Keep)
                        .await
                        .unwrap();
                    must_survive.extend(targets.iter().map(|&t| hash_for(t)));
                    added.push(next);
                    next += 1;
                    paused += 1;
                    go_tx.send(()).unwrap();
                }
                Err(std::sync::mpsc::TryRecvError::Empty) if added.len() >= 15 => {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => {
                    let t1 = (next * 37) % 600;
                    let n = node(vec![t1, (t1 * 7) % 600], 0, next);
                    importer
                        .add(&narinfo(next, &n), AddMode::Keep)
                        .await
                        .unwrap();
                    for t in [t1, (t1 * 7) % 600] {
                        if importer.exists(&hash_for(t)).await.unwrap() {
                            must_survive.insert(hash_for(t));
                        }
                    }
                    added.push(next);
                    next += 1;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                Err(e) => panic!(
                    "gc ended before pausing three times ({e}): {:?}",
                    gc_task.await
                ),
            }
        }
        let report = gc_task.await.unwrap().unwrap();
        assert!(report.deleted > 0);
        assert!(report.kept > 0, "imports protected nothing?");
        let left = stored(&store).await;
        for h in &must_survive {
            assert!(
                left.contains(h),
                "{h} was referenced by an import yet deleted"
            );
        }
        for i in &added {
            ever.insert(hash_for(*i));
            assert!(left.contains(&hash_for(*i)));
        }
        // The original narinfos left are closed (references of imports that
        // were already gone when they arrived are the importer's business).
        let idx = index(&nodes);
        for h in &left {
            if let Some(&i) = idx.get(h) {
                for r in &nodes[i as usize].refs {
                    assert!(left.contains(&hash_for(*r)), "closure broken below {i}");
                }
            }
        }
        importer.close().await;
        store.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn kill_9_during_gc() {
    for_each_backend("kill_9_during_gc", |db| async move {
        let store = db.open(&nix()).await;
        let n = 1500u64;
        let nodes = big_graph(n);
        import(&store, &nodes).await;
        // Keep node 300's closure.
        add_root(&store, "keep", &[hash_for(300)], None)
            .await
            .unwrap();
        let ever: HashSet<String> = stored(&store).await.into_iter().collect();
        let live = reachable(&nodes, [300]);
        let want_left: BTreeSet<String> = live.iter().map(|&i| hash_for(i)).collect();
        store.close().await;

        let exe = env!("CARGO_BIN_EXE_narherder");
        let mut rng = 0x1234_5678u64;
        let mut partial_seen = false;
        // Start early; double the delay while kills land before the first
        // deletion (process start and the mark take a while in debug builds).
        let mut base_delay = 100u64;
        for round in 0..6 {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let delay = base_delay + (rng >> 33) % base_delay;
            let mut child = std::process::Command::new(exe)
                .args(["gc", "--batch", "3", "--database", &db.url])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_millis(delay));
            let _ = child.kill(); // SIGKILL
            child.wait().unwrap();
            if let Some(path) = db.sqlite_path() {
                let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(&path);
                let pool = sqlx::SqlitePool::connect_with(opts).await.unwrap();
                let check: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
                    .fetch_all(&pool)
                    .await
                    .unwrap();
                assert_eq!(check, vec!["ok".to_string()], "round {round}");
                pool.close().await;
            }
            let store = db.open(&nix()).await;
            assert_closed(&store, &ever).await;
            let left = stored(&store).await;
            assert!(
                left.is_superset(&want_left),
                "round {round}: a live narinfo went"
            );
            partial_seen |= left.len() > want_left.len() && left.len() < n as usize;
            if left.len() == n as usize {
                base_delay *= 2;
            }
            store.close().await;
        }
        assert!(partial_seen, "no kill landed in the middle of a collection");
        let status = std::process::Command::new(exe)
            .args(["gc", "--batch", "50", "--database", &db.url])
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        let store = db.open(&nix()).await;
        assert_eq!(stored(&store).await, want_left);
        assert_closed(&store, &ever).await;
        store.close().await;
        db
    })
    .await;
}
