//! Records (and owners' settings) as rows, and the driver's errors as [`StoreError`]s.
//!
//! Reading never trusts the database: another program may have written it, so a value this
//! code could not have stored is a [`StoreError::Corrupt`] naming the token (or owner) and
//! column.

use std::fmt;

use deadpool_postgres::PoolError;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::FromSql;

use crate::hash::SecretHash;
use crate::limit::{OwnerSettings, RateLimit};
use crate::record::{PreviousSecret, TokenRecord, TokenStatus};
use crate::store::{StoreError, rate_columns};

/// Reads a row selected by [`Sql::select_record`](super::sql::Sql::select_record).
pub(super) fn record_from_row(row: &Row) -> Result<TokenRecord, StoreError> {
    let id: String = row.try_get(0).map_err(|err| corrupt(TOKEN, "?", "id", err))?;
    let read = Reader {
        row,
        of: TOKEN,
        id: &id,
    };
    let status: String = read.column(4, "status")?;
    let status = TokenStatus::from_name(&status)
        .ok_or_else(|| read.corrupt("status", format_args!("unknown status {status:?}")))?;
    let scopes: Vec<String> = read.column(3, "scopes")?;
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
                .column::<Option<OffsetDateTime>>(11, "valid_until")?
                .ok_or_else(|| read.corrupt("valid_until", "a previous secret has no end to its grace period"))?,
        }),
        None => None,
    };
    Ok(TokenRecord {
        name: read.column(1, "name")?,
        kind: read.column(2, "kind")?,
        scopes: scopes.into(),
        status,
        created_at: read.column(5, "created_at")?,
        expires_at: read.column(6, "expires_at")?,
        last_used_at: read.column(7, "last_used_at")?,
        metadata,
        secret_hash,
        previous_secret,
        owner: read.column(12, "owner")?,
        created_by: read.column(13, "created_by")?,
        updated_at: read.column(14, "updated_at")?,
        revoked_at: read.column(15, "revoked_at")?,
        rate_limit: read.rate_limit(16)?,
        id,
    })
}

/// Reads a row selected by [`Sql::owner_settings`](super::sql::Sql::owner_settings): the
/// settings of `owner`.
pub(super) fn owner_settings_from_row(owner: &str, row: &Row) -> Result<OwnerSettings, StoreError> {
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
    row: &'a Row,
    of: &'static str,
    id: &'a str,
}

impl Reader<'_> {
    fn column<'r, T: FromSql<'r>>(&'r self, index: usize, name: &str) -> Result<T, StoreError> {
        self.row.try_get(index).map_err(|err| self.corrupt(name, err))
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
        let Some(bytes) = self.column::<Option<&[u8]>>(index, name)? else {
            return Ok(None);
        };
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| self.corrupt(name, format_args!("{} bytes instead of 32", bytes.len())))?;
        Ok(Some(SecretHash::from_bytes(bytes)))
    }

    fn corrupt(&self, column: &str, why: impl fmt::Display) -> StoreError {
        corrupt(self.of, self.id, column, why)
    }
}

fn corrupt(of: &str, id: &str, column: &str, why: impl fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{of} {id:?}, column {column}: {why}"))
}

/// A failure of PostgreSQL or of the connection to it. A unique violation is the conflict
/// its constraint names (never "unavailable": retrying would not help); anything else the
/// database or the network did is [`StoreError::Unavailable`].
pub(super) fn pg_error(err: tokio_postgres::Error) -> StoreError {
    if let Some(db) = err.as_db_error() {
        if *db.code() == SqlState::UNIQUE_VIOLATION {
            match db.constraint() {
                Some("tokens_pkey") => return StoreError::DuplicateId,
                Some("token_secrets_pkey") => return StoreError::DuplicateSecret,
                _ => {}
            }
        }
    }
    StoreError::unavailable(err)
}

/// A connection the pool could not give: none free in time, or none could be made.
pub(super) fn pool_error(err: PoolError) -> StoreError {
    match err {
        PoolError::Backend(err) => pg_error(err),
        PoolError::Timeout(kind) => StoreError::unavailable(format!("no database connection in time ({kind:?})")),
        err => StoreError::unavailable(err),
    }
}
