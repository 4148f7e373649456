//! [`ManageError`]: why a [`TokenManager`](super::TokenManager) call did not happen.

use std::time::Duration;

use crate::store::StoreError;

/// Why a [`TokenManager`](super::TokenManager) call was refused or failed. Each variant is a
/// cause a caller acts on differently: show the message to the user (`Invalid`), answer
/// 404 (`NotFound`), 409 (`DuplicateId`, `DuplicateSecret`), retry later (`Store`,
/// `Timeout`), or use another store (`Unsupported`).
///
/// ```
/// use std::sync::Arc;
/// use tollgate::{ManageError, MemoryStore, NewToken, TokenManager, Verifier};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = Arc::new(MemoryStore::new());
/// let tokens = TokenManager::new(store.clone(), Verifier::builder(store).build());
///
/// // Your "API tokens" page: the message names the field the user must fix.
/// let err = tokens.create(NewToken::new("")).await.unwrap_err();
/// assert!(matches!(&err, ManageError::Invalid { field, .. } if field == "name"));
/// assert_eq!(err.status(), 400);
///
/// assert!(matches!(tokens.revoke("no-such-id").await, Err(ManageError::NotFound)));
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManageError {
    /// An input field breaks a rule; the message names the field and the rule, never a
    /// secret.
    #[error("{field}: {rule}")]
    Invalid {
        /// The field, as the admin API names it (`name`, `scopes[2]`, `expires_at`, …).
        field: String,
        /// The rule it breaks.
        rule: String,
    },
    /// No token has this id.
    #[error("no token with this id")]
    NotFound,
    /// A token with this id already exists.
    #[error("a token with this id already exists")]
    DuplicateId,
    /// Another token already uses this secret (an import, most often).
    #[error("this secret is already in use by another token")]
    DuplicateSecret,
    /// The store failed; the call may succeed if retried. A write may have been applied
    /// even so: the verifier's cache was told either way.
    #[error("the token store failed: {0}")]
    Store(#[source] StoreError),
    /// The store did not answer in time; as with `Store`, a write may have been applied.
    #[error("the token store did not answer within {0:?}")]
    Timeout(Duration),
    /// The store does not do what was asked, whatever the input: it names what it lacks
    /// ("this store keeps no owner settings", from
    /// [`StoreError::Unsupported`]). Retrying will not help; another store would. The admin
    /// API answers it 501 `not_implemented`.
    #[error("the token store cannot do this: {0}")]
    Unsupported(&'static str),
    /// A manager bound to one owner ([`OwnedTokens`](super::OwnedTokens)) was asked for
    /// what its owner may not do: grant a scope it does not hold, give a token to another
    /// owner, or set a rate limit without the grant. The admin API answers it 403
    /// `insufficient_scope`.
    #[error("not allowed: {rule}")]
    NotAllowed {
        /// What may not be done, in words.
        rule: String,
        /// The scopes that would have allowed it, for the challenge's `scope` attribute.
        scopes: Vec<String>,
    },
    /// The store's secrets are hashed under another pepper than this process's, or under one
    /// where this process has none, or the reverse: every token this process made would be
    /// refused by the store's other processes, and every token they made refused by this
    /// one. Both are named by fingerprint ([`SecretHasher::fingerprint`]), never by pepper.
    /// From [`TokenManager::check_pepper`](super::TokenManager::check_pepper).
    ///
    /// [`SecretHasher::fingerprint`]: crate::SecretHasher::fingerprint
    #[error(
        "the store's secrets are hashed under another pepper (the store records {recorded}, this process has \
         {ours}): give this process the pepper the store's servers use"
    )]
    PepperMismatch {
        /// The fingerprint the store recorded (`none`: no pepper).
        recorded: String,
        /// This process's.
        ours: String,
    },
    /// The operating system's random source failed, so no secret could be generated.
    #[error("no secret could be generated: {0}")]
    Random(#[source] crate::token::TokenError),
}

impl ManageError {
    /// The HTTP status the admin API answers this error with, for an app's own pages that
    /// call the manager (a self-service settings page, say): 400 `Invalid`, 403
    /// `NotAllowed`, 404 `NotFound`, 409 `DuplicateId` and `DuplicateSecret`, 501
    /// `Unsupported` (not worth retrying), 503 for the rest (the store failed or did not
    /// answer, or no secret could be generated: worth retrying; or this process hashes
    /// under another pepper than the store's, which needs its operator).
    ///
    /// ```
    /// use http::StatusCode;
    /// use tollgate::ManageError;
    ///
    /// assert_eq!(ManageError::NotFound.status(), StatusCode::NOT_FOUND);
    /// assert_eq!(ManageError::DuplicateSecret.status(), StatusCode::CONFLICT);
    /// ```
    #[must_use]
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode;
        match self {
            Self::Invalid { .. } => StatusCode::BAD_REQUEST,
            Self::NotAllowed { .. } => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::DuplicateId | Self::DuplicateSecret => StatusCode::CONFLICT,
            Self::Unsupported(_) => StatusCode::NOT_IMPLEMENTED,
            Self::Store(_) | Self::Timeout(_) | Self::Random(_) | Self::PepperMismatch { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    pub(crate) fn invalid(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            rule: rule.into(),
        }
    }
}

impl From<StoreError> for ManageError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::DuplicateId => Self::DuplicateId,
            StoreError::DuplicateSecret => Self::DuplicateSecret,
            StoreError::Unsupported(what) => Self::Unsupported(what),
            err => Self::Store(err),
        }
    }
}
