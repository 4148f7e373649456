//! A coarse wall clock for cache freshness: one relaxed atomic load on every cache hit
//! instead of a read of the system clock, which costs about a tenth of a hit's own time
//! (the figures are in BENCHMARKS.md, "The coarse clock").
//!
//! A thread, started with the first verifier, stores the time every [`TICK`] while the
//! clock is being read. After [`IDLE_TICKS`] ticks without a read it stops, parks, and
//! reads fall back to the system clock until the first of them wakes it again: a process
//! that serves no requests is not woken a hundred times a second.
//!
//! Freshness (the cache's time-to-live) is measured with it, so an entry may be served up
//! to one tick past its time-to-live. Token expiry and rotation grace never use it: they
//! are checked against the precise clock. Without the thread (it could not be spawned),
//! every read is precise.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Once, OnceLock};
use std::thread::Thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How often the coarse clock is updated while it is read.
pub(crate) const TICK: Duration = Duration::from_millis(10);

/// After this many ticks without a read (one second), the thread parks.
const IDLE_TICKS: u32 = 100;

/// The clock's state, on one cache line: what every hit reads.
#[repr(align(64))]
struct Clock {
    /// Milliseconds since the Unix epoch as of the last tick; 0 while the thread is not
    /// ticking (not started yet, parked, or never spawned).
    ms: AtomicU64,
    /// Whether the clock was read since the last tick.
    read: AtomicBool,
    /// The ticking thread, to wake it.
    thread: OnceLock<Thread>,
}

impl Clock {
    const fn new() -> Self {
        Self {
            ms: AtomicU64::new(0),
            read: AtomicBool::new(false),
            thread: OnceLock::new(),
        }
    }

    #[inline]
    fn now_ms(&self) -> u64 {
        let ms = self.ms.load(Ordering::Relaxed);
        if ms == 0 {
            return self.wake();
        }
        // A store once a tick at most, by the first reader after it.
        if !self.read.load(Ordering::Relaxed) {
            self.read.store(true, Ordering::Relaxed);
        }
        ms
    }

    /// The precise time, waking the thread if it parked.
    #[cold]
    fn wake(&self) -> u64 {
        if let Some(thread) = self.thread.get() {
            thread.unpark();
        }
        precise_ms()
    }

    /// The ticking thread's loop.
    fn tick(&self, idle_ticks: u32) -> ! {
        let mut idle = 0;
        loop {
            self.ms.store(precise_ms(), Ordering::Relaxed);
            std::thread::sleep(TICK);
            idle = if self.read.swap(false, Ordering::Relaxed) {
                0
            } else {
                idle + 1
            };
            if idle >= idle_ticks {
                self.ms.store(0, Ordering::Relaxed);
                // A reader that saw 0 unparks it; an unpark between the store and the
                // park makes the park return at once.
                std::thread::park();
                idle = 0;
            }
        }
    }

    /// Starts the ticking thread for this clock.
    fn start(&'static self, idle_ticks: u32) {
        self.ms.store(precise_ms(), Ordering::Relaxed);
        let spawned = std::thread::Builder::new()
            .name("tollgate-clock".into())
            .spawn(move || self.tick(idle_ticks));
        match spawned {
            Ok(handle) => {
                let _ = self.thread.set(handle.thread().clone());
            }
            Err(_) => self.ms.store(0, Ordering::Relaxed),
        }
    }
}

static CLOCK: Clock = Clock::new();
static START: Once = Once::new();

fn precise_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Starts the ticking thread, once per process.
pub(crate) fn start() {
    START.call_once(|| CLOCK.start(IDLE_TICKS));
}

/// The time in milliseconds since the Unix epoch, at most about one tick old.
#[inline]
pub(crate) fn coarse_ms() -> u64 {
    CLOCK.now_ms()
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

    #[test]
    fn an_unread_clock_parks_and_a_read_wakes_it() {
        // A clock of its own: the process's is read by every other test.
        let clock: &'static Clock = Box::leak(Box::new(Clock::new()));
        clock.start(3);
        assert_ne!(clock.now_ms(), 0);
        let parked = || clock.ms.load(Ordering::Relaxed) == 0;
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !parked() {
            assert!(std::time::Instant::now() < deadline, "never parked");
            std::thread::sleep(TICK);
        }
        // Parked: a read is precise, and wakes the thread, which ticks again.
        let before = precise_ms();
        let read = clock.now_ms();
        assert!(read >= before && read <= precise_ms());
        while parked() {
            assert!(std::time::Instant::now() < deadline, "a read did not wake it");
            std::thread::yield_now();
        }
        assert!(clock.now_ms() >= before);
    }

    #[test]
    fn the_process_clock_ticks_once_started() {
        start();
        coarse_ms();
        assert!(CLOCK.thread.get().is_some(), "a ticking thread was started");
        // Read, it ticks: its time is the coarse one, not 0 (the parked clock's mark).
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while CLOCK.ms.load(Ordering::Relaxed) == 0 {
            assert!(std::time::Instant::now() < deadline, "never ticked");
            coarse_ms();
            std::thread::sleep(TICK);
        }
    }

    #[test]
    fn a_clock_that_is_read_keeps_ticking() {
        // Parks after 50 ticks (half a second, room for a busy machine to schedule this
        // thread) without a read; read every half tick for a second and a half.
        let clock: &'static Clock = Box::leak(Box::new(Clock::new()));
        clock.start(50);
        let mut ticks = std::collections::BTreeSet::new();
        for _ in 0..300 {
            let ms = clock.ms.load(Ordering::Relaxed);
            assert_ne!(ms, 0, "parked while read, after {} ticks", ticks.len());
            ticks.insert(ms);
            clock.now_ms();
            std::thread::sleep(TICK / 2);
        }
        assert!(ticks.len() > 50, "it ticked: {} distinct times", ticks.len());
    }
}
