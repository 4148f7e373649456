//! [`TokenRecord`]: what a store keeps about one token.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::hash::SecretHash;
use crate::limit::RateLimit;
use crate::scopes::Scopes;

/// Whether a token may be used.
///
/// ```
/// use std::sync::Arc;
/// use tollgate::{MemoryStore, NewToken, TokenManager, TokenStatus, Verifier};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tollgate::ManageError> {
/// let store = Arc::new(MemoryStore::new());
/// let tokens = TokenManager::new(store.clone(), Verifier::builder(store).build());
/// let issued = tokens.create(NewToken::new("laptop")).await?;
/// assert_eq!(issued.record().status, TokenStatus::Active);
///
/// // Revoked, a token is kept, inactive: listed still, and it may be made active again.
/// let revoked = tokens.revoke(issued.id()).await?;
/// assert_eq!(revoked.status, TokenStatus::Inactive);
/// assert_eq!(revoked.status.as_str(), "inactive"); // in JSON, and the admin API's filter
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenStatus {
    /// The token authenticates requests.
    #[default]
    Active,
    /// The token is kept but refused, until it is made active again.
    Inactive,
}

impl TokenStatus {
    /// The wire name: `active` or `inactive`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
        }
    }

    /// Reads a wire name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "active" => Some(Self::Active),
            "inactive" => Some(Self::Inactive),
            _ => None,
        }
    }
}

/// The secret a token had before its last rotation, accepted until `valid_until`.
///
/// ```
/// use std::sync::Arc;
/// use time::{Duration, OffsetDateTime};
/// use tollgate::{MemoryStore, NewToken, TokenManager, Verifier};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tollgate::ManageError> {
/// let store = Arc::new(MemoryStore::new());
/// let tokens = TokenManager::new(store.clone(), Verifier::builder(store).build());
/// let issued = tokens.create(NewToken::new("deploy key")).await?;
///
/// // Rotated with an hour's grace: the old secret's hash is kept as the previous one.
/// let rotated = tokens.rotate(issued.id(), Duration::hours(1)).await?;
/// let previous = rotated.record().previous_secret.as_ref().expect("a grace period");
/// assert_eq!(previous.hash, issued.record().secret_hash);
/// assert!(previous.valid_until > OffsetDateTime::now_utc());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousSecret {
    /// Hash of the old secret.
    pub hash: SecretHash,
    /// The first instant at which the old secret no longer works.
    #[serde(with = "time::serde::rfc3339")]
    pub valid_until: OffsetDateTime,
}

/// Everything a store keeps about one token. Never the secret: only its hash.
///
/// `Debug` is safe to log: [`SecretHash`] does not print its bytes. The fields are public
/// to read and to change, but the struct is `#[non_exhaustive]`: build one with
/// [`TokenRecord::new`] and the `with_*` methods, so that fields added later do not break
/// your code. To create tokens, [`TokenManager`](crate::TokenManager) does all of this and
/// validates the input; records are built by hand in stores and tests.
///
/// With serde, a record serializes every field, the secret's hash included (as 64 hex
/// digits) and timestamps as RFC 3339: the form for a store of your own that keeps records
/// as documents. Never send it to a client: send [`TokenRecord::view`], as the admin API
/// does.
///
/// ```
/// use tollgate::{SecretHasher, TokenFormat, TokenRecord, TokenStatus};
///
/// let token = TokenFormat::default().generate().unwrap();
/// let hash = SecretHasher::Sha256.hash(token.secret_segment().as_bytes());
/// let record = TokenRecord::new(token.id(), "ci deploy key", hash)
///     .with_scopes(["deploy", "read"])
///     .with_kind("service");
/// assert_eq!(record.status, TokenStatus::Active);
/// assert!(record.has_scope("deploy"));
///
/// let json = serde_json::to_string(&record).unwrap();
/// let back: TokenRecord = serde_json::from_str(&json).unwrap();
/// assert_eq!(back, record);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TokenRecord {
    /// Public, stable id (rotation keeps it).
    pub id: String,
    /// Human-readable name, 1 to 128 characters.
    pub name: String,
    /// Free-form kind, e.g. `api`, `service`, `personal`.
    pub kind: String,
    /// Granted scopes, sorted and without duplicates.
    pub scopes: Scopes,
    /// Active or inactive.
    pub status: TokenStatus,
    /// When the token was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The first instant at which the token no longer works, if it expires.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// When the token last authenticated a request, as far as the store was told: the
    /// verifier tells it only while [`Verifier::usage_task`](crate::Verifier::usage_task)
    /// runs, so without it this stays `None`.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    /// Free-form JSON object kept with the token.
    pub metadata: Map<String, Value>,
    /// Hash of the current secret.
    pub secret_hash: SecretHash,
    /// The secret replaced by the last rotation, while its grace period lasts.
    pub previous_secret: Option<PreviousSecret>,
    /// Who the token belongs to: your application's user or customer id, opaque to
    /// tollgate (1 to 256 characters). Tokens can be listed and revoked by owner.
    #[serde(default)]
    pub owner: Option<String>,
    /// The id of the principal that created the token, when it was made through the admin
    /// API (or given by the caller of [`TokenManager`](crate::TokenManager)).
    #[serde(default)]
    pub created_by: Option<String>,
    /// When the token was last changed: created, updated, rotated or revoked. Stores set it.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// When the token was made inactive (revoked), while it is.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    /// At most `limit` requests per `period` for this token, enforced by the
    /// [`AuthLayer`](crate::AuthLayer); `None` for no limit. See [`RateLimit`].
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
}

/// The kind given to tokens created without one.
pub(crate) const DEFAULT_KIND: &str = "api";

impl TokenRecord {
    /// A new active record, created now, with no scopes, expiry or metadata.
    #[must_use]
    pub fn new(id: impl Into<String>, name: impl Into<String>, secret_hash: SecretHash) -> Self {
        let created_at = now();
        Self {
            id: id.into(),
            name: name.into(),
            kind: DEFAULT_KIND.to_owned(),
            scopes: Scopes::new(),
            status: TokenStatus::Active,
            created_at,
            expires_at: None,
            last_used_at: None,
            metadata: Map::new(),
            secret_hash,
            previous_secret: None,
            owner: None,
            created_by: None,
            updated_at: created_at,
            revoked_at: None,
            rate_limit: None,
        }
    }

    /// Replaces the scopes (sorted and deduplicated).
    #[must_use]
    pub fn with_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().collect();
        self
    }

    /// Sets the expiry.
    #[must_use]
    pub fn with_expiry(mut self, expires_at: Option<OffsetDateTime>) -> Self {
        self.expires_at = expires_at;
        self
    }

    /// Sets the kind.
    #[must_use]
    pub fn with_kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = kind.into();
        self
    }

    /// Sets the status.
    #[must_use]
    pub fn with_status(mut self, status: TokenStatus) -> Self {
        self.status = status;
        self
    }

    /// Replaces the metadata.
    #[must_use]
    pub fn with_metadata(mut self, metadata: Map<String, Value>) -> Self {
        self.metadata = metadata;
        self
    }

    /// Sets when the token was created, and last changed (default: when the record was
    /// made).
    #[must_use]
    pub fn with_created_at(mut self, created_at: OffsetDateTime) -> Self {
        self.created_at = created_at;
        self.updated_at = created_at;
        self
    }

    /// Sets when the token was last changed.
    #[must_use]
    pub fn with_updated_at(mut self, updated_at: OffsetDateTime) -> Self {
        self.updated_at = updated_at;
        self
    }

    /// Sets who the token belongs to.
    #[must_use]
    pub fn with_owner(mut self, owner: Option<String>) -> Self {
        self.owner = owner;
        self
    }

    /// Sets who created the token.
    #[must_use]
    pub fn with_created_by(mut self, created_by: Option<String>) -> Self {
        self.created_by = created_by;
        self
    }

    /// Sets when the token was revoked (made inactive).
    #[must_use]
    pub fn with_revoked_at(mut self, revoked_at: Option<OffsetDateTime>) -> Self {
        self.revoked_at = revoked_at;
        self
    }

    /// Sets when the token was last used.
    #[must_use]
    pub fn with_last_used_at(mut self, last_used_at: Option<OffsetDateTime>) -> Self {
        self.last_used_at = last_used_at;
        self
    }

    /// Sets the token's rate limit (`None` for none).
    #[must_use]
    pub fn with_rate_limit(mut self, rate_limit: Option<RateLimit>) -> Self {
        self.rate_limit = rate_limit;
        self
    }

    /// Sets the secret replaced by the last rotation, still accepted during its grace
    /// period.
    #[must_use]
    pub fn with_previous_secret(mut self, previous: Option<PreviousSecret>) -> Self {
        self.previous_secret = previous;
        self
    }

    /// Whether the token grants `scope`.
    #[must_use]
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.grants(scope)
    }

    /// Whether the token is active and unexpired at `at`.
    #[must_use]
    pub fn is_usable_at(&self, at: OffsetDateTime) -> bool {
        self.status == TokenStatus::Active && !expired(self.expires_at.as_ref(), Some(&at))
    }

    /// Whether `hash` is the current secret's, or the previous one's within its grace
    /// period at `at`. Both comparisons always run, in constant time.
    #[must_use]
    pub fn secret_matches(&self, hash: &SecretHash, at: OffsetDateTime) -> bool {
        secret_opens(hash, &self.secret_hash, Some(&at), || {
            self.previous_secret
                .as_ref()
                .map(|prev| (&prev.hash, &prev.valid_until))
        })
    }
}

// The two rules below decide a presented secret for a record and for the verifier's cached
// copy of one (`verify/entry.rs`), which keeps its times as `SystemTime`: one rule, any clock.

/// Whether `presented` opens a token whose current secret hashes to `current`: it is that
/// hash, or the previous secret's while its grace runs (`now` before its end). Both are
/// compared in constant time. `now` is `None` only for a token with no deadline (no expiry,
/// no previous secret): `previous` is then not called, so a cached entry's second cache
/// line is not read on a plain hit.
#[inline]
pub(crate) fn secret_opens<'a, T: PartialOrd + 'a>(
    presented: &SecretHash,
    current: &SecretHash,
    now: Option<&T>,
    previous: impl FnOnce() -> Option<(&'a SecretHash, &'a T)>,
) -> bool {
    let current = *current == *presented;
    let previous = now.is_some_and(|now| previous().is_some_and(|(hash, until)| (*hash == *presented) & (now < until)));
    current | previous
}

/// Whether a token that stops working at `expires_at` has stopped at `now` (`None`: a token
/// with no deadline, never expired).
#[inline]
pub(crate) fn expired<T: PartialOrd>(expires_at: Option<&T>, now: Option<&T>) -> bool {
    matches!((expires_at, now), (Some(exp), Some(now)) if now >= exp)
}

/// The current time, truncated to microseconds so that every store round-trips it exactly.
#[must_use]
pub(crate) fn now() -> OffsetDateTime {
    truncate_to_micros(OffsetDateTime::now_utc())
}

/// A timestamp as unix microseconds, how stores without a timestamp type keep it: records
/// are truncated to the microsecond (see [`now`]), so this round-trips them exactly.
#[cfg(any(feature = "_sqlite", feature = "redis"))]
pub(crate) fn to_micros(at: OffsetDateTime) -> i64 {
    let micros = at.unix_timestamp_nanos().div_euclid(1000);
    // Only dates beyond the year 290,000 (time's `large-dates`) do not fit; they saturate.
    i64::try_from(micros).unwrap_or(if micros < 0 { i64::MIN } else { i64::MAX })
}

/// The instant of a [`to_micros`] value, if it is one `time` can hold.
#[cfg(any(feature = "_sqlite", feature = "redis"))]
pub(crate) fn from_micros(micros: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000).ok()
}

/// Drops sub-microsecond precision, which not every store keeps.
#[must_use]
pub(crate) fn truncate_to_micros(at: OffsetDateTime) -> OffsetDateTime {
    let micros = at.microsecond();
    at.replace_microsecond(micros).unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::SecretHasher;
    use time::Duration;

    #[test]
    fn previous_secret_works_only_inside_its_grace_period() {
        let hasher = SecretHasher::Sha256;
        let (old, new) = (hasher.hash(b"old"), hasher.hash(b"new"));
        let t = now();
        let mut record = TokenRecord::new("id", "n", new);
        record.previous_secret = Some(PreviousSecret {
            hash: old,
            valid_until: t + Duration::seconds(10),
        });
        assert!(record.secret_matches(&new, t));
        assert!(record.secret_matches(&old, t + Duration::seconds(9)));
        assert!(!record.secret_matches(&old, t + Duration::seconds(10)));
        assert!(!record.secret_matches(&hasher.hash(b"other"), t));
    }

    #[test]
    fn expiry_is_exclusive_and_inactive_tokens_are_unusable() {
        let t = now();
        let mut record = TokenRecord::new("id", "n", SecretHasher::Sha256.hash(b"s")).with_expiry(Some(t));
        assert!(record.is_usable_at(t - Duration::nanoseconds(1)));
        assert!(!record.is_usable_at(t));
        record.expires_at = None;
        record.status = TokenStatus::Inactive;
        assert!(!record.is_usable_at(t));
    }

    #[test]
    fn scopes_are_sorted_and_deduplicated() {
        let record = TokenRecord::new("id", "n", SecretHasher::Sha256.hash(b"s")).with_scopes(["b", "a", "b"]);
        assert_eq!(record.scopes, ["a", "b"]);
        assert!(record.has_scope("a") && !record.has_scope("c"));
    }
}
