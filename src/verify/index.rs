//! The positive cache's index: token id → cached [`Entry`], read on every authenticated
//! request.
//!
//! Why not a `DashMap` (which this replaced): with a million tokens in use, the index and
//! the entry are each a trip to memory, and a hashbrown table (under `DashMap`) makes its
//! lookup two dependent reads, a group of control bytes and then the bucket they point to.
//! Here a bucket is one cache line: seven entries' pointers and a one-byte tag for each,
//! so a lookup reads one line before the entry it finds (BENCHMARKS.md, "Scale", has the
//! figures). Written here because hashbrown keeps its control bytes apart from its
//! buckets by design (it probes them sixteen at a time), and no other concurrent map was
//! measured against this one.
//!
//! A table is split into shards by the id's hash, each behind its own lock, as `DashMap`
//! is. Within a shard, an id is stored in the first bucket with a free slot from the
//! bucket its hash names, going on to the next; every bucket it passes counts it in its
//! `overflow`, so a lookup stops at the first bucket that never overflowed (F14's scheme).
//! Only ids of tokens the source returned are inserted, so the fast hasher is safe here:
//! ids an attacker chooses only probe.

use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::entry::Entry;
use super::key::FastHash;

/// Entries per bucket: seven pointers and their tags (and the overflow count) fill a
/// 64-byte line.
const SLOTS: usize = 7;

/// A table grows once more than this share of its slots (as a fraction of 8) is used.
const MAX_LOAD_EIGHTHS: usize = 7;

/// One cache line: everything a lookup reads before the entry.
#[repr(C, align(64))]
#[derive(Default)]
struct Bucket {
    /// A slot's tag: the high bits of its id's hash, with the top bit set (0: empty).
    tags: [u8; SLOTS],
    /// How many entries stored further on passed this bucket because it was full. Counted
    /// up to 255, which is never counted down again (lookups only probe further than they
    /// need); a rebuild recounts.
    overflow: u8,
    slots: [Option<Arc<Entry>>; SLOTS],
}

/// Where an entry is: bucket, slot.
type At = (usize, usize);

/// One shard's entries. Takes hashes, not ids, so its tests choose them.
struct Table {
    buckets: Box<[Bucket]>,
    len: usize,
}

fn tag(hash: u64) -> u8 {
    // The top seven bits: the bucket takes the low ones, the shard those from bit 32.
    (hash >> 57) as u8 | 0x80
}

impl Table {
    fn with_buckets(count: usize) -> Self {
        debug_assert!(count.is_power_of_two());
        Self {
            buckets: (0..count).map(|_| Bucket::default()).collect(),
            len: 0,
        }
    }

    fn mask(&self) -> usize {
        self.buckets.len() - 1
    }

    fn home(&self, hash: u64) -> usize {
        usize::try_from(hash).unwrap_or(usize::MAX) & self.mask()
    }

    /// Visits the buckets from `hash`'s own on, while they overflowed (at most all of
    /// them), comparing ids only in slots whose tag is `hash`'s.
    #[inline]
    fn find(&self, hash: u64, id: &[u8]) -> Option<At> {
        let tag = tag(hash);
        let mut bucket = self.home(hash);
        for _ in 0..self.buckets.len() {
            let b = &self.buckets[bucket];
            for slot in 0..SLOTS {
                if b.tags[slot] == tag {
                    if let Some(entry) = &b.slots[slot] {
                        if entry.key() == id {
                            return Some((bucket, slot));
                        }
                    }
                }
            }
            if b.overflow == 0 {
                return None;
            }
            bucket = (bucket + 1) & self.mask();
        }
        None
    }

    fn get(&self, at: At) -> &Arc<Entry> {
        self.buckets[at.0].slots[at.1].as_ref().expect("an occupied slot")
    }

    fn replace(&mut self, at: At, entry: Arc<Entry>) -> Arc<Entry> {
        self.buckets[at.0].slots[at.1].replace(entry).expect("an occupied slot")
    }

    /// Inserts an entry whose id is not in the table, growing it first if it is full
    /// enough; `rehash` gives the hash of an id already in the table.
    fn insert_new(&mut self, hash: u64, entry: Arc<Entry>, rehash: &dyn Fn(&[u8]) -> u64) {
        if (self.len + 1) * 8 > self.buckets.len() * SLOTS * MAX_LOAD_EIGHTHS {
            self.rebuild(self.buckets.len() * 2, rehash);
        }
        self.place(hash, entry);
    }

    /// Stores `entry` in the first free slot from its hash's bucket on, counting it in
    /// each full bucket it passes. The load limit leaves a free slot somewhere.
    fn place(&mut self, hash: u64, entry: Arc<Entry>) {
        let mask = self.mask();
        let mut bucket = self.home(hash);
        loop {
            let b = &mut self.buckets[bucket];
            if let Some(slot) = b.slots.iter().position(Option::is_none) {
                b.tags[slot] = tag(hash);
                b.slots[slot] = Some(entry);
                self.len += 1;
                return;
            }
            b.overflow = b.overflow.saturating_add(1);
            bucket = (bucket + 1) & mask;
        }
    }

    /// Takes the entry at `at` out, and uncounts it from the buckets it passed.
    fn remove(&mut self, hash: u64, at: At) -> Arc<Entry> {
        let mask = self.mask();
        let (bucket, slot) = at;
        let mut passed = self.home(hash);
        while passed != bucket {
            let b = &mut self.buckets[passed];
            if b.overflow != u8::MAX {
                b.overflow -= 1;
            }
            passed = (passed + 1) & mask;
        }
        let b = &mut self.buckets[bucket];
        b.tags[slot] = 0;
        self.len -= 1;
        b.slots[slot].take().expect("an occupied slot")
    }

    /// Moves every entry into a table of `count` buckets (overflow counts start afresh).
    fn rebuild(&mut self, count: usize, rehash: &dyn Fn(&[u8]) -> u64) {
        let old = std::mem::replace(self, Self::with_buckets(count));
        for bucket in old.buckets.into_iter() {
            for entry in bucket.slots.into_iter().flatten() {
                self.place(rehash(entry.key()), entry);
            }
        }
    }

    fn entries(&self) -> impl Iterator<Item = &Arc<Entry>> {
        self.buckets.iter().flat_map(|b| b.slots.iter().flatten())
    }
}

/// A shard, on a line pair of its own so that two cores taking two shards' locks do not
/// share a line.
#[repr(align(128))]
struct Shard(RwLock<Table>);

impl Shard {
    // A poisoned lock is used anyway: under a write lock the index runs only its own code,
    // the ids' comparison and `insert_if`'s `current()` (removed entries are dropped after
    // the lock is released), so a panic there would be a bug of its own, and answering every
    // later request 500 for it would be worse.
    fn read(&self) -> RwLockReadGuard<'_, Table> {
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Table> {
        self.0.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Token id → cached entry: see the module docs.
pub(crate) struct Index {
    shards: Box<[Shard]>,
    hasher: FastHash,
}

impl Index {
    pub(crate) fn new() -> Self {
        // As many shards as `DashMap` takes by default: four per core, a power of two.
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let shards = (cores * 4).next_power_of_two();
        Self {
            shards: (0..shards)
                .map(|_| Shard(RwLock::new(Table::with_buckets(1))))
                .collect(),
            hasher: FastHash::default(),
        }
    }

    fn hash(&self, id: &[u8]) -> u64 {
        use std::hash::BuildHasher;
        self.hasher.hash_one(id)
    }

    fn shard(&self, hash: u64) -> &Shard {
        let index = usize::try_from(hash >> 32).unwrap_or(0) & (self.shards.len() - 1);
        &self.shards[index]
    }

    /// Runs `read` on the entry for `id`, under its shard's read lock.
    #[inline]
    pub(crate) fn get<T>(&self, id: &[u8], read: impl FnOnce(&Arc<Entry>) -> T) -> Option<T> {
        let hash = self.hash(id);
        let table = self.shard(hash).read();
        table.find(hash, id).map(|at| read(table.get(at)))
    }

    /// Inserts `entry`, replacing what the index holds for its id, if `current()` holds once
    /// its shard's write lock is taken; when it does not, removes what the index holds for
    /// the id. Returns whether it inserted.
    pub(crate) fn insert_if(&self, entry: Arc<Entry>, current: impl FnOnce() -> bool) -> bool {
        let hash = self.hash(entry.key());
        let mut table = self.shard(hash).write();
        let held = table.find(hash, entry.key());
        let inserted = current();
        // Dropped once the lock is released.
        let _gone = match (held, inserted) {
            (Some(at), true) => Some(table.replace(at, entry)),
            (None, true) => {
                table.insert_new(hash, entry, &|id| self.hash(id));
                None
            }
            (Some(at), false) => Some(table.remove(hash, at)),
            (None, false) => None,
        };
        drop(table);
        inserted
    }

    /// Removes the entry for `id` if `doomed` says so; returns whether it did.
    pub(crate) fn remove_if(&self, id: &[u8], doomed: impl FnOnce(&Arc<Entry>) -> bool) -> bool {
        let hash = self.hash(id);
        let mut table = self.shard(hash).write();
        let removed = match table.find(hash, id) {
            Some(at) if doomed(table.get(at)) => Some(table.remove(hash, at)),
            _ => None,
        };
        drop(table);
        removed.is_some()
    }

    pub(crate) fn clear(&self) {
        for shard in &self.shards {
            let old = std::mem::replace(&mut *shard.write(), Table::with_buckets(1));
            drop(old);
        }
    }

    /// Visits every entry, a shard at a time under its read lock.
    pub(crate) fn for_each(&self, mut visit: impl FnMut(&Arc<Entry>)) {
        for shard in &self.shards {
            shard.read().entries().for_each(&mut visit);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|shard| shard.read().len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::SecretHasher;
    use crate::record::TokenRecord;
    use std::collections::HashMap;
    use std::time::Duration;

    #[test]
    fn a_bucket_is_one_cache_line() {
        assert_eq!(std::mem::size_of::<Bucket>(), 64);
        assert_eq!(std::mem::align_of::<Bucket>(), 64);
    }

    // A tag is only a filter (ids are compared anyway), so nothing but these tests sees a
    // poor one: it would compare an id in every occupied slot of a bucket.
    #[test]
    fn a_tag_is_never_empty_and_takes_the_hashs_top_seven_bits() {
        let tags: std::collections::HashSet<u8> = (0..128u64).map(|top| tag(top << 57 | 0x1234)).collect();
        assert_eq!(tags.len(), 128);
        assert!(tags.iter().all(|tag| tag & 0x80 != 0));
    }

    #[test]
    fn under_a_good_hash_most_ids_sit_in_their_own_bucket() {
        let hash_of = good_hash();
        let mut table = Table::with_buckets(1);
        let ids: Vec<String> = (0..5_000).map(|k| format!("id{k}")).collect();
        for id in &ids {
            table.insert_new(hash_of(id.as_bytes()), entry(id), &hash_of);
        }
        let mask = table.buckets.len() - 1;
        let at_home = ids
            .iter()
            .filter(|id| {
                let hash = hash_of(id.as_bytes());
                let (bucket, _) = table.find(hash, id.as_bytes()).unwrap();
                bucket == usize::try_from(hash).unwrap() & mask
            })
            .count();
        // A lookup of most ids reads one line, the one their hash names (95% at this load,
        // 70% of the slots, in a run of the test).
        assert!(at_home * 5 > ids.len() * 4, "{at_home} of {} at home", ids.len());
    }

    // Memory against probe lengths: a table that grew earlier would only waste memory, one
    // that grew later would only probe further, so nothing but this test sees either.
    #[test]
    fn a_table_fills_seven_eighths_of_its_slots_before_it_grows() {
        let hash_of = good_hash();
        let mut table = Table::with_buckets(1);
        let mut held_before_growing = Vec::new();
        for k in 0..2_000 {
            let (buckets, len) = (table.buckets.len(), table.len);
            let id = format!("id{k}");
            table.insert_new(hash_of(id.as_bytes()), entry(&id), &hash_of);
            if table.buckets.len() != buckets {
                assert_eq!(table.buckets.len(), buckets * 2);
                held_before_growing.push((buckets, len));
            }
        }
        let expected: Vec<(usize, usize)> = (0..9).map(|doubling| 1 << doubling).map(|b| (b, b * 49 / 8)).collect();
        assert_eq!(held_before_growing, expected);
    }

    #[test]
    fn an_index_spreads_ids_over_every_shard() {
        // A hash that named one shard would still answer, with one lock and one run for
        // all. With twenty ids a shard on average, a given shard is left empty with odds of
        // e^-20 (there are four shards a core).
        let index = Index::new();
        for k in 0..index.shards.len() * 20 {
            assert!(index.insert_if(entry(&format!("t{k}")), || true));
        }
        assert!(index.shards.iter().all(|shard| shard.read().len > 0));
    }

    /// The hash an `Index` uses, for a `Table` of a test's own.
    fn good_hash() -> impl Fn(&[u8]) -> u64 {
        let hasher = FastHash::default();
        move |id| std::hash::BuildHasher::hash_one(&hasher, id)
    }

    fn entry(id: &str) -> Arc<Entry> {
        let record = TokenRecord::new(id, "n", SecretHasher::Sha256.hash(b"secret"));
        Arc::new(Entry::from_record(&record, Duration::from_secs(60)))
    }

    /// A table driven through inserts, replacements and removals against a `HashMap`, with
    /// hashes from `hash_of`: a poor one crowds ids into a few buckets (long overflow runs,
    /// wrap-around, equal tags) that a good hash rarely builds.
    fn against_a_map(hash_of: &dyn Fn(&[u8]) -> u64, ids: usize, steps: usize) {
        let mut table = Table::with_buckets(1);
        let mut model: HashMap<String, Arc<Entry>> = HashMap::new();
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        for step in 0..steps {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let id = format!("id{}", (state >> 33) as usize % ids);
            let hash = hash_of(id.as_bytes());
            let held = table.find(hash, id.as_bytes());
            assert_eq!(
                held.map(|at| Arc::as_ptr(table.get(at))),
                model.get(&id).map(Arc::as_ptr),
                "step {step}: {id}"
            );
            match (held, (state >> 20) % 3) {
                (Some(at), 0) => {
                    let removed = table.remove(hash, at);
                    assert!(Arc::ptr_eq(&removed, &model.remove(&id).unwrap()));
                }
                (Some(at), _) => {
                    let newer = entry(&id);
                    table.replace(at, Arc::clone(&newer));
                    model.insert(id, newer);
                }
                (None, _) => {
                    let new = entry(&id);
                    table.insert_new(hash, Arc::clone(&new), hash_of);
                    model.insert(id, new);
                }
            }
            assert_eq!(table.len, model.len());
        }
        // Every id is found where the model has it, and no other.
        for k in 0..ids {
            let id = format!("id{k}");
            let found = table.find(hash_of(id.as_bytes()), id.as_bytes());
            assert_eq!(found.is_some(), model.contains_key(&id), "{id}");
        }
        assert_eq!(table.entries().count(), model.len());
        // Removing everything leaves no bucket counting an overflow that is not there.
        for (id, _) in model.drain() {
            let hash = hash_of(id.as_bytes());
            let at = table.find(hash, id.as_bytes()).unwrap();
            table.remove(hash, at);
        }
        assert!(table.buckets.iter().all(|b| b.overflow == 0 || b.overflow == u8::MAX));
        assert_eq!(table.len, 0);
    }

    #[test]
    fn a_table_agrees_with_a_map_under_a_good_hash() {
        against_a_map(&good_hash(), 2_000, 20_000);
    }

    #[test]
    fn a_table_agrees_with_a_map_when_ids_crowd_into_few_buckets() {
        // Eight home buckets and two tags for all ids: runs overflow and compare keys.
        // Homes are the last eight buckets, so runs also wrap round to the first.
        let crowded = |id: &[u8]| {
            let h = id
                .iter()
                .fold(0u64, |h, &b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
            !(h % 8) ^ ((h % 2) << 63)
        };
        against_a_map(&crowded, 300, 6_000);
    }

    #[test]
    fn a_table_agrees_with_a_map_when_every_id_has_one_hash() {
        // Past 255 entries in one run the overflow counts saturate; lookups still end.
        against_a_map(&|_| u64::MAX, 400, 3_000);
    }

    #[test]
    fn an_index_inserts_replaces_and_removes_by_id() {
        let index = Index::new();
        let first = entry("abc");
        assert!(index.insert_if(Arc::clone(&first), || true));
        assert_eq!(index.get(b"abc", Arc::as_ptr), Some(Arc::as_ptr(&first)));
        assert_eq!(index.get(b"abd", |_| ()), None);

        // A replacement takes the same id's place.
        let second = entry("abc");
        assert!(index.insert_if(Arc::clone(&second), || true));
        assert_eq!(index.get(b"abc", Arc::as_ptr), Some(Arc::as_ptr(&second)));
        assert_eq!(index.len(), 1);

        // Only the entry the predicate names goes.
        assert!(!index.remove_if(b"abc", |e| Arc::ptr_eq(e, &first)));
        assert!(index.remove_if(b"abc", |e| Arc::ptr_eq(e, &second)));
        assert_eq!(index.len(), 0);

        // A refused insert removes what was held, and inserts nothing.
        assert!(index.insert_if(entry("abc"), || true));
        assert!(!index.insert_if(entry("abc"), || false));
        assert_eq!(index.get(b"abc", |_| ()), None);
        assert!(!index.insert_if(entry("new"), || false));
        assert_eq!(index.len(), 0);

        for k in 0..1_000 {
            assert!(index.insert_if(entry(&format!("t{k}")), || true));
        }
        let mut seen = 0;
        index.for_each(|_| seen += 1);
        assert_eq!((seen, index.len()), (1_000, 1_000));
        index.clear();
        assert_eq!(index.len(), 0);
        assert_eq!(index.get(b"t1", |_| ()), None);
    }
}
