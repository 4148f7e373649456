//! `MemoryStore` against the store conformance suite.

mod support;

use std::sync::Arc;

use tollgate::store::TokenStore;
use tollgate::{MemoryStore, OwnerSettings, RateLimit};

#[tokio::test]
async fn memory_store_passes_the_conformance_suite() {
    support::conformance::run(&MemoryStore::new(), support::conformance::Changes::Streamed).await;
}

/// An application shares its store behind a pointer: the owner settings go through to the
/// store, not to the traits' defaults (which keep none).
#[tokio::test]
async fn owner_settings_go_through_arc_and_box_to_the_store() {
    async fn set_and_read<S: TokenStore>(store: &S, settings: OwnerSettings) {
        store.set_owner_settings("alice", &settings).await.unwrap();
        assert_eq!(store.owner_settings("alice").await.unwrap(), settings);
    }
    let plan = OwnerSettings::new().with_rate_limit(Some(RateLimit::from_parts(7, 60, 7).unwrap()));
    let store = Arc::new(MemoryStore::new());
    set_and_read(&store, plan).await;
    let shared: Arc<dyn TokenStore> = store.clone();
    set_and_read(&Box::new(shared), OwnerSettings::new()).await;
    set_and_read(&store, plan).await;
    let boxed: Box<dyn TokenStore> = Box::new(store.clone());
    assert_eq!(boxed.owner_settings("alice").await.unwrap(), plan);
}
