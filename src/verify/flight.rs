//! Single flight: however many requests miss the cache for one token at once, the source
//! is asked once, and every waiter gets that one answer (errors included, uncached).

use std::fmt;
use std::sync::Arc;

use dashmap::DashMap;
use dashmap::mapref::entry::Entry as Slot;
use futures_util::future::{BoxFuture, FutureExt as _, Shared};

use super::{Entry, Inner, NegativeKey, VerifyError};
use crate::metrics::Lookup;
use crate::{SecretHash, StoreError};

/// What a miss is looked up by.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) enum MissKey {
    /// A structured token's or a Basic credential's id.
    Id(Arc<str>),
    /// An opaque token's hash.
    Hash(SecretHash),
}

impl MissKey {
    pub(super) fn negative(&self) -> NegativeKey {
        match self {
            Self::Id(id) => NegativeKey::Id((**id).into()),
            Self::Hash(hash) => NegativeKey::Hash(*hash),
        }
    }
}

impl fmt::Debug for MissKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => f.debug_tuple("Id").field(id).finish(),
            Self::Hash(_) => f.write_str("Hash(..)"),
        }
    }
}

type Outcome = Result<Option<Arc<Entry>>, VerifyError>;
type Fetch = Shared<BoxFuture<'static, Outcome>>;

/// Lookups in flight, each tagged with the invalidation generation it started in.
#[derive(Default)]
pub(crate) struct Flights {
    map: DashMap<MissKey, (u64, Fetch)>,
}

impl Flights {
    /// Joins the lookup in flight for `key`, or starts one. A lookup that started before
    /// the latest invalidation is not joined: its answer may predate a revocation.
    pub(super) fn join(&self, inner: &Arc<Inner>, key: MissKey) -> Fetch {
        let generation = inner.generations.of(&key);
        match self.map.entry(key) {
            // Started in this generation, or a newer one: its answer is fresh enough.
            Slot::Occupied(slot) if slot.get().0 >= generation => slot.get().1.clone(),
            Slot::Occupied(mut slot) => {
                let fetch = start(inner, slot.key().clone(), generation);
                // The stale lookup runs to its end in its own task; nobody new joins it.
                let _stale = slot.insert((generation, fetch.clone()));
                fetch
            }
            Slot::Vacant(slot) => {
                let fetch = start(inner, slot.key().clone(), generation);
                slot.insert((generation, fetch.clone()));
                fetch
            }
        }
    }
}

/// Runs the lookup as its own task, so it finishes (and leaves the map) even when every
/// request waiting for it has gone away.
fn start(inner: &Arc<Inner>, key: MissKey, generation: u64) -> Fetch {
    let task = tokio::spawn(Arc::clone(inner).fetch(key.clone(), generation));
    let inner = Arc::clone(inner);
    async move {
        task.await.unwrap_or_else(|_| {
            // A panicking source never reached the end of `fetch`: leave the map here, so
            // the next request asks again instead of getting this error.
            inner
                .flights
                .map
                .remove_if(&key, |_, (started, _)| *started == generation);
            Err(VerifyError::Unavailable(Arc::new(StoreError::unavailable(
                "token lookup task panicked",
            ))))
        })
    }
    .boxed()
    .shared()
}

impl Inner {
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
        self.flights
            .map
            .remove_if(&key, |_, (started, _)| *started == generation);
        outcome
    }
}
