//! The two scripts that write a whole record, [`CREATE`](super::scripts::CREATE) and
//! [`REPLACE`](super::scripts::REPLACE) (what
//! [`TokenStore::replace`](crate::store::TokenStore::replace) runs: one script, so that a
//! reader sees the old record or the new one and every index agrees with it). Both take the
//! same keys and the same first and last arguments.

use redis::Script;

use super::{RedisStore, StoreError, TokenRecord, record, redis_error};

impl RedisStore {
    /// Runs `script` on `record`. KEYS: record, id index, current secret, previous secret (or
    /// ""), version counter, the owner's index (or ""). ARGV: id, channel, then `more`, then
    /// the record's fields and values.
    pub(super) async fn write_record(
        &self,
        script: &Script,
        record: &TokenRecord,
        more: &[&str],
    ) -> Result<(), StoreError> {
        let previous = record
            .previous_secret
            .as_ref()
            .map_or_else(String::new, |previous| self.keys.secret(&previous.hash));
        let owned = record
            .owner
            .as_deref()
            .map_or_else(String::new, |owner| self.keys.owner_tokens(owner));
        let mut invocation = script.key(self.keys.record(&record.id));
        invocation
            .key(&self.keys.ids)
            .key(self.keys.secret(&record.secret_hash))
            .key(previous)
            .key(&self.keys.versions)
            .key(owned)
            .arg(&record.id)
            .arg(&self.keys.channel);
        for arg in more {
            invocation.arg(*arg);
        }
        for (field, value) in record::fields(record)? {
            invocation.arg(field).arg(value);
        }
        invocation
            .invoke_async::<()>(&mut self.conn.clone())
            .await
            .map_err(redis_error)
    }
}
