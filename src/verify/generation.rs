//! Invalidation generations: what lets a lookup that overlapped an invalidation know not to
//! fill the cache, without stopping lookups for every other token.
//!
//! Ids are spread over [`STRIPES`] counters; invalidating one id bumps its stripe, so only
//! lookups for ids of that stripe are affected. A lookup by secret hash (an opaque token)
//! does not know its id until the source answers, so it watches `any`, which every
//! invalidation bumps. `invalidate_all` bumps `epoch`, which every id's generation includes.

use std::sync::atomic::{AtomicU64, Ordering};

use super::key::MissKey;

const STRIPES: usize = 64;

pub(crate) struct Generations {
    stripes: [AtomicU64; STRIPES],
    epoch: AtomicU64,
    any: AtomicU64,
}

impl Default for Generations {
    fn default() -> Self {
        Self {
            stripes: std::array::from_fn(|_| AtomicU64::new(0)),
            epoch: AtomicU64::new(0),
            any: AtomicU64::new(0),
        }
    }
}

/// FNV-1a: the stripe of an id only spreads invalidations, it guards nothing.
fn stripe(id: &str) -> usize {
    let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    (hash % STRIPES as u64) as usize
}

impl Generations {
    /// The generation a lookup for `key` starts in, and must still be in when it fills.
    /// Both counters only grow, so their sum changes exactly when either does.
    pub(crate) fn of(&self, key: &MissKey) -> u64 {
        match key {
            MissKey::Id(id) => self.stripes[stripe(id)].load(Ordering::SeqCst) + self.epoch.load(Ordering::SeqCst),
            MissKey::Hash(_) => self.any.load(Ordering::SeqCst),
        }
    }

    pub(crate) fn bump_id(&self, id: &str) {
        self.stripes[stripe(id)].fetch_add(1, Ordering::SeqCst);
        self.any.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn bump_hash(&self) {
        self.any.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn bump_all(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.any.fetch_add(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn an_invalidation_moves_its_own_stripe_and_hash_lookups_only() {
        let g = Generations::default();
        let (a, b) = (
            "tokenA",
            (0..)
                .map(|i| format!("other{i}"))
                .find(|b| stripe(b) != stripe("tokenA"))
                .unwrap(),
        );
        let key = |id: &str| MissKey::Id(Arc::from(id));
        let opaque = MissKey::Hash(crate::hash::SecretHasher::Sha256.hash(b"x"));
        let (ga, gb, gh) = (g.of(&key(a)), g.of(&key(&b)), g.of(&opaque));
        g.bump_id(a);
        assert_ne!(g.of(&key(a)), ga);
        assert_eq!(g.of(&key(&b)), gb, "another stripe is untouched");
        assert_ne!(g.of(&opaque), gh, "a lookup by hash may be for any id");
        let gb = g.of(&key(&b));
        g.bump_all();
        assert_ne!(g.of(&key(&b)), gb);
    }
}
