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
///
/// ```
/// use std::sync::Arc;
/// use http::{Request, Response, header::AUTHORIZATION};
/// use tower::{Layer, ServiceExt, service_fn};
/// use tollgate::{AuthLayer, MemoryStore, NewToken, RequireScopes, TokenManager, Verifier};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = Arc::new(MemoryStore::new());
/// let verifier = Verifier::builder(store.clone()).build();
/// let tokens = TokenManager::new(store, verifier.clone());
/// let reader = tokens.create(NewToken::new("reader").scopes(["reports:read"])).await?;
///
/// let auth = AuthLayer::new(verifier);
/// let handler = service_fn(|_: Request<()>| async {
///     Ok::<_, std::convert::Infallible>(Response::new(String::new()))
/// });
/// let writes: RequireScopes<_> = auth.scope_layer(["reports:write"]).layer(handler);
/// let service = auth.layer(writes);
///
/// // The token authenticates, but lacks the scope: 403.
/// let bearer = format!("Bearer {}", reader.token().expose());
/// let response = service.oneshot(Request::builder().header(AUTHORIZATION, bearer).body(())?).await?;
/// assert_eq!(response.status(), 403);
/// # Ok(())
/// # }
/// ```
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
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response};
/// use tower::{Layer, Service, ServiceExt, service_fn};
/// use tollgate::future::RequireScopesFuture;
/// use tollgate::{AuthLayer, MemoryStore, Principal, SecretHasher, TokenRecord, Verifier};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let auth = AuthLayer::new(Verifier::builder(MemoryStore::new()).build());
/// let mut service = auth.scope_layer(["reports:read"]).layer(service_fn(|_: Request<()>| async {
///     Ok::<_, Infallible>(Response::new(String::from("the report")))
/// }));
///
/// // As the `AuthLayer` further out leaves a request it authenticated.
/// let record = TokenRecord::new("abc", "reader", SecretHasher::Sha256.hash(b"s")).with_scopes(["reports:read"]);
/// let mut request = Request::new(());
/// request.extensions_mut().insert(Principal::from_record(&record));
/// let future: RequireScopesFuture<_, String, Infallible> = service.ready().await.unwrap().call(request);
/// assert_eq!(future.await.unwrap().status(), 200);
/// # }
/// ```
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
