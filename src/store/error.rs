//! [`StoreError`]: what went wrong in a store.

use super::BoxError;

/// What went wrong in a store. Variants are distinct causes a caller can act on.
///
/// ```
/// use tollgate::store::TokenStore;
/// use tollgate::{MemoryStore, SecretHasher, StoreError, TokenRecord};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = MemoryStore::new();
/// let hash = |secret: &str| SecretHasher::Sha256.hash(secret.as_bytes());
/// store.create(TokenRecord::new("abc123", "deploy key", hash("one"))).await.unwrap();
/// // Taken: pick another id.
/// let again = store.create(TokenRecord::new("abc123", "another key", hash("two"))).await;
/// assert!(matches!(again, Err(StoreError::DuplicateId)));
///
/// // A store of your own wraps its driver's errors: the verifier answers them 503.
/// let down = StoreError::unavailable(std::io::Error::other("connection reset"));
/// assert_eq!(down.to_string(), "token store unavailable: connection reset");
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A token with this id already exists.
    #[error("a token with this id already exists")]
    DuplicateId,
    /// Another token already uses this secret (current or within a rotation grace period).
    #[error("another token already uses this secret")]
    DuplicateSecret,
    /// The store could not be reached or failed; the operation may succeed if retried.
    #[error("token store unavailable: {0}")]
    Unavailable(#[source] BoxError),
    /// The store answered with data it cannot have written (a bad row, an unknown status).
    #[error("token store holds invalid data: {0}")]
    Corrupt(String),
    /// The store was configured with a setting it cannot use (a bad table prefix, say).
    #[error("invalid token store configuration: {0}")]
    Config(String),
    /// The store does not do what was asked, whatever the input: it names what it lacks
    /// ("this store keeps no owner settings"). Retrying would not help; another store would.
    #[error("unsupported by this token store: {0}")]
    Unsupported(&'static str),
}

impl StoreError {
    /// Wraps a driver error as [`StoreError::Unavailable`].
    pub fn unavailable(err: impl Into<BoxError>) -> Self {
        Self::Unavailable(err.into())
    }
}
