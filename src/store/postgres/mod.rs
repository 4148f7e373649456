//! [`PostgresStore`]: tokens in PostgreSQL, shared by every replica of a service, with
//! revocation pushed to each of them by `LISTEN` / `NOTIFY`.

mod listen;
mod owners;
mod row;
mod schema;
mod settings;
mod sql;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use time::OffsetDateTime;
use tokio_postgres::NoTls;

use self::row::{pg_error, pool_error, record_from_row};
use self::sql::Sql;
use super::{
    ChangeStream, ListQuery, Page, Revocation, Rotation, StoreError, TokenPatch, TokenSource, TokenStore, rate_columns,
};
use crate::hash::SecretHash;
use crate::limit::OwnerSettings;
use crate::record::TokenRecord;
use crate::store::listen::Listener;
use deadpool_postgres::Transaction;
use tokio_postgres::types::ToSql;

/// Tokens in PostgreSQL: durable, shared by any number of replicas, each of which hears
/// every other's changes at once.
///
/// [`open`](Self::open) connects, creates its schema (`tollgate` by default) if there is
/// none, and brings it up to date under an advisory lock, so replicas that start together
/// are safe. Connections come from a pool (`deadpool-postgres`: it hands back the driver's
/// own error at once when the database refuses a connection, where others wait out their
/// timeout), and one more connection, outside the pool, `LISTEN`s for changes.
///
/// Every write is one transaction that also sends `NOTIFY` with the token's id, so a change
/// is heard only once it is committed. [`changes`](TokenSource::changes) turns them into
/// [`ChangeEvent`](crate::store::ChangeEvent)s; with
/// [`Verifier::invalidation_task`](crate::Verifier::invalidation_task) running, a token
/// revoked through any replica is refused by every replica on its next request. When the
/// listening connection drops, it reconnects with backoff and sends
/// [`ChangeEvent::Reset`](crate::store::ChangeEvent::Reset), and logs a warning.
///
/// A database that is down, slow or out of connections makes calls fail with
/// [`StoreError::Unavailable`] (the verifier answers 503 within its source timeout); the
/// pool reconnects by itself when the database is back.
///
/// The connection string is libpq's URL form (`postgres://user:password@host:port/db`,
/// with its query parameters: `connect_timeout`, `keepalives_idle`, `application_name`,
/// `sslmode=disable`…). TLS is not built in: reach the database over a private network or
/// a local TLS proxy.
///
/// ```no_run
/// use std::sync::Arc;
/// use tollgate::{PostgresStore, Verifier};
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), tollgate::StoreError> {
/// let store = Arc::new(PostgresStore::open("postgres://app@db.internal/app").await?);
/// let verifier = Verifier::builder(store).build();
/// // Every replica: drop a token from the cache as soon as any replica changes it.
/// tokio::spawn(verifier.invalidation_task().expect("PostgresStore has a change stream"));
/// # Ok(())
/// # }
/// ```
pub struct PostgresStore {
    pool: Pool,
    sql: Arc<Sql>,
    listener: Option<Listener>,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.pool.status();
        f.debug_struct("PostgresStore")
            .field("schema", &self.sql.schema)
            .field("connections", &status.size)
            .field("max_connections", &status.max_size)
            .field("listening", &self.listener.is_some())
            .finish()
    }
}

/// Configures a [`PostgresStore`]. Start with [`PostgresStore::builder`].
///
/// | setting | default |
/// | --- | --- |
/// | [`schema`](Self::schema) | `tollgate` |
/// | [`max_connections`](Self::max_connections) | 16 |
/// | [`connect_timeout`](Self::connect_timeout) | 5 s |
/// | [`listen`](Self::listen) | on |
///
/// ```no_run
/// use std::time::Duration;
/// use tollgate::PostgresStore;
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), tollgate::StoreError> {
/// let store = PostgresStore::builder("postgres://app@db.internal/app")
///     .schema("auth")
///     .max_connections(32)
///     .connect_timeout(Duration::from_secs(2))
///     .open()
///     .await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `open` is called"]
pub struct PostgresBuilder {
    url: String,
    schema: String,
    max_connections: usize,
    connect_timeout: Duration,
    listen: bool,
}

impl PostgresBuilder {
    /// The schema the store's tables live in (default `tollgate`): 1 to 48 lower-case ASCII
    /// letters, digits and underscores, not starting with a digit. Stores in different
    /// schemas of one database are independent of each other.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// How many pooled connections the store opens at most (default 16, at least 1); the
    /// listener takes one more.
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections.max(1);
        self
    }

    /// How long to wait for a connection: to make one, or for a busy pool to free one
    /// (default 5 s). A call that waits longer fails with [`StoreError::Unavailable`].
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Whether to listen for changes (default on): [`changes`](TokenSource::changes) is
    /// `None` without it, and caches rely on their time-to-live.
    pub fn listen(mut self, listen: bool) -> Self {
        self.listen = listen;
        self
    }

    /// Connects, migrates the schema, and starts listening.
    ///
    /// # Errors
    /// [`StoreError::Config`] for a connection string or schema name that cannot be used;
    /// [`StoreError::Unavailable`] when the database cannot be reached or refuses;
    /// [`StoreError::Corrupt`] when the schema was written by a newer tollgate.
    pub async fn open(self) -> Result<PostgresStore, StoreError> {
        let schema = self.schema;
        let valid = (1..=48).contains(&schema.len())
            && schema
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && !schema.starts_with(|c: char| c.is_ascii_digit());
        if !valid {
            return Err(StoreError::Config(format!(
                "schema {schema:?}: use 1 to 48 lower-case ASCII letters, digits and underscores, not starting with a digit"
            )));
        }
        let mut config: tokio_postgres::Config = self
            .url
            .parse()
            .map_err(|err| StoreError::Config(format!("invalid PostgreSQL connection string: {err}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(self.connect_timeout);
        }
        // Notice a dead peer in about a minute, not the system's two hours.
        if config.get_keepalives_idle() == Duration::from_secs(2 * 60 * 60) {
            config.keepalives_idle(Duration::from_secs(30));
        }
        if config.get_application_name().is_none() {
            config.application_name("tollgate");
        }
        let sql = Arc::new(Sql::new(&schema));
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(self.max_connections)
            .wait_timeout(Some(self.connect_timeout))
            .create_timeout(Some(self.connect_timeout))
            .recycle_timeout(Some(self.connect_timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|err| StoreError::Config(err.to_string()))?;
        let mut client = pool.get().await.map_err(pool_error)?;
        schema::migrate(&mut client, &sql).await?;
        drop(client);
        let listener = if self.listen {
            let mut listen_config = config;
            listen_config.application_name(format!("tollgate listener {schema}"));
            Some(listen::start(listen_config, sql.channel.clone(), self.connect_timeout).await?)
        } else {
            None
        };
        Ok(PostgresStore { pool, sql, listener })
    }
}

impl PostgresStore {
    /// The schema a [`PostgresStore`] keeps its tables in unless told otherwise.
    pub const DEFAULT_SCHEMA: &str = "tollgate";

    /// Opens the store at `url` with the default settings (see [`PostgresStore::builder`]).
    ///
    /// # Errors
    /// As [`PostgresBuilder::open`].
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Self::builder(url).open().await
    }

    /// Starts configuring a store on the database at `url`.
    pub fn builder(url: impl Into<String>) -> PostgresBuilder {
        PostgresBuilder {
            url: url.into(),
            schema: PostgresStore::DEFAULT_SCHEMA.to_owned(),
            max_connections: 16,
            connect_timeout: Duration::from_secs(5),
            listen: true,
        }
    }

    async fn client(&self) -> Result<deadpool_postgres::Client, StoreError> {
        self.pool.get().await.map_err(pool_error)
    }

    /// The one record a [`Sql::select_record`] query finds, if any.
    async fn select_one(
        client: &impl deadpool_postgres::GenericClient,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Option<TokenRecord>, StoreError> {
        let statement = client.prepare_cached(sql).await.map_err(pg_error)?;
        let row = client.query_opt(&statement, params).await.map_err(pg_error)?;
        row.as_ref().map(record_from_row).transpose()
    }
}

#[async_trait]
impl TokenSource for PostgresStore {
    async fn get(&self, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        let client = self.client().await?;
        Self::select_one(&client, &self.sql.get, &[&id]).await
    }

    async fn find_by_hash(&self, hash: &SecretHash) -> Result<Option<TokenRecord>, StoreError> {
        let client = self.client().await?;
        let now = crate::record::now();
        Self::select_one(&client, &self.sql.find_by_hash, &[&&hash.as_bytes()[..], &now]).await
    }

    async fn record_use(&self, uses: &[(String, OffsetDateTime)]) -> Result<(), StoreError> {
        if uses.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = uses.iter().map(|(id, _)| id.as_str()).collect();
        let times: Vec<OffsetDateTime> = uses.iter().map(|(_, at)| *at).collect();
        let client = self.client().await?;
        let statement = client.prepare_cached(&self.sql.record_use).await.map_err(pg_error)?;
        client.execute(&statement, &[&ids, &times]).await.map_err(pg_error)?;
        Ok(())
    }

    async fn owner_settings(&self, owner: &str) -> Result<OwnerSettings, StoreError> {
        owners::read(&self.client().await?, &self.sql, owner).await
    }

    fn changes(&self) -> Option<ChangeStream> {
        self.listener.as_ref().map(Listener::subscribe)
    }
}

#[async_trait]
impl TokenStore for PostgresStore {
    async fn create(&self, record: TokenRecord) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        insert_token(&tx, &self.sql, &record).await?;
        write_secrets(&tx, &self.sql, &record).await?;
        notify(&tx, &self.sql, &record.id).await?;
        tx.commit().await.map_err(pg_error)
    }

    async fn pepper_fingerprint(&self) -> Result<Option<String>, StoreError> {
        settings::read(&self.client().await?, &self.sql, settings::PEPPER).await
    }

    async fn claim_pepper_fingerprint(&self, fingerprint: &str) -> Result<Option<String>, StoreError> {
        let client = self.client().await?;
        settings::claim(&client, &self.sql, settings::PEPPER, fingerprint)
            .await
            .map(Some)
    }

    async fn replace(&self, record: TokenRecord) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        // One transaction: a reader sees the old record or the new one, and a secret another
        // token holds rolls it all back. The old secrets go with the row (ON DELETE CASCADE).
        let tx = client.transaction().await.map_err(pg_error)?;
        let delete = tx.prepare_cached(&self.sql.delete_token).await.map_err(pg_error)?;
        tx.execute(&delete, &[&record.id]).await.map_err(pg_error)?;
        insert_token(&tx, &self.sql, &record).await?;
        write_secrets(&tx, &self.sql, &record).await?;
        notify(&tx, &self.sql, &record.id).await?;
        tx.commit().await.map_err(pg_error)
    }

    async fn list(&self, query: &ListQuery) -> Result<Page, StoreError> {
        let sql = self.sql.list(query);
        let status = query.status.map(crate::record::TokenStatus::as_str);
        // One more than asked tells whether another page follows.
        let limit = i64::try_from(query.limit).map_or(i64::MAX, |limit| limit.saturating_add(1));
        let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = Vec::with_capacity(4);
        if let Some(after) = &query.after {
            params.push(after);
        }
        if let Some(status) = &status {
            params.push(status);
        }
        if let Some(scope) = &query.scope {
            params.push(scope);
        }
        if let Some(owner) = &query.owner {
            params.push(owner);
        }
        params.push(&limit);
        let client = self.client().await?;
        let statement = client.prepare_cached(&sql).await.map_err(pg_error)?;
        let rows = client.query(&statement, &params).await.map_err(pg_error)?;
        let records = rows.iter().map(record_from_row).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_overfetch(records, query.limit))
    }

    async fn update(&self, id: &str, patch: &TokenPatch) -> Result<Option<TokenRecord>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        let Some(mut record) = Self::select_one(&tx, &self.sql.get_for_update, &[&id]).await? else {
            return Ok(None);
        };
        patch.apply(&mut record, crate::record::now());
        update_token(&tx, &self.sql, &record).await?;
        notify(&tx, &self.sql, id).await?;
        tx.commit().await.map_err(pg_error)?;
        Ok(Some(record))
    }

    async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        // The secrets go with it (ON DELETE CASCADE).
        let delete = tx.prepare_cached(&self.sql.delete_token).await.map_err(pg_error)?;
        let deleted = tx.execute(&delete, &[&id]).await.map_err(pg_error)? > 0;
        if deleted {
            notify(&tx, &self.sql, id).await?;
        }
        tx.commit().await.map_err(pg_error)?;
        Ok(deleted)
    }

    async fn rotate(&self, id: &str, rotation: &Rotation) -> Result<Option<TokenRecord>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        // Taken by any token, this one included, in either role: as in every store. The
        // primary key refuses a race with another writer too.
        let taken = tx.prepare_cached(&self.sql.secret_taken).await.map_err(pg_error)?;
        let new_hash = &rotation.new_hash.as_bytes()[..];
        if tx.query_opt(&taken, &[&new_hash]).await.map_err(pg_error)?.is_some() {
            return Err(StoreError::DuplicateSecret);
        }
        let Some(mut record) = Self::select_one(&tx, &self.sql.get_for_update, &[&id]).await? else {
            return Ok(None);
        };
        rotation.apply(&mut record, crate::record::now());
        write_secrets(&tx, &self.sql, &record).await?;
        update_token(&tx, &self.sql, &record).await?;
        notify(&tx, &self.sql, id).await?;
        tx.commit().await.map_err(pg_error)?;
        Ok(Some(record))
    }

    async fn revoke_owner(&self, owner: &str) -> Result<Vec<String>, StoreError> {
        let Revocation {
            status,
            revoked_at,
            updated_at,
        } = Revocation::at(crate::record::now());
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        let revoke = tx.prepare_cached(&self.sql.revoke_owner).await.map_err(pg_error)?;
        let params: [&(dyn ToSql + Sync); 5] = [
            &owner,
            &Revocation::APPLIES_TO.as_str(),
            &status.as_str(),
            &revoked_at,
            &updated_at,
        ];
        let rows = tx.query(&revoke, &params).await.map_err(pg_error)?;
        let ids: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
        if !ids.is_empty() {
            tx.execute(self.sql.notify_all, &[&self.sql.channel, &ids])
                .await
                .map_err(pg_error)?;
        }
        tx.commit().await.map_err(pg_error)?;
        Ok(ids)
    }

    async fn set_owner_settings(&self, owner: &str, settings: &OwnerSettings) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        owners::write(&tx, &self.sql, owner, settings).await?;
        tx.commit().await.map_err(pg_error)
    }
}

/// Inserts a new token's row (its secrets are [`write_secrets`]'s).
async fn insert_token(tx: &Transaction<'_>, sql: &Sql, record: &TokenRecord) -> Result<(), StoreError> {
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
    let metadata = serde_json::to_string(metadata).map_err(StoreError::unavailable)?;
    let [limit, period, burst] = rate_columns::to_columns(*rate_limit);
    let insert = tx.prepare_cached(&sql.insert_token).await.map_err(pg_error)?;
    let params: [&(dyn ToSql + Sync); 16] = [
        id,
        name,
        kind,
        &scopes.as_slice(),
        &status.as_str(),
        created_at,
        expires_at,
        last_used_at,
        &metadata,
        owner,
        created_by,
        updated_at,
        revoked_at,
        &limit,
        &period,
        &burst,
    ];
    tx.execute(&insert, &params).await.map_err(pg_error)?;
    Ok(())
}

/// Writes what an update or a rotation may have changed of a token's row: every column but
/// those nothing changes once the token exists.
async fn update_token(tx: &Transaction<'_>, sql: &Sql, record: &TokenRecord) -> Result<(), StoreError> {
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
    let metadata = serde_json::to_string(metadata).map_err(StoreError::unavailable)?;
    let [limit, period, burst] = rate_columns::to_columns(*rate_limit);
    let update = tx.prepare_cached(&sql.update).await.map_err(pg_error)?;
    let params: [&(dyn ToSql + Sync); 13] = [
        id,
        name,
        kind,
        &scopes.as_slice(),
        &status.as_str(),
        expires_at,
        &metadata,
        owner,
        updated_at,
        revoked_at,
        &limit,
        &period,
        &burst,
    ];
    tx.execute(&update, &params).await.map_err(pg_error)?;
    Ok(())
}

/// Makes a token's secrets the record's: its current one, and its previous one while its
/// grace runs. A hash another token uses is [`StoreError::DuplicateSecret`].
async fn write_secrets(tx: &Transaction<'_>, sql: &Sql, record: &TokenRecord) -> Result<(), StoreError> {
    let delete = tx.prepare_cached(&sql.delete_secrets).await.map_err(pg_error)?;
    tx.execute(&delete, &[&record.id]).await.map_err(pg_error)?;
    let insert = tx.prepare_cached(&sql.insert_secret).await.map_err(pg_error)?;
    let current = &record.secret_hash.as_bytes()[..];
    tx.execute(&insert, &[&current, &record.id, &"current", &None::<OffsetDateTime>])
        .await
        .map_err(pg_error)?;
    if let Some(previous) = &record.previous_secret {
        let hash = &previous.hash.as_bytes()[..];
        tx.execute(&insert, &[&hash, &record.id, &"previous", &Some(previous.valid_until)])
            .await
            .map_err(pg_error)?;
    }
    Ok(())
}

/// Tells every listener, when the transaction commits, that the token `id` changed.
async fn notify(tx: &deadpool_postgres::Transaction<'_>, sql: &Sql, id: &str) -> Result<(), StoreError> {
    tx.execute(sql.notify, &[&sql.channel, &id]).await.map_err(pg_error)?;
    Ok(())
}
