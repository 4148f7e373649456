//! [`RequireScopesLayer`]: scopes for a sub-router, checked against the [`Principal`] an
//! [`AuthLayer`](super::AuthLayer) further out put in the request.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use super::{AuthBody, Challenges, Rejection, RejectionKind, ResponseFuture};
use crate::Principal;

/// Requires scopes of an already authenticated request: 403 when one is missing, 401 when
/// there is no [`Principal`] at all (an anonymous pass-through). Make one with
/// [`AuthLayer::require_scopes`](super::AuthLayer::require_scopes), so that it answers
/// with the same realm and challenges.
///
/// ```
/// use tollgate::{AuthLayer, MemoryStore, Verifier};
///
/// let auth = AuthLayer::new(Verifier::builder(MemoryStore::new()).build());
/// let reports_only = auth.require_scopes(["reports:read"]);
/// // axum: Router::new().route("/reports", get(h).layer(reports_only)).layer(auth)
/// # drop(reports_only);
/// ```
#[derive(Clone)]
#[must_use = "a layer does nothing until it wraps a service"]
pub struct RequireScopesLayer {
    inner: Arc<ScopeConfig>,
}

struct ScopeConfig {
    scopes: Vec<String>,
    challenges: Challenges,
}

impl fmt::Debug for RequireScopesLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireScopesLayer")
            .field("scopes", &self.inner.scopes)
            .finish()
    }
}

impl RequireScopesLayer {
    pub(super) fn new(scopes: Vec<String>, challenges: Challenges) -> Self {
        Self {
            inner: Arc::new(ScopeConfig { scopes, challenges }),
        }
    }
}

impl<S> Layer<S> for RequireScopesLayer {
    type Service = RequireScopes<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireScopes {
            inner,
            config: Arc::clone(&self.inner),
        }
    }
}

/// The service made by [`RequireScopesLayer`].
pub struct RequireScopes<S> {
    inner: S,
    config: Arc<ScopeConfig>,
}

/// Response future of [`RequireScopes`].
pub type RequireScopesFuture<F, B, E> = ResponseFuture<F, B, E>;

impl<S: Clone> Clone for RequireScopes<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            config: Arc::clone(&self.config),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for RequireScopes<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireScopes")
            .field("inner", &self.inner)
            .field("scopes", &self.config.scopes)
            .finish()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequireScopes<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<AuthBody<ResBody>>;
    type Error = S::Error;
    type Future = RequireScopesFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let kind = match req.extensions().get::<Principal>() {
            None => RejectionKind::MissingCredentials,
            Some(p) if !p.has_all_scopes(self.config.scopes.iter().map(String::as_str)) => {
                RejectionKind::InsufficientScope
            }
            Some(_) => return ResponseFuture::inner(self.inner.call(req)),
        };
        let rejection = Rejection::new(kind);
        ResponseFuture::ready(self.config.challenges.respond(&rejection, AuthBody::error))
    }
}
