//! The store's own settings, a key each: the pepper fingerprint (`<prefix>pepper`).

use super::{RedisStore, StoreError, redis_error};

impl RedisStore {
    pub(super) async fn read_pepper(&self) -> Result<Option<String>, StoreError> {
        redis::cmd("GET")
            .arg(&self.keys.pepper)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)
    }

    /// `SET NX` records it unless another process did first; the `GET` after reads which.
    pub(super) async fn claim_pepper(&self, fingerprint: &str) -> Result<Option<String>, StoreError> {
        redis::cmd("SET")
            .arg(&self.keys.pepper)
            .arg(fingerprint)
            .arg("NX")
            .exec_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        self.read_pepper().await
    }
}
