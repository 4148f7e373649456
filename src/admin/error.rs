//! [`ApiError`]: every error the admin API answers with, as behaviour §3.1 lists them.

use bytes::Bytes;
use http::header::{ALLOW, CONTENT_TYPE};
use http::{HeaderValue, Response, StatusCode};
use http_body_util::Full;

use crate::layer::error_body;
use crate::{ManageError, Rejection, RejectionKind};

/// An admin request that failed, and how it is answered.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// 400: malformed JSON, query or field. The message names the field.
    BadRequest(String),
    /// 401: no principal; only when the API is served without its layer.
    Unauthenticated,
    /// 403 `insufficient_scope`: the principal may not do this. The challenge names
    /// `scopes` (the admin scope when empty); the body says `message`, or what the layer's
    /// 403 says.
    Forbidden {
        scopes: Vec<String>,
        message: Option<String>,
    },
    /// 404: unknown id.
    NotFound,
    /// 404: unknown path.
    NoRoute,
    /// 405, with the methods the path allows.
    MethodNotAllowed(&'static str),
    /// 409: e.g. an imported secret already in use.
    Conflict(&'static str),
    /// 413: the body is over the limit.
    TooLarge(usize),
    /// 415: a body that is not JSON.
    UnsupportedMediaType,
    /// 503: the store failed or timed out.
    Unavailable,
    /// 500: the handler panicked.
    Internal,
}

impl ApiError {
    pub(crate) fn bad(message: impl Into<String>) -> Self {
        Self::BadRequest(message.into())
    }

    /// The response, with challenges in `realm`; `admin_scope` is what a 403 names when
    /// nothing more precise is known.
    pub(crate) fn into_response(self, realm: &str, admin_scope: &str) -> Response<Full<Bytes>> {
        let (status, code, message) = match &self {
            Self::Unauthenticated => {
                return Rejection::missing_credentials().realm(realm).to_response();
            }
            Self::Forbidden { scopes, message } => {
                let scopes = if scopes.is_empty() {
                    vec![admin_scope.to_owned()]
                } else {
                    scopes.clone()
                };
                let rejection = Rejection::insufficient_scope(scopes).realm(realm);
                let mut response: Response<Full<Bytes>> = rejection.to_response();
                if let Some(message) = message {
                    *response.body_mut() = Full::new(error_body(rejection.code(), message));
                }
                return response;
            }
            Self::BadRequest(message) => (StatusCode::BAD_REQUEST, "invalid_request", message.clone()),
            Self::NotFound => (StatusCode::NOT_FOUND, "not_found", "no token with this id".to_owned()),
            Self::NoRoute => (StatusCode::NOT_FOUND, "not_found", "no such path".to_owned()),
            Self::MethodNotAllowed(allow) => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("method not allowed; allowed: {allow}"),
            ),
            Self::Conflict(message) => (StatusCode::CONFLICT, "conflict", (*message).to_owned()),
            Self::TooLarge(limit) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("request body is over the limit of {limit} bytes"),
            ),
            Self::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "request body must be application/json".to_owned(),
            ),
            // The layer's own 503: one status, message and Retry-After for both.
            Self::Unavailable => {
                return Rejection::new(RejectionKind::Unavailable).realm(realm).to_response();
            }
            Self::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "the request failed; it may succeed if sent again".to_owned(),
            ),
        };
        let mut response = Response::new(Full::new(error_body(code, &message)));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Self::MethodNotAllowed(allow) = self {
            headers.insert(ALLOW, HeaderValue::from_static(allow));
        }
        response
    }
}

impl From<ManageError> for ApiError {
    fn from(err: ManageError) -> Self {
        match err {
            ManageError::Invalid { .. } => Self::BadRequest(err.to_string()),
            ManageError::NotFound => Self::NotFound,
            ManageError::DuplicateId => Self::Conflict("a token with this id already exists"),
            ManageError::DuplicateSecret => Self::Conflict("this secret is already in use by another token"),
            ManageError::NotAllowed { rule, scopes } => Self::Forbidden {
                scopes,
                message: Some(rule),
            },
            err => {
                tracing::error!(target: "tollgate::admin", error = %err, "token store failed");
                Self::Unavailable
            }
        }
    }
}

/// Bytes as a JSON success response.
pub(crate) fn json_response(status: StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{StoreError, TokenError};

    #[test]
    fn the_admin_api_answers_each_manager_error_with_the_status_it_names() {
        let errors = || {
            vec![
                ManageError::invalid("name", "is empty"),
                ManageError::NotFound,
                ManageError::DuplicateId,
                ManageError::DuplicateSecret,
                ManageError::Store(StoreError::unavailable("down")),
                ManageError::Timeout(Duration::from_secs(1)),
                ManageError::NotAllowed {
                    rule: "cannot grant x".to_owned(),
                    scopes: vec!["x".to_owned()],
                },
                ManageError::Random(TokenError::Malformed),
            ]
        };
        for (err, named) in errors().into_iter().zip(errors()) {
            let answered = ApiError::from(err).into_response("r", "tokens:admin").status();
            assert_eq!(answered, named.status(), "{named:?}");
        }
    }
}
