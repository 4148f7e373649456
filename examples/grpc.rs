//! The README's gRPC example: everything below this header is the README's code block,
//! word for word (`tests/grpc.rs` holds the two together and runs it).

use std::sync::Arc;

use tollgate::{AuthLayer, Damping, SqliteStore, TokenManager, Verifier};
use tonic::transport::Server;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = Arc::new(SqliteStore::open("tokens.db").await?);
    let verifier = Verifier::builder(store.clone()).build();

    // On the first start, the store is empty: mint an admin token and show it, once.
    let tokens = TokenManager::new(store, verifier.clone());
    if let Some(admin) = tokens.bootstrap_admin().await? {
        println!("admin token (shown once): {}", admin.token().expose());
    }

    // Refusals reach gRPC clients as gRPC statuses: UNAUTHENTICATED, PERMISSION_DENIED,
    // RESOURCE_EXHAUSTED (damping: with the `tonic` feature, by tonic's peer address),
    // UNAVAILABLE.
    let auth = AuthLayer::builder(verifier).damping(Damping::default()).build();
    let (_reporter, health) = tonic_health::server::health_reporter();

    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:50051".to_owned());
    Server::builder()
        .layer(auth)
        .add_service(health)
        .serve(addr.parse()?)
        .await?;
    Ok(())
}
