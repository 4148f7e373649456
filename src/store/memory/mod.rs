//! [`MemoryStore`]: tokens in process memory, kept compact.
//!
//! Records live in one vector (a slab: deleted slots are reused), in a compact form
//! ([`Stored`]); two `hashbrown` tables hold only slot numbers, hashed by id and by secret
//! hash. That is about 250 bytes per token where a map of full records per index would
//! take twice as much, which matters to services that keep millions of tokens in memory.

mod stored;

use std::collections::{BinaryHeap, HashMap};
use std::fmt;
use std::hash::BuildHasher as _;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use hashbrown::HashTable;
use time::OffsetDateTime;
use tokio::sync::broadcast;

use self::stored::Stored;
use super::{
    ChangeEvent, ChangeStream, ListQuery, Page, Revocation, Rotation, StoreError, TokenPatch, TokenSource, TokenStore,
};
use crate::hash::SecretHash;
use crate::limit::OwnerSettings;
use crate::record::TokenRecord;

/// Tokens kept in this process's memory: for tests, development and single-process
/// services whose tokens are created at start-up. Nothing survives a restart.
///
/// Reads share a lock; writes are serialized so that the id and secret-hash indexes always
/// agree. It publishes a [`ChangeEvent`] for every write. A verifier's cache sits in front
/// of it, so it is read on cache misses only.
///
/// ```
/// use tollgate::{MemoryStore, SecretHasher, TokenRecord};
/// use tollgate::store::{TokenSource, TokenStore};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = MemoryStore::new();
/// let hash = SecretHasher::Sha256.hash(b"an imported secret");
/// store.create(TokenRecord::new("id1", "first", hash)).await.unwrap();
/// assert_eq!(store.find_by_hash(&hash).await.unwrap().unwrap().id, "id1");
/// # }
/// ```
pub struct MemoryStore {
    tokens: RwLock<Tokens>,
    events: broadcast::Sender<ChangeEvent>,
    /// The pepper fingerprint the first claim recorded.
    pepper: std::sync::OnceLock<String>,
}

type Slot = u32;

/// An entry of the secret-hash index: a slot, with [`PREVIOUS`] set when the entry is for
/// the slot's previous secret rather than its current one.
type HashRef = u32;
const PREVIOUS: u32 = 1 << 31;

/// The slab and its two indexes.
#[derive(Default)]
struct Tokens {
    slots: Vec<Option<Stored>>,
    free: Vec<Slot>,
    /// Slots by id.
    by_id: HashTable<Slot>,
    /// Slots by secret hash, current and previous (a rotated token is in it twice).
    by_hash: HashTable<HashRef>,
    /// Ids are chosen by whoever creates tokens, so they get a seeded hash.
    hasher: foldhash::fast::RandomState,
    len: usize,
    /// The owners' settings, empty ones left out. Under the tokens' lock, so that setting
    /// them and finding the owner's tokens to announce is one step.
    owners: HashMap<Box<str>, OwnerSettings>,
}

/// A secret hash is a SHA-256 or HMAC output: its first bytes are already uniform.
fn hash_key(hash: &SecretHash) -> u64 {
    let bytes: [u8; 8] = hash.as_bytes()[..8].try_into().expect("32-byte hash");
    u64::from_le_bytes(bytes)
}

fn occupied(slots: &[Option<Stored>], slot: Slot) -> &Stored {
    slots[slot as usize].as_ref().expect("indexed slots are occupied")
}

/// The secret hash a [`HashRef`] stands for.
fn referenced(slots: &[Option<Stored>], entry: HashRef) -> Option<&SecretHash> {
    let stored = occupied(slots, entry & !PREVIOUS);
    if entry & PREVIOUS == 0 {
        Some(&stored.secret_hash)
    } else {
        stored.previous_secret.as_ref().map(|p| &p.hash)
    }
}

impl Tokens {
    fn stored(&self, slot: Slot) -> &Stored {
        occupied(&self.slots, slot)
    }

    fn slot_of(&self, id: &str) -> Option<Slot> {
        self.by_id
            .find(self.hasher.hash_one(id), |&slot| &*self.stored(slot).id == id)
            .copied()
    }

    fn slot_of_hash(&self, hash: &SecretHash) -> Option<Slot> {
        self.by_hash
            .find(hash_key(hash), |&entry| referenced(&self.slots, entry) == Some(hash))
            .map(|&entry| entry & !PREVIOUS)
    }

    fn get(&self, id: &str) -> Option<&Stored> {
        self.slot_of(id).map(|slot| self.stored(slot))
    }

    fn get_mut(&mut self, id: &str) -> Option<&mut Stored> {
        let slot = self.slot_of(id)?;
        self.slots[slot as usize].as_mut()
    }

    fn hash_taken(&self, hash: &SecretHash, except: Option<Slot>) -> bool {
        self.slot_of_hash(hash).is_some_and(|slot| Some(slot) != except)
    }

    /// The index entries of a slot's hashes, current and previous.
    fn hash_refs(&self, slot: Slot) -> impl Iterator<Item = (u64, HashRef)> + use<> {
        let stored = self.stored(slot);
        let current = (hash_key(&stored.secret_hash), slot);
        let previous = stored
            .previous_secret
            .as_ref()
            .map(|p| (hash_key(&p.hash), slot | PREVIOUS));
        std::iter::once(current).chain(previous)
    }

    fn index_hashes(&mut self, slot: Slot) {
        for (key, entry) in self.hash_refs(slot) {
            let slots = &self.slots;
            self.by_hash
                .insert_unique(key, entry, |&e| referenced(slots, e).map_or(0, hash_key));
        }
    }

    fn unindex_hashes(&mut self, slot: Slot) {
        for (key, entry) in self.hash_refs(slot) {
            if let Ok(found) = self.by_hash.find_entry(key, |&e| e == entry) {
                found.remove();
            }
        }
    }

    fn insert(&mut self, stored: Stored) -> Slot {
        let key = self.hasher.hash_one(&*stored.id);
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(stored);
                slot
            }
            None => {
                // Checked before the push, so that the tables stay consistent even here.
                let slot = Slot::try_from(self.slots.len()).expect("fewer than 2^31 tokens");
                assert!(slot & PREVIOUS == 0, "fewer than 2^31 tokens");
                self.slots.push(Some(stored));
                slot
            }
        };
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.by_id
            .insert_unique(key, slot, |&s| hasher.hash_one(&*occupied(slots, s).id));
        self.index_hashes(slot);
        self.len += 1;
        slot
    }

    fn remove(&mut self, slot: Slot) -> Stored {
        self.unindex_hashes(slot);
        let key = self.hasher.hash_one(&*self.stored(slot).id);
        if let Ok(found) = self.by_id.find_entry(key, |&s| s == slot) {
            found.remove();
        }
        self.free.push(slot);
        self.len -= 1;
        self.slots[slot as usize].take().expect("occupied")
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore").field("tokens", &self.len()).finish()
    }
}

impl MemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self {
            tokens: RwLock::new(Tokens::default()),
            events: broadcast::channel(1024).0,
            pepper: std::sync::OnceLock::new(),
        }
    }

    /// How many tokens the store holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.read().len
    }

    /// Whether the store holds no token.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    // Every write leaves the tables consistent before it can panic, so a poisoned lock
    // still guards consistent data.
    fn read(&self) -> RwLockReadGuard<'_, Tokens> {
        self.tokens.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Tokens> {
        self.tokens.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn publish(&self, id: &str) {
        // No subscriber is not an error.
        let _ = self.events.send(ChangeEvent::Changed { id: id.to_owned() });
    }
}

#[async_trait]
impl TokenSource for MemoryStore {
    async fn get(&self, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        Ok(self.read().get(id).map(Stored::to_record))
    }

    async fn find_by_hash(&self, hash: &SecretHash) -> Result<Option<TokenRecord>, StoreError> {
        let tokens = self.read();
        let Some(slot) = tokens.slot_of_hash(hash) else {
            return Ok(None);
        };
        let record = tokens.stored(slot).to_record();
        Ok(record.secret_matches(hash, crate::record::now()).then_some(record))
    }

    async fn owner_settings(&self, owner: &str) -> Result<OwnerSettings, StoreError> {
        Ok(self.read().owners.get(owner).copied().unwrap_or_default())
    }

    fn changes(&self) -> Option<ChangeStream> {
        Some(super::changes_from(self.events.subscribe()))
    }

    async fn record_use(&self, uses: &[(String, OffsetDateTime)]) -> Result<(), StoreError> {
        let mut tokens = self.write();
        for (id, at) in uses {
            if let Some(stored) = tokens.get_mut(id) {
                if stored.last_used_at.is_none_or(|prev| prev < *at) {
                    stored.last_used_at = Some(*at);
                }
            }
        }
        Ok(())
    }
}

#[async_trait]
impl TokenStore for MemoryStore {
    async fn create(&self, record: TokenRecord) -> Result<(), StoreError> {
        let id = record.id.clone();
        {
            let mut tokens = self.write();
            if tokens.slot_of(&record.id).is_some() {
                return Err(StoreError::DuplicateId);
            }
            let prev_taken = record
                .previous_secret
                .as_ref()
                .is_some_and(|p| tokens.hash_taken(&p.hash, None));
            if tokens.hash_taken(&record.secret_hash, None) || prev_taken {
                return Err(StoreError::DuplicateSecret);
            }
            tokens.insert(Stored::new(record));
        }
        self.publish(&id);
        Ok(())
    }

    async fn pepper_fingerprint(&self) -> Result<Option<String>, StoreError> {
        Ok(self.pepper.get().cloned())
    }

    async fn claim_pepper_fingerprint(&self, fingerprint: &str) -> Result<Option<String>, StoreError> {
        Ok(Some(self.pepper.get_or_init(|| fingerprint.to_owned()).clone()))
    }

    async fn replace(&self, record: TokenRecord) -> Result<(), StoreError> {
        let id = record.id.clone();
        {
            let mut tokens = self.write();
            let slot = tokens.slot_of(&record.id);
            let prev_taken = record
                .previous_secret
                .as_ref()
                .is_some_and(|p| tokens.hash_taken(&p.hash, slot));
            if tokens.hash_taken(&record.secret_hash, slot) || prev_taken {
                return Err(StoreError::DuplicateSecret);
            }
            if let Some(slot) = slot {
                tokens.remove(slot);
            }
            tokens.insert(Stored::new(record));
        }
        self.publish(&id);
        Ok(())
    }

    async fn list(&self, query: &ListQuery) -> Result<Page, StoreError> {
        let tokens = self.read();
        // Keep the `limit + 1` smallest ids after the cursor: one pass, bounded memory.
        let keep = query.limit.saturating_add(1);
        let mut smallest: BinaryHeap<&str> = BinaryHeap::with_capacity(keep.min(1024));
        for stored in tokens.slots.iter().flatten() {
            let id = &*stored.id;
            if query.after.as_deref().is_some_and(|after| id <= after) || !stored.matches(query) {
                continue;
            }
            if smallest.len() < keep {
                smallest.push(id);
            } else if smallest.peek().is_some_and(|largest| id < *largest) {
                smallest.pop();
                smallest.push(id);
            }
        }
        let records: Vec<TokenRecord> = smallest
            .into_sorted_vec()
            .iter()
            .filter_map(|id| tokens.get(id))
            .map(Stored::to_record)
            .collect();
        Ok(Page::from_overfetch(records, query.limit))
    }

    async fn update(&self, id: &str, patch: &TokenPatch) -> Result<Option<TokenRecord>, StoreError> {
        let updated = {
            let mut tokens = self.write();
            let Some(slot) = tokens.slot_of(id) else {
                return Ok(None);
            };
            let mut record = tokens.stored(slot).to_record();
            patch.apply(&mut record, crate::record::now());
            // Id and hashes are unchanged: the indexes stay as they are.
            tokens.slots[slot as usize] = Some(Stored::new(record.clone()));
            record
        };
        self.publish(id);
        Ok(Some(updated))
    }

    async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        {
            let mut tokens = self.write();
            let Some(slot) = tokens.slot_of(id) else {
                return Ok(false);
            };
            tokens.remove(slot);
        }
        self.publish(id);
        Ok(true)
    }

    async fn revoke_owner(&self, owner: &str) -> Result<Vec<String>, StoreError> {
        let Revocation {
            status,
            revoked_at,
            updated_at,
        } = Revocation::at(crate::record::now());
        let revoked: Vec<String> = {
            let mut tokens = self.write();
            let mut revoked = Vec::new();
            for stored in tokens.slots.iter_mut().flatten() {
                if stored.owner.as_deref() == Some(owner) && stored.status == Revocation::APPLIES_TO {
                    stored.status = status;
                    stored.updated_at = updated_at;
                    stored.set_revoked_at(revoked_at);
                    revoked.push(stored.id.to_string());
                }
            }
            // In id order, as a listing gives them.
            revoked.sort_unstable();
            revoked
        };
        for id in &revoked {
            self.publish(id);
        }
        Ok(revoked)
    }

    async fn set_owner_settings(&self, owner: &str, settings: &OwnerSettings) -> Result<(), StoreError> {
        let ids: Vec<String> = {
            let mut tokens = self.write();
            if settings.is_empty() {
                tokens.owners.remove(owner);
            } else {
                tokens.owners.insert(owner.into(), *settings);
            }
            let owned = tokens.slots.iter().flatten();
            owned
                .filter(|stored| stored.owner.as_deref() == Some(owner))
                .map(|stored| stored.id.to_string())
                .collect()
        };
        for id in &ids {
            self.publish(id);
        }
        Ok(())
    }

    async fn rotate(&self, id: &str, rotation: &Rotation) -> Result<Option<TokenRecord>, StoreError> {
        let updated = {
            let mut tokens = self.write();
            if tokens.hash_taken(&rotation.new_hash, None) {
                return Err(StoreError::DuplicateSecret);
            }
            let Some(slot) = tokens.slot_of(id) else {
                return Ok(None);
            };
            let mut record = tokens.stored(slot).to_record();
            rotation.apply(&mut record, crate::record::now());
            tokens.unindex_hashes(slot);
            tokens.slots[slot as usize] = Some(Stored::new(record.clone()));
            tokens.index_hashes(slot);
            record
        };
        self.publish(id);
        Ok(Some(updated))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::SecretHasher;
    use crate::record::TokenStatus;

    fn hash(s: &str) -> SecretHash {
        SecretHasher::Sha256.hash(s.as_bytes())
    }

    /// Slots are reused after a delete, and no index entry outlives its record.
    #[tokio::test]
    async fn deleted_slots_are_reused_and_their_hashes_forgotten() {
        let store = MemoryStore::new();
        store.create(TokenRecord::new("a", "a", hash("a1"))).await.unwrap();
        store.create(TokenRecord::new("b", "b", hash("b1"))).await.unwrap();
        let rotation = Rotation::new(hash("a2"), Some(crate::record::now() + time::Duration::hours(1)));
        store.rotate("a", &rotation).await.unwrap().unwrap();
        assert_eq!(store.find_by_hash(&hash("a1")).await.unwrap().unwrap().id, "a");
        assert_eq!(store.find_by_hash(&hash("a2")).await.unwrap().unwrap().id, "a");

        assert!(store.delete("a").await.unwrap());
        store.create(TokenRecord::new("c", "c", hash("c1"))).await.unwrap();
        assert_eq!(store.read().slots.len(), 2, "the deleted slot was reused");
        for gone in ["a1", "a2"] {
            assert!(store.find_by_hash(&hash(gone)).await.unwrap().is_none());
        }
        assert!(store.get("a").await.unwrap().is_none());
        assert_eq!(store.find_by_hash(&hash("c1")).await.unwrap().unwrap().id, "c");
        assert_eq!(store.get("b").await.unwrap().unwrap().name, "b");
        assert_eq!(store.len(), 2);
        // The old secret's hash is free again.
        store.create(TokenRecord::new("d", "d", hash("a1"))).await.unwrap();
    }

    /// What a record holds comes back as it went in, defaults included.
    #[tokio::test]
    async fn records_round_trip_through_the_compact_form() {
        let store = MemoryStore::new();
        let mut record = TokenRecord::new("x", "name", hash("x")).with_scopes(["b", "a"]);
        record.kind = "service".into();
        record.metadata.insert("team".into(), serde_json::json!("infra"));
        record.expires_at = Some(crate::record::now() + time::Duration::days(1));
        record.rate_limit = Some(crate::limit::RateLimit::from_parts(5, 60, 2).unwrap());
        store.create(record.clone()).await.unwrap();
        assert_eq!(store.get("x").await.unwrap().unwrap(), record);
        // Revoking keeps the limit, kept out of line with the revocation time.
        let revoked = store
            .update("x", &TokenPatch::new().status(TokenStatus::Inactive))
            .await
            .unwrap();
        assert_eq!(revoked.unwrap().rate_limit, record.rate_limit);
        let plain = TokenRecord::new("y", "plain", hash("y"));
        store.create(plain.clone()).await.unwrap();
        assert_eq!(store.get("y").await.unwrap().unwrap(), plain);
    }
}
