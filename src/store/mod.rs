//! Where tokens live: the read trait [`TokenSource`], the management trait [`TokenStore`],
//! and the backends.
//!
//! Both traits are async and object-safe (through [`async_trait`](async_trait::async_trait)), so a store can be used
//! generically or as `Arc<dyn TokenStore>`. A backend shared by several replicas can also
//! offer a stream of [`ChangeEvent`]s so that every replica's cache drops a changed token
//! at once (see [`Verifier::invalidation_task`](crate::Verifier::invalidation_task)).
//!
//! Every backend passes the same conformance suite, `tests/support/conformance.rs`.

use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use futures_core::Stream;
use time::OffsetDateTime;

use crate::hash::SecretHash;
use crate::limit::OwnerSettings;
use crate::record::TokenRecord;

// The modules an application's types live in are the crate root's to show (`tollgate::
// MemoryStore`, `tollgate::TokenPatch`…); this module shows what a store's author needs.
pub(crate) mod change;
pub(crate) mod error;
pub(crate) mod list;
#[cfg(any(feature = "postgres", feature = "redis", feature = "_sqlite"))]
mod listen;
pub(crate) mod memory;
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
#[cfg(any(feature = "postgres", feature = "_sqlite"))]
mod rate_columns;
#[cfg(feature = "redis")]
pub(crate) mod redis;
#[cfg(feature = "_sqlite")]
pub(crate) mod sqlite;

pub use change::Rotation;
pub(crate) use change::{Revocation, TokenPatch};
pub(crate) use error::StoreError;
pub(crate) use list::ListQuery;
pub use list::Page;

/// A boxed error from a backend's driver.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A change to the tokens a store holds, as seen by a cache.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChangeEvent {
    /// The token with this id was created, updated, rotated or deleted.
    Changed {
        /// The token's id.
        id: String,
    },
    /// Changes may have been missed (the listener fell behind or reconnected): every
    /// cached entry must be dropped.
    Reset,
}

/// A stream of change events.
pub type ChangeStream = Pin<Box<dyn Stream<Item = ChangeEvent> + Send + 'static>>;

/// The events a broadcast channel carries from now on, as a [`ChangeStream`]: a receiver
/// that fell behind gets [`ChangeEvent::Reset`] for what it missed, and the stream ends
/// when the channel closes.
pub(crate) fn changes_from(rx: tokio::sync::broadcast::Receiver<ChangeEvent>) -> ChangeStream {
    use tokio::sync::broadcast::error::RecvError;
    Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
        match rx.recv().await {
            Ok(event) => Some((event, rx)),
            Err(RecvError::Lagged(_)) => Some((ChangeEvent::Reset, rx)),
            Err(RecvError::Closed) => None,
        }
    }))
}

/// Read access to tokens: all the verifier needs.
///
/// ```
/// use std::sync::Arc;
/// use tollgate::MemoryStore;
/// use tollgate::store::TokenSource;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let source: Arc<dyn TokenSource> = Arc::new(MemoryStore::new());
/// assert!(source.get("no-such-id").await.unwrap().is_none());
/// # }
/// ```
#[async_trait]
pub trait TokenSource: Send + Sync + 'static {
    /// The record with this id.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend fails.
    async fn get(&self, id: &str) -> Result<Option<TokenRecord>, StoreError>;

    /// The record whose current secret, or previous secret within its grace period, has
    /// this hash: how an opaque (imported) Bearer token is found.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend fails.
    async fn find_by_hash(&self, hash: &SecretHash) -> Result<Option<TokenRecord>, StoreError>;

    /// Records when tokens were last used (see
    /// [`Verifier::usage_task`](crate::Verifier::usage_task)). Best effort: a store may
    /// coalesce or drop these writes, and never moves a time backwards. The default does
    /// nothing.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend fails.
    async fn record_use(&self, uses: &[(String, OffsetDateTime)]) -> Result<(), StoreError> {
        let _ = uses;
        Ok(())
    }

    /// The settings of `owner` (a rate limit all its tokens share): what the verifier reads
    /// for an owner's tokens on a cache miss. An owner never given any has the default,
    /// empty settings; so has every owner of a store that keeps none, as the default says.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend fails; [`StoreError::Corrupt`] when it
    /// holds settings this crate could not have written.
    async fn owner_settings(&self, owner: &str) -> Result<OwnerSettings, StoreError> {
        let _ = owner;
        Ok(OwnerSettings::default())
    }

    /// A stream of changes made by any writer to this store, if the backend has one.
    /// The default has none: caches then rely on their time-to-live and on explicit
    /// invalidation.
    fn changes(&self) -> Option<ChangeStream> {
        None
    }
}

/// Full management of tokens, on top of [`TokenSource`].
///
/// Writes are atomic per token. A store that has a [`TokenSource::changes`] stream
/// publishes a [`ChangeEvent::Changed`] for every write.
#[async_trait]
pub trait TokenStore: TokenSource {
    /// Stores a new record.
    ///
    /// # Errors
    /// [`StoreError::DuplicateId`] or [`StoreError::DuplicateSecret`] when the id, or the
    /// secret hash, is already taken; [`StoreError::Unavailable`] when the backend fails.
    async fn create(&self, record: TokenRecord) -> Result<(), StoreError>;

    /// Stores `record` exactly as given, in place of the record with its id if there is one:
    /// its secret hashes, status, times, owner and limits are the caller's, nothing is
    /// checked or computed. This is how a store is copied to another (the `tollgate copy`
    /// command): every token keeps working, with its history.
    ///
    /// The default checks that no other token holds either of the record's secret hashes,
    /// then [`delete`](Self::delete)s and [`create`](Self::create)s, which is not atomic: a
    /// reader in between finds no token. Should the create fail (a secret the check could
    /// not see, such as a previous one whose grace ended, or a writer in between), it puts
    /// the old record back and returns the error. This crate's stores replace in one write
    /// (one transaction on SQLite and PostgreSQL, one script on Redis, one lock on
    /// `MemoryStore`). A store that has a [`TokenSource::changes`] stream publishes a
    /// [`ChangeEvent::Changed`].
    ///
    /// # Errors
    /// [`StoreError::DuplicateSecret`] when another token holds either of the record's secret
    /// hashes (the old record stays); [`StoreError::Unavailable`] when the backend fails.
    async fn replace(&self, record: TokenRecord) -> Result<(), StoreError> {
        let hashes = std::iter::once(record.secret_hash).chain(record.previous_secret.as_ref().map(|p| p.hash));
        for hash in hashes {
            if let Some(holder) = self.find_by_hash(&hash).await? {
                if holder.id != record.id {
                    return Err(StoreError::DuplicateSecret);
                }
            }
        }
        let old = self.get(&record.id).await?;
        self.delete(&record.id).await?;
        match self.create(record).await {
            Ok(()) => Ok(()),
            Err(err) => {
                if let Some(old) = old {
                    self.create(old).await?;
                }
                Err(err)
            }
        }
    }

    /// A page of records, by ascending id after `query.after`.
    ///
    /// Keyset paging: a token that exists for the whole walk is listed exactly once, even
    /// while others are created and deleted.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend fails.
    async fn list(&self, query: &ListQuery) -> Result<Page, StoreError>;

    /// Applies `patch` and returns the new record, or `None` for an unknown id.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend fails.
    async fn update(&self, id: &str, patch: &TokenPatch) -> Result<Option<TokenRecord>, StoreError>;

    /// Deletes a token; `false` if there was none.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend fails.
    async fn delete(&self, id: &str) -> Result<bool, StoreError>;

    /// Replaces a token's secret, keeping the old one for a grace period, and returns the
    /// new record, or `None` for an unknown id.
    ///
    /// # Errors
    /// [`StoreError::DuplicateSecret`] if the new hash is taken; [`StoreError::Unavailable`]
    /// when the backend fails.
    async fn rotate(&self, id: &str, rotation: &Rotation) -> Result<Option<TokenRecord>, StoreError>;

    /// Makes every active token of `owner` inactive (revoked now), and returns their ids.
    /// A store that has a [`TokenSource::changes`] stream publishes a
    /// [`ChangeEvent::Changed`] for each.
    ///
    /// The default pages through [`list`](Self::list) and [`update`](Self::update)s each
    /// token. This crate's stores revoke with the values of one rule instead: SQLite and
    /// PostgreSQL in one statement, `MemoryStore` in one pass under its lock, `RedisStore`
    /// with one script call per 500 tokens of the owner, read from its owner index.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend fails; tokens revoked before the failure
    /// stay revoked.
    async fn revoke_owner(&self, owner: &str) -> Result<Vec<String>, StoreError> {
        let mut revoked = Vec::new();
        let mut query = ListQuery::new(500).owner(owner).status(Revocation::APPLIES_TO);
        let patch = Revocation::patch();
        loop {
            let page = self.list(&query).await?;
            for record in page.records {
                if self.update(&record.id, &patch).await?.is_some() {
                    revoked.push(record.id);
                }
            }
            match page.next_after {
                Some(after) => query = query.after(after),
                None => return Ok(revoked),
            }
        }
    }

    /// The fingerprint of the pepper the store's secrets are hashed under
    /// ([`SecretHasher::fingerprint`](crate::SecretHasher::fingerprint)), as the first process
    /// to use the store recorded it; `None` when none is recorded, and from a store that keeps
    /// none (the default).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend fails.
    async fn pepper_fingerprint(&self) -> Result<Option<String>, StoreError> {
        Ok(None)
    }

    /// Records `fingerprint` as the store's pepper fingerprint if it holds none, atomically,
    /// and returns the one it holds after: `fingerprint`, or the one another process recorded
    /// first. Never replaces one. `None` from a store that keeps none (the default: then no
    /// check is made).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend fails.
    async fn claim_pepper_fingerprint(&self, fingerprint: &str) -> Result<Option<String>, StoreError> {
        let _ = fingerprint;
        Ok(None)
    }

    /// Replaces the settings of `owner` with `settings`; empty settings
    /// ([`OwnerSettings::is_empty`]) delete them, so that the owner reads as one never given
    /// any. A store that has a [`TokenSource::changes`] stream then publishes a
    /// [`ChangeEvent::Changed`] for every token of the owner, whatever its status, as
    /// [`revoke_owner`](Self::revoke_owner) does: every replica's cache reads those tokens
    /// again, and the new settings with them.
    ///
    /// The default keeps no settings: it refuses, and [`TokenSource::owner_settings`] gives
    /// the default. Every store of this crate keeps them.
    ///
    /// # Errors
    /// [`StoreError::Unsupported`] from a store that keeps no owner settings;
    /// [`StoreError::Unavailable`] when the backend fails.
    async fn set_owner_settings(&self, owner: &str, settings: &OwnerSettings) -> Result<(), StoreError> {
        let _ = (owner, settings);
        Err(StoreError::Unsupported("this store keeps no owner settings"))
    }
}

macro_rules! forward_source {
    ($($ptr:ident),*) => {$(
        #[async_trait]
        impl<T: TokenSource + ?Sized> TokenSource for $ptr<T> {
            async fn get(&self, id: &str) -> Result<Option<TokenRecord>, StoreError> {
                (**self).get(id).await
            }
            async fn find_by_hash(&self, hash: &SecretHash) -> Result<Option<TokenRecord>, StoreError> {
                (**self).find_by_hash(hash).await
            }
            fn changes(&self) -> Option<ChangeStream> {
                (**self).changes()
            }
            async fn record_use(&self, uses: &[(String, OffsetDateTime)]) -> Result<(), StoreError> {
                (**self).record_use(uses).await
            }
            async fn owner_settings(&self, owner: &str) -> Result<OwnerSettings, StoreError> {
                (**self).owner_settings(owner).await
            }
        }

        #[async_trait]
        impl<T: TokenStore + ?Sized> TokenStore for $ptr<T> {
            async fn create(&self, record: TokenRecord) -> Result<(), StoreError> {
                (**self).create(record).await
            }
            async fn list(&self, query: &ListQuery) -> Result<Page, StoreError> {
                (**self).list(query).await
            }
            async fn replace(&self, record: TokenRecord) -> Result<(), StoreError> {
                (**self).replace(record).await
            }
            async fn update(&self, id: &str, patch: &TokenPatch) -> Result<Option<TokenRecord>, StoreError> {
                (**self).update(id, patch).await
            }
            async fn delete(&self, id: &str) -> Result<bool, StoreError> {
                (**self).delete(id).await
            }
            async fn rotate(&self, id: &str, rotation: &Rotation) -> Result<Option<TokenRecord>, StoreError> {
                (**self).rotate(id, rotation).await
            }
            async fn revoke_owner(&self, owner: &str) -> Result<Vec<String>, StoreError> {
                (**self).revoke_owner(owner).await
            }
            async fn set_owner_settings(&self, owner: &str, settings: &OwnerSettings) -> Result<(), StoreError> {
                (**self).set_owner_settings(owner, settings).await
            }
            async fn pepper_fingerprint(&self) -> Result<Option<String>, StoreError> {
                (**self).pepper_fingerprint().await
            }
            async fn claim_pepper_fingerprint(&self, fingerprint: &str) -> Result<Option<String>, StoreError> {
                (**self).claim_pepper_fingerprint(fingerprint).await
            }
        }
    )*};
}

forward_source!(Arc, Box);
