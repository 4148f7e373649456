//! The layout version of a store's keys (`<prefix>schema`), and the migration that brings
//! data written by an older tollgate to it when a store opens.
//!
//! | version | layout |
//! | --- | --- |
//! | none | records, the id index, the secret index, owners' settings |
//! | 1 | and the owner index: each owner's token ids (`<prefix>ot:<owner>`) |
//!
//! A store opening on data of an older version builds what is missing, then raises the
//! version; on data of a newer one it refuses to open. The migration to 1 reads every record
//! once, in batches of [`BATCH`] ids, each one script ([`INDEX_OWNERS`]) that adds the tokens
//! it reads to their owners' indexes: adding a token again changes nothing, so replicas that
//! open at once may each run it, and a migration that fails half-way runs again at the next
//! open. Writes made meanwhile keep the index themselves, so when any migration ends every
//! token is indexed, and only then is the version raised. A replica of an older tollgate
//! writing after that does not keep the index: upgrade every replica before relying on it.

use redis::aio::ConnectionManager;

use super::scripts::{INDEX_OWNERS, RAISE_SCHEMA};
use super::{Keys, redis_error};
use crate::store::StoreError;

/// The layout this code reads and writes.
const LATEST: u32 = 1;

/// How many ids each migration script reads: few enough that Redis, which runs nothing else
/// while a script runs, is held for a moment only.
const BATCH: usize = 1000;

/// Brings the store under `keys` to [`LATEST`].
///
/// # Errors
/// [`StoreError::Corrupt`] when the data was written by a newer tollgate, or its version is
/// not one; [`StoreError::Unavailable`] when Redis fails.
pub(super) async fn migrate(conn: &ConnectionManager, keys: &Keys) -> Result<(), StoreError> {
    let current: Option<String> = redis::cmd("GET")
        .arg(&keys.schema)
        .query_async(&mut conn.clone())
        .await
        .map_err(redis_error)?;
    let current = match current {
        None => 0,
        Some(text) => text
            .parse::<u32>()
            .map_err(|_| StoreError::Corrupt(format!("key {}: {text:?} is not a layout version", keys.schema)))?,
    };
    if current > LATEST {
        return Err(StoreError::Corrupt(format!(
            "the keys under {:?} are at layout version {current}, newer than this tollgate supports ({LATEST}): upgrade tollgate",
            keys.prefix
        )));
    }
    if current == LATEST {
        return Ok(());
    }
    let mut after = String::new();
    loop {
        let (read, last): (usize, String) = INDEX_OWNERS
            .key(&keys.ids)
            .arg(&keys.records)
            .arg(&keys.owner_tokens)
            .arg(&after)
            .arg(BATCH)
            .invoke_async(&mut conn.clone())
            .await
            .map_err(redis_error)?;
        if read < BATCH {
            break;
        }
        after = last;
    }
    RAISE_SCHEMA
        .key(&keys.schema)
        .arg(LATEST)
        .invoke_async::<()>(&mut conn.clone())
        .await
        .map_err(redis_error)
}
