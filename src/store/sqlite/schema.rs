//! The database schema, and the forward migrations that build it on open.

use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::driver_error;
use super::sql::Sql;
use crate::store::StoreError;

/// The migrations, in order: running the one at index `i` brings the schema to version
/// `i + 1`. Append only: a released migration is never edited, since databases out there
/// already ran it. `{tokens}`, `{secrets}`, `{changes}`, `{owners}` and `{settings}` stand
/// for the store's table names.
///
/// Secret hashes live in their own table so that one primary key covers current and
/// previous (grace) secrets alike: two tokens can never hold the same hash, whichever
/// role it has in each, and the database enforces it for every process that writes.
const MIGRATIONS: &[&str] = &[
    // 1: tokens and their secrets.
    "CREATE TABLE {tokens} (
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

    CREATE TABLE {secrets} (
        hash        BLOB PRIMARY KEY NOT NULL CHECK (length(hash) = 32),
        token_id    TEXT NOT NULL REFERENCES {tokens} (id) ON DELETE CASCADE,
        role        TEXT NOT NULL CHECK (role IN ('current', 'previous')),
        valid_until INTEGER,
        CHECK ((role = 'current') = (valid_until IS NULL)),
        UNIQUE (token_id, role)
    ) STRICT, WITHOUT ROWID;",
    // 2: the change log other processes poll (`changes.rs`).
    "CREATE TABLE {changes} (
        seq      INTEGER PRIMARY KEY AUTOINCREMENT,
        token_id TEXT NOT NULL
    ) STRICT;",
    // 3: owners and audit fields; a token from before has no owner, and was last changed
    // when it was created (as far as anyone knows).
    "ALTER TABLE {tokens} ADD COLUMN owner TEXT;
    ALTER TABLE {tokens} ADD COLUMN created_by TEXT;
    ALTER TABLE {tokens} ADD COLUMN updated_at INTEGER;
    ALTER TABLE {tokens} ADD COLUMN revoked_at INTEGER;
    UPDATE {tokens} SET updated_at = created_at;
    CREATE INDEX {tokens}_by_owner ON {tokens} (owner, id);",
    // 4: rate limits, of a token and of an owner for all its tokens: three numbers, all
    // null for none (`rate_columns.rs`). Tokens from before have none, nor has any owner.
    "ALTER TABLE {tokens} ADD COLUMN rate_limit_limit INTEGER;
    ALTER TABLE {tokens} ADD COLUMN rate_limit_period INTEGER; -- seconds
    ALTER TABLE {tokens} ADD COLUMN rate_limit_burst INTEGER;
    CREATE TABLE {owners} (
        owner             TEXT PRIMARY KEY NOT NULL,
        rate_limit_limit  INTEGER,
        rate_limit_period INTEGER,
        rate_limit_burst  INTEGER
    ) STRICT, WITHOUT ROWID;",
    // 5: the store's own settings: the fingerprint of the pepper its secrets are hashed
    // under (`settings.rs`), recorded by the first process to use it.
    "CREATE TABLE {settings} (
        name  TEXT PRIMARY KEY NOT NULL,
        value TEXT NOT NULL
    ) STRICT, WITHOUT ROWID;",
];

/// The schema version this code writes and reads.
pub(super) const LATEST: i64 = MIGRATIONS.len() as i64;

/// Brings the schema up to [`LATEST`], in one transaction.
///
/// The transaction is `IMMEDIATE`: two processes opening a new file at once take turns,
/// and the second finds the work done.
///
/// With `adopt_legacy`, a database written by tollgate before table prefixes existed (its
/// tables named `tokens`, `token_secrets` and `schema_version`) has them renamed to this
/// store's names first, in the same transaction, so its tokens keep working.
///
/// # Errors
/// [`StoreError::Corrupt`] when the database was written by a newer tollgate, whose schema
/// this code does not know.
pub(super) fn migrate(conn: &mut Connection, sql: &Sql, adopt_legacy: bool) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(driver_error)?;
    if adopt_legacy {
        adopt_legacy_tables(&tx, sql)?;
    }
    tx.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS {} (
            version    INTEGER PRIMARY KEY NOT NULL,
            applied_at INTEGER NOT NULL -- unix microseconds
        ) STRICT",
        sql.versions
    ))
    .map_err(driver_error)?;
    let current: i64 = tx
        .query_row(
            &format!("SELECT coalesce(max(version), 0) FROM {}", sql.versions),
            [],
            |row| row.get(0),
        )
        .map_err(driver_error)?;
    if current > LATEST {
        return Err(StoreError::Corrupt(format!(
            "schema version {current} is newer than this tollgate supports ({LATEST}): upgrade tollgate"
        )));
    }
    let applied_at = super::row::to_micros(crate::record::now());
    for (version, migration) in (1..).zip(MIGRATIONS).skip_while(|(version, _)| *version <= current) {
        let migration = migration
            .replace("{tokens}", &sql.tokens)
            .replace("{secrets}", &sql.secrets)
            .replace("{changes}", &sql.changes)
            .replace("{owners}", &sql.owners)
            .replace("{settings}", &sql.settings);
        tx.execute_batch(&migration).map_err(driver_error)?;
        tx.execute(
            &format!("INSERT INTO {} (version, applied_at) VALUES (?1, ?2)", sql.versions),
            (version, applied_at),
        )
        .map_err(driver_error)?;
    }
    tx.commit().map_err(driver_error)
}

/// Renames tollgate's unprefixed tables to `sql`'s names, when those do not exist yet and
/// all three old ones do (`token_secrets` is tollgate's alone: an application's own
/// `tokens` or `schema_version` table is never taken on its own). SQLite rewrites the
/// foreign key of the secrets table to follow its parent's new name.
fn adopt_legacy_tables(tx: &Transaction<'_>, sql: &Sql) -> Result<(), StoreError> {
    let exists = |name: &str| -> Result<bool, StoreError> {
        tx.prepare_cached("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1")
            .and_then(|mut statement| statement.exists([name]))
            .map_err(driver_error)
    };
    let renames = [
        ("schema_version", &sql.versions),
        ("tokens", &sql.tokens),
        ("token_secrets", &sql.secrets),
    ];
    for (old, new) in renames {
        if old == new.as_str() || exists(new)? || !exists(old)? {
            return Ok(());
        }
    }
    for (old, new) in renames {
        tx.execute_batch(&format!("ALTER TABLE {old} RENAME TO {new}"))
            .map_err(driver_error)?;
    }
    tracing::info!(tables = ?renames.map(|(_, new)| new.as_str()), "renamed the SQLite tables of an earlier tollgate to their prefixed names");
    Ok(())
}
