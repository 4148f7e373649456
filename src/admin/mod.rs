//! The admin API: token management as a tower [`Service`], protected by the [`AuthLayer`]
//! itself, mountable under any prefix.
//!
//! | method and path | does |
//! | --- | --- |
//! | `POST /tokens` | create (generated or imported secret) |
//! | `GET /tokens` | list, by cursor; filters `status`, `scope`, `owner` |
//! | `GET /tokens/{id}` | read |
//! | `PATCH /tokens/{id}` | update |
//! | `DELETE /tokens/{id}` | delete |
//! | `POST /tokens/{id}/rotate` | new secret, optional grace for the old |
//! | `POST /tokens/revoke` | revoke every token of an owner: `{"owner": …}` → `{"revoked": n}` |
//! | `POST /tokens/check` | is this credential valid? (admin only) |
//! | `GET /openapi.json` | the OpenAPI 3.1 description |
//!
//! Every change drops the token from the verifier's cache, so the very next request
//! through the layer sees it, and logs a `tracing` event at info (target
//! `tollgate::admin`) with the action, the token id and the actor (the id of the
//! principal that asked), never a secret.
//!
//! # Who may do what
//! - A token with the admin scope (default `tokens:admin`) manages every token.
//! - A token with the self-service scope (default `tokens:self`) and an owner manages its
//!   owner's tokens only, as [`OwnedTokens`](crate::OwnedTokens) does: another owner's
//!   token answers 404, never 403, so ids do not leak; a token it creates gets its owner;
//!   it may grant only scopes it holds itself (so never the admin scope); it cannot make
//!   an inactive token active again; `POST
//!   /tokens/check` and other owners' revocation are refused.
//! - Any other token is refused 403 `insufficient_scope`, naming the admin scope.
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

mod access;
mod cursor;
mod error;
mod handlers;
mod input;
mod route;
mod view;

use access::{Access, Scopes};
use error::ApiError;
use route::Route;

pub use crate::manage::DEFAULT_ADMIN_SCOPE;
/// The scope that lets a token manage its own owner's tokens through the admin API, by
/// default.
pub const DEFAULT_SELF_SCOPE: &str = "tokens:self";
/// The default bound on request bodies.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// The OpenAPI 3.1 document of the admin API, as served at `GET /openapi.json`.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

/// The admin API behind its own [`AuthLayer`]: what
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
    scopes: Scopes,
    realm: String,
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
            self_scope: DEFAULT_SELF_SCOPE.to_owned(),
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
    self_scope: String,
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
    pub fn damping(mut self, damping: crate::Damping) -> Self {
        self.damping = Some(damping);
        self
    }

    /// Builds the API, behind an [`AuthLayer`] that lets any valid token through to the
    /// API, which then decides what it may do.
    pub fn build(self) -> AdminService {
        let mut auth = AuthLayer::builder(self.verifier.clone()).realm(self.realm.clone());
        if let Some(damping) = self.damping {
            auth = auth.damping(damping);
        }
        let auth = auth.build();
        let tokens = TokenManager::from_shared(self.store, self.verifier).store_timeout(self.store_timeout);
        let api = AdminApi {
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
            Route::OpenApi => Ok(error::json_response(StatusCode::OK, OPENAPI_JSON.as_bytes().to_vec())),
        }
    }
}

/// Who asks, and what they may do.
#[derive(Clone, Copy)]
struct Actor<'a> {
    /// The principal's id, for the audit log and `created_by`.
    id: &'a str,
    access: &'a Access,
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
