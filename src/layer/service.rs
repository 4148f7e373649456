//! [`AuthService`]: the middleware itself. What it decides is its
//! [`RequestPath`]'s; it carries the request there and back.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::body::{BodyMode, Wrapped};
use super::future::ResponseFuture;
use super::kind::RejectionKind;
use super::lookup::Lookup;
use super::path::{Admission, Decision, RequestPath};
use super::rejection::Rejection;

/// Authenticates requests before `S` sees them. Made by [`AuthLayer`](super::AuthLayer);
/// `M` is how its responses carry bodies (see [`BodyMode`]).
///
/// A request it lets through reaches `S` with the [`Principal`](crate::Principal) in its
/// extensions:
///
/// ```
/// use std::sync::Arc;
/// use http::{Request, Response, header::AUTHORIZATION};
/// use http_body_util::BodyExt;
/// use tower::{Layer, ServiceExt, service_fn};
/// use tollgate::{AuthLayer, AuthService, MemoryStore, NewToken, Principal, TokenManager, Verifier};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = Arc::new(MemoryStore::new());
/// let verifier = Verifier::builder(store.clone()).build();
/// let issued = TokenManager::new(store, verifier.clone()).create(NewToken::new("laptop")).await?;
///
/// let handler = service_fn(|req: Request<()>| async move {
///     let me = req.extensions().get::<Principal>().expect("the layer let it through");
///     Ok::<_, std::convert::Infallible>(Response::new(me.name().to_owned()))
/// });
/// let service: AuthService<_> = AuthLayer::new(verifier).layer(handler);
/// let bearer = format!("Bearer {}", issued.token().expose());
/// let response = service.oneshot(Request::builder().header(AUTHORIZATION, bearer).body(())?).await?;
/// assert_eq!(response.into_body().collect().await?.to_bytes(), "laptop");
/// # Ok(())
/// # }
/// ```
pub struct AuthService<S, M = Wrapped> {
    inner: S,
    path: Arc<RequestPath>,
    mode: PhantomData<fn() -> M>,
}

impl<S, M> AuthService<S, M> {
    pub(super) fn new(inner: S, path: Arc<RequestPath>) -> Self {
        Self {
            inner,
            path,
            mode: PhantomData,
        }
    }

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

impl<S: Clone, M> Clone for AuthService<S, M> {
    fn clone(&self) -> Self {
        Self::new(self.inner.clone(), Arc::clone(&self.path))
    }
}

impl<S: fmt::Debug, M> fmt::Debug for AuthService<S, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody, M> Service<Request<ReqBody>> for AuthService<S, M>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Send + 'static,
    M: BodyMode<ResBody>,
    M::Body: Send + 'static,
{
    type Response = Response<M::Body>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, S::Error, M>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let path = &*self.path;
        // A panic while deciding (in code of ours, or in a `ClientKey` of the app's) is this
        // request's 500, not the connection's end: nothing it touched outlives the request.
        let decided = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| path.decide(&req)));
        let decision = decided.unwrap_or_else(|_| {
            tracing::error!("the authentication layer panicked while deciding a request: answered 500");
            Decision::Reject(Rejection::new(RejectionKind::Internal))
        });
        let principal = match decision {
            Decision::Pass(principal) => principal,
            Decision::Reject(rejection) => {
                return ResponseFuture::ready(path.refuse::<_, M>(&rejection, req.headers()));
            }
            Decision::Lookup(lookup) => return self.later(req, Later::Lookup(lookup)),
        };
        match path.admit(principal, &mut req) {
            Ok(Admission::Plain) => ResponseFuture::inner(self.inner.call(req)),
            Ok(Admission::Fields(fields)) => ResponseFuture::limited(self.inner.call(req), fields),
            #[cfg(feature = "redis")]
            Ok(Admission::Shared) => self.later(req, Later::Shared),
            Err(rejection) => ResponseFuture::ready(path.refuse::<_, M>(&rejection, req.headers())),
        }
    }
}

impl<S, M> AuthService<S, M> {
    /// The request's answer once the store (a cache miss) or Redis (shared limits) is
    /// asked: that wait and the inner call, boxed together. Not inlined into `call`: kept
    /// apart, the hit path stays small enough for the compiler to keep its values in
    /// registers instead of copying them.
    #[inline(never)]
    fn later<ReqBody, ResBody>(
        &mut self,
        mut req: Request<ReqBody>,
        later: Later,
    ) -> ResponseFuture<S::Future, ResBody, S::Error, M>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Send + 'static,
        ReqBody: Send + 'static,
        ResBody: Send + 'static,
        M: BodyMode<ResBody>,
        M::Body: Send + 'static,
    {
        // The ready service goes with the request; a clone takes its place here.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let path = Arc::clone(&self.path);
        ResponseFuture::lookup(Box::pin(async move {
            let admitted = match later {
                Later::Lookup(lookup) => match lookup.finish(path.verifier()).await {
                    Ok(principal) => path.admit(Some(principal), &mut req),
                    Err(rejection) => Err(rejection),
                },
                #[cfg(feature = "redis")]
                Later::Shared => Ok(Admission::Shared),
            };
            admitted_call::<_, _, _, M>(&path, admitted, req, &mut inner).await
        }))
    }
}

/// What a request waits for before it can be answered.
enum Later {
    /// The store: the cache could not decide it.
    Lookup(Lookup),
    /// Redis: its limits are shared (the request is admitted otherwise).
    #[cfg(feature = "redis")]
    Shared,
}

/// The rest of a request once admitted (or not): the shared limits' check if there is one,
/// then the inner call with the limits' fields, or the refusal.
#[cfg_attr(not(feature = "redis"), allow(unused_mut))]
async fn admitted_call<S, ReqBody, ResBody, M>(
    path: &RequestPath,
    admitted: Result<Admission, Rejection>,
    mut req: Request<ReqBody>,
    inner: &mut S,
) -> Result<Response<M::Body>, S::Error>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    M: BodyMode<ResBody>,
{
    let fields = match admitted {
        Ok(Admission::Plain) => None,
        Ok(Admission::Fields(fields)) => Some(fields),
        #[cfg(feature = "redis")]
        Ok(Admission::Shared) => match path.check_shared(req.extensions_mut()).await {
            Ok(fields) => Some(fields),
            Err(rejection) => return Ok(path.refuse::<_, M>(&rejection, req.headers())),
        },
        Err(rejection) => return Ok(path.refuse::<_, M>(&rejection, req.headers())),
    };
    let mut response = inner.call(req).await?;
    if let Some(fields) = fields {
        fields.apply(response.headers_mut());
    }
    Ok(response.map(M::inner))
}
