//! Usage-based eviction on SQLite and PostgreSQL: order, roots, closures
//! (property test), dry runs, usage recording.

mod common;
mod gc_util;

use std::collections::{BTreeSet, HashSet};

use common::{for_each_backend, hash_for, postgres_admin_url, postgres_db, sqlite_db, TestDb};
use gc_util::*;
use narherder::evict::{evict, record_usage, usage_of, EvictOptions};
use narherder::roots::add_root;
use proptest::prelude::*;

fn leaf(i: u64, added: i64, size: u64) -> Node {
    Node {
        refs: vec![],
        added,
        url: format!("nar/{i}.nar"),
        size,
    }
}

async fn run(
    store: &narherder::store::Store,
    options: &EvictOptions,
) -> narherder::evict::EvictReport {
    evict(store, options, &mut |_| {}).await.unwrap()
}

#[tokio::test]
async fn order_roots_and_usage() {
    for_each_backend("evict_order", |db| async move {
        let store = db.open(&nix()).await;
        // Six leaves of 100 bytes; 0 oldest. 6 -> 5 (5 is referenced).
        let mut nodes: Vec<Node> = (0..6u64).map(|i| leaf(i, -1000 + i as i64, 100)).collect();
        nodes.push(Node {
            refs: vec![5],
            added: -10,
            url: "nar/6.nar".into(),
            size: 100,
        });
        import(&store, &nodes).await;
        add_root(&store, "r", &[hash_for(0)], None).await.unwrap();
        let t = now();
        // 1 and 2 requested (2 most recently); 3 and 4 never; 6 long ago.
        let n = record_usage(
            &store,
            &[
                (hash_for(1), t - 50),
                (hash_for(2), t - 10),
                (hash_for(2), t - 20),
                (hash_for(6), t - 5000),
                (hash_for(999), t),
                ("garbage".to_string(), t),
            ],
        )
        .await
        .unwrap();
        assert_eq!(n, 3, "misses and junk are not recorded");
        assert_eq!(
            usage_of(&store, &hash_for(2)).await.unwrap(),
            Some((t - 10, 2))
        );
        record_usage(&store, &[(hash_for(2), t - 30)])
            .await
            .unwrap();
        assert_eq!(
            usage_of(&store, &hash_for(2)).await.unwrap(),
            Some((t - 10, 3))
        );

        // 700 bytes; fit 450: evict 3 (never, older), 4 (never), then
        // 6 (oldest request) -> fits at 400.
        let dry = run(
            &store,
            &EvictOptions {
                dry_run: true,
                ..EvictOptions::new(450)
            },
        )
        .await;
        assert_eq!(stored(&store).await.len(), 7, "dry run changed the store");
        let real = run(
            &store,
            &EvictOptions {
                batch_size: 1,
                ..EvictOptions::new(450)
            },
        )
        .await;
        assert_eq!(real.size_before, 700);
        assert_eq!((real.evicted, real.size_after, real.fits), (3, 400, true));
        assert_eq!(
            (dry.evicted, dry.size_after),
            (real.evicted, real.size_after)
        );
        assert_eq!(dry.sample, real.sample);
        let want: Vec<String> = [3, 4, 6]
            .iter()
            .map(|&i| format!("/nix/store/{}", base(i)))
            .collect();
        assert_eq!(real.sample, want);
        // Next: 5 (now unreferenced, never requested), then 1; 0 is rooted.
        let r = run(&store, &EvictOptions::new(0)).await;
        assert_eq!(r.evicted, 3);
        assert!(!r.fits);
        let left: BTreeSet<String> = stored(&store).await;
        assert_eq!(left, [hash_for(0)].into_iter().collect());
        store.close().await;
        db
    })
    .await;
}

#[tokio::test]
async fn files_removed_after_eviction() {
    for_each_backend("evict_files", |db| async move {
        let store = db.open(&nix()).await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("nar")).unwrap();
        let nodes: Vec<Node> = (0..4u64).map(|i| leaf(i, -100 + i as i64, 10)).collect();
        for n in &nodes {
            std::fs::write(dir.path().join(&n.url), b"x").unwrap();
        }
        import(&store, &nodes).await;
        let r = run(
            &store,
            &EvictOptions {
                storage: Some(dir.path().to_path_buf()),
                ..EvictOptions::new(20)
            },
        )
        .await;
        assert_eq!((r.evicted, r.files_removed, r.bytes_freed), (2, 2, 20));
        assert!(!dir.path().join("nar/0.nar").exists());
        assert!(dir.path().join("nar/2.nar").exists());
        store.close().await;
        db
    })
    .await;
}

#[derive(Debug, Clone)]
struct Case {
    nodes: Vec<Node>,
    rooted: Vec<u64>,
    used: Vec<(u64, i64)>,
    max: u64,
}

fn case_strategy() -> impl Strategy<Value = Case> {
    (1usize..24).prop_flat_map(|n| {
        let nodes = (0..n)
            .map(|i| {
                (
                    proptest::collection::vec(0..=(i as u64), 0..3),
                    1u64..50,
                    -5000i64..-10,
                )
                    .prop_map(move |(mut refs, size, added)| {
                        refs.sort_unstable();
                        refs.dedup();
                        Node {
                            refs,
                            added,
                            url: format!("nar/{i}.nar"),
                            size,
                        }
                    })
                    .boxed()
            })
            .collect::<Vec<_>>();
        (
            nodes,
            proptest::collection::vec(0..n as u64, 0..3),
            proptest::collection::vec((0..n as u64, -5000i64..0), 0..6),
            0u64..600,
        )
            .prop_map(|(nodes, rooted, used, max)| Case {
                nodes,
                rooted,
                used,
                max,
            })
    })
}

async fn run_case(db: &TestDb, case: &Case) {
    let store = db.open(&nix()).await;
    import(&store, &case.nodes).await;
    if !case.rooted.is_empty() {
        let items: Vec<String> = case.rooted.iter().map(|&i| hash_for(i)).collect();
        add_root(&store, "r", &items, None).await.unwrap();
    }
    let t = now();
    let used: Vec<(String, i64)> = case
        .used
        .iter()
        .map(|&(i, dt)| (hash_for(i), t + dt))
        .collect();
    record_usage(&store, &used).await.unwrap();
    let ever: HashSet<String> = stored(&store).await.into_iter().collect();
    let dry = run(
        &store,
        &EvictOptions {
            dry_run: true,
            batch_size: 2,
            ..EvictOptions::new(case.max)
        },
    )
    .await;
    let r = run(
        &store,
        &EvictOptions {
            batch_size: 2,
            ..EvictOptions::new(case.max)
        },
    )
    .await;
    assert_eq!((dry.evicted, dry.size_after), (r.evicted, r.size_after));
    assert_closed(&store, &ever).await;
    let left = stored(&store).await;
    // Rooted items and their closures stay.
    let protected = reachable(&case.nodes, case.rooted.iter().copied());
    for i in protected {
        if (i as usize) < case.nodes.len() {
            assert!(
                left.contains(&hash_for(i)),
                "rooted closure member {i} evicted"
            );
        }
    }
    let total: u64 = case.nodes.iter().map(|n| n.size).sum();
    assert_eq!(r.size_before, total);
    let left_size: u64 = (0..case.nodes.len() as u64)
        .filter(|i| left.contains(&hash_for(*i)))
        .map(|i| case.nodes[i as usize].size)
        .sum();
    assert_eq!(r.size_after, left_size);
    if r.fits {
        assert!(left_size <= case.max);
    } else {
        // Nothing evictable is left: every survivor is rooted or referenced.
        for h in &left {
            let i = case
                .nodes
                .iter()
                .enumerate()
                .position(|(k, _)| hash_for(k as u64) == *h)
                .unwrap();
            let referenced = case.nodes.iter().enumerate().any(|(k, n)| {
                k != i && left.contains(&hash_for(k as u64)) && n.refs.contains(&(i as u64))
            });
            assert!(
                referenced || case.rooted.contains(&(i as u64)),
                "{i} could have gone"
            );
        }
    }
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
    #![proptest_config(ProptestConfig { cases: 16, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn eviction_keeps_closures_sqlite(case in case_strategy()) {
        runtime().block_on(async { run_case(&sqlite_db(), &case).await });
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn eviction_keeps_closures_postgres(case in case_strategy()) {
        let Some(admin) = postgres_admin_url() else { return Ok(()); };
        runtime().block_on(async {
            let db = postgres_db(&admin, "evict_prop").await;
            run_case(&db, &case).await;
            db.finish_public().await;
        });
    }
}
