// The README is the crate's guide; its examples need the `axum`, `sqlite`, `postgres`, `admin`
// and `tonic` features, so without them the docs are this summary and the README's examples
// are not compiled.
#![cfg_attr(
    all(
        feature = "axum",
        feature = "_sqlite",
        feature = "postgres",
        feature = "admin",
        feature = "tonic"
    ),
    doc = include_str!("../README.md")
)]
#![cfg_attr(
    not(all(
        feature = "axum",
        feature = "_sqlite",
        feature = "postgres",
        feature = "admin",
        feature = "tonic"
    )),
    doc = "Embeddable authentication middleware for tower: Bearer and Basic tokens, a cached verifier, \
           pluggable token stores, a token manager and an admin API. The guide is the README, shown here \
           when the docs are built with all features (as on docs.rs)."
)]
// On docs.rs (`--cfg docsrs`, nightly): each item behind a feature says which on its page.
// `_sqlite` is internal: the SQLite store's pages name the two features that enable it.
#![cfg_attr(docsrs, feature(doc_cfg), doc(auto_cfg(hide(feature = "_sqlite"))))]

#[doc = include_str!("../docs/behaviour.md")]
pub mod behaviour {}

// Every public item has one home in the docs: the crate root for what an application uses,
// `store` for what a store's author needs, `body` and `future` for the layer's associated
// types, `admin` for the admin API's guide and constants. The modules below are private;
// their public items are re-exported here, or from the modules named above.
#[cfg(feature = "admin")]
pub mod admin;
#[cfg(feature = "axum")]
mod axum_support;
mod base62;
mod chars;
mod credential;
mod hash;
mod layer;
mod limit;
mod manage;
mod metrics;
mod principal;
mod record;
mod record_view;
mod scopes;
mod secret;
pub mod store;
mod token;
#[cfg(feature = "tonic")]
mod tonic_support;
mod verify;

pub mod body {
    //! The response bodies of [`AuthService`](crate::AuthService): how it carries the inner
    //! service's body and its own JSON error bodies.
    pub use crate::layer::{AuthBody, BodyMode, SameBody, Wrapped};
}

pub mod future {
    //! The response futures of [`AuthService`](crate::AuthService) and
    //! [`RequireScopes`](crate::RequireScopes).
    pub use crate::layer::{RequireScopesFuture, ResponseFuture};
}

#[cfg(feature = "admin")]
pub use admin::api::{AdminApi, AdminBuilder};
pub use credential::{BasicCredential, Credential, CredentialError, CredentialParser};
pub use hash::{SecretHash, SecretHasher, ShortPepper};
pub use layer::{
    AuthLayer, AuthLayerBuilder, AuthService, ClientKey, DEFAULT_REALM, Damping, DampingBuilder, ForwardedFor,
    PeerAddr, Rejection, RejectionKind, RequireScopes, RequireScopesLayer,
};
#[cfg(feature = "redis")]
pub use limit::RedisLimitsBuilder;
pub use limit::{LimitState, OwnerSettings, RateLimit, RateLimitError, RateLimitStatus, RateLimits, WhenUnavailable};
pub use manage::{BOOTSTRAP_ID, DEFAULT_ADMIN_SCOPE, IssuedToken, ManageError, NewToken, OwnedTokens, TokenManager};
pub use principal::{Principal, PrincipalSlot};
pub use record::{PreviousSecret, TokenRecord, TokenStatus};
pub use record_view::RecordView;
pub use scopes::Scopes;
pub use secret::Secret;
pub use store::change::TokenPatch;
pub use store::error::StoreError;
pub use store::list::ListQuery;
pub use store::memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use store::postgres::{PostgresBuilder, PostgresStore};
#[cfg(feature = "redis")]
pub use store::redis::{RedisBuilder, RedisStore};
#[cfg(feature = "_sqlite")]
#[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "sqlite-unbundled"))))]
pub use store::sqlite::{SqliteBuilder, SqliteStore};
pub use token::{GeneratedToken, ParsedToken, TokenError, TokenFormat};
pub use verify::{InvalidReason, MAX_DURATION, Verifier, VerifierBuilder, VerifyError};
