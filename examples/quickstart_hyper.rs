//! The README's hyper quick start: everything below this header is the README's code block,
//! word for word (`tests/quickstart.rs` holds the two together and runs it).

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::{body::Incoming, server::conn::http1};
use hyper_util::{rt::TokioIo, service::TowerToHyperService};
use tollgate::{AuthLayer, Damping, Principal, SqliteStore, TokenManager, Verifier};
use tower::ServiceBuilder;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = Arc::new(SqliteStore::open("tokens.db").await?);
    let verifier = Verifier::builder(store.clone()).build();

    // On the first start, the store is empty: mint an admin token and show it, once.
    let tokens = TokenManager::new(store, verifier.clone());
    if let Some(admin) = tokens.bootstrap_admin().await? {
        println!("admin token (shown once): {}", admin.token().expose());
    }

    let auth = AuthLayer::builder(verifier).damping(Damping::default()).build();
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(addr).await?;
    loop {
        let (stream, peer) = listener.accept().await?;
        let service = ServiceBuilder::new()
            // The peer address tells damping who the client is.
            .map_request(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(peer);
                req
            })
            .layer(auth.clone())
            .service_fn(|req: Request<Incoming>| async move {
                // The layer let the request through: it carries the principal.
                let me = req.extensions().get::<Principal>().expect("authenticated");
                let hello = format!("hello, {}\n", me.name());
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(hello))))
            });
        tokio::spawn(async move {
            let io = TokioIo::new(stream);
            let _ = http1::Builder::new()
                .serve_connection(io, TowerToHyperService::new(service))
                .await;
        });
    }
}
