//! [`RequireScopesLayer`]: scopes for a sub-router, checked against the [`Principal`] an
//! [`AuthLayer`](super::AuthLayer) further out put in the request.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use super::body::{BodyMode, Wrapped};
use super::future::ResponseFuture;
use super::kind::RejectionKind;
use super::refusals::Refusals;
use super::rejection::Rejection;
use crate::principal::Principal;

/// Requires scopes of an already authenticated request: 403 when one is missing, 401 when
/// there is no [`Principal`] at all (an anonymous pass-through). Make one with
/// [`AuthLayer::scope_layer`](super::AuthLayer::scope_layer), so that it answers with the
/// same realm and challenges, its refusals are counted and carried as that layer's are, and
/// its responses carry bodies as that layer's do (`M`, see [`BodyMode`]).
///
/// ```
/// use tollgate::{AuthLayer, MemoryStore, Verifier};
///
/// let auth = AuthLayer::new(Verifier::builder(MemoryStore::new()).build());
/// let reports_only = auth.scope_layer(["reports:read"]);
/// // axum: Router::new().route("/reports", get(h).layer(reports_only)).layer(auth)
/// # drop(reports_only);
/// ```
#[derive(Clone)]
#[must_use = "a layer does nothing until it wraps a service"]
pub struct RequireScopesLayer<M = Wrapped> {
    inner: Arc<ScopeConfig>,
    mode: PhantomData<fn() -> M>,
}

struct ScopeConfig {
    scopes: Vec<String>,
    refusals: Refusals,
}

impl<M> fmt::Debug for RequireScopesLayer<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireScopesLayer")
            .field("scopes", &self.inner.scopes)
            .finish()
    }
}

impl<M> RequireScopesLayer<M> {
    pub(super) fn new(scopes: Vec<String>, refusals: Refusals) -> Self {
        Self {
            inner: Arc::new(ScopeConfig { scopes, refusals }),
            mode: PhantomData,
        }
    }
}

impl<S, M> Layer<S> for RequireScopesLayer<M> {
    type Service = RequireScopes<S, M>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireScopes {
            inner,
            config: Arc::clone(&self.inner),
            mode: PhantomData,
        }
    }
}

/// The service made by [`RequireScopesLayer`]; `M` is how its responses carry bodies (see
/// [`BodyMode`]).
pub struct RequireScopes<S, M = Wrapped> {
    inner: S,
    config: Arc<ScopeConfig>,
    mode: PhantomData<fn() -> M>,
}

impl<S, M> RequireScopes<S, M> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// Response future of [`RequireScopes`].
pub type RequireScopesFuture<F, B, E, M = Wrapped> = ResponseFuture<F, B, E, M>;

impl<S: Clone, M> Clone for RequireScopes<S, M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            config: Arc::clone(&self.config),
            mode: PhantomData,
        }
    }
}

impl<S: fmt::Debug, M> fmt::Debug for RequireScopes<S, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireScopes")
            .field("inner", &self.inner)
            .field("scopes", &self.config.scopes)
            .finish()
    }
}

impl<S, ReqBody, ResBody, M> Service<Request<ReqBody>> for RequireScopes<S, M>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    M: BodyMode<ResBody>,
{
    type Response = Response<M::Body>;
    type Error = S::Error;
    type Future = RequireScopesFuture<S::Future, ResBody, S::Error, M>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let refused = match req.extensions().get::<Principal>() {
            None => Rejection::naming(RejectionKind::MissingCredentials, None),
            Some(p) if !p.has_all_scopes(self.config.scopes.iter().map(String::as_str)) => {
                Rejection::naming(RejectionKind::InsufficientScope, Some(p.id()))
            }
            Some(_) => return ResponseFuture::inner(self.inner.call(req)),
        };
        ResponseFuture::ready(self.config.refusals.refuse(&refused, req.headers(), M::error))
    }
}
