//! [`TokenStore::replace`](crate::store::TokenStore::replace) on Redis: one script, so that
//! a reader sees the old record or the new one and every index agrees with it.

use super::scripts::REPLACE;
use super::{RedisStore, StoreError, TokenRecord, record, redis_error};

impl RedisStore {
    pub(super) async fn replace_record(&self, record: &TokenRecord) -> Result<(), StoreError> {
        let previous = record
            .previous_secret
            .as_ref()
            .map_or_else(String::new, |previous| self.keys.secret(&previous.hash));
        let owned = record
            .owner
            .as_deref()
            .map_or_else(String::new, |owner| self.keys.owner_tokens(owner));
        let mut invocation = REPLACE.key(self.keys.record(&record.id));
        invocation
            .key(&self.keys.ids)
            .key(self.keys.secret(&record.secret_hash))
            .key(previous)
            .key(&self.keys.versions)
            .key(owned)
            .arg(&record.id)
            .arg(&self.keys.channel)
            .arg(&self.keys.secrets)
            .arg(&self.keys.owner_tokens);
        for (field, value) in record::fields(record)? {
            invocation.arg(field).arg(value);
        }
        invocation
            .invoke_async::<()>(&mut self.conn.clone())
            .await
            .map_err(redis_error)
    }
}
