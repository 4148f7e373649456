//! GCRA, the generic cell rate algorithm, over one atomic: a [`Bucket`] is the theoretical
//! arrival time of the next request at the steady rate. A request is allowed when that time
//! is less than `burst` intervals ahead of now; each allowed request moves it one interval
//! on. So a bucket is a single number, the time at which it is full again, and a bucket
//! whose time has passed is the same as no bucket at all: it can be forgotten.
//!
//! Written here rather than taken from `governor`: governor's keyed limiters hold one quota
//! for every key, and each token and owner here carries its own.

use std::sync::atomic::{AtomicU64, Ordering};

use super::rate::RateLimit;

/// The mark of a bucket the sweep forgot (it was full): a request that holds it takes a
/// fresh one from the map instead. Never a real time (it is in the year 2554).
const RETIRED: u64 = u64::MAX;

/// What a limit says of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Quota {
    /// Whether the request may go on.
    pub(crate) allowed: bool,
    /// How many more requests may be sent now without a refusal.
    pub(crate) remaining: u32,
    /// Nanoseconds until the next request is allowed: 0 when `remaining` is not.
    pub(crate) wait_ns: u64,
}

impl Quota {
    /// `wait_ns` in whole seconds, rounded up: a client that waits as told is allowed.
    pub(crate) fn wait_secs(&self) -> u64 {
        self.wait_ns.div_ceil(1_000_000_000)
    }
}

/// A [`RateLimit`] as GCRA reads it, in nanoseconds: worked out once, when a cache entry
/// is filled, so that a request does no division for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cell {
    /// The time between two requests at the steady rate (the emission interval).
    pub(crate) interval: u64,
    /// How far ahead of now the arrival time may be: `burst` intervals.
    tolerance: u64,
}

impl Cell {
    pub(crate) fn of(limit: &RateLimit) -> Self {
        let interval = limit.interval_ns();
        Self {
            interval,
            tolerance: interval.saturating_mul(u64::from(limit.burst())),
        }
    }
}

/// One step of GCRA for a request at `now`: the new arrival time when the request is
/// allowed, and what the limit says. Every time is in nanoseconds on one clock.
pub(crate) fn step(tat: u64, now: u64, cell: &Cell) -> (Option<u64>, Quota) {
    let Cell { interval, tolerance } = *cell;
    let next = tat.max(now).saturating_add(interval);
    let ahead = next - now;
    if ahead <= tolerance {
        let quota = Quota {
            allowed: true,
            remaining: u32::try_from((tolerance - ahead) / interval).unwrap_or(u32::MAX),
            // The request after this one is allowed once `next + interval` is within the
            // tolerance: at once while a slot remains.
            wait_ns: (ahead + interval).saturating_sub(tolerance),
        };
        (Some(next), quota)
    } else {
        let quota = Quota {
            allowed: false,
            remaining: 0,
            wait_ns: ahead - tolerance,
        };
        (None, quota)
    }
}

/// One limit's state: the theoretical arrival time, in nanoseconds since the Unix epoch.
#[derive(Debug)]
pub(crate) struct Bucket {
    tat: AtomicU64,
}

impl Bucket {
    /// A full bucket.
    pub(crate) fn new() -> Self {
        Self { tat: AtomicU64::new(0) }
    }

    /// Takes a slot for a request at `now`, if `limit` allows one; `None` when the bucket
    /// was retired and a fresh one must be taken from the map.
    pub(crate) fn take(&self, now: u64, cell: &Cell) -> Option<Quota> {
        let mut tat = self.tat.load(Ordering::Relaxed);
        loop {
            if tat == RETIRED {
                return None;
            }
            let (next, quota) = step(tat, now, cell);
            let Some(next) = next else { return Some(quota) };
            match self
                .tat
                .compare_exchange_weak(tat, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Some(quota),
                Err(actual) => tat = actual,
            }
        }
    }

    /// What `limit` would say of a request at `now`, taking nothing: `remaining` counts
    /// that request.
    pub(crate) fn peek(&self, now: u64, cell: &Cell) -> Quota {
        let tat = self.tat.load(Ordering::Relaxed);
        let tat = if tat == RETIRED { 0 } else { tat };
        match step(tat, now, cell) {
            (Some(_), quota) => Quota {
                remaining: quota.remaining.saturating_add(1),
                wait_ns: 0,
                ..quota
            },
            (None, quota) => quota,
        }
    }

    /// Gives back the slot a request took, when another limit refused that request.
    pub(crate) fn give_back(&self, cell: &Cell) {
        let interval = cell.interval;
        let _ = self.tat.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |tat| {
            (tat != RETIRED).then(|| tat.saturating_sub(interval))
        });
    }

    /// Retires the bucket if it is full at `now` (or already retired): then it may be
    /// forgotten, and a request that still holds it takes a fresh one.
    pub(crate) fn retire_if_full(&self, now: u64) -> bool {
        let tat = self.tat.load(Ordering::Relaxed);
        tat == RETIRED
            || (tat <= now
                && self
                    .tat
                    .compare_exchange(tat, RETIRED, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok())
    }

    /// Brings a retired bucket back, full.
    pub(crate) fn revive(&self) {
        let _ = self
            .tat
            .compare_exchange(RETIRED, 0, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// Whether the sweep forgot this bucket.
    pub(crate) fn is_retired(&self) -> bool {
        self.tat.load(Ordering::Relaxed) == RETIRED
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const SEC: u64 = 1_000_000_000;

    fn ten_a_minute() -> Cell {
        Cell::of(&RateLimit::new(10, Duration::from_secs(60)).unwrap())
    }

    #[test]
    fn a_full_bucket_allows_its_burst_then_one_per_interval() {
        let limit = ten_a_minute();
        let bucket = Bucket::new();
        let now = 1_000 * SEC;
        let quotas: Vec<Quota> = (0..30).map(|_| bucket.take(now, &limit).unwrap()).collect();
        assert_eq!(quotas.iter().filter(|q| q.allowed).count(), 10);
        assert!(quotas[..10].iter().all(|q| q.allowed));
        assert_eq!(quotas[0].remaining, 9);
        assert_eq!(
            quotas[8],
            Quota {
                allowed: true,
                remaining: 1,
                wait_ns: 0
            }
        );
        // The tenth empties it: the next slot comes one interval (6 s) later.
        assert_eq!(
            quotas[9],
            Quota {
                allowed: true,
                remaining: 0,
                wait_ns: 6 * SEC
            }
        );
        assert_eq!(
            quotas[10],
            Quota {
                allowed: false,
                remaining: 0,
                wait_ns: 6 * SEC
            }
        );
        // Just before the interval, still refused; at it, exactly one.
        assert!(!bucket.take(now + 6 * SEC - 1, &limit).unwrap().allowed);
        let one = bucket.take(now + 6 * SEC, &limit).unwrap();
        assert_eq!(
            one,
            Quota {
                allowed: true,
                remaining: 0,
                wait_ns: 6 * SEC
            }
        );
        assert!(!bucket.take(now + 6 * SEC, &limit).unwrap().allowed);
    }

    #[test]
    fn a_smaller_burst_spreads_the_limit() {
        let limit = Cell::of(
            &RateLimit::new(10, Duration::from_secs(60))
                .unwrap()
                .with_burst(2)
                .unwrap(),
        );
        let bucket = Bucket::new();
        let allowed = (0..5).filter(|_| bucket.take(0, &limit).unwrap().allowed).count();
        assert_eq!(allowed, 2);
        assert_eq!(bucket.peek(0, &limit).wait_secs(), 6);
        assert_eq!(bucket.peek(12 * SEC, &limit).remaining, 2, "two intervals refill both");
    }

    #[test]
    fn peeking_takes_nothing_and_giving_back_returns_one_slot() {
        let limit = ten_a_minute();
        let bucket = Bucket::new();
        assert_eq!(
            bucket.peek(0, &limit),
            Quota {
                allowed: true,
                remaining: 10,
                wait_ns: 0
            }
        );
        for _ in 0..10 {
            bucket.take(0, &limit).unwrap();
        }
        assert_eq!(
            bucket.peek(0, &limit),
            Quota {
                allowed: false,
                remaining: 0,
                wait_ns: 6 * SEC
            }
        );
        bucket.give_back(&limit);
        // One slot left: a request may come now, so nothing to wait for (taking it would
        // leave 6 s to wait for the next).
        assert_eq!(
            bucket.peek(0, &limit),
            Quota {
                allowed: true,
                remaining: 1,
                wait_ns: 0
            }
        );
    }

    #[test]
    fn only_a_full_bucket_retires_and_a_retired_one_takes_nothing() {
        let limit = ten_a_minute();
        let bucket = Bucket::new();
        bucket.take(100 * SEC, &limit).unwrap();
        assert!(!bucket.retire_if_full(100 * SEC + 5 * SEC), "one slot is still out");
        assert!(bucket.retire_if_full(100 * SEC + 6 * SEC));
        assert!(bucket.is_retired());
        assert_eq!(bucket.take(200 * SEC, &limit), None);
        bucket.give_back(&limit);
        assert!(bucket.is_retired(), "giving back does not revive it");
    }

    #[test]
    fn wait_rounds_up_to_whole_seconds() {
        let quota = |wait_ns| Quota {
            allowed: false,
            remaining: 0,
            wait_ns,
        };
        assert_eq!(quota(0).wait_secs(), 0);
        assert_eq!(quota(1).wait_secs(), 1);
        assert_eq!(quota(SEC).wait_secs(), 1);
        assert_eq!(quota(SEC + 1).wait_secs(), 2);
    }
}
