//! [`ResponseFuture`]: no allocation when the cache decides; one box on a cache miss.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_util::future::BoxFuture;
use http::Response;
use pin_project_lite::pin_project;

use super::AuthBody;

pin_project! {
    /// Response future of [`AuthService`](super::AuthService) and
    /// [`RequireScopes`](super::RequireScopes).
    pub struct ResponseFuture<F, B, E> {
        #[pin]
        kind: Kind<F, B, E>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B, E> {
        // The cache decided and the request passed: the inner service's own future.
        Inner { #[pin] fut: F },
        // The layer answered itself.
        Ready { response: Option<Response<AuthBody<B>>> },
        // The source had to be asked: verification and the inner call, boxed together.
        Lookup { fut: BoxFuture<'static, Result<Response<AuthBody<B>>, E>> },
    }
}

impl<F, B, E> ResponseFuture<F, B, E> {
    pub(crate) fn inner(fut: F) -> Self {
        Self {
            kind: Kind::Inner { fut },
        }
    }

    pub(crate) fn ready(response: Response<AuthBody<B>>) -> Self {
        Self {
            kind: Kind::Ready {
                response: Some(response),
            },
        }
    }

    pub(crate) fn lookup(fut: BoxFuture<'static, Result<Response<AuthBody<B>>, E>>) -> Self {
        Self {
            kind: Kind::Lookup { fut },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B, E>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<AuthBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { fut } => {
                let response = ready!(fut.poll(cx))?;
                Poll::Ready(Ok(response.map(AuthBody::inner)))
            }
            KindProj::Ready { response } => {
                Poll::Ready(Ok(response.take().expect("ResponseFuture polled after completion")))
            }
            KindProj::Lookup { fut } => fut.as_mut().poll(cx),
        }
    }
}

impl<F, B, E> fmt::Debug for ResponseFuture<F, B, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.kind {
            Kind::Inner { .. } => "Inner",
            Kind::Ready { .. } => "Ready",
            Kind::Lookup { .. } => "Lookup",
        };
        f.debug_struct("ResponseFuture").field("state", &state).finish()
    }
}
