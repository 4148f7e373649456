//! The layer in front of a real axum 0.8 router: every row of CONTRACT §1.

mod support;

use std::sync::Arc;

use axum::body::Body;
use axum::routing::get;
use axum::{Extension, Json, Router};
use http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::Value;
use support::{Instrumented, issue, memory, unknown_token};
use tollgate::store::TokenStore;
use tollgate::{AuthLayer, BasicCredential, MemoryStore, Principal, TokenPatch, TokenStatus, Verifier};
use tower::ServiceExt as _;

struct App {
    store: Arc<Instrumented<MemoryStore>>,
    verifier: Verifier,
    router: Router,
}

/// The test routes behind `auth` (an `AuthLayer` of either body mode).
macro_rules! routes {
    ($auth:expr) => {{
        let auth = $auth;
        let reports = auth.scope_layer(["reports:read"]);
        Router::new()
            .route("/me", get(|Extension(p): Extension<Principal>| async move { Json(p) }))
            .route(
                "/optional",
                get(|p: Option<Extension<Principal>>| async move {
                    p.map_or("anonymous".to_owned(), |p| p.0.id().to_owned())
                }),
            )
            .route(
                "/echo-auth",
                get(|req: Request<Body>| async move { format!("{:?}", req.headers().get(AUTHORIZATION).is_some()) }),
            )
            .route("/reports", get(|| async { "reports" }).layer(reports))
            .layer(auth)
    }};
}

fn app(configure: impl FnOnce(tollgate::AuthLayerBuilder) -> tollgate::AuthLayerBuilder) -> App {
    app_on(memory(), configure, false)
}

/// An app on `store` with its own verifier; `same_body` picks [`AuthLayer::same_body`].
fn app_on(
    store: Arc<Instrumented<MemoryStore>>,
    configure: impl FnOnce(tollgate::AuthLayerBuilder) -> tollgate::AuthLayerBuilder,
    same_body: bool,
) -> App {
    let verifier = Verifier::builder(store.clone()).build();
    let auth = configure(AuthLayer::builder(verifier.clone()).realm("test")).build();
    let router = if same_body {
        routes!(auth.same_body())
    } else {
        routes!(auth)
    };
    App {
        store,
        verifier,
        router,
    }
}

struct Reply {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not json: {:?}", String::from_utf8_lossy(&self.body)))
    }

    fn challenges(&self) -> Vec<String> {
        self.headers
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    fn error_code(&self) -> String {
        assert_eq!(self.headers[CONTENT_TYPE], "application/json");
        self.json()["error"]["code"].as_str().unwrap().to_owned()
    }
}

async fn send(app: &App, path: &str, authorization: &[&[u8]]) -> Reply {
    let mut req = Request::get(path).body(Body::empty()).unwrap();
    for value in authorization {
        req.headers_mut()
            .append(AUTHORIZATION, HeaderValue::from_bytes(value).unwrap());
    }
    let response = app.router.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes().to_vec();
    Reply { status, headers, body }
}

fn bearer(token: &str) -> Vec<u8> {
    format!("Bearer {token}").into_bytes()
}

#[tokio::test]
async fn valid_token_reaches_the_handler_with_its_principal() {
    let app = app(|b| b);
    let (token, _) = issue(&app.store.inner, "me", |r| r.with_scopes(["a", "b"])).await;
    let reply = send(&app, "/me", &[&bearer(token.token().expose())]).await;
    assert_eq!(reply.status, StatusCode::OK);
    let me = reply.json();
    assert_eq!(me["id"], token.id());
    assert_eq!(me["name"], "me");
    assert_eq!(me["scopes"], serde_json::json!(["a", "b"]));
    let body = String::from_utf8(reply.body).unwrap();
    assert!(
        !body.contains(token.secret_segment()),
        "the principal never carries the secret"
    );
}

#[tokio::test]
async fn basic_with_the_whole_token_or_last_segment_is_accepted() {
    let app = app(|b| b);
    let (token, _) = issue(&app.store.inner, "basic", |r| r).await;
    for secret in [token.token().expose(), token.secret_segment()] {
        let value = BasicCredential::new(token.id(), secret).to_header_value();
        let reply = send(&app, "/me", &[value.as_bytes()]).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.json()["id"], token.id());
    }
}

// CONTRACT §1: no credentials → 401 with one challenge per enabled scheme, no error code.
#[tokio::test]
async fn no_credentials_get_one_challenge_per_scheme() {
    let app = app(|b| b);
    let reply = send(&app, "/me", &[]).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        reply.challenges(),
        ["Bearer realm=\"test\"", "Basic realm=\"test\", charset=\"UTF-8\""]
    );
    assert_eq!(reply.error_code(), "unauthorized");

    let bearer_only = app_with_basic_off().await;
    let reply = send(&bearer_only, "/me", &[]).await;
    assert_eq!(reply.challenges(), ["Bearer realm=\"test\""]);
}

async fn app_with_basic_off() -> App {
    app(|b| b.basic(false))
}

// CONTRACT §1: an unsupported scheme is the same as no credentials (RFC 6750 §3.1).
#[tokio::test]
async fn unsupported_schemes_are_treated_as_no_credentials() {
    let app = app(|b| b);
    let none = send(&app, "/me", &[]).await;
    for value in [
        &b"Digest username=\"a\", realm=\"b\""[..],
        b"Token abc",
        b"Negotiate YIIB",
    ] {
        let reply = send(&app, "/me", &[value]).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(reply.challenges(), none.challenges());
        assert_eq!(reply.body, none.body);
    }
    // A disabled scheme, too.
    let bearer_only = app_with_basic_off().await;
    let basic = BasicCredential::new("a", "b").to_header_value();
    let reply = send(&bearer_only, "/me", &[basic.as_bytes()]).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.challenges(), ["Bearer realm=\"test\""]);
}

// CONTRACT §1: malformed credentials → 400 with error="invalid_request".
#[tokio::test]
async fn malformed_credentials_are_bad_requests() {
    let app = app(|b| b);
    let long = bearer(&"a".repeat(5000));
    let cases: [&[u8]; 7] = [
        b"Bearer",
        b"Bearer a b",
        b"Bearer a,b",
        b"Basic not-base64!",
        b"Basic YWJj", // "abc": no colon
        b"Basic\tYTpi",
        &long,
    ];
    for value in cases {
        let reply = send(&app, "/me", &[value]).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{}",
            String::from_utf8_lossy(value)
        );
        assert_eq!(reply.challenges(), ["Bearer realm=\"test\", error=\"invalid_request\""]);
        assert_eq!(reply.error_code(), "invalid_request");
    }
    assert_eq!(app.store.lookups(), 0, "malformed credentials are never looked up");
}

// CONTRACT §1: more than one Authorization header is malformed.
#[tokio::test]
async fn duplicate_authorization_headers_are_malformed() {
    let app = app(|b| b);
    let (token, _) = issue(&app.store.inner, "dup", |r| r).await;
    let value = bearer(token.token().expose());
    let reply = send(&app, "/me", &[&value, &value]).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_code(), "invalid_request");
}

// CONTRACT §1: unknown id, wrong secret, bad checksum, expired, revoked, inactive → 401
// invalid_token, with the same status, headers and body for all.
#[tokio::test]
async fn every_kind_of_invalid_token_gets_the_identical_answer() {
    let app = app(|b| b);
    let store = &app.store.inner;
    let past = support::now() - time::Duration::seconds(1);
    let (expired, _) = issue(store, "expired", |r| r.with_expiry(Some(past))).await;
    let (inactive, _) = issue(store, "inactive", |mut r| {
        r.status = TokenStatus::Inactive;
        r
    })
    .await;
    let (revoked, _) = issue(store, "revoked", |r| r).await;
    assert_eq!(
        send(&app, "/me", &[&bearer(revoked.token().expose())]).await.status,
        StatusCode::OK
    );
    store.delete(revoked.id()).await.unwrap();
    app.verifier.invalidate(revoked.id());
    let (valid, _) = issue(store, "valid", |r| r).await;

    let mut bad_checksum = valid.token().expose().to_owned();
    let last = bad_checksum.pop().unwrap();
    bad_checksum.push(if last == '0' { '1' } else { '0' });
    let unknown = unknown_token();
    let wrong_secret = BasicCredential::new(valid.id(), unknown.secret_segment()).to_header_value();
    let unknown_basic = BasicCredential::new(unknown.id(), unknown.secret_segment()).to_header_value();

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("unknown id", bearer(unknown.token().expose())),
        ("unknown basic id", unknown_basic.as_bytes().to_vec()),
        ("wrong secret", wrong_secret.as_bytes().to_vec()),
        ("bad checksum", bearer(&bad_checksum)),
        ("expired", bearer(expired.token().expose())),
        ("inactive", bearer(inactive.token().expose())),
        ("revoked", bearer(revoked.token().expose())),
        ("unknown opaque", bearer("some-opaque-token-nobody-has")),
    ];
    let mut first: Option<Reply> = None;
    for (name, value) in cases {
        let reply = send(&app, "/me", &[&value]).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{name}");
        assert_eq!(
            reply.challenges(),
            [
                "Bearer realm=\"test\", error=\"invalid_token\"",
                "Basic realm=\"test\", charset=\"UTF-8\""
            ],
            "{name}"
        );
        assert_eq!(reply.error_code(), "invalid_token", "{name}");
        if let Some(first) = &first {
            assert_eq!(reply.body, first.body, "{name}: body differs");
            assert_eq!(reply.headers, first.headers, "{name}: headers differ");
        } else {
            first = Some(reply);
        }
    }
}

// CONTRACT §1: a valid token missing a required scope → 403 insufficient_scope, scope="a b".
#[tokio::test]
async fn missing_scopes_are_forbidden_with_the_scopes_named() {
    let app = app(|b| b.require_scopes(["api:read", "api:write"]));
    let (reader, _) = issue(&app.store.inner, "reader", |r| r.with_scopes(["api:read"])).await;
    let (writer, _) = issue(&app.store.inner, "writer", |r| {
        r.with_scopes(["api:read", "api:write", "x"])
    })
    .await;
    let reply = send(&app, "/me", &[&bearer(reader.token().expose())]).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        reply.challenges(),
        ["Bearer realm=\"test\", error=\"insufficient_scope\", scope=\"api:read api:write\""]
    );
    assert_eq!(reply.error_code(), "insufficient_scope");
    assert_eq!(
        send(&app, "/me", &[&bearer(writer.token().expose())]).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_sub_router_can_require_its_own_scopes() {
    let app = app(|b| b);
    let (plain, _) = issue(&app.store.inner, "plain", |r| r).await;
    let (reporter, _) = issue(&app.store.inner, "reporter", |r| r.with_scopes(["reports:read"])).await;
    assert_eq!(
        send(&app, "/me", &[&bearer(plain.token().expose())]).await.status,
        StatusCode::OK
    );
    let reply = send(&app, "/reports", &[&bearer(plain.token().expose())]).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        reply.challenges(),
        ["Bearer realm=\"test\", error=\"insufficient_scope\", scope=\"reports:read\""]
    );
    assert_eq!(
        send(&app, "/reports", &[&bearer(reporter.token().expose())])
            .await
            .status,
        StatusCode::OK
    );
}

// CONTRACT §1: token store unreachable or erroring → 503 + Retry-After, no challenge, fail closed.
#[tokio::test]
async fn store_failure_is_503_with_retry_after_and_never_a_pass() {
    let app = app(|b| b.retry_after(std::time::Duration::from_secs(7)));
    let (token, _) = issue(&app.store.inner, "t", |r| r).await;
    app.store.set_failing(true);
    let reply = send(&app, "/me", &[&bearer(token.token().expose())]).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.headers[RETRY_AFTER], "7");
    assert!(reply.challenges().is_empty());
    assert_eq!(reply.error_code(), "unavailable");
    app.store.set_failing(false);
    assert_eq!(
        send(&app, "/me", &[&bearer(token.token().expose())]).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn anonymous_requests_pass_only_when_allowed_and_bad_credentials_still_fail() {
    let open = app(|b| b.allow_anonymous(true));
    let reply = send(&open, "/optional", &[]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, b"anonymous");
    let reply = send(&open, "/optional", &[&bearer(unknown_token().token().expose())]).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    // The scope layer refuses anonymous requests with the challenges.
    let reply = send(&open, "/reports", &[]).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.challenges().len(), 2);

    let closed = app(|b| b);
    assert_eq!(send(&closed, "/optional", &[]).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_authorization_header_can_be_stripped_before_the_handler() {
    for (strip, seen) in [(true, "false"), (false, "true")] {
        let app = app(|b| b.strip_authorization(strip));
        let (token, _) = issue(&app.store.inner, "t", |r| r).await;
        let reply = send(&app, "/echo-auth", &[&bearer(token.token().expose())]).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.body, seen.as_bytes(), "strip = {strip}");
    }
}

#[tokio::test]
async fn patched_status_and_scopes_are_in_force_after_invalidation() {
    let app = app(|b| b.require_scopes(["s"]));
    let (token, _) = issue(&app.store.inner, "t", |r| r.with_scopes(["s"])).await;
    let value = bearer(token.token().expose());
    assert_eq!(send(&app, "/me", &[&value]).await.status, StatusCode::OK);
    let mut patch = TokenPatch::default();
    patch.scopes = Some(vec![]);
    app.store.inner.update(token.id(), &patch).await.unwrap();
    app.verifier.invalidate(token.id());
    assert_eq!(send(&app, "/me", &[&value]).await.status, StatusCode::FORBIDDEN);
}

// CONTRACT §1, every row above, in the inner service's own body type: `same_body` changes
// how a response body is carried, never what the response is.
#[tokio::test]
async fn the_same_body_layer_answers_exactly_as_the_wrapping_one() {
    let store = memory();
    let wrapped = app_on(store.clone(), |b| b, false);
    let same = app_on(store.clone(), |b| b, true);
    let (token, _) = issue(&store.inner, "me", |r| r.with_scopes(["a"])).await;
    let (failing, _) = issue(&store.inner, "failing", |r| r).await;
    let valid = bearer(token.token().expose());
    let unknown = bearer(unknown_token().token().expose());
    let cases: Vec<(&str, &str, Vec<&[u8]>, StatusCode)> = vec![
        ("first use: a lookup", "/me", vec![&valid], StatusCode::OK),
        ("then a cache hit", "/me", vec![&valid], StatusCode::OK),
        ("no credentials", "/me", vec![], StatusCode::UNAUTHORIZED),
        ("malformed", "/me", vec![b"Bearer a b"], StatusCode::BAD_REQUEST),
        ("twice", "/me", vec![&valid, &valid], StatusCode::BAD_REQUEST),
        ("unknown token", "/me", vec![&unknown], StatusCode::UNAUTHORIZED),
        ("scope missing", "/reports", vec![&valid], StatusCode::FORBIDDEN),
    ];
    for (what, path, authorization, status) in &cases {
        let (a, b) = (
            send(&wrapped, path, authorization).await,
            send(&same, path, authorization).await,
        );
        assert_eq!(a.status, *status, "{what}");
        assert_eq!(
            (a.status, &a.headers, &a.body),
            (b.status, &b.headers, &b.body),
            "{what}"
        );
    }
    store.set_failing(true);
    let failing = bearer(failing.token().expose());
    let (a, b) = (
        send(&wrapped, "/me", &[&failing]).await,
        send(&same, "/me", &[&failing]).await,
    );
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(a.error_code(), "unavailable");
    assert_eq!((a.status, &a.headers, &a.body), (b.status, &b.headers, &b.body));
}
