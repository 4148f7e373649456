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

use crate::{Credential, Principal, SecretHash, SecretHasher, StoreError, TokenFormat, TokenSource};

mod builder;
mod clock;
mod entry;
mod flight;
mod generation;
mod index;
mod inner;
mod key;
mod positive;

pub use builder::{MAX_DURATION, VerifierBuilder};
pub(crate) use clock::coarse_ms;
pub(crate) use entry::Entry;
use flight::MissKey;
use inner::{Inner, NegativeKey};

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

/// What the caches say of a credential ([`Verifier::verify_cached`]).
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
/// # Runtime
///
/// A cache miss looks the token up as a Tokio task, under a Tokio timeout: verify (and
/// poll [`AuthLayer`](crate::AuthLayer)'s futures) within a Tokio runtime with its time
/// driver, as `#[tokio::main]`, axum and hyper-util give. Outside one, a cache hit is
/// decided as anywhere, and a miss fails with [`VerifyError::Unavailable`] naming the
/// requirement (an error is logged too) rather than panicking.
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
            CacheAnswer::Decided(decided) => decided,
            CacheAnswer::Pending(pending) => self.resolve(pending).await,
        }
    }

    /// Decides a credential without waiting, when the caches can; otherwise says what
    /// still has to be looked up ([`Verifier::resolve`]). Never touches the source.
    #[inline]
    pub(crate) fn verify_cached(&self, credential: &Credential<'_>) -> CacheAnswer {
        self.inner.cached(credential)
    }

    /// Looks up what [`Verifier::verify_cached`] could not decide. The returned future
    /// owns everything it needs, so it can be boxed or spawned.
    pub(crate) fn resolve(
        &self,
        pending: Pending,
    ) -> impl Future<Output = Result<Principal, VerifyError>> + Send + 'static {
        Arc::clone(&self.inner).resolve(pending)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemoryStore, TokenFormat};

    fn pending(verifier: &Verifier, credential: &Credential<'_>) -> Pending {
        match verifier.verify_cached(credential) {
            CacheAnswer::Pending(pending) => pending,
            CacheAnswer::Decided(decided) => panic!("decided from an empty cache: {decided:?}"),
        }
    }

    #[test]
    fn a_pending_lookup_names_its_token_id_and_never_the_secret() {
        let verifier = Verifier::builder(MemoryStore::new()).build();
        let token = TokenFormat::default().generate().unwrap();

        let by_id = pending(&verifier, &Credential::Bearer(token.token().expose()));
        assert_eq!(by_id.id().as_deref(), Some(token.id()));
        let shown = format!("{by_id:?}");
        assert!(shown.contains(token.id()), "{shown}");
        assert!(!shown.contains(token.secret_segment()), "{shown}");

        // An opaque token is looked up by its hash: no id, and neither secret nor hash shown.
        let opaque = "an-imported-secret-of-some-length";
        let by_hash = pending(&verifier, &Credential::Bearer(opaque));
        assert_eq!(by_hash.id(), None);
        let shown = format!("{by_hash:?}");
        assert!(shown.contains("Hash(..)") && !shown.contains(opaque), "{shown}");
        let hash = SecretHasher::Sha256.hash(opaque.as_bytes()).to_hex();
        assert!(!shown.contains(&hash), "{shown}");
    }
}
