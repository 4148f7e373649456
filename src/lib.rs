// The README is the crate's guide; its examples need the `axum`, `sqlite`, `postgres` and `admin`
// features, so without them the docs are this summary and the README's examples are not
// compiled.
#![cfg_attr(
    all(feature = "axum", feature = "_sqlite", feature = "postgres", feature = "admin"),
    doc = include_str!("../README.md")
)]
#![cfg_attr(
    not(all(feature = "axum", feature = "_sqlite", feature = "postgres", feature = "admin")),
    doc = "Embeddable authentication middleware for tower: Bearer and Basic tokens, a cached verifier, \
           pluggable token stores, a token manager and an admin API. The guide is the README, shown here \
           when the docs are built with all features (as on docs.rs)."
)]

#[doc = include_str!("../docs/behaviour.md")]
pub mod behaviour {}

#[cfg(feature = "admin")]
pub mod admin;
#[cfg(feature = "axum")]
mod axum_support;
mod base62;
mod chars;
pub mod credential;
mod hash;
mod layer;
mod manage;
mod metrics;
mod principal;
mod record;
mod record_view;
mod scopes;
mod secret;
pub mod store;
pub mod token;
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
pub use admin::{AdminApi, AdminBuilder, AdminService, DEFAULT_SELF_SCOPE};
pub use credential::{BasicCredential, Credential, CredentialError, CredentialParser};
pub use hash::{SecretHash, SecretHasher};
pub use layer::{
    AuthLayer, AuthLayerBuilder, AuthService, ClientKey, DEFAULT_REALM, Damping, DampingBuilder, ForwardedFor,
    PeerAddr, Rejection, RejectionKind, RequireScopes, RequireScopesLayer,
};
pub use manage::{BOOTSTRAP_ID, DEFAULT_ADMIN_SCOPE, IssuedToken, ManageError, NewToken, OwnedTokens, TokenManager};
pub use principal::{Principal, PrincipalSlot};
pub use record::{PreviousSecret, TokenRecord, TokenStatus};
pub use record_view::RecordView;
pub use scopes::Scopes;
pub use secret::Secret;
pub use store::{
    ChangeEvent, ChangeStream, ListQuery, MemoryStore, Page, Rotation, StoreError, TokenPatch, TokenSource, TokenStore,
};
#[cfg(feature = "postgres")]
pub use store::{PostgresBuilder, PostgresStore};
#[cfg(feature = "redis")]
pub use store::{RedisBuilder, RedisStore};
#[cfg(feature = "_sqlite")]
pub use store::{SqliteBuilder, SqliteStore};
pub use token::{GeneratedToken, ParsedToken, TokenError, TokenFormat};
pub use verify::{InvalidReason, MAX_DURATION, Verifier, VerifierBuilder, VerifyError};
