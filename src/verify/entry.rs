//! What the verifier caches per token, and the checks every request runs against it.

use std::sync::Arc;
use std::time::SystemTime;

use crate::{Principal, SecretHash, TokenRecord, TokenStatus};

use super::InvalidReason;

/// A token as the cache holds it: the principal to hand out, and what must be checked on
/// every request, hits included (secret, status, expiry).
pub(crate) struct Entry {
    pub(crate) id: Arc<str>,
    principal: Principal,
    active: bool,
    expires_at: Option<SystemTime>,
    hash: SecretHash,
    previous: Option<(SecretHash, SystemTime)>,
}

impl Entry {
    pub(crate) fn from_record(record: &TokenRecord) -> Self {
        Self {
            id: Arc::from(record.id.as_str()),
            principal: Principal::from_record(record),
            active: record.status == TokenStatus::Active,
            expires_at: record.expires_at.map(SystemTime::from),
            hash: record.secret_hash,
            previous: record
                .previous_secret
                .as_ref()
                .map(|prev| (prev.hash, SystemTime::from(prev.valid_until))),
        }
    }

    /// Decides one request: the presented secret's hash must match (both comparisons run,
    /// in constant time), then the token must be active and not yet expired at `now`.
    pub(crate) fn check(&self, presented: &SecretHash, now: SystemTime) -> Result<Principal, InvalidReason> {
        let current = self.hash == *presented;
        let previous = self
            .previous
            .as_ref()
            .is_some_and(|(hash, until)| (*hash == *presented) & (now < *until));
        if !(current | previous) {
            Err(InvalidReason::WrongSecret)
        } else if !self.active {
            Err(InvalidReason::Inactive)
        } else if self.expires_at.is_some_and(|exp| now >= exp) {
            Err(InvalidReason::Expired)
        } else {
            Ok(self.principal.clone())
        }
    }
}
