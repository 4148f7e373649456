//! [`Rejection`]: why the layer answered a request itself, and the response it sends
//! (CONTRACT §1's table).

use std::fmt;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, Response, StatusCode};

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
}

/// A refused request: the reason, for logs and metrics, and the token id when known.
///
/// ```
/// use tollgate::{InvalidReason, Rejection, RejectionKind};
///
/// let rejection = Rejection::new(RejectionKind::InvalidToken(InvalidReason::Expired));
/// assert_eq!(rejection.status(), http::StatusCode::UNAUTHORIZED);
/// assert_eq!(rejection.code(), "invalid_token");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Rejection {
    kind: RejectionKind,
}

impl Rejection {
    /// A rejection of this kind.
    pub fn new(kind: RejectionKind) -> Self {
        Self { kind }
    }

    /// Why the request was refused.
    #[must_use]
    pub fn kind(&self) -> &RejectionKind {
        &self.kind
    }

    /// The HTTP status it is answered with.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self.kind {
            RejectionKind::MissingCredentials | RejectionKind::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            RejectionKind::Malformed(_) => StatusCode::BAD_REQUEST,
            RejectionKind::InsufficientScope => StatusCode::FORBIDDEN,
            RejectionKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The `code` of the JSON error body.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self.kind {
            RejectionKind::MissingCredentials => "unauthorized",
            RejectionKind::Malformed(_) => "invalid_request",
            RejectionKind::InvalidToken(_) => "invalid_token",
            RejectionKind::InsufficientScope => "insufficient_scope",
            RejectionKind::Unavailable => "unavailable",
        }
    }

    /// The `message` of the JSON error body. Every invalid token gets the same message:
    /// an attacker must not learn which check failed.
    #[must_use]
    pub fn message(&self) -> String {
        match &self.kind {
            RejectionKind::MissingCredentials => "authentication required".to_owned(),
            RejectionKind::Malformed(err) => format!("malformed authorization header: {err}"),
            RejectionKind::InvalidToken(_) => "invalid, expired or revoked credentials".to_owned(),
            RejectionKind::InsufficientScope => "the token lacks a required scope".to_owned(),
            RejectionKind::Unavailable => "token store unavailable, retry later".to_owned(),
        }
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

/// The JSON error body used everywhere: `{"error":{"code":..,"message":..}}`.
#[must_use]
pub fn error_body(code: &str, message: &str) -> Bytes {
    let body = serde_json::json!({ "error": { "code": code, "message": message } });
    Bytes::from(body.to_string())
}

/// The challenges and headers a layer answers with, rendered once when it is built.
#[derive(Clone)]
pub(crate) struct Challenges {
    /// One per enabled scheme.
    missing: Vec<HeaderValue>,
    malformed: HeaderValue,
    invalid: Vec<HeaderValue>,
    insufficient: HeaderValue,
    retry_after: HeaderValue,
}

impl Challenges {
    pub(crate) fn new(realm: &str, bearer: bool, basic: bool, scopes: &[String], retry_after_secs: u64) -> Self {
        let realm = quote(realm);
        let bearer_challenge = format!("Bearer realm={realm}");
        let basic_challenge = header(&format!("Basic realm={realm}, charset=\"UTF-8\""));
        let mut missing = Vec::new();
        if bearer || !basic {
            missing.push(header(&bearer_challenge));
        }
        if basic {
            missing.push(basic_challenge.clone());
        }
        let mut invalid = vec![header(&format!("{bearer_challenge}, error=\"invalid_token\""))];
        if basic {
            invalid.push(basic_challenge);
        }
        Self {
            missing,
            malformed: header(&format!("{bearer_challenge}, error=\"invalid_request\"")),
            invalid,
            insufficient: header(&format!(
                "{bearer_challenge}, error=\"insufficient_scope\", scope={}",
                quote(&scopes.join(" "))
            )),
            retry_after: header(&retry_after_secs.to_string()),
        }
    }

    /// The full response for a rejection.
    pub(crate) fn respond<B>(&self, rejection: &Rejection, wrap: impl FnOnce(Bytes) -> B) -> Response<B> {
        let body = error_body(rejection.code(), &rejection.message());
        let mut response = Response::new(wrap(body));
        *response.status_mut() = rejection.status();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        match rejection.kind {
            RejectionKind::MissingCredentials => {
                for challenge in &self.missing {
                    headers.append(WWW_AUTHENTICATE, challenge.clone());
                }
            }
            RejectionKind::Malformed(_) => {
                headers.insert(WWW_AUTHENTICATE, self.malformed.clone());
            }
            RejectionKind::InvalidToken(_) => {
                for challenge in &self.invalid {
                    headers.append(WWW_AUTHENTICATE, challenge.clone());
                }
            }
            RejectionKind::InsufficientScope => {
                headers.insert(WWW_AUTHENTICATE, self.insufficient.clone());
            }
            RejectionKind::Unavailable => {
                headers.insert(RETRY_AFTER, self.retry_after.clone());
            }
        }
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
        assert_eq!(challenges.missing[0], "Bearer realm=\"my \\\"api\\\"\"");
        assert_eq!(
            challenges.insufficient,
            "Bearer realm=\"my \\\"api\\\"\", error=\"insufficient_scope\", scope=\"a b c\""
        );
    }

    #[test]
    fn error_bodies_are_json() {
        let body = error_body("invalid_token", "say \"no\"");
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value["error"]["code"], "invalid_token");
        assert_eq!(value["error"]["message"], "say \"no\"");
    }
}
