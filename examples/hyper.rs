//! The example server's protection on a plain hyper 1 server, without axum: the layer is
//! framework-neutral. `cargo run --example hyper` (listens on `TOLLGATE_ADDR`, default
//! `127.0.0.1:3001`; tokens live in memory; `TOLLGATE_HEADER_TIMEOUT_MS`, default 10000, and
//! `TOLLGATE_MAX_CONNECTIONS`, default 1024, bound slow and numerous clients).
//!
//! Routes: `GET /` public; `GET /me` any valid token; `GET /reports` needs `reports:read`;
//! the admin API under `/admin`. A bootstrap admin token is printed at start. Ctrl-C or
//! SIGTERM stops accepting connections and exits 0.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header::CONTENT_TYPE};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use tollgate::{
    AdminApi, AuthLayer, AuthService, Damping, MemoryStore, Principal, RequireScopes, TokenManager, Verifier,
};
use tower::{Layer, ServiceExt as _, service_fn};

type Body = BoxBody<Bytes, Infallible>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Handler =
    tower::util::ServiceFn<fn(Request<Incoming>) -> std::future::Ready<Result<Response<Full<Bytes>>, Infallible>>>;

/// The protected parts of the app, each a tower service wrapped by the same layer.
#[derive(Clone)]
struct App {
    me: AuthService<Handler>,
    reports: AuthService<RequireScopes<Handler>>,
    admin: AdminApi,
}

fn json(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    response
}

fn me(req: Request<Incoming>) -> std::future::Ready<Result<Response<Full<Bytes>>, Infallible>> {
    let principal = req.extensions().get::<Principal>().expect("the auth layer inserts it");
    let body = serde_json::to_string(principal).unwrap_or_default();
    std::future::ready(Ok(json(StatusCode::OK, body)))
}

fn reports(_req: Request<Incoming>) -> std::future::Ready<Result<Response<Full<Bytes>>, Infallible>> {
    std::future::ready(Ok(json(StatusCode::OK, r#"{"reports":["q1","q2"]}"#.to_owned())))
}

/// Plain path dispatch: no router crate, no framework.
async fn route(app: App, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path();
    let response = if path == "/" {
        Response::new(Full::new(Bytes::from_static(b"tollgate on plain hyper\n")).boxed())
    } else if path == "/admin" || path.starts_with("/admin/") {
        app.admin.oneshot(req).await?.map(BodyExt::boxed)
    } else if path == "/me" {
        app.me.oneshot(req).await?.map(BodyExt::boxed)
    } else if path == "/reports" {
        app.reports.oneshot(req).await?.map(BodyExt::boxed)
    } else {
        json(
            StatusCode::NOT_FOUND,
            r#"{"error":{"code":"not_found","message":"no such path"}}"#.to_owned(),
        )
        .map(BodyExt::boxed)
    };
    Ok(response)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let addr: SocketAddr = std::env::var("TOLLGATE_ADDR")
        .as_deref()
        .unwrap_or("127.0.0.1:3001")
        .parse()?;
    let store = Arc::new(MemoryStore::new());
    let verifier = Verifier::builder(store.clone()).build();
    if let Some(task) = verifier.invalidation_task() {
        tokio::spawn(task);
    }

    let tokens = TokenManager::new(store.clone(), verifier.clone());
    let admin = tokens.bootstrap_admin().await?.ok_or("a new memory store is empty")?;
    println!(
        "Bootstrap admin token (scope tokens:admin):\n{}",
        admin.token().expose()
    );

    // Brute-force damping by peer address: the accept loop puts it in each request.
    let damping = Damping::default();
    let auth = AuthLayer::builder(verifier.clone())
        .realm("tollgate hyper")
        .damping(damping.clone())
        .build();
    let me_handler: Handler = service_fn(me);
    let reports_handler: Handler = service_fn(reports);
    let app = App {
        me: auth.layer(me_handler),
        reports: auth.layer(auth.scope_layer(["reports:read"]).layer(reports_handler)),
        admin: AdminApi::builder(store, verifier)
            .realm("tollgate hyper")
            .mount_path("/admin")
            .damping(damping)
            .build(),
    };

    let listener = tokio::net::TcpListener::bind(addr).await?;
    eprintln!("listening on {}", listener.local_addr()?);
    let env = |name: &str, default: u64| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let limits = common::Limits {
        header_read_timeout: std::time::Duration::from_millis(env("TOLLGATE_HEADER_TIMEOUT_MS", 10_000)),
        max_connections: usize::try_from(env("TOLLGATE_MAX_CONNECTIONS", 1024))
            .unwrap_or(1024)
            .max(1),
    };
    // The accept loop puts each request's peer address in its extensions: what
    // `tollgate::PeerAddr`, the damping's default client key, reads.
    common::serve(listener, tower::service_fn(move |req| route(app.clone(), req)), limits).await?;
    eprintln!("shut down");
    Ok(())
}
