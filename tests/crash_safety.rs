//! Crash safety: the real `narherder` binary, killed with SIGKILL at random
//! moments while it imports and while it collects garbage, 25 times per
//! backend (SQLite, and PostgreSQL under `NARHERDER_TEST_POSTGRES`). After
//! every kill:
//!
//! * SQLite's `PRAGMA integrity_check` says `ok`;
//! * every stored narinfo is whole: its text is byte for byte the text of
//!   its source record, and its stored references are the parsed ones;
//! * the closure invariant holds: every stored narinfo's references are
//!   stored;
//! * an import (one parser, records in dependency order) has committed a
//!   prefix of its input;
//! * GC has deleted nothing the roots keep, and every stored narinfo still
//!   has its nar file (files go only after their narinfos' deletion
//!   commits).
//!
//! What a finished run reported is checked too: a rerun of the import
//! completes and stores everything with its nar files, and a rerun of GC
//! completes and leaves exactly the closure of the roots.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use narherder::store::{Backend, Store, StoreOptions};
use narherder::synth::{Generator, SynthOptions};
use narherder::Narinfo;

const ITEMS: usize = 600;
const IMPORT_KILLS: usize = 12;
const GC_KILLS: usize = 13;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_narherder")
}

/// A small deterministic generator for the kill delays.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n.max(1)
    }
}

struct Data {
    /// Narinfos in dependency order (references first).
    order: Vec<Narinfo>,
    by_hash: HashMap<String, usize>,
    input: PathBuf,
    storage: PathBuf,
}

fn make_data(dir: &Path) -> Data {
    let mut gen = Generator::new(SynthOptions {
        count: ITEMS,
        seed: 11,
        ..SynthOptions::default()
    });
    let mut order = Vec::new();
    while let Some(item) = gen.next_item() {
        order.push(gen.render(&item).unwrap());
    }
    let src = dir.join("src");
    let mut all = String::new();
    for n in &order {
        all.push_str(n.text());
        all.push('\n');
        for f in n.files() {
            let p = src.join(&f.url);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, n.hash_part()).unwrap();
        }
    }
    let input = src.join("all.narinfos");
    std::fs::write(&input, all).unwrap();
    let storage = dir.join("storage");
    std::fs::create_dir_all(&storage).unwrap();
    let by_hash = order
        .iter()
        .enumerate()
        .map(|(i, n)| (n.hash_part().to_string(), i))
        .collect();
    Data {
        order,
        by_hash,
        input,
        storage,
    }
}

/// Runs `narherder ARGS`, killing it with SIGKILL after `kill_after` if it
/// is still running. Returns its exit code when it finished on its own.
fn run(url: &str, args: &[&str], kill_after: Option<Duration>) -> Option<i32> {
    let mut child = Command::new(bin())
        .arg("--database")
        .arg(url)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting narherder");
    let deadline = kill_after.map(|d| Instant::now() + d);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            let code = status.code().unwrap_or(-1);
            assert!(
                code == 0,
                "narherder {args:?} failed ({status}): {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return Some(code);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            child.kill().unwrap(); // SIGKILL
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Checks the database after a kill; returns the stored hashes.
async fn check(store: &Store, data: &Data, what: &str) -> HashSet<String> {
    if let Backend::Sqlite(pool) = store.backend() {
        let r: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(r, "ok", "{what}: integrity_check");
    }
    let mut stored = HashSet::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.list(after.as_deref(), 1000).await.unwrap();
        let Some(last) = page.last().cloned() else {
            break;
        };
        stored.extend(page);
        after = Some(last);
    }
    let hashes: Vec<&str> = stored.iter().map(String::as_str).collect();
    let texts = store.get_texts(&hashes).await.unwrap();
    for (h, text) in hashes.iter().zip(texts) {
        let i = *data
            .by_hash
            .get(*h)
            .unwrap_or_else(|| panic!("{what}: unknown item {h} stored"));
        let n = &data.order[i];
        assert_eq!(text.as_deref(), Some(n.text()), "{what}: {h} not whole");
        let refs = store.references(h).await.unwrap().unwrap();
        let mut want: Vec<String> = n.reference_hashes().map(String::from).collect();
        let mut got = refs;
        want.sort();
        got.sort();
        assert_eq!(got, want, "{what}: references of {h}");
        for r in n.reference_hashes() {
            assert!(
                stored.contains(r),
                "{what}: closure broken: {h} refers to missing {r}"
            );
        }
    }
    stored
}

fn nar_files_present(data: &Data, stored: &HashSet<String>, what: &str) {
    for h in stored {
        let n = &data.order[data.by_hash[h]];
        for f in n.files() {
            assert!(
                data.storage.join(&f.url).is_file(),
                "{what}: nar file of {h} missing"
            );
        }
    }
}

async fn crash_safety(db: &common::TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let data = make_data(dir.path());
    let url = db.url.as_str();
    let store = db.open(&StoreOptions::default()).await;
    let storage = data.storage.to_str().unwrap().to_string();
    let input = data.input.to_str().unwrap().to_string();
    let import_args: Vec<&str> = vec![
        "import",
        "--storage",
        &storage,
        "--nar-files",
        "copy",
        "--parsers",
        "1",
        "--batch-size",
        "20",
        "--bulk-load",
        "never",
        &input,
    ];
    let mut rng = Lcg(db.backend.len() as u64 * 7919);

    // How long a whole import takes here, to kill at moments inside it.
    let started = Instant::now();
    run(url, &import_args, None);
    let full = started.elapsed().mul_f64(0.9);
    let all = check(&store, &data, "first import").await;
    assert_eq!(all.len(), ITEMS);
    store
        .remove_many(&all.iter().map(String::as_str).collect::<Vec<_>>())
        .await
        .unwrap();
    store.prune_items().await.unwrap();
    assert!(check(&store, &data, "emptied").await.is_empty());

    let mut killed = 0;
    for round in 0..IMPORT_KILLS {
        let at = Duration::from_millis(rng.below(full.as_millis() as u64 + 1));
        if run(url, &import_args, Some(at)).is_none() {
            killed += 1;
        }
        let what = format!("{} import kill {round} at {at:?}", db.backend);
        let stored = check(&store, &data, &what).await;
        // One parser, one file: what is committed is a prefix.
        let n = stored.len();
        for (i, item) in data.order.iter().enumerate() {
            assert_eq!(
                stored.contains(item.hash_part()),
                i < n,
                "{what}: not a prefix of the input at {i}"
            );
        }
        // Start some rounds from scratch so kills land at every depth.
        if round % 3 == 2 {
            let hashes: Vec<&str> = stored.iter().map(String::as_str).collect();
            store.remove_many(&hashes).await.unwrap();
        }
    }
    assert_eq!(run(url, &import_args, None), Some(0));
    let stored = check(&store, &data, "import rerun").await;
    assert_eq!(stored.len(), ITEMS, "the rerun imports everything");
    nar_files_present(&data, &stored, "import rerun");

    // Roots: a few items whose closures together keep under a third of
    // the store; that closure is what GC must keep.
    let closure = |from: &[&str]| {
        let mut seen = HashSet::new();
        let mut todo: Vec<&str> = from.to_vec();
        while let Some(h) = todo.pop() {
            if seen.insert(h.to_string()) {
                todo.extend(data.order[data.by_hash[h]].reference_hashes());
            }
        }
        seen
    };
    let mut roots: Vec<&Narinfo> = Vec::new();
    let mut live = HashSet::new();
    for n in data.order.iter().rev() {
        let mut with: Vec<&str> = roots.iter().map(|r| r.hash_part()).collect();
        with.push(n.hash_part());
        let c = closure(&with);
        if c.len() < ITEMS / 3 && c.len() > live.len() + 1 {
            roots.push(n);
            live = c;
        }
        if roots.len() == 3 {
            break;
        }
    }
    assert!(!roots.is_empty() && live.len() < ITEMS / 3);
    let mut root_args = vec!["roots", "add", "crash/keep"];
    root_args.extend(roots.iter().map(|n| n.hash_part()));
    run(url, &root_args, None);
    // Small batches: many transactions to land a kill between (SQLite's
    // are fast).
    let batch = if db.backend == "sqlite" { "4" } else { "30" };
    let gc_args = [
        "gc",
        "--grace",
        "0s",
        "--batch",
        batch,
        "--storage",
        storage.as_str(),
    ];
    let started = Instant::now();
    run(url, &gc_args, None);
    let gc_full = started.elapsed().mul_f64(0.9);
    for round in 0..GC_KILLS {
        // Bring the garbage back (the import also restores nar files).
        run(url, &import_args, None);
        let at = Duration::from_millis(rng.below(gc_full.as_millis() as u64 + 1));
        if run(url, &gc_args, Some(at)).is_none() {
            killed += 1;
        }
        let what = format!("{} gc kill {round} at {at:?}", db.backend);
        let stored = check(&store, &data, &what).await;
        for h in &live {
            assert!(stored.contains(h), "{what}: GC deleted live {h}");
        }
        nar_files_present(&data, &stored, &what);
    }
    // Narinfos added in the current second are within even a zero grace
    // period (times are whole seconds): let the last import's second pass.
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(run(url, &gc_args, None), Some(0));
    let stored = check(&store, &data, "gc rerun").await;
    assert_eq!(stored, live, "the rerun leaves exactly the roots' closure");
    nar_files_present(&data, &stored, "gc rerun");
    eprintln!(
        "{}: {killed} of {} runs killed (import {full:?}, gc {gc_full:?})",
        db.backend,
        IMPORT_KILLS + GC_KILLS
    );
    // Kills must land inside the work, or the test proves little (timing
    // varies on a loaded machine, hence the margin).
    assert!(killed >= (IMPORT_KILLS + GC_KILLS) / 4, "{killed} kills");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_import_and_gc_leave_a_sound_database() {
    common::for_each_backend("crash_safety", |db| async move {
        crash_safety(&db).await;
        db
    })
    .await;
}
