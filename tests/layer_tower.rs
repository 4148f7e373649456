//! The layer around a plain `tower::service_fn`, with no framework.

mod support;

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header::AUTHORIZATION};
use http_body_util::{BodyExt as _, Full};
use support::{issue, memory};
use tollgate::{AuthLayer, Principal, Verifier};
use tower::{ServiceBuilder, ServiceExt as _, service_fn};

#[tokio::test]
async fn the_layer_wraps_a_plain_service_fn() {
    let store = memory();
    let (token, _) = issue(&store.inner, "tower", |r| r.with_scopes(["x"])).await;
    let service = ServiceBuilder::new()
        .layer(
            AuthLayer::builder(Verifier::builder(store.clone()).build())
                .require_scopes(["x"])
                .build(),
        )
        .service(service_fn(|req: Request<Full<Bytes>>| async move {
            let principal = req.extensions().get::<Principal>().expect("principal inserted").clone();
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(principal.id().to_owned()))))
        }));

    let req = Request::builder()
        .header(AUTHORIZATION, format!("bearer   {}", token.token().expose()))
        .body(Full::default())
        .unwrap();
    let response = service.clone().oneshot(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, token.id().as_bytes());

    // Second request: a cache hit through the unboxed path gives the same answer.
    let req = Request::builder()
        .header(AUTHORIZATION, format!("BEARER {}", token.token().expose()))
        .body(Full::default())
        .unwrap();
    let response = service.clone().oneshot(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(store.lookups(), 1);

    let response = service.oneshot(Request::new(Full::default())).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["error"]["code"], "unauthorized");
}

/// An inner service that is never ready: it has failed (a closed connection pool, say).
#[derive(Debug, Clone)]
struct Broken;

impl tower::Service<Request<Full<Bytes>>> for Broken {
    type Response = Response<Full<Bytes>>;
    type Error = &'static str;
    type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Err("the inner service is broken"))
    }

    fn call(&mut self, _: Request<Full<Bytes>>) -> Self::Future {
        unreachable!("a service that is not ready is never called")
    }
}

// The layer is ready when the service it wraps is, and passes its readiness error on, as
// tower's backpressure requires; its Debug shows the inner service.
#[tokio::test]
async fn the_layer_passes_on_the_inner_services_readiness_and_shows_it_in_debug() {
    let layer = AuthLayer::new(Verifier::builder(memory()).build());
    let service = ServiceBuilder::new().layer(layer).service(Broken);
    assert!(
        format!("{service:?}").contains("AuthService { inner: Broken"),
        "{service:?}"
    );
    assert_eq!(service.ready_oneshot().await.err(), Some("the inner service is broken"));
}

// An operator's `{:?}` of a layer says how it is set up.
#[tokio::test]
async fn a_layers_debug_output_shows_its_settings() {
    let verifier = Verifier::builder(tollgate::MemoryStore::new()).build();
    let layer = AuthLayer::builder(verifier)
        .realm("api")
        .basic(false)
        .require_scopes(["reports:read"])
        .allow_anonymous(true)
        .strip_authorization(true)
        .build();
    let shown = format!("{layer:?}");
    for setting in [
        "realm: \"api\"",
        "bearer: true",
        "basic: false",
        "required_scopes: [\"reports:read\"]",
        "allow_anonymous: true",
        "strip_authorization: true",
        "damping: None",
    ] {
        assert!(shown.contains(setting), "{setting} in {shown}");
    }
}
