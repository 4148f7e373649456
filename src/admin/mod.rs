//! The admin API (CONTRACT §3): token management as a tower [`Service`], protected by the
//! [`AuthLayer`] itself, mountable under any prefix.
//!
//! | method and path | does |
//! | --- | --- |
//! | `POST /tokens` | create (generated or imported secret) |
//! | `GET /tokens` | list, by cursor |
//! | `GET /tokens/{id}` | read |
//! | `PATCH /tokens/{id}` | update |
//! | `DELETE /tokens/{id}` | delete |
//! | `POST /tokens/{id}/rotate` | new secret, optional grace for the old |
//! | `POST /tokens/check` | is this credential valid? |
//! | `GET /openapi.json` | the OpenAPI 3.1 description |
//!
//! Every change drops the token from the verifier's cache, so the very next request
//! through the layer sees it.
//!
//! ```
//! use std::sync::Arc;
//! use tollgate::{AdminApi, MemoryStore, Verifier};
//!
//! let store = Arc::new(MemoryStore::new());
//! let verifier = Verifier::builder(store.clone()).build();
//! let admin = AdminApi::builder(store, verifier).build();
//! // axum: Router::new().nest_service("/admin", admin)
//! # drop(admin);
//! ```

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

use crate::store::BoxError;
use crate::{AuthLayer, AuthService, Principal, TokenManager, TokenStore, Verifier};

mod cursor;
mod error;
mod handlers;
mod input;
mod route;
mod view;

use error::ApiError;
use route::Route;

pub use crate::manage::DEFAULT_ADMIN_SCOPE;
/// The default bound on request bodies.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// The OpenAPI 3.1 document of the admin API, as served at `GET /openapi.json`.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

/// The admin API behind its own [`AuthLayer`], requiring the admin scope: what
/// [`AdminBuilder::build`] returns and what you mount.
pub type AdminService = AuthService<AdminApi>;

/// The admin API's request handling, without authentication. You get it wrapped in an
/// [`AuthService`] from [`AdminApi::builder`]; see the [module docs](crate::admin).
#[derive(Clone)]
pub struct AdminApi {
    state: Arc<State>,
}

struct State {
    tokens: TokenManager,
    body_limit: usize,
    mount_path: Option<String>,
}

impl fmt::Debug for AdminApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminApi")
            .field("body_limit", &self.state.body_limit)
            .field("mount_path", &self.state.mount_path)
            .finish_non_exhaustive()
    }
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
            realm: crate::DEFAULT_REALM.to_owned(),
            body_limit: DEFAULT_BODY_LIMIT,
            store_timeout: Duration::from_secs(5),
            mount_path: None,
            damping: None,
        }
    }
}

/// Configures the admin API. Start with [`AdminApi::builder`].
#[must_use = "a builder does nothing until `build` is called"]
pub struct AdminBuilder {
    store: Arc<dyn TokenStore>,
    verifier: Verifier,
    admin_scope: String,
    realm: String,
    body_limit: usize,
    store_timeout: Duration,
    mount_path: Option<String>,
    damping: Option<crate::Damping>,
}

impl fmt::Debug for AdminBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminBuilder")
            .field("admin_scope", &self.admin_scope)
            .field("realm", &self.realm)
            .field("body_limit", &self.body_limit)
            .field("store_timeout", &self.store_timeout)
            .field("mount_path", &self.mount_path)
            .field("damping", &self.damping)
            .finish_non_exhaustive()
    }
}

impl AdminBuilder {
    /// The scope every admin request's token must carry (default `tokens:admin`).
    pub fn admin_scope(mut self, scope: impl Into<String>) -> Self {
        self.admin_scope = scope.into();
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
    pub fn damping(mut self, damping: crate::Damping) -> Self {
        self.damping = Some(damping);
        self
    }

    /// Builds the API, behind an [`AuthLayer`] that requires the admin scope.
    pub fn build(self) -> AdminService {
        let mut auth = AuthLayer::builder(self.verifier.clone())
            .realm(self.realm)
            .require_scopes([self.admin_scope]);
        if let Some(damping) = self.damping {
            auth = auth.damping(damping);
        }
        let auth = auth.build();
        let tokens = TokenManager::from_shared(self.store, self.verifier).store_timeout(self.store_timeout);
        let api = AdminApi {
            state: Arc::new(State {
                tokens,
                body_limit: self.body_limit,
                mount_path: self.mount_path,
            }),
        };
        auth.layer(api)
    }
}

impl<B> Service<Request<B>> for AdminApi
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

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
            let handled = std::panic::AssertUnwindSafe(async move { state.handle(req).await })
                .catch_unwind()
                .await;
            let response = match handled {
                Ok(result) => result.unwrap_or_else(ApiError::into_response),
                Err(_) => {
                    tracing::error!(target: "tollgate::admin", "an admin request's handler panicked: answered 500");
                    ApiError::Internal.into_response()
                }
            };
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
        let actor = req
            .extensions()
            .get::<Principal>()
            .map_or_else(String::new, |p| p.id().to_owned());
        match route::route(req.method(), path)? {
            Route::Create => self.create(req, &actor).await,
            Route::List => self.list(query.as_deref()).await,
            Route::Check => self.check(req).await,
            Route::Get(id) => self.get(id).await,
            Route::Update(id) => self.update(id, req, &actor).await,
            Route::Delete(id) => self.delete(id, &actor).await,
            Route::Rotate(id) => self.rotate(id, req, &actor).await,
            Route::OpenApi => Ok(error::json_response(StatusCode::OK, OPENAPI_JSON.as_bytes().to_vec())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every route the router serves is in the OpenAPI document, and nothing else is.
    #[test]
    fn the_openapi_document_lists_exactly_the_served_routes() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI_JSON).expect("openapi.json is JSON");
        assert_eq!(doc["openapi"].as_str().map(|v| &v[..4]), Some("3.1."));
        let mut documented = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in item.as_object().unwrap().keys() {
                if ["get", "post", "patch", "delete", "put", "head", "options"].contains(&method.as_str()) {
                    documented.push(format!("{} {path}", method.to_uppercase()));
                }
            }
        }
        let mut served: Vec<String> = route::ROUTES
            .iter()
            .flat_map(|(path, methods)| methods.iter().map(move |m| format!("{m} {path}")))
            .collect();
        documented.sort();
        served.sort();
        assert_eq!(documented, served);
    }
}
