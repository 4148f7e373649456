//! [`ApiError`]: every error the admin API answers with, as behaviour §3.1 lists them.

use bytes::Bytes;
use http::header::{ALLOW, CONTENT_TYPE};
use http::{HeaderValue, Response, StatusCode};
use http_body_util::Full;

use crate::layer::{Rejection, RejectionKind, error_body};
use crate::manage::ManageError;

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
    /// 404: an owner the principal may not see (self-service asking for another owner).
    UnknownOwner,
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
    /// 501 `not_implemented`: the store cannot do this (it keeps no owner settings, say);
    /// unlike 503, retrying will not help. The message says what it lacks.
    NotImplemented(String),
    /// 503: the store failed or timed out.
    Unavailable,
    /// 500: the handler panicked.
    Internal,
}

impl ApiError {
    pub(crate) fn bad(message: impl Into<String>) -> Self {
        Self::BadRequest(message.into())
    }

    /// How this error is answered: as the layer's refusal of the same kind, with its
    /// challenges or `Retry-After` (401, 403, 503), or as a JSON error of its own status,
    /// code and message. One arm per error.
    fn answer(&self, admin_scope: &str) -> Answer {
        match self {
            Self::Unauthenticated => Answer::Refusal(Rejection::missing_credentials(), None),
            Self::Forbidden { scopes, message } => {
                let scopes = if scopes.is_empty() {
                    vec![admin_scope.to_owned()]
                } else {
                    scopes.clone()
                };
                Answer::Refusal(Rejection::insufficient_scope(scopes), message.clone())
            }
            // The layer's own 503: one status, message and Retry-After for both.
            Self::Unavailable => Answer::Refusal(Rejection::new(RejectionKind::Unavailable), None),
            Self::BadRequest(message) => Answer::Json(StatusCode::BAD_REQUEST, "invalid_request", message.clone()),
            Self::NotFound => Answer::Json(StatusCode::NOT_FOUND, "not_found", "no token with this id".to_owned()),
            Self::UnknownOwner => Answer::Json(StatusCode::NOT_FOUND, "not_found", "no such owner".to_owned()),
            Self::NoRoute => Answer::Json(StatusCode::NOT_FOUND, "not_found", "no such path".to_owned()),
            Self::MethodNotAllowed(allow) => Answer::Json(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("method not allowed; allowed: {allow}"),
            ),
            Self::Conflict(message) => Answer::Json(StatusCode::CONFLICT, "conflict", (*message).to_owned()),
            Self::TooLarge(limit) => Answer::Json(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("request body is over the limit of {limit} bytes"),
            ),
            Self::UnsupportedMediaType => Answer::Json(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "request body must be application/json".to_owned(),
            ),
            Self::NotImplemented(message) => {
                Answer::Json(StatusCode::NOT_IMPLEMENTED, "not_implemented", message.clone())
            }
            Self::Internal => Answer::Json(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "the request failed; it may succeed if sent again".to_owned(),
            ),
        }
    }

    /// The response, with challenges in `realm`; `admin_scope` is what a 403 names when
    /// nothing more precise is known.
    pub(crate) fn into_response(self, realm: &str, admin_scope: &str) -> Response<Full<Bytes>> {
        match self.answer(admin_scope) {
            Answer::Refusal(rejection, message) => {
                let rejection = rejection.realm(realm);
                let mut response: Response<Full<Bytes>> = rejection.to_response();
                if let Some(message) = message {
                    *response.body_mut() = Full::new(error_body(rejection.code(), &message));
                }
                response
            }
            Answer::Json(status, code, message) => {
                let mut response = json_response(status, error_body(code, &message).to_vec());
                if let Self::MethodNotAllowed(allow) = self {
                    response.headers_mut().insert(ALLOW, HeaderValue::from_static(allow));
                }
                response
            }
        }
    }
}

/// How an admin error is answered.
enum Answer {
    /// As the layer refuses, its body's message replaced when one is given.
    Refusal(Rejection, Option<String>),
    /// A JSON error: status, code, message.
    Json(StatusCode, &'static str, String),
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
            ManageError::Unsupported(_) => Self::NotImplemented(err.to_string()),
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
    use crate::store::StoreError;
    use crate::token::TokenError;

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
                ManageError::Unsupported("this store keeps no owner settings"),
            ]
        };
        for (err, named) in errors().into_iter().zip(errors()) {
            let answered = ApiError::from(err).into_response("r", "tokens:admin").status();
            assert_eq!(answered, named.status(), "{named:?}");
        }
    }

    // The codes the admin API shares with the layer are the layer's: a client reads one
    // `invalid_request` and one `internal_error`.
    #[test]
    fn the_codes_the_admin_api_shares_with_the_layer_are_the_layers() {
        let code = |err: ApiError| match err.answer("a") {
            Answer::Json(_, code, _) => code,
            Answer::Refusal(rejection, _) => rejection.code(),
        };
        let malformed = Rejection::new(RejectionKind::Malformed(crate::credential::CredentialError::Duplicate));
        assert_eq!(code(ApiError::bad("x")), malformed.code());
        assert_eq!(code(ApiError::Internal), Rejection::new(RejectionKind::Internal).code());
        assert_eq!(
            code(ApiError::Unavailable),
            Rejection::new(RejectionKind::Unavailable).code()
        );
    }
}
