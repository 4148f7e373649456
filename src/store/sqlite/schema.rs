//! The database schema, and the forward migrations that build it on open.

use rusqlite::{Connection, TransactionBehavior};

use super::driver_error;
use crate::StoreError;

/// The migrations, in order: running the one at index `i` brings the schema to version
/// `i + 1`. Append only: a released migration is never edited, since databases out there
/// already ran it.
///
/// Secret hashes live in their own table so that one primary key covers current and
/// previous (grace) secrets alike: two tokens can never hold the same hash, whichever
/// role it has in each, and the database enforces it for every process that writes.
const MIGRATIONS: &[&str] = &[
    // 1: tokens and their secrets.
    "CREATE TABLE tokens (
        id           TEXT PRIMARY KEY NOT NULL,
        name         TEXT NOT NULL,
        kind         TEXT NOT NULL,
        scopes       TEXT NOT NULL,    -- JSON array of strings, sorted
        status       TEXT NOT NULL,    -- 'active' or 'inactive'
        created_at   INTEGER NOT NULL, -- unix microseconds, as every timestamp here
        expires_at   INTEGER,
        last_used_at INTEGER,
        metadata     TEXT NOT NULL     -- JSON object
    ) STRICT;

    CREATE TABLE token_secrets (
        hash        BLOB PRIMARY KEY NOT NULL CHECK (length(hash) = 32),
        token_id    TEXT NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
        role        TEXT NOT NULL CHECK (role IN ('current', 'previous')),
        valid_until INTEGER,
        CHECK ((role = 'current') = (valid_until IS NULL)),
        UNIQUE (token_id, role)
    ) STRICT, WITHOUT ROWID;",
];

/// The schema version this code writes and reads.
pub(super) const LATEST: i64 = MIGRATIONS.len() as i64;

/// Brings the schema up to [`LATEST`], in one transaction.
///
/// The transaction is `IMMEDIATE`: two processes opening a new file at once take turns,
/// and the second finds the work done.
///
/// # Errors
/// [`StoreError::Corrupt`] when the database was written by a newer tollgate, whose schema
/// this code does not know.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(driver_error)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_version (
            version    INTEGER PRIMARY KEY NOT NULL,
            applied_at INTEGER NOT NULL -- unix microseconds
        ) STRICT",
    )
    .map_err(driver_error)?;
    let current: i64 = tx
        .query_row("SELECT coalesce(max(version), 0) FROM schema_version", [], |row| {
            row.get(0)
        })
        .map_err(driver_error)?;
    if current > LATEST {
        return Err(StoreError::Corrupt(format!(
            "schema version {current} is newer than this tollgate supports ({LATEST}): upgrade tollgate"
        )));
    }
    let applied_at = super::row::to_micros(crate::record::now());
    for (version, sql) in (1..).zip(MIGRATIONS).skip_while(|(version, _)| *version <= current) {
        tx.execute_batch(sql).map_err(driver_error)?;
        tx.execute(
            "INSERT INTO schema_version (version, applied_at) VALUES (?1, ?2)",
            (version, applied_at),
        )
        .map_err(driver_error)?;
    }
    tx.commit().map_err(driver_error)
}
