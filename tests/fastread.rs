//! The SQLite fast read path (`store::fastread`): same answers as the
//! store, and never a stale one after a commit, from this process's pool or
//! from another connection.

mod common;

use narherder::store::fastread::FastReader;
use narherder::store::{AddMode, StoreOptions};
use narherder::Narinfo;

fn fixture(name: &str) -> Narinfo {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/guix")
        .join(name);
    Narinfo::parse(&std::fs::read_to_string(path).expect("fixture")).expect("parses")
}

const HELLO: &str = "cs56i9digj9qg1bd383cmxc6xrfpdn9n.hello-2.12.2.bordeaux.narinfo";
const SED: &str = "8kib1cirdv0qbmn9hdkjzjfx3n5nw1yw.sed-4.4.berlin.narinfo";

#[tokio::test]
async fn answers_follow_commits() {
    for cache in [narherder::store::fastread::DEFAULT_CACHE_BYTES, 0, 100] {
        let db = common::sqlite_db();
        let store = db.open(&StoreOptions::default()).await;
        let fast = FastReader::open_with_cache(&store, cache)
            .expect("open")
            .expect("SQLite has a fast path");
        let hello = fixture(HELLO);
        let sed = fixture(SED);
        let h = hello.hash_part().to_string();
        let s = sed.hash_part().to_string();

        // A miss, remembered by the cache, then the narinfo arrives.
        assert_eq!(fast.get_text(&h).unwrap(), None);
        store.add(&hello, AddMode::Keep).await.unwrap();
        assert_eq!(fast.get_text(&h).unwrap().as_deref(), Some(hello.text()));
        assert_eq!(fast.get_text("not-a-hash").unwrap(), None);

        // Replaced: the new text at once.
        let changed =
            Narinfo::parse(&hello.text().replace("x86_64-linux", "mips64-linux")).unwrap();
        store.add(&changed, AddMode::Replace).await.unwrap();
        assert_eq!(fast.get_text(&h).unwrap().as_deref(), Some(changed.text()));

        // Batches: order, duplicates, misses, junk.
        store.add(&sed, AddMode::Keep).await.unwrap();
        let miss = "00000000000000000000000000000000";
        let asked = [h.as_str(), miss, s.as_str(), h.as_str(), "junk"];
        let got = fast.get_texts(&asked).unwrap();
        assert_eq!(got[0].as_deref(), Some(changed.text()));
        assert_eq!(got[1], None);
        assert_eq!(got[2].as_deref(), Some(sed.text()));
        assert_eq!(got[3], got[0]);
        assert_eq!(got[4], None);
        assert_eq!(
            fast.exists_many(&asked).unwrap(),
            vec![true, false, true, true, false]
        );
        // The same answers as the store's own queries.
        let from_store = store.get_many(&asked).await.unwrap();
        for (a, b) in got.iter().zip(&from_store) {
            assert_eq!(a.as_deref(), b.as_ref().map(|n| n.text.as_str()));
        }

        // Removed: gone from single and batch lookups.
        assert!(store.remove(&s).await.unwrap());
        assert_eq!(fast.get_text(&s).unwrap(), None);
        assert_eq!(fast.exists_many(&[s.as_str()]).unwrap(), vec![false]);

        // A commit by another connection to the file (another process).
        let other = db.open(&StoreOptions::default()).await;
        other.add(&sed, AddMode::Keep).await.unwrap();
        other.close().await;
        assert_eq!(
            fast.get_texts(&[s.as_str()]).unwrap()[0].as_deref(),
            Some(sed.text())
        );
        store.close().await;
    }
}

#[tokio::test]
async fn postgres_has_no_fast_path() {
    let Some(admin) = common::postgres_admin_url() else {
        return;
    };
    let db = common::postgres_db(&admin, "fastread_none").await;
    let store = db.open(&StoreOptions::default()).await;
    assert!(FastReader::open(&store).unwrap().is_none());
    store.close().await;
    db.finish_public().await;
}
