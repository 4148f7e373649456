//! [`Stored`]: a record as [`MemoryStore`](super::MemoryStore) keeps it, compact.

use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::hash::SecretHash;
use crate::limit::RateLimit;
use crate::record::{DEFAULT_KIND, PreviousSecret, TokenRecord, TokenStatus};
use crate::store::ListQuery;

/// A record as the store keeps it: the same fields as [`TokenRecord`], with boxed strings,
/// the default kind and empty metadata taking no allocation, and the rare previous secret,
/// audit fields and rate limit out of line.
pub(super) struct Stored {
    pub(super) id: Box<str>,
    name: Box<str>,
    /// `None`: [`DEFAULT_KIND`].
    kind: Option<Box<str>>,
    /// Sorted, as the record's.
    scopes: Box<[Box<str>]>,
    pub(super) status: TokenStatus,
    created_at: OffsetDateTime,
    expires_at: Option<OffsetDateTime>,
    pub(super) last_used_at: Option<OffsetDateTime>,
    metadata: Option<Box<Map<String, Value>>>,
    pub(super) secret_hash: SecretHash,
    pub(super) previous_secret: Option<Box<PreviousSecret>>,
    pub(super) owner: Option<Box<str>>,
    pub(super) updated_at: OffsetDateTime,
    /// `None` when none of its fields is set.
    rare: Option<Box<Rare>>,
}

/// The fields most tokens leave empty.
#[derive(Default)]
struct Rare {
    created_by: Option<String>,
    revoked_at: Option<OffsetDateTime>,
    rate_limit: Option<RateLimit>,
}

impl Stored {
    pub(super) fn new(record: TokenRecord) -> Self {
        // Every field, so that one added to the record cannot be forgotten here.
        let TokenRecord {
            id,
            name,
            kind,
            scopes,
            status,
            created_at,
            expires_at,
            last_used_at,
            metadata,
            secret_hash,
            previous_secret,
            owner,
            created_by,
            updated_at,
            revoked_at,
            rate_limit,
        } = record;
        let rare = Rare {
            created_by,
            revoked_at,
            rate_limit,
        };
        Self {
            id: id.into(),
            name: name.into(),
            kind: (kind != DEFAULT_KIND).then(|| kind.into()),
            scopes: scopes.into_vec().into_iter().map(String::into_boxed_str).collect(),
            status,
            created_at,
            expires_at,
            last_used_at,
            metadata: (!metadata.is_empty()).then(|| Box::new(metadata)),
            secret_hash,
            previous_secret: previous_secret.map(Box::new),
            owner: owner.map(String::into_boxed_str),
            updated_at,
            rare: rare.is_set().then(|| Box::new(rare)),
        }
    }

    pub(super) fn to_record(&self) -> TokenRecord {
        TokenRecord {
            id: self.id.to_string(),
            name: self.name.to_string(),
            kind: self.kind.as_deref().unwrap_or(DEFAULT_KIND).to_owned(),
            scopes: self.scopes.iter().map(ToString::to_string).collect(),
            status: self.status,
            created_at: self.created_at,
            expires_at: self.expires_at,
            last_used_at: self.last_used_at,
            metadata: self.metadata.as_deref().cloned().unwrap_or_default(),
            secret_hash: self.secret_hash,
            previous_secret: self.previous_secret.as_deref().cloned(),
            owner: self.owner.as_deref().map(str::to_owned),
            created_by: self.rare.as_ref().and_then(|rare| rare.created_by.clone()),
            updated_at: self.updated_at,
            revoked_at: self.rare.as_ref().and_then(|rare| rare.revoked_at),
            rate_limit: self.rare.as_ref().and_then(|rare| rare.rate_limit),
        }
    }

    pub(super) fn set_revoked_at(&mut self, revoked_at: Option<OffsetDateTime>) {
        match (&mut self.rare, revoked_at) {
            (Some(rare), _) => rare.revoked_at = revoked_at,
            (None, None) => {}
            (None, Some(_)) => {
                self.rare = Some(Box::new(Rare {
                    revoked_at,
                    ..Rare::default()
                }));
            }
        }
    }

    pub(super) fn matches(&self, query: &ListQuery) -> bool {
        query.admits(self.status, &self.scopes, self.owner.as_deref())
    }
}

impl Rare {
    fn is_set(&self) -> bool {
        let Self {
            created_by,
            revoked_at,
            rate_limit,
        } = self;
        created_by.is_some() || revoked_at.is_some() || rate_limit.is_some()
    }
}
