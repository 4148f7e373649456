//! The [`Verifier`]: decides whether a credential names a usable token, with a cache in
//! front of the [`TokenSource`](crate::store::TokenSource).
//!
//! A request's path: what the credential claims is read once (`claim`: the token's id, or
//! that an opaque token is looked up by its hash, and the secret presented), the presented
//! secret is hashed, the token is found in the caches (`caches`), and the secret, status and
//! expiry are checked on every request, hits included (`entry`). A miss goes to the source
//! once per token however many requests wait for it (`flight`); unknown tokens are
//! remembered for a short while in a bounded negative cache. Store errors are never cached.
//!
//! The files, leaves first: `key` (what caches are keyed by) and `clock`; `error`;
//! `entry`, `index`, `positive` and `generation`, then `caches`; `claim`, `flight`;
//! `inner` (the request's path through them); `verifier` and `builder`. None imports this
//! file.

mod builder;
mod caches;
mod claim;
mod clock;
mod entry;
mod error;
mod flight;
mod generation;
mod index;
mod inner;
mod key;
mod positive;
mod verifier;

pub use builder::{MAX_DURATION, VerifierBuilder};
pub(crate) use claim::Claim;
pub(crate) use clock::coarse_ms;
pub use error::{InvalidReason, VerifyError};
pub(crate) use inner::{CacheAnswer, Pending};
pub(crate) use key::FastHash;
pub use verifier::Verifier;
