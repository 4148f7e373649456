//! A coarse wall clock for cache freshness: one relaxed atomic load instead of a clock
//! read (20–25 ns here) on every cache hit.
//!
//! A thread started on first use stores the time every [`TICK`]. Freshness (the cache's
//! time-to-live) is measured with it, so an entry may be served up to one tick past its
//! time-to-live. Token expiry and rotation grace never use it: they are checked against
//! the precise clock. Without the thread (it could not be spawned), every read is
//! precise.

use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How often the coarse clock is updated.
pub(crate) const TICK: Duration = Duration::from_millis(10);

/// Milliseconds since the Unix epoch as of the last tick; 0 until the thread runs.
static COARSE_MS: AtomicU64 = AtomicU64::new(0);
static START: Once = Once::new();

fn precise_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Starts the ticking thread, once per process.
pub(crate) fn start() {
    START.call_once(|| {
        COARSE_MS.store(precise_ms(), Ordering::Relaxed);
        let spawned = std::thread::Builder::new().name("tollgate-clock".into()).spawn(|| {
            loop {
                std::thread::sleep(TICK);
                COARSE_MS.store(precise_ms(), Ordering::Relaxed);
            }
        });
        if spawned.is_err() {
            COARSE_MS.store(0, Ordering::Relaxed);
        }
    });
}

/// The time in milliseconds since the Unix epoch, at most about one tick old.
#[inline]
pub(crate) fn coarse_ms() -> u64 {
    match COARSE_MS.load(Ordering::Relaxed) {
        0 => precise_ms(),
        ms => ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_coarse_clock_follows_the_real_one() {
        start();
        let before = precise_ms();
        std::thread::sleep(TICK * 3);
        let coarse = coarse_ms();
        assert!(coarse >= before, "the clock ticked");
        assert!(coarse <= precise_ms(), "never ahead of the real clock");
    }
}
