#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod admin;
mod base62;
mod chars;
pub mod credential;
mod hash;
mod layer;
mod principal;
pub mod record;
mod secret;
pub mod store;
pub mod token;
mod verify;

pub use admin::{AdminApi, AdminBuilder, AdminService};
pub use credential::{BasicCredential, Credential, CredentialError, CredentialParser};
pub use hash::{SecretHash, SecretHasher};
pub use layer::{
    AuthBody, AuthLayer, AuthLayerBuilder, AuthService, BodyMode, ClientKey, DEFAULT_REALM, Damping, DampingBuilder,
    ForwardedFor, PeerAddr, Rejection, RejectionKind, RequireScopes, RequireScopesFuture, RequireScopesLayer,
    ResponseFuture, SameBody, Wrapped, error_body,
};
pub use principal::{Principal, PrincipalSlot};
pub use record::{PreviousSecret, TokenRecord, TokenStatus};
pub use secret::Secret;
#[cfg(feature = "sqlite")]
pub use store::SqliteStore;
pub use store::{
    ChangeEvent, ChangeStream, ListQuery, MemoryStore, Page, Rotation, StoreError, TokenPatch, TokenSource, TokenStore,
};
pub use token::{GeneratedToken, ParsedToken, TokenError, TokenFormat};
pub use verify::{InvalidReason, Pending, Verifier, VerifierBuilder, VerifyError};
