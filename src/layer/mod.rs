//! The tower middleware: [`AuthLayer`] reads the credential, asks the
//! [`Verifier`](crate::Verifier), and either hands the request to the inner service with a
//! [`Principal`](crate::Principal) in its extensions, or answers it as behaviour §1 says.
//!
//! The files, leaves first: `kind` (every kind of refusal, one row each), `grpc` (a
//! refusal's gRPC form), `answer` (the one renderer, of both forms), `rejection`,
//! `refusals` (the one door refusals go through), `body`, `future`, `damping`, `extensions`; `lookup` (a request the store must finish), `path` (a request to
//! a decision); `service`, `scope`, `auth_layer`. None imports this file.

mod answer;
mod auth_layer;
mod body;
mod damping;
mod extensions;
mod future;
mod grpc;
mod kind;
mod lookup;
mod path;
mod refusals;
mod rejection;
mod scope;
mod service;

pub use answer::DEFAULT_REALM;
#[cfg(feature = "admin")]
pub(crate) use answer::error_body;
pub use auth_layer::{AuthLayer, AuthLayerBuilder};
pub use body::{AuthBody, BodyMode, SameBody, Wrapped};
pub use damping::{ClientKey, Damping, DampingBuilder, ForwardedFor, PeerAddr};
pub use future::ResponseFuture;
pub use kind::RejectionKind;
pub use rejection::Rejection;
pub use scope::{RequireScopes, RequireScopesFuture, RequireScopesLayer};
pub use service::AuthService;
