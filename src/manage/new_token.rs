//! [`NewToken`]: what a token is created with.

use serde_json::{Map, Value};
use time::{Duration, OffsetDateTime};

use super::{ManageError, rules};
use crate::hash::SecretHash;
use crate::limit::RateLimit;
use crate::record::{TokenRecord, TokenStatus};

/// The fields of a token to create with [`TokenManager::create`](super::TokenManager::create)
/// or [`TokenManager::import`](super::TokenManager::import). Only the name is required;
/// the rest defaults to no scopes, no expiry, kind `api`, status active, empty metadata, no
/// owner, no creator, no rate limit and a random id.
///
/// Nothing is checked until the token is created; then every field follows the same rules
/// as in the admin API (see [`ManageError::Invalid`]).
///
/// ```
/// use time::Duration;
/// use tollgate::{NewToken, RateLimit};
///
/// let new = NewToken::new("ci deploy key")
///     .scopes(["deploy", "read"])
///     .kind("service")
///     .expires_in(Duration::days(90))
///     .owner("customer_1729")
///     .created_by("session:alice")
///     .rate_limit(Some(RateLimit::new(100, std::time::Duration::from_secs(60))?));
/// # drop(new);
/// # Ok::<(), tollgate::RateLimitError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[must_use = "a NewToken does nothing until it is passed to TokenManager::create"]
pub struct NewToken {
    name: String,
    scopes: Vec<String>,
    kind: Option<String>,
    status: TokenStatus,
    expiry: Option<Expiry>,
    metadata: Map<String, Value>,
    owner: Option<String>,
    created_by: Option<String>,
    rate_limit: Option<RateLimit>,
    id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expiry {
    At(OffsetDateTime),
    In(Duration),
}

impl NewToken {
    /// A token named `name` (1 to 128 characters, no control characters).
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            scopes: Vec::new(),
            kind: None,
            status: TokenStatus::Active,
            expiry: None,
            metadata: Map::new(),
            owner: None,
            created_by: None,
            rate_limit: None,
            id: None,
        }
    }

    /// The scopes it grants (RFC 6749 scope-tokens: visible ASCII without spaces, quotes or
    /// backslashes, 1 to 128 characters each, at most 256).
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// A free-form kind, 1 to 64 characters (default `api`).
    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = Some(kind.into());
        self
    }

    /// Created active (the default) or inactive.
    pub fn status(mut self, status: TokenStatus) -> Self {
        self.status = status;
        self
    }

    /// Expires at this instant, which must be in the future (and before the year 10000).
    /// Replaces an earlier [`expires_in`](Self::expires_in).
    pub fn expires_at(mut self, at: OffsetDateTime) -> Self {
        self.expiry = Some(Expiry::At(at));
        self
    }

    /// Expires this long after creation: at least a second, at most 100 years. Replaces an
    /// earlier [`expires_at`](Self::expires_at).
    pub fn expires_in(mut self, lifetime: Duration) -> Self {
        self.expiry = Some(Expiry::In(lifetime));
        self
    }

    /// A JSON object kept with the token, at most 4 KiB serialized.
    pub fn metadata(mut self, metadata: Map<String, Value>) -> Self {
        self.metadata = metadata;
        self
    }

    /// Who the token belongs to: your application's user or customer id (1 to 256
    /// characters, no control characters). Tokens can be listed and revoked by owner, and
    /// the [`Principal`](crate::Principal) shows it.
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    /// Who is creating the token, for the record's `created_by`: the admin API gives the
    /// id of the principal that asked; give your own (a user id, say) when it helps an
    /// audit. Not checked beyond the owner's rule (1 to 256 characters).
    pub fn created_by(mut self, actor: impl Into<String>) -> Self {
        self.created_by = Some(actor.into());
        self
    }

    /// At most `limit` requests per `period` for this token alone, enforced by the
    /// [`AuthLayer`](crate::AuthLayer) on top of its owner's limit, if any (default: none).
    /// A [`RateLimit`] is checked when it is made, so this cannot fail.
    /// [`OwnedTokens`](super::OwnedTokens) refuses a token with one unless it was given
    /// [`allow_rate_limits`](super::OwnedTokens::allow_rate_limits).
    pub fn rate_limit(mut self, rate_limit: Option<RateLimit>) -> Self {
        self.rate_limit = rate_limit;
        self
    }

    /// The id of an imported token ([`TokenManager::import`](super::TokenManager::import)),
    /// so that the clients of the system it comes from keep sending Basic `id:secret` as
    /// they did: 1 to 64 base62 characters (`0-9`, `A-Z`, `a-z`), and not an id already
    /// taken ([`ManageError::DuplicateId`]). Without it an imported token gets a random id.
    /// A generated token always does: [`TokenManager::create`](super::TokenManager::create)
    /// refuses a `NewToken` with an id. Only an operator names ids:
    /// [`OwnedTokens`](super::OwnedTokens) refuses one, so that a token's holder cannot take
    /// the id an import is about to need.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tollgate::{MemoryStore, NewToken, Secret, TokenManager, Verifier};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tollgate::ManageError> {
    /// let store = Arc::new(MemoryStore::new());
    /// let tokens = TokenManager::new(store.clone(), Verifier::builder(store).build());
    /// // A legacy client sends `Authorization: Basic base64("acct42:<its secret>")`.
    /// let secret = Secret::new("Zq8vN2xLk4pW7tRb0YcH3mJf");
    /// let record = tokens.import(NewToken::new("acct42 (legacy)").id("acct42"), &secret).await?;
    /// assert_eq!(record.id, "acct42");
    /// # Ok(())
    /// # }
    /// ```
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// The id given with [`id`](Self::id), if any.
    pub(super) fn id_ref(&self) -> Option<&str> {
        self.id.as_deref()
    }

    pub(super) fn owner_ref(&self) -> Option<&str> {
        self.owner.as_deref()
    }

    pub(super) fn scopes_ref(&self) -> &[String] {
        &self.scopes
    }

    pub(super) fn has_rate_limit(&self) -> bool {
        self.rate_limit.is_some()
    }

    /// Checks every field and makes the record, created at `now`.
    pub(super) fn into_record(
        self,
        id: &str,
        hash: SecretHash,
        now: OffsetDateTime,
    ) -> Result<TokenRecord, ManageError> {
        rules::name(&self.name)?;
        rules::scopes(&self.scopes)?;
        if let Some(kind) = &self.kind {
            rules::kind(kind)?;
        }
        rules::metadata(&self.metadata)?;
        if let Some(owner) = &self.owner {
            rules::owner(owner)?;
        }
        if let Some(actor) = &self.created_by {
            rules::created_by(actor)?;
        }
        let expires_at = match self.expiry {
            Some(Expiry::At(at)) => Some(rules::expires_at(at, now)?),
            Some(Expiry::In(lifetime)) => Some(rules::expires_in(lifetime, now)?),
            None => None,
        };
        let mut record = TokenRecord::new(id, self.name, hash)
            .with_scopes(self.scopes)
            .with_status(self.status)
            .with_expiry(expires_at)
            .with_metadata(self.metadata)
            .with_created_at(now)
            .with_owner(self.owner)
            .with_created_by(self.created_by)
            .with_rate_limit(self.rate_limit);
        if let Some(kind) = self.kind {
            record.kind = kind;
        }
        Ok(record)
    }
}
