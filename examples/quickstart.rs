//! The README's axum quick start: everything below this header is the README's code block,
//! word for word (`tests/quickstart.rs` holds the two together and runs it).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::{Router, routing::get};
use tollgate::{AdminApi, AuthLayer, Damping, Principal, SqliteStore, TokenManager, Verifier};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = Arc::new(SqliteStore::open("tokens.db").await?);
    let verifier = Verifier::builder(store.clone()).build();

    // On the first start, the store is empty: mint an admin token and show it, once.
    let tokens = TokenManager::new(store.clone(), verifier.clone());
    if let Some(admin) = tokens.bootstrap_admin().await? {
        println!("admin token (shown once): {}", admin.token().expose());
    }

    // A client with 20 failed attempts in a minute is answered 429 (by peer address).
    let damping = Damping::default();
    let auth = AuthLayer::builder(verifier.clone()).damping(damping.clone()).build();
    let app = Router::new()
        .route(
            "/me",
            get(|me: Principal| async move { format!("hello, {}\n", me.name()) }),
        )
        .layer(auth.same_body())
        .nest_service("/admin", AdminApi::builder(store, verifier).damping(damping).build());

    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(addr).await?;
    // `ConnectInfo` tells damping who the client is.
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
    Ok(())
}
