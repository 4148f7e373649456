//! The keys the caches are looked up by, and the fast hasher of those whose keys only the
//! source chooses: a leaf every other file of the cache imports.

use std::fmt;
use std::sync::Arc;

use crate::hash::SecretHash;

/// The hasher of maps whose keys are ids or hashes of tokens the source returned: fast, and
/// safe there, since attacker-chosen keys only probe them, they are never inserted.
pub(crate) type FastHash = foldhash::fast::RandomState;

/// What a cache miss is looked up by.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) enum MissKey {
    /// A structured token's or a Basic credential's id.
    Id(Arc<str>),
    /// An opaque token's hash.
    Hash(SecretHash),
}

impl MissKey {
    /// The id looked up, when the credential named one.
    pub(crate) fn id(&self) -> Option<&Arc<str>> {
        match self {
            Self::Id(id) => Some(id),
            Self::Hash(_) => None,
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

/// What the negative cache remembers as unknown: an id, or an opaque token's hash.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) enum NegativeKey {
    Id(Box<str>),
    Hash(SecretHash),
}

impl From<&MissKey> for NegativeKey {
    fn from(key: &MissKey) -> Self {
        match key {
            MissKey::Id(id) => Self::Id((**id).into()),
            MissKey::Hash(hash) => Self::Hash(*hash),
        }
    }
}

/// Ids this long or shorter are stored inline (default ids have 16 bytes). 22 keeps a key
/// at 24 bytes, as small as the `Heap` variant allows.
const INLINE: usize = 22;

/// A token id, inline when short: the cache's index compares a presented id with the
/// entry's key, and an inline key is read from the same cache lines as the rest of what a
/// hit checks, not from another allocation.
pub(crate) enum IdKey {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Arc<str>),
}

impl IdKey {
    pub(crate) fn new(id: &Arc<str>) -> Self {
        match u8::try_from(id.len()) {
            Ok(len) if id.len() <= INLINE => {
                let mut bytes = [0; INLINE];
                bytes[..id.len()].copy_from_slice(id.as_bytes());
                Self::Inline { len, bytes }
            }
            _ => Self::Heap(Arc::clone(id)),
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Self::Heap(id) => id.as_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_are_inline_and_long_ones_shared() {
        for len in [0, 1, 16, INLINE, INLINE + 1, 64] {
            let id: Arc<str> = Arc::from("a".repeat(len));
            let key = IdKey::new(&id);
            assert_eq!(key.as_bytes(), id.as_bytes());
            assert_eq!(matches!(key, IdKey::Inline { .. }), len <= INLINE, "length {len}");
        }
        assert_eq!(std::mem::size_of::<IdKey>(), 24);
    }
}
