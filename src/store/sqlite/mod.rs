//! [`SqliteStore`]: tokens in a SQLite database file, which every process that opens it
//! shares.

mod changes;
mod owners;
mod pool;
mod row;
mod schema;
mod settings;
mod sql;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{Connection, ErrorCode, Params, Transaction, TransactionBehavior};
use time::OffsetDateTime;

use self::pool::Pool;
use self::row::{insert_token, record_from_row, to_micros, update_token, write_secrets};
use self::sql::Sql;
use super::listen::Listener;
use super::{ChangeStream, ListQuery, Page, Revocation, Rotation, StoreError, TokenPatch, TokenSource, TokenStore};
use crate::hash::SecretHash;
use crate::limit::OwnerSettings;
use crate::record::TokenRecord;

/// Tokens in a SQLite database file: persistent, with no server to run, and safe to share
/// between processes on one machine.
///
/// [`open`](Self::open) creates the file if there is none and brings its schema up to date
/// (a version table and forward migrations). The tables are named `tollgate_tokens`,
/// `tollgate_token_secrets`, `tollgate_changes`, `tollgate_owners` (owners' settings),
/// `tollgate_settings` (the pepper fingerprint) and `tollgate_schema_version`, so the store can share a file with your application's own
/// tables; [`builder`](Self::builder) sets another prefix. Every call into SQLite runs on Tokio's
/// blocking thread pool, never on the executor's threads, so a Tokio runtime is needed.
/// The store keeps one writer connection, whose writes take turns, and up to four reader
/// connections; the database is in WAL mode, so reads do not wait for writes.
///
/// Several processes may open the same file, on a local file system (SQLite's locks are
/// unreliable over network file systems). Every write is one `BEGIN IMMEDIATE`
/// transaction, which waits up to 5 seconds for another process's write to finish, and
/// the uniqueness of ids and of secret hashes is enforced by the database itself.
///
/// Processes that share the file hear each other's writes: every write appends the token's
/// id to a change log in its own transaction, and each store polls the log (every 100 ms by
/// default, [`SqliteBuilder::poll_changes`]), so [`changes`](TokenSource::changes) gives
/// every write of every process; with
/// [`Verifier::invalidation_task`](crate::Verifier::invalidation_task) running, a token
/// revoked by one process is refused by the others within about one poll.
///
/// Committed writes survive a crash of the process; the last ones may be lost on a power
/// failure (`synchronous = NORMAL`).
///
/// ```
/// use tollgate::{SecretHasher, SqliteStore, TokenRecord};
/// use tollgate::store::{TokenSource, TokenStore};
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
    sql: Arc<Sql>,
    listener: Option<Listener>,
}

/// Configures a [`SqliteStore`]. Start with [`SqliteStore::builder`].
///
/// | setting | default |
/// | --- | --- |
/// | [`table_prefix`](Self::table_prefix) | `tollgate_` |
/// | [`poll_changes`](Self::poll_changes) | every 100 ms |
///
/// ```
/// use tollgate::SqliteStore;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("app.db");
/// // The application's own database file; tollgate's tables are `auth_tokens`, …
/// let store = SqliteStore::builder(&path).table_prefix("auth_").open().await?;
/// # store.close().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `open` is called"]
pub struct SqliteBuilder {
    path: PathBuf,
    prefix: String,
    poll: Option<Duration>,
}

impl SqliteBuilder {
    /// The prefix of the store's table names: up to 64 ASCII letters, digits and
    /// underscores, not starting with a digit, or empty (default `tollgate_`). Stores
    /// with different prefixes in one file are independent of each other.
    pub fn table_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How often the store reads the change log for other processes' writes (default every
    /// 100 ms, at least 1 ms); `None` turns it off, and [`changes`](TokenSource::changes)
    /// is `None`. An idle poll is one query on a connection of the poller's own.
    pub fn poll_changes(mut self, every: Option<Duration>) -> Self {
        self.poll = every.map(|every| every.max(Duration::from_millis(1)));
        self
    }

    /// Opens the store, as [`SqliteStore::open`] does.
    ///
    /// # Errors
    /// As [`SqliteStore::open`], and [`StoreError::Config`] for a table prefix that breaks
    /// the rule above.
    pub async fn open(self) -> Result<SqliteStore, StoreError> {
        let prefix = self.prefix;
        let valid = prefix.len() <= 64
            && prefix.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !prefix.starts_with(|c: char| c.is_ascii_digit());
        if !valid {
            return Err(StoreError::Config(format!(
                "table prefix {prefix:?}: use up to 64 ASCII letters, digits and underscores, not starting with a digit"
            )));
        }
        let sql = Arc::new(Sql::new(&prefix));
        let legacy = prefix == SqliteStore::DEFAULT_TABLE_PREFIX;
        let pool = {
            let (path, sql) = (self.path.clone(), Arc::clone(&sql));
            pool::blocking(move || Pool::open(path, &sql, legacy)).await?
        };
        let listener = match self.poll {
            Some(every) => {
                let (path, sql) = (self.path, Arc::clone(&sql));
                let follow = move || changes::follow(path.clone(), Arc::clone(&sql), every);
                Some(Listener::start("sqlite", follow).await?)
            }
            None => None,
        };
        Ok(SqliteStore {
            pool: Arc::new(pool),
            sql,
            listener,
        })
    }
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.pool.path()).finish()
    }
}

impl SqliteStore {
    /// The table prefix a [`SqliteStore`] uses unless told otherwise.
    pub const DEFAULT_TABLE_PREFIX: &str = "tollgate_";

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
        Self::builder(path).open().await
    }

    /// Starts configuring a store on the database at `path`.
    pub fn builder(path: impl AsRef<Path>) -> SqliteBuilder {
        SqliteBuilder {
            path: path.as_ref().to_owned(),
            prefix: SqliteStore::DEFAULT_TABLE_PREFIX.to_owned(),
            poll: Some(Duration::from_millis(100)),
        }
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
        if let Some(listener) = self.listener {
            listener.stop().await;
        }
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
        let (id, sql) = (id.to_owned(), Arc::clone(&self.sql));
        self.pool.read(move |conn| select_one(conn, &sql.get, [id])).await
    }

    async fn find_by_hash(&self, hash: &SecretHash) -> Result<Option<TokenRecord>, StoreError> {
        let (hash, sql) = (*hash, Arc::clone(&self.sql));
        self.pool
            .read(move |conn| {
                let now = to_micros(crate::record::now());
                select_one(conn, &sql.find_by_hash, (hash.as_bytes(), now))
            })
            .await
    }

    async fn record_use(&self, uses: &[(String, OffsetDateTime)]) -> Result<(), StoreError> {
        if uses.is_empty() {
            return Ok(());
        }
        let uses: Vec<(String, i64)> = uses.iter().map(|(id, at)| (id.clone(), to_micros(*at))).collect();
        let sql = Arc::clone(&self.sql);
        self.pool
            .write(move |conn| {
                let tx = immediate(conn)?;
                {
                    let mut statement = tx.prepare_cached(&sql.record_use).map_err(driver_error)?;
                    for (id, at) in &uses {
                        statement.execute((id, at)).map_err(driver_error)?;
                    }
                }
                tx.commit().map_err(driver_error)
            })
            .await
    }

    async fn owner_settings(&self, owner: &str) -> Result<OwnerSettings, StoreError> {
        let (owner, sql) = (owner.to_owned(), Arc::clone(&self.sql));
        self.pool.read(move |conn| owners::read(conn, &sql, &owner)).await
    }

    fn changes(&self) -> Option<ChangeStream> {
        self.listener.as_ref().map(Listener::subscribe)
    }
}

#[async_trait]
impl TokenStore for SqliteStore {
    async fn create(&self, record: TokenRecord) -> Result<(), StoreError> {
        let sql = Arc::clone(&self.sql);
        self.pool
            .write(move |conn| {
                let tx = immediate(conn)?;
                insert_token(&tx, &sql, &record)?;
                write_secrets(&tx, &sql, &record)?;
                log_change(&tx, &sql, &record.id)?;
                tx.commit().map_err(driver_error)
            })
            .await
    }

    async fn replace(&self, record: TokenRecord) -> Result<(), StoreError> {
        let sql = Arc::clone(&self.sql);
        self.pool
            .write(move |conn| {
                // One transaction: a reader sees the old record or the new one, and a secret
                // another token holds rolls it all back.
                let tx = immediate(conn)?;
                tx.execute(&sql.delete_secrets, [&record.id]).map_err(driver_error)?;
                tx.execute(&sql.delete_token, [&record.id]).map_err(driver_error)?;
                insert_token(&tx, &sql, &record)?;
                write_secrets(&tx, &sql, &record)?;
                log_change(&tx, &sql, &record.id)?;
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
        if let Some(owner) = &query.owner {
            filters.push("t.owner = ?");
            params.push(Value::Text(owner.clone()));
        }
        let mut sql = self.sql.select_record.clone();
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
                Ok(Page::from_overfetch(records, limit))
            })
            .await
    }

    async fn update(&self, id: &str, patch: &TokenPatch) -> Result<Option<TokenRecord>, StoreError> {
        let (id, patch, sql) = (id.to_owned(), patch.clone(), Arc::clone(&self.sql));
        self.pool
            .write(move |conn| {
                let tx = immediate(conn)?;
                let Some(mut record) = select_one(&tx, &sql.get, [&id])? else {
                    return Ok(None);
                };
                patch.apply(&mut record, crate::record::now());
                update_token(&tx, &sql, &record)?;
                log_change(&tx, &sql, &id)?;
                tx.commit().map_err(driver_error)?;
                Ok(Some(record))
            })
            .await
    }

    async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        let (id, sql) = (id.to_owned(), Arc::clone(&self.sql));
        self.pool
            .write(move |conn| {
                let tx = immediate(conn)?;
                // The foreign key cascades too; this also holds for a connection without it.
                tx.execute(&sql.delete_secrets, [&id]).map_err(driver_error)?;
                let deleted = tx.execute(&sql.delete_token, [&id]).map_err(driver_error)?;
                if deleted > 0 {
                    log_change(&tx, &sql, &id)?;
                }
                tx.commit().map_err(driver_error)?;
                Ok(deleted > 0)
            })
            .await
    }

    async fn rotate(&self, id: &str, rotation: &Rotation) -> Result<Option<TokenRecord>, StoreError> {
        let (id, rotation, sql) = (id.to_owned(), rotation.clone(), Arc::clone(&self.sql));
        self.pool
            .write(move |conn| {
                let tx = immediate(conn)?;
                // Taken by any token, this one included, in either role: as in every store.
                let taken = tx
                    .prepare_cached(&sql.secret_taken)
                    .and_then(|mut statement| statement.exists([rotation.new_hash.as_bytes()]))
                    .map_err(driver_error)?;
                if taken {
                    return Err(StoreError::DuplicateSecret);
                }
                let Some(mut record) = select_one(&tx, &sql.get, [&id])? else {
                    return Ok(None);
                };
                rotation.apply(&mut record, crate::record::now());
                write_secrets(&tx, &sql, &record)?;
                update_token(&tx, &sql, &record)?;
                log_change(&tx, &sql, &id)?;
                tx.commit().map_err(driver_error)?;
                Ok(Some(record))
            })
            .await
    }

    async fn revoke_owner(&self, owner: &str) -> Result<Vec<String>, StoreError> {
        let (owner, sql) = (owner.to_owned(), Arc::clone(&self.sql));
        self.pool
            .write(move |conn| {
                let tx = immediate(conn)?;
                let Revocation {
                    status,
                    revoked_at,
                    updated_at,
                } = Revocation::at(crate::record::now());
                let ids = {
                    let mut statement = tx.prepare_cached(&sql.revoke_owner).map_err(driver_error)?;
                    let params = (
                        &owner,
                        Revocation::APPLIES_TO.as_str(),
                        status.as_str(),
                        revoked_at.map(to_micros),
                        to_micros(updated_at),
                    );
                    let rows = statement
                        .query_map(params, |row| row.get::<_, String>(0))
                        .map_err(driver_error)?;
                    rows.collect::<Result<Vec<_>, _>>().map_err(driver_error)?
                };
                for id in &ids {
                    log_change(&tx, &sql, id)?;
                }
                tx.commit().map_err(driver_error)?;
                Ok(ids)
            })
            .await
    }

    async fn set_owner_settings(&self, owner: &str, settings: &OwnerSettings) -> Result<(), StoreError> {
        let (owner, settings, sql) = (owner.to_owned(), *settings, Arc::clone(&self.sql));
        self.pool
            .write(move |conn| {
                let tx = immediate(conn)?;
                owners::write(&tx, &sql, &owner, &settings)?;
                tx.commit().map_err(driver_error)
            })
            .await
    }

    async fn pepper_fingerprint(&self) -> Result<Option<String>, StoreError> {
        let sql = Arc::clone(&self.sql);
        self.pool
            .read(move |conn| settings::read(conn, &sql, settings::PEPPER))
            .await
    }

    async fn claim_pepper_fingerprint(&self, fingerprint: &str) -> Result<Option<String>, StoreError> {
        let (fingerprint, sql) = (fingerprint.to_owned(), Arc::clone(&self.sql));
        self.pool
            .write(move |conn| settings::claim(conn, &sql, settings::PEPPER, &fingerprint).map(Some))
            .await
    }
}

/// A write transaction that holds the database's write lock from its start, so that it
/// cannot fail halfway for want of it; the busy timeout waits for another process's.
fn immediate(conn: &mut Connection) -> Result<Transaction<'_>, StoreError> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(driver_error)
}

/// The one record a [`Sql::select_record`] query with a unique filter finds, if any.
fn select_one(conn: &Connection, sql: &str, params: impl Params) -> Result<Option<TokenRecord>, StoreError> {
    let mut statement = conn.prepare_cached(sql).map_err(driver_error)?;
    let mut rows = statement.query(params).map_err(driver_error)?;
    rows.next().map_err(driver_error)?.map(record_from_row).transpose()
}

/// Appends the token's id to the change log, in the write's transaction, and trims the log
/// to its last [`changes::KEPT`] entries.
fn log_change(tx: &Transaction<'_>, sql: &Sql, id: &str) -> Result<(), StoreError> {
    tx.execute(&sql.log_change, [id]).map_err(driver_error)?;
    tx.execute(&sql.trim_changes, []).map_err(driver_error)?;
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
