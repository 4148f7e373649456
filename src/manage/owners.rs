//! What a [`TokenManager`] does to an owner as a whole: revoke all its tokens, and read or
//! replace its settings (the rate limit all its tokens share). Each keeps the verifier's
//! cache in step for every token of the owner.

use super::{ManageError, TokenManager, rules};
use crate::limit::OwnerSettings;
use crate::store::ListQuery;

impl TokenManager {
    /// Revokes every active token of `owner` (when an account closes, say) and returns how
    /// many it revoked: each is made inactive, refused from the next request on through
    /// this verifier, and through every other replica's whose store has a change stream.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tollgate::{MemoryStore, NewToken, TokenManager, Verifier};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tollgate::ManageError> {
    /// let store = Arc::new(MemoryStore::new());
    /// let tokens = TokenManager::new(store.clone(), Verifier::builder(store).build());
    /// for name in ["laptop", "ci"] {
    ///     let _ = tokens.create(NewToken::new(name).owner("customer_1729")).await?;
    /// }
    /// assert_eq!(tokens.revoke_owner("customer_1729").await?, 2);
    /// assert_eq!(tokens.revoke_owner("customer_1729").await?, 0, "already revoked");
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`ManageError::Invalid`] for an owner that breaks the owner rule;
    /// [`ManageError::Store`] or [`ManageError::Timeout`] when the store fails (some tokens
    /// may have been revoked: the verifier's whole cache is dropped, so none is served from
    /// it).
    pub async fn revoke_owner(&self, owner: &str) -> Result<usize, ManageError> {
        rules::owner(owner)?;
        match self.call(self.inner.store.revoke_owner(owner)).await {
            Ok(ids) => {
                for id in &ids {
                    self.inner.verifier.invalidate(id);
                }
                tracing::debug!(target: "tollgate::manage", action = "revoked_owner", revoked = ids.len());
                Ok(ids.len())
            }
            Err(err) => {
                // Which tokens were revoked before the failure is not known.
                self.inner.verifier.invalidate_all();
                Err(err)
            }
        }
    }

    /// The settings of `owner` (the rate limit all its tokens share), as the store keeps
    /// them: an owner never given any, and every owner of a store that keeps none, has the
    /// empty [`OwnerSettings`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use tollgate::{MemoryStore, OwnerSettings, RateLimit, TokenManager, Verifier};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = Arc::new(MemoryStore::new());
    /// let tokens = TokenManager::new(store.clone(), Verifier::builder(store).build());
    /// assert!(tokens.owner_settings("customer_1729").await?.is_empty());
    ///
    /// let plan = RateLimit::new(1_000, Duration::from_secs(3_600))?;
    /// tokens
    ///     .set_owner_settings("customer_1729", OwnerSettings::new().with_rate_limit(Some(plan)))
    ///     .await?;
    /// assert_eq!(tokens.owner_settings("customer_1729").await?.rate_limit, Some(plan));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`ManageError::Invalid`] for an owner that breaks the owner rule (1 to 256
    /// characters, no control characters); [`ManageError::Store`] or
    /// [`ManageError::Timeout`] when the store fails.
    pub async fn owner_settings(&self, owner: &str) -> Result<OwnerSettings, ManageError> {
        rules::owner(owner)?;
        self.call(self.inner.store.owner_settings(owner)).await
    }

    /// Replaces the settings of `owner` (empty settings remove them) and returns them: a
    /// customer's plan, as a rate limit all its tokens share, which the
    /// [`AuthLayer`](crate::AuthLayer) applies on top of each token's own. In force on the
    /// next request through this verifier, and through every other replica's whose store
    /// has a change stream (the store publishes a change for each of the owner's tokens).
    ///
    /// This is full access, as every method of the manager: call it from your own code
    /// that sells plans. [`OwnedTokens`](super::OwnedTokens) may only read its owner's
    /// settings, unless given
    /// [`allow_rate_limits`](super::OwnedTokens::allow_rate_limits).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use tollgate::{MemoryStore, OwnerSettings, RateLimit, TokenManager, Verifier};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = Arc::new(MemoryStore::new());
    /// let tokens = TokenManager::new(store.clone(), Verifier::builder(store).build());
    ///
    /// // The customer upgraded: 10,000 requests an hour, all its keys together.
    /// let pro = RateLimit::new(10_000, Duration::from_secs(3_600))?;
    /// let set = tokens
    ///     .set_owner_settings("customer_1729", OwnerSettings::new().with_rate_limit(Some(pro)))
    ///     .await?;
    /// assert_eq!(set.rate_limit, Some(pro));
    ///
    /// // And cancelled: no owner limit any more.
    /// tokens.set_owner_settings("customer_1729", OwnerSettings::new()).await?;
    /// assert!(tokens.owner_settings("customer_1729").await?.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`ManageError::Invalid`] for an owner that breaks the owner rule;
    /// [`ManageError::Unsupported`] from a store that keeps no owner settings (a store of
    /// your own that does not implement
    /// [`TokenStore::set_owner_settings`](crate::store::TokenStore::set_owner_settings));
    /// [`ManageError::Store`] or [`ManageError::Timeout`] when the store fails (the
    /// settings may have been written: this verifier reads the owner's tokens again
    /// either way).
    pub async fn set_owner_settings(&self, owner: &str, settings: OwnerSettings) -> Result<OwnerSettings, ManageError> {
        rules::owner(owner)?;
        let written = self.call(self.inner.store.set_owner_settings(owner, &settings)).await;
        if let Err(ManageError::Unsupported(_)) = written {
            // Nothing was written, so nothing cached is stale.
            return written.map(|()| settings);
        }
        // Whatever the answer: a write that timed out may still have been applied. A
        // cached token carries its owner's limit, read with it on the miss.
        self.forget_owner(owner).await;
        written?;
        tracing::debug!(target: "tollgate::manage", action = "set_owner_settings", rate_limit = ?settings.rate_limit);
        Ok(settings)
    }

    /// Drops every token of `owner` from the verifier's cache, as
    /// [`revoke_owner`](Self::revoke_owner) drops those it revoked; the whole cache when the
    /// owner's tokens cannot be listed.
    async fn forget_owner(&self, owner: &str) {
        let mut query = ListQuery::new(500).owner(owner);
        loop {
            let Ok(page) = self.call(self.inner.store.list(&query)).await else {
                self.inner.verifier.invalidate_all();
                return;
            };
            for record in &page.records {
                self.inner.verifier.invalidate(&record.id);
            }
            match page.next_after {
                Some(after) => query = query.after(after),
                None => return,
            }
        }
    }
}
