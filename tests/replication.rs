//! Replication between throwaway PostgreSQL clusters.

mod common;

use narherder::replication::subscription_status;
use narherder::store::StoreOptions;

#[tokio::test]
async fn status_is_empty_without_subscriptions() {
    common::for_each_backend("repl_status_empty", |db| async move {
        let store = db.open(&StoreOptions::default()).await;
        let s = subscription_status(&store).await.unwrap();
        assert!(s.is_empty(), "{}: {s:?}", db.backend);
        store.close().await;
        db
    })
    .await;
}
