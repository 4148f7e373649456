//! The admin API's request decoding (CONTRACT §3): method, path, query, headers and body
//! through the authentication layer and the router, against a fresh `MemoryStore`.
//!
//! Beyond "never panics": no answer is a 500; every answer with a body is the JSON the
//! contract describes; no answer carries the admin token or a stored secret hash.
#![no_main]

use std::cell::RefCell;
use std::convert::Infallible;

use arbitrary::Arbitrary;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use libfuzzer_sys::fuzz_target;
use tollgate::store::TokenStore;
use tollgate::{AdminApi, MemoryStore, SecretHasher, TokenFormat, TokenRecord, Verifier};
use tower_service::Service;

#[derive(Arbitrary, Debug)]
enum Path {
    Tokens,
    Token(String),
    Rotate(String),
    Check,
    Revoke,
    OpenApi,
    KnownToken,
    OwnToken,
    RotateKnown,
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum Auth {
    Admin,
    AdminBasic,
    WithoutScope,
    /// `tokens:self` with the owner `o`.
    SelfService,
    Missing,
    Raw(Vec<u8>),
}

/// A date-time for `expires_at`: any string, one of the instants at the edges of what RFC
/// 3339 can write or `time` can hold with an offset that may carry it over, or any
/// well-formed date-time.
#[derive(Arbitrary, Debug)]
enum Date {
    Raw(String),
    Edge {
        instant: u8,
        offset: u8,
    },
    Any {
        year: u16,
        month: u8,
        day: u8,
        hour: u8,
        minute: u8,
        second: u8,
        fraction: Option<u32>,
        offset_minutes: i16,
    },
}

const EDGE_INSTANTS: [&str; 7] = [
    "0000-01-01T00:00:00",
    "0000-01-01T00:00:00.000000001",
    "1970-01-01T00:00:00",
    "9999-12-31T00:00:00",
    "9999-12-31T23:59:59",
    "9999-12-31T23:59:59.999999999",
    "9999-12-31T23:59:60",
];
const EDGE_OFFSETS: [&str; 8] = [
    "Z", "+00:00", "-00:01", "+00:01", "-01:00", "-23:59", "+23:59", "+14:00",
];

impl Date {
    fn text(self) -> String {
        match self {
            Self::Raw(raw) => raw,
            Self::Edge { instant, offset } => format!(
                "{}{}",
                EDGE_INSTANTS[usize::from(instant) % EDGE_INSTANTS.len()],
                EDGE_OFFSETS[usize::from(offset) % EDGE_OFFSETS.len()]
            ),
            Self::Any {
                year,
                month,
                day,
                hour,
                minute,
                second,
                fraction,
                offset_minutes,
            } => {
                let offset = i32::from(offset_minutes) % (24 * 60);
                let zone = if offset == 0 {
                    "Z".to_owned()
                } else {
                    let sign = if offset < 0 { '-' } else { '+' };
                    format!("{sign}{:02}:{:02}", offset.abs() / 60, offset.abs() % 60)
                };
                let fraction = fraction.map_or_else(String::new, |f| format!(".{f:09}"));
                format!(
                    "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{fraction}{zone}",
                    year % 10_000,
                    month % 13,
                    day % 32,
                    hour % 25,
                    minute % 61,
                    second % 62
                )
            }
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Body {
    Raw(Vec<u8>),
    Create {
        name: Option<String>,
        scopes: Option<Vec<String>>,
        expires_in: Option<i64>,
        expires_at: Option<Date>,
        status: Option<String>,
        kind: Option<String>,
        secret: Option<String>,
        metadata: Option<Vec<(String, String)>>,
        owner: Option<String>,
    },
    Check {
        token: Option<String>,
        id: Option<String>,
        secret: Option<String>,
    },
    Rotate {
        grace_seconds: Option<i64>,
    },
    Revoke {
        owner: Option<String>,
    },
    Patch {
        name: Option<String>,
        /// `Some(None)` sends `null`.
        expires_at: Option<Option<Date>>,
        status: Option<String>,
        scopes: Option<Vec<String>>,
        /// `Some(None)` sends `null`.
        owner: Option<Option<String>>,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    method: u8,
    path: Path,
    query: Option<String>,
    auth: Auth,
    content_type: Option<String>,
    body: Body,
}

fn body_bytes(body: Body) -> Vec<u8> {
    let mut object = serde_json::Map::new();
    let mut put = |key: &str, value: Option<serde_json::Value>| {
        if let Some(value) = value {
            object.insert(key.to_owned(), value);
        }
    };
    match body {
        Body::Raw(bytes) => return bytes,
        Body::Create {
            name,
            scopes,
            expires_in,
            expires_at,
            status,
            kind,
            secret,
            metadata,
            owner,
        } => {
            put("owner", owner.map(Into::into));
            put("name", name.map(Into::into));
            put("scopes", scopes.map(Into::into));
            put("expires_in", expires_in.map(Into::into));
            put("expires_at", expires_at.map(|date| date.text().into()));
            put("status", status.map(Into::into));
            put("kind", kind.map(Into::into));
            put("secret", secret.map(Into::into));
            put(
                "metadata",
                metadata
                    .map(|pairs| serde_json::Value::Object(pairs.into_iter().map(|(k, v)| (k, v.into())).collect())),
            );
        }
        Body::Check { token, id, secret } => {
            put("token", token.map(Into::into));
            put("id", id.map(Into::into));
            put("secret", secret.map(Into::into));
        }
        Body::Rotate { grace_seconds } => put("grace_seconds", grace_seconds.map(Into::into)),
        Body::Revoke { owner } => put("owner", owner.map(Into::into)),
        Body::Patch {
            name,
            expires_at,
            status,
            scopes,
            owner,
        } => {
            put("scopes", scopes.map(Into::into));
            put(
                "owner",
                owner.map(|owner| owner.map_or(serde_json::Value::Null, Into::into)),
            );
            put("name", name.map(Into::into));
            put(
                "expires_at",
                expires_at.map(|date| date.map_or(serde_json::Value::Null, |date| date.text().into())),
            );
            put("status", status.map(Into::into));
        }
    }
    serde_json::Value::Object(object).to_string().into_bytes()
}

thread_local! {
    static RUNTIME: RefCell<tokio::runtime::Runtime> = RefCell::new(
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime"),
    );
}

const METHODS: [&str; 9] = [
    "GET", "POST", "PATCH", "DELETE", "PUT", "HEAD", "OPTIONS", "get", "PoSt",
];

async fn run(input: Input) {
    let store = std::sync::Arc::new(MemoryStore::new());
    let verifier = Verifier::builder(store.clone()).build();
    let format = TokenFormat::default();
    let admin = format.generate().expect("random");
    let plain = format.generate().expect("random");
    let admin_hash = SecretHasher::Sha256.hash(admin.secret_segment().as_bytes());
    let plain_hash = SecretHasher::Sha256.hash(plain.secret_segment().as_bytes());
    let own = format.generate().expect("random");
    let own_hash = SecretHasher::Sha256.hash(own.secret_segment().as_bytes());
    store
        .create(
            TokenRecord::new(own.id(), "self-service", own_hash)
                .with_scopes(["tokens:self", "reports:read"])
                .with_owner(Some("o".to_owned())),
        )
        .await
        .expect("create self-service");
    store
        .create(TokenRecord::new(admin.id(), "admin", admin_hash).with_scopes(["tokens:admin"]))
        .await
        .expect("create admin");
    store
        .create(TokenRecord::new(plain.id(), "plain", plain_hash))
        .await
        .expect("create plain");
    let mut service = AdminApi::builder(store, verifier).build();

    let path = match input.path {
        Path::Tokens => "/tokens".to_owned(),
        Path::Token(id) => format!("/tokens/{id}"),
        Path::Rotate(id) => format!("/tokens/{id}/rotate"),
        Path::Check => "/tokens/check".to_owned(),
        Path::Revoke => "/tokens/revoke".to_owned(),
        Path::OwnToken => format!("/tokens/{}", own.id()),
        Path::OpenApi => "/openapi.json".to_owned(),
        Path::KnownToken => format!("/tokens/{}", plain.id()),
        Path::RotateKnown => format!("/tokens/{}/rotate", plain.id()),
        Path::Raw(raw) => raw,
    };
    let uri = match input.query {
        Some(query) => format!("{path}?{query}"),
        None => path,
    };
    let method = METHODS[usize::from(input.method) % METHODS.len()];
    let mut builder = Request::builder().method(method).uri(uri);
    let self_service = matches!(input.auth, Auth::SelfService);
    match input.auth {
        Auth::Admin => builder = builder.header(AUTHORIZATION, format!("Bearer {}", admin.token().expose())),
        Auth::AdminBasic => {
            let basic = tollgate::BasicCredential::new(admin.id(), admin.secret_segment());
            builder = builder.header(AUTHORIZATION, basic.to_header_value());
        }
        Auth::WithoutScope => builder = builder.header(AUTHORIZATION, format!("Bearer {}", plain.token().expose())),
        Auth::SelfService => builder = builder.header(AUTHORIZATION, format!("Bearer {}", own.token().expose())),
        Auth::Missing => {}
        Auth::Raw(raw) => builder = builder.header(AUTHORIZATION, raw),
    }
    builder = builder.header(
        CONTENT_TYPE,
        input.content_type.as_deref().unwrap_or("application/json"),
    );
    // Bad method, URI or header bytes: an HTTP server would have refused them before us.
    let Ok(request) = builder.body(Full::new(Bytes::from(body_bytes(input.body)))) else {
        return;
    };
    let is_head = request.method() == Method::HEAD;

    let response = match Service::call(&mut service, request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let status = response.status();
    assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "the admin API answered 500");
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e: Infallible| e)
        .unwrap()
        .to_bytes();
    let text = String::from_utf8_lossy(&body);
    assert!(
        !text.contains(admin.token().expose()),
        "the admin token leaked into a response"
    );
    assert!(
        !text.contains(admin.secret_segment()),
        "a secret leaked into a response"
    );
    assert!(
        !text.contains(plain.secret_segment()),
        "a secret leaked into a response"
    );
    assert!(!text.contains(own.secret_segment()), "a secret leaked into a response");
    if self_service {
        // Another owner's tokens do not exist for a self-service principal.
        assert!(
            !text.contains(plain.id()) && !text.contains(admin.id()),
            "a self-service principal saw another owner's token: {status} {text}"
        );
    }
    if body.is_empty() {
        assert!(
            status == StatusCode::NO_CONTENT || is_head,
            "{status} with an empty body"
        );
        return;
    }
    let value: serde_json::Value = serde_json::from_slice(&body).expect("every body is JSON");
    if !status.is_success() {
        assert!(
            value["error"]["code"].is_string(),
            "an error body without a code: {text}"
        );
        assert!(
            value["error"]["message"].is_string(),
            "an error body without a message: {text}"
        );
    }
}

fuzz_target!(|input: Input| {
    RUNTIME.with(|rt| rt.borrow().block_on(run(input)));
});
