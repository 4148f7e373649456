//! [`AdminApi`] and its builder: the admin API behind its own layer, routing each request to
//! its handler with what its principal may do.

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::{Request, Response, StatusCode};
use http_body::Body;
use http_body_util::Full;
use tower_layer::Layer;
use tower_service::Service;

use super::access::{Access, Scopes};
use super::error::{self, ApiError};
use super::route::{self, Route};
use super::{DEFAULT_BODY_LIMIT, DEFAULT_SELF_SCOPE, OPENAPI_JSON};
use crate::layer::{AuthBody, AuthLayer, AuthService, DEFAULT_REALM, Damping, ResponseFuture};
use crate::manage::{DEFAULT_ADMIN_SCOPE, TokenManager};
use crate::principal::Principal;
use crate::store::{BoxError, TokenStore};
use crate::verify::Verifier;

/// The admin API: a tower [`Service`] that manages tokens over HTTP, behind its own
/// [`AuthLayer`]. Build it with [`AdminApi::builder`] and mount it under any prefix; see
/// the [module docs](crate::admin).
///
/// Its responses carry an [`AuthBody`](crate::body::AuthBody) around the API's own JSON
/// bodies, as a layer that answers with any body type does.
///
/// ```
/// use std::sync::Arc;
/// use http::{Request, StatusCode, header::AUTHORIZATION};
/// use http_body_util::BodyExt;
/// use tower::ServiceExt;
/// use tollgate::{AdminApi, MemoryStore, TokenManager, Verifier};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = Arc::new(MemoryStore::new());
/// let verifier = Verifier::builder(store.clone()).build();
/// let tokens = TokenManager::new(store.clone(), verifier.clone());
/// let admin = tokens.bootstrap_admin().await?.expect("an empty store");
/// let api = AdminApi::builder(store, verifier).build();
///
/// let request = Request::get("/tokens")
///     .header(AUTHORIZATION, format!("Bearer {}", admin.token().expose()))
///     .body(String::new())?;
/// let response = api.oneshot(request).await?;
/// assert_eq!(response.status(), StatusCode::OK);
/// let list: serde_json::Value = serde_json::from_slice(&response.into_body().collect().await?.to_bytes())?;
/// assert_eq!(list["tokens"][0]["id"], admin.id());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct AdminApi {
    service: AuthService<Handler>,
}

impl fmt::Debug for AdminApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminApi")
            .field("body_limit", &self.service.get_ref().state.body_limit)
            .field("mount_path", &self.service.get_ref().state.mount_path)
            .finish_non_exhaustive()
    }
}

impl<B> Service<Request<B>> for AdminApi
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<AuthBody<Full<Bytes>>>;
    type Error = Infallible;
    type Future = ResponseFuture<HandlerFuture, Full<Bytes>, Infallible>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Service::<Request<B>>::poll_ready(&mut self.service, cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        self.service.call(req)
    }
}

/// The admin API's request handling, after its layer authenticated the request.
#[derive(Clone)]
pub(super) struct Handler {
    state: Arc<State>,
}

/// What [`Handler`] answers with.
type HandlerFuture = BoxFuture<'static, Result<Response<Full<Bytes>>, Infallible>>;

pub(super) struct State {
    tokens: TokenManager,
    scopes: Scopes,
    realm: String,
    pub(super) body_limit: usize,
    mount_path: Option<String>,
}

impl AdminApi {
    /// Starts configuring the admin API over `store`. `verifier` must read the same store:
    /// the API drops changed tokens from its cache, and uses its token format and hasher.
    /// The API manages tokens through a [`TokenManager`], with the same rules as yours.
    pub fn builder(store: impl TokenStore, verifier: Verifier) -> AdminBuilder {
        AdminBuilder {
            store: Arc::new(store),
            verifier,
            admin_scope: DEFAULT_ADMIN_SCOPE.to_owned(),
            self_scope: DEFAULT_SELF_SCOPE.to_owned(),
            realm: DEFAULT_REALM.to_owned(),
            body_limit: DEFAULT_BODY_LIMIT,
            store_timeout: Duration::from_secs(5),
            mount_path: None,
            damping: None,
        }
    }
}

/// Configures the admin API. Start with [`AdminApi::builder`].
///
/// ```
/// use std::{sync::Arc, time::Duration};
/// use http::{Request, header::AUTHORIZATION};
/// use tower::ServiceExt;
/// use tollgate::{AdminApi, MemoryStore, TokenManager, Verifier};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = Arc::new(MemoryStore::new());
/// let verifier = Verifier::builder(store.clone()).build();
/// let tokens = TokenManager::new(store.clone(), verifier.clone());
/// let admin = tokens.bootstrap_admin().await?.expect("an empty store");
/// let api = AdminApi::builder(store, verifier)
///     .mount_path("/admin") // a plain hyper server hands it the whole path
///     .body_limit(16 * 1024)
///     .store_timeout(Duration::from_secs(2))
///     .build();
///
/// let request = Request::get(format!("/admin/tokens/{}", admin.id()))
///     .header(AUTHORIZATION, format!("Bearer {}", admin.token().expose()))
///     .body(String::new())?;
/// assert_eq!(api.oneshot(request).await?.status(), 200);
/// # Ok(())
/// # }
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct AdminBuilder {
    store: Arc<dyn TokenStore>,
    verifier: Verifier,
    admin_scope: String,
    self_scope: String,
    realm: String,
    body_limit: usize,
    store_timeout: Duration,
    mount_path: Option<String>,
    damping: Option<Damping>,
}

impl fmt::Debug for AdminBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminBuilder")
            .field("admin_scope", &self.admin_scope)
            .field("self_scope", &self.self_scope)
            .field("realm", &self.realm)
            .field("body_limit", &self.body_limit)
            .field("store_timeout", &self.store_timeout)
            .field("mount_path", &self.mount_path)
            .field("damping", &self.damping)
            .finish_non_exhaustive()
    }
}

impl AdminBuilder {
    /// The scope that lets a token manage every token (default `tokens:admin`).
    pub fn admin_scope(mut self, scope: impl Into<String>) -> Self {
        self.admin_scope = scope.into();
        self
    }

    /// The scope that lets a token with an owner manage that owner's tokens (default
    /// `tokens:self`); see [who may do what](crate::admin#who-may-do-what).
    pub fn self_scope(mut self, scope: impl Into<String>) -> Self {
        self.self_scope = scope.into();
        self
    }

    /// The realm in the admin API's challenges (default `tollgate`).
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }

    /// The largest request body read, in bytes (default 64 KiB); larger is 413.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// How long one store call may take before the request is answered 503 (default 5 s).
    pub fn store_timeout(mut self, timeout: Duration) -> Self {
        self.store_timeout = timeout;
        self
    }

    /// A path prefix to strip from every request, for servers that do not strip it
    /// themselves (axum's `nest_service` does; a plain hyper prefix match may not).
    pub fn mount_path(mut self, prefix: impl Into<String>) -> Self {
        let prefix: String = prefix.into();
        self.mount_path = Some(prefix.trim_end_matches('/').to_owned());
        self
    }

    /// Damps brute force on the admin API's authentication; pass a clone of the main
    /// layer's [`Damping`](crate::Damping) to count failures on both together.
    pub fn damping(mut self, damping: Damping) -> Self {
        self.damping = Some(damping);
        self
    }

    /// Builds the API, behind an [`AuthLayer`] that lets any valid token through to the
    /// API, which then decides what it may do.
    pub fn build(self) -> AdminApi {
        let mut auth = AuthLayer::builder(self.verifier.clone()).realm(self.realm.clone());
        if let Some(damping) = self.damping {
            auth = auth.damping(damping);
        }
        let auth = auth.build();
        let tokens = TokenManager::from_shared(self.store, self.verifier).store_timeout(self.store_timeout);
        let handler = Handler {
            state: Arc::new(State {
                tokens,
                scopes: Scopes {
                    admin: self.admin_scope,
                    own: self.self_scope,
                },
                realm: self.realm,
                body_limit: self.body_limit,
                mount_path: self.mount_path,
            }),
        };
        AdminApi {
            service: auth.layer(handler),
        }
    }
}

impl<B> Service<Request<B>> for Handler
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = HandlerFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        use futures_util::FutureExt as _;
        let state = Arc::clone(&self.state);
        Box::pin(async move {
            // A panic in a handler (or in a store it calls) is this request's 500, not the
            // connection's end; the state it shares is the store's and the cache's, which
            // stay consistent (their writes are atomic).
            let handling = Arc::clone(&state);
            let handled = std::panic::AssertUnwindSafe(async move { handling.handle(req).await })
                .catch_unwind()
                .await;
            let result = handled.unwrap_or_else(|_| {
                tracing::error!(target: "tollgate::admin", "an admin request's handler panicked: answered 500");
                Err(ApiError::Internal)
            });
            let response = result.unwrap_or_else(|err| err.into_response(&state.realm, &state.scopes.admin));
            Ok(response)
        })
    }
}

impl State {
    async fn handle<B>(&self, req: Request<B>) -> Result<Response<Full<Bytes>>, ApiError>
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        let full_path = req.uri().path().to_owned();
        let path = match &self.mount_path {
            Some(prefix) => full_path.strip_prefix(prefix.as_str()).ok_or(ApiError::NoRoute)?,
            None => full_path.as_str(),
        };
        let query = req.uri().query().map(str::to_owned);
        let route = route::route(req.method(), path)?;
        let principal = req.extensions().get::<Principal>();
        let access = Access::of(principal, &self.tokens, &self.scopes)?;
        let actor = principal.map_or_else(String::new, |p| p.id().to_owned());
        let actor = Actor {
            id: &actor,
            access: &access,
        };
        match route {
            Route::Create => self.create(req, actor).await,
            Route::List => self.list(query.as_deref(), actor).await,
            Route::Check => self.check(req, access.admin_only(&self.scopes)?).await,
            Route::RevokeOwner => self.revoke_owner(req, actor).await,
            Route::Get(id) => self.get(id, actor).await,
            Route::Update(id) => self.update(id, req, actor).await,
            Route::Delete(id) => self.delete(id, actor).await,
            Route::Rotate(id) => self.rotate(id, req, actor).await,
            Route::GetOwner(owner) => self.get_owner(owner, actor).await,
            Route::SetOwner(owner) => self.set_owner(owner, req, actor).await,
            Route::OpenApi => Ok(error::json_response(StatusCode::OK, OPENAPI_JSON.as_bytes().to_vec())),
        }
    }
}

/// Who asks, and what they may do.
#[derive(Clone, Copy)]
pub(super) struct Actor<'a> {
    /// The principal's id, for the audit log and `created_by`.
    pub(super) id: &'a str,
    pub(super) access: &'a Access,
}
