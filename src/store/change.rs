//! How a stored record changes: the rules of a patch ([`TokenPatch::apply`]), of a rotation
//! ([`Rotation::apply`]) and of revoking an owner's tokens ([`Revocation`]), each written
//! once. A backend computes the new record (or the revocation's values) with them and
//! keeps only the storage: SQL, Lua, maps.

use time::OffsetDateTime;

use crate::limit::RateLimit;
use crate::record::{PreviousSecret, TokenRecord, TokenStatus};

/// Changes to apply to a record; `None` leaves a field as it is.
///
/// ```
/// use tollgate::{TokenPatch, TokenStatus};
///
/// let patch = TokenPatch::new().name("renamed").scopes(["read"]).status(TokenStatus::Inactive);
/// assert_eq!(patch.name.as_deref(), Some("renamed"));
/// assert_eq!(patch.expires_at, None, "the expiry stays as it is");
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct TokenPatch {
    /// New name.
    pub name: Option<String>,
    /// New scopes (they replace the old ones), as given: a record keeps them sorted.
    pub scopes: Option<Vec<String>>,
    /// New status.
    pub status: Option<TokenStatus>,
    /// New expiry; `Some(None)` removes it.
    pub expires_at: Option<Option<OffsetDateTime>>,
    /// New metadata (it replaces the old object).
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// New owner; `Some(None)` removes it.
    pub owner: Option<Option<String>>,
    /// New rate limit; `Some(None)` removes it.
    pub rate_limit: Option<Option<RateLimit>>,
}

impl TokenPatch {
    /// A patch that changes nothing yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Renames the token.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Replaces the scopes.
    #[must_use]
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Sets the status.
    #[must_use]
    pub fn status(mut self, status: TokenStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// Sets the expiry; `None` removes it.
    #[must_use]
    pub fn expires_at(mut self, expires_at: Option<OffsetDateTime>) -> Self {
        self.expires_at = Some(expires_at);
        self
    }

    /// Replaces the metadata.
    #[must_use]
    pub fn metadata(mut self, metadata: serde_json::Map<String, serde_json::Value>) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// Sets the owner; `None` removes it.
    #[must_use]
    pub fn owner(mut self, owner: Option<String>) -> Self {
        self.owner = Some(owner);
        self
    }

    /// Sets the rate limit; `None` removes it.
    #[must_use]
    pub fn rate_limit(mut self, rate_limit: Option<RateLimit>) -> Self {
        self.rate_limit = Some(rate_limit);
        self
    }

    /// Applies the patch to a record, at `now`: `updated_at` becomes `now`, and
    /// `revoked_at` follows the status (set when it turns inactive, cleared when it turns
    /// active). Every store of this crate computes an update's record with it, in the
    /// write's transaction or behind a version check; a store of your own should too.
    pub fn apply(&self, record: &mut TokenRecord, now: OffsetDateTime) {
        // Every field, so that one added to the patch cannot be forgotten here.
        let Self {
            name,
            scopes,
            status,
            expires_at,
            metadata,
            owner,
            rate_limit,
        } = self;
        record.revoked_at = revoked_at(record.status, *status, record.revoked_at, now);
        record.updated_at = now;
        if let Some(owner) = owner {
            record.owner.clone_from(owner);
        }
        if let Some(name) = name {
            record.name.clone_from(name);
        }
        if let Some(scopes) = scopes {
            record.scopes = scopes.iter().cloned().collect();
        }
        if let Some(status) = *status {
            record.status = status;
        }
        if let Some(expires_at) = *expires_at {
            record.expires_at = expires_at;
        }
        if let Some(metadata) = metadata {
            record.metadata.clone_from(metadata);
        }
        if let Some(rate_limit) = *rate_limit {
            record.rate_limit = rate_limit;
        }
    }
}

/// When a token whose status `was` was revoked, after a change to `becomes` at `now`: set
/// when an active token turns inactive, cleared when it turns active, kept otherwise.
fn revoked_at(
    was: TokenStatus,
    becomes: Option<TokenStatus>,
    revoked_at: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Option<OffsetDateTime> {
    match (was, becomes) {
        (TokenStatus::Active, Some(TokenStatus::Inactive)) => Some(now),
        (_, Some(TokenStatus::Active)) => None,
        _ => revoked_at,
    }
}

/// A new secret for an existing token.
///
/// ```
/// use tollgate::SecretHasher;
/// use tollgate::store::Rotation;
///
/// let rotation = Rotation::new(SecretHasher::Sha256.hash(b"the new secret"), None);
/// assert!(rotation.old_valid_until.is_none(), "the old secret stops working at once");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rotation {
    /// Hash of the new secret.
    pub new_hash: crate::hash::SecretHash,
    /// Until when the old secret keeps working; `None` ends it at once.
    pub old_valid_until: Option<OffsetDateTime>,
}

impl Rotation {
    /// A rotation to the secret hashing to `new_hash`, the old secret working until
    /// `old_valid_until` (`None`: not at all).
    #[must_use]
    pub fn new(new_hash: crate::hash::SecretHash, old_valid_until: Option<OffsetDateTime>) -> Self {
        Self {
            new_hash,
            old_valid_until,
        }
    }

    /// Applies the rotation to a record, at `now` (its `updated_at`): the new secret is the
    /// current one, the old one becomes the previous secret for its grace period, to the
    /// microsecond (any earlier previous secret is dropped). Every store of this crate computes a rotation's
    /// record with it. The new hash must not be in use by any token, this one included, in
    /// either role: checking that is the store's ([`StoreError::DuplicateSecret`]).
    ///
    /// [`StoreError::DuplicateSecret`]: super::StoreError::DuplicateSecret
    pub fn apply(&self, record: &mut TokenRecord, now: OffsetDateTime) {
        let Self {
            new_hash,
            old_valid_until,
        } = self;
        record.updated_at = now;
        let old = std::mem::replace(&mut record.secret_hash, *new_hash);
        // To the microsecond, as every store keeps it, so that the record computed here is
        // the one read back.
        record.previous_secret = old_valid_until.map(|until| PreviousSecret {
            hash: old,
            valid_until: crate::record::truncate_to_micros(until),
        });
    }
}

/// What revoking an owner's tokens does to each of them: the change a
/// [`TokenPatch`] to [`TokenStatus::Inactive`] makes to an active token. Stores that revoke
/// in one statement bind these values, for the tokens of the owner whose status is
/// [`Revocation::APPLIES_TO`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Revocation {
    pub(crate) status: TokenStatus,
    pub(crate) revoked_at: Option<OffsetDateTime>,
    pub(crate) updated_at: OffsetDateTime,
}

impl Revocation {
    /// The status of the tokens a revocation changes; the others stay as they are.
    pub(crate) const APPLIES_TO: TokenStatus = TokenStatus::Active;

    /// The patch a revocation is.
    pub(crate) fn patch() -> TokenPatch {
        TokenPatch::new().status(TokenStatus::Inactive)
    }

    /// The revocation at `now`: the patch's rule, applied to a token it applies to.
    pub(crate) fn at(now: OffsetDateTime) -> Self {
        let patch = Self::patch();
        let status = patch.status.unwrap_or(Self::APPLIES_TO);
        Self {
            status,
            revoked_at: revoked_at(Self::APPLIES_TO, Some(status), None, now),
            updated_at: now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::SecretHasher;

    fn record() -> TokenRecord {
        TokenRecord::new("id", "n", SecretHasher::Sha256.hash(b"s"))
    }

    #[test]
    fn revoked_at_follows_the_status() {
        let now = crate::record::now();
        let later = now + time::Duration::seconds(5);
        let mut token = record();
        TokenPatch::new().status(TokenStatus::Inactive).apply(&mut token, now);
        assert_eq!(
            (token.status, token.revoked_at, token.updated_at),
            (TokenStatus::Inactive, Some(now), now)
        );
        // Inactive again: still revoked when it first was.
        TokenPatch::new().status(TokenStatus::Inactive).apply(&mut token, later);
        assert_eq!((token.revoked_at, token.updated_at), (Some(now), later));
        TokenPatch::new().name("x").apply(&mut token, later);
        assert_eq!(token.revoked_at, Some(now), "a change of another field keeps it");
        TokenPatch::new().status(TokenStatus::Active).apply(&mut token, later);
        assert_eq!((token.status, token.revoked_at), (TokenStatus::Active, None));
    }

    #[test]
    fn a_revocation_is_what_the_patch_does_to_an_active_token() {
        let now = crate::record::now();
        let mut token = record();
        assert_eq!(token.status, Revocation::APPLIES_TO);
        Revocation::patch().apply(&mut token, now);
        let revocation = Revocation::at(now);
        assert_eq!(
            (revocation.status, revocation.revoked_at, revocation.updated_at),
            (token.status, token.revoked_at, token.updated_at)
        );
        assert_eq!(revocation.revoked_at, Some(now));
    }

    #[test]
    fn a_rotation_keeps_the_old_secret_for_its_grace_only() {
        let now = crate::record::now();
        let (old, new) = (SecretHasher::Sha256.hash(b"s"), SecretHasher::Sha256.hash(b"t"));
        let until = now + time::Duration::hours(1);
        let mut token = record();
        Rotation::new(new, Some(until)).apply(&mut token, now);
        assert_eq!(token.secret_hash, new);
        assert_eq!(
            token.previous_secret,
            Some(PreviousSecret {
                hash: old,
                valid_until: until
            })
        );
        assert_eq!(token.updated_at, now);
        Rotation::new(old, None).apply(&mut token, now);
        assert_eq!((token.secret_hash, token.previous_secret), (old, None));
    }

    #[test]
    fn a_patch_sets_and_removes_the_rate_limit_and_a_rotation_keeps_it() {
        let now = crate::record::now();
        let limit = RateLimit::from_parts(10, 60, 5).unwrap();
        let mut token = record();
        TokenPatch::new().rate_limit(Some(limit)).apply(&mut token, now);
        assert_eq!(token.rate_limit, Some(limit));
        TokenPatch::new().name("x").apply(&mut token, now);
        assert_eq!(token.rate_limit, Some(limit), "a patch without it keeps it");
        Rotation::new(SecretHasher::Sha256.hash(b"t"), None).apply(&mut token, now);
        assert_eq!(token.rate_limit, Some(limit), "a rotation keeps it");
        TokenPatch::new().rate_limit(None).apply(&mut token, now);
        assert_eq!(token.rate_limit, None);
    }
}
