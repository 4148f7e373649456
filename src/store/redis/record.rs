//! A [`TokenRecord`] as the fields of a Redis hash: timestamps as unix microseconds, scopes,
//! metadata and a rate limit as JSON, secret hashes as hex; and an owner's settings as the
//! fields of its own hash.
//!
//! Reading never trusts the server: another program may have written it, so a value this
//! code could not have stored is a [`StoreError::Corrupt`] naming the token (or owner) and
//! field.

use std::collections::HashMap;
use std::fmt;

use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::hash::SecretHash;
use crate::limit::{OwnerSettings, RateLimit};
use crate::record::{PreviousSecret, TokenRecord, TokenStatus, from_micros, to_micros};
use crate::store::StoreError;

/// Fields and their values, as `HSET` takes them.
pub(super) type Fields = Vec<(&'static str, String)>;

/// Every field of a new record.
pub(super) fn fields(record: &TokenRecord) -> Result<Fields, StoreError> {
    // Every field, so that one added to the record cannot be forgotten here.
    let TokenRecord {
        id: _,
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
    let mut fields = vec![
        ("name", name.clone()),
        ("kind", kind.clone()),
        ("scopes", json(scopes)?),
        ("status", status.as_str().to_owned()),
        ("created", to_micros(*created_at).to_string()),
        ("meta", json(metadata)?),
        ("hash", secret_hash.to_hex()),
        ("updated", to_micros(*updated_at).to_string()),
    ];
    if let Some(owner) = owner {
        fields.push(("owner", owner.clone()));
    }
    if let Some(by) = created_by {
        fields.push(("by", by.clone()));
    }
    if let Some(at) = revoked_at {
        fields.push(("revoked", to_micros(*at).to_string()));
    }
    if let Some(limit) = rate_limit {
        fields.push(("rate", json(limit)?));
    }
    if let Some(at) = expires_at {
        fields.push(("expires", to_micros(*at).to_string()));
    }
    if let Some(at) = last_used_at {
        fields.push(("used", to_micros(*at).to_string()));
    }
    if let Some(previous) = previous_secret {
        fields.push(("prev", previous.hash.to_hex()));
        fields.push(("prev_until", to_micros(previous.valid_until).to_string()));
    }
    Ok(fields)
}

/// What an update writes of a changed record: every field but those nothing changes once
/// the token exists, as fields to set and fields to remove (an option that is now `None`).
pub(super) fn changed_fields(record: &TokenRecord) -> Result<(Fields, Vec<&'static str>), StoreError> {
    let TokenRecord {
        name,
        kind,
        scopes,
        status,
        expires_at,
        metadata,
        owner,
        updated_at,
        revoked_at,
        rate_limit,
        // Set once, when the token is made.
        id: _,
        created_at: _,
        created_by: _,
        // `record_use`'s, never a change's: another writer may have moved it on.
        last_used_at: _,
        // A rotation's, written with the secrets' keys.
        secret_hash: _,
        previous_secret: _,
    } = record;
    let mut set = vec![
        ("name", name.clone()),
        ("kind", kind.clone()),
        ("scopes", json(scopes)?),
        ("status", status.as_str().to_owned()),
        ("meta", json(metadata)?),
        ("updated", to_micros(*updated_at).to_string()),
    ];
    let mut removed = Vec::new();
    let mut optional = |field: &'static str, value: Option<String>| match value {
        Some(value) => set.push((field, value)),
        None => removed.push(field),
    };
    optional("expires", expires_at.map(|at| to_micros(at).to_string()));
    optional("owner", owner.clone());
    optional("revoked", revoked_at.map(|at| to_micros(at).to_string()));
    optional("rate", rate_limit.as_ref().map(json).transpose()?);
    Ok((set, removed))
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
        of: "token",
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
    let record = TokenRecord {
        name: read.text("name")?.to_owned(),
        kind: read.text("kind")?.to_owned(),
        scopes: scopes.into(),
        status,
        created_at,
        expires_at: read.time("expires")?,
        last_used_at: read.time("used")?,
        metadata,
        secret_hash,
        previous_secret,
        owner: read.optional("owner").map(str::to_owned),
        created_by: read.optional("by").map(str::to_owned),
        updated_at: read.time("updated")?.unwrap_or(created_at),
        revoked_at: read.time("revoked")?,
        rate_limit: read.rate_limit("rate")?,
        id,
    };
    Ok(Some(record))
}

/// Every field of an owner's settings; none for empty settings.
pub(super) fn owner_fields(settings: &OwnerSettings) -> Result<Fields, StoreError> {
    // Every field, so that one added to the settings cannot be forgotten here.
    let OwnerSettings { rate_limit } = settings;
    let mut fields = Vec::new();
    if let Some(limit) = rate_limit {
        fields.push(("rate", json(limit)?));
    }
    Ok(fields)
}

/// Reads the fields of the settings of `owner`: the default when there are none.
pub(super) fn owner_settings(owner: &str, fields: &HashMap<String, String>) -> Result<OwnerSettings, StoreError> {
    let read = Reader {
        of: "owner",
        id: owner,
        fields,
    };
    Ok(OwnerSettings::new().with_rate_limit(read.rate_limit("rate")?))
}

/// The fields of the hash of the token (or owner: `of`) `id`.
struct Reader<'a> {
    of: &'static str,
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

    fn rate_limit(&self, field: &str) -> Result<Option<RateLimit>, StoreError> {
        let Some(text) = self.optional(field) else {
            return Ok(None);
        };
        serde_json::from_str(text)
            .map(Some)
            .map_err(|err| self.corrupt(field, format_args!("not a rate limit: {err}")))
    }

    fn hash(&self, field: &str) -> Result<SecretHash, StoreError> {
        let text = self.text(field)?;
        SecretHash::from_hex(text).ok_or_else(|| self.corrupt(field, "not 64 hex digits"))
    }

    fn corrupt(&self, field: &str, why: impl fmt::Display) -> StoreError {
        StoreError::Corrupt(format!("{} {:?}, field {field}: {why}", self.of, self.id))
    }
}
