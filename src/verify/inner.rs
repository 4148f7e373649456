//! The verifier's state, and what a request does with it: answer a [`Claim`] from the
//! caches ([`Inner::cached`]), or look the token up once however many requests wait
//! ([`Inner::resolve`], through [`Flights`]) and fill the caches with the answer.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::caches::{Caches, Known};
use super::claim::{self, Ask, Claim};
use super::clock;
use super::entry::Entry;
use super::error::{InvalidReason, VerifyError};
use super::flight::{Flights, Outcome};
use super::key::MissKey;
use crate::hash::{SecretHash, SecretHasher};
use crate::limit::{Limiter, OwnerSettings};
use crate::metrics::{Lookup, VerifierMetrics};
use crate::principal::Principal;
use crate::secret::Secret;
use crate::store::TokenSource;
use crate::token::TokenFormat;

/// What the caches say of a claim ([`Inner::cached`]).
pub(crate) enum CacheAnswer {
    /// Decided without the source: a pass, or why not.
    Decided(Result<Principal, VerifyError>),
    /// Not known to the caches: to be looked up.
    Pending(Pending),
}

impl CacheAnswer {
    fn invalid(reason: InvalidReason) -> Self {
        Self::Decided(Err(reason.into()))
    }
}

/// A lookup the caches could not answer; resolve it with [`Inner::resolve`].
#[must_use = "a pending verification decides nothing until it is resolved"]
pub(crate) struct Pending {
    key: MissKey,
    presented: SecretHash,
    /// An opaque token, kept to tell whether the token its hash finds is one whose last
    /// segment it merely is (see [`claim::refuses`]).
    opaque: Option<Box<Secret>>,
}

impl Pending {
    /// The id being looked up, when the credential named one.
    pub(crate) fn id(&self) -> Option<Arc<str>> {
        self.key.id().cloned()
    }
}

impl fmt::Debug for Pending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pending")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

pub(super) struct Inner {
    source: Arc<dyn TokenSource>,
    format: TokenFormat,
    hasher: SecretHasher,
    caches: Caches,
    flights: Flights,
    source_timeout: Duration,
    metrics: VerifierMetrics,
    limiter: Limiter,
}

impl Inner {
    pub(super) fn new(
        source: Arc<dyn TokenSource>,
        format: TokenFormat,
        hasher: SecretHasher,
        caches: Caches,
        source_timeout: Duration,
        limiter: Limiter,
    ) -> Self {
        Self {
            source,
            format,
            hasher,
            caches,
            flights: Flights::default(),
            source_timeout,
            metrics: VerifierMetrics::register(),
            limiter,
        }
    }

    pub(super) fn limiter(&self) -> &Limiter {
        &self.limiter
    }

    pub(super) fn format(&self) -> &TokenFormat {
        &self.format
    }

    pub(super) fn hasher(&self) -> &SecretHasher {
        &self.hasher
    }

    pub(super) fn source(&self) -> &dyn TokenSource {
        &*self.source
    }

    pub(super) fn source_timeout(&self) -> Duration {
        self.source_timeout
    }

    pub(super) fn caches(&self) -> &Caches {
        &self.caches
    }

    /// Decides a claim from the caches, or says what has to be looked up. Never touches
    /// the source.
    #[inline(always)]
    pub(super) fn cached(&self, claim: &Claim<'_>) -> CacheAnswer {
        match claim.ask {
            Ask::Refused(reason) => CacheAnswer::invalid(reason),
            Ask::Id(id, material) => self.by_id(id, self.hasher.hash(material.as_bytes())),
            Ask::Hash(material) => self.by_hash(claim, self.hasher.hash(material.as_bytes())),
        }
    }

    /// An opaque token, by its hash.
    fn by_hash(&self, claim: &Claim<'_>, presented: SecretHash) -> CacheAnswer {
        match self.caches.by_hash(&presented) {
            Known::Cached(id) => match claim.opaque() {
                Some(opaque) if claim::refuses(&self.format, &id, opaque) => {
                    CacheAnswer::invalid(InvalidReason::Unknown)
                }
                _ => self.by_id(&id, presented),
            },
            Known::Unknown => CacheAnswer::invalid(InvalidReason::Unknown),
            Known::Missing => {
                self.metrics.miss();
                CacheAnswer::Pending(Pending {
                    key: MissKey::Hash(presented),
                    presented,
                    opaque: claim.opaque().map(|token| Box::new(Secret::new(token))),
                })
            }
        }
    }

    #[inline]
    fn by_id(&self, id: &str, presented: SecretHash) -> CacheAnswer {
        match self.caches.by_id(id, |entry, now_ms| entry.check(&presented, now_ms)) {
            Known::Cached(decided) => {
                if decided.is_ok() {
                    self.metrics.hit();
                }
                CacheAnswer::Decided(decided.map_err(VerifyError::from))
            }
            Known::Unknown => CacheAnswer::invalid(InvalidReason::Unknown),
            Known::Missing => {
                self.metrics.miss();
                CacheAnswer::Pending(Pending {
                    key: MissKey::Id(Arc::from(id)),
                    presented,
                    opaque: None,
                })
            }
        }
    }

    /// Looks up what [`Inner::cached`] could not decide, joining the lookup in flight for
    /// the same token if one started after the token's latest invalidation.
    pub(super) async fn resolve(self: Arc<Self>, pending: Pending) -> Result<Principal, VerifyError> {
        let Pending { key, presented, opaque } = pending;
        let id = key.id().cloned();
        let generation = self.caches.generation(&key);
        let this = Arc::clone(&self);
        let lookup = self
            .flights
            .join(key, generation, move |key| this.fetch(key, generation))?;
        let entry = match lookup.await {
            Ok(entry) => entry,
            // Stale mode: the source failed, so decide from the stale entry if there is one.
            Err(err) => match id.and_then(|id| self.caches.fallback(&id)) {
                Some(entry) => {
                    tracing::warn!(token_id = %entry.id, error = %err, "token store failing: using a stale cache entry");
                    Some(entry)
                }
                None => return Err(err),
            },
        };
        match entry {
            Some(entry)
                if opaque
                    .as_ref()
                    .is_some_and(|token| claim::refuses(&self.format, &entry.id, token.expose())) =>
            {
                Err(InvalidReason::Unknown.into())
            }
            Some(entry) => Ok(entry.check(&presented, clock::coarse_ms())?),
            None => Err(InvalidReason::Unknown.into()),
        }
    }

    /// Asks the source, within the source timeout, and fills the caches with its answer.
    async fn fetch(self: Arc<Self>, key: MissKey, generation: u64) -> Outcome {
        // The token, and its owner's settings (its limit) with it: what the entry holds.
        let lookup = async {
            let record = match &key {
                MissKey::Id(id) => self.source.get(id).await?,
                MissKey::Hash(hash) => self.source.find_by_hash(hash).await?,
            };
            let owner = match record.as_ref().and_then(|record| record.owner.as_deref()) {
                Some(owner) => self.source.owner_settings(owner).await?,
                None => OwnerSettings::new(),
            };
            Ok::<_, crate::store::StoreError>(record.map(|record| (record, owner)))
        };
        let started = std::time::Instant::now();
        let (outcome, result) = match tokio::time::timeout(self.source_timeout, lookup).await {
            Err(_) => {
                tracing::warn!(key = ?key, timeout = ?self.source_timeout, "token store lookup timed out");
                (Err(VerifyError::Timeout(self.source_timeout)), Lookup::Timeout)
            }
            Ok(Err(err)) => {
                tracing::warn!(key = ?key, error = %err, "token store lookup failed");
                (Err(VerifyError::Unavailable(Arc::new(err))), Lookup::Error)
            }
            Ok(Ok(record)) => {
                let entry = record.map(|(record, owner)| {
                    Arc::new(Entry::new(&record, &owner, self.caches.ttl(), self.limiter.buckets()))
                });
                self.caches.fill(&key, entry.as_ref(), generation);
                let result = if entry.is_some() {
                    Lookup::Found
                } else {
                    Lookup::NotFound
                };
                (Ok(entry), result)
            }
        };
        self.metrics
            .lookup(result, started.elapsed(), self.caches.len(), self.caches.negative_len());
        outcome
    }

    /// The uses of cached tokens not yet reported, to the second.
    pub(super) fn unreported_uses(&self) -> Vec<(String, time::OffsetDateTime)> {
        let mut uses = Vec::new();
        self.caches.for_each(|entry| {
            if let Some(ms) = entry.take_unreported_use() {
                let nanos = i128::from(ms) * 1_000_000;
                if let Ok(at) = time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
                    uses.push((entry.id.to_string(), at));
                }
            }
        });
        uses
    }
}
