//! Single flight: however many requests miss the cache for one token at once, the source
//! is asked once, and every waiter gets that one answer (errors included, uncached).
//!
//! A lookup is tagged with the invalidation generation it started in, and a request joins
//! it only if no invalidation of its token came since: an answer read before a revocation
//! must not reach a request made after it (`a_request_after_revocation_does_not_join_a_lookup_from_before`
//! in `tests/verifier.rs`). What a lookup does is the caller's loader; this module only
//! runs it, once, as a task of its own, and forgets it when it ends.

use std::future::Future;
use std::sync::Arc;

use dashmap::DashMap;
use dashmap::mapref::entry::Entry as Slot;
use futures_util::future::{BoxFuture, FutureExt as _, Shared};

use super::entry::Entry;
use super::error::VerifyError;
use super::key::MissKey;
use crate::store::StoreError;

/// What a lookup answers: the token's entry, `None` when the source does not know it.
pub(super) type Outcome = Result<Option<Arc<Entry>>, VerifyError>;
type Fetch = Shared<BoxFuture<'static, Outcome>>;
type Map = DashMap<MissKey, (u64, Fetch)>;

/// Lookups in flight, each tagged with the invalidation generation it started in.
#[derive(Default)]
pub(super) struct Flights {
    map: Arc<Map>,
}

impl Flights {
    /// Joins the lookup in flight for `key` if it started in `generation` or later, or
    /// starts `load(key)` as a task of its own. `Err` when there is no Tokio runtime to
    /// run it on.
    pub(super) fn join<F>(
        &self,
        key: MissKey,
        generation: u64,
        load: impl FnOnce(MissKey) -> F,
    ) -> Result<Fetch, VerifyError>
    where
        F: Future<Output = Outcome> + Send + 'static,
    {
        let start = |key: MissKey| start(&self.map, key, generation, load);
        Ok(match self.map.entry(key) {
            // Started in this generation, or a newer one: its answer is fresh enough.
            Slot::Occupied(slot) if slot.get().0 >= generation => slot.get().1.clone(),
            Slot::Occupied(mut slot) => {
                let fetch = start(slot.key().clone())?;
                // The stale lookup runs to its end in its own task; nobody new joins it.
                let _stale = slot.insert((generation, fetch.clone()));
                fetch
            }
            Slot::Vacant(slot) => {
                let fetch = start(slot.key().clone())?;
                slot.insert((generation, fetch.clone()));
                fetch
            }
        })
    }
}

/// Runs the lookup as its own task, so it finishes (and leaves the map) even when every
/// request waiting for it has gone away.
fn start<F>(
    map: &Arc<Map>,
    key: MissKey,
    generation: u64,
    load: impl FnOnce(MissKey) -> F,
) -> Result<Fetch, VerifyError>
where
    F: Future<Output = Outcome> + Send + 'static,
{
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| no_runtime())?;
    let leave = Leave {
        map: Arc::clone(map),
        key: key.clone(),
        generation,
    };
    let lookup = load(key);
    let task = runtime.spawn({
        let leave = leave.clone();
        async move {
            let outcome = lookup.await;
            // Out of the map before any waiter wakes: a request that finds the cache
            // filled never joins a finished lookup.
            leave.now();
            outcome
        }
    });
    Ok(async move {
        task.await.unwrap_or_else(|_| {
            // A panicking loader never reached its end: leave the map here, so the next
            // request asks again instead of getting this error.
            leave.now();
            Err(VerifyError::Unavailable(Arc::new(StoreError::unavailable(
                "token lookup task panicked",
            ))))
        })
    }
    .boxed()
    .shared())
}

/// Takes one lookup out of the map: only its own slot, since a newer lookup for the same
/// key may have taken its place.
#[derive(Clone)]
struct Leave {
    map: Arc<Map>,
    key: MissKey,
    generation: u64,
}

impl Leave {
    fn now(&self) {
        self.map
            .remove_if(&self.key, |_, (started, _)| *started == self.generation);
    }
}

/// The error of a lookup that cannot run: no Tokio runtime to run it on.
fn no_runtime() -> VerifyError {
    tracing::error!("a token lookup was polled outside a Tokio runtime: tollgate's lookups run on Tokio");
    VerifyError::Unavailable(Arc::new(StoreError::Config(
        "a cache miss needs a Tokio runtime (with its time driver) to look the token up: \
         verify, and poll the layer's futures, from within one"
            .to_owned(),
    )))
}
