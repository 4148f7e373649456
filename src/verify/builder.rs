//! [`VerifierBuilder`]: the verifier's configuration, with defaults that are safe untuned.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::caches::{Caches, Sizes};
use super::inner::Inner;
use super::verifier::Verifier;
use crate::hash::SecretHasher;
use crate::limit::{Limiter, RateLimits};
use crate::store::TokenSource;
use crate::token::TokenFormat;

/// The longest duration the builders of this crate take ([`VerifierBuilder`]'s lifetimes,
/// [`DampingBuilder::window`](crate::DampingBuilder::window)): about 100 years. Longer ones
/// are clamped to it, as each setter says (the caches refuse lifetimes over 1,000 years).
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Configures a [`Verifier`]. Start with [`Verifier::builder`].
///
/// | setting | default |
/// | --- | --- |
/// | [`cache_capacity`](Self::cache_capacity) | 100,000 tokens |
/// | [`cache_ttl`](Self::cache_ttl) | 60 s |
/// | [`negative_capacity`](Self::negative_capacity) | 10,000 entries |
/// | [`negative_ttl`](Self::negative_ttl) | 5 s |
/// | [`source_timeout`](Self::source_timeout) | 5 s |
/// | [`serve_stale`](Self::serve_stale) | off |
/// | [`format`](Self::format) | prefix `tg`, 16-char ids, 43-char secrets |
/// | [`hasher`](Self::hasher) | SHA-256 |
///
/// ```
/// use std::time::Duration;
/// use tollgate::{MemoryStore, SecretHasher, Verifier};
///
/// let verifier = Verifier::builder(MemoryStore::new())
///     .cache_capacity(50_000)
///     .cache_ttl(Duration::from_secs(30))
///     .negative_ttl(Duration::from_secs(2))
///     .hasher(SecretHasher::hmac_sha256(b"pepper from the secret manager"))
///     .build();
/// # drop(verifier);
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct VerifierBuilder {
    source: Arc<dyn TokenSource>,
    format: TokenFormat,
    hasher: SecretHasher,
    cache_capacity: u64,
    cache_ttl: Duration,
    negative_capacity: u64,
    negative_ttl: Duration,
    source_timeout: Duration,
    stale_window: Duration,
    rate_limits: RateLimits,
}

impl fmt::Debug for VerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifierBuilder")
            .field("format", &self.format)
            .field("hasher", &self.hasher)
            .field("cache_capacity", &self.cache_capacity)
            .field("cache_ttl", &self.cache_ttl)
            .field("negative_capacity", &self.negative_capacity)
            .field("negative_ttl", &self.negative_ttl)
            .field("source_timeout", &self.source_timeout)
            .field("stale_window", &self.stale_window)
            .field("rate_limits", &self.rate_limits)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// Starts configuring a verifier over `source`.
    pub fn builder(source: impl TokenSource) -> VerifierBuilder {
        VerifierBuilder::new(Arc::new(source))
    }

    /// Starts configuring a verifier over a shared source.
    pub fn builder_shared(source: Arc<dyn TokenSource>) -> VerifierBuilder {
        VerifierBuilder::new(source)
    }
}

impl VerifierBuilder {
    fn new(source: Arc<dyn TokenSource>) -> Self {
        Self {
            source,
            format: TokenFormat::default(),
            hasher: SecretHasher::default(),
            cache_capacity: 100_000,
            cache_ttl: Duration::from_secs(60),
            negative_capacity: 10_000,
            negative_ttl: Duration::from_secs(5),
            source_timeout: Duration::from_secs(5),
            stale_window: Duration::ZERO,
            rate_limits: RateLimits::local(),
        }
    }

    /// How many tokens the cache keeps (default 100,000); 0 caches none, so every request
    /// asks the source.
    pub fn cache_capacity(mut self, tokens: u64) -> Self {
        self.cache_capacity = tokens;
        self
    }

    /// How long a token is trusted from the cache before it is read again. Expiry, status
    /// and secret are checked on every request regardless; this bounds how long a change
    /// made by another replica, without a change stream, takes to be seen. It is measured
    /// on a coarse clock that ticks every 10 ms, so an entry may outlive it by about a tick.
    /// Default 60 s; zero trusts nothing from the cache; clamped to at most [`MAX_DURATION`].
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl.min(MAX_DURATION);
        self
    }

    /// How many unknown ids and hashes are remembered (default 10,000; 0 remembers none).
    pub fn negative_capacity(mut self, entries: u64) -> Self {
        self.negative_capacity = entries;
        self
    }

    /// How long an unknown id or hash is remembered (default 5 s; clamped to at most
    /// [`MAX_DURATION`]).
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.negative_ttl = ttl.min(MAX_DURATION);
        self
    }

    /// How long a lookup may take before the request is answered 503 (default 5 s; zero
    /// fails every lookup).
    pub fn source_timeout(mut self, timeout: Duration) -> Self {
        self.source_timeout = timeout;
        self
    }

    /// Opt-in stale mode: while the source fails or times out, a token whose cache entry
    /// went stale (older than [`cache_ttl`](Self::cache_ttl)) at most `window` ago is still
    /// decided from that entry, so an outage of the store does not lock out the clients it
    /// had just seen. Secret, status and expiry are checked as on any hit.
    ///
    /// Revoked tokens never pass: [`Verifier::invalidate`] (which the admin API and the
    /// change stream call) removes the entry, and a source that answers that a token is gone
    /// removes it too. A token the cache never held gets 503 as before. After a failed
    /// refresh, one request per token per second asks the source again; the others are
    /// decided from the entry meanwhile, without waiting for the source timeout.
    ///
    /// Default: off (`Duration::ZERO`): every request the cache cannot vouch for waits
    /// for the source, and fails closed with 503. Clamped to at most [`MAX_DURATION`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use tollgate::{MemoryStore, Verifier};
    ///
    /// let verifier = Verifier::builder(MemoryStore::new())
    ///     .cache_ttl(Duration::from_secs(30))
    ///     .serve_stale(Duration::from_secs(300))
    ///     .build();
    /// # drop(verifier);
    /// ```
    pub fn serve_stale(mut self, window: Duration) -> Self {
        self.stale_window = window.min(MAX_DURATION);
        self
    }

    /// Where the state of rate limits is kept ([`TokenRecord::rate_limit`](crate::TokenRecord::rate_limit),
    /// [`OwnerSettings`](crate::OwnerSettings)): in this process (the default), or in Redis
    /// for the whole fleet. See [`RateLimits`]. The layers built on this verifier apply the
    /// limits; checking a token through the verifier alone counts nothing.
    ///
    /// ```
    /// use tollgate::{MemoryStore, RateLimits, Verifier};
    ///
    /// let verifier = Verifier::builder(MemoryStore::new()).rate_limits(RateLimits::local()).build();
    /// # drop(verifier);
    /// ```
    pub fn rate_limits(mut self, limits: RateLimits) -> Self {
        self.rate_limits = limits;
        self
    }

    /// The structured token format (prefix and lengths).
    pub fn format(mut self, format: TokenFormat) -> Self {
        self.format = format;
        self
    }

    /// How secrets are hashed; must match what the store's writers used.
    pub fn hasher(mut self, hasher: SecretHasher) -> Self {
        self.hasher = hasher;
        self
    }

    /// Builds the verifier.
    pub fn build(self) -> Verifier {
        let sizes = Sizes {
            capacity: self.cache_capacity,
            ttl: self.cache_ttl,
            stale_window: self.stale_window,
            negative_capacity: self.negative_capacity,
            negative_ttl: self.negative_ttl,
        };
        let caches = Caches::new(&sizes);
        Verifier::new(Inner::new(
            self.source,
            self.format,
            self.hasher,
            caches,
            self.source_timeout,
            Limiter::new(self.rate_limits),
        ))
    }
}
