//! [`MemoryStore`]: tokens in process memory, on `dashmap`.

use std::collections::BinaryHeap;
use std::fmt;
use std::sync::Mutex;

use async_trait::async_trait;
use dashmap::DashMap;
use time::OffsetDateTime;
use tokio::sync::broadcast;

use super::{ChangeEvent, ChangeStream, ListQuery, Page, Rotation, StoreError, TokenPatch, TokenSource, TokenStore};
use crate::{SecretHash, TokenRecord};

/// Tokens kept in this process's memory: for tests, development and single-process
/// services whose tokens are created at start-up. Nothing survives a restart.
///
/// Reads are lock-free; writes are serialized so that the id and secret-hash indexes
/// always agree. It publishes a [`ChangeEvent`] for every write.
///
/// ```
/// use tollgate::{MemoryStore, SecretHasher, TokenRecord, TokenSource, TokenStore};
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
    by_id: DashMap<String, TokenRecord>,
    by_hash: DashMap<SecretHash, String>,
    writes: Mutex<()>,
    events: broadcast::Sender<ChangeEvent>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("tokens", &self.by_id.len())
            .finish()
    }
}

impl MemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self {
            by_id: DashMap::new(),
            by_hash: DashMap::new(),
            writes: Mutex::new(()),
            events: broadcast::channel(1024).0,
        }
    }

    /// How many tokens the store holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether the store holds no token.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        // The guarded data is `()`: a panic elsewhere cannot leave it inconsistent.
        self.writes.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn publish(&self, id: &str) {
        // No subscriber is not an error.
        let _ = self.events.send(ChangeEvent::Changed { id: id.to_owned() });
    }

    fn hash_taken(&self, hash: &SecretHash, except_id: Option<&str>) -> bool {
        self.by_hash
            .get(hash)
            .is_some_and(|owner| Some(owner.as_str()) != except_id)
    }

    fn unindex(&self, record: &TokenRecord) {
        self.by_hash.remove(&record.secret_hash);
        if let Some(prev) = &record.previous_secret {
            self.by_hash.remove(&prev.hash);
        }
    }

    fn index(&self, record: &TokenRecord) {
        self.by_hash.insert(record.secret_hash, record.id.clone());
        if let Some(prev) = &record.previous_secret {
            self.by_hash.insert(prev.hash, record.id.clone());
        }
    }
}

#[async_trait]
impl TokenSource for MemoryStore {
    async fn get(&self, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        Ok(self.by_id.get(id).map(|r| r.clone()))
    }

    async fn find_by_hash(&self, hash: &SecretHash) -> Result<Option<TokenRecord>, StoreError> {
        let Some(id) = self.by_hash.get(hash).map(|id| id.clone()) else {
            return Ok(None);
        };
        let now = crate::record::now();
        Ok(self
            .by_id
            .get(&id)
            .filter(|record| record.secret_matches(hash, now))
            .map(|record| record.clone()))
    }

    fn changes(&self) -> Option<ChangeStream> {
        let rx = self.events.subscribe();
        Some(Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
            match rx.recv().await {
                Ok(event) => Some((event, rx)),
                Err(broadcast::error::RecvError::Lagged(_)) => Some((ChangeEvent::Reset, rx)),
                Err(broadcast::error::RecvError::Closed) => None,
            }
        })))
    }

    async fn record_use(&self, uses: &[(String, OffsetDateTime)]) -> Result<(), StoreError> {
        for (id, at) in uses {
            if let Some(mut record) = self.by_id.get_mut(id) {
                if record.last_used_at.is_none_or(|prev| prev < *at) {
                    record.last_used_at = Some(*at);
                }
            }
        }
        Ok(())
    }
}

#[async_trait]
impl TokenStore for MemoryStore {
    async fn create(&self, record: TokenRecord) -> Result<(), StoreError> {
        let _guard = self.lock();
        if self.by_id.contains_key(&record.id) {
            return Err(StoreError::DuplicateId);
        }
        let prev_taken = record
            .previous_secret
            .as_ref()
            .is_some_and(|p| self.hash_taken(&p.hash, None));
        if self.hash_taken(&record.secret_hash, None) || prev_taken {
            return Err(StoreError::DuplicateSecret);
        }
        self.index(&record);
        let id = record.id.clone();
        self.by_id.insert(id.clone(), record);
        self.publish(&id);
        Ok(())
    }

    async fn list(&self, query: &ListQuery) -> Result<Page, StoreError> {
        // Keep the `limit + 1` smallest ids after the cursor: one pass, bounded memory.
        let keep = query.limit.saturating_add(1);
        let mut smallest: BinaryHeap<String> = BinaryHeap::with_capacity(keep.min(1024));
        for entry in &self.by_id {
            let id = entry.key();
            if query.after.as_deref().is_some_and(|after| id.as_str() <= after) || !query.matches(entry.value()) {
                continue;
            }
            if smallest.len() < keep {
                smallest.push(id.clone());
            } else if smallest.peek().is_some_and(|largest| id < largest) {
                smallest.pop();
                smallest.push(id.clone());
            }
        }
        let mut ids = smallest.into_sorted_vec();
        let more = ids.len() > query.limit;
        ids.truncate(query.limit);
        let records: Vec<TokenRecord> = ids
            .iter()
            .filter_map(|id| self.by_id.get(id).map(|r| r.clone()))
            .collect();
        let next_after = if more {
            records.last().map(|r| r.id.clone())
        } else {
            None
        };
        Ok(Page { records, next_after })
    }

    async fn update(&self, id: &str, patch: &TokenPatch) -> Result<Option<TokenRecord>, StoreError> {
        let _guard = self.lock();
        let Some(mut record) = self.by_id.get_mut(id) else {
            return Ok(None);
        };
        patch.apply(&mut record);
        let updated = record.clone();
        drop(record);
        self.publish(id);
        Ok(Some(updated))
    }

    async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        let _guard = self.lock();
        let Some((_, record)) = self.by_id.remove(id) else {
            return Ok(false);
        };
        self.unindex(&record);
        self.publish(id);
        Ok(true)
    }

    async fn rotate(&self, id: &str, rotation: &Rotation) -> Result<Option<TokenRecord>, StoreError> {
        let _guard = self.lock();
        if self.hash_taken(&rotation.new_hash, None) {
            return Err(StoreError::DuplicateSecret);
        }
        let Some(mut record) = self.by_id.get_mut(id) else {
            return Ok(None);
        };
        self.unindex(&record);
        rotation.apply(&mut record);
        self.index(&record);
        let updated = record.clone();
        drop(record);
        self.publish(id);
        Ok(Some(updated))
    }
}
