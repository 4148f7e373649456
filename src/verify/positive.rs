//! The positive cache: tokens known to exist, as [`Entry`]s.
//!
//! moka decides what is cached: it bounds the capacity, admits and evicts by popularity
//! (TinyLFU), and its eviction listener keeps an [`Index`] in step. Requests read the
//! index only: a moka read costs several times a map lookup (it records the read and reads
//! a clock), and this lookup runs on every authenticated request. Each entry carries its own
//! time-to-live, checked against the clock reading the request takes anyway, and one read
//! in [`SAMPLE`] is passed on to moka so that its popularity estimates stay informed, once
//! the cache is at least half full (before, nothing is about to be evicted).
//!
//! # Invariants
//!
//! What keeps a revoked token out of the cache rests on three rules, enforced here and
//! each held by a test:
//!
//! 1. **Index first, then moka.** A fill enters the index, then moka, outside the index's
//!    lock (moka's eviction listener takes it): if moka refuses or evicts the entry at once,
//!    the listener finds it in the index and removes it, so the index never holds an entry
//!    moka does not count. Test: `the_index_keeps_to_what_moka_keeps`.
//! 2. **A newer entry survives an older one's eviction.** The listener removes only the very
//!    entry moka let go (compared by pointer), never a refresh that replaced it under the
//!    same id. Tests: `a_newer_entry_survives_the_eviction_of_the_one_it_replaced`,
//!    `a_newer_entry_for_an_id_replaces_the_one_the_index_held`.
//! 3. **A fill is refused when an invalidation overlapped its lookup.** The lookup's
//!    invalidation generation is compared under the index's lock for the id, the lock
//!    `invalidate` needs to remove it: either the fill sees the new generation and inserts
//!    nothing, or the invalidation removes the entry before it returns. So no request that
//!    starts after `invalidate` returned can see the old entry. A refused fill also drops
//!    what the index held (its answer is newer, and may be a revocation). Tests:
//!    `a_refused_fill_drops_what_the_index_held`, and in `tests/verifier.rs`
//!    `a_lookup_that_read_before_revocation_and_returned_after_is_not_cached` and
//!    `a_lookup_in_flight_during_revocation_does_not_refill_the_cache`.

use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

use moka::notification::RemovalCause;
use moka::sync::Cache;

use super::entry::{Entry, Staleness};
use super::index::Index;
use super::key::FastHash;

/// One hit in this many, per thread, is also recorded in moka.
const SAMPLE: u32 = 64;

thread_local! {
    static HITS: Cell<u32> = const { Cell::new(0) };
}

/// Runs `record` for one call in [`SAMPLE`] on this thread: popular tokens are sampled in
/// proportion to their hits, without a shared counter to contend on.
fn sample_read(record: impl FnOnce()) {
    let hits = HITS.with(|hits| {
        let n = hits.get().wrapping_add(1);
        hits.set(n);
        n
    });
    if hits % SAMPLE == 0 {
        record();
    }
}

/// What a request found in the index for its id.
enum Found<T> {
    /// A usable entry, and what `decide` made of it.
    Decided(T),
    /// A stale entry kept for stale mode: ask the source.
    Refresh,
    /// An entry past use, to drop.
    Expired(Arc<Entry>),
}

pub(crate) struct Positive {
    index: Arc<Index>,
    /// Holds the same entries as `index`; what it evicts leaves the index too.
    policy: Cache<Arc<str>, Arc<Entry>, FastHash>,
    ttl: Duration,
    /// Half the capacity: below it nothing is evicted soon, and hits are not sampled.
    sampled_from: u64,
    /// Stale mode: how long past `ttl` an entry is kept to fall back on when the source
    /// fails (0: off).
    stale_window_ms: u64,
}

impl Positive {
    pub(crate) fn new(capacity: u64, ttl: Duration, stale_window: Duration) -> Self {
        super::clock::start();
        let index = Arc::new(Index::new());
        let listener_index = Arc::clone(&index);
        let policy = Cache::builder()
            .max_capacity(capacity)
            .time_to_live(ttl.saturating_add(stale_window))
            .eviction_listener(move |id: Arc<Arc<str>>, entry: Arc<Entry>, _cause: RemovalCause| {
                // Only this very entry: a newer one for the same id may have replaced it.
                listener_index.remove_if(id.as_bytes(), |current| Arc::ptr_eq(current, &entry));
            })
            .build_with_hasher(FastHash::default());
        let stale_window_ms = u64::try_from(stale_window.as_millis()).unwrap_or(u64::MAX);
        Self {
            index,
            policy,
            ttl,
            sampled_from: capacity / 2,
            stale_window_ms,
        }
    }

    /// Runs `decide` on the entry for `id` if it is cached and still fresh, under the index's
    /// read guard. `decide` gets the coarse clock reading the freshness check used. In stale
    /// mode, a stale entry is also decided from while its source is failing (see
    /// [`Entry::staleness`]).
    #[inline]
    pub(crate) fn with<T>(&self, id: &str, decide: impl FnOnce(&Arc<Entry>, u64) -> T) -> Option<T> {
        let found = self.index.get(id.as_bytes(), |entry| {
            let now_ms = super::clock::coarse_ms();
            let usable = entry.is_fresh(now_ms)
                || (self.stale_window_ms > 0 && {
                    match entry.staleness(now_ms, self.stale_window_ms) {
                        Staleness::Serve => true,
                        // Kept, to fall back on if the source fails.
                        Staleness::Refresh => return Found::Refresh,
                        Staleness::Expired => false,
                    }
                });
            if usable {
                Found::Decided(decide(entry, now_ms))
            } else {
                Found::Expired(Arc::clone(entry))
            }
        })?;
        match found {
            Found::Decided(decided) => {
                sample_read(|| {
                    // Tells moka the entry is popular; the answer is not needed. Popularity
                    // only decides what is evicted: while the cache is less than half full a
                    // read would wait on moka's cold memory and tell it nothing it needs yet.
                    // (moka then tidies itself on fills only, so an expired entry nobody asks
                    // for again stays counted until the next fill; a hit never uses one, `with`
                    // checks freshness itself.)
                    if self.policy.entry_count() >= self.sampled_from {
                        let _ = self.policy.get(id);
                    }
                });
                Some(decided)
            }
            Found::Refresh => None,
            Found::Expired(stale) => {
                self.index
                    .remove_if(id.as_bytes(), |current| Arc::ptr_eq(current, &stale));
                None
            }
        }
    }

    /// Stale mode: the entry to decide from after the source failed to refresh it, if it is
    /// still cached (an invalidation removes it) and within the stale window.
    pub(crate) fn fallback(&self, id: &str) -> Option<Arc<Entry>> {
        if self.stale_window_ms == 0 {
            return None;
        }
        let now_ms = super::clock::coarse_ms();
        self.index
            .get(id.as_bytes(), |entry| {
                entry
                    .refresh_failed(now_ms, self.stale_window_ms)
                    .then(|| Arc::clone(entry))
            })
            .flatten()
    }

    /// Inserts `entry` if `current()` still holds once the index's lock for its id is
    /// taken; returns whether it did (invariant 3 of the module docs). When it does not
    /// hold, whatever the index has for the id goes too: removing only ever costs a lookup.
    pub(crate) fn insert_if(&self, entry: Arc<Entry>, current: impl FnOnce() -> bool) -> bool {
        if !self.index.insert_if(Arc::clone(&entry), current) {
            // Outside the index lock, which moka's eviction listener takes.
            self.policy.invalidate(&*entry.id);
            return false;
        }
        // Index first, moka after (and without the index lock, which moka's listener takes):
        // if moka refuses or evicts the entry at once, its listener finds it in the index.
        self.policy.insert(Arc::clone(&entry.id), entry);
        true
    }

    pub(crate) fn invalidate(&self, id: &str) {
        self.index.remove_if(id.as_bytes(), |_| true);
        self.policy.invalidate(id);
    }

    pub(crate) fn invalidate_all(&self) {
        self.index.clear();
        self.policy.invalidate_all();
    }

    /// Visits every cached entry.
    pub(crate) fn for_each(&self, mut visit: impl FnMut(&Entry)) {
        self.index.for_each(|entry| visit(entry));
    }

    pub(crate) fn ttl(&self) -> Duration {
        self.ttl
    }

    pub(crate) fn run_pending_tasks(&self) {
        self.policy.run_pending_tasks();
    }

    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::SecretHasher;
    use crate::record::{TokenRecord, TokenStatus};
    use crate::verify::error::InvalidReason;

    #[test]
    fn one_read_in_sample_is_recorded_per_thread() {
        // A thread of its own: the count is per thread, and others' hits would shift it.
        let recorded = std::thread::spawn(|| {
            let mut recorded = Vec::new();
            for read in 1..=SAMPLE * 3 {
                sample_read(|| recorded.push(read));
            }
            recorded
        })
        .join()
        .unwrap();
        assert_eq!(recorded, [SAMPLE, SAMPLE * 2, SAMPLE * 3]);
    }

    fn entry(id: &str, status: TokenStatus) -> Arc<Entry> {
        let mut record = TokenRecord::new(id, "n", SecretHasher::Sha256.hash(b"secret"));
        record.status = status;
        Arc::new(Entry::from_record(&record, Duration::from_secs(60)))
    }

    fn decide(cache: &Positive, id: &str) -> Option<Result<(), InvalidReason>> {
        let presented = SecretHasher::Sha256.hash(b"secret");
        cache.with(id, |entry, now_ms| entry.accepts(&presented, now_ms))
    }

    #[test]
    fn a_newer_entry_for_an_id_replaces_the_one_the_index_held() {
        let cache = Positive::new(100, Duration::from_secs(60), Duration::ZERO);
        assert!(cache.insert_if(entry("abc", TokenStatus::Active), || true));
        assert_eq!(decide(&cache, "abc"), Some(Ok(())));
        // The index is keyed by the entry itself: replacing it must replace the key too.
        assert!(cache.insert_if(entry("abc", TokenStatus::Inactive), || true));
        assert_eq!(decide(&cache, "abc"), Some(Err(InvalidReason::Inactive)));
        assert_eq!(cache.len(), 1);
        assert_eq!(decide(&cache, "abd"), None);
    }

    #[test]
    fn a_newer_entry_survives_the_eviction_of_the_one_it_replaced() {
        let cache = Positive::new(100, Duration::from_secs(60), Duration::ZERO);
        assert!(cache.insert_if(entry("abc", TokenStatus::Active), || true));
        assert!(cache.insert_if(entry("abc", TokenStatus::Inactive), || true));
        // moka tells its listener the first entry was replaced; the second stays indexed.
        cache.run_pending_tasks();
        assert_eq!(decide(&cache, "abc"), Some(Err(InvalidReason::Inactive)));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn the_index_keeps_to_what_moka_keeps() {
        let cache = Positive::new(10, Duration::from_secs(60), Duration::ZERO);
        for i in 0..100 {
            assert!(cache.insert_if(entry(&format!("id{i}"), TokenStatus::Active), || true));
            cache.run_pending_tasks();
        }
        assert!(cache.len() <= 10, "the index holds {} entries", cache.len());
        assert_eq!(cache.len() as u64, cache.policy.entry_count());
    }

    #[test]
    fn a_refused_fill_drops_what_the_index_held() {
        let cache = Positive::new(100, Duration::from_secs(60), Duration::ZERO);
        assert!(cache.insert_if(entry("abc", TokenStatus::Active), || true));
        assert!(!cache.insert_if(entry("abc", TokenStatus::Active), || false));
        assert_eq!(decide(&cache, "abc"), None);
        assert_eq!(cache.len(), 0);
    }
}
