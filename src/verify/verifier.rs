//! [`Verifier`]: the verifier's public face. Everything it does is its [`Inner`]'s; it
//! reads no field of another type.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::claim::Claim;
use super::error::VerifyError;
use super::inner::{CacheAnswer, Inner, Pending};
use crate::credential::{Credential, Read};
use crate::hash::{SecretHash, SecretHasher};
use crate::limit::Limiter;
use crate::principal::Principal;
use crate::store::{ChangeEvent, StoreError};
use crate::token::TokenFormat;

/// Verifies credentials against a [`TokenSource`](crate::store::TokenSource), through a
/// cache.
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
/// # A thread of its own
///
/// The first verifier a process builds starts one thread, named `tollgate-clock`, shared by
/// every verifier after it: a coarse clock that stores the time every 10 ms, so that a cache
/// hit reads an atomic instead of the system clock. It ticks only while verifiers are
/// being used: after a second in which nothing read it, it parks, and the next read wakes
/// it (reads take the system clock meanwhile). It lives as long as the process. If it
/// cannot be spawned, every read is precise. Token expiry and rotation grace are always
/// checked against the precise clock.
///
/// ```
/// use std::sync::Arc;
/// use tollgate::{BasicCredential, Credential, MemoryStore, SecretHasher, TokenFormat, TokenRecord, Verifier};
/// use tollgate::store::TokenStore;
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
            .field("format", self.format())
            .field("hasher", self.hasher())
            .field("cached", &self.cached_count())
            .field("negative_cached", &self.negative_cached_count())
            .finish_non_exhaustive()
    }
}

impl Verifier {
    pub(super) fn new(inner: Inner) -> Self {
        Self { inner: Arc::new(inner) }
    }

    /// The token format this verifier reads.
    #[must_use]
    pub fn format(&self) -> &TokenFormat {
        self.inner.format()
    }

    /// The hasher this verifier compares secrets with. A store's writers must use the same.
    #[must_use]
    pub fn hasher(&self) -> &SecretHasher {
        self.inner.hasher()
    }

    /// Verifies a credential: from the cache when it can, from the source otherwise.
    ///
    /// # Errors
    /// [`VerifyError::Invalid`] when the credential does not authenticate;
    /// [`VerifyError::Unavailable`] or [`VerifyError::Timeout`] when the source fails.
    pub async fn verify(&self, credential: &Credential<'_>) -> Result<Principal, VerifyError> {
        let answer = self.verify_cached(&Claim::of(credential, self.format()));
        match answer {
            CacheAnswer::Decided(decided) => decided,
            CacheAnswer::Pending(pending) => self.resolve(pending).await,
        }
    }

    /// What a credential a layer's parser read claims, for this verifier's format and
    /// hasher.
    #[inline]
    pub(crate) fn claim<'a>(&'a self, read: &'a Read<'a>) -> Claim<'a> {
        Claim::read(read, self.format())
    }

    /// Decides a claim without waiting, when the caches can; otherwise says what still has
    /// to be looked up ([`Verifier::resolve`]). Never touches the source.
    #[inline(always)]
    pub(crate) fn verify_cached(&self, claim: &Claim<'_>) -> CacheAnswer {
        self.inner.cached(claim)
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
        self.inner.caches().invalidate(id);
    }

    /// Forgets that a secret hash was unknown (after importing that secret).
    pub fn invalidate_hash(&self, hash: &SecretHash) {
        self.inner.caches().invalidate_hash(hash);
    }

    /// Drops every cached entry, positive and negative.
    pub fn invalidate_all(&self) {
        self.inner.caches().invalidate_all();
    }

    /// A task that applies the source's [`ChangeEvent`]s to this
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
        let mut changes = self.inner.source().changes()?;
        let weak = Arc::downgrade(&self.inner);
        Some(async move {
            use futures_util::StreamExt as _;
            while let Some(event) = changes.next().await {
                let Some(inner) = weak.upgrade() else { return };
                let verifier = Verifier { inner };
                match event {
                    ChangeEvent::Changed { id } => verifier.invalidate(&id),
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
        let uses = self.inner.unreported_uses();
        if uses.is_empty() {
            return Ok(0);
        }
        let recorded = self.inner.source().record_use(&uses);
        match tokio::time::timeout(self.inner.source_timeout(), recorded).await {
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
        self.inner.caches().run_pending_tasks();
    }

    /// How many tokens the positive cache holds.
    #[must_use]
    pub fn cached_count(&self) -> u64 {
        self.inner.caches().len()
    }

    /// How many unknown ids and hashes the negative cache holds (approximate until
    /// [`Verifier::run_pending_tasks`]).
    #[must_use]
    pub fn negative_cached_count(&self) -> u64 {
        self.inner.caches().negative_len()
    }

    /// How many rate-limit states this process keeps: one per token, and per owner, whose
    /// limit was used and is not yet full again (with limits shared in Redis, those
    /// counted here while Redis was away). Each is forgotten once its limit is full again,
    /// within a second of it, when a limited request comes.
    #[must_use]
    pub fn rate_limit_states(&self) -> usize {
        self.inner.limiter().len()
    }

    /// The limiter the layers apply limits with.
    pub(crate) fn limiter(&self) -> &Limiter {
        self.inner.limiter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;

    fn pending(verifier: &Verifier, credential: &Credential<'_>) -> Pending {
        match verifier.verify_cached(&Claim::of(credential, verifier.format())) {
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
