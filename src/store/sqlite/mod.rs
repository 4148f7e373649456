//! [`SqliteStore`]: tokens in a SQLite database file, which every process that opens it
//! shares.

mod pool;
mod row;
mod schema;

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{Connection, ErrorCode, Params, Transaction, TransactionBehavior};
use time::OffsetDateTime;

use self::pool::Pool;
use self::row::{json_text, record_from_row, select_record, to_micros};
use super::{ListQuery, Page, Rotation, StoreError, TokenPatch, TokenSource, TokenStore};
use crate::{SecretHash, TokenRecord};

/// Tokens in a SQLite database file: persistent, with no server to run, and safe to share
/// between processes on one machine.
///
/// [`open`](Self::open) creates the file if there is none and brings its schema up to date
/// (a version table and forward migrations). Every call into SQLite runs on Tokio's
/// blocking thread pool, never on the executor's threads, so a Tokio runtime is needed.
/// The store keeps one writer connection, whose writes take turns, and up to four reader
/// connections; the database is in WAL mode, so reads do not wait for writes.
///
/// Several processes may open the same file, on a local file system (SQLite's locks are
/// unreliable over network file systems). Every write is one `BEGIN IMMEDIATE`
/// transaction, which waits up to 5 seconds for another process's write to finish, and
/// the uniqueness of ids and of secret hashes is enforced by the database itself.
///
/// There is no [`changes`](TokenSource::changes) stream: SQLite cannot tell one process
/// about another's writes, so a cache in front of this store relies on its time-to-live
/// and on explicit invalidation.
///
/// Committed writes survive a crash of the process; the last ones may be lost on a power
/// failure (`synchronous = NORMAL`).
///
/// ```
/// use tollgate::{SecretHasher, SqliteStore, TokenRecord, TokenSource, TokenStore};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos();
/// # let dir = std::env::temp_dir().join(format!("tollgate-doc-{}-{nanos}", std::process::id()));
/// # std::fs::create_dir(&dir)?;
/// let path = dir.join("tokens.db");
/// let store = SqliteStore::open(&path).await?;
/// let hash = SecretHasher::Sha256.hash(b"an imported secret");
/// store.create(TokenRecord::new("id1", "first", hash)).await?;
/// store.close().await?;
///
/// let store = SqliteStore::open(&path).await?;
/// assert_eq!(store.find_by_hash(&hash).await?.unwrap().id, "id1");
/// # store.close().await?;
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(())
/// # }
/// ```
pub struct SqliteStore {
    pool: Arc<Pool>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.pool.path()).finish()
    }
}

impl SqliteStore {
    /// Opens the database at `path`, creating it if there is no file, and migrates its
    /// schema to the current version.
    ///
    /// A file that is not a SQLite database is refused without being written to.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] when the file is not a SQLite database, is damaged, or was
    /// written by a newer version of tollgate; [`StoreError::Unavailable`] when it cannot
    /// be opened (a missing directory, no permission) or another process keeps it locked
    /// for more than 5 seconds.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_owned();
        let pool = pool::blocking(move || Pool::open(path)).await?;
        Ok(Self { pool: Arc::new(pool) })
    }

    /// The path the store was opened with.
    #[must_use]
    pub fn path(&self) -> &Path {
        self.pool.path()
    }

    /// Closes the connections and waits until they are closed, so that the file can be
    /// copied or removed. Dropping the store closes them too, in the background, as does
    /// this call when an operation whose caller gave up waiting is still running.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when SQLite fails to close a connection.
    pub async fn close(self) -> Result<(), StoreError> {
        match Arc::try_unwrap(self.pool) {
            Ok(pool) => pool::blocking(move || pool.close()).await,
            // An operation whose caller stopped waiting still runs; its end closes the pool.
            Err(_) => Ok(()),
        }
    }
}

#[async_trait]
impl TokenSource for SqliteStore {
    async fn get(&self, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        let id = id.to_owned();
        self.pool
            .read(move |conn| select_one(conn, concat!(select_record!(), " WHERE t.id = ?1"), [id]))
            .await
    }

    async fn find_by_hash(&self, hash: &SecretHash) -> Result<Option<TokenRecord>, StoreError> {
        let hash = *hash;
        self.pool
            .read(move |conn| {
                let now = to_micros(crate::record::now());
                select_one(
                    conn,
                    concat!(
                        select_record!(),
                        " WHERE t.id = (SELECT token_id FROM token_secrets",
                        " WHERE hash = ?1 AND (role = 'current' OR valid_until > ?2))"
                    ),
                    (hash.as_bytes(), now),
                )
            })
            .await
    }

    async fn record_use(&self, uses: &[(String, OffsetDateTime)]) -> Result<(), StoreError> {
        if uses.is_empty() {
            return Ok(());
        }
        let uses: Vec<(String, i64)> = uses.iter().map(|(id, at)| (id.clone(), to_micros(*at))).collect();
        self.pool
            .write(move |conn| {
                let tx = immediate(conn)?;
                {
                    // Reports arrive out of order: never move the time back.
                    let mut statement = tx
                        .prepare_cached(
                            "UPDATE tokens SET last_used_at = ?2
                             WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at < ?2)",
                        )
                        .map_err(driver_error)?;
                    for (id, at) in &uses {
                        statement.execute((id, at)).map_err(driver_error)?;
                    }
                }
                tx.commit().map_err(driver_error)
            })
            .await
    }
}

#[async_trait]
impl TokenStore for SqliteStore {
    async fn create(&self, record: TokenRecord) -> Result<(), StoreError> {
        let scopes = json_text(&record.scopes)?;
        let metadata = json_text(&record.metadata)?;
        self.pool
            .write(move |conn| {
                let tx = immediate(conn)?;
                tx.execute(
                    "INSERT INTO tokens (id, name, kind, scopes, status, created_at, expires_at, last_used_at, metadata)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    (
                        &record.id,
                        &record.name,
                        &record.kind,
                        scopes,
                        record.status.as_str(),
                        to_micros(record.created_at),
                        record.expires_at.map(to_micros),
                        record.last_used_at.map(to_micros),
                        metadata,
                    ),
                )
                .map_err(|err| conflict_or(err, StoreError::DuplicateId))?;
                insert_secret(&tx, &record.id, &record.secret_hash, None)?;
                if let Some(previous) = &record.previous_secret {
                    insert_secret(&tx, &record.id, &previous.hash, Some(previous.valid_until))?;
                }
                tx.commit().map_err(driver_error)
            })
            .await
    }

    async fn list(&self, query: &ListQuery) -> Result<Page, StoreError> {
        // Keyset paging on the primary key; TEXT compares bytewise (BINARY collation).
        let mut filters = Vec::new();
        let mut params = Vec::new();
        if let Some(after) = &query.after {
            filters.push("t.id > ?");
            params.push(Value::Text(after.clone()));
        }
        if let Some(status) = query.status {
            filters.push("t.status = ?");
            params.push(Value::Text(status.as_str().to_owned()));
        }
        if let Some(scope) = &query.scope {
            filters.push("EXISTS (SELECT 1 FROM json_each(t.scopes) WHERE json_each.value = ?)");
            params.push(Value::Text(scope.clone()));
        }
        let mut sql = String::from(select_record!());
        if !filters.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&filters.join(" AND "));
        }
        sql.push_str(" ORDER BY t.id LIMIT ?");
        // One more than asked tells whether another page follows.
        params.push(Value::Integer(
            i64::try_from(query.limit).map_or(i64::MAX, |limit| limit.saturating_add(1)),
        ));

        let limit = query.limit;
        self.pool
            .read(move |conn| {
                let mut statement = conn.prepare_cached(&sql).map_err(driver_error)?;
                let mut rows = statement
                    .query(rusqlite::params_from_iter(params))
                    .map_err(driver_error)?;
                let mut records = Vec::new();
                while let Some(row) = rows.next().map_err(driver_error)? {
                    records.push(record_from_row(row)?);
                }
                let more = records.len() > limit;
                records.truncate(limit);
                let next_after = if more {
                    records.last().map(|r| r.id.clone())
                } else {
                    None
                };
                Ok(Page { records, next_after })
            })
            .await
    }

    async fn update(&self, id: &str, patch: &TokenPatch) -> Result<Option<TokenRecord>, StoreError> {
        let (id, patch) = (id.to_owned(), patch.clone());
        self.pool
            .write(move |conn| {
                let tx = immediate(conn)?;
                let Some(mut record) = select_one(&tx, concat!(select_record!(), " WHERE t.id = ?1"), [&id])? else {
                    return Ok(None);
                };
                patch.apply(&mut record);
                // Every column a patch can change.
                tx.execute(
                    "UPDATE tokens SET name = ?2, scopes = ?3, status = ?4, expires_at = ?5, metadata = ?6
                     WHERE id = ?1",
                    (
                        &id,
                        &record.name,
                        json_text(&record.scopes)?,
                        record.status.as_str(),
                        record.expires_at.map(to_micros),
                        json_text(&record.metadata)?,
                    ),
                )
                .map_err(driver_error)?;
                tx.commit().map_err(driver_error)?;
                Ok(Some(record))
            })
            .await
    }

    async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.pool
            .write(move |conn| {
                let tx = immediate(conn)?;
                // The foreign key cascades too; this also holds for a connection without it.
                tx.execute("DELETE FROM token_secrets WHERE token_id = ?1", [&id])
                    .map_err(driver_error)?;
                let deleted = tx
                    .execute("DELETE FROM tokens WHERE id = ?1", [&id])
                    .map_err(driver_error)?;
                tx.commit().map_err(driver_error)?;
                Ok(deleted > 0)
            })
            .await
    }

    async fn rotate(&self, id: &str, rotation: &Rotation) -> Result<Option<TokenRecord>, StoreError> {
        let (id, rotation) = (id.to_owned(), rotation.clone());
        self.pool
            .write(move |conn| {
                let tx = immediate(conn)?;
                // Taken by any token, this one included, in either role: as in every store.
                let taken = tx
                    .prepare_cached("SELECT 1 FROM token_secrets WHERE hash = ?1")
                    .and_then(|mut statement| statement.exists([rotation.new_hash.as_bytes()]))
                    .map_err(driver_error)?;
                if taken {
                    return Err(StoreError::DuplicateSecret);
                }
                let exists = tx
                    .prepare_cached("SELECT 1 FROM tokens WHERE id = ?1")
                    .and_then(|mut statement| statement.exists([&id]))
                    .map_err(driver_error)?;
                if !exists {
                    return Ok(None);
                }
                tx.execute(
                    "DELETE FROM token_secrets WHERE token_id = ?1 AND role = 'previous'",
                    [&id],
                )
                .map_err(driver_error)?;
                match rotation.old_valid_until {
                    Some(until) => tx.execute(
                        "UPDATE token_secrets SET role = 'previous', valid_until = ?2
                         WHERE token_id = ?1 AND role = 'current'",
                        (&id, to_micros(until)),
                    ),
                    None => tx.execute(
                        "DELETE FROM token_secrets WHERE token_id = ?1 AND role = 'current'",
                        [&id],
                    ),
                }
                .map_err(driver_error)?;
                insert_secret(&tx, &id, &rotation.new_hash, None)?;
                let record = select_one(&tx, concat!(select_record!(), " WHERE t.id = ?1"), [&id])?;
                tx.commit().map_err(driver_error)?;
                Ok(record)
            })
            .await
    }
}

/// A write transaction that holds the database's write lock from its start, so that it
/// cannot fail halfway for want of it; the busy timeout waits for another process's.
fn immediate(conn: &mut Connection) -> Result<Transaction<'_>, StoreError> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(driver_error)
}

/// The one record a `select_record!` query with a unique filter finds, if any.
fn select_one(conn: &Connection, sql: &str, params: impl Params) -> Result<Option<TokenRecord>, StoreError> {
    let mut statement = conn.prepare_cached(sql).map_err(driver_error)?;
    let mut rows = statement.query(params).map_err(driver_error)?;
    rows.next().map_err(driver_error)?.map(record_from_row).transpose()
}

/// Adds a secret to a token: its current one, or with `valid_until` its previous one.
fn insert_secret(
    tx: &Transaction<'_>,
    id: &str,
    hash: &SecretHash,
    valid_until: Option<OffsetDateTime>,
) -> Result<(), StoreError> {
    let role = if valid_until.is_some() { "previous" } else { "current" };
    tx.execute(
        "INSERT INTO token_secrets (hash, token_id, role, valid_until) VALUES (?1, ?2, ?3, ?4)",
        (hash.as_bytes(), id, role, valid_until.map(to_micros)),
    )
    .map_err(|err| conflict_or(err, StoreError::DuplicateSecret))?;
    Ok(())
}

/// `conflict` when `err` is a primary key or unique constraint violation: the database
/// refused a duplicate, perhaps written by another process a moment before.
fn conflict_or(err: rusqlite::Error, conflict: StoreError) -> StoreError {
    let duplicate = err.sqlite_error().is_some_and(|e| {
        matches!(
            e.extended_code,
            rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY | rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
        )
    });
    if duplicate { conflict } else { driver_error(err) }
}

/// A failure of SQLite: damaged data is [`StoreError::Corrupt`], anything else
/// [`StoreError::Unavailable`].
fn driver_error(err: rusqlite::Error) -> StoreError {
    match err.sqlite_error_code() {
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => StoreError::Corrupt(err.to_string()),
        _ => StoreError::unavailable(err),
    }
}
