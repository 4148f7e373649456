//! [`Buckets`]: the local limit state, one [`Bucket`] per limited token and per limited
//! owner, beside the verifier's cache and not in its entries. A cache entry is dropped on
//! every change to its token and every time-to-live; a bucket kept in it would be full
//! again each time. Entries hold a handle on their buckets, taken from here when they are
//! filled, so that a hit reaches its bucket without a map lookup.
//!
//! A bucket is forgotten once it is full again (its arrival time has passed): it is then
//! the same as no bucket. The sweep that forgets them runs on the limited requests' path,
//! at most once per [`SWEEP_EVERY_MS`], so memory is bounded by the limits used within
//! their periods, with no task of its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;

use super::gcra::Bucket;
use crate::verify::FastHash;

/// How often, at most, full buckets are forgotten.
pub(crate) const SWEEP_EVERY_MS: u64 = 1_000;

/// Whose limit a bucket holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// A token's own, by token id.
    Token,
    /// An owner's, shared by its tokens, by owner.
    Owner,
}

impl Scope {
    /// The policy's name in the `RateLimit` fields.
    pub(crate) const fn policy(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::Owner => "owner",
        }
    }
}

type Map = DashMap<Arc<str>, Arc<Bucket>, FastHash>;

/// The buckets of one verifier.
#[derive(Debug, Default)]
pub(crate) struct Buckets {
    tokens: Map,
    owners: Map,
    /// When the next sweep is due (coarse clock, ms).
    next_sweep_ms: AtomicU64,
}

impl Buckets {
    fn map(&self, scope: Scope) -> &Map {
        match scope {
            Scope::Token => &self.tokens,
            Scope::Owner => &self.owners,
        }
    }

    /// The live bucket of `key`, made full if there is none.
    pub(crate) fn bucket(&self, scope: Scope, key: &Arc<str>) -> Arc<Bucket> {
        let map = self.map(scope);
        if let Some(bucket) = map.get(&**key) {
            if !bucket.is_retired() {
                return Arc::clone(&bucket);
            }
        }
        let mut slot = map.entry(Arc::clone(key)).or_insert_with(|| Arc::new(Bucket::new()));
        if slot.is_retired() {
            *slot = Arc::new(Bucket::new());
        }
        Arc::clone(&slot)
    }

    /// The live bucket of `key` for an entry whose `held` bucket was retired: `held` itself,
    /// full again and back in the map, unless another entry has made a live one meanwhile.
    /// So an entry whose limit sits full (a limit rarely reached) keeps its fast path: one
    /// request per sweep comes here, the others find `held` live.
    pub(crate) fn revive(&self, scope: Scope, key: &Arc<str>, held: &Arc<Bucket>) -> Arc<Bucket> {
        let mut slot = self
            .map(scope)
            .entry(Arc::clone(key))
            .or_insert_with(|| Arc::clone(held));
        if slot.is_retired() {
            *slot = Arc::clone(held);
        }
        if Arc::ptr_eq(&slot, held) {
            held.revive();
        }
        Arc::clone(&slot)
    }

    /// Forgets the full buckets, if a sweep is due at `now_ms`: called by limited requests.
    pub(crate) fn sweep_if_due(&self, now_ms: u64) {
        let due = self.next_sweep_ms.load(Ordering::Relaxed);
        if now_ms < due {
            return;
        }
        // One request sweeps; the others go on.
        let claimed = self
            .next_sweep_ms
            .compare_exchange(due, now_ms + SWEEP_EVERY_MS, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok();
        if claimed {
            self.sweep(now_ms);
        }
    }

    /// Forgets every bucket that is full at `now_ms`.
    pub(crate) fn sweep(&self, now_ms: u64) {
        let now = now_ms.saturating_mul(1_000_000);
        for map in [&self.tokens, &self.owners] {
            map.retain(|_, bucket| !bucket.retire_if_full(now));
        }
    }

    /// How many buckets are kept: limits used within their periods (and not yet swept).
    pub(crate) fn len(&self) -> usize {
        self.tokens.len() + self.owners.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::limit::RateLimit;
    use crate::limit::gcra::Cell;

    #[test]
    fn a_key_keeps_its_bucket_until_it_is_full_again() {
        let buckets = Buckets::default();
        let limit = Cell::of(&RateLimit::new(1, Duration::from_secs(60)).unwrap());
        let id: Arc<str> = Arc::from("tok");
        let now_ms = 1_000_000;
        let first = buckets.bucket(Scope::Token, &id);
        assert!(first.take(now_ms * 1_000_000, &limit).unwrap().allowed);
        // Asked again (an entry refilled after a change): the same state, still empty.
        let again = buckets.bucket(Scope::Token, &id);
        assert!(Arc::ptr_eq(&first, &again));
        assert!(!again.take(now_ms * 1_000_000, &limit).unwrap().allowed);
        // An owner of the same name is another bucket.
        assert!(!Arc::ptr_eq(&first, &buckets.bucket(Scope::Owner, &id)));
        assert_eq!(buckets.len(), 2);

        buckets.sweep(now_ms + 59_999);
        assert_eq!(
            buckets.len(),
            1,
            "the owner's full bucket is forgotten, the token's is not"
        );
        buckets.sweep(now_ms + 60_000);
        assert_eq!(buckets.len(), 0, "full again: forgotten");
        assert!(first.is_retired(), "and what still held it knows");
        let fresh = buckets.bucket(Scope::Token, &id);
        assert!(!Arc::ptr_eq(&first, &fresh));
        assert!(fresh.take(now_ms * 1_000_000, &limit).unwrap().allowed);
    }

    #[test]
    fn a_retired_bucket_an_entry_holds_comes_back_full_unless_another_took_its_place() {
        let buckets = Buckets::default();
        let limit = Cell::of(&RateLimit::new(1, Duration::from_secs(60)).unwrap());
        let (a, b): (Arc<str>, Arc<str>) = (Arc::from("a"), Arc::from("b"));
        let held = buckets.bucket(Scope::Token, &a);
        buckets.sweep(1);
        assert!(held.is_retired());
        assert_eq!(buckets.len(), 0);
        let live = buckets.revive(Scope::Token, &a, &held);
        assert!(Arc::ptr_eq(&live, &held), "the held one, back");
        assert!(!held.is_retired());
        assert_eq!(buckets.len(), 1);
        assert!(held.take(0, &limit).unwrap().allowed, "full");

        let other = buckets.bucket(Scope::Token, &b);
        buckets.sweep(1);
        let newer = buckets.bucket(Scope::Token, &b);
        let live = buckets.revive(Scope::Token, &b, &other);
        assert!(Arc::ptr_eq(&live, &newer), "the live one another entry made");
        assert!(other.is_retired());
    }

    #[test]
    fn sweeps_run_at_most_once_a_period() {
        let buckets = Buckets::default();
        let limit = Cell::of(&RateLimit::new(1, Duration::from_secs(1)).unwrap());
        buckets.bucket(Scope::Token, &Arc::from("a"));
        buckets.sweep_if_due(10_000);
        assert_eq!(buckets.len(), 0);
        let b = buckets.bucket(Scope::Token, &Arc::from("b"));
        b.take(0, &limit).unwrap();
        buckets.sweep_if_due(10_000 + SWEEP_EVERY_MS - 1);
        assert_eq!(buckets.len(), 1, "not yet due");
        buckets.sweep_if_due(10_000 + SWEEP_EVERY_MS);
        assert_eq!(buckets.len(), 0);
    }
}
