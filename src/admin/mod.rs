//! The admin API: token management as a tower [`Service`](tower_service::Service), protected by the
//! [`AuthLayer`](crate::AuthLayer) itself, mountable under any prefix.
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
//! | `GET /owners/{owner}` | an owner's settings: `{"owner": …, "rate_limit": {…} or null}` |
//! | `PUT /owners/{owner}` | replace them: `{"rate_limit": {…} or null}` (admin only) |
//! | `GET /openapi.json` | the OpenAPI 3.1 description |
//!
//! Every change drops the token from the verifier's cache, so the very next request
//! through the layer sees it, and logs a `tracing` event at info (target
//! `tollgate::admin`) with the action, the token id and the actor (the id of the
//! principal that asked), never a secret.
//!
//! # Who may do what
//! - A token with the admin scope (default `tokens:admin`) manages every token, and sets
//!   rate limits: a token's (`rate_limit` on `POST` and `PATCH /tokens`) and an owner's
//!   (`PUT /owners/{owner}`).
//! - A token with the self-service scope (default `tokens:self`) and an owner manages its
//!   owner's tokens only, as [`OwnedTokens`](crate::OwnedTokens) does: another owner's
//!   token answers 404, never 403, so ids do not leak; a token it creates gets its owner;
//!   it may grant only scopes it holds itself (so never the admin scope); it cannot make
//!   an inactive token active again; it sets, raises or removes no rate limit (403), and
//!   reads only its own owner's settings; `POST /tokens/check` and other owners'
//!   revocation are refused.
//! - Any other token is refused 403 `insufficient_scope`, naming the admin scope.
//!
//! An owner's path segment is percent-encoded (`/owners/acme%2Fteam`), since an owner is
//! any string of the application's. `PUT /owners/{owner}` on a store that keeps no owner
//! settings (a store of your own without
//! [`set_owner_settings`](crate::store::TokenStore::set_owner_settings)) is 501
//! `not_implemented`: retrying will not help.
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

mod access;
pub(crate) mod api;
mod cursor;
mod error;
mod handlers;
mod input;
mod route;
mod view;

/// The scope that lets a token manage its own owner's tokens through the admin API, by
/// default.
pub const DEFAULT_SELF_SCOPE: &str = "tokens:self";
/// The default bound on request bodies.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// The OpenAPI 3.1 document of the admin API, as served at `GET /openapi.json`.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

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
