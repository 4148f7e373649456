//! Why a credential did not verify: [`InvalidReason`] and [`VerifyError`].

use std::sync::Arc;
use std::time::Duration;

use crate::store::StoreError;

/// Declares [`InvalidReason`] from one row per reason: its doc, its text, and what is known
/// of it besides ([`ReasonRow`]), so that a reason cannot be added without them.
macro_rules! reasons {
    ($( $(#[$attr:meta])* $reason:ident => $row:expr, )+) => {
        /// Why a credential does not authenticate. All of them are answered alike (401
        /// `invalid_token`) so that an attacker cannot tell which; the reason is for logs and
        /// metrics.
        ///
        /// ```
        /// use std::sync::Arc;
        /// use tollgate::{Credential, InvalidReason, MemoryStore, NewToken, TokenManager, Verifier, VerifyError};
        ///
        /// # #[tokio::main(flavor = "current_thread")]
        /// # async fn main() -> Result<(), tollgate::ManageError> {
        /// let store = Arc::new(MemoryStore::new());
        /// let verifier = Verifier::builder(store.clone()).build();
        /// let tokens = TokenManager::new(store, verifier.clone());
        /// let issued = tokens.create(NewToken::new("laptop")).await?;
        /// tokens.revoke(issued.id()).await?;
        ///
        /// match verifier.verify(&Credential::Bearer(issued.token().expose())).await {
        ///     // For the log; the client is answered the same 401 whatever the reason.
        ///     Err(VerifyError::Invalid(reason)) => assert_eq!(reason, InvalidReason::Inactive),
        ///     other => panic!("a revoked token, verified as {other:?}"),
        /// }
        /// # Ok(())
        /// # }
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
        #[non_exhaustive]
        pub enum InvalidReason {
            $( $(#[$attr])* $reason, )+
        }

        impl InvalidReason {
            /// Every reason, in declaration order.
            pub(crate) const ALL: &'static [Self] = &[$(Self::$reason),+];

            /// This reason's row.
            #[must_use]
            pub(crate) const fn row(self) -> ReasonRow {
                match self {
                    $( Self::$reason => $row, )+
                }
            }
        }
    };
}

reasons! {
    /// A token that claims the configured prefix but does not have the format's shape.
    #[error("token is malformed")]
    Malformed => ReasonRow { label: "malformed", token_exists: false, failure: true },
    /// The checksum does not match: rejected without a lookup.
    #[error("token checksum does not match")]
    BadChecksum => ReasonRow { label: "bad_checksum", token_exists: false, failure: true },
    /// No token has this id (or this opaque secret).
    #[error("no such token")]
    Unknown => ReasonRow { label: "unknown", token_exists: false, failure: true },
    /// The id exists but the secret does not match it.
    #[error("secret does not match")]
    WrongSecret => ReasonRow { label: "wrong_secret", token_exists: true, failure: true },
    /// The token's expiry has passed.
    #[error("token has expired")]
    Expired => ReasonRow { label: "expired", token_exists: true, failure: true },
    /// The token is inactive.
    #[error("token is inactive")]
    Inactive => ReasonRow { label: "inactive", token_exists: true, failure: true },
}

/// What is known of a reason besides its text: one row per reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReasonRow {
    /// Its label in metrics (`tollgate_rejections_total{reason}`).
    pub(crate) label: &'static str,
    /// Whether the reason shows that a token with the presented id exists: only then may a
    /// refusal name the id (a client that put a secret where the id goes must not see it
    /// logged).
    pub(crate) token_exists: bool,
    /// Whether brute-force damping counts it as a failed guess.
    pub(crate) failure: bool,
}

/// Why verification did not produce a [`Principal`](crate::Principal).
///
/// ```
/// use bytes::Bytes;
/// use http_body_util::Full;
/// use tollgate::{Credential, MemoryStore, Rejection, TokenFormat, Verifier, VerifyError};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let verifier = Verifier::builder(MemoryStore::new()).build();
/// let stranger = TokenFormat::default().generate().unwrap(); // well-formed, never stored
/// let err = verifier.verify(&Credential::Bearer(stranger.token().expose())).await.unwrap_err();
/// // Worth retrying only when the store failed: an invalid credential stays invalid.
/// assert!(!matches!(err, VerifyError::Unavailable(_) | VerifyError::Timeout(_)));
///
/// // Outside the layer (a WebSocket handshake, say), answer as the layer would.
/// let response: http::Response<Full<Bytes>> = Rejection::from(err).to_response();
/// assert_eq!(response.status(), 401);
/// # }
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The credential does not authenticate: 401.
    #[error("invalid credentials: {0}")]
    Invalid(InvalidReason),
    /// The source failed: 503, and never a pass.
    #[error(transparent)]
    Unavailable(Arc<StoreError>),
    /// The source did not answer in time: 503.
    #[error("token store did not answer within {0:?}")]
    Timeout(Duration),
}

impl From<InvalidReason> for VerifyError {
    fn from(reason: InvalidReason) -> Self {
        Self::Invalid(reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_is_listed_once_with_a_label_of_its_own() {
        let mut labels: Vec<&str> = InvalidReason::ALL.iter().map(|r| r.row().label).collect();
        // `ALL` is in declaration order, so a reason's index is its discriminant.
        for (i, reason) in InvalidReason::ALL.iter().enumerate() {
            assert_eq!(*reason as usize, i, "{reason:?}");
        }
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), InvalidReason::ALL.len());
    }

    #[test]
    fn only_reasons_about_an_existing_token_show_it() {
        let exists: Vec<InvalidReason> = InvalidReason::ALL
            .iter()
            .copied()
            .filter(|r| r.row().token_exists)
            .collect();
        assert_eq!(
            exists,
            [
                InvalidReason::WrongSecret,
                InvalidReason::Expired,
                InvalidReason::Inactive
            ]
        );
    }
}
