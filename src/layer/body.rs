//! [`AuthBody`]: the inner service's body, or the layer's own JSON error body.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

pin_project! {
    /// The response body of [`AuthService`](crate::AuthService) in the default [`Wrapped`]
    /// mode: the inner service's body when the request passed, or, when the layer answered
    /// itself, a JSON error body (HTTP) or an empty body that reports
    /// [`is_end_stream`](Body::is_end_stream) at once (gRPC: the status is in the headers).
    ///
    /// ```
    /// use bytes::Bytes;
    /// use http::{Request, Response, header::AUTHORIZATION};
    /// use http_body_util::{BodyExt, Full};
    /// use tower::{Layer, ServiceExt, service_fn};
    /// use tollgate::body::AuthBody;
    /// use tollgate::{AuthLayer, MemoryStore, Verifier};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let verifier = Verifier::builder(MemoryStore::new()).build();
    /// let layer = AuthLayer::builder(verifier).allow_anonymous(true).build();
    /// let service = layer.layer(service_fn(|_: Request<()>| async {
    ///     Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from("hello"))))
    /// }));
    ///
    /// // Let through (anonymous): the inner service's body, inside the wrapper.
    /// let passed: Response<AuthBody<Full<Bytes>>> = service.clone().oneshot(Request::new(())).await.unwrap();
    /// assert_eq!(passed.into_body().collect().await.unwrap().to_bytes(), "hello");
    ///
    /// // Refused (a malformed header): the layer's own JSON error.
    /// let request = Request::builder().header(AUTHORIZATION, "Bearer").body(()).unwrap();
    /// let refused = service.oneshot(request).await.unwrap();
    /// assert_eq!(refused.status(), 400);
    /// let json = refused.into_body().collect().await.unwrap().to_bytes();
    /// assert!(json.starts_with(br#"{"error":{"code":"invalid_request""#));
    /// # }
    /// ```
    #[project = BodyProj]
    #[derive(Debug)]
    pub struct AuthBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    #[derive(Debug)]
    enum Kind<B> {
        Inner { #[pin] body: B },
        Error { data: Option<Bytes> },
    }
}

impl<B> AuthBody<B> {
    pub(crate) fn inner(body: B) -> Self {
        Self {
            kind: Kind::Inner { body },
        }
    }

    /// The layer's own body: `data`, or when it is empty (a gRPC answer), a body that has
    /// ended already, so that no DATA frame follows the headers.
    pub(crate) fn error(data: Bytes) -> Self {
        Self {
            kind: Kind::Error {
                data: (!data.is_empty()).then_some(data),
            },
        }
    }
}

impl<B> Body for AuthBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.project().kind.project() {
            KindProj::Inner { body } => body.poll_frame(cx),
            KindProj::Error { data } => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Error { data } => data.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Error { data } => SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64)),
        }
    }
}

/// How the layer's responses carry bodies: the inner service's own, and the layer's own
/// (a JSON error over HTTP, nothing over gRPC). Either [`Wrapped`] (the default) or
/// [`SameBody`].
///
/// Code generic over the mode names the response body `M::Body`:
///
/// ```
/// use bytes::Bytes;
/// use http::{Request, Response, StatusCode};
/// use http_body_util::Full;
/// use tower::{Layer, ServiceExt, service_fn};
/// use tollgate::body::BodyMode;
/// use tollgate::{AuthLayer, MemoryStore, Verifier};
///
/// async fn status_without_credentials<M>(layer: AuthLayer<M>) -> StatusCode
/// where
///     M: BodyMode<Full<Bytes>>,
///     M::Body: Send + 'static,
/// {
///     let inner = service_fn(|_: Request<()>| async {
///         Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from("hello"))))
///     });
///     let response: Response<M::Body> = layer.layer(inner).oneshot(Request::new(())).await.unwrap();
///     response.status()
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let layer = AuthLayer::new(Verifier::builder(MemoryStore::new()).build());
/// assert_eq!(status_without_credentials(layer.clone()).await, StatusCode::UNAUTHORIZED);
/// assert_eq!(status_without_credentials(layer.same_body()).await, StatusCode::UNAUTHORIZED);
/// # }
/// ```
pub trait BodyMode<B>: sealed::Sealed {
    /// The response body type.
    type Body;
    /// The inner service's body, as this mode carries it.
    fn inner(body: B) -> Self::Body;
    /// The layer's own body: a JSON error, or empty (a gRPC answer).
    fn error(data: Bytes) -> Self::Body;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Wrapped {}
    impl Sealed for super::SameBody {}
}

/// Responses carry an [`AuthBody`]: works with any inner body type.
///
/// The mode of [`AuthLayer::new`](crate::AuthLayer::new) and
/// [`AuthLayerBuilder::build`](crate::AuthLayerBuilder::build): `AuthLayer` is
/// `AuthLayer<Wrapped>`.
///
/// ```
/// use http::{Request, Response};
/// use tower::{Layer, ServiceExt, service_fn};
/// use tollgate::body::{AuthBody, Wrapped};
/// use tollgate::{AuthLayer, MemoryStore, Verifier};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let layer: AuthLayer<Wrapped> = AuthLayer::new(Verifier::builder(MemoryStore::new()).build());
/// // `String` is no `From<Bytes>`, so `same_body()` would not take it; wrapped, it works.
/// let service = layer.layer(service_fn(|_: Request<()>| async {
///     Ok::<_, std::convert::Infallible>(Response::new(String::from("hello")))
/// }));
/// let response: Response<AuthBody<String>> = service.oneshot(Request::new(())).await.unwrap();
/// assert_eq!(response.status(), 401);
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Wrapped;

/// Responses carry the inner service's own body type, which must be `From<Bytes>` (axum's
/// `Body`, `http_body_util::Full<Bytes>`): no wrapper to poll through, and axum has no
/// foreign body to box on every request. A gRPC refusal's body is `B::from` empty bytes,
/// which for these two is a body that has ended (no DATA frame after the headers); a body
/// type that reports otherwise should use [`Wrapped`] for gRPC. Chosen with
/// [`AuthLayer::same_body`](crate::AuthLayer::same_body).
///
/// ```
/// use bytes::Bytes;
/// use http::{Request, Response};
/// use http_body_util::{BodyExt, Full};
/// use tower::{Layer, ServiceExt, service_fn};
/// use tollgate::body::SameBody;
/// use tollgate::{AuthLayer, MemoryStore, Verifier};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let layer: AuthLayer<SameBody> = AuthLayer::new(Verifier::builder(MemoryStore::new()).build()).same_body();
/// let service = layer.layer(service_fn(|_: Request<()>| async {
///     Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from("hello"))))
/// }));
/// // The refusal comes in the inner service's own body type: its JSON made with `From<Bytes>`.
/// let response: Response<Full<Bytes>> = service.oneshot(Request::new(())).await.unwrap();
/// assert_eq!(response.status(), 401);
/// let json = response.into_body().collect().await.unwrap().to_bytes();
/// assert!(json.starts_with(br#"{"error":{"code":"unauthorized""#));
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct SameBody;

impl<B> BodyMode<B> for Wrapped {
    type Body = AuthBody<B>;

    #[inline]
    fn inner(body: B) -> AuthBody<B> {
        AuthBody::inner(body)
    }

    fn error(data: Bytes) -> AuthBody<B> {
        AuthBody::error(data)
    }
}

impl<B: From<Bytes>> BodyMode<B> for SameBody {
    type Body = B;

    #[inline]
    fn inner(body: B) -> B {
        body
    }

    fn error(data: Bytes) -> B {
        B::from(data)
    }
}
