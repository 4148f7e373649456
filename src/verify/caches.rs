//! [`Caches`]: everything the verifier remembers, and the one order in which it is filled
//! and dropped.
//!
//! Three caches: the positive one (token id → [`Entry`], see `positive.rs`), the hash-to-id
//! map of opaque tokens, and the negative cache of ids and hashes the source said it does
//! not know. Each invalidation first moves the invalidation generation of what it drops
//! (see `generation.rs`), then drops it; each fill is of a lookup that started in a known
//! generation, and keeps nothing if that generation moved meanwhile.
//!
//! # Invariants
//!
//! No request that starts after an invalidation returned is answered from what was cached
//! before it. That rests on these rules, each held by the test named:
//!
//! 1. **Generation first, then removal.** [`Caches::invalidate`] and its kin move the
//!    generation before they remove anything, so a fill that checks the generation after
//!    inserting either sees the move or inserted before the removal ran. Tests (in
//!    `tests/verifier.rs`): `a_lookup_in_flight_during_revocation_does_not_refill_the_cache`,
//!    `a_lookup_that_read_before_revocation_and_returned_after_is_not_cached`.
//! 2. **A positive fill decides under the index's lock** for its id, the lock an
//!    invalidation of that id needs, and a refused fill drops what the index held (its
//!    answer is newer, and may be a revocation): `a_refused_fill_drops_what_the_index_held`.
//!    Beside it, the index keeps to what moka keeps (`the_index_keeps_to_what_moka_keeps`),
//!    and a newer entry survives the eviction of the one it replaced
//!    (`a_newer_entry_survives_the_eviction_of_the_one_it_replaced`); all three in
//!    `positive.rs`, whose docs say how.
//! 3. **The negative cache is checked after it is filled.** A lookup that found nothing,
//!    and answers after the token was created (or its secret imported, and
//!    `invalidate_hash` called), removes the mark it just made: else the new token would be
//!    refused as unknown until the mark expires. Test (in `tests/verifier.rs`):
//!    `an_opaque_lookup_from_before_an_import_does_not_hide_the_import`.
//! 4. **The hash-to-id map is checked after it is filled.** An opaque token's lookup fills
//!    the positive cache under the index's lock, and the hash-to-id map only after; an
//!    invalidation that runs in between (the token deleted, or another token imported with
//!    that secret) finds nothing to drop in the map, so the fill drops its own mapping when
//!    the generation moved. Else the secret would keep naming the old token: a 401 for the
//!    new token that holds it, or a lookup by id of a deleted one, until the mapping
//!    expires. Tests: `a_hash_mapping_filled_as_another_token_takes_the_secret_is_dropped`,
//!    `a_hash_mapping_filled_as_its_token_is_deleted_is_dropped`.
//! 5. **A token the source says is gone leaves the positive cache too**, not only the
//!    negative one gains it: in stale mode a stale entry is kept to fall back on, and must
//!    not outlive its token. Test (in `tests/faults.rs`):
//!    `stale_mode_drops_an_entry_the_source_says_is_gone`.
//!
//! Lookups in flight follow the same generations: a request joins one only if it started
//! after the latest invalidation of its token (`flight.rs`). Test (in `tests/verifier.rs`):
//! `a_request_after_revocation_does_not_join_a_lookup_from_before`.

use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;

use super::entry::Entry;
use super::generation::Generations;
use super::key::{FastHash, MissKey, NegativeKey};
use super::positive::Positive;
use crate::hash::SecretHash;

/// The verifier's caches, filled and dropped in the order the module docs give.
pub(super) struct Caches {
    /// Token id → what every request is checked against.
    positive: Positive,
    /// Hash of an opaque token → its id; inserted only for tokens the source returned, so
    /// a fast hasher is safe: attacker-chosen hashes only probe.
    by_hash: Cache<SecretHash, Arc<str>, FastHash>,
    /// Ids and hashes the source recently said it does not know. Attackers choose these
    /// keys, so they keep the default, flooding-resistant SipHash.
    negative: Cache<NegativeKey, ()>,
    /// Moved by invalidations; a lookup that overlaps one for its token fills nothing.
    generations: Generations,
}

/// What the caches know of a key.
pub(super) enum Known<T> {
    /// Cached: what the caller made of it.
    Cached(T),
    /// The source said lately that it has no such token.
    Unknown,
    /// Nothing: ask the source.
    Missing,
}

/// How big the caches are, and how long they keep what they hold.
pub(super) struct Sizes {
    pub(super) capacity: u64,
    pub(super) ttl: Duration,
    pub(super) stale_window: Duration,
    pub(super) negative_capacity: u64,
    pub(super) negative_ttl: Duration,
}

impl Caches {
    pub(super) fn new(sizes: &Sizes) -> Self {
        let Sizes {
            capacity,
            ttl,
            stale_window,
            negative_capacity,
            negative_ttl,
        } = *sizes;
        Self {
            positive: Positive::new(capacity, ttl, stale_window),
            by_hash: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl.saturating_add(stale_window))
                .build_with_hasher(FastHash::default()),
            // LRU, not TinyLFU: a flood of distinct unknown tokens must not stop the cache
            // from admitting the unknown tokens that do repeat (TinyLFU admits a newcomer
            // only when it looks more popular than the entry it would evict).
            negative: Cache::builder()
                .max_capacity(negative_capacity)
                .eviction_policy(moka::policy::EvictionPolicy::lru())
                .time_to_live(negative_ttl)
                .build(),
            generations: Generations::default(),
        }
    }

    /// The entry for `id` if it is cached and usable, run through `decide` (with the coarse
    /// clock's reading), or whether the id is known to be unknown.
    #[inline]
    pub(super) fn by_id<T>(&self, id: &str, decide: impl FnOnce(&Arc<Entry>, u64) -> T) -> Known<T> {
        if let Some(decided) = self.positive.with(id, decide) {
            return Known::Cached(decided);
        }
        // `get`, not `contains_key`: only a read counts as a use for the LRU order.
        if self.negative.get(&NegativeKey::Id(id.into())).is_some() {
            return Known::Unknown;
        }
        Known::Missing
    }

    /// The id of the token an opaque token's hash found last, or whether the hash is known
    /// to be unknown.
    pub(super) fn by_hash(&self, hash: &SecretHash) -> Known<Arc<str>> {
        if let Some(id) = self.by_hash.get(hash) {
            return Known::Cached(id);
        }
        if self.negative.get(&NegativeKey::Hash(*hash)).is_some() {
            return Known::Unknown;
        }
        Known::Missing
    }

    /// The generation a lookup for `key` starts in, to be given to [`Caches::fill`].
    pub(super) fn generation(&self, key: &MissKey) -> u64 {
        self.generations.of(key)
    }

    /// Caches what a lookup that started in generation `started_at` found: the token's
    /// entry, or `None` when the source does not know the key. Nothing stays cached if the
    /// generation moved meanwhile (invariants 2 to 5).
    pub(super) fn fill(&self, key: &MissKey, found: Option<&Arc<Entry>>, started_at: u64) {
        self.fill_while(key, found, || self.generations.of(key) == started_at);
    }

    /// [`Caches::fill`], with `current` telling whether the lookup's generation still holds.
    fn fill_while(&self, key: &MissKey, found: Option<&Arc<Entry>>, current: impl Fn() -> bool) {
        match found {
            Some(entry) => {
                if self.positive.insert_if(Arc::clone(entry), &current) {
                    if let MissKey::Hash(hash) = key {
                        self.by_hash.insert(*hash, Arc::clone(&entry.id));
                        // Invariant 4.
                        if !current() {
                            self.by_hash.invalidate(hash);
                        }
                    }
                }
            }
            None => {
                // Invariant 5: a stale entry kept for stale mode must not outlive its token.
                if let MissKey::Id(id) = key {
                    self.positive.invalidate(id);
                }
                let negative = NegativeKey::from(key);
                self.negative.insert(negative.clone(), ());
                // Invariant 3.
                if !current() {
                    self.negative.invalidate(&negative);
                }
            }
        }
    }

    /// Stale mode: the entry to decide from after the source failed to refresh it.
    pub(super) fn fallback(&self, id: &str) -> Option<Arc<Entry>> {
        self.positive.fallback(id)
    }

    /// Drops everything cached about one token.
    pub(super) fn invalidate(&self, id: &str) {
        // Invariant 1: the generation first.
        self.generations.bump_id(id);
        self.positive.invalidate(id);
        self.negative.invalidate(&NegativeKey::Id(id.into()));
    }

    /// Forgets what a secret's hash was found to be, or not to be.
    pub(super) fn invalidate_hash(&self, hash: &SecretHash) {
        self.generations.bump_hash();
        self.by_hash.invalidate(hash);
        self.negative.invalidate(&NegativeKey::Hash(*hash));
    }

    /// Drops every entry, positive and negative.
    pub(super) fn invalidate_all(&self) {
        self.generations.bump_all();
        self.positive.invalidate_all();
        self.by_hash.invalidate_all();
        self.negative.invalidate_all();
    }

    /// Visits every cached entry.
    pub(super) fn for_each(&self, visit: impl FnMut(&Entry)) {
        self.positive.for_each(visit);
    }

    /// How long an entry is trusted.
    pub(super) fn ttl(&self) -> Duration {
        self.positive.ttl()
    }

    /// Runs the caches' pending maintenance (evictions), so that counts are exact.
    pub(super) fn run_pending_tasks(&self) {
        self.positive.run_pending_tasks();
        self.by_hash.run_pending_tasks();
        self.negative.run_pending_tasks();
    }

    /// How many tokens the positive cache holds.
    pub(super) fn len(&self) -> u64 {
        self.positive.len() as u64
    }

    /// How many unknown ids and hashes the negative cache holds (approximate until
    /// [`Caches::run_pending_tasks`]).
    pub(super) fn negative_len(&self) -> u64 {
        self.negative.entry_count()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::hash::SecretHasher;
    use crate::record::TokenRecord;

    fn caches() -> Caches {
        Caches::new(&Sizes {
            capacity: 100,
            ttl: Duration::from_secs(60),
            stale_window: Duration::ZERO,
            negative_capacity: 100,
            negative_ttl: Duration::from_secs(60),
        })
    }

    fn entry(id: &str, hash: SecretHash) -> Arc<Entry> {
        Arc::new(Entry::from_record(
            &TokenRecord::new(id, "n", hash),
            Duration::from_secs(60),
        ))
    }

    fn mapped(caches: &Caches, hash: &SecretHash) -> Option<Arc<str>> {
        match caches.by_hash(hash) {
            Known::Cached(id) => Some(id),
            Known::Unknown | Known::Missing => None,
        }
    }

    /// Fills what a lookup by `hash` found, with `between` run just after the positive cache
    /// took the entry (under its lock, as the check is made) and before the hash-to-id map
    /// is filled: where an invalidation that the positive fill did not see can land.
    fn fill_with_an_invalidation_between(caches: &Caches, hash: SecretHash, found: &Arc<Entry>, between: impl Fn()) {
        let key = MissKey::Hash(hash);
        let started = caches.generation(&key);
        let calls = Cell::new(0);
        caches.fill_while(&key, Some(found), || {
            let current = caches.generation(&key) == started;
            calls.set(calls.get() + 1);
            if calls.get() == 1 {
                between();
            }
            current
        });
        assert_eq!(calls.get(), 2, "the positive fill's check, then the map's");
    }

    // Invariant 4: token "old" held an imported secret; it was deleted and "new" imported
    // with the same secret while a lookup by that secret, from before, was filling.
    #[test]
    fn a_hash_mapping_filled_as_another_token_takes_the_secret_is_dropped() {
        let caches = caches();
        let hash = SecretHasher::Sha256.hash(b"an imported secret");
        fill_with_an_invalidation_between(&caches, hash, &entry("old", hash), || {
            caches.invalidate_hash(&hash);
        });
        assert_eq!(mapped(&caches, &hash), None, "the secret must be looked up again");
        let key = MissKey::Hash(hash);
        let fresh = entry("new", hash);
        caches.fill(&key, Some(&fresh), caches.generation(&key));
        assert_eq!(mapped(&caches, &hash).as_deref(), Some("new"));
    }

    // Invariant 4, with the token deleted: its invalidation moves its id's generation (and
    // with it every lookup by hash) before it waits for the index's lock, which the fill
    // holds.
    #[test]
    fn a_hash_mapping_filled_as_its_token_is_deleted_is_dropped() {
        let caches = caches();
        let hash = SecretHasher::Sha256.hash(b"an imported secret");
        let key = MissKey::Hash(hash);
        let started = caches.generation(&key);
        std::thread::scope(|scope| {
            fill_with_an_invalidation_between(&caches, hash, &entry("old", hash), || {
                scope.spawn(|| caches.invalidate("old"));
                let deadline = std::time::Instant::now() + Duration::from_secs(5);
                while caches.generation(&key) == started {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "the invalidation never moved the generation"
                    );
                    std::thread::yield_now();
                }
            });
        });
        assert_eq!(mapped(&caches, &hash), None, "no mapping to a deleted token");
        assert!(matches!(caches.by_id("old", |_, _| ()), Known::Missing));
    }

    // Invariant 3, directly: a miss filled after the key was invalidated leaves no mark.
    #[test]
    fn an_unknown_mark_filled_after_an_invalidation_is_dropped() {
        let caches = caches();
        let key = MissKey::Id(Arc::from("soon"));
        let started = caches.generation(&key);
        caches.invalidate("soon");
        caches.fill(&key, None, started);
        assert!(matches!(caches.by_id("soon", |_, _| ()), Known::Missing));
        caches.fill(&key, None, caches.generation(&key));
        assert!(matches!(caches.by_id("soon", |_, _| ()), Known::Unknown));
    }
}
