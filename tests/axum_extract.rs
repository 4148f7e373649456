//! The `axum` feature: `Principal` and `Option<Principal>` as extractors, `Rejection` as a
//! response, and the layer's refusals described in the response's extensions.
#![cfg(feature = "axum")]

mod support;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::Value;
use support::{issue, memory};
use tollgate::{AuthLayer, BasicCredential, InvalidReason, Principal, Rejection, RejectionKind, Verifier};
use tower::ServiceExt as _;

struct Reply {
    status: StatusCode,
    challenges: Vec<String>,
    body: Value,
    rejection: Option<Rejection>,
}

async fn call(router: &Router, path: &str, authorization: Option<&str>) -> Reply {
    let mut req = Request::get(path);
    if let Some(value) = authorization {
        req = req.header(AUTHORIZATION, value);
    }
    let response = router.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let challenges = response
        .headers()
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let rejection = response.extensions().get::<Rejection>().cloned();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    Reply {
        status,
        challenges,
        body,
        rejection,
    }
}

async fn me(principal: Principal) -> String {
    principal.name().to_owned()
}

async fn maybe(principal: Option<Principal>) -> String {
    principal.map_or_else(|| "anonymous".to_owned(), |p| p.name().to_owned())
}

async fn write_reports(principal: Principal) -> Result<&'static str, Rejection> {
    principal.require_scopes(["reports:write"])?;
    Ok("written")
}

fn routes() -> Router {
    Router::new()
        .route("/me", get(me))
        .route("/maybe", get(maybe))
        .route("/write", get(write_reports))
}

// CONTRACT §1: no credentials → 401 with one challenge per scheme; never axum's 500 for a
// missing extension, even with no layer in front.
#[tokio::test]
async fn without_a_layer_the_principal_extractor_answers_401_with_the_challenges() {
    let reply = call(&routes(), "/me", None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        reply.challenges,
        [
            "Bearer realm=\"tollgate\"",
            "Basic realm=\"tollgate\", charset=\"UTF-8\""
        ]
    );
    assert_eq!(reply.body["error"]["code"], "unauthorized");
    assert_eq!(reply.rejection.unwrap().kind(), &RejectionKind::MissingCredentials);
    assert_eq!(call(&routes(), "/maybe", None).await.body, "anonymous");
}

#[tokio::test]
async fn behind_an_anonymous_layer_the_extractors_use_its_realm_and_see_the_principal() {
    let store = memory();
    let (token, _) = issue(&*store, "alice", |r| r).await;
    let verifier = Verifier::builder(store).build();
    let router = routes().layer(
        AuthLayer::builder(verifier)
            .realm("shop")
            .basic(false)
            .allow_anonymous(true)
            .build()
            .same_body(),
    );
    let bearer = format!("Bearer {}", token.token().expose());

    let anonymous = call(&router, "/me", None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        anonymous.challenges,
        ["Bearer realm=\"shop\""],
        "the layer's own challenges"
    );
    assert_eq!(call(&router, "/maybe", None).await.body, "anonymous");
    assert_eq!(call(&router, "/maybe", Some(&bearer)).await.body, "alice");
    assert_eq!(call(&router, "/me", Some(&bearer)).await.body, "alice");
    // Bad credentials are still refused by the layer, anonymous or not.
    assert_eq!(
        call(&router, "/maybe", Some("Bearer tg_x")).await.status,
        StatusCode::UNAUTHORIZED
    );
}

// CONTRACT §1: valid token missing a required scope → 403 with `insufficient_scope` and the
// scopes, here answered by the handler itself.
#[tokio::test]
async fn a_handler_answers_tollgates_own_403_naming_the_scope() {
    let store = memory();
    let (token, record) = issue(&*store, "reader", |r| r.with_scopes(["reports:read"])).await;
    let (writer, _) = issue(&*store, "writer", |r| r.with_scopes(["reports:write"])).await;
    let router = routes().layer(AuthLayer::new(Verifier::builder(store).build()).same_body());

    let reply = call(&router, "/write", Some(&format!("Bearer {}", token.token().expose()))).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        reply.challenges,
        ["Bearer realm=\"tollgate\", error=\"insufficient_scope\", scope=\"reports:write\""]
    );
    assert_eq!(reply.body["error"]["code"], "insufficient_scope");
    let rejection = reply.rejection.unwrap();
    assert_eq!(rejection.token_id(), Some(record.id.as_str()));
    assert_eq!(rejection.required_scopes(), ["reports:write"]);

    let reply = call(&router, "/write", Some(&format!("Bearer {}", writer.token().expose()))).await;
    assert_eq!((reply.status, reply.body), (StatusCode::OK, Value::from("written")));
}

/// The layer's refusals carry their `Rejection`; the token id only when the token exists,
/// so a secret a client put in the id's place never reaches a log through it.
#[tokio::test]
async fn the_layers_refusals_tell_why_in_the_response_extensions() {
    let store = memory();
    let (_, record) = issue(&*store, "known", |r| r).await;
    let router = routes().layer(AuthLayer::new(Verifier::builder(store).build()).same_body());
    let basic = |id: &str, secret: &str| BasicCredential::new(id, secret).to_header_value();

    let wrong = basic(&record.id, "not-the-secret");
    let reply = call(&router, "/me", Some(wrong.to_str().unwrap())).await;
    let rejection = reply.rejection.unwrap();
    assert_eq!(
        rejection.kind(),
        &RejectionKind::InvalidToken(InvalidReason::WrongSecret)
    );
    assert_eq!(rejection.token_id(), Some(record.id.as_str()));

    for _ in 0..2 {
        // A miss, then the negative cache: neither names the id.
        let unknown = basic("legacySecretAsUserId123", "x");
        let reply = call(&router, "/me", Some(unknown.to_str().unwrap())).await;
        let rejection = reply.rejection.unwrap();
        assert_eq!(rejection.kind(), &RejectionKind::InvalidToken(InvalidReason::Unknown));
        assert_eq!(rejection.token_id(), None);
    }
    let malformed = call(&router, "/me", Some("Bearer")).await.rejection.unwrap();
    assert!(matches!(malformed.kind(), RejectionKind::Malformed(_)));
}
