//! [`TokenManager::check_pepper`] and [`TokenManager::record_pepper`]: every process of one
//! store hashes under one pepper.

use super::{ManageError, TokenManager};
use crate::store::ListQuery;

impl TokenManager {
    /// Checks that this manager hashes secrets as the store's other processes do. On a store
    /// that holds no token yet, the first process to call it records its pepper's
    /// fingerprint there ([`SecretHasher::fingerprint`]: `none` without a pepper); every
    /// later call, from any process, compares with it. Call it when a server starts, before
    /// it serves (the example server does; so does the `tollgate` command before it hashes):
    /// a process with another pepper, or none where one was recorded, then refuses to start
    /// instead of refusing every token, or minting tokens nobody else accepts.
    ///
    /// A store that holds tokens but no fingerprint (one made before fingerprints existed)
    /// passes, and is left as it is: a process whose pepper might be wrong must not decide
    /// for the others. Record it once, from a process known to be right, with
    /// [`record_pepper`](Self::record_pepper). A store that keeps no fingerprint at all (the
    /// default for a store of one's own) passes. Changing the pepper on purpose makes every
    /// stored token unusable; the fingerprint is then changed in the store by hand (the
    /// setting `pepper_fingerprint`, or the key `<prefix>pepper` on Redis).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tollgate::{ManageError, MemoryStore, SecretHasher, TokenManager, Verifier};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let store = Arc::new(MemoryStore::new());
    /// let pepper = SecretHasher::hmac_sha256(b"0123456789abcdef0123456789abcdef");
    /// let first = TokenManager::new(store.clone(), Verifier::builder(store.clone()).hasher(pepper).build());
    /// first.check_pepper().await.unwrap(); // recorded: the store was empty
    /// first.check_pepper().await.unwrap(); // and the same
    ///
    /// let unpeppered = TokenManager::new(store.clone(), Verifier::builder(store).build());
    /// let err = unpeppered.check_pepper().await.unwrap_err();
    /// assert!(matches!(err, ManageError::PepperMismatch { ref ours, .. } if ours == "none"));
    /// # }
    /// ```
    ///
    /// [`SecretHasher::fingerprint`]: crate::SecretHasher::fingerprint
    ///
    /// # Errors
    /// [`ManageError::PepperMismatch`] naming both fingerprints; [`ManageError::Store`] or
    /// [`ManageError::Timeout`] when the store fails.
    pub async fn check_pepper(&self) -> Result<(), ManageError> {
        let recorded = match self.call(self.inner.store.pepper_fingerprint()).await? {
            Some(recorded) => Some(recorded),
            None => {
                let empty = self
                    .call(self.inner.store.list(&ListQuery::new(1)))
                    .await?
                    .records
                    .is_empty();
                if !empty {
                    return Ok(());
                }
                self.call(self.inner.store.claim_pepper_fingerprint(&self.hasher().fingerprint()))
                    .await?
            }
        };
        self.compare_pepper(recorded)
    }

    /// Records this manager's pepper fingerprint in a store that holds none, whether or not
    /// it holds tokens, then checks as [`check_pepper`](Self::check_pepper) does: for a store
    /// made before fingerprints existed, from a process whose pepper is known to be right
    /// (one whose tokens the servers accept).
    ///
    /// # Errors
    /// As [`check_pepper`](Self::check_pepper).
    pub async fn record_pepper(&self) -> Result<(), ManageError> {
        let ours = self.hasher().fingerprint();
        let recorded = self.call(self.inner.store.claim_pepper_fingerprint(&ours)).await?;
        self.compare_pepper(recorded)
    }

    fn compare_pepper(&self, recorded: Option<String>) -> Result<(), ManageError> {
        let ours = self.hasher().fingerprint();
        match recorded {
            Some(recorded) if recorded != ours => Err(ManageError::PepperMismatch { recorded, ours }),
            _ => Ok(()),
        }
    }
}
