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
