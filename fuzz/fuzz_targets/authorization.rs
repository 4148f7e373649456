//! The `Authorization` parser (CONTRACT §1) on arbitrary header values.
//!
//! Input: one or more header values separated by `\n`. Beyond "never panics", checks what
//! every parse must satisfy: more than one header is malformed; the layer, which reads
//! structured tokens in its own pass, answers exactly as the plain parser reads the header
//! (400 naming the parser's very error, 401 `unauthorized` for no credentials, 401
//! `invalid_token` for credentials an empty store cannot know); a Bearer credential is
//! token68; a Basic credential re-encodes to a header that parses back to the same id and
//! secret.
#![no_main]

use std::convert::Infallible;
use std::sync::LazyLock;

use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use libfuzzer_sys::fuzz_target;
use tollgate::{AuthLayer, AuthService, Credential, CredentialParser, MemoryStore, Verifier};
use tower_layer::Layer;
use tower_service::Service;

/// A runtime for the layer's lookups (an empty store: every credential is unknown).
static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime")
});

#[derive(Clone)]
struct Ok200;

impl Service<Request<Full<Bytes>>> for Ok200 {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<Full<Bytes>>) -> Self::Future {
        std::future::ready(Ok(Response::new(Full::default())))
    }
}

static LAYER: LazyLock<AuthService<Ok200>> = LazyLock::new(|| {
    let verifier = RUNTIME.block_on(async { Verifier::builder(MemoryStore::new()).build() });
    AuthLayer::new(verifier).layer(Ok200)
});

/// The status the layer answers with, and its body's code and message.
fn layer_answer(headers: &HeaderMap) -> (StatusCode, String, String) {
    use http_body_util::BodyExt as _;

    let mut req = Request::new(Full::default());
    *req.headers_mut() = headers.clone();
    RUNTIME.block_on(async {
        let response = LAYER.clone().call(req).await.expect("infallible");
        let status = response.status();
        let body = response.into_body().collect().await.expect("a full body").to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&body).expect("a JSON error body");
        let text = |key: &str| json["error"][key].as_str().expect("code and message").to_owned();
        (status, text("code"), text("message"))
    })
}

fn is_token68(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

fuzz_target!(|data: &[u8]| {
    let mut headers = HeaderMap::new();
    for part in data.split(|&b| b == b'\n') {
        match HeaderValue::from_bytes(part) {
            Ok(value) => {
                headers.append(AUTHORIZATION, value);
            }
            // Not a value an HTTP stack would hand over.
            Err(_) => return,
        }
    }
    let plain = CredentialParser::default();
    let parsed = plain.parse(&headers);

    if headers.get_all(AUTHORIZATION).iter().count() > 1 {
        assert!(parsed.is_err(), "two headers must be malformed");
    }
    let answered = layer_answer(&headers);
    let expected = match &parsed {
        // The layer's 400 names the very error the parser gives.
        Err(err) => (
            StatusCode::BAD_REQUEST,
            "invalid_request".to_owned(),
            format!("malformed authorization header: {err}"),
        ),
        Ok(None) => (
            StatusCode::UNAUTHORIZED,
            "unauthorized".to_owned(),
            "authentication required".to_owned(),
        ),
        Ok(Some(_)) => (
            StatusCode::UNAUTHORIZED,
            "invalid_token".to_owned(),
            "invalid, expired or revoked credentials".to_owned(),
        ),
    };
    assert_eq!(answered, expected, "the layer disagrees with the parser: {parsed:?}");
    match parsed {
        Ok(Some(Credential::Bearer(token))) => {
            assert!(is_token68(token), "bearer credential is not token68");
            let again = HeaderValue::from_str(&format!("Bearer {token}")).expect("token68 is a header value");
            match plain.parse_value(&again) {
                Ok(Some(Credential::Bearer(same))) => assert_eq!(same, token),
                other => panic!("re-encoded bearer did not parse back: {other:?}"),
            }
        }
        Ok(Some(Credential::Basic(basic))) => {
            assert!(!basic.id().contains(':'));
            assert!(!basic.id().chars().chain(basic.secret().chars()).any(char::is_control));
            let again = basic.to_header_value();
            match plain.parse_value(&again) {
                Ok(Some(Credential::Basic(same))) => {
                    assert_eq!(same.id(), basic.id());
                    assert_eq!(same.secret(), basic.secret());
                }
                other => panic!("re-encoded basic did not parse back: {other:?}"),
            }
        }
        Ok(Some(other)) => panic!("a credential kind this target does not know: {other:?}"),
        Ok(None) | Err(_) => {}
    }
});
