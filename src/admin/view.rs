//! How a record is shown: the fields of behaviour §3.1, never a
//! secret, never a hash.

use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::{TokenRecord, TokenStatus};

/// A record as JSON.
#[derive(Serialize)]
pub(crate) struct RecordView<'a> {
    id: &'a str,
    name: &'a str,
    kind: &'a str,
    scopes: &'a [String],
    status: TokenStatus,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    last_used_at: Option<OffsetDateTime>,
    metadata: &'a Map<String, Value>,
    owner: Option<&'a str>,
    created_by: Option<&'a str>,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    revoked_at: Option<OffsetDateTime>,
}

impl<'a> From<&'a TokenRecord> for RecordView<'a> {
    fn from(r: &'a TokenRecord) -> Self {
        Self {
            id: &r.id,
            name: &r.name,
            kind: &r.kind,
            scopes: &r.scopes,
            status: r.status,
            created_at: r.created_at,
            expires_at: r.expires_at,
            last_used_at: r.last_used_at,
            metadata: &r.metadata,
            owner: r.owner.as_deref(),
            created_by: r.created_by.as_deref(),
            updated_at: r.updated_at,
            revoked_at: r.revoked_at,
        }
    }
}

/// A record with the token shown once (create, rotate).
#[derive(Serialize)]
pub(crate) struct WithToken<'a> {
    #[serde(flatten)]
    pub(crate) record: RecordView<'a>,
    pub(crate) token: &'a str,
}

/// `GET /tokens`.
#[derive(Serialize)]
pub(crate) struct ListView<'a> {
    pub(crate) tokens: Vec<RecordView<'a>>,
    pub(crate) next_cursor: Option<String>,
}

/// `POST /tokens/revoke`.
#[derive(Serialize)]
pub(crate) struct RevokedView {
    pub(crate) revoked: usize,
}

/// `POST /tokens/check`.
#[derive(Serialize)]
pub(crate) struct CheckView<'a> {
    pub(crate) valid: bool,
    pub(crate) token: Option<RecordView<'a>>,
}
