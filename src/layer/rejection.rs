//! [`Rejection`]: why the layer answered a request itself, and the response it sends
//! (behaviour §1's table).

use std::fmt;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Response, StatusCode};

use std::sync::Arc;

use super::DEFAULT_REALM;
use crate::{CredentialError, InvalidReason, VerifyError};

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RejectionKind {
    /// No credentials, or an unsupported scheme: 401 with one challenge per scheme.
    MissingCredentials,
    /// A malformed `Authorization` header: 400 `invalid_request`.
    Malformed(CredentialError),
    /// Credentials that do not authenticate: 401 `invalid_token`.
    InvalidToken(InvalidReason),
    /// A valid token without a required scope: 403 `insufficient_scope`.
    InsufficientScope,
    /// The token store failed or timed out: 503 with `Retry-After`.
    Unavailable,
    /// The client failed too often ([`Damping`](crate::Damping)): 429 with `Retry-After`,
    /// its credentials not verified.
    TooManyFailures {
        /// Seconds until the client's window ends.
        retry_after_secs: u64,
    },
    /// The layer's own code, or code it calls (a [`ClientKey`](crate::ClientKey), say),
    /// panicked while deciding: 500 for this request, and the next is decided afresh.
    Internal,
}

/// What a kind of refusal is answered with: its status, its body's `code` and `message`,
/// and the headers it carries. Every kind is declared once, in [`KINDS`].
struct Spec {
    status: StatusCode,
    code: &'static str,
    message: &'static str,
    headers: Headers,
}

/// The headers of a refusal besides `Content-Type`.
#[derive(Clone, Copy)]
enum Headers {
    /// One challenge per enabled scheme.
    Challenges,
    /// The Bearer challenge with this `error`, and the Basic one too when `and_basic`.
    Error { error: &'static str, and_basic: bool },
    /// The Bearer challenge naming the required scopes.
    InsufficientScope,
    /// The layer's `Retry-After`.
    RetryAfter,
    /// A `Retry-After` of the client's own, added when responding.
    ClientRetryAfter,
    /// Nothing more.
    None,
}

/// Every kind of refusal, in [`slot`] order.
const KINDS: [Spec; 7] = [
    Spec {
        status: StatusCode::UNAUTHORIZED,
        code: "unauthorized",
        message: "authentication required",
        headers: Headers::Challenges,
    },
    Spec {
        status: StatusCode::BAD_REQUEST,
        code: "invalid_request",
        // Followed by what is wrong with the header.
        message: "malformed authorization header",
        headers: Headers::Error {
            error: "invalid_request",
            and_basic: false,
        },
    },
    Spec {
        status: StatusCode::UNAUTHORIZED,
        code: "invalid_token",
        // The same for every reason: an attacker must not learn which check failed.
        message: "invalid, expired or revoked credentials",
        headers: Headers::Error {
            error: "invalid_token",
            and_basic: true,
        },
    },
    Spec {
        status: StatusCode::FORBIDDEN,
        code: "insufficient_scope",
        message: "the token lacks a required scope",
        headers: Headers::InsufficientScope,
    },
    Spec {
        status: StatusCode::SERVICE_UNAVAILABLE,
        code: "unavailable",
        message: "token store unavailable, retry later",
        headers: Headers::RetryAfter,
    },
    Spec {
        status: StatusCode::TOO_MANY_REQUESTS,
        code: "too_many_requests",
        message: "too many failed authentication attempts, retry later",
        headers: Headers::ClientRetryAfter,
    },
    Spec {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        code: "internal_error",
        message: "the request could not be authenticated",
        headers: Headers::None,
    },
];

/// Where a kind is declared in [`KINDS`].
fn slot(kind: &RejectionKind) -> usize {
    match kind {
        RejectionKind::MissingCredentials => 0,
        RejectionKind::Malformed(_) => 1,
        RejectionKind::InvalidToken(_) => 2,
        RejectionKind::InsufficientScope => 3,
        RejectionKind::Unavailable => 4,
        RejectionKind::TooManyFailures { .. } => 5,
        RejectionKind::Internal => 6,
    }
}

/// A refused request: why, and which token when that is known.
///
/// Every response the layer answers itself carries its `Rejection` in the response's
/// extensions, so your own middleware (access logs, metrics) can tell why a request was
/// refused without parsing the body:
///
/// ```
/// use http::{Request, StatusCode};
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
/// use tollgate::{AuthLayer, MemoryStore, Rejection, RejectionKind, Verifier};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let verifier = Verifier::builder(MemoryStore::new()).build();
/// let service = ServiceBuilder::new()
///     .layer(AuthLayer::new(verifier))
///     .service(service_fn(|_: Request<String>| async {
///         Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
///     }));
/// let response = service.oneshot(Request::new(String::new())).await.unwrap();
/// let rejection = response.extensions().get::<Rejection>().unwrap();
/// assert_eq!(rejection.kind(), &RejectionKind::MissingCredentials);
/// assert_eq!(rejection.status(), StatusCode::UNAUTHORIZED);
/// # }
/// ```
///
/// A handler can answer with one of its own, rendered as the layer renders it (the default
/// realm unless [`Rejection::realm`] says otherwise); with the `axum` feature it is an
/// `IntoResponse`:
///
/// ```
/// use tollgate::Rejection;
///
/// let response: http::Response<http_body_util::Full<bytes::Bytes>> =
///     Rejection::insufficient_scope(["reports:write"]).to_response();
/// assert_eq!(response.status(), 403);
/// assert_eq!(
///     response.headers()["www-authenticate"],
///     "Bearer realm=\"tollgate\", error=\"insufficient_scope\", scope=\"reports:write\""
/// );
/// ```
#[derive(Clone)]
#[must_use]
pub struct Rejection {
    kind: RejectionKind,
    /// Boxed, and absent for most refusals: a rejection is built and moved on every refused
    /// request, and returned (as `Err`) from functions the layer calls on every request.
    detail: Option<Box<Detail>>,
}

#[derive(Clone, Default)]
struct Detail {
    token_id: Option<Arc<str>>,
    /// The scopes a handler-made `insufficient_scope` rejection names.
    scopes: Vec<String>,
    /// How [`Rejection::to_response`] renders it; the layer renders its own with its
    /// prebuilt challenges instead.
    style: Style,
}

#[derive(Clone, Default)]
enum Style {
    /// The default realm, Bearer and Basic.
    #[default]
    Default,
    /// Another realm, Bearer and Basic.
    Realm(Arc<str>),
    /// A layer's challenges: a layer let the request through and an extractor refuses it.
    Layer(Arc<Challenges>),
}

impl fmt::Debug for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rejection")
            .field("kind", &self.kind)
            .field("token_id", &self.token_id())
            .field("scopes", &self.required_scopes())
            .finish_non_exhaustive()
    }
}

/// Rejections are equal when they refuse for the same reason, the same token and the same
/// scopes, however they would be rendered.
impl PartialEq for Rejection {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
            && self.token_id() == other.token_id()
            && self.required_scopes() == other.required_scopes()
    }
}

impl Eq for Rejection {}

impl Rejection {
    /// A rejection of this kind.
    pub fn new(kind: RejectionKind) -> Self {
        Self { kind, detail: None }
    }

    fn detail_mut(&mut self) -> &mut Detail {
        self.detail.get_or_insert_with(Box::default)
    }

    /// 401 with the challenges: the request has no credentials.
    pub fn missing_credentials() -> Self {
        Self::new(RejectionKind::MissingCredentials)
    }

    /// 403 `insufficient_scope`, naming in its challenge the scopes the request needs.
    pub fn insufficient_scope<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut rejection = Self::new(RejectionKind::InsufficientScope);
        rejection.detail_mut().scopes = scopes.into_iter().map(Into::into).collect();
        rejection
    }

    /// The realm this rejection's challenges name when it is rendered with
    /// [`Rejection::to_response`] (default `tollgate`): give the one your layer uses, if
    /// you set one.
    pub fn realm(mut self, realm: impl Into<Arc<str>>) -> Self {
        self.detail_mut().style = Style::Realm(realm.into());
        self
    }

    /// Renders with a layer's challenges.
    pub(crate) fn rendered_by(mut self, challenges: &Arc<Challenges>) -> Self {
        self.detail_mut().style = Style::Layer(Arc::clone(challenges));
        self
    }

    /// Notes which token was refused.
    pub fn with_token_id(mut self, id: impl Into<Arc<str>>) -> Self {
        self.detail_mut().token_id = Some(id.into());
        self
    }

    /// Why the request was refused.
    #[must_use]
    pub fn kind(&self) -> &RejectionKind {
        &self.kind
    }

    /// The id of the token that was refused, when the request named one that exists (a
    /// wrong secret, an expired or inactive token, a missing scope). Never the id of an
    /// unknown token: a client that put a secret where the id goes must not see it logged.
    #[must_use]
    pub fn token_id(&self) -> Option<&str> {
        self.detail.as_ref()?.token_id.as_deref()
    }

    /// The scopes a handler-made [`Rejection::insufficient_scope`] names.
    #[must_use]
    pub fn required_scopes(&self) -> &[String] {
        self.detail.as_ref().map_or(&[], |detail| &detail.scopes)
    }

    /// The HTTP status it is answered with.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        KINDS[slot(&self.kind)].status
    }

    /// The `code` of the JSON error body.
    #[must_use]
    pub fn code(&self) -> &'static str {
        KINDS[slot(&self.kind)].code
    }

    /// The `message` of the JSON error body. Every invalid token gets the same message:
    /// an attacker must not learn which check failed.
    #[must_use]
    pub fn message(&self) -> String {
        let message = KINDS[slot(&self.kind)].message;
        match &self.kind {
            RejectionKind::Malformed(err) => format!("{message}: {err}"),
            _ => message.to_owned(),
        }
    }

    /// The response the layer would send: status, challenges (Bearer and Basic, in this
    /// rejection's realm; the scopes of [`Rejection::insufficient_scope`]), JSON body,
    /// and this rejection in the response's extensions. `B` is any body made from
    /// [`Bytes`] (axum's `Body`, `http_body_util::Full<Bytes>`…).
    #[must_use]
    pub fn to_response<B: From<Bytes>>(&self) -> Response<B> {
        let realm = match self.detail.as_ref().map(|detail| &detail.style) {
            Some(Style::Layer(challenges)) => return challenges.respond(self, B::from),
            Some(Style::Realm(realm)) => realm,
            Some(Style::Default) | None => DEFAULT_REALM,
        };
        Challenges::new(realm, true, true, self.required_scopes(), 1).respond(self, B::from)
    }
}

impl From<VerifyError> for Rejection {
    fn from(err: VerifyError) -> Self {
        match err {
            VerifyError::Invalid(reason) => Self::new(RejectionKind::InvalidToken(reason)),
            _ => Self::new(RejectionKind::Unavailable),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            RejectionKind::InvalidToken(reason) => write!(f, "{}: {reason}", self.code()),
            _ => write!(f, "{}: {}", self.code(), self.message()),
        }
    }
}

/// The JSON error body the layer and the admin API answer with:
/// `{"error":{"code":..,"message":..}}`.
#[must_use]
pub(crate) fn error_body(code: &str, message: &str) -> Bytes {
    let body = serde_json::json!({ "error": { "code": code, "message": message } });
    Bytes::from(body.to_string())
}

/// The headers and bodies a layer answers with, rendered once when it is built: a
/// rejection clones a ready header map instead of building one.
#[derive(Clone)]
pub(crate) struct Challenges {
    /// Headers per kind, in [`KINDS`] order.
    headers: [HeaderMap; KINDS.len()],
}

/// The bodies of the rejections, in [`KINDS`] order: they depend on no setting, so they are
/// rendered once per process and shared without reference counting. (A malformed header's
/// body names its error, and is rendered each time.)
static BODIES: std::sync::LazyLock<[String; KINDS.len()]> = std::sync::LazyLock::new(|| {
    KINDS
        .each_ref()
        .map(|spec| String::from_utf8(error_body(spec.code, spec.message).to_vec()).expect("JSON is UTF-8"))
});

impl Challenges {
    pub(crate) fn new(realm: &str, bearer: bool, basic: bool, scopes: &[String], retry_after_secs: u64) -> Self {
        let realm = quote(realm);
        let bearer_challenge = format!("Bearer realm={realm}");
        let basic_challenge = header(&format!("Basic realm={realm}, charset=\"UTF-8\""));
        let headers = KINDS.each_ref().map(|spec| {
            let mut map = HeaderMap::with_capacity(3);
            map.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            match spec.headers {
                Headers::Challenges => {
                    if bearer || !basic {
                        map.append(WWW_AUTHENTICATE, header(&bearer_challenge));
                    }
                    if basic {
                        map.append(WWW_AUTHENTICATE, basic_challenge.clone());
                    }
                }
                Headers::Error { error, and_basic } => {
                    map.append(
                        WWW_AUTHENTICATE,
                        header(&format!("{bearer_challenge}, error=\"{error}\"")),
                    );
                    if and_basic && basic {
                        map.append(WWW_AUTHENTICATE, basic_challenge.clone());
                    }
                }
                Headers::InsufficientScope => {
                    map.append(
                        WWW_AUTHENTICATE,
                        header(&format!(
                            "{bearer_challenge}, error=\"insufficient_scope\", scope={}",
                            quote(&scopes.join(" "))
                        )),
                    );
                }
                Headers::RetryAfter => {
                    map.insert(RETRY_AFTER, header(&retry_after_secs.to_string()));
                }
                Headers::ClientRetryAfter | Headers::None => {}
            }
            map
        });
        Self { headers }
    }

    /// The full response for a rejection, which it carries in its extensions.
    pub(crate) fn respond<B>(&self, rejection: &Rejection, wrap: impl FnOnce(Bytes) -> B) -> Response<B> {
        let slot = slot(&rejection.kind);
        let body = match rejection.kind {
            RejectionKind::Malformed(_) => error_body(rejection.code(), &rejection.message()),
            _ => {
                let bodies: &'static [String; KINDS.len()] = &BODIES;
                Bytes::from_static(bodies[slot].as_bytes())
            }
        };
        let mut response = Response::new(wrap(body));
        *response.status_mut() = KINDS[slot].status;
        *response.headers_mut() = self.headers[slot].clone();
        if let RejectionKind::TooManyFailures { retry_after_secs } = rejection.kind {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        response.extensions_mut().insert(rejection.clone());
        response
    }
}

/// An RFC 9110 quoted-string.
fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A header value from configuration; characters a header cannot carry become `?`.
fn header(value: &str) -> HeaderValue {
    let cleaned: String = value
        .chars()
        .map(|c| if c == '\t' || (' '..='~').contains(&c) { c } else { '?' })
        .collect();
    HeaderValue::try_from(cleaned).expect("visible ascii is a valid header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn realms_are_quoted_and_escaped() {
        let challenges = Challenges::new("my \"api\"", true, true, &["a".into(), "b c".into()], 1);
        assert_eq!(
            challenges.headers[0][WWW_AUTHENTICATE],
            "Bearer realm=\"my \\\"api\\\"\""
        );
        assert_eq!(
            challenges.headers[3][WWW_AUTHENTICATE],
            "Bearer realm=\"my \\\"api\\\"\", error=\"insufficient_scope\", scope=\"a b c\""
        );
    }

    #[test]
    fn a_rejection_is_as_small_as_its_kind_and_a_pointer() {
        // It is moved and returned on every refused request, and on every request as the
        // error type of what the layer calls: its details are boxed.
        assert!(std::mem::size_of::<Rejection>() <= std::mem::size_of::<RejectionKind>() + 8);
    }

    #[test]
    fn error_bodies_are_json() {
        let body = error_body("invalid_token", "say \"no\"");
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value["error"]["code"], "invalid_token");
        assert_eq!(value["error"]["message"], "say \"no\"");
    }
}
