//! [`Principal`]: who made a request, as the handler sees it.

use std::fmt;
use std::sync::Arc;

use serde::ser::{Serialize, SerializeStruct, Serializer};
use serde_json::{Map, Value};

use crate::limit::{Limits, RateLimit};
use crate::record::TokenRecord;
use crate::scopes::Scopes;

/// The authenticated caller, inserted into the request's extensions by
/// [`AuthLayer`](crate::AuthLayer). Cloning is cheap (one reference count).
///
/// In axum, take it as `Extension<Principal>`, or with the `axum` feature as an extractor of
/// its own (`Principal`, or `Option<Principal>` behind a layer that allows anonymous
/// requests); in plain tower, `req.extensions().get::<Principal>()`. It serializes to
/// `{"id","name","kind","scopes","metadata","owner","rate_limit","owner_rate_limit"}` (each
/// of the last three null when the token has none), never a secret.
///
/// ```
/// use tollgate::{Principal, SecretHasher, TokenRecord};
///
/// let record = TokenRecord::new("abc", "reporting job", SecretHasher::Sha256.hash(b"s"))
///     .with_scopes(["reports:read"]);
/// let principal = Principal::from_record(&record);
/// assert_eq!(principal.id(), "abc");
/// assert!(principal.has_scope("reports:read"));
/// assert!(principal.has_all_scopes(["reports:read"]));
/// ```
#[derive(Clone)]
pub struct Principal(Arc<dyn Identified>);

/// What a [`Principal`] reads its identity from: on a request the layer authenticated,
/// the verifier's cache entry for the token, which holds the identity beside what it
/// checks on every request; otherwise an identity of its own
/// ([`Principal::from_record`]). This module knows only this trait.
///
/// Why a handle on the holder rather than an `Arc` of the identity alone: a hit hands the
/// request its principal by one reference count on the entry it has just read, in a cache
/// line already fetched. An identity of its own would be a second allocation, whose count
/// every hit would touch: that measurably slowed hits (BENCHMARKS.md, "The principal").
pub(crate) trait Identified: Send + Sync + 'static {
    /// The token id.
    fn id(&self) -> &str;
    /// Who the token authenticates as.
    fn identity(&self) -> &Identity;
    /// The rate limits the token is under, with their state: only the cache's entries have
    /// them.
    fn limits(&self) -> Option<&Limits> {
        None
    }
}

/// An identity held by nothing else: the principal of a record.
struct Standalone {
    id: Box<str>,
    identity: Identity,
}

impl Identified for Standalone {
    fn id(&self) -> &str {
        &self.id
    }

    fn identity(&self) -> &Identity {
        &self.identity
    }
}

/// Who a token authenticates as, besides its id: what a [`Principal`] shows.
#[derive(Debug, PartialEq)]
pub(crate) struct Identity {
    name: String,
    kind: String,
    scopes: Scopes,
    metadata: Map<String, Value>,
    owner: Option<String>,
    rate_limit: Option<RateLimit>,
    /// The owner's limit, as the verifier read it with the token (a record alone has none).
    owner_rate_limit: Option<RateLimit>,
}

impl Identity {
    pub(crate) fn from_record(record: &TokenRecord) -> Self {
        // Every field, so that one added to the record is shown, or said not to be.
        let TokenRecord {
            name,
            kind,
            scopes,
            metadata,
            owner,
            // The principal's own id is its holder's.
            id: _,
            // Checked on every request, by whoever holds the identity; not who the token is.
            status: _,
            expires_at: _,
            secret_hash: _,
            previous_secret: _,
            // The record's history.
            created_at: _,
            created_by: _,
            updated_at: _,
            revoked_at: _,
            last_used_at: _,
            rate_limit,
        } = record;
        Self {
            name: name.clone(),
            kind: kind.clone(),
            scopes: scopes.clone(),
            metadata: metadata.clone(),
            owner: owner.clone(),
            rate_limit: *rate_limit,
            owner_rate_limit: None,
        }
    }

    /// The identity with its owner's limit.
    pub(crate) fn with_owner_rate_limit(mut self, limit: Option<RateLimit>) -> Self {
        self.owner_rate_limit = limit;
        self
    }
}

impl Principal {
    /// The principal a record authenticates as.
    #[must_use]
    pub fn from_record(record: &TokenRecord) -> Self {
        Self(Arc::new(Standalone {
            id: record.id.as_str().into(),
            identity: Identity::from_record(record),
        }))
    }

    /// The principal of what holds an identity (the verifier's cache entry).
    pub(crate) fn from_holder(holder: Arc<dyn Identified>) -> Self {
        Self(holder)
    }

    fn identity(&self) -> &Identity {
        self.0.identity()
    }

    /// The token id.
    #[must_use]
    pub fn id(&self) -> &str {
        self.0.id()
    }

    /// The token's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.identity().name
    }

    /// The token's kind.
    #[must_use]
    pub fn kind(&self) -> &str {
        &self.identity().kind
    }

    /// The granted scopes, sorted.
    #[must_use]
    pub fn scopes(&self) -> &[String] {
        &self.identity().scopes
    }

    /// The token's metadata.
    #[must_use]
    pub fn metadata(&self) -> &Map<String, Value> {
        &self.identity().metadata
    }

    /// Who the token belongs to (your application's user or customer id), if anyone: on
    /// whose behalf the request comes.
    #[must_use]
    pub fn owner(&self) -> Option<&str> {
        self.identity().owner.as_deref()
    }

    /// The token's own rate limit, if it has one.
    #[must_use]
    pub fn rate_limit(&self) -> Option<RateLimit> {
        self.identity().rate_limit
    }

    /// The rate limit of the token's owner, shared by all the owner's tokens, if it has one
    /// (as the layer read it with the token; a principal made with
    /// [`Principal::from_record`] has none).
    #[must_use]
    pub fn owner_rate_limit(&self) -> Option<RateLimit> {
        self.identity().owner_rate_limit
    }

    /// The limits of a principal the layer authenticated, with their state.
    #[inline]
    pub(crate) fn limits(&self) -> Option<&Limits> {
        self.0.limits()
    }

    /// Whether the token grants `scope`.
    #[must_use]
    pub fn has_scope(&self, scope: &str) -> bool {
        self.identity().scopes.grants(scope)
    }

    /// Whether the token grants every one of `scopes`.
    #[must_use]
    pub fn has_all_scopes<'a>(&self, scopes: impl IntoIterator<Item = &'a str>) -> bool {
        scopes.into_iter().all(|scope| self.has_scope(scope))
    }

    /// `Ok` when the token grants every one of `scopes`; otherwise the 403
    /// `insufficient_scope` rejection that names them, for a handler to answer with.
    ///
    /// ```
    /// use tollgate::{Principal, SecretHasher, TokenRecord};
    ///
    /// let record = TokenRecord::new("abc", "reader", SecretHasher::Sha256.hash(b"s")).with_scopes(["reports:read"]);
    /// let principal = Principal::from_record(&record);
    /// assert!(principal.require_scopes(["reports:read"]).is_ok());
    /// let refused = principal.require_scopes(["reports:read", "reports:write"]).unwrap_err();
    /// assert_eq!(refused.status(), 403);
    /// assert_eq!(refused.token_id(), Some("abc"));
    /// ```
    ///
    /// # Errors
    /// The rejection, when a scope is missing.
    pub fn require_scopes<I, S>(&self, scopes: I) -> Result<(), crate::layer::Rejection>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let scopes: Vec<S> = scopes.into_iter().collect();
        if scopes.iter().all(|scope| self.has_scope(scope.as_ref())) {
            return Ok(());
        }
        Err(
            crate::layer::Rejection::insufficient_scope(scopes.iter().map(|s| s.as_ref().to_owned()))
                .with_token_id(self.id()),
        )
    }
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let identity = self.identity();
        f.debug_struct("Principal")
            .field("id", &self.id())
            .field("name", &identity.name)
            .field("kind", &identity.kind)
            .field("scopes", &identity.scopes)
            .field("metadata", &identity.metadata)
            .field("owner", &identity.owner)
            .field("rate_limit", &identity.rate_limit)
            .field("owner_rate_limit", &identity.owner_rate_limit)
            .finish()
    }
}

impl PartialEq for Principal {
    fn eq(&self, other: &Self) -> bool {
        self.id() == other.id() && self.identity() == other.identity()
    }
}

impl Serialize for Principal {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let identity = self.identity();
        let mut principal = serializer.serialize_struct("Principal", 8)?;
        principal.serialize_field("id", self.id())?;
        principal.serialize_field("name", &identity.name)?;
        principal.serialize_field("kind", &identity.kind)?;
        principal.serialize_field("scopes", &identity.scopes)?;
        principal.serialize_field("metadata", &identity.metadata)?;
        principal.serialize_field("owner", &identity.owner)?;
        principal.serialize_field("rate_limit", &identity.rate_limit)?;
        principal.serialize_field("owner_rate_limit", &identity.owner_rate_limit)?;
        principal.end()
    }
}

/// A place for [`AuthLayer`](crate::AuthLayer) to leave the [`Principal`] it authenticated,
/// for middleware *outside* the layer (access logs, metrics) that never sees the request
/// the handler gets.
///
/// Insert a clone into the request's extensions before the layer runs; read it once the
/// response is back.
///
/// ```
/// use tollgate::PrincipalSlot;
///
/// let slot = PrincipalSlot::default();
/// let mut req = http::Request::new(());
/// req.extensions_mut().insert(slot.clone());
/// // ... the request goes through the auth layer and the handler ...
/// assert!(slot.get().is_none(), "nothing authenticated yet");
/// ```
#[derive(Clone, Debug, Default)]
pub struct PrincipalSlot(Arc<std::sync::OnceLock<Principal>>);

impl PrincipalSlot {
    /// The principal the layer authenticated, if any.
    #[must_use]
    pub fn get(&self) -> Option<&Principal> {
        self.0.get()
    }

    pub(crate) fn fill(&self, principal: &Principal) {
        // The first layer to authenticate the request wins; a nested one agrees anyway.
        let _ = self.0.set(principal.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::SecretHasher;

    #[test]
    fn debug_and_json_show_the_identity_and_nothing_of_the_entry() {
        let record = TokenRecord::new("abc", "job", SecretHasher::Sha256.hash(b"secret")).with_scopes(["a"]);
        let principal = Principal::from_record(&record);
        let json = serde_json::to_value(&principal).unwrap();
        let mut keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "id",
                "kind",
                "metadata",
                "name",
                "owner",
                "owner_rate_limit",
                "rate_limit",
                "scopes"
            ]
        );
        assert_eq!(json["id"], "abc");
        assert_eq!(json["rate_limit"], serde_json::Value::Null);
        let limited = record.with_rate_limit(Some(RateLimit::new(5, std::time::Duration::from_secs(60)).unwrap()));
        let json = serde_json::to_value(Principal::from_record(&limited)).unwrap();
        assert_eq!(
            json["rate_limit"],
            serde_json::json!({"limit": 5, "period": 60, "burst": 5})
        );
        assert_eq!(Principal::from_record(&limited).owner_rate_limit(), None);
        let debug = format!(
            "{:?}",
            Principal::from_record(&TokenRecord::new("abc", "job", SecretHasher::Sha256.hash(b"secret")))
        );
        assert!(debug.starts_with("Principal { id: \"abc\", name: \"job\""), "{debug}");
        for field in ["hash", "filled", "stale", "previous", "last_used"] {
            assert!(!debug.contains(field), "{debug}");
        }
    }
}
