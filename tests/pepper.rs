//! Tokens hashed with a pepper (`SecretHasher::hmac_sha256`), end to end in one process:
//! made by the manager and by the admin API (created, imported, rotated), checked by the
//! admin API, and verified by the layer, as Bearer and as Basic. A stored plain SHA-256 of
//! the same secret must not work: any place that hashes without the verifier's hasher fails
//! here.
#![cfg(feature = "admin")]

mod support;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tollgate::store::{TokenSource, TokenStore};
use tollgate::{
    AdminApi, AuthLayer, BasicCredential, MemoryStore, SecretHash, SecretHasher, TokenFormat, TokenManager,
    TokenRecord, Verifier,
};
use tower::ServiceExt as _;

const PEPPER: &[u8] = b"a pepper from the secret manager";

struct App {
    store: std::sync::Arc<MemoryStore>,
    router: Router,
    admin: String,
}

impl App {
    async fn new() -> Self {
        let store = std::sync::Arc::new(MemoryStore::new());
        let verifier = Verifier::builder(store.clone())
            .hasher(SecretHasher::hmac_sha256(PEPPER))
            .build();
        let admin = TokenManager::new(store.clone(), verifier.clone())
            .bootstrap_admin()
            .await
            .unwrap()
            .expect("empty store");
        let router = Router::new()
            .route("/me", get(|| async { "me" }))
            .layer(AuthLayer::new(verifier.clone()))
            .nest_service("/admin", AdminApi::builder(store.clone(), verifier).build());
        Self {
            store,
            router,
            admin: admin.token().expose().to_owned(),
        }
    }

    async fn send(&self, method: &str, uri: &str, authorization: &str, body: Option<Value>) -> (StatusCode, Value) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header(AUTHORIZATION, authorization)
            .header(CONTENT_TYPE, "application/json");
        let request = request
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    async fn admin(&self, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.send(method, uri, &format!("Bearer {}", self.admin), body).await
    }

    async fn me(&self, authorization: &str) -> StatusCode {
        self.send("GET", "/me", authorization, None).await.0
    }

    async fn stored_hash(&self, id: &str) -> SecretHash {
        self.store.get(id).await.unwrap().expect("stored").secret_hash
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn basic(id: &str, secret: &str) -> String {
    BasicCredential::new(id, secret)
        .to_header_value()
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn peppered_tokens_work_through_the_layer_and_the_admin_api() {
    let app = App::new().await;
    let peppered = SecretHasher::hmac_sha256(PEPPER);
    assert_eq!(app.me(&bearer(&app.admin)).await, StatusCode::OK, "the bootstrap token");

    // Created through the admin API: stored under the pepper, works as Bearer and Basic.
    let (status, created) = app.admin("POST", "/admin/tokens", Some(json!({"name": "made"}))).await;
    assert_eq!(status, StatusCode::CREATED);
    let (id, token) = (created["id"].as_str().unwrap(), created["token"].as_str().unwrap());
    let segment = token.rsplit('_').next().unwrap();
    assert_eq!(app.stored_hash(id).await, peppered.hash(segment.as_bytes()));
    assert_ne!(app.stored_hash(id).await, SecretHasher::Sha256.hash(segment.as_bytes()));
    assert_eq!(app.me(&bearer(token)).await, StatusCode::OK);
    assert_eq!(app.me(&basic(id, segment)).await, StatusCode::OK);
    let (status, checked) = app
        .admin("POST", "/admin/tokens/check", Some(json!({"token": token})))
        .await;
    assert_eq!(
        (status, checked["valid"].clone()),
        (StatusCode::OK, json!(true)),
        "{checked}"
    );

    // Rotated: the new secret works, under the pepper.
    let (status, rotated) = app
        .admin(
            "POST",
            &format!("/admin/tokens/{id}/rotate"),
            Some(json!({"grace_seconds": 0})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new_token = rotated["token"].as_str().unwrap();
    assert_eq!(app.me(&bearer(new_token)).await, StatusCode::OK);
    assert_eq!(app.me(&bearer(token)).await, StatusCode::UNAUTHORIZED);

    // Imported: found by its peppered hash as an opaque Bearer token, and as Basic.
    let legacy = "Legacy-Key-9f3Q-7xZr-2mWb-pepper";
    let (status, imported) = app
        .admin(
            "POST",
            "/admin/tokens",
            Some(json!({"name": "legacy", "secret": legacy})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{imported}");
    let imported_id = imported["id"].as_str().unwrap();
    assert_eq!(app.stored_hash(imported_id).await, peppered.hash(legacy.as_bytes()));
    assert_eq!(app.me(&bearer(legacy)).await, StatusCode::OK);
    assert_eq!(app.me(&basic(imported_id, legacy)).await, StatusCode::OK);
    let (status, checked) = app
        .admin(
            "POST",
            "/admin/tokens/check",
            Some(json!({"id": imported_id, "secret": legacy})),
        )
        .await;
    assert_eq!(
        (status, checked["valid"].clone()),
        (StatusCode::OK, json!(true)),
        "{checked}"
    );
}

#[tokio::test]
async fn a_plain_sha256_of_the_secret_does_not_work_under_a_pepper() {
    let app = App::new().await;
    // A generated token and an imported secret whose records hold the unpeppered hash.
    let generated = TokenFormat::default().generate().unwrap();
    let plain = SecretHasher::Sha256.hash(generated.secret_segment().as_bytes());
    app.store
        .create(TokenRecord::new(generated.id(), "unpeppered", plain))
        .await
        .unwrap();
    let legacy = "Legacy-Key-unpeppered-9f3Q-7xZr";
    app.store
        .create(TokenRecord::new(
            "legacyplain",
            "unpeppered",
            SecretHasher::Sha256.hash(legacy.as_bytes()),
        ))
        .await
        .unwrap();

    for authorization in [
        bearer(generated.token().expose()),
        basic(generated.id(), generated.secret_segment()),
        bearer(legacy),
        basic("legacyplain", legacy),
    ] {
        assert_eq!(
            app.me(&authorization).await,
            StatusCode::UNAUTHORIZED,
            "{authorization}"
        );
    }
    let (status, checked) = app
        .admin(
            "POST",
            "/admin/tokens/check",
            Some(json!({"token": generated.token().expose()})),
        )
        .await;
    assert_eq!(
        (status, checked["valid"].clone()),
        (StatusCode::OK, json!(false)),
        "{checked}"
    );
}
