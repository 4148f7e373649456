//! A [`TokenRecord`] as the fields of a Redis hash: timestamps as unix microseconds, scopes
//! and metadata as JSON, secret hashes as hex.
//!
//! Reading never trusts the server: another program may have written it, so a value this
//! code could not have stored is a [`StoreError::Corrupt`] naming the token and field.

use std::collections::HashMap;
use std::fmt;

use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::record::{from_micros, to_micros};
use crate::{PreviousSecret, SecretHash, StoreError, TokenPatch, TokenRecord, TokenStatus};

/// Fields and their values, as `HSET` takes them.
pub(super) type Fields = Vec<(&'static str, String)>;

/// Every field of a record.
pub(super) fn fields(record: &TokenRecord) -> Result<Fields, StoreError> {
    let mut fields = vec![
        ("name", record.name.clone()),
        ("kind", record.kind.clone()),
        ("scopes", json(&record.scopes)?),
        ("status", record.status.as_str().to_owned()),
        ("created", to_micros(record.created_at).to_string()),
        ("meta", json(&record.metadata)?),
        ("hash", record.secret_hash.to_hex()),
        ("updated", to_micros(record.updated_at).to_string()),
    ];
    if let Some(owner) = &record.owner {
        fields.push(("owner", owner.clone()));
    }
    if let Some(by) = &record.created_by {
        fields.push(("by", by.clone()));
    }
    if let Some(at) = record.revoked_at {
        fields.push(("revoked", to_micros(at).to_string()));
    }
    if let Some(at) = record.expires_at {
        fields.push(("expires", to_micros(at).to_string()));
    }
    if let Some(at) = record.last_used_at {
        fields.push(("used", to_micros(at).to_string()));
    }
    if let Some(previous) = &record.previous_secret {
        fields.push(("prev", previous.hash.to_hex()));
        fields.push(("prev_until", to_micros(previous.valid_until).to_string()));
    }
    Ok(fields)
}

/// What a patch changes: fields to remove, and fields to set.
pub(super) fn patch_fields(patch: &TokenPatch) -> Result<(Vec<&'static str>, Fields), StoreError> {
    let mut removed = Vec::new();
    let mut set = Vec::new();
    if let Some(name) = &patch.name {
        set.push(("name", name.clone()));
    }
    if let Some(scopes) = &patch.scopes {
        set.push(("scopes", json(&crate::scopes::normalize(scopes.iter().cloned()))?));
    }
    if let Some(status) = patch.status {
        set.push(("status", status.as_str().to_owned()));
    }
    match patch.expires_at {
        Some(Some(at)) => set.push(("expires", to_micros(at).to_string())),
        Some(None) => removed.push("expires"),
        None => {}
    }
    if let Some(metadata) = &patch.metadata {
        set.push(("meta", json(metadata)?));
    }
    match &patch.owner {
        Some(Some(owner)) => set.push(("owner", owner.clone())),
        Some(None) => removed.push("owner"),
        None => {}
    }
    Ok((removed, set))
}

fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(StoreError::unavailable)
}

/// Reads the fields of the record of `id`; `None` when there are none (no such token).
pub(super) fn record(id: String, fields: HashMap<String, String>) -> Result<Option<TokenRecord>, StoreError> {
    if fields.is_empty() {
        return Ok(None);
    }
    let read = Reader {
        id: &id,
        fields: &fields,
    };
    let status = read.text("status")?;
    let status = TokenStatus::from_name(status)
        .ok_or_else(|| read.corrupt("status", format_args!("unknown status {status:?}")))?;
    let scopes: Vec<String> = serde_json::from_str(read.text("scopes")?)
        .map_err(|err| read.corrupt("scopes", format_args!("not a JSON array of strings: {err}")))?;
    let metadata: Map<String, Value> = serde_json::from_str(read.text("meta")?)
        .map_err(|err| read.corrupt("meta", format_args!("not a JSON object: {err}")))?;
    let secret_hash = read.hash("hash")?;
    let previous_secret = match read.optional("prev") {
        Some(_) => Some(PreviousSecret {
            hash: read.hash("prev")?,
            valid_until: read
                .time("prev_until")?
                .ok_or_else(|| read.corrupt("prev_until", "a previous secret has no end to its grace period"))?,
        }),
        None => None,
    };
    let created_at = read
        .time("created")?
        .ok_or_else(|| read.corrupt("created", "missing"))?;
    let record = TokenRecord::new(id.clone(), read.text("name")?, secret_hash)
        .with_kind(read.text("kind")?)
        .with_scopes(scopes)
        .with_status(status)
        .with_created_at(created_at)
        .with_updated_at(read.time("updated")?.unwrap_or(created_at))
        .with_expiry(read.time("expires")?)
        .with_last_used_at(read.time("used")?)
        .with_metadata(metadata)
        .with_previous_secret(previous_secret)
        .with_owner(read.optional("owner").map(str::to_owned))
        .with_created_by(read.optional("by").map(str::to_owned))
        .with_revoked_at(read.time("revoked")?);
    Ok(Some(record))
}

struct Reader<'a> {
    id: &'a str,
    fields: &'a HashMap<String, String>,
}

impl Reader<'_> {
    fn optional(&self, field: &str) -> Option<&str> {
        self.fields.get(field).map(String::as_str)
    }

    fn text(&self, field: &str) -> Result<&str, StoreError> {
        self.optional(field).ok_or_else(|| self.corrupt(field, "missing"))
    }

    fn time(&self, field: &str) -> Result<Option<OffsetDateTime>, StoreError> {
        let Some(text) = self.optional(field) else {
            return Ok(None);
        };
        text.parse::<i64>()
            .ok()
            .and_then(from_micros)
            .map(Some)
            .ok_or_else(|| self.corrupt(field, format_args!("{text:?} is not a time")))
    }

    fn hash(&self, field: &str) -> Result<SecretHash, StoreError> {
        let text = self.text(field)?;
        SecretHash::from_hex(text).ok_or_else(|| self.corrupt(field, "not 64 hex digits"))
    }

    fn corrupt(&self, field: &str, why: impl fmt::Display) -> StoreError {
        StoreError::Corrupt(format!("token {:?}, field {field}: {why}", self.id))
    }
}
