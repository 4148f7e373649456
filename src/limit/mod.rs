//! Usage limits: what a token or its owner may carry beyond a valid secret
//! ([`RateLimit`], [`OwnerSettings`]), and the limiter the layer applies them with, in this
//! process or shared in Redis ([`RateLimits`]).
//!
//! The state of a limit lives beside the verifier's cache, not in its entries
//! ([`buckets`]); an entry holds the limits its token is under ([`Limits`]) and handles on
//! their state.

pub(crate) mod buckets;
pub(crate) mod gcra;
pub(crate) mod limiter;
pub(crate) mod limits;
pub(crate) mod rate;
#[cfg(feature = "redis")]
mod shared;

#[cfg(feature = "redis")]
pub use limiter::RedisLimitsBuilder;
pub(crate) use limiter::{Check, Limiter};
pub use limiter::{RateLimits, WhenUnavailable};
pub(crate) use limits::{Checked, LimitFields, Limits};
pub use limits::{LimitState, RateLimitStatus};
pub use rate::{OwnerSettings, RateLimit, RateLimitError};
