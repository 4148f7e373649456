//! [`AuthLayer`] and its builder: the layer's settings, turned into the
//! [`RequestPath`] every service it makes shares.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use tower_layer::Layer;

use super::answer::{Answers, DEFAULT_REALM};
use super::body::{SameBody, Wrapped};
use super::damping::Damping;
use super::kind::RejectionKind;
use super::path::RequestPath;
use super::refusals::Refusals;
use super::scope::RequireScopesLayer;
use super::service::AuthService;
use crate::credential::CredentialParser;
use crate::metrics::LayerMetrics;
use crate::verify::Verifier;

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
/// [`AuthBody`](crate::body::AuthBody) around the inner service's body, which works with any body type; with a
/// body type that is `From<Bytes>`, such as axum's, [`AuthLayer::same_body`] keeps it.
#[derive(Clone)]
#[must_use = "a layer does nothing until it wraps a service"]
pub struct AuthLayer<M = Wrapped> {
    path: Arc<RequestPath>,
    /// What its scope layers answer with: its realm, schemes and `Retry-After`.
    answering: Arc<Answering>,
    mode: PhantomData<fn() -> M>,
}

/// What a layer's answers are made from, kept to make its scope layers' answers.
struct Answering {
    realm: String,
    bearer: bool,
    basic: bool,
    retry_after: Duration,
}

impl Answering {
    fn answers(&self, scopes: &[String]) -> Answers {
        Answers::new(&self.realm, self.bearer, self.basic, scopes, self.retry_after.as_secs())
    }
}

impl<M> fmt::Debug for AuthLayer<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthLayer")
            .field("realm", &self.answering.realm)
            .field("path", &self.path)
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
    /// [`AuthBody`](crate::body::AuthBody); its error bodies are made with `From<Bytes>`. With axum, whose `Body`
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
            path: self.path,
            answering: self.answering,
            mode: PhantomData,
        }
    }

    /// The verifier this layer asks.
    #[must_use]
    pub fn verifier(&self) -> &Verifier {
        self.path.verifier()
    }

    /// A separate layer, for the routes further in that need these scopes: it checks them
    /// against the principal this layer authenticated, and answers as this layer does (its
    /// realm and challenges; its refusals are counted with this layer's). It authenticates
    /// nothing itself, so it goes inside this layer, never in its place: a request without
    /// a principal is answered 401.
    ///
    /// The scopes every route needs go on the layer itself instead
    /// ([`AuthLayerBuilder::require_scopes`]).
    pub fn scope_layer<I, S>(&self, scopes: I) -> RequireScopesLayer<M>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let scopes: Vec<String> = scopes.into_iter().map(Into::into).collect();
        let answers = self.answering.answers(&scopes);
        let metrics = self.path.refusals().metrics().clone();
        RequireScopesLayer::new(scopes, Refusals::new(answers, metrics))
    }
}

impl<S, M> Layer<S> for AuthLayer<M> {
    type Service = AuthService<S, M>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService::new(inner, Arc::clone(&self.path))
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
        let answering = Answering {
            realm: self.realm,
            bearer: self.parser.bearer_enabled(),
            basic: self.parser.basic_enabled(),
            retry_after: self.retry_after,
        };
        let metrics = LayerMetrics::register(RejectionKind::metric_labels());
        let refusals = Refusals::new(answering.answers(&self.required_scopes), metrics);
        // Structured tokens are read once, in the parser.
        let parser = self.parser.structured(self.verifier.format().clone());
        let path = RequestPath::new(
            self.verifier,
            parser,
            self.required_scopes,
            self.allow_anonymous,
            self.strip_authorization,
            self.damping,
            refusals,
        );
        AuthLayer {
            path: Arc::new(path),
            answering: Arc::new(answering),
            mode: PhantomData,
        }
    }
}
