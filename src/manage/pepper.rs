//! [`TokenManager::check_pepper`]: every process of one store hashes under one pepper.

use super::{ManageError, TokenManager};

impl TokenManager {
    /// Checks that this manager hashes secrets as the store's other processes do. The first
    /// process to call it on a store records its pepper's fingerprint there
    /// ([`SecretHasher::fingerprint`]: `none` without a pepper); every later call, from any
    /// process, compares with it. Call it when a server starts, before it serves (the
    /// example server does; so does the `tollgate` command before it hashes): a process with
    /// another pepper, or none where one was recorded, then refuses to start instead of
    /// refusing every token, or minting tokens nobody else accepts.
    ///
    /// A store that keeps no fingerprint (the default for a store of one's own) passes.
    /// Changing the pepper on purpose makes every stored token unusable; the fingerprint is
    /// then changed in the store by hand (it is the setting `pepper_fingerprint`, or the key
    /// `<prefix>pepper` on Redis).
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
    /// first.check_pepper().await.unwrap(); // recorded
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
        let ours = self.hasher().fingerprint();
        match self.call(self.inner.store.claim_pepper_fingerprint(&ours)).await? {
            Some(recorded) if recorded != ours => Err(ManageError::PepperMismatch { recorded, ours }),
            _ => Ok(()),
        }
    }
}
