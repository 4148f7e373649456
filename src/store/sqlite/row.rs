//! A [`TokenRecord`] as table rows: timestamps as unix microseconds, scopes and metadata as
//! JSON text, hashes as 32-byte blobs.
//!
//! Reading never trusts the file: another program may have written it, so a value this
//! code could not have stored is a [`StoreError::Corrupt`] naming the token and column.

use std::fmt;

use rusqlite::Row;
use rusqlite::types::FromSql;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::driver_error;
use crate::hash::SecretHash;
use crate::record::{PreviousSecret, TokenRecord, TokenStatus};
use crate::store::StoreError;

/// Reads a row selected by [`Sql::select_record`](super::sql::Sql::select_record).
pub(super) fn record_from_row(row: &Row<'_>) -> Result<TokenRecord, StoreError> {
    let id: String = row.get(0).map_err(|err| corrupt_column("?", "id", err))?;
    let read = Reader { row, id: &id };

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
        id,
    })
}

/// The columns of one row, read for the token `id`.
struct Reader<'a> {
    row: &'a Row<'a>,
    id: &'a str,
}

impl Reader<'_> {
    fn column<T: FromSql>(&self, index: usize, name: &str) -> Result<T, StoreError> {
        self.row.get(index).map_err(|err| corrupt_column(self.id, name, err))
    }

    fn timestamp(&self, index: usize, name: &str) -> Result<Option<OffsetDateTime>, StoreError> {
        let Some(micros) = self.column::<Option<i64>>(index, name)? else {
            return Ok(None);
        };
        from_micros(micros)
            .map(Some)
            .ok_or_else(|| self.corrupt(name, format_args!("{micros} is out of range")))
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
        corrupt(self.id, column, why)
    }
}

fn corrupt(id: &str, column: &str, why: impl fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("token {id:?}, column {column}: {why}"))
}

/// A value of the wrong type is bad data; any other failure is the driver's.
fn corrupt_column(id: &str, column: &str, err: rusqlite::Error) -> StoreError {
    match err {
        rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::IntegralValueOutOfRange(..)
        | rusqlite::Error::Utf8Error(..) => corrupt(id, column, err),
        err => driver_error(err),
    }
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
