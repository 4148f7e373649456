//! axum integration (feature `axum`): [`Principal`] as an extractor, and [`Rejection`] as
//! a response.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;

use crate::layer::Rejection;
use crate::principal::Principal;

/// The principal the [`AuthLayer`](crate::AuthLayer) in front authenticated. Without one
/// (no layer ran, or it let an anonymous request through), the request is answered 401
/// with the challenges: the layer's own when it let the request through, the default
/// realm's otherwise. Never axum's 500 for a missing extension.
///
/// ```
/// use axum::{Router, routing::get};
/// use tollgate::{AuthLayer, MemoryStore, Principal, Rejection, Verifier};
///
/// // 401 with the challenges when no valid token came (or no layer ran).
/// async fn me(principal: Principal) -> String {
///     principal.name().to_owned()
/// }
///
/// // `None` for an anonymous request, behind a layer that allows them.
/// async fn greet(principal: Option<Principal>) -> String {
///     principal.map_or_else(|| "hello, stranger".to_owned(), |p| format!("hello, {}", p.name()))
/// }
///
/// // A handler's own 403, with tollgate's `insufficient_scope` challenge.
/// async fn delete_report(principal: Principal) -> Result<&'static str, Rejection> {
///     principal.require_scopes(["reports:write"])?;
///     Ok("deleted")
/// }
///
/// let verifier = Verifier::builder(MemoryStore::new()).build();
/// let app: Router = Router::new()
///     .route("/me", get(me))
///     .route("/reports", get(delete_report))
///     .route("/", get(greet))
///     .layer(AuthLayer::builder(verifier).allow_anonymous(true).build().same_body());
/// # drop(app);
/// ```
impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Rejection> {
        Principal::from_extensions(&parts.extensions)
    }
}

/// `Option<Principal>`: `None` for a request the layer let through without credentials
/// ([`AuthLayerBuilder::allow_anonymous`](crate::AuthLayerBuilder::allow_anonymous)).
impl<S: Send + Sync> OptionalFromRequestParts<S> for Principal {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Principal>().cloned())
    }
}

/// Renders as the layer would: see [`Rejection::to_response`].
impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        self.to_response()
    }
}
