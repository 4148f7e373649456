//! The admin API's scenarios, one per behaviour of CONTRACT §3, run by `tests/admin.rs`
//! one test each and by `tests/admin_logs.rs` all together under a log capture.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::header::{ALLOW, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tollgate::store::TokenStore;
use tollgate::{AdminApi, AuthLayer, BasicCredential, MemoryStore, SecretHasher, TokenManager, TokenRecord, Verifier};
use tower::ServiceExt as _;

use super::Instrumented;

/// Every secret any scenario saw: the log test greps the captured output for each.
pub static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn remember(secret: &str) {
    SECRETS.lock().unwrap().push(secret.to_owned());
}

pub struct Harness {
    pub store: Arc<Instrumented<MemoryStore>>,
    pub verifier: Verifier,
    router: Router,
    pub admin_token: String,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub body: Value,
    pub raw: String,
}

impl Harness {
    pub async fn new() -> Self {
        Self::with_limit(64 * 1024).await
    }

    pub async fn with_limit(limit: usize) -> Self {
        let store = Instrumented::new(MemoryStore::new());
        let verifier = Verifier::builder(store.clone()).build();
        let admin = AdminApi::builder(store.clone(), verifier.clone())
            .body_limit(limit)
            .store_timeout(Duration::from_millis(200))
            .build();
        let auth = AuthLayer::new(verifier.clone());
        let router = Router::new()
            .route("/me", get(|| async { "me" }))
            .route(
                "/reports",
                get(|| async { "reports" }).layer(auth.scope_layer(["reports:read"])),
            )
            .layer(auth)
            .nest_service("/admin", admin);

        // The first admin token, as the example server makes it.
        let admin = TokenManager::new(store.clone(), verifier.clone())
            .bootstrap_admin()
            .await
            .unwrap()
            .expect("a new store is empty");
        remember(admin.token().expose());
        Self {
            store,
            verifier,
            router,
            admin_token: admin.token().expose().to_owned(),
        }
    }

    pub async fn send(&self, req: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let raw = String::from_utf8(bytes.to_vec()).unwrap();
        let body = if raw.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&raw).unwrap_or(Value::Null)
        };
        if let Some(token) = body.get("token").and_then(Value::as_str) {
            remember(token);
        }
        Reply {
            status,
            headers,
            body,
            raw,
        }
    }

    /// An admin request with the bootstrap token and a JSON body.
    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.admin_as(&self.admin_token, method, path, body).await
    }

    /// An admin API request with `token` and a JSON body.
    pub async fn admin_as(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("/admin{path}"))
            .header(AUTHORIZATION, format!("Bearer {token}"));
        if body.is_some() {
            req = req.header(CONTENT_TYPE, "application/json");
        }
        let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
        self.send(req.body(body).unwrap()).await
    }

    pub async fn create(&self, body: Value) -> Reply {
        let reply = self.admin(Method::POST, "/tokens", Some(body)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.raw);
        reply
    }

    /// `GET path` with a Bearer token, through the protected app routes.
    pub async fn call_with(&self, path: &str, authorization: &str) -> StatusCode {
        let req = Request::get(path)
            .header(AUTHORIZATION, authorization)
            .body(Body::empty())
            .unwrap();
        self.send(req).await.status
    }

    pub async fn bearer(&self, path: &str, token: &str) -> StatusCode {
        self.call_with(path, &format!("Bearer {token}")).await
    }
}

pub fn assert_error(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(reply.status, status, "{}", reply.raw);
    assert_eq!(reply.headers[CONTENT_TYPE], "application/json");
    assert_eq!(reply.body["error"]["code"], code, "{}", reply.raw);
}

fn assert_bad_field(reply: &Reply, field: &str) {
    assert_error(reply, StatusCode::BAD_REQUEST, "invalid_request");
    let message = reply.body["error"]["message"].as_str().unwrap();
    assert!(message.contains(field), "message {message:?} does not name {field:?}");
}

/// A record never shows a secret or a hash.
pub fn assert_is_record(record: &Value) {
    let mut keys: Vec<&str> = record.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "created_at",
            "created_by",
            "expires_at",
            "id",
            "kind",
            "last_used_at",
            "metadata",
            "name",
            "owner",
            "rate_limit",
            "revoked_at",
            "scopes",
            "status",
            "updated_at"
        ]
    );
}

// CONTRACT §3: POST /tokens → 201, the record plus `token`, shown only this once.
pub async fn create_returns_the_record_and_a_working_token() {
    let h = Harness::new().await;
    let reply = h
        .create(json!({"name": "ci", "scopes": ["reports:read", "a"], "kind": "service", "metadata": {"team": "x"}, "expires_in": 3600}))
        .await;
    let token = reply.body["token"].as_str().unwrap().to_owned();
    let mut record = reply.body.clone();
    record.as_object_mut().unwrap().remove("token");
    assert_is_record(&record);
    assert_eq!(record["name"], "ci");
    assert_eq!(record["kind"], "service");
    assert_eq!(record["scopes"], json!(["a", "reports:read"]));
    assert_eq!(record["status"], "active");
    assert_eq!(record["metadata"], json!({"team": "x"}));
    assert!(record["expires_at"].is_string() && record["last_used_at"].is_null());
    let id = record["id"].as_str().unwrap();
    assert!(token.starts_with(&format!("tg_{id}_")));

    assert_eq!(h.bearer("/me", &token).await, StatusCode::OK);
    assert_eq!(h.bearer("/reports", &token).await, StatusCode::OK);
    let basic = BasicCredential::new(id, &token).to_header_value();
    assert_eq!(h.call_with("/me", basic.to_str().unwrap()).await, StatusCode::OK);

    let got = h.admin(Method::GET, &format!("/tokens/{id}"), None).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body, record, "GET shows the same record, without the token");
    assert!(!got.raw.contains(&token[token.len() - 49..]));
}

pub async fn create_defaults_and_inactive_status() {
    let h = Harness::new().await;
    let reply = h.create(json!({"name": "defaults"})).await;
    assert_eq!(reply.body["kind"], "api");
    assert_eq!(reply.body["scopes"], json!([]));
    assert!(reply.body["expires_at"].is_null());
    let expires_at = (time::OffsetDateTime::now_utc() + time::Duration::hours(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let inactive = h
        .create(json!({"name": "off", "status": "inactive", "expires_at": expires_at}))
        .await;
    assert_eq!(inactive.body["status"], "inactive");
    assert_eq!(
        h.bearer("/me", inactive.body["token"].as_str().unwrap()).await,
        StatusCode::UNAUTHORIZED
    );
}

// CONTRACT §3: 400 malformed JSON or field, with a message naming the field.
pub async fn create_rejects_bad_fields_naming_them() {
    let h = Harness::new().await;
    let past = "2001-01-01T00:00:00Z";
    let cases = [
        (json!({}), "name"),
        (json!({"name": ""}), "name"),
        (json!({"name": "x".repeat(129)}), "name"),
        (json!({"name": "a\u{7}b"}), "name"),
        (json!({"name": "n", "colour": "red"}), "colour"),
        (json!({"name": "n", "scopes": "a"}), "scopes"),
        (json!({"name": "n", "scopes": ["a b"]}), "scopes[0]"),
        (json!({"name": "n", "expires_at": past}), "expires_at"),
        (json!({"name": "n", "expires_at": "tomorrow"}), "expires_at"),
        (json!({"name": "n", "expires_in": 0}), "expires_in"),
        (json!({"name": "n", "expires_in": -5}), "expires_in"),
        (json!({"name": "n", "expires_in": "60"}), "expires_in"),
        (
            json!({"name": "n", "expires_in": 60, "expires_at": "2999-01-01T00:00:00Z"}),
            "expires_",
        ),
        (json!({"name": "n", "status": "paused"}), "status"),
        (json!({"name": "n", "kind": ""}), "kind"),
        (json!({"name": "n", "metadata": [1]}), "metadata"),
        (json!({"name": "n", "metadata": {"big": "x".repeat(4100)}}), "metadata"),
        (json!({"name": "n", "secret": "too-short"}), "secret"),
        (
            json!({"name": "n", "secret": "has spaces in it, which is bad"}),
            "secret",
        ),
        (json!({"name": "n", "secret": "tg_claims_our_prefix_123456"}), "secret"),
        (json!(["name"]), "JSON"),
    ];
    for (body, field) in cases {
        let reply = h.admin(Method::POST, "/tokens", Some(body.clone())).await;
        assert_bad_field(&reply, field);
    }
    // CONTRACT §3 (hardening): an imported secret that is obviously weak is refused, the
    // message naming the rule: too few distinct characters, or too little strength.
    for (weak, rule) in [
        ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "distinct characters"),
        ("abcdefghijklmnop", "bits"),
    ] {
        let reply = h
            .admin(Method::POST, "/tokens", Some(json!({"name": "n", "secret": weak})))
            .await;
        assert_bad_field(&reply, "secret");
        let message = reply.body["error"]["message"].as_str().unwrap();
        assert!(message.contains("too weak") && message.contains(rule), "{message}");
        assert!(!message.contains(weak), "the secret is not echoed: {message}");
    }
    let req = Request::post("/admin/tokens")
        .header(AUTHORIZATION, format!("Bearer {}", h.admin_token))
        .header(CONTENT_TYPE, "application/json")
        .body(Body::from("{\"name\": "))
        .unwrap();
    assert_bad_field(&h.send(req).await, "JSON");
    assert_eq!(h.store.inner.len(), 1, "nothing but the admin token was created");
}

// CONTRACT §3: import an existing secret: usable as an opaque Bearer token and as Basic
// id:secret, never echoed; importing it twice → 409.
pub async fn imported_secret_works_as_bearer_and_basic_and_conflicts_twice() {
    let h = Harness::new().await;
    let secret = "legacy.Opaque-token_0123456789~+/==";
    remember(secret);
    let reply = h
        .create(json!({"name": "legacy", "secret": secret, "scopes": ["reports:read"]}))
        .await;
    assert!(reply.body.get("token").is_none(), "an import never echoes the secret");
    assert!(!reply.raw.contains(secret));
    assert_is_record(&reply.body);
    let id = reply.body["id"].as_str().unwrap();

    assert_eq!(h.bearer("/reports", secret).await, StatusCode::OK);
    let basic = BasicCredential::new(id, secret).to_header_value();
    assert_eq!(h.call_with("/reports", basic.to_str().unwrap()).await, StatusCode::OK);

    let again = h
        .admin(Method::POST, "/tokens", Some(json!({"name": "dup", "secret": secret})))
        .await;
    assert_error(&again, StatusCode::CONFLICT, "conflict");
}

// CONTRACT §2, §3: an imported token may name its own id (1 to 64 base62 characters), so
// that a legacy client's Basic id:secret keeps working; a taken id → 409; an id without a
// secret, or one that breaks the rule → 400 naming `id`.
pub async fn an_import_keeps_the_id_it_names() {
    let h = Harness::new().await;
    let secret = "acct42-legacy-Secret.0123456789";
    remember(secret);
    let reply = h
        .create(json!({"name": "acct42 (legacy)", "id": "acct42", "secret": secret, "scopes": ["reports:read"]}))
        .await;
    assert_eq!(reply.body["id"], "acct42");
    assert!(!reply.raw.contains(secret), "an import never echoes the secret");
    let basic = BasicCredential::new("acct42", secret).to_header_value();
    assert_eq!(h.call_with("/reports", basic.to_str().unwrap()).await, StatusCode::OK);
    assert_eq!(h.bearer("/reports", secret).await, StatusCode::OK);

    let other = "another-legacy-Secret.9876543210";
    remember(other);
    let taken = h
        .admin(
            Method::POST,
            "/tokens",
            Some(json!({"name": "dup", "id": "acct42", "secret": other})),
        )
        .await;
    assert_error(&taken, StatusCode::CONFLICT, "conflict");

    let generated = h
        .admin(Method::POST, "/tokens", Some(json!({"name": "mine", "id": "mine1"})))
        .await;
    assert_error(&generated, StatusCode::BAD_REQUEST, "invalid_request");
    assert!(
        generated.raw.contains("id: may be given only to an imported token"),
        "{}",
        generated.raw
    );

    let too_long = "a".repeat(65);
    for bad in ["", "acct_42", "acct-42", "acct 42", "äcct42", too_long.as_str()] {
        let reply = h
            .admin(
                Method::POST,
                "/tokens",
                Some(json!({"name": "bad", "id": bad, "secret": other})),
            )
            .await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_request");
        assert!(
            reply.raw.contains("id: must be 1 to 64 base62 characters"),
            "{bad:?}: {}",
            reply.raw
        );
    }
    assert_eq!(
        h.store.inner.len(),
        2,
        "the admin token and the one import, nothing else"
    );
}

pub async fn a_secret_tried_before_it_was_imported_works_at_once() {
    let h = Harness::new().await;
    let secret = "imported-after-a-failed-try-0001-XYZ";
    remember(secret);
    assert_eq!(h.bearer("/me", secret).await, StatusCode::UNAUTHORIZED);
    h.create(json!({"name": "late", "secret": secret})).await;
    assert_eq!(
        h.bearer("/me", secret).await,
        StatusCode::OK,
        "the negative cache was cleared"
    );
}

// CONTRACT §3: 200 concurrent creates all listed exactly once by cursor paging.
pub async fn concurrent_creates_are_listed_exactly_once_by_cursor() {
    let h = Arc::new(Harness::new().await);
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let h = h.clone();
            tokio::spawn(async move {
                h.create(json!({"name": format!("t{i}")})).await.body["id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
        })
        .collect();
    let mut created = Vec::new();
    for task in tasks {
        created.push(task.await.unwrap());
    }
    let mut listed = Vec::new();
    let mut path = "/tokens?limit=7".to_owned();
    loop {
        let page = h.admin(Method::GET, &path, None).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(!page.raw.contains("secret") && !page.raw.contains("hash") && !page.raw.contains("\"token\""));
        for record in page.body["tokens"].as_array().unwrap() {
            assert_is_record(record);
            listed.push(record["id"].as_str().unwrap().to_owned());
        }
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/tokens?limit=7&cursor={cursor}"),
            None => break,
        }
    }
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(listed, sorted, "pages come in id order");
    sorted.dedup();
    assert_eq!(sorted.len(), listed.len(), "no id is listed twice");
    created.sort();
    listed.retain(|id| created.binary_search(id).is_ok());
    assert_eq!(listed, created, "every created token is listed");
}

pub async fn listing_filters_and_validates_its_query() {
    let h = Harness::new().await;
    h.create(json!({"name": "a", "scopes": ["x"]})).await;
    h.create(json!({"name": "b", "status": "inactive"})).await;
    let by_scope = h.admin(Method::GET, "/tokens?scope=x", None).await;
    assert_eq!(by_scope.body["tokens"].as_array().unwrap().len(), 1);
    assert!(by_scope.body["next_cursor"].is_null());
    let inactive = h.admin(Method::GET, "/tokens?status=inactive", None).await;
    assert_eq!(inactive.body["tokens"][0]["name"], "b");
    let all = h.admin(Method::GET, "/tokens", None).await;
    assert_eq!(all.body["tokens"].as_array().unwrap().len(), 3);
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("cursor=bogus", "cursor"),
        ("status=x", "status"),
        ("sort=name", "sort"),
    ] {
        assert_bad_field(&h.admin(Method::GET, &format!("/tokens?{query}"), None).await, field);
    }
}

// CONTRACT §3: GET/PATCH/DELETE/rotate of an unknown id → 404.
pub async fn unknown_ids_are_404() {
    let h = Harness::new().await;
    for (method, path, body) in [
        (Method::GET, "/tokens/nope", None),
        (Method::PATCH, "/tokens/nope", Some(json!({"name": "x"}))),
        (Method::DELETE, "/tokens/nope", None),
        (Method::POST, "/tokens/nope/rotate", None),
    ] {
        assert_error(&h.admin(method, path, body).await, StatusCode::NOT_FOUND, "not_found");
    }
}

// CONTRACT §3: PATCH is in force on the next request: scope removal, deactivation and
// reactivation.
pub async fn patches_are_in_force_on_the_next_request() {
    let h = Harness::new().await;
    let reply = h.create(json!({"name": "p", "scopes": ["reports:read"]})).await;
    let token = reply.body["token"].as_str().unwrap().to_owned();
    let path = format!("/tokens/{}", reply.body["id"].as_str().unwrap());
    assert_eq!(h.bearer("/reports", &token).await, StatusCode::OK);

    let patched = h.admin(Method::PATCH, &path, Some(json!({"scopes": []}))).await;
    assert_eq!(patched.status, StatusCode::OK);
    assert_is_record(&patched.body);
    assert_eq!(h.bearer("/reports", &token).await, StatusCode::FORBIDDEN);

    h.admin(Method::PATCH, &path, Some(json!({"status": "inactive"}))).await;
    assert_eq!(h.bearer("/me", &token).await, StatusCode::UNAUTHORIZED);
    h.admin(Method::PATCH, &path, Some(json!({"status": "active"}))).await;
    assert_eq!(h.bearer("/me", &token).await, StatusCode::OK);

    let renamed = h
        .admin(
            Method::PATCH,
            &path,
            Some(json!({"name": "renamed", "metadata": {"k": 1}, "expires_at": "2999-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(renamed.body["name"], "renamed");
    assert_eq!(renamed.body["metadata"], json!({"k": 1}));
    assert_eq!(renamed.body["expires_at"], "2999-01-01T00:00:00Z");
    let cleared = h.admin(Method::PATCH, &path, Some(json!({"expires_at": null}))).await;
    assert!(cleared.body["expires_at"].is_null());
    assert_eq!(cleared.body["name"], "renamed", "absent fields stay");

    assert_bad_field(
        &h.admin(Method::PATCH, &path, Some(json!({"secret": "x"}))).await,
        "secret",
    );
    assert_bad_field(&h.admin(Method::PATCH, &path, Some(json!({"name": ""}))).await, "name");
    // `null` is refused, never read as "no change": `{"scopes": null}` meant to remove
    // privileges must not leave them in place.
    for field in ["name", "scopes", "status", "metadata"] {
        assert_bad_field(
            &h.admin(Method::PATCH, &path, Some(json!({ field: null }))).await,
            field,
        );
    }
    assert_bad_field(
        &h.admin(
            Method::PATCH,
            &path,
            Some(json!({"expires_at": "1999-01-01T00:00:00Z"})),
        )
        .await,
        "expires_at",
    );
}

// CONTRACT §3: DELETE → 204; the token fails on the next request.
pub async fn deleted_token_is_rejected_on_the_next_request() {
    let h = Harness::new().await;
    let reply = h.create(json!({"name": "d"})).await;
    let token = reply.body["token"].as_str().unwrap().to_owned();
    let path = format!("/tokens/{}", reply.body["id"].as_str().unwrap());
    assert_eq!(h.bearer("/me", &token).await, StatusCode::OK);
    let deleted = h.admin(Method::DELETE, &path, None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert!(deleted.raw.is_empty());
    assert_eq!(h.bearer("/me", &token).await, StatusCode::UNAUTHORIZED);
    assert_error(
        &h.admin(Method::DELETE, &path, None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

// CONTRACT §3: rotate keeps id, name, kind, scopes, metadata and expiry; without grace the
// old secret stops at once.
pub async fn rotation_without_grace_ends_the_old_secret_at_once() {
    let h = Harness::new().await;
    let created = h
        .create(json!({"name": "r", "kind": "svc", "scopes": ["s"], "metadata": {"m": true}, "expires_in": 600}))
        .await;
    let old = created.body["token"].as_str().unwrap().to_owned();
    let id = created.body["id"].as_str().unwrap();
    assert_eq!(h.bearer("/me", &old).await, StatusCode::OK);
    let rotated = h.admin(Method::POST, &format!("/tokens/{id}/rotate"), None).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.raw);
    let new = rotated.body["token"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    for field in [
        "id",
        "name",
        "kind",
        "scopes",
        "metadata",
        "expires_at",
        "created_at",
        "status",
    ] {
        assert_eq!(rotated.body[field], created.body[field], "{field} survives rotation");
    }
    assert_eq!(h.bearer("/me", &old).await, StatusCode::UNAUTHORIZED);
    assert_eq!(h.bearer("/me", &new).await, StatusCode::OK);
}

// CONTRACT §3: with grace, the old secret works until now + grace, then never again.
pub async fn rotation_with_grace_keeps_the_old_secret_for_the_grace_period() {
    let h = Harness::new().await;
    let created = h.create(json!({"name": "g"})).await;
    let old = created.body["token"].as_str().unwrap().to_owned();
    let id = created.body["id"].as_str().unwrap();
    let rotated = h
        .admin(
            Method::POST,
            &format!("/tokens/{id}/rotate"),
            Some(json!({"grace_seconds": 1})),
        )
        .await;
    let new = rotated.body["token"].as_str().unwrap().to_owned();
    assert_eq!(
        h.bearer("/me", &old).await,
        StatusCode::OK,
        "old secret works during grace"
    );
    assert_eq!(h.bearer("/me", &new).await, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        h.bearer("/me", &old).await,
        StatusCode::UNAUTHORIZED,
        "old secret ends with the grace period"
    );
    assert_eq!(h.bearer("/me", &new).await, StatusCode::OK);

    assert_bad_field(
        &h.admin(
            Method::POST,
            &format!("/tokens/{id}/rotate"),
            Some(json!({"grace_seconds": -1})),
        )
        .await,
        "grace_seconds",
    );
}

// CONTRACT §3: POST /tokens/check → {"valid", "token"}.
pub async fn check_reports_validity_without_revealing_why() {
    let h = Harness::new().await;
    let created = h.create(json!({"name": "c"})).await;
    let token = created.body["token"].as_str().unwrap().to_owned();
    let id = created.body["id"].as_str().unwrap().to_owned();
    let segment = token.rsplit('_').next().unwrap().to_owned();

    for body in [
        json!({"token": token}),
        json!({"id": id, "secret": token}),
        json!({"id": id, "secret": segment}),
    ] {
        let reply = h.admin(Method::POST, "/tokens/check", Some(body)).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.body["valid"], true);
        assert_is_record(&reply.body["token"]);
        assert_eq!(reply.body["token"]["id"], id.as_str());
    }
    let unknown = super::unknown_token();
    for body in [
        json!({"token": unknown.token().expose()}),
        json!({"token": "not a token at all"}),
        json!({"id": id, "secret": "wrong-secret"}),
    ] {
        let reply = h.admin(Method::POST, "/tokens/check", Some(body)).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.body, json!({"valid": false, "token": null}));
    }
    for body in [
        json!({}),
        json!({"token": token, "id": id, "secret": segment}),
        json!({"id": id}),
    ] {
        assert_bad_field(&h.admin(Method::POST, "/tokens/check", Some(body)).await, "token");
    }
}

// CONTRACT §3: every admin request needs the admin scope; 401/403 as in §1.
pub async fn admin_requests_need_the_admin_scope() {
    let h = Harness::new().await;
    let plain = h.create(json!({"name": "plain", "scopes": ["reports:read"]})).await;
    let plain = plain.body["token"].as_str().unwrap();
    let req = Request::get("/admin/tokens").body(Body::empty()).unwrap();
    let none = h.send(req).await;
    assert_error(&none, StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(none.headers.contains_key(WWW_AUTHENTICATE));
    let req = Request::get("/admin/tokens")
        .header(AUTHORIZATION, format!("Bearer {plain}"))
        .body(Body::empty())
        .unwrap();
    let forbidden = h.send(req).await;
    assert_error(&forbidden, StatusCode::FORBIDDEN, "insufficient_scope");
    assert_eq!(
        forbidden.headers[WWW_AUTHENTICATE],
        "Bearer realm=\"tollgate\", error=\"insufficient_scope\", scope=\"tokens:admin\""
    );
}

// CONTRACT §3: 404 unknown path; 405 with Allow.
pub async fn unknown_paths_are_404_and_wrong_methods_405_with_allow() {
    let h = Harness::new().await;
    for path in [
        "/",
        "/nope",
        "/tokens/",
        "/tokens/a/b",
        "/tokens/a/rotate/x",
        "/owners",
        "/owners/",
        "/owners/a/b",
    ] {
        assert_error(
            &h.admin(Method::GET, path, None).await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
    }
    for (method, path, allow) in [
        (Method::PUT, "/tokens", "GET, POST"),
        (Method::DELETE, "/tokens", "GET, POST"),
        (Method::GET, "/tokens/check", "POST"),
        (Method::POST, "/tokens/abc", "GET, PATCH, DELETE"),
        (Method::GET, "/tokens/abc/rotate", "POST"),
        (Method::POST, "/openapi.json", "GET"),
        (Method::PATCH, "/owners/acme", "GET, PUT"),
        (Method::DELETE, "/owners/acme", "GET, PUT"),
    ] {
        let reply = h.admin(method, path, None).await;
        assert_error(&reply, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
        assert_eq!(reply.headers[ALLOW], allow);
    }
}

// CONTRACT §3: 413 body over the limit, never buffering more than the limit; 415 not JSON.
pub async fn oversized_and_non_json_bodies_are_refused() {
    let h = Harness::with_limit(1024).await;
    let big = json!({"name": "x".repeat(2000)}).to_string();
    let declared = Request::post("/admin/tokens")
        .header(AUTHORIZATION, format!("Bearer {}", h.admin_token))
        .header(CONTENT_TYPE, "application/json")
        .header(CONTENT_LENGTH, big.len())
        .body(Body::from(big.clone()))
        .unwrap();
    assert_error(
        &h.send(declared).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
    // No Content-Length: a stream that goes on and on is cut at the limit.
    let chunks =
        futures_util::stream::iter((0..10_000).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b' '; 1024]))));
    let streamed = Request::post("/admin/tokens")
        .header(AUTHORIZATION, format!("Bearer {}", h.admin_token))
        .header(CONTENT_TYPE, "application/json")
        .body(Body::from_stream(chunks))
        .unwrap();
    assert_error(
        &h.send(streamed).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );

    for content_type in [None, Some("text/plain"), Some("application/x-www-form-urlencoded")] {
        let mut req = Request::post("/admin/tokens").header(AUTHORIZATION, format!("Bearer {}", h.admin_token));
        if let Some(ct) = content_type {
            req = req.header(CONTENT_TYPE, ct);
        }
        let reply = h.send(req.body(Body::from("{\"name\":\"x\"}")).unwrap()).await;
        assert_error(&reply, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    }
    let charset = Request::post("/admin/tokens")
        .header(AUTHORIZATION, format!("Bearer {}", h.admin_token))
        .header(CONTENT_TYPE, "application/json; charset=utf-8")
        .body(Body::from("{\"name\":\"x\"}"))
        .unwrap();
    assert_eq!(h.send(charset).await.status, StatusCode::CREATED);
}

/// A delete the store applied but answered too late is a 503, and still in force on the
/// next request: the cache is dropped whatever the store answered.
pub async fn a_delete_that_times_out_after_committing_still_revokes() {
    let h = Harness::new().await;
    let created = h.create(json!({"name": "slow"})).await;
    let token = created.body["token"].as_str().unwrap().to_owned();
    assert_eq!(h.bearer("/me", &token).await, StatusCode::OK);
    h.store.set_write_delay(Duration::from_millis(500));
    let path = format!("/tokens/{}", created.body["id"].as_str().unwrap());
    assert_error(
        &h.admin(Method::DELETE, &path, None).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    );
    h.store.set_write_delay(Duration::ZERO);
    assert_eq!(h.bearer("/me", &token).await, StatusCode::UNAUTHORIZED);
}

// CONTRACT §3: 503 store unavailable.
pub async fn store_failure_is_503() {
    let h = Harness::new().await;
    // Warm the admin token into the cache so the layer lets the request through.
    assert_eq!(h.admin(Method::GET, "/tokens", None).await.status, StatusCode::OK);
    h.store.set_failing(true);
    for (method, path, body) in [
        (Method::GET, "/tokens", None),
        (Method::POST, "/tokens", Some(json!({"name": "x"}))),
        (Method::GET, "/tokens/abc", None),
        (Method::DELETE, "/tokens/abc", None),
    ] {
        let reply = h.admin(method, path, body).await;
        assert_error(&reply, StatusCode::SERVICE_UNAVAILABLE, "unavailable");
        assert!(reply.headers.contains_key(RETRY_AFTER));
    }
}

/// The OpenAPI document is served, every route it documents exists, and every (path,
/// method) the router answers is documented.
pub async fn openapi_document_matches_the_router() {
    let h = Harness::new().await;
    let reply = h.admin(Method::GET, "/openapi.json", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let doc = reply.body;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let created = h.create(json!({"name": "probe"})).await;
    let id = created.body["id"].as_str().unwrap();
    let paths = doc["paths"].as_object().unwrap();

    let methods = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
    ];
    let templates = [
        "/tokens",
        "/tokens/check",
        "/tokens/revoke",
        "/tokens/{id}",
        "/tokens/{id}/rotate",
        "/owners/{owner}",
        "/openapi.json",
        "/",
        "/health",
        "/tokens/{id}/secret",
    ];
    for template in templates {
        for method in &methods {
            let documented = paths
                .get(template)
                .is_some_and(|item| item.get(method.as_str().to_lowercase()).is_some());
            let path = template.replace("{id}", id).replace("{owner}", "acme");
            let body = [Method::POST, Method::PATCH, Method::PUT]
                .contains(method)
                .then(|| json!({}));
            // DELETE last would remove the probe; use a throwaway id for it.
            let path = if *method == Method::DELETE && documented {
                let doomed = h.create(json!({"name": "doomed"})).await;
                template.replace("{id}", doomed.body["id"].as_str().unwrap())
            } else {
                path
            };
            let reply = h.admin(method.clone(), &path, body).await;
            let unserved = reply.status == StatusCode::METHOD_NOT_ALLOWED
                || (reply.status == StatusCode::NOT_FOUND && reply.body["error"]["message"] == "no such path");
            assert_eq!(
                !unserved, documented,
                "{method} {template}: served = {}, documented = {documented}",
                !unserved
            );
        }
    }
}

/// Every scenario, in order.
pub async fn all() {
    create_returns_the_record_and_a_working_token().await;
    create_defaults_and_inactive_status().await;
    create_rejects_bad_fields_naming_them().await;
    imported_secret_works_as_bearer_and_basic_and_conflicts_twice().await;
    an_import_keeps_the_id_it_names().await;
    a_secret_tried_before_it_was_imported_works_at_once().await;
    concurrent_creates_are_listed_exactly_once_by_cursor().await;
    listing_filters_and_validates_its_query().await;
    unknown_ids_are_404().await;
    patches_are_in_force_on_the_next_request().await;
    deleted_token_is_rejected_on_the_next_request().await;
    rotation_without_grace_ends_the_old_secret_at_once().await;
    rotation_with_grace_keeps_the_old_secret_for_the_grace_period().await;
    check_reports_validity_without_revealing_why().await;
    admin_requests_need_the_admin_scope().await;
    unknown_paths_are_404_and_wrong_methods_405_with_allow().await;
    oversized_and_non_json_bodies_are_refused().await;
    a_delete_that_times_out_after_committing_still_revokes().await;
    store_failure_is_503().await;
    openapi_document_matches_the_router().await;
}
