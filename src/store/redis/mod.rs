//! [`RedisStore`]: tokens in Redis, shared by every replica of a service, with revocation
//! pushed to each of them by pub/sub.

mod keys;
mod record;
mod schema;
mod scripts;
mod settings;
mod write;

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use time::OffsetDateTime;

use self::keys::Keys;
use self::scripts::{CREATE, DELETE, FIND_BY_HASH, OWNER, PAGE, RECORD_USE, REPLACE, REVOKE_OWNER, SECRETS, UPDATE};
use super::{ChangeStream, ListQuery, Page, Revocation, Rotation, StoreError, TokenPatch, TokenSource, TokenStore};
use crate::hash::SecretHash;
use crate::limit::OwnerSettings;
use crate::record::TokenRecord;
use crate::store::listen::Listener;

/// Tokens in Redis: shared by any number of replicas, each of which hears every other's
/// changes at once.
///
/// Under its key prefix (`tollgate:` by default) the store keeps:
///
/// | key | type | holds |
/// | --- | --- | --- |
/// | `<prefix>t:<id>` | hash | a token's record |
/// | `<prefix>ids` | sorted set | every id, for listing (read by `ZRANGE … BYLEX`, so Redis 6.2 or newer) |
/// | `<prefix>ot:<owner>` | sorted set | the ids of an owner's tokens (a token without an owner is in none) |
/// | `<prefix>s:<hex>` | string | the id of the token a secret hash belongs to, current or previous in its grace period |
/// | `<prefix>versions` | string | the counter the records' versions are drawn from |
/// | `<prefix>o:<owner>` | hash | an owner's settings |
/// | `<prefix>schema` | string | the layout version of these keys |
/// | `<prefix>pepper` | string | the fingerprint of the pepper the secrets are hashed under ([`TokenStore::claim_pepper_fingerprint`]) |
///
/// Every write is one Lua script, so the record and the indexes always agree, duplicates are
/// refused as [`StoreError::DuplicateId`] and [`StoreError::DuplicateSecret`], and the write
/// publishes the token's id on `<prefix>changes` once it is made. Setting an owner's settings
/// publishes the id of each of its tokens once they are written.
///
/// Each owner's index makes the owner's tokens cost what they are, whatever else the store
/// holds: [`list`](TokenStore::list) with an owner reads that owner's ids (its other filters
/// are applied to those records), and [`revoke_owner`](TokenStore::revoke_owner) revokes them
/// in scripts of 500 tokens each, publishing each token's id as it revokes it. The index
/// costs each write of a token with an owner one sorted-set command more, and Redis the
/// memory of one more entry per such token. Opening a store whose data an older tollgate
/// wrote, without the index, builds it once, reading every record (see
/// [`RedisBuilder::open`]).
///
/// Commands go over one multiplexed connection (the `redis` crate's `ConnectionManager`,
/// which reconnects by itself); one more connection subscribes to the changes, and
/// [`changes`](TokenSource::changes) turns them into [`ChangeEvent`](crate::store::ChangeEvent)s.
/// When it drops it reconnects with backoff and sends
/// [`ChangeEvent::Reset`](crate::store::ChangeEvent::Reset), and logs a warning. A Redis that is
/// down or slow makes calls fail with [`StoreError::Unavailable`] within the store's
/// timeout; service resumes by itself when Redis is back.
///
/// Expired tokens are kept (the verifier refuses them; list and delete them as any other):
/// keys never expire on their own. Redis should persist its data (RDB or AOF) like any
/// store of credentials, or a restart empties it.
///
/// ```no_run
/// use std::sync::Arc;
/// use tollgate::{RedisStore, Verifier};
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), tollgate::StoreError> {
/// let store = Arc::new(RedisStore::open("redis://cache.internal:6379").await?);
/// let verifier = Verifier::builder(store).build();
/// tokio::spawn(verifier.invalidation_task().expect("RedisStore has a change stream"));
/// # Ok(())
/// # }
/// ```
pub struct RedisStore {
    conn: ConnectionManager,
    keys: Keys,
    listener: Option<Listener>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.keys.prefix)
            .field("listening", &self.listener.is_some())
            .finish_non_exhaustive()
    }
}

/// Configures a [`RedisStore`]. Start with [`RedisStore::builder`].
///
/// | setting | default |
/// | --- | --- |
/// | [`prefix`](Self::prefix) | `tollgate:` |
/// | [`timeout`](Self::timeout) | 5 s |
/// | [`listen`](Self::listen) | on |
///
/// ```no_run
/// use std::time::Duration;
/// use tollgate::RedisStore;
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), tollgate::StoreError> {
/// let store = RedisStore::builder("redis://cache.internal:6379/2")
///     .prefix("myapp:tokens:")
///     .timeout(Duration::from_secs(1))
///     .open()
///     .await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `open` is called"]
pub struct RedisBuilder {
    url: String,
    prefix: String,
    timeout: Duration,
    listen: bool,
}

impl RedisBuilder {
    /// The prefix of every key and of the channel (default `tollgate:`): 1 to 64 visible
    /// ASCII characters. Stores with different prefixes in one Redis are independent of each
    /// other. On Redis Cluster, put a hash tag in it (`{tollgate}:`), so that all of a
    /// store's keys live in one slot, as its scripts need.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long to wait to connect, and for each answer (default 5 s). A call that waits
    /// longer fails with [`StoreError::Unavailable`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Whether to subscribe to changes (default on): [`changes`](TokenSource::changes) is
    /// `None` without it, and caches rely on their time-to-live.
    pub fn listen(mut self, listen: bool) -> Self {
        self.listen = listen;
        self
    }

    /// Connects, brings data an older tollgate wrote to this version's layout, and starts
    /// listening.
    ///
    /// Data written by a tollgate from before the owner index (no `<prefix>schema` key) is
    /// indexed here, once: every record is read, in scripts of 1,000 each. Replicas that open
    /// at once may each do it; the result is the same. Replicas of an older tollgate do not
    /// keep the index: upgrade them all before revoking or listing by owner.
    ///
    /// # Errors
    /// [`StoreError::Config`] for a URL or prefix that cannot be used;
    /// [`StoreError::Corrupt`] when the keys were written by a newer tollgate;
    /// [`StoreError::Unavailable`] when Redis cannot be reached.
    pub async fn open(self) -> Result<RedisStore, StoreError> {
        let prefix = self.prefix;
        if !(1..=64).contains(&prefix.len()) || !prefix.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(StoreError::Config(format!(
                "key prefix {prefix:?}: use 1 to 64 visible ASCII characters"
            )));
        }
        let client = redis::Client::open(self.url.as_str())
            .map_err(|err| StoreError::Config(format!("invalid Redis URL: {err}")))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            // Fail fast while Redis is down: the next call tries again anyway.
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = tokio::time::timeout(self.timeout, ConnectionManager::new_with_config(client.clone(), config))
            .await
            .map_err(|_| StoreError::unavailable(format!("could not connect to Redis within {:?}", self.timeout)))?
            .map_err(redis_error)?;
        let keys = Keys::new(&prefix);
        schema::migrate(&conn, &keys).await?;
        let listener = if self.listen {
            let (channel, timeout) = (keys.channel.clone(), self.timeout);
            Some(Listener::start("redis", move || subscribe(client.clone(), channel.clone(), timeout)).await?)
        } else {
            None
        };
        Ok(RedisStore { conn, keys, listener })
    }
}

/// A connection of its own subscribed to `channel`: the ids published on it. The stream
/// ends when the connection drops.
async fn subscribe(
    client: redis::Client,
    channel: String,
    timeout: Duration,
) -> Result<
    impl futures_core::Stream<Item = Result<crate::store::ChangeEvent, String>> + Send + Unpin + 'static,
    StoreError,
> {
    let subscribed = async {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(&channel).await?;
        Ok::<_, redis::RedisError>(pubsub)
    };
    let pubsub = tokio::time::timeout(timeout, subscribed)
        .await
        .map_err(|_| StoreError::unavailable(format!("could not subscribe within {timeout:?}")))?
        .map_err(redis_error)?;
    Ok(pubsub.into_on_message().map(|message| {
        message
            .get_payload::<String>()
            .map(|id| crate::store::ChangeEvent::Changed { id })
            .map_err(|err| err.to_string())
    }))
}

impl RedisStore {
    /// The key prefix a [`RedisStore`] uses unless told otherwise.
    pub const DEFAULT_PREFIX: &str = "tollgate:";

    /// Opens the store at `url` (`redis://[user:password@]host[:port][/db]`, or
    /// `rediss://` with the `redis` crate's TLS features) with the default settings (see
    /// [`RedisStore::builder`]).
    ///
    /// # Errors
    /// As [`RedisBuilder::open`].
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Self::builder(url).open().await
    }

    /// Starts configuring a store on the Redis at `url`.
    pub fn builder(url: impl Into<String>) -> RedisBuilder {
        RedisBuilder {
            url: url.into(),
            prefix: RedisStore::DEFAULT_PREFIX.to_owned(),
            timeout: Duration::from_secs(5),
            listen: true,
        }
    }
}

/// A failure of Redis or of the connection to it. The scripts' duplicate errors are the
/// conflicts they name (never "unavailable": retrying would not help); a key of the wrong
/// type is data this store did not write; anything else is [`StoreError::Unavailable`].
fn redis_error(err: redis::RedisError) -> StoreError {
    match err.code() {
        Some("TOLLGATE_DUPLICATE_ID") => StoreError::DuplicateId,
        Some("TOLLGATE_DUPLICATE_SECRET") => StoreError::DuplicateSecret,
        Some("WRONGTYPE") => StoreError::Corrupt(err.to_string()),
        _ if err.kind() == redis::ErrorKind::Parse => StoreError::Corrupt(err.to_string()),
        _ => StoreError::unavailable(err),
    }
}

type Fields = HashMap<String, String>;

#[async_trait]
impl TokenSource for RedisStore {
    async fn get(&self, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        let fields: Fields = redis::cmd("HGETALL")
            .arg(self.keys.record(id))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        record::record(id.to_owned(), fields)
    }

    async fn find_by_hash(&self, hash: &SecretHash) -> Result<Option<TokenRecord>, StoreError> {
        let found: Option<(String, Fields)> = FIND_BY_HASH
            .key(self.keys.secret(hash))
            .arg(&self.keys.records)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        let Some((id, fields)) = found else {
            return Ok(None);
        };
        // The index names the token; the record says whether the secret still works.
        Ok(record::record(id, fields)?.filter(|record| record.secret_matches(hash, crate::record::now())))
    }

    async fn record_use(&self, uses: &[(String, OffsetDateTime)]) -> Result<(), StoreError> {
        if uses.is_empty() {
            return Ok(());
        }
        let mut invocation = RECORD_USE.arg(&self.keys.records);
        for (id, at) in uses {
            invocation.arg(id).arg(crate::record::to_micros(*at));
        }
        invocation
            .invoke_async::<()>(&mut self.conn.clone())
            .await
            .map_err(redis_error)
    }

    async fn owner_settings(&self, owner: &str) -> Result<OwnerSettings, StoreError> {
        let fields: Fields = redis::cmd("HGETALL")
            .arg(self.keys.owner(owner))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        record::owner_settings(owner, &fields)
    }

    fn changes(&self) -> Option<ChangeStream> {
        self.listener.as_ref().map(Listener::subscribe)
    }
}

#[async_trait]
impl TokenStore for RedisStore {
    async fn create(&self, record: TokenRecord) -> Result<(), StoreError> {
        self.write_record(&CREATE, &record, &[]).await
    }

    async fn list(&self, query: &ListQuery) -> Result<Page, StoreError> {
        // Keyset paging on the id index, or on the owner's when the query names one; filters
        // are applied here, so a page may take more than one batch. The cursor is the last
        // id returned, never one only looked at.
        let index = query
            .owner
            .as_deref()
            .map_or_else(|| self.keys.ids.clone(), |owner| self.keys.owner_tokens(owner));
        let batch = query.limit.saturating_add(1).clamp(64, 1024);
        let mut records = Vec::new();
        let mut scanned = query.after.clone().unwrap_or_default();
        loop {
            let page: Vec<(String, Fields)> = PAGE
                .key(&index)
                .arg(&self.keys.records)
                .arg(&scanned)
                .arg(batch)
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            let exhausted = page.len() < batch;
            for (id, fields) in page {
                scanned.clone_from(&id);
                // Gone since the index was read: not listed.
                if let Some(record) = record::record(id, fields)? {
                    if query.matches(&record) {
                        records.push(record);
                    }
                }
                if records.len() > query.limit {
                    break;
                }
            }
            if exhausted || records.len() > query.limit {
                break;
            }
        }
        Ok(Page::from_overfetch(records, query.limit))
    }

    async fn update(&self, id: &str, patch: &TokenPatch) -> Result<Option<TokenRecord>, StoreError> {
        self.change(id, |record, version| {
            patch.apply(record, crate::record::now());
            let (set, removed) = record::changed_fields(record)?;
            let mut invocation = UPDATE.key(self.keys.record(id));
            invocation
                .key(&self.keys.versions)
                .arg(id)
                .arg(&self.keys.channel)
                .arg(version)
                .arg(&self.keys.owner_tokens)
                .arg(removed.len());
            for field in removed {
                invocation.arg(field);
            }
            for (field, value) in set {
                invocation.arg(field).arg(value);
            }
            Ok(invocation)
        })
        .await
    }

    async fn replace(&self, record: TokenRecord) -> Result<(), StoreError> {
        let unindex = [self.keys.secrets.as_str(), self.keys.owner_tokens.as_str()];
        self.write_record(&REPLACE, &record, &unindex).await
    }

    async fn pepper_fingerprint(&self) -> Result<Option<String>, StoreError> {
        self.read_pepper().await
    }

    async fn claim_pepper_fingerprint(&self, fingerprint: &str) -> Result<Option<String>, StoreError> {
        self.claim_pepper(fingerprint).await
    }

    async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        let deleted: i64 = DELETE
            .key(self.keys.record(id))
            .key(&self.keys.ids)
            .arg(id)
            .arg(&self.keys.channel)
            .arg(&self.keys.secrets)
            .arg(&self.keys.owner_tokens)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        Ok(deleted == 1)
    }

    async fn rotate(&self, id: &str, rotation: &Rotation) -> Result<Option<TokenRecord>, StoreError> {
        // Taken by any token, this one included, in either role: refused before an unknown
        // id is, as every store does (the script checks again, atomically).
        let taken: bool = redis::cmd("EXISTS")
            .arg(self.keys.secret(&rotation.new_hash))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        if taken {
            return Err(StoreError::DuplicateSecret);
        }
        self.change(id, |record, version| {
            let hex = |hash: Option<&SecretHash>| hash.map_or_else(String::new, |hash| hash.to_hex());
            let was = (record.secret_hash, record.previous_secret.as_ref().map(|p| p.hash));
            rotation.apply(record, crate::record::now());
            let until = record
                .previous_secret
                .as_ref()
                .map_or_else(String::new, |p| crate::record::to_micros(p.valid_until).to_string());
            let mut invocation = SECRETS.key(self.keys.record(id));
            invocation
                .key(&self.keys.versions)
                .arg(id)
                .arg(&self.keys.channel)
                .arg(version)
                .arg(&self.keys.secrets)
                .arg(was.0.to_hex())
                .arg(hex(was.1.as_ref()))
                .arg(record.secret_hash.to_hex())
                .arg(hex(record.previous_secret.as_ref().map(|p| &p.hash)))
                .arg(until)
                .arg(crate::record::to_micros(record.updated_at));
            Ok(invocation)
        })
        .await
    }

    async fn revoke_owner(&self, owner: &str) -> Result<Vec<String>, StoreError> {
        let Revocation {
            status,
            revoked_at,
            updated_at,
        } = Revocation::at(crate::record::now());
        let revoked_at = revoked_at.map_or_else(String::new, |at| crate::record::to_micros(at).to_string());
        let updated_at = crate::record::to_micros(updated_at);
        let index = self.keys.owner_tokens(owner);
        let mut revoked = Vec::new();
        let mut after = String::new();
        // Batch by batch, each revoked and published whole: a failure between two leaves
        // every token revoked so far published, so no replica caches one as active.
        loop {
            let (read, last, batch): (usize, String, Vec<String>) = REVOKE_OWNER
                .key(&index)
                .key(&self.keys.versions)
                .arg(&self.keys.records)
                .arg(&self.keys.channel)
                .arg(owner)
                .arg(Revocation::APPLIES_TO.as_str())
                .arg(status.as_str())
                .arg(&revoked_at)
                .arg(updated_at)
                .arg(&after)
                .arg(REVOKE_BATCH)
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            revoked.extend(batch);
            if read < REVOKE_BATCH {
                return Ok(revoked);
            }
            after = last;
        }
    }

    async fn set_owner_settings(&self, owner: &str, settings: &OwnerSettings) -> Result<(), StoreError> {
        let mut invocation = OWNER.key(self.keys.owner(owner));
        for (field, value) in record::owner_fields(settings)? {
            invocation.arg(field).arg(value);
        }
        invocation
            .invoke_async::<()>(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        // Then every token of the owner, whatever its status: one listed after the write is
        // read again with the new settings; one created since was read with them anyway.
        let mut query = ListQuery::new(500).owner(owner);
        loop {
            let page = self.list(&query).await?;
            if !page.records.is_empty() {
                let mut publish = redis::pipe();
                for record in &page.records {
                    publish.publish(&self.keys.channel, &record.id).ignore();
                }
                publish.exec_async(&mut self.conn.clone()).await.map_err(redis_error)?;
            }
            match page.next_after {
                Some(after) => query = query.after(after),
                None => return Ok(()),
            }
        }
    }
}

impl RedisStore {
    /// Changes the record of `id`: reads it, lets `write` compute the new record and the
    /// script invocation that writes it, and runs that; when another write came in between
    /// (the version moved), reads again, up to [`MAX_CONFLICTS`] times. `None` for an
    /// unknown id.
    async fn change(
        &self,
        id: &str,
        mut write: impl FnMut(&mut TokenRecord, &str) -> Result<redis::ScriptInvocation<'static>, StoreError>,
    ) -> Result<Option<TokenRecord>, StoreError> {
        for _ in 0..MAX_CONFLICTS {
            let mut fields: Fields = redis::cmd("HGETALL")
                .arg(self.keys.record(id))
                .query_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            let version = fields.remove("v").unwrap_or_default();
            let Some(mut record) = record::record(id.to_owned(), fields)? else {
                return Ok(None);
            };
            let invocation = write(&mut record, &version)?;
            match invocation.invoke_async::<Option<Fields>>(&mut self.conn.clone()).await {
                Ok(written) => return written.map_or(Ok(None), |fields| record::record(id.to_owned(), fields)),
                Err(err) if err.code() == Some("TOLLGATE_CONFLICT") => {}
                Err(err) => return Err(redis_error(err)),
            }
        }
        Err(StoreError::unavailable(format!(
            "token {id:?} changed under {MAX_CONFLICTS} writes in a row"
        )))
    }
}

/// How many of an owner's tokens each [`REVOKE_OWNER`] script reads: few enough that Redis,
/// which runs nothing else while a script runs, is held for a moment only.
const REVOKE_BATCH: usize = 500;

/// How many times a change is read and computed again when other writes to the same token
/// come in between.
const MAX_CONFLICTS: usize = 16;
