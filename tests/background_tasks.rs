//! The verifier's two background tasks, run as a service runs them: `usage_task` (uses
//! reported in batches, a failing store survived) and `invalidation_task` (`Changed`,
//! `Reset`, and the end of the stream). Time is tokio's paused clock: the intervals pass
//! without waiting.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use support::issue;
use tollgate::store::{ChangeEvent, ChangeStream, TokenSource};
use tollgate::{Credential, GeneratedToken, MemoryStore, SecretHash, StoreError, TokenRecord, Verifier};

/// A source over a `MemoryStore` whose change stream the test drives, and which records
/// every `record_use` batch (failing them on demand).
struct Scripted {
    inner: MemoryStore,
    changes: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<ChangeEvent>>>,
    batches: Mutex<Vec<Vec<String>>>,
    failing: AtomicBool,
    lookups: AtomicUsize,
}

impl Scripted {
    fn new() -> (Arc<Self>, tokio::sync::mpsc::UnboundedSender<ChangeEvent>) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let source = Arc::new(Self {
            inner: MemoryStore::new(),
            changes: Mutex::new(Some(rx)),
            batches: Mutex::new(Vec::new()),
            failing: AtomicBool::new(false),
            lookups: AtomicUsize::new(0),
        });
        (source, tx)
    }

    fn batches(&self) -> Vec<Vec<String>> {
        self.batches.lock().unwrap().clone()
    }
}

#[async_trait]
impl TokenSource for Scripted {
    async fn get(&self, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.inner.get(id).await
    }

    async fn find_by_hash(&self, hash: &SecretHash) -> Result<Option<TokenRecord>, StoreError> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.inner.find_by_hash(hash).await
    }

    async fn record_use(&self, uses: &[(String, time::OffsetDateTime)]) -> Result<(), StoreError> {
        let mut ids: Vec<String> = uses.iter().map(|(id, _)| id.clone()).collect();
        ids.sort();
        self.batches.lock().unwrap().push(ids);
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::unavailable("injected failure"));
        }
        self.inner.record_use(uses).await
    }

    fn changes(&self) -> Option<ChangeStream> {
        let rx = self.changes.lock().unwrap().take()?;
        Some(tokio_stream_from(rx))
    }
}

fn tokio_stream_from(rx: tokio::sync::mpsc::UnboundedReceiver<ChangeEvent>) -> ChangeStream {
    Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|event| (event, rx))
    }))
}

async fn tokens(source: &Scripted, names: &[&str]) -> Vec<GeneratedToken> {
    let mut made = Vec::new();
    for name in names {
        made.push(issue(&source.inner, name, |r| r).await.0);
    }
    made
}

async fn verify(verifier: &Verifier, token: &GeneratedToken) {
    verifier
        .verify(&Credential::Bearer(token.token().expose()))
        .await
        .expect("valid");
}

/// Lets the spawned task run what is ready, with time paused.
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn the_usage_task_reports_uses_in_one_batch_and_outlives_a_failing_store() {
    let (source, _changes) = Scripted::new();
    let made = tokens(&source, &["a", "b", "c", "later"]).await;
    let verifier = Verifier::builder(source.clone()).build();
    let task = tokio::spawn(verifier.usage_task(Duration::from_secs(10)));

    for token in &made[..3] {
        verify(&verifier, token).await;
        verify(&verifier, token).await;
    }
    tokio::time::sleep(Duration::from_secs(11)).await;
    settle().await;
    let mut first: Vec<String> = made[..3].iter().map(|t| t.id().to_owned()).collect();
    first.sort();
    assert_eq!(source.batches(), [first.clone()], "three tokens, six uses: one call");
    for token in &made[..3] {
        let record = source.inner.get(token.id()).await.unwrap().unwrap();
        assert!(record.last_used_at.is_some(), "{} recorded", token.id());
    }

    // The store fails the next report: the task logs it and goes on; those uses are not
    // sent again, and a later use is reported at the next interval.
    source.failing.store(true, Ordering::SeqCst);
    verify(&verifier, &made[3]).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    settle().await;
    assert_eq!(source.batches().len(), 2);
    assert_eq!(source.batches()[1], [made[3].id().to_owned()], "only the new use");
    assert!(!task.is_finished(), "a failing store does not stop the task");
    source.failing.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(30)).await;
    settle().await;
    assert_eq!(source.batches().len(), 2, "nothing new used, nothing sent");
    assert!(
        source
            .inner
            .get(made[3].id())
            .await
            .unwrap()
            .unwrap()
            .last_used_at
            .is_none(),
        "the failed report is not retried"
    );

    // The task ends with the last clone of the verifier.
    drop(verifier);
    tokio::time::sleep(Duration::from_secs(10)).await;
    tokio::time::timeout(Duration::from_secs(1), task)
        .await
        .expect("the task ends once the verifier is gone")
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn change_events_reset_and_the_stream_ending_all_empty_the_cache() {
    let (source, changes) = Scripted::new();
    let made = tokens(&source, &["a", "b"]).await;
    let verifier = Verifier::builder(source.clone()).build();
    let task = tokio::spawn(verifier.invalidation_task().expect("the source has a stream"));
    let warm = || async {
        for token in &made {
            verify(&verifier, token).await;
        }
    };
    let lookups = || source.lookups.load(Ordering::SeqCst);
    warm().await;
    assert_eq!((lookups(), verifier.cached_count()), (2, 2));
    warm().await;
    assert_eq!(lookups(), 2, "both cached");

    // `Changed` drops one token.
    changes
        .send(ChangeEvent::Changed {
            id: made[0].id().to_owned(),
        })
        .unwrap();
    settle().await;
    warm().await;
    assert_eq!(lookups(), 3, "only the changed token was read again");

    // `Reset` drops every token.
    changes.send(ChangeEvent::Reset).unwrap();
    settle().await;
    warm().await;
    assert_eq!(lookups(), 5, "both read again after a reset");

    // The stream ends (the store shut its listener): changes may be lost from now on, so
    // the cache starts from nothing and the task ends.
    drop(changes);
    settle().await;
    assert!(task.is_finished(), "the task ends with its stream");
    warm().await;
    assert_eq!(lookups(), 7, "both read again after the stream ended");
    assert!(source.changes().is_none(), "the stream was taken once");
}

#[tokio::test]
async fn a_stream_of_only_unrelated_ids_keeps_the_cache() {
    let (source, changes) = Scripted::new();
    let made = tokens(&source, &["a"]).await;
    let verifier = Verifier::builder(source.clone()).build();
    let _task = tokio::spawn(verifier.invalidation_task().expect("the source has a stream"));
    verify(&verifier, &made[0]).await;
    for i in 0..100 {
        changes
            .send(ChangeEvent::Changed {
                id: format!("other{i}"),
            })
            .unwrap();
    }
    settle().await;
    verify(&verifier, &made[0]).await;
    assert_eq!(source.lookups.load(Ordering::SeqCst), 1);
}
