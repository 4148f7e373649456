//! The names of a [`RedisStore`](super::RedisStore)'s keys under its prefix; the layout
//! they make is documented on the store.

use crate::hash::SecretHash;

/// The key names under one prefix.
pub(super) struct Keys {
    pub(super) prefix: String,
    /// Every id.
    pub(super) ids: String,
    /// The counter every write of a record draws its new version from.
    pub(super) versions: String,
    /// The layout version of the keys (`schema.rs`).
    pub(super) schema: String,
    /// The channel changes are published on.
    pub(super) channel: String,
    /// The fingerprint of the pepper the store's secrets are hashed under.
    pub(super) pepper: String,
    /// Records' keys, before the id.
    pub(super) records: String,
    /// The secret index's keys, before the hash.
    pub(super) secrets: String,
    /// Owners' settings' keys, before the owner.
    pub(super) owners: String,
    /// Owners' indexes' keys (the ids of each owner's tokens), before the owner.
    pub(super) owner_tokens: String,
}

impl Keys {
    pub(super) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
            ids: format!("{prefix}ids"),
            versions: format!("{prefix}versions"),
            schema: format!("{prefix}schema"),
            channel: format!("{prefix}changes"),
            pepper: format!("{prefix}pepper"),
            records: format!("{prefix}t:"),
            secrets: format!("{prefix}s:"),
            owners: format!("{prefix}o:"),
            // The start of no other key of the store, nor of a shared rate limit's (`token:`,
            // `owner:`) should one be given the same prefix (`RateLimits::redis_builder`).
            owner_tokens: format!("{prefix}ot:"),
        }
    }

    pub(super) fn owner(&self, owner: &str) -> String {
        format!("{}{owner}", self.owners)
    }

    pub(super) fn owner_tokens(&self, owner: &str) -> String {
        format!("{}{owner}", self.owner_tokens)
    }

    pub(super) fn record(&self, id: &str) -> String {
        format!("{}{id}", self.records)
    }

    pub(super) fn secret(&self, hash: &SecretHash) -> String {
        format!("{}{}", self.secrets, hash.to_hex())
    }
}
