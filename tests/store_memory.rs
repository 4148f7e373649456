//! `MemoryStore` against the store conformance suite.

mod support;

use tollgate::MemoryStore;

#[tokio::test]
async fn memory_store_passes_the_conformance_suite() {
    support::conformance::run(&MemoryStore::new(), support::conformance::Changes::Streamed).await;
}
