//! What the verifier caches per token, and the checks every request runs against it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use super::clock;
use super::error::InvalidReason;
use super::key::IdKey;
use crate::hash::SecretHash;
use crate::limit::buckets::Buckets;
use crate::limit::{Limits, OwnerSettings};
use crate::principal::{Identified, Identity, Principal};
use crate::record::{self, TokenRecord, TokenStatus};

/// A token as the cache holds it: what must be checked on every request, hits included
/// (secret, status, expiry), and who the token authenticates as. A [`Principal`] is a
/// handle on its entry, so a hit hands the request out with one reference count.
///
/// Laid out for the hit path: everything a request reads of a token with no expiry and no
/// rotated secret (the common case) comes first, right after the `Arc`'s reference counts
/// that handing out the principal takes. The index holds only a pointer to the entry, so a
/// hit on a token that is not in the CPU's caches waits on memory once, for these two
/// cache lines (three when a 16-byte-aligned allocation starts in a line's last quarter). The rest is
/// read only when the token has a deadline, on a refresh, for the principal's fields, or
/// when reporting use.
#[repr(C)]
pub(crate) struct Entry {
    /// The id, as the index compares it.
    key: IdKey,
    hash: SecretHash,
    /// When the entry was read from the source, and when it must be read again, on the
    /// coarse clock (milliseconds since the Unix epoch).
    filled_ms: u64,
    stale_ms: u64,
    /// When the token last authenticated a request through this entry, in seconds since
    /// the Unix epoch (0 never).
    last_used_s: AtomicU32,
    active: bool,
    /// Whether the token expires or has a rotated secret in its grace period: only then is
    /// the precise clock read.
    has_deadline: bool,
    /// Whether the token is under a rate limit: read on every hit beside the other flags, so
    /// that a token without one never touches the cold `limits`.
    limited: bool,
    // Off the hit path.
    pub(crate) id: Arc<str>,
    identity: Identity,
    expires_at: Option<SystemTime>,
    previous: Option<(SecretHash, SystemTime)>,
    /// What of `last_used_s` has been reported to the store.
    reported_s: AtomicU32,
    /// Stale mode only: when a refresh of this entry last failed (coarse clock, ms; 0 never).
    refresh_failed_ms: AtomicU64,
    /// The rate limits the token is under (its own, its owner's), with handles on their
    /// state, which lives beside the cache; `None` for a token with no limit, so that its
    /// hits pay one branch.
    limits: Option<Box<Limits>>,
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
    /// The entry of a record, with no owner limit and no limit state: for tests.
    #[cfg(test)]
    pub(crate) fn from_record(record: &TokenRecord, ttl: Duration) -> Self {
        Self::new(record, &OwnerSettings::new(), ttl, &Buckets::default())
    }

    /// The entry of a record whose owner has `owner` settings: its limits take their state
    /// from `buckets`.
    pub(crate) fn new(record: &TokenRecord, owner: &OwnerSettings, ttl: Duration, buckets: &Buckets) -> Self {
        // Every field, so that one added to the record is checked, or said not to be.
        let TokenRecord {
            id,
            secret_hash,
            status,
            expires_at,
            previous_secret,
            // Who the token is: the identity's.
            name: _,
            kind: _,
            scopes: _,
            metadata: _,
            owner: _,
            // The record's history: nothing a request is decided by.
            created_at: _,
            created_by: _,
            updated_at: _,
            revoked_at: _,
            last_used_at: _,
            rate_limit,
        } = record;
        let filled_ms = clock::coarse_ms();
        let expires_at = expires_at.map(SystemTime::from);
        let previous = previous_secret
            .as_ref()
            .map(|prev| (prev.hash, SystemTime::from(prev.valid_until)));
        let id: Arc<str> = Arc::from(id.as_str());
        let owner_limit = record.owner.as_deref().zip(owner.rate_limit);
        let limits = Limits::new(&id, *rate_limit, owner_limit, buckets);
        Self {
            key: IdKey::new(&id),
            hash: *secret_hash,
            filled_ms,
            stale_ms: filled_ms.saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)),
            last_used_s: AtomicU32::new(0),
            active: *status == TokenStatus::Active,
            has_deadline: expires_at.is_some() || previous.is_some(),
            limited: limits.is_some(),
            id,
            identity: Identity::from_record(record).with_owner_rate_limit(owner_limit.map(|(_, limit)| limit)),
            expires_at,
            previous,
            reported_s: AtomicU32::new(0),
            refresh_failed_ms: AtomicU64::new(0),
            limits,
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
    pub(crate) fn check(self: &Arc<Self>, presented: &SecretHash, now_ms: u64) -> Result<Principal, InvalidReason> {
        self.accepts(presented, now_ms)
            .map(|()| Principal::from_holder(Arc::clone(self) as Arc<dyn Identified>))
    }

    /// The id, as the index compares it.
    #[inline]
    pub(crate) fn key(&self) -> &[u8] {
        self.key.as_bytes()
    }

    /// [`Entry::check`] without handing out the principal.
    #[inline]
    pub(crate) fn accepts(&self, presented: &SecretHash, now_ms: u64) -> Result<(), InvalidReason> {
        // The precise clock, for a token with a deadline only; the rules are the record's.
        let now = self.has_deadline.then(SystemTime::now);
        let previous = || self.previous.as_ref().map(|(hash, until)| (hash, until));
        if !record::secret_opens(presented, &self.hash, now.as_ref(), previous) {
            Err(InvalidReason::WrongSecret)
        } else if !self.active {
            Err(InvalidReason::Inactive)
        } else if record::expired(self.expires_at.as_ref(), now.as_ref()) {
            Err(InvalidReason::Expired)
        } else {
            self.touch(now_ms);
            Ok(())
        }
    }

    /// Notes a use. Writes only when the second changed, so a hot token costs its cache
    /// line one write a second, not one a request.
    fn touch(&self, now_ms: u64) {
        let second = u32::try_from(now_ms / 1000).unwrap_or(u32::MAX);
        if self.last_used_s.load(Ordering::Relaxed) != second {
            self.last_used_s.store(second, Ordering::Relaxed);
        }
    }

    /// The last use not yet reported (milliseconds since the Unix epoch, to the second),
    /// marking it reported.
    pub(crate) fn take_unreported_use(&self) -> Option<u64> {
        let used = self.last_used_s.load(Ordering::Relaxed);
        (used > self.reported_s.swap(used, Ordering::Relaxed)).then(|| u64::from(used) * 1000)
    }
}

// The principal a hit hands out is this entry: see `Identified`.
impl Identified for Entry {
    fn id(&self) -> &str {
        &self.id
    }

    fn identity(&self) -> &Identity {
        &self.identity
    }

    #[inline]
    fn limits(&self) -> Option<&Limits> {
        if self.limited { self.limits.as_deref() } else { None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_plain_hit_reads_comes_first() {
        // With the Arc's two counts (16 bytes) in front, at most 96 bytes: from an
        // allocation aligned to 16 bytes (glibc's), two cache lines, or three when it
        // starts in a line's last quarter.
        let hot = [
            std::mem::offset_of!(Entry, key) + std::mem::size_of::<IdKey>(),
            std::mem::offset_of!(Entry, hash) + std::mem::size_of::<SecretHash>(),
            std::mem::offset_of!(Entry, filled_ms) + 8,
            std::mem::offset_of!(Entry, stale_ms) + 8,
            std::mem::offset_of!(Entry, last_used_s) + 4,
            std::mem::offset_of!(Entry, active) + 1,
            std::mem::offset_of!(Entry, has_deadline) + 1,
        ];
        assert!(hot.iter().all(|&end| end <= 80), "{hot:?}");
    }

    // An entry's life is half-open, as a token's expiry is: fresh from its fill up to, not
    // including, the end of its time-to-live; usable in stale mode up to, not including,
    // the end of the window after that.
    #[test]
    fn freshness_and_the_stale_window_end_at_their_first_instant() {
        let record = TokenRecord::new("id", "name", crate::hash::SecretHasher::Sha256.hash(b"s"));
        let entry = Entry::from_record(&record, Duration::from_millis(1_000));
        let (filled, stale) = (entry.filled_ms, entry.stale_ms);
        assert_eq!(stale, filled + 1_000);
        assert!(entry.is_fresh(filled) && entry.is_fresh(stale - 1));
        assert!(!entry.is_fresh(stale));
        assert!(!entry.is_fresh(filled - 1), "a clock that went backwards");
        assert!(entry.within_window(stale + 499, 500));
        assert!(!entry.within_window(stale + 500, 500));
    }

    #[test]
    fn a_cached_entry_decides_every_secret_as_its_record_does() {
        use crate::hash::SecretHasher;
        use crate::record::PreviousSecret;
        use time::{Duration as Span, OffsetDateTime};

        let hasher = SecretHasher::Sha256;
        let (current, old, other) = (hasher.hash(b"current"), hasher.hash(b"old"), hasher.hash(b"other"));
        let now = OffsetDateTime::now_utc();
        let hour = Span::hours(1);
        let mut decided = 0;
        for previous in [None, Some(now + hour), Some(now - hour)] {
            for expiry in [None, Some(now + hour), Some(now - hour)] {
                for status in [TokenStatus::Active, TokenStatus::Inactive] {
                    let record = TokenRecord::new("id", "name", current)
                        .with_status(status)
                        .with_expiry(expiry)
                        .with_previous_secret(previous.map(|valid_until| PreviousSecret { hash: old, valid_until }));
                    let entry = Entry::from_record(&record, Duration::from_secs(60));
                    for presented in [current, old, other] {
                        let by_record = record.secret_matches(&presented, now) && record.is_usable_at(now);
                        let by_entry = entry.accepts(&presented, clock::coarse_ms()).is_ok();
                        assert_eq!(by_entry, by_record, "{previous:?} {expiry:?} {status:?}");
                        decided += usize::from(by_entry);
                    }
                }
            }
        }
        // An active, unexpired token (two expiry cases) opens to its current secret (three
        // previous-secret cases) and to the old one within its grace.
        assert_eq!(decided, 2 * 3 + 2);
    }
}
