//! [`AuthLayer`]: the tower middleware. It reads the credential, asks the [`Verifier`],
//! and either hands the request to the inner service with a [`Principal`] in its
//! extensions, or answers it as behaviour §1 says.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use tower_layer::Layer;

use crate::{CredentialParser, Verifier};

mod body;
mod damping;
mod future;
mod rejection;
mod scope;
mod service;

pub use body::{AuthBody, BodyMode, SameBody, Wrapped};
pub use damping::{ClientKey, Damping, DampingBuilder, ForwardedFor, PeerAddr};
pub use future::ResponseFuture;
use rejection::Challenges;
#[cfg(feature = "admin")]
pub(crate) use rejection::error_body;
pub use rejection::{Rejection, RejectionKind};
pub use scope::{RequireScopes, RequireScopesFuture, RequireScopesLayer};
pub use service::AuthService;

/// Default realm in challenges.
pub const DEFAULT_REALM: &str = "tollgate";

/// What every [`AuthService`] built by one layer shares.
pub(crate) struct Config {
    pub(crate) verifier: Verifier,
    pub(crate) parser: CredentialParser,
    pub(crate) required_scopes: Vec<String>,
    pub(crate) allow_anonymous: bool,
    pub(crate) strip_authorization: bool,
    pub(crate) challenges: Arc<Challenges>,
    pub(crate) damping: Option<Damping>,
    realm: String,
    retry_after: Duration,
    pub(crate) metrics: crate::metrics::LayerMetrics,
}

/// Authenticates every request with a [`Verifier`]: reads the credential, asks the
/// verifier, and either hands the request to the inner service with a
/// [`Principal`](crate::Principal) in its extensions, or answers it itself (401, 400, 403,
/// 429 or 503, with the challenges and a JSON error body).
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response, StatusCode, header::AUTHORIZATION};
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
/// use tollgate::{AuthLayer, MemoryStore, Principal, Verifier};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let verifier = Verifier::builder(MemoryStore::new()).build();
/// let service = ServiceBuilder::new()
///     .layer(AuthLayer::builder(verifier).realm("example").build())
///     .service(service_fn(|req: Request<String>| async move {
///         let who = req.extensions().get::<Principal>().unwrap().name().to_owned();
///         Ok::<_, Infallible>(Response::new(http_body_util::Full::new(bytes::Bytes::from(who))))
///     }));
///
/// let response = service.oneshot(Request::new(String::new())).await.unwrap();
/// assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
/// assert_eq!(response.headers()["www-authenticate"], "Bearer realm=\"example\"");
/// # }
/// ```
///
/// Build it with [`AuthLayer::new`] for the defaults (Bearer and Basic, realm
/// `tollgate`, no required scope) or [`AuthLayer::builder`]. Its responses carry an
/// [`AuthBody`] around the inner service's body, which works with any body type; with a
/// body type that is `From<Bytes>`, such as axum's, [`AuthLayer::same_body`] keeps it.
#[derive(Clone)]
#[must_use = "a layer does nothing until it wraps a service"]
pub struct AuthLayer<M = Wrapped> {
    config: Arc<Config>,
    mode: PhantomData<fn() -> M>,
}

impl<M> fmt::Debug for AuthLayer<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &*self.config;
        f.debug_struct("AuthLayer")
            .field("realm", &c.realm)
            .field("bearer", &c.parser.bearer_enabled())
            .field("basic", &c.parser.basic_enabled())
            .field("required_scopes", &c.required_scopes)
            .field("allow_anonymous", &c.allow_anonymous)
            .field("strip_authorization", &c.strip_authorization)
            .field("damping", &c.damping)
            .finish_non_exhaustive()
    }
}

impl AuthLayer {
    /// A layer with the default settings.
    pub fn new(verifier: Verifier) -> Self {
        Self::builder(verifier).build()
    }

    /// Starts configuring a layer.
    pub fn builder(verifier: Verifier) -> AuthLayerBuilder {
        AuthLayerBuilder {
            verifier,
            parser: CredentialParser::default(),
            realm: DEFAULT_REALM.to_owned(),
            required_scopes: Vec::new(),
            allow_anonymous: false,
            strip_authorization: false,
            retry_after: Duration::from_secs(1),
            damping: None,
        }
    }
}

impl<M> AuthLayer<M> {
    /// This layer, answering with the inner service's own body type instead of an
    /// [`AuthBody`]; its error bodies are made with `From<Bytes>`. With axum, whose `Body`
    /// is one, this saves a wrapper per response, and axum the box it puts a foreign body
    /// in.
    ///
    /// ```
    /// use tollgate::{AuthLayer, MemoryStore, Verifier};
    ///
    /// let layer = AuthLayer::new(Verifier::builder(MemoryStore::new()).build()).same_body();
    /// // axum: Router::new().route("/", get(handler)).layer(layer)
    /// # drop(layer);
    /// ```
    pub fn same_body(self) -> AuthLayer<SameBody> {
        AuthLayer {
            config: self.config,
            mode: PhantomData,
        }
    }

    /// The verifier this layer asks.
    #[must_use]
    pub fn verifier(&self) -> &Verifier {
        &self.config.verifier
    }

    /// A layer for a sub-router that requires these scopes of the principal this layer
    /// authenticated, answering with this layer's realm and challenges.
    pub fn require_scopes<I, S>(&self, scopes: I) -> RequireScopesLayer<M>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let scopes: Vec<String> = scopes.into_iter().map(Into::into).collect();
        let c = &*self.config;
        let challenges = Challenges::new(
            &c.realm,
            c.parser.bearer_enabled(),
            c.parser.basic_enabled(),
            &scopes,
            c.retry_after.as_secs(),
        );
        RequireScopesLayer::new(scopes, challenges)
    }
}

impl<S, M> Layer<S> for AuthLayer<M> {
    type Service = AuthService<S, M>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService::new(inner, Arc::clone(&self.config))
    }
}

/// Configures an [`AuthLayer`].
///
/// ```
/// use tollgate::{AuthLayer, MemoryStore, Verifier};
///
/// let verifier = Verifier::builder(MemoryStore::new()).build();
/// let layer = AuthLayer::builder(verifier)
///     .realm("reports")
///     .basic(false)
///     .require_scopes(["reports:read"])
///     .strip_authorization(true)
///     .build();
/// # drop(layer);
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct AuthLayerBuilder {
    verifier: Verifier,
    parser: CredentialParser,
    realm: String,
    required_scopes: Vec<String>,
    allow_anonymous: bool,
    strip_authorization: bool,
    retry_after: Duration,
    damping: Option<Damping>,
}

impl fmt::Debug for AuthLayerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthLayerBuilder")
            .field("realm", &self.realm)
            .field("parser", &self.parser)
            .field("required_scopes", &self.required_scopes)
            .finish_non_exhaustive()
    }
}

impl AuthLayerBuilder {
    /// The realm named in every challenge (default `tollgate`).
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }

    /// Accepts Bearer credentials (default on).
    pub fn bearer(mut self, enabled: bool) -> Self {
        self.parser = self.parser.bearer(enabled);
        self
    }

    /// Accepts Basic credentials (default on).
    pub fn basic(mut self, enabled: bool) -> Self {
        self.parser = self.parser.basic(enabled);
        self
    }

    /// Bounds the `Authorization` header (default 4 KiB); longer is answered 400 (so 0
    /// refuses every credential).
    pub fn max_header_len(mut self, bytes: usize) -> Self {
        self.parser = self.parser.max_len(bytes);
        self
    }

    /// Requires every one of these scopes (403 otherwise).
    pub fn require_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.required_scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// Lets requests without credentials through, without a [`Principal`](crate::Principal).
    /// Requests with bad credentials are still refused.
    pub fn allow_anonymous(mut self, allow: bool) -> Self {
        self.allow_anonymous = allow;
        self
    }

    /// Removes the `Authorization` header before the inner service sees the request.
    pub fn strip_authorization(mut self, strip: bool) -> Self {
        self.strip_authorization = strip;
        self
    }

    /// The `Retry-After` sent with 503 (default 1 s), in whole seconds: rounded down, and 1
    /// at least.
    pub fn retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Duration::from_secs(after.as_secs().max(1));
        self
    }

    /// Counts failed verifications per client and answers a client over the limit with 429
    /// and `Retry-After`, without touching the store (default: off). See [`Damping`].
    pub fn damping(mut self, damping: Damping) -> Self {
        self.damping = Some(damping);
        self
    }

    /// Builds the layer.
    pub fn build(self) -> AuthLayer {
        let challenges = Challenges::new(
            &self.realm,
            self.parser.bearer_enabled(),
            self.parser.basic_enabled(),
            &self.required_scopes,
            self.retry_after.as_secs(),
        );
        // Structured tokens are read once, in the parser.
        let parser = self.parser.token_format(self.verifier.format().clone());
        AuthLayer {
            mode: PhantomData,
            config: Arc::new(Config {
                verifier: self.verifier,
                parser,
                required_scopes: self.required_scopes,
                allow_anonymous: self.allow_anonymous,
                strip_authorization: self.strip_authorization,
                challenges: Arc::new(challenges),
                damping: self.damping,
                realm: self.realm,
                retry_after: self.retry_after,
                metrics: crate::metrics::LayerMetrics::register(),
            }),
        }
    }
}
