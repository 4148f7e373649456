//! What a layer leaves in a request's extensions for those further in: the
//! [`Principal`] it authenticated, or, for a request it let through without credentials,
//! the answers a `Principal` extractor refuses it with.

use std::sync::Arc;

use super::answer::Answers;
use super::kind::RejectionKind;
use super::rejection::Rejection;
use crate::principal::Principal;

/// Left in the extensions of a request the layer let through without credentials: the
/// answers a [`Principal`] extractor answers 401 with.
#[derive(Clone)]
pub(super) struct Anonymous(Arc<Answers>);

impl Anonymous {
    pub(super) fn new(answers: &Arc<Answers>) -> Self {
        Self(Arc::clone(answers))
    }
}

impl Principal {
    /// The principal an [`AuthLayer`](crate::AuthLayer) further out put in these request
    /// extensions; otherwise the 401 to answer with, with that layer's challenges when it
    /// let the request through anonymously, the default realm's when no layer ran. For
    /// handlers that are not axum's (where `Principal` is an extractor).
    ///
    /// ```
    /// let refused = tollgate::Principal::from_extensions(&http::Extensions::new()).unwrap_err();
    /// let response: http::Response<http_body_util::Full<bytes::Bytes>> = refused.to_response();
    /// assert_eq!(response.status(), 401);
    /// assert_eq!(response.headers()["www-authenticate"], "Bearer realm=\"tollgate\"");
    /// ```
    ///
    /// # Errors
    /// The 401 rejection when the extensions hold no principal.
    pub fn from_extensions(extensions: &http::Extensions) -> Result<Self, Rejection> {
        if let Some(principal) = extensions.get::<Self>() {
            return Ok(principal.clone());
        }
        let rejection = Rejection::new(RejectionKind::MissingCredentials);
        Err(match extensions.get::<Anonymous>() {
            Some(Anonymous(answers)) => rejection.rendered_by(answers),
            None => rejection,
        })
    }
}
