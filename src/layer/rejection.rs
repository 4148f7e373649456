//! [`Rejection`]: a refused request, as the layer answers it and as your code can.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::{Response, StatusCode};

use super::answer::{Answers, DEFAULT_REALM};
use super::grpc::{self, Form};
use super::kind::{Payload, RejectionKind};
use crate::limit::LimitFields;
use crate::verify::VerifyError;

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
    /// The `RateLimit-Policy` and `RateLimit` fields of a refusal by a rate limit.
    limit_fields: Option<LimitFields>,
}

#[derive(Clone, Default)]
enum Style {
    /// The default realm, Bearer and Basic.
    #[default]
    Default,
    /// Another realm, Bearer and Basic.
    Realm(Arc<str>),
    /// A layer's answers: a layer let the request through and an extractor refuses it.
    Layer(Arc<Answers>),
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

    /// Renders with a layer's answers.
    pub(crate) fn rendered_by(mut self, answers: &Arc<Answers>) -> Self {
        self.detail_mut().style = Style::Layer(Arc::clone(answers));
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
        self.kind.row().status
    }

    /// The `code` of the JSON error body.
    #[must_use]
    pub fn code(&self) -> &'static str {
        self.kind.row().code
    }

    /// The `message` of the JSON error body. Every invalid token gets the same message:
    /// an attacker must not learn which check failed.
    #[must_use]
    pub fn message(&self) -> String {
        self.kind.message().into_owned()
    }

    /// The response the layer would send: status, challenges (Bearer and Basic, in this
    /// rejection's realm; the scopes of [`Rejection::insufficient_scope`]), JSON body,
    /// and this rejection in the response's extensions. `B` is any body made from
    /// [`Bytes`] (axum's `Body`, `http_body_util::Full<Bytes>`…).
    #[must_use]
    pub fn to_response<B: From<Bytes>>(&self) -> Response<B> {
        self.render_alone(Form::Http, B::from)
    }

    /// The headers of the gRPC answer the layer would send (`grpc-status`, `grpc-message`,
    /// the retry hints and the challenges), for a `tonic::Status` to be made of.
    #[cfg(feature = "tonic")]
    pub(crate) fn grpc_headers(&self) -> http::HeaderMap {
        let grpc = Form::Grpc(http::HeaderValue::from_static("application/grpc"));
        self.render_alone(grpc, |_| ()).into_parts().0.headers
    }

    /// The response in `form` with this rejection's own answers: a layer's when a layer
    /// made it, otherwise its realm's, Bearer and Basic, and its scopes.
    fn render_alone<B>(&self, form: Form, wrap: impl FnOnce(Bytes) -> B) -> Response<B> {
        let realm = match self.detail.as_ref().map(|detail| &detail.style) {
            Some(Style::Layer(answers)) => return self.render(answers, form, wrap),
            Some(Style::Realm(realm)) => realm,
            Some(Style::Default) | None => DEFAULT_REALM,
        };
        self.render(&Answers::new(realm, true, true, self.required_scopes(), 1), form, wrap)
    }

    /// The gRPC status code a gRPC client is answered with (grpc/grpc
    /// `doc/statuscodes.md`): 16 `UNAUTHENTICATED` for missing, malformed and invalid
    /// credentials, 7 `PERMISSION_DENIED` for a missing scope, 8 `RESOURCE_EXHAUSTED` for a
    /// blocked client, 14 `UNAVAILABLE` for a store outage, 13 `INTERNAL` for a panic. The
    /// numbers are `tonic::Code`'s; with the `tonic` feature a `Rejection` converts into a
    /// `tonic::Status` itself.
    ///
    /// ```
    /// use tollgate::Rejection;
    ///
    /// let refused = Rejection::insufficient_scope(["reports:write"]);
    /// assert_eq!(refused.grpc_code(), 7);
    /// assert_eq!(refused.grpc_message(), "the token lacks a required scope: reports:write");
    /// ```
    #[must_use]
    pub fn grpc_code(&self) -> i32 {
        self.kind.row().grpc.code()
    }

    /// The message a gRPC client is answered with: [`Rejection::message`] (the same for
    /// every invalid token), followed for a missing scope by the scopes it names
    /// ([`Rejection::required_scopes`]; a layer's own refusal names the layer's scopes on
    /// the wire). Not percent-encoded: `grpc-message` is encoded when the layer sends it,
    /// and `tonic::Status` encodes its own.
    #[must_use]
    pub fn grpc_message(&self) -> String {
        grpc::message(&self.kind, &self.required_scopes().join(" ")).into_owned()
    }

    /// The response with `answers`, in `form`, carrying this rejection in its extensions.
    pub(crate) fn render<B>(&self, answers: &Answers, form: Form, wrap: impl FnOnce(Bytes) -> B) -> Response<B> {
        let mut response = answers.respond(&self.kind, form, wrap);
        if let Some(fields) = self.detail.as_ref().and_then(|detail| detail.limit_fields.clone()) {
            fields.apply(response.headers_mut());
        }
        response.extensions_mut().insert(self.clone());
        response
    }

    /// A rejection of this kind that names the token `id` only when the kind says it may
    /// (the token exists): the one rule for naming a refused token, on every path.
    pub(crate) fn naming(kind: RejectionKind, id: Option<&str>) -> Self {
        let named = id.filter(|_| kind.names_token());
        let rejection = Self::new(kind);
        match named {
            Some(id) => rejection.with_token_id(id),
            None => rejection,
        }
    }

    /// A refusal by a rate limit of token `id`, carrying the fields that say where its
    /// limits stand.
    pub(crate) fn rate_limited(retry_after_secs: u64, id: &str, fields: LimitFields) -> Self {
        let mut rejection = Self::naming(RejectionKind::RateLimited { retry_after_secs }, Some(id));
        rejection.detail_mut().limit_fields = Some(fields);
        rejection
    }

    /// The rejection of a credential that did not verify, for a claim that named `id`.
    pub(crate) fn refused(err: &VerifyError, id: Option<&str>) -> Self {
        Self::naming(RejectionKind::from(err), id)
    }
}

impl From<VerifyError> for Rejection {
    fn from(err: VerifyError) -> Self {
        Self::new(RejectionKind::from(&err))
    }
}

/// `code: message`; for an invalid credential, `code: reason` (for logs: a response never
/// shows the reason).
impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind.payload() {
            Payload::Reason(reason) => write!(f, "{}: {reason}", self.code()),
            Payload::None | Payload::Shown(_) | Payload::RetryAfter(_) => {
                write!(f, "{}: {}", self.code(), self.message())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rejection_is_as_small_as_its_kind_and_a_pointer() {
        // It is moved and returned on every refused request, and on every request as the
        // error type of what the layer calls: its details are boxed.
        assert!(std::mem::size_of::<Rejection>() <= std::mem::size_of::<RejectionKind>() + 8);
    }

    #[test]
    fn a_refused_token_is_named_only_when_it_exists() {
        use crate::verify::InvalidReason;
        let named = |err| Rejection::refused(&err, Some("Tok3n")).token_id().map(str::to_owned);
        assert_eq!(
            named(VerifyError::Invalid(InvalidReason::Expired)).as_deref(),
            Some("Tok3n")
        );
        assert_eq!(named(VerifyError::Invalid(InvalidReason::Unknown)), None);
        assert_eq!(named(VerifyError::Timeout(std::time::Duration::from_secs(1))), None);
        let scope = Rejection::naming(RejectionKind::InsufficientScope, Some("Tok3n"));
        assert_eq!(scope.token_id(), Some("Tok3n"));
        assert_eq!(
            Rejection::naming(RejectionKind::InsufficientScope, None).token_id(),
            None
        );
    }

    #[test]
    fn a_malformed_header_is_named_in_the_message_and_an_invalid_token_only_in_logs() {
        let malformed = Rejection::new(RejectionKind::Malformed(crate::credential::CredentialError::Duplicate));
        assert_eq!(
            malformed.message(),
            "malformed authorization header: more than one authorization header"
        );
        let invalid = Rejection::from(VerifyError::Invalid(crate::verify::InvalidReason::Expired));
        assert_eq!(invalid.message(), "invalid, expired or revoked credentials");
        assert_eq!(invalid.to_string(), "invalid_token: token has expired");
        let timeout = Rejection::from(VerifyError::Timeout(std::time::Duration::from_secs(1)));
        assert_eq!(timeout.kind(), &RejectionKind::Unavailable);
    }
}
