//! The verifier's state, and what a request does with it: answer from the caches
//! ([`Inner::cached`]), or look the token up once however many requests wait
//! ([`Inner::resolve`], through [`Flights`]) and fill the caches with the answer
//! ([`Inner::fill`]).

use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;

use super::flight::{Flights, MissKey, Outcome};
use super::generation::Generations;
use super::positive::Positive;
use super::{CacheAnswer, Entry, InvalidReason, Pending, VerifyError, clock};
use crate::metrics::Lookup;
use crate::{Credential, Principal, SecretHash, SecretHasher, StoreError, TokenFormat, TokenSource};

pub(super) type FastHash = foldhash::fast::RandomState;

#[derive(Clone, PartialEq, Eq, Hash)]
pub(super) enum NegativeKey {
    Id(Box<str>),
    Hash(SecretHash),
}

impl NegativeKey {
    fn of(key: &MissKey) -> Self {
        match key {
            MissKey::Id(id) => Self::Id((**id).into()),
            MissKey::Hash(hash) => Self::Hash(*hash),
        }
    }
}

pub(super) struct Inner {
    pub(super) source: Arc<dyn TokenSource>,
    pub(super) format: TokenFormat,
    pub(super) hasher: SecretHasher,
    /// Token id → what every request is checked against. Its keys are ids of real tokens,
    /// so a fast hasher is safe: attacker-chosen ids only probe, they are never inserted.
    pub(super) positive: Positive,
    /// Hash of an opaque token → its id; inserted only for tokens the source returned.
    pub(super) by_hash: Cache<SecretHash, Arc<str>, FastHash>,
    /// Ids and hashes the source recently said it does not know. Attackers choose these
    /// keys, so they keep the default, flooding-resistant SipHash.
    pub(super) negative: Cache<NegativeKey, ()>,
    pub(super) flights: Flights,
    /// Bumped by invalidations; a lookup that overlaps one for its token does not fill the
    /// cache.
    pub(super) generations: Generations,
    pub(super) source_timeout: Duration,
    pub(super) metrics: crate::metrics::VerifierMetrics,
}

fn reason_for(err: &crate::TokenError) -> InvalidReason {
    match err {
        crate::TokenError::BadChecksum => InvalidReason::BadChecksum,
        _ => InvalidReason::Malformed,
    }
}

impl Inner {
    /// Decides a credential from the caches, or says what has to be looked up. Never
    /// touches the source.
    #[inline]
    pub(super) fn cached(&self, credential: &Credential<'_>) -> CacheAnswer {
        let (id, presented) = match credential {
            Credential::Token(Ok(parsed)) => (parsed.id(), self.hasher.hash(parsed.secret_segment().as_bytes())),
            Credential::Token(Err(err)) => return CacheAnswer::invalid(reason_for(err)),
            Credential::Bearer(token) => match self.format.parse(token) {
                Ok(Some(parsed)) => (parsed.id(), self.hasher.hash(parsed.secret_segment().as_bytes())),
                Ok(None) => return self.opaque(token),
                Err(err) => return CacheAnswer::invalid(reason_for(&err)),
            },
            Credential::Basic(basic) => {
                let id = basic.id();
                // Ids are base62 and short: anything else is unknown without a lookup.
                if id.len() > crate::token::MAX_ID_LEN || !crate::base62::is_base62(id) {
                    return CacheAnswer::invalid(InvalidReason::Unknown);
                }
                let secret = basic.secret();
                let material = match self.format.parse(secret) {
                    // The whole token as the password: its id must be the user-id.
                    Ok(Some(parsed)) if parsed.id() == id => parsed.secret_segment(),
                    Ok(Some(_)) => return CacheAnswer::invalid(InvalidReason::WrongSecret),
                    Err(err) => return CacheAnswer::invalid(reason_for(&err)),
                    // The last segment, or an imported secret.
                    Ok(None) => secret,
                };
                (id, self.hasher.hash(material.as_bytes()))
            }
        };
        self.by_id(id, presented)
    }

    #[inline]
    fn by_id(&self, id: &str, presented: SecretHash) -> CacheAnswer {
        let decide = |entry: &Arc<Entry>, now_ms| entry.check(&presented, now_ms);
        if let Some(decided) = self.positive.with(id, decide) {
            if decided.is_ok() {
                self.metrics.hit();
            }
            return CacheAnswer::Decided(decided.map_err(VerifyError::from));
        }
        // `get`, not `contains_key`: only a read counts as a use for the LRU order.
        if self.negative.get(&NegativeKey::Id(id.into())).is_some() {
            return CacheAnswer::invalid(InvalidReason::Unknown);
        }
        self.metrics.miss();
        CacheAnswer::Pending(Pending {
            key: MissKey::Id(Arc::from(id)),
            presented,
            opaque: None,
        })
    }

    /// An opaque Bearer token: looked up by its hash, for imported tokens. A generated
    /// token's last segment on its own (a leaked Basic password, say) finds its token by
    /// hash too, and is refused: a generated token works only whole, or with its id.
    fn opaque(&self, token: &str) -> CacheAnswer {
        let presented = self.hasher.hash(token.as_bytes());
        if let Some(id) = self.by_hash.get(&presented) {
            if self.format.is_segment_of(&id, token) {
                return CacheAnswer::invalid(InvalidReason::Unknown);
            }
            return self.by_id(&id, presented);
        }
        if self.negative.get(&NegativeKey::Hash(presented)).is_some() {
            return CacheAnswer::invalid(InvalidReason::Unknown);
        }
        self.metrics.miss();
        CacheAnswer::Pending(Pending {
            key: MissKey::Hash(presented),
            presented,
            opaque: Some(Box::new(crate::Secret::new(token))),
        })
    }

    /// Looks up what [`Inner::cached`] could not decide, joining the lookup in flight for
    /// the same token if one started after the token's latest invalidation.
    pub(super) async fn resolve(self: Arc<Self>, pending: Pending) -> Result<Principal, VerifyError> {
        let Pending { key, presented, opaque } = pending;
        let id = match &key {
            MissKey::Id(id) => Some(Arc::clone(id)),
            MissKey::Hash(_) => None,
        };
        let generation = self.generations.of(&key);
        let this = Arc::clone(&self);
        let lookup = self
            .flights
            .join(key, generation, move |key| this.fetch(key, generation))?;
        let entry = match lookup.await {
            Ok(entry) => entry,
            // Stale mode: the source failed, so decide from the stale entry if there is one.
            Err(err) => match id.and_then(|id| self.positive.fallback(&id)) {
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
                    .is_some_and(|token| self.format.is_segment_of(&entry.id, token.expose())) =>
            {
                Err(InvalidReason::Unknown.into())
            }
            Some(entry) => Ok(entry.check(&presented, clock::coarse_ms())?),
            None => Err(InvalidReason::Unknown.into()),
        }
    }

    /// Asks the source, within the source timeout, and fills the caches with its answer.
    async fn fetch(self: Arc<Self>, key: MissKey, generation: u64) -> Outcome {
        let lookup = async {
            match &key {
                MissKey::Id(id) => self.source.get(id).await,
                MissKey::Hash(hash) => self.source.find_by_hash(hash).await,
            }
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
                let entry = record.map(|record| Arc::new(Entry::from_record(&record, self.positive.ttl())));
                self.fill(&key, entry.as_ref(), generation);
                let result = if entry.is_some() {
                    Lookup::Found
                } else {
                    Lookup::NotFound
                };
                (Ok(entry), result)
            }
        };
        self.metrics.lookup(
            result,
            started.elapsed(),
            self.positive.len() as u64,
            self.negative.entry_count(),
        );
        outcome
    }

    /// Caches what a lookup found, unless an invalidation of its token overlapped it: for
    /// a positive entry, see the invariants in `positive.rs`. The negative cache and the
    /// hash-to-id map are checked after inserting; what they could briefly hold fails closed
    /// (a 401 for a token just created) or leads to a lookup by id anyway.
    fn fill(&self, key: &MissKey, found: Option<&Arc<Entry>>, started_at: u64) {
        let current = || self.generations.of(key) == started_at;
        match found {
            Some(entry) => {
                if self.positive.insert_if(Arc::clone(entry), current) {
                    if let MissKey::Hash(hash) = key {
                        self.by_hash.insert(*hash, Arc::clone(&entry.id));
                        if !current() {
                            self.by_hash.invalidate(hash);
                        }
                    }
                }
            }
            None => {
                // The token is gone: a stale entry kept for stale mode must not outlive it.
                if let MissKey::Id(id) = key {
                    self.positive.invalidate(id);
                }
                self.negative.insert(NegativeKey::of(key), ());
                if !current() {
                    self.negative.invalidate(&NegativeKey::of(key));
                }
            }
        }
    }
}

/// The error of a lookup that cannot run: no Tokio runtime to run it on.
pub(super) fn no_runtime() -> VerifyError {
    tracing::error!("a token lookup was polled outside a Tokio runtime: tollgate's lookups run on Tokio");
    VerifyError::Unavailable(Arc::new(StoreError::Config(
        "a cache miss needs a Tokio runtime (with its time driver) to look the token up: \
         verify, and poll the layer's futures, from within one"
            .to_owned(),
    )))
}
