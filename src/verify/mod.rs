//! The [`Verifier`]: decides whether a credential names a usable token, with a cache in
//! front of the [`TokenSource`].
//!
//! A request's path: the credential is hashed (SHA-256 or HMAC), the token is found in the
//! cache by id (structured tokens, Basic) or by hash (opaque tokens), and the secret,
//! status and expiry are checked on every request, hits included. A miss goes to the
//! source once per token however many requests wait for it ([`flight`]); unknown tokens
//! are remembered for a short while in a bounded negative cache. Store errors are never
//! cached.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;

use crate::{Credential, Principal, SecretHash, SecretHasher, StoreError, TokenFormat, TokenSource};

mod builder;
mod clock;
mod entry;
mod flight;
mod generation;
mod key;
mod positive;

pub use builder::VerifierBuilder;
pub(crate) use clock::coarse_ms;
pub(crate) use entry::Entry;
use flight::{Flights, MissKey};
use generation::Generations;
use positive::Positive;

/// Why a credential does not authenticate. All of them are answered alike (401
/// `invalid_token`) so that an attacker cannot tell which; the reason is for logs and
/// metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidReason {
    /// A token that claims the configured prefix but does not have the format's shape.
    #[error("token is malformed")]
    Malformed,
    /// The checksum does not match: rejected without a lookup.
    #[error("token checksum does not match")]
    BadChecksum,
    /// No token has this id (or this opaque secret).
    #[error("no such token")]
    Unknown,
    /// The id exists but the secret does not match it.
    #[error("secret does not match")]
    WrongSecret,
    /// The token's expiry has passed.
    #[error("token has expired")]
    Expired,
    /// The token is inactive.
    #[error("token is inactive")]
    Inactive,
}

/// Why verification did not produce a [`Principal`].
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The credential does not authenticate: 401.
    #[error("invalid credentials: {0}")]
    Invalid(InvalidReason),
    /// The source failed: 503, and never a pass.
    #[error(transparent)]
    Unavailable(Arc<StoreError>),
    /// The source did not answer in time: 503.
    #[error("token store did not answer within {0:?}")]
    Timeout(Duration),
}

impl From<InvalidReason> for VerifyError {
    fn from(reason: InvalidReason) -> Self {
        Self::Invalid(reason)
    }
}

/// A lookup the cache could not answer; resolve it with [`Verifier::resolve`].
#[must_use = "a pending verification decides nothing until it is resolved"]
pub(crate) struct Pending {
    key: MissKey,
    presented: SecretHash,
    /// An opaque token, kept to tell whether the token found by its hash is one whose
    /// secret it may not be on its own (see [`Inner::opaque`]).
    opaque: Option<Box<crate::Secret>>,
}

impl Pending {
    /// The id being looked up, when the credential named one.
    pub(crate) fn id(&self) -> Option<Arc<str>> {
        match &self.key {
            MissKey::Id(id) => Some(Arc::clone(id)),
            MissKey::Hash(_) => None,
        }
    }
}

impl fmt::Debug for Pending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pending")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// Verifies credentials against a [`TokenSource`], through a cache.
///
/// Cheap to clone; every clone shares one cache. Build it with [`Verifier::builder`].
///
/// ```
/// use std::sync::Arc;
/// use tollgate::{BasicCredential, Credential, MemoryStore, SecretHasher, TokenFormat, TokenRecord, TokenStore, Verifier};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = Arc::new(MemoryStore::new());
/// let verifier = Verifier::builder(store.clone()).build();
///
/// let token = TokenFormat::default().generate().unwrap();
/// let hash = SecretHasher::Sha256.hash(token.secret_segment().as_bytes());
/// store.create(TokenRecord::new(token.id(), "docs", hash)).await.unwrap();
///
/// let principal = verifier.verify(&Credential::Bearer(token.token().expose())).await.unwrap();
/// assert_eq!(principal.id(), token.id());
///
/// // Basic: the id, and the whole token or its last segment as the password.
/// let basic = BasicCredential::new(token.id(), token.secret_segment());
/// assert!(verifier.verify(&Credential::Basic(basic)).await.is_ok());
/// # }
/// ```
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("format", &self.inner.format)
            .field("hasher", &self.inner.hasher)
            .field("cached", &self.inner.positive.len())
            .field("negative_cached", &self.inner.negative.entry_count())
            .finish_non_exhaustive()
    }
}

type FastHash = foldhash::fast::RandomState;

#[derive(Clone, PartialEq, Eq, Hash)]
enum NegativeKey {
    Id(Box<str>),
    Hash(SecretHash),
}

struct Inner {
    source: Arc<dyn TokenSource>,
    format: TokenFormat,
    hasher: SecretHasher,
    /// Token id → what every request is checked against. Its keys are ids of real tokens,
    /// so a fast hasher is safe: attacker-chosen ids only probe, they are never inserted.
    positive: Positive,
    /// Hash of an opaque token → its id; inserted only for tokens the source returned.
    by_hash: Cache<SecretHash, Arc<str>, FastHash>,
    /// Ids and hashes the source recently said it does not know. Attackers choose these
    /// keys, so they keep the default, flooding-resistant SipHash.
    negative: Cache<NegativeKey, ()>,
    flights: Flights,
    /// Bumped by invalidations; a lookup that overlaps one for its token does not fill the
    /// cache.
    generations: Generations,
    source_timeout: Duration,
    metrics: crate::metrics::VerifierMetrics,
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

    /// The token format this verifier reads.
    #[must_use]
    pub fn format(&self) -> &TokenFormat {
        &self.inner.format
    }

    /// The hasher this verifier compares secrets with. A store's writers must use the same.
    #[must_use]
    pub fn hasher(&self) -> &SecretHasher {
        &self.inner.hasher
    }

    /// Verifies a credential: from the cache when it can, from the source otherwise.
    ///
    /// # Errors
    /// [`VerifyError::Invalid`] when the credential does not authenticate;
    /// [`VerifyError::Unavailable`] or [`VerifyError::Timeout`] when the source fails.
    pub async fn verify(&self, credential: &Credential<'_>) -> Result<Principal, VerifyError> {
        match self.verify_cached(credential) {
            Ok(decided) => decided,
            Err(pending) => self.resolve(pending).await,
        }
    }

    /// Decides a credential without waiting, when the caches can: `Ok` with the decision,
    /// or `Err` with what still has to be looked up. Never touches the source.
    #[inline]
    pub(crate) fn verify_cached(&self, credential: &Credential<'_>) -> Result<Result<Principal, VerifyError>, Pending> {
        let inner = &*self.inner;
        let (id, presented) = match credential {
            Credential::Token(Ok(parsed)) => (parsed.id(), inner.hasher.hash(parsed.secret_segment().as_bytes())),
            Credential::Token(Err(err)) => return Ok(Err(reason_for(err).into())),
            Credential::Bearer(token) => match inner.format.parse(token) {
                Ok(Some(parsed)) => (parsed.id(), inner.hasher.hash(parsed.secret_segment().as_bytes())),
                Ok(None) => return inner.opaque(token),
                Err(err) => return Ok(Err(reason_for(&err).into())),
            },
            Credential::Basic(basic) => {
                let id = basic.id();
                // Ids are base62 and short: anything else is unknown without a lookup.
                if id.len() > crate::token::MAX_ID_LEN || !crate::base62::is_base62(id) {
                    return Ok(Err(InvalidReason::Unknown.into()));
                }
                let secret = basic.secret();
                let material = match inner.format.parse(secret) {
                    // The whole token as the password: its id must be the user-id.
                    Ok(Some(parsed)) if parsed.id() == id => parsed.secret_segment(),
                    Ok(Some(_)) => return Ok(Err(InvalidReason::WrongSecret.into())),
                    Err(err) => return Ok(Err(reason_for(&err).into())),
                    // The last segment, or an imported secret.
                    Ok(None) => secret,
                };
                (id, inner.hasher.hash(material.as_bytes()))
            }
        };
        inner.by_id(id, presented)
    }

    /// Looks up what [`Verifier::verify_cached`] could not decide. The returned future
    /// owns everything it needs, so it can be boxed or spawned.
    pub(crate) fn resolve(
        &self,
        pending: Pending,
    ) -> impl Future<Output = Result<Principal, VerifyError>> + Send + 'static {
        let inner = Arc::clone(&self.inner);
        async move {
            let id = match &pending.key {
                MissKey::Id(id) => Some(Arc::clone(id)),
                MissKey::Hash(_) => None,
            };
            let entry = match inner.flights.join(&inner, pending.key).await {
                Ok(entry) => entry,
                // Stale mode: the source failed, so decide from the stale entry if there is one.
                Err(err) => match id.and_then(|id| inner.positive.fallback(&id)) {
                    Some(entry) => {
                        tracing::warn!(token_id = %entry.id, error = %err, "token store failing: using a stale cache entry");
                        Some(entry)
                    }
                    None => return Err(err),
                },
            };
            match entry {
                Some(entry)
                    if pending
                        .opaque
                        .as_ref()
                        .is_some_and(|token| inner.format.is_segment_of(&entry.id, token.expose())) =>
                {
                    Err(InvalidReason::Unknown.into())
                }
                Some(entry) => Ok(entry.check(&pending.presented, clock::coarse_ms())?),
                None => Err(InvalidReason::Unknown.into()),
            }
        }
    }

    /// Drops everything cached about one token, so the next request reads it from the
    /// source. Call it after changing the token in the store (the admin API does).
    pub fn invalidate(&self, id: &str) {
        let inner = &*self.inner;
        inner.generations.bump_id(id);
        inner.positive.invalidate(id);
        inner.negative.invalidate(&NegativeKey::Id(id.into()));
    }

    /// Forgets that a secret hash was unknown (after importing that secret).
    pub fn invalidate_hash(&self, hash: &SecretHash) {
        let inner = &*self.inner;
        inner.generations.bump_hash();
        inner.by_hash.invalidate(hash);
        inner.negative.invalidate(&NegativeKey::Hash(*hash));
    }

    /// Drops every cached entry, positive and negative.
    pub fn invalidate_all(&self) {
        let inner = &*self.inner;
        inner.generations.bump_all();
        inner.positive.invalidate_all();
        inner.by_hash.invalidate_all();
        inner.negative.invalidate_all();
    }

    /// A task that applies the source's [`ChangeEvent`](crate::ChangeEvent)s to this
    /// verifier's cache, so a token changed by any replica is dropped at once. `None`
    /// when the source has no change stream. Spawn it on your runtime; it ends when the
    /// stream ends or every clone of this verifier is dropped.
    ///
    /// ```
    /// # use tollgate::{MemoryStore, Verifier};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let verifier = Verifier::builder(MemoryStore::new()).build();
    /// if let Some(task) = verifier.invalidation_task() {
    ///     tokio::spawn(task);
    /// }
    /// # }
    /// ```
    #[must_use = "the task does nothing unless it is spawned"]
    pub fn invalidation_task(&self) -> Option<impl Future<Output = ()> + Send + 'static> {
        let mut changes = self.inner.source.changes()?;
        let weak = Arc::downgrade(&self.inner);
        Some(async move {
            use futures_util::StreamExt as _;
            while let Some(event) = changes.next().await {
                let Some(inner) = weak.upgrade() else { return };
                let verifier = Verifier { inner };
                match event {
                    crate::ChangeEvent::Changed { id } => verifier.invalidate(&id),
                    _ => verifier.invalidate_all(),
                }
            }
            // The stream ended: changes may be lost from here on, so start from nothing.
            if let Some(inner) = weak.upgrade() {
                Verifier { inner }.invalidate_all();
            }
        })
    }

    /// Reports to the source when cached tokens were last used, for every token used since
    /// the last report, and returns how many it reported. Uses are noted to the second on
    /// every successful verification, at no cost to the store; a token evicted from the
    /// cache before a report loses its latest use. See [`Verifier::usage_task`].
    ///
    /// # Errors
    /// The source's error, or [`StoreError::Unavailable`] when it does not answer within the
    /// source timeout. Those uses are not reported again.
    pub async fn flush_usage(&self) -> Result<usize, StoreError> {
        let mut uses = Vec::new();
        self.inner.positive.for_each(|entry| {
            if let Some(ms) = entry.take_unreported_use() {
                let nanos = i128::from(ms) * 1_000_000;
                if let Ok(at) = time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
                    uses.push((entry.id.to_string(), at));
                }
            }
        });
        if uses.is_empty() {
            return Ok(0);
        }
        match tokio::time::timeout(self.inner.source_timeout, self.inner.source.record_use(&uses)).await {
            Ok(result) => result.map(|()| uses.len()),
            Err(_) => Err(StoreError::unavailable("recording token use timed out")),
        }
    }

    /// A task that calls [`Verifier::flush_usage`] every `interval`, so that records show
    /// `last_used_at`. Spawn it on your runtime; it ends when every clone of this verifier
    /// is dropped. Failures are logged and retried with the next uses.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tollgate::{MemoryStore, Verifier};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let verifier = Verifier::builder(MemoryStore::new()).build();
    /// tokio::spawn(verifier.usage_task(Duration::from_secs(10)));
    /// # }
    /// ```
    #[must_use = "the task does nothing unless it is spawned"]
    pub fn usage_task(&self, interval: Duration) -> impl Future<Output = ()> + Send + 'static {
        let weak = Arc::downgrade(&self.inner);
        async move {
            loop {
                tokio::time::sleep(interval).await;
                let Some(inner) = weak.upgrade() else { return };
                if let Err(err) = (Verifier { inner }).flush_usage().await {
                    tracing::warn!(error = %err, "recording token use failed");
                }
            }
        }
    }

    /// Runs the caches' pending maintenance (evictions), so that counts are exact. For
    /// tests and metrics; the caches do this on their own as they are used.
    pub fn run_pending_tasks(&self) {
        self.inner.positive.run_pending_tasks();
        self.inner.by_hash.run_pending_tasks();
        self.inner.negative.run_pending_tasks();
    }

    /// How many tokens the positive cache holds.
    #[must_use]
    pub fn cached_count(&self) -> u64 {
        self.inner.positive.len() as u64
    }

    /// How many unknown ids and hashes the negative cache holds (approximate until
    /// [`Verifier::run_pending_tasks`]).
    #[must_use]
    pub fn negative_cached_count(&self) -> u64 {
        self.inner.negative.entry_count()
    }
}

fn reason_for(err: &crate::TokenError) -> InvalidReason {
    match err {
        crate::TokenError::BadChecksum => InvalidReason::BadChecksum,
        _ => InvalidReason::Malformed,
    }
}

impl Inner {
    #[inline]
    fn by_id(&self, id: &str, presented: SecretHash) -> Result<Result<Principal, VerifyError>, Pending> {
        let decide = |entry: &Arc<Entry>, now_ms| entry.check(&presented, now_ms);
        if let Some(decided) = self.positive.with(id, decide) {
            if decided.is_ok() {
                self.metrics.hit();
            }
            return Ok(decided.map_err(VerifyError::from));
        }
        // `get`, not `contains_key`: only a read counts as a use for the LRU order.
        if self.negative.get(&NegativeKey::Id(id.into())).is_some() {
            return Ok(Err(InvalidReason::Unknown.into()));
        }
        self.metrics.miss();
        Err(Pending {
            key: MissKey::Id(Arc::from(id)),
            presented,
            opaque: None,
        })
    }

    /// An opaque Bearer token: looked up by its hash, for imported tokens. A generated
    /// token's last segment on its own (a leaked Basic password, say) finds its token by
    /// hash too, and is refused: a generated token works only whole, or with its id.
    fn opaque(&self, token: &str) -> Result<Result<Principal, VerifyError>, Pending> {
        let presented = self.hasher.hash(token.as_bytes());
        if let Some(id) = self.by_hash.get(&presented) {
            if self.format.is_segment_of(&id, token) {
                return Ok(Err(InvalidReason::Unknown.into()));
            }
            return self.by_id(&id, presented);
        }
        if self.negative.get(&NegativeKey::Hash(presented)).is_some() {
            return Ok(Err(InvalidReason::Unknown.into()));
        }
        self.metrics.miss();
        Err(Pending {
            key: MissKey::Hash(presented),
            presented,
            opaque: Some(Box::new(crate::Secret::new(token))),
        })
    }

    /// Caches what a lookup found, unless an invalidation of its token overlapped it.
    ///
    /// A positive entry is checked and inserted under the index's lock for its id, the lock
    /// `invalidate` needs to remove it: either the fill sees the new generation and inserts
    /// nothing, or the invalidation removes the entry before it returns. So no request that
    /// starts after `invalidate` returned can see the old entry. The negative cache and the
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
                self.negative.insert(key.negative(), ());
                if !current() {
                    self.negative.invalidate(&key.negative());
                }
            }
        }
    }
}
