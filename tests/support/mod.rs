//! Test support shared by the integration tests.
#![allow(dead_code, unreachable_pub, unused_imports)]

#[cfg(feature = "admin")]
pub mod admin;
#[cfg(feature = "admin")]
pub mod admin_limits;
pub mod backends;
pub mod checksum;
pub mod conformance;
pub mod logs;
#[cfg(feature = "postgres")]
pub mod pg;
#[cfg(unix)]
pub mod process;
pub mod proxy;
pub mod readme;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(any(feature = "postgres", feature = "redis"))]
pub mod replicas;
#[cfg(feature = "admin")]
pub mod self_service;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
pub use checksum::checksum;
use tollgate::store::{ChangeStream, Page, Rotation, TokenSource, TokenStore};
use tollgate::{
    GeneratedToken, ListQuery, MemoryStore, SecretHash, SecretHasher, StoreError, TokenFormat, TokenPatch, TokenRecord,
};

/// p50, p99 and max of some durations, in milliseconds.
pub fn percentiles(mut samples: Vec<Duration>) -> (f64, f64, f64) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |q: f64| ms(samples[((samples.len() - 1) as f64 * q).round() as usize]);
    (at(0.5), at(0.99), ms(*samples.last().unwrap()))
}

/// Wraps a source and injects faults: counts lookups, and can delay them, make them fail,
/// make them hang, or make every Nth one fail.
pub struct Instrumented<S> {
    pub inner: S,
    pub lookups: AtomicUsize,
    delay_ms: AtomicU64,
    /// Writes are applied, then take this long to answer (a commit the caller times out on).
    write_delay_ms: AtomicU64,
    failing: AtomicBool,
    /// The next lookup panics.
    panic_once: AtomicBool,
    /// Lookups never answer.
    hanging: AtomicBool,
    /// When non-zero, every lookup whose number (from 1) is a multiple of it fails.
    fail_every: AtomicUsize,
    /// How many lookups failed by injection.
    pub injected_failures: AtomicUsize,
    /// The next lookup, once it has read the store, says so and waits to be let go.
    hold: std::sync::Mutex<Option<(tokio::sync::oneshot::Sender<()>, tokio::sync::oneshot::Receiver<()>)>>,
}

/// A lookup held after it read the store: see [`Instrumented::hold_next_lookup`].
pub struct Held {
    read: tokio::sync::oneshot::Receiver<()>,
    release: tokio::sync::oneshot::Sender<()>,
}

impl Held {
    /// Waits until the held lookup has read the store (its answer is what the store held
    /// then).
    pub async fn has_read(&mut self) {
        (&mut self.read).await.expect("the lookup reads");
    }

    /// Lets the lookup return its answer.
    pub fn release(self) {
        let _ = self.release.send(());
    }
}

impl<S> Instrumented<S> {
    pub fn new(inner: S) -> Arc<Self> {
        Arc::new(Self {
            inner,
            lookups: AtomicUsize::new(0),
            delay_ms: AtomicU64::new(0),
            write_delay_ms: AtomicU64::new(0),
            failing: AtomicBool::new(false),
            panic_once: AtomicBool::new(false),
            hanging: AtomicBool::new(false),
            fail_every: AtomicUsize::new(0),
            injected_failures: AtomicUsize::new(0),
            hold: std::sync::Mutex::new(None),
        })
    }

    /// The next lookup reads the store, then waits until the returned [`Held`] is
    /// released: a test can change the store between the read and the answer.
    pub fn hold_next_lookup(&self) -> Held {
        let (read_tx, read) = tokio::sync::oneshot::channel();
        let (release, release_rx) = tokio::sync::oneshot::channel();
        *self.hold.lock().unwrap() = Some((read_tx, release_rx));
        Held { read, release }
    }

    /// After a lookup read the store: holds it if a test asked to.
    async fn after_read(&self) {
        let held = self.hold.lock().unwrap().take();
        if let Some((read, release)) = held {
            let _ = read.send(());
            let _ = release.await;
        }
    }

    /// Lookups from now on never answer (until `set_hanging(false)`).
    pub fn set_hanging(&self, hanging: bool) {
        self.hanging.store(hanging, Ordering::SeqCst);
    }

    /// Every `n`th lookup fails (0: none).
    pub fn fail_every(&self, n: usize) {
        self.fail_every.store(n, Ordering::SeqCst);
    }

    pub fn injected_failures(&self) -> usize {
        self.injected_failures.load(Ordering::SeqCst)
    }

    pub fn lookups(&self) -> usize {
        self.lookups.load(Ordering::SeqCst)
    }

    pub fn set_delay(&self, delay: Duration) {
        self.delay_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    pub fn set_write_delay(&self, delay: Duration) {
        self.write_delay_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    pub fn panic_on_next_lookup(&self) {
        self.panic_once.store(true, Ordering::SeqCst);
    }

    async fn after_write(&self) {
        let delay = self.write_delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
    }

    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    async fn before_lookup(&self) -> Result<(), StoreError> {
        let number = self.lookups.fetch_add(1, Ordering::SeqCst) + 1;
        let delay = self.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if self.hanging.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        let every = self.fail_every.load(Ordering::SeqCst);
        if self.failing.load(Ordering::SeqCst) || (every > 0 && number % every == 0) {
            self.injected_failures.fetch_add(1, Ordering::SeqCst);
            return Err(StoreError::unavailable("injected failure"));
        }
        assert!(
            !self.panic_once.swap(false, Ordering::SeqCst),
            "injected panic in a token source"
        );
        Ok(())
    }
}

#[async_trait]
impl<S: TokenSource> TokenSource for Instrumented<S> {
    async fn get(&self, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        self.before_lookup().await?;
        let answer = self.inner.get(id).await;
        self.after_read().await;
        answer
    }

    async fn find_by_hash(&self, hash: &SecretHash) -> Result<Option<TokenRecord>, StoreError> {
        self.before_lookup().await?;
        let answer = self.inner.find_by_hash(hash).await;
        self.after_read().await;
        answer
    }

    fn changes(&self) -> Option<ChangeStream> {
        self.inner.changes()
    }

    async fn record_use(&self, uses: &[(String, time::OffsetDateTime)]) -> Result<(), StoreError> {
        self.fail_if_failing()?;
        self.inner.record_use(uses).await
    }

    async fn owner_settings(&self, owner: &str) -> Result<tollgate::OwnerSettings, StoreError> {
        self.fail_if_failing()?;
        self.inner.owner_settings(owner).await
    }
}

#[async_trait]
impl<S: TokenStore> TokenStore for Instrumented<S> {
    async fn create(&self, record: TokenRecord) -> Result<(), StoreError> {
        self.fail_if_failing()?;
        self.inner.create(record).await
    }

    async fn list(&self, query: &ListQuery) -> Result<Page, StoreError> {
        self.fail_if_failing()?;
        self.inner.list(query).await
    }

    async fn update(&self, id: &str, patch: &TokenPatch) -> Result<Option<TokenRecord>, StoreError> {
        self.fail_if_failing()?;
        self.inner.update(id, patch).await
    }

    async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        self.fail_if_failing()?;
        let deleted = self.inner.delete(id).await;
        self.after_write().await;
        deleted
    }

    async fn rotate(&self, id: &str, rotation: &Rotation) -> Result<Option<TokenRecord>, StoreError> {
        self.fail_if_failing()?;
        self.inner.rotate(id, rotation).await
    }

    async fn set_owner_settings(&self, owner: &str, settings: &tollgate::OwnerSettings) -> Result<(), StoreError> {
        self.fail_if_failing()?;
        self.inner.set_owner_settings(owner, settings).await
    }
}

impl<S> Instrumented<S> {
    fn fail_if_failing(&self) -> Result<(), StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            Err(StoreError::unavailable("injected failure"))
        } else {
            Ok(())
        }
    }
}

/// A store of one's own that keeps no owner settings: everything goes to a `MemoryStore`
/// but `owner_settings` and `set_owner_settings`, left to the traits' defaults (none, and
/// `StoreError::Unsupported`).
pub struct NoOwnerSettings(pub MemoryStore);

#[async_trait]
impl TokenSource for NoOwnerSettings {
    async fn get(&self, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        self.0.get(id).await
    }

    async fn find_by_hash(&self, hash: &SecretHash) -> Result<Option<TokenRecord>, StoreError> {
        self.0.find_by_hash(hash).await
    }

    fn changes(&self) -> Option<ChangeStream> {
        self.0.changes()
    }
}

#[async_trait]
impl TokenStore for NoOwnerSettings {
    async fn create(&self, record: TokenRecord) -> Result<(), StoreError> {
        self.0.create(record).await
    }

    async fn list(&self, query: &ListQuery) -> Result<Page, StoreError> {
        self.0.list(query).await
    }

    async fn update(&self, id: &str, patch: &TokenPatch) -> Result<Option<TokenRecord>, StoreError> {
        self.0.update(id, patch).await
    }

    async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        self.0.delete(id).await
    }

    async fn rotate(&self, id: &str, rotation: &Rotation) -> Result<Option<TokenRecord>, StoreError> {
        self.0.rotate(id, rotation).await
    }
}

/// Generates a token, stores its record (as shaped by `edit`), and returns both.
pub async fn issue(
    store: &impl TokenStore,
    name: &str,
    edit: impl FnOnce(TokenRecord) -> TokenRecord,
) -> (GeneratedToken, TokenRecord) {
    let token = TokenFormat::default().generate().unwrap();
    let hash = SecretHasher::Sha256.hash(token.secret_segment().as_bytes());
    let record = edit(TokenRecord::new(token.id(), name, hash));
    store.create(record.clone()).await.unwrap();
    (token, record)
}

/// The current time, truncated to the microsecond as every store keeps it.
pub fn now() -> time::OffsetDateTime {
    let at = time::OffsetDateTime::now_utc();
    at.replace_nanosecond(at.microsecond() * 1000).unwrap()
}

/// A well-formed token (right prefix, valid checksum) that no store holds.
pub fn unknown_token() -> GeneratedToken {
    TokenFormat::default().generate().unwrap()
}

pub fn memory() -> Arc<Instrumented<MemoryStore>> {
    Instrumented::new(MemoryStore::new())
}
