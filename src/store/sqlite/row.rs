//! A [`TokenRecord`] as table rows, read and written: timestamps as unix microseconds,
//! scopes and metadata as JSON text, hashes as 32-byte blobs, a rate limit as three numbers;
//! and an owner's settings as its row.
//!
//! Reading never trusts the file: another program may have written it, so a value this
//! code could not have stored is a [`StoreError::Corrupt`] naming the token (or owner) and
//! column.

use std::fmt;

use rusqlite::types::FromSql;
use rusqlite::{Row, Transaction};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::sql::Sql;
use super::{conflict_or, driver_error};
use crate::hash::SecretHash;
use crate::limit::{OwnerSettings, RateLimit};
use crate::record::{PreviousSecret, TokenRecord, TokenStatus};
use crate::store::{StoreError, rate_columns};

/// Reads a row selected by [`Sql::select_record`](super::sql::Sql::select_record).
pub(super) fn record_from_row(row: &Row<'_>) -> Result<TokenRecord, StoreError> {
    let id: String = row.get(0).map_err(|err| corrupt_column(TOKEN, "?", "id", err))?;
    let read = Reader {
        row,
        of: TOKEN,
        id: &id,
    };

    let status: String = read.column(4, "status")?;
    let status = TokenStatus::from_name(&status)
        .ok_or_else(|| read.corrupt("status", format_args!("unknown status {status:?}")))?;
    let scopes: String = read.column(3, "scopes")?;
    let scopes: Vec<String> = serde_json::from_str(&scopes)
        .map_err(|err| read.corrupt("scopes", format_args!("not a JSON array of strings: {err}")))?;
    let metadata: String = read.column(8, "metadata")?;
    let metadata: Map<String, Value> = serde_json::from_str(&metadata)
        .map_err(|err| read.corrupt("metadata", format_args!("not a JSON object: {err}")))?;

    let secret_hash = read
        .hash(9, "current secret hash")?
        .ok_or_else(|| read.corrupt("token_secrets", "the token has no current secret"))?;
    let previous_secret = match read.hash(10, "previous secret hash")? {
        Some(hash) => Some(PreviousSecret {
            hash,
            valid_until: read
                .timestamp(11, "valid_until")?
                .ok_or_else(|| read.corrupt("valid_until", "a previous secret has no end to its grace period"))?,
        }),
        None => None,
    };

    let created_at = read
        .timestamp(5, "created_at")?
        .ok_or_else(|| read.corrupt("created_at", "missing"))?;
    Ok(TokenRecord {
        name: read.column(1, "name")?,
        kind: read.column(2, "kind")?,
        scopes: scopes.into(),
        status,
        created_at,
        expires_at: read.timestamp(6, "expires_at")?,
        last_used_at: read.timestamp(7, "last_used_at")?,
        metadata,
        secret_hash,
        previous_secret,
        owner: read.column(12, "owner")?,
        created_by: read.column(13, "created_by")?,
        updated_at: read.timestamp(14, "updated_at")?.unwrap_or(created_at),
        revoked_at: read.timestamp(15, "revoked_at")?,
        rate_limit: read.rate_limit(16)?,
        id,
    })
}

/// Reads a row selected by [`Sql::owner_settings`](super::sql::Sql::owner_settings): the
/// settings of `owner`.
pub(super) fn owner_settings_from_row(owner: &str, row: &Row<'_>) -> Result<OwnerSettings, StoreError> {
    let read = Reader {
        row,
        of: "owner",
        id: owner,
    };
    Ok(OwnerSettings::new().with_rate_limit(read.rate_limit(0)?))
}

const TOKEN: &str = "token";

/// The columns of one row, read for the token (or owner: `of`) `id`.
struct Reader<'a> {
    row: &'a Row<'a>,
    of: &'static str,
    id: &'a str,
}

impl Reader<'_> {
    fn column<T: FromSql>(&self, index: usize, name: &str) -> Result<T, StoreError> {
        self.row
            .get(index)
            .map_err(|err| corrupt_column(self.of, self.id, name, err))
    }

    fn timestamp(&self, index: usize, name: &str) -> Result<Option<OffsetDateTime>, StoreError> {
        let Some(micros) = self.column::<Option<i64>>(index, name)? else {
            return Ok(None);
        };
        from_micros(micros)
            .map(Some)
            .ok_or_else(|| self.corrupt(name, format_args!("{micros} is out of range")))
    }

    /// The rate limit in the three columns from `first` on (`rate_columns.rs`).
    fn rate_limit(&self, first: usize) -> Result<Option<RateLimit>, StoreError> {
        let mut values = [None; 3];
        for ((value, index), name) in values.iter_mut().zip(first..).zip(rate_columns::COLUMNS) {
            *value = self.column(index, name)?;
        }
        rate_columns::from_columns(values).map_err(|(column, why)| self.corrupt(column, why))
    }

    fn hash(&self, index: usize, name: &str) -> Result<Option<SecretHash>, StoreError> {
        let Some(bytes) = self.column::<Option<Vec<u8>>>(index, name)? else {
            return Ok(None);
        };
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|bytes: Vec<u8>| self.corrupt(name, format_args!("{} bytes instead of 32", bytes.len())))?;
        Ok(Some(SecretHash::from_bytes(bytes)))
    }

    fn corrupt(&self, column: &str, why: impl fmt::Display) -> StoreError {
        corrupt(self.of, self.id, column, why)
    }
}

fn corrupt(of: &str, id: &str, column: &str, why: impl fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{of} {id:?}, column {column}: {why}"))
}

/// A value of the wrong type is bad data; any other failure is the driver's.
fn corrupt_column(of: &str, id: &str, column: &str, err: rusqlite::Error) -> StoreError {
    match err {
        rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::IntegralValueOutOfRange(..)
        | rusqlite::Error::Utf8Error(..) => corrupt(of, id, column, err),
        err => driver_error(err),
    }
}

/// Inserts a new token's row (its secrets are [`write_secrets`]'s).
pub(super) fn insert_token(tx: &Transaction<'_>, sql: &Sql, record: &TokenRecord) -> Result<(), StoreError> {
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
        secret_hash: _,
        previous_secret: _,
        owner,
        created_by,
        updated_at,
        revoked_at,
        rate_limit,
    } = record;
    let [limit, period, burst] = rate_columns::to_columns(*rate_limit);
    let params = (
        id,
        name,
        kind,
        json_text(scopes)?,
        status.as_str(),
        to_micros(*created_at),
        expires_at.map(to_micros),
        last_used_at.map(to_micros),
        json_text(metadata)?,
        owner,
        created_by,
        to_micros(*updated_at),
        revoked_at.map(to_micros),
        limit,
        period,
        burst,
    );
    tx.execute(&sql.insert_token, params)
        .map_err(|err| conflict_or(err, StoreError::DuplicateId))?;
    Ok(())
}

/// Writes what an update or a rotation may have changed of a token's row: every column but
/// those nothing changes once the token exists.
pub(super) fn update_token(tx: &Transaction<'_>, sql: &Sql, record: &TokenRecord) -> Result<(), StoreError> {
    let TokenRecord {
        id,
        name,
        kind,
        scopes,
        status,
        // Set once, when the token is made.
        created_at: _,
        created_by: _,
        // `record_use`'s, never a change's: another writer may have moved it on.
        last_used_at: _,
        expires_at,
        metadata,
        // `write_secrets`'s.
        secret_hash: _,
        previous_secret: _,
        owner,
        updated_at,
        revoked_at,
        rate_limit,
    } = record;
    let [limit, period, burst] = rate_columns::to_columns(*rate_limit);
    let params = (
        id,
        name,
        kind,
        json_text(scopes)?,
        status.as_str(),
        expires_at.map(to_micros),
        json_text(metadata)?,
        owner,
        to_micros(*updated_at),
        revoked_at.map(to_micros),
        limit,
        period,
        burst,
    );
    tx.execute(&sql.update, params).map_err(driver_error)?;
    Ok(())
}

/// Makes a token's secrets the record's: its current one, and its previous one while its
/// grace runs. A hash another token uses is [`StoreError::DuplicateSecret`].
pub(super) fn write_secrets(tx: &Transaction<'_>, sql: &Sql, record: &TokenRecord) -> Result<(), StoreError> {
    let insert = |hash: &SecretHash, role: &str, valid_until: Option<OffsetDateTime>| {
        tx.execute(
            &sql.insert_secret,
            (hash.as_bytes(), &record.id, role, valid_until.map(to_micros)),
        )
        .map_err(|err| conflict_or(err, StoreError::DuplicateSecret))
    };
    tx.execute(&sql.delete_secrets, [&record.id]).map_err(driver_error)?;
    insert(&record.secret_hash, "current", None)?;
    if let Some(previous) = &record.previous_secret {
        insert(&previous.hash, "previous", Some(previous.valid_until))?;
    }
    Ok(())
}

pub(super) use crate::record::{from_micros, to_micros};

/// JSON text of a value that always serializes (strings, a JSON map).
pub(super) fn json_text<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(StoreError::unavailable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_through_micros() {
        let t = crate::record::now();
        assert_eq!(from_micros(to_micros(t)), Some(t));
        let before_epoch = OffsetDateTime::from_unix_timestamp(-1).unwrap() + time::Duration::microseconds(1);
        assert_eq!(from_micros(to_micros(before_epoch)), Some(before_epoch));
    }
}
