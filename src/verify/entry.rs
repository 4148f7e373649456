//! What the verifier caches per token, and the checks every request runs against it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use crate::{Principal, SecretHash, TokenRecord, TokenStatus};

use super::{InvalidReason, clock};

/// A token as the cache holds it: the principal to hand out, and what must be checked on
/// every request, hits included (secret, status, expiry).
pub(crate) struct Entry {
    pub(crate) id: Arc<str>,
    principal: Principal,
    active: bool,
    expires_at: Option<SystemTime>,
    hash: SecretHash,
    previous: Option<(SecretHash, SystemTime)>,
    /// When the entry was read from the source, and when it must be read again, on the
    /// coarse clock (milliseconds since the Unix epoch).
    filled_ms: u64,
    stale_ms: u64,
    /// When the token last authenticated a request through this entry, to the second,
    /// and what of that has been reported to the store (coarse clock, milliseconds).
    last_used_ms: AtomicU64,
    reported_ms: AtomicU64,
    /// Stale mode only: when a refresh of this entry last failed (coarse clock, ms; 0 never).
    refresh_failed_ms: AtomicU64,
}

/// What a stale entry may still do, in stale mode.
pub(crate) enum Staleness {
    /// Decide requests from it: a refresh failed less than [`STALE_RETRY_MS`] ago, or
    /// another request is retrying.
    Serve,
    /// Ask the source; if it fails, fall back to this entry.
    Refresh,
    /// Past the stale window: forget it.
    Expired,
}

/// In stale mode, how long after a failed refresh requests are decided from the stale
/// entry before one of them asks the source again.
pub(crate) const STALE_RETRY_MS: u64 = 1_000;

impl Entry {
    pub(crate) fn from_record(record: &TokenRecord, ttl: Duration) -> Self {
        let filled_ms = clock::coarse_ms();
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
            filled_ms,
            stale_ms: filled_ms.saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)),
            last_used_ms: AtomicU64::new(0),
            reported_ms: AtomicU64::new(0),
            refresh_failed_ms: AtomicU64::new(0),
        }
    }

    /// Whether the entry may still be trusted at `now_ms` (coarse clock). A clock that went
    /// backwards makes it stale too, so a wall-clock step can never extend an entry's life.
    pub(crate) fn is_fresh(&self, now_ms: u64) -> bool {
        self.filled_ms <= now_ms && now_ms < self.stale_ms
    }

    /// Whether a stale entry is within `window_ms` of its freshness, as [`Entry::is_fresh`].
    fn within_window(&self, now_ms: u64, window_ms: u64) -> bool {
        self.filled_ms <= now_ms && now_ms < self.stale_ms.saturating_add(window_ms)
    }

    /// What a request may do with this entry once it is no longer fresh, in stale mode:
    /// at most one request per token per [`STALE_RETRY_MS`] waits on a failing source.
    pub(crate) fn staleness(&self, now_ms: u64, window_ms: u64) -> Staleness {
        if !self.within_window(now_ms, window_ms) {
            return Staleness::Expired;
        }
        let failed = self.refresh_failed_ms.load(Ordering::Relaxed);
        if failed == 0 {
            return Staleness::Refresh;
        }
        let retry_due = now_ms >= failed.saturating_add(STALE_RETRY_MS);
        // The request that moves the mark forward is the one that retries.
        let claimed = retry_due
            && self
                .refresh_failed_ms
                .compare_exchange(failed, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok();
        if claimed { Staleness::Refresh } else { Staleness::Serve }
    }

    /// Marks a failed refresh, if the entry is still within the stale window: requests are
    /// decided from it for the next [`STALE_RETRY_MS`].
    pub(crate) fn refresh_failed(&self, now_ms: u64, window_ms: u64) -> bool {
        let usable = self.within_window(now_ms, window_ms);
        if usable {
            self.refresh_failed_ms.store(now_ms.max(1), Ordering::Relaxed);
        }
        usable
    }

    /// Decides one request, `now_ms` being the coarse clock's reading (for `last_used`
    /// only): the presented secret's hash must match (both comparisons run,
    /// in constant time), then the token must be active and unexpired. The precise clock is
    /// read only for a token that has an expiry or a rotated secret in its grace period.
    #[inline]
    pub(crate) fn check(&self, presented: &SecretHash, now_ms: u64) -> Result<Principal, InvalidReason> {
        let now = (self.expires_at.is_some() || self.previous.is_some()).then(SystemTime::now);
        let current = self.hash == *presented;
        let previous = match (&self.previous, now) {
            (Some((hash, until)), Some(now)) => (*hash == *presented) & (now < *until),
            _ => false,
        };
        if !(current | previous) {
            Err(InvalidReason::WrongSecret)
        } else if !self.active {
            Err(InvalidReason::Inactive)
        } else if matches!((self.expires_at, now), (Some(exp), Some(now)) if now >= exp) {
            Err(InvalidReason::Expired)
        } else {
            self.touch(now_ms);
            Ok(self.principal.clone())
        }
    }

    /// Notes a use. Writes only when the second changed, so a hot token costs its cache
    /// line one write a second, not one a request.
    fn touch(&self, now: u64) {
        if self.last_used_ms.load(Ordering::Relaxed) / 1000 != now / 1000 {
            self.last_used_ms.store(now, Ordering::Relaxed);
        }
    }

    /// The last use not yet reported, marking it reported.
    pub(crate) fn take_unreported_use(&self) -> Option<u64> {
        let used = self.last_used_ms.load(Ordering::Relaxed);
        (used > self.reported_ms.swap(used, Ordering::Relaxed)).then_some(used)
    }
}
