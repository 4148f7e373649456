//! [`RateLimits`]: where a verifier keeps rate-limit state, in this process or in Redis for
//! the whole fleet; and [`Limiter`], what checks a request against it.

use std::fmt;

use super::buckets::Buckets;
use super::limits::{Checked, Limits};
#[cfg(feature = "redis")]
use super::shared::{Shared, SharedBuilder};
use crate::verify::coarse_ms;

/// Where rate-limit state is kept: given to
/// [`VerifierBuilder::rate_limits`](crate::VerifierBuilder::rate_limits).
///
/// - [`RateLimits::local`] (the default): in this process, beside the verifier's cache.
///   Nothing leaves the process and a limited request costs one atomic update, but each
///   replica counts on its own: with N replicas behind a load balancer, a token may get up
///   to N × its limit.
/// - [`RateLimits::redis`] (feature `redis`): in Redis, one limit for the whole fleet,
///   whatever store holds the tokens. One round trip per limited request, GCRA in a Lua
///   script on Redis's own clock. When Redis is unreachable or slow, requests are limited
///   locally meanwhile (or refused with 503, if you choose so).
///
/// A token with no limit, and whose owner has none, costs nothing either way.
///
/// ```
/// use tollgate::{MemoryStore, RateLimits, Verifier};
///
/// let verifier = Verifier::builder(MemoryStore::new()).rate_limits(RateLimits::local()).build();
/// # let _ = verifier;
/// ```
#[derive(Default)]
#[must_use]
pub struct RateLimits {
    #[cfg(feature = "redis")]
    shared: Option<SharedBuilder>,
}

impl RateLimits {
    /// Limits counted in this process only (the default).
    pub fn local() -> Self {
        Self::default()
    }

    /// Limits counted in Redis at `url`, shared by every replica that uses the same Redis
    /// (and key prefix); see [`RateLimits::redis_builder`] for the settings. The connection
    /// is made on the first limited request, and made again after an outage.
    ///
    /// ```
    /// use tollgate::{MemoryStore, RateLimits, Verifier};
    ///
    /// let limits = RateLimits::redis("redis://127.0.0.1:6379")?;
    /// let verifier = Verifier::builder(MemoryStore::new()).rate_limits(limits).build();
    /// # let _ = verifier;
    /// # Ok::<(), tollgate::StoreError>(())
    /// ```
    ///
    /// # Errors
    /// [`StoreError::Config`](crate::StoreError::Config) when `url` is not a Redis URL.
    #[cfg(feature = "redis")]
    pub fn redis(url: &str) -> Result<Self, crate::StoreError> {
        Self::redis_builder(url).build()
    }

    /// Limits counted in Redis, with settings: the key prefix, the timeout, and what to do
    /// while Redis is unreachable.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tollgate::{RateLimits, WhenUnavailable};
    ///
    /// let limits = RateLimits::redis_builder("redis://127.0.0.1:6379")
    ///     .prefix("myapp:limits:")
    ///     .timeout(Duration::from_millis(50))
    ///     .when_unavailable(WhenUnavailable::Refuse)
    ///     .build()?;
    /// # let _ = limits;
    /// # Ok::<(), tollgate::StoreError>(())
    /// ```
    #[cfg(feature = "redis")]
    pub fn redis_builder(url: impl Into<String>) -> RedisLimitsBuilder {
        RedisLimitsBuilder {
            inner: SharedBuilder::new(url.into()),
        }
    }
}

impl fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        #[cfg(feature = "redis")]
        if let Some(shared) = &self.shared {
            return f.debug_tuple("RateLimits::Redis").field(shared).finish();
        }
        f.write_str("RateLimits::Local")
    }
}

/// What a request under a shared limit gets while Redis is unreachable or slow.
///
/// ```
/// # #[cfg(feature = "redis")]
/// # fn main() -> Result<(), tollgate::StoreError> {
/// use tollgate::{MemoryStore, RateLimits, Verifier, WhenUnavailable};
///
/// // The default keeps the service up, counting in each process meanwhile.
/// assert_eq!(WhenUnavailable::default(), WhenUnavailable::Local);
/// // A service that must never let a customer past its plan: 503 while Redis is away.
/// let limits = RateLimits::redis_builder("redis://127.0.0.1:6379")
///     .when_unavailable(WhenUnavailable::Refuse)
///     .build()?;
/// let verifier = Verifier::builder(MemoryStore::new()).rate_limits(limits).build();
/// # drop(verifier);
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "redis"))]
/// # fn main() {}
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum WhenUnavailable {
    /// Limited in this process meanwhile, as [`RateLimits::local`] would (the default): the
    /// service stays up, and a token may get up to one limit per replica until Redis is
    /// back. A warning is logged once per outage, and each request so decided is counted
    /// in `tollgate_rate_limit_fallbacks_total`.
    #[default]
    Local,
    /// Refused with 503 `unavailable` and `Retry-After`: no request is let through
    /// unlimited, at the price of refusing every limited request during the outage.
    Refuse,
}

/// Settings of Redis-shared limits: made by [`RateLimits::redis_builder`].
///
/// | setting | default |
/// | --- | --- |
/// | [`prefix`](Self::prefix) | `tollgate:ratelimit:` |
/// | [`timeout`](Self::timeout) | 100 ms |
/// | [`when_unavailable`](Self::when_unavailable) | [`WhenUnavailable::Local`] |
///
/// Building reads the URL only: nothing connects until the first limited request.
///
/// ```
/// use std::time::Duration;
/// use tollgate::{MemoryStore, RateLimits, RedisLimitsBuilder, StoreError, Verifier};
///
/// // Staging's replicas count together, apart from production's, on one Redis.
/// let builder: RedisLimitsBuilder = RateLimits::redis_builder("redis://cache.internal:6379")
///     .prefix("staging:ratelimit:")
///     .timeout(Duration::from_millis(20));
/// let verifier = Verifier::builder(MemoryStore::new()).rate_limits(builder.build()?).build();
///
/// // A URL that is not Redis's is refused at once.
/// let err = RateLimits::redis_builder("http://cache.internal").build().unwrap_err();
/// assert!(matches!(err, StoreError::Config(_)));
/// # drop(verifier);
/// # Ok::<(), StoreError>(())
/// ```
#[cfg(feature = "redis")]
#[derive(Debug)]
#[must_use]
pub struct RedisLimitsBuilder {
    inner: SharedBuilder,
}

#[cfg(feature = "redis")]
impl RedisLimitsBuilder {
    /// The prefix of every key: one key per limited token (`<prefix>token:<id>`) and per
    /// limited owner (`<prefix>owner:<owner>`), each gone from Redis once its limit is full
    /// again.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.inner.prefix = prefix.into();
        self
    }

    /// How long a check may wait for Redis before the request is decided as
    /// [`when_unavailable`](Self::when_unavailable) says.
    pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
        self.inner.timeout = timeout;
        self
    }

    /// What a limited request gets while Redis is unreachable or slow.
    pub fn when_unavailable(mut self, when: WhenUnavailable) -> Self {
        self.inner.when_unavailable = when;
        self
    }

    /// The limits.
    ///
    /// # Errors
    /// [`StoreError::Config`](crate::StoreError::Config) when the URL is not a Redis URL.
    pub fn build(self) -> Result<RateLimits, crate::StoreError> {
        self.inner.check()?;
        Ok(RateLimits {
            shared: Some(self.inner),
        })
    }
}

/// A verifier's limiter: the local buckets, and Redis when limits are shared.
pub(crate) struct Limiter {
    buckets: Buckets,
    #[cfg(feature = "redis")]
    shared: Option<Shared>,
}

/// How a request's limits are checked.
pub(crate) enum Check {
    /// Decided here.
    Done(Checked),
    /// Redis must be asked.
    #[cfg(feature = "redis")]
    Shared,
}

/// Redis was unreachable and the operator chose to refuse meanwhile.
#[cfg(feature = "redis")]
#[derive(Debug)]
pub(crate) struct Unavailable;

impl Limiter {
    pub(crate) fn new(limits: RateLimits) -> Self {
        #[cfg(not(feature = "redis"))]
        let RateLimits {} = limits;
        Self {
            buckets: Buckets::default(),
            #[cfg(feature = "redis")]
            shared: limits.shared.map(Shared::new),
        }
    }

    pub(crate) fn buckets(&self) -> &Buckets {
        &self.buckets
    }

    /// Checks a request now, when the state is local; says so when Redis must be asked.
    #[inline]
    pub(crate) fn check(&self, limits: &Limits) -> Check {
        #[cfg(feature = "redis")]
        if self.shared.is_some() {
            return Check::Shared;
        }
        Check::Done(limits.check_local(&self.buckets, coarse_ms()))
    }

    /// Checks a request against the limits in Redis, falling back as configured.
    #[cfg(feature = "redis")]
    pub(crate) async fn check_shared(&self, limits: &Limits) -> Result<Checked, Unavailable> {
        let shared = self.shared.as_ref().expect("asked only when limits are shared");
        match shared.check(limits).await {
            Ok(checked) => Ok(checked),
            Err(_outage) => match shared.when_unavailable() {
                WhenUnavailable::Local => {
                    shared.fallbacks().increment();
                    Ok(limits.check_local(&self.buckets, coarse_ms()))
                }
                WhenUnavailable::Refuse => Err(Unavailable),
            },
        }
    }

    /// How many local buckets are kept.
    pub(crate) fn len(&self) -> usize {
        self.buckets.len()
    }
}

impl fmt::Debug for Limiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Limiter");
        s.field("buckets", &self.buckets.len());
        #[cfg(feature = "redis")]
        s.field("shared", &self.shared.is_some());
        s.finish()
    }
}
