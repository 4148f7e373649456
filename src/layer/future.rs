//! [`ResponseFuture`]: no allocation when the cache decides; one box on a cache miss.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_util::future::BoxFuture;
use http::Response;
use pin_project_lite::pin_project;

use super::body::{BodyMode, Wrapped};
use crate::limit::LimitFields;

pin_project! {
    /// Response future of [`AuthService`](super::AuthService) and
    /// [`RequireScopes`](super::RequireScopes): the inner service's responses have bodies of
    /// type `B`, carried as `M` says (see [`BodyMode`]).
    ///
    /// Not boxed: a request the layer decides from its cache, or answers itself, costs no
    /// allocation, and its answer is ready at once.
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use futures_util::FutureExt;
    /// use http::{Request, Response};
    /// use tower::{Layer, Service, ServiceExt, service_fn};
    /// use tollgate::future::ResponseFuture;
    /// use tollgate::{AuthLayer, MemoryStore, Verifier};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let layer = AuthLayer::new(Verifier::builder(MemoryStore::new()).build());
    /// let mut service = layer.layer(service_fn(|_: Request<()>| async {
    ///     Ok::<_, Infallible>(Response::new(String::new()))
    /// }));
    /// let future: ResponseFuture<_, String, Infallible> = service.ready().await.unwrap().call(Request::new(()));
    /// // No credentials: answered without the inner service, and without waiting.
    /// let response = future.now_or_never().expect("ready at once").unwrap();
    /// assert_eq!(response.status(), 401);
    /// # }
    /// ```
    pub struct ResponseFuture<F, B, E, M = Wrapped>
    where
        M: BodyMode<B>,
    {
        #[pin]
        kind: Kind<F, M::Body, E>,
        mode: PhantomData<fn(B) -> M>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, O, E> {
        // The cache decided and the request passed: the inner service's own future.
        Inner { #[pin] fut: F },
        // The same for a request under a rate limit: its response gets the limit's fields.
        Limited { #[pin] fut: F, fields: Option<LimitFields> },
        // The layer answered itself.
        Ready { response: Option<Response<O>> },
        // The source had to be asked: verification and the inner call, boxed together.
        Lookup { fut: BoxFuture<'static, Result<Response<O>, E>> },
    }
}

impl<F, B, E, M: BodyMode<B>> ResponseFuture<F, B, E, M> {
    fn new(kind: Kind<F, M::Body, E>) -> Self {
        Self {
            kind,
            mode: PhantomData,
        }
    }

    pub(crate) fn inner(fut: F) -> Self {
        Self::new(Kind::Inner { fut })
    }

    pub(crate) fn limited(fut: F, fields: LimitFields) -> Self {
        Self::new(Kind::Limited {
            fut,
            fields: Some(fields),
        })
    }

    pub(crate) fn ready(response: Response<M::Body>) -> Self {
        Self::new(Kind::Ready {
            response: Some(response),
        })
    }

    pub(crate) fn lookup(fut: BoxFuture<'static, Result<Response<M::Body>, E>>) -> Self {
        Self::new(Kind::Lookup { fut })
    }
}

impl<F, B, E, M> Future for ResponseFuture<F, B, E, M>
where
    F: Future<Output = Result<Response<B>, E>>,
    M: BodyMode<B>,
{
    type Output = Result<Response<M::Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { fut } => {
                let response = ready!(fut.poll(cx))?;
                Poll::Ready(Ok(response.map(M::inner)))
            }
            KindProj::Limited { fut, fields } => {
                let mut response = ready!(fut.poll(cx))?;
                if let Some(fields) = fields.take() {
                    fields.apply(response.headers_mut());
                }
                Poll::Ready(Ok(response.map(M::inner)))
            }
            KindProj::Ready { response } => {
                Poll::Ready(Ok(response.take().expect("ResponseFuture polled after completion")))
            }
            KindProj::Lookup { fut } => fut.as_mut().poll(cx),
        }
    }
}

impl<F, B, E, M: BodyMode<B>> fmt::Debug for ResponseFuture<F, B, E, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.kind {
            Kind::Inner { .. } => "Inner",
            Kind::Limited { .. } => "Limited",
            Kind::Ready { .. } => "Ready",
            Kind::Lookup { .. } => "Lookup",
        };
        f.debug_struct("ResponseFuture").field("state", &state).finish()
    }
}
