//! [`AuthService`]: the middleware itself.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::AUTHORIZATION;
use http::{Request, Response};
use tower_service::Service;

use super::damping::{Allowance, Attempt};
use super::{BodyMode, Config, Rejection, RejectionKind, ResponseFuture, Wrapped};
use crate::verify::CacheAnswer;
use crate::{InvalidReason, Principal, PrincipalSlot, VerifyError};

/// The rejection for a failed verification of a credential that named `id`: the id is kept
/// only when the reason shows that the token exists.
fn refused(err: VerifyError, id: Option<&str>) -> Rejection {
    let exists = matches!(
        err,
        VerifyError::Invalid(InvalidReason::WrongSecret | InvalidReason::Expired | InvalidReason::Inactive)
    );
    let rejection = Rejection::from(err);
    match id {
        Some(id) if exists => rejection.with_token_id(id),
        _ => rejection,
    }
}

fn too_many_failures(remaining: std::time::Duration) -> Rejection {
    // Whole seconds, rounded up: a client that waits as told is not blocked again.
    let retry_after_secs = remaining.as_secs() + u64::from(remaining.subsec_nanos() > 0);
    Rejection::new(RejectionKind::TooManyFailures { retry_after_secs })
}

/// Authenticates requests before `S` sees them. Made by [`AuthLayer`](super::AuthLayer);
/// `M` is how its responses carry bodies (see [`BodyMode`]).
pub struct AuthService<S, M = Wrapped> {
    inner: S,
    config: Arc<Config>,
    mode: PhantomData<fn() -> M>,
}

impl<S, M> AuthService<S, M> {
    pub(super) fn new(inner: S, config: Arc<Config>) -> Self {
        Self {
            inner,
            config,
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
        Self::new(self.inner.clone(), Arc::clone(&self.config))
    }
}

impl<S: fmt::Debug, M> fmt::Debug for AuthService<S, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

/// Left in the extensions of a request the layer let through without credentials: the
/// challenges a [`Principal`] extractor answers 401 with.
#[derive(Clone)]
struct Anonymous(Arc<super::rejection::Challenges>);

impl Principal {
    /// The principal an [`AuthLayer`](super::AuthLayer) further out put in these request
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
            Some(Anonymous(challenges)) => rejection.rendered_by(challenges),
            None => rejection,
        })
    }
}

/// What the cache-side decision left to do.
enum Decision {
    Pass(Option<Principal>),
    Reject(Rejection),
    /// A lookup, counted against the client while it is in flight when damping.
    Lookup(crate::verify::Pending, Option<Attempt>),
}

impl Config {
    #[inline]
    fn decide<B>(&self, req: &Request<B>) -> Decision {
        let credential = match self.parser.parse(req.headers()) {
            Ok(Some(credential)) => credential,
            Ok(None) if self.allow_anonymous => return Decision::Pass(None),
            Ok(None) => return Decision::Reject(Rejection::new(RejectionKind::MissingCredentials)),
            Err(err) => return Decision::Reject(Rejection::new(RejectionKind::Malformed(err))),
        };
        // A blocked client learns nothing about a secret it could be guessing, not even
        // that it is right (see `Damping`).
        if let Some(damping) = self.damping.as_ref().filter(|damping| damping.any_blocked()) {
            if credential.guessable(self.verifier.format()) {
                if let Some(remaining) = damping.blocked(req.headers(), req.extensions()) {
                    return Decision::Reject(too_many_failures(remaining));
                }
            }
        }
        match self.verifier.verify_cached(&credential) {
            CacheAnswer::Decided(Ok(principal)) => Decision::Pass(Some(principal)),
            CacheAnswer::Decided(Err(err)) => Decision::Reject(self.failed(req, err, credential.claimed_id())),
            // A blocked client's credentials are not looked up.
            CacheAnswer::Pending(pending) => match self
                .damping
                .as_ref()
                .map(|d| d.allow_lookup(req.headers(), req.extensions()))
            {
                Some(Allowance::Refused(remaining)) => Decision::Reject(too_many_failures(remaining)),
                Some(Allowance::Counted(attempt)) => Decision::Lookup(pending, Some(attempt)),
                Some(Allowance::Undamped) | None => Decision::Lookup(pending, None),
            },
        }
    }

    /// The rejection for a verification the cache failed, counted against the client when
    /// damping. `id` is the credential's id, named in the rejection if the reason shows
    /// that the token exists.
    fn failed<B>(&self, req: &Request<B>, err: VerifyError, id: Option<&str>) -> Rejection {
        if let (Some(damping), VerifyError::Invalid(_)) = (&self.damping, &err) {
            if let Some(remaining) = damping.failed(req.headers(), req.extensions()) {
                return too_many_failures(remaining);
            }
        }
        refused(err, id)
    }

    /// Checks scopes and readies the request for the inner service.
    #[inline]
    fn admit<B>(&self, principal: Option<Principal>, req: &mut Request<B>) -> Result<(), Rejection> {
        if let Some(principal) = principal {
            if !principal.has_all_scopes(self.required_scopes.iter().map(String::as_str)) {
                tracing::debug!(token_id = principal.id(), "request refused: missing scope");
                return Err(Rejection::new(RejectionKind::InsufficientScope).with_token_id(principal.id()));
            }
            if let Some(slot) = req.extensions().get::<PrincipalSlot>() {
                slot.fill(&principal);
            }
            req.extensions_mut().insert(principal);
        } else {
            // Anonymous: a `Principal` extractor further in answers 401 with these challenges.
            req.extensions_mut().insert(Anonymous(Arc::clone(&self.challenges)));
        }
        if self.strip_authorization {
            req.headers_mut().remove(AUTHORIZATION);
        }
        Ok(())
    }

    pub(crate) fn reject<B, M: BodyMode<B>>(&self, rejection: &Rejection) -> Response<M::Body> {
        tracing::debug!(status = rejection.status().as_u16(), reason = %rejection, "request refused");
        self.metrics.rejected(rejection.kind());
        self.challenges.respond(rejection, M::error)
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
        let config = &*self.config;
        // A panic while deciding (in code of ours, or in a `ClientKey` of the app's) is this
        // request's 500, not the connection's end: nothing it touched outlives the request.
        let decided = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| config.decide(&req)));
        let decision = decided.unwrap_or_else(|_| {
            tracing::error!("the authentication layer panicked while deciding a request: answered 500");
            Decision::Reject(Rejection::new(RejectionKind::Internal))
        });
        let principal = match decision {
            Decision::Pass(principal) => principal,
            Decision::Reject(rejection) => return ResponseFuture::ready(config.reject::<_, M>(&rejection)),
            Decision::Lookup(pending, attempt) => return self.lookup(req, pending, attempt),
        };
        match config.admit(principal, &mut req) {
            Ok(()) => ResponseFuture::inner(self.inner.call(req)),
            Err(rejection) => ResponseFuture::ready(config.reject::<_, M>(&rejection)),
        }
    }
}

impl<S, M> AuthService<S, M> {
    /// The request's answer once the store is asked: its verification and the inner call,
    /// boxed together. Not inlined into `call`: kept apart, the hit path stays small enough
    /// for the compiler to keep its values in registers instead of copying them.
    #[inline(never)]
    fn lookup<ReqBody, ResBody>(
        &mut self,
        mut req: Request<ReqBody>,
        pending: crate::verify::Pending,
        attempt: Option<Attempt>,
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
        let config = Arc::clone(&self.config);
        let id = pending.id();
        let verify = config.verifier.resolve(pending);
        ResponseFuture::lookup(Box::pin(async move {
            let verified = match attempt {
                // Damped: the attempt lives as long as the lookup, not as the request, so a
                // client that hangs up while the store is slow keeps its lookup counted
                // against its allowance, and its failure counted when the lookup ends.
                Some(attempt) => tokio::spawn(async move {
                    let verified = verify.await;
                    if let Err(VerifyError::Invalid(_)) = &verified {
                        attempt.failed();
                    }
                    verified
                })
                .await
                .unwrap_or_else(|_| {
                    Err(VerifyError::Unavailable(Arc::new(crate::StoreError::unavailable(
                        "the lookup task panicked",
                    ))))
                }),
                None => verify.await,
            };
            let admitted = match verified {
                Ok(principal) => config.admit(Some(principal), &mut req),
                Err(err) => Err(refused(err, id.as_deref())),
            };
            match admitted {
                Ok(()) => Ok(inner.call(req).await?.map(M::inner)),
                Err(rejection) => Ok(config.reject::<_, M>(&rejection)),
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    // Retry-After is whole seconds, rounded up, and only a fraction rounds: a client told 3
    // after 3 s exactly would otherwise wait a second for nothing.
    #[test]
    fn retry_after_rounds_a_fraction_up_and_a_whole_second_not() {
        let secs = |remaining| match too_many_failures(remaining).kind() {
            RejectionKind::TooManyFailures { retry_after_secs } => *retry_after_secs,
            other => panic!("{other:?}"),
        };
        assert_eq!(secs(Duration::from_secs(3)), 3);
        assert_eq!(secs(Duration::from_millis(2_001)), 3);
        assert_eq!(secs(Duration::from_nanos(1)), 1);
    }
}
