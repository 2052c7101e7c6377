//! Where time comes from, so that windows can be driven by tests.
//!
//! The engine asks a [`Clock`] for "now" only when it reads or rotates a
//! window, never when it records. [`SystemClock`] is the monotonic clock of
//! the process; [`ManualClock`] moves only when a test moves it.

use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// A monotonic source of time in nanoseconds since an arbitrary origin.
pub trait Clock: Send + Sync + Debug + 'static {
    /// Nanoseconds since this clock's origin; never decreases.
    fn now_ns(&self) -> u64;
}

/// The process's monotonic clock (`CLOCK_MONOTONIC` on Linux, else
/// [`Instant`](std::time::Instant)), origin at first use.
///
/// ```
/// use tailwatch::{engine::Clock, engine::SystemClock};
/// let a = SystemClock.now_ns();
/// assert!(SystemClock.now_ns() >= a);
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[cfg(target_os = "linux")]
    fn now_ns(&self) -> u64 {
        monotonic_ns(rustix::time::ClockId::Monotonic).saturating_sub(origin_ns())
    }

    #[cfg(not(target_os = "linux"))]
    fn now_ns(&self) -> u64 {
        static ORIGIN: OnceLock<std::time::Instant> = OnceLock::new();
        let elapsed = ORIGIN.get_or_init(std::time::Instant::now).elapsed();
        u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
    }
}

#[cfg(target_os = "linux")]
fn monotonic_ns(clock: rustix::time::ClockId) -> u64 {
    let t = rustix::time::clock_gettime(clock);
    let secs = u64::try_from(t.tv_sec).unwrap_or(0);
    secs.saturating_mul(1_000_000_000)
        .saturating_add(u64::try_from(t.tv_nsec).unwrap_or(0))
}

/// `CLOCK_MONOTONIC` at the system clock's origin.
#[cfg(target_os = "linux")]
fn origin_ns() -> u64 {
    static ORIGIN: OnceLock<u64> = OnceLock::new();
    *ORIGIN.get_or_init(|| monotonic_ns(rustix::time::ClockId::Monotonic))
}

impl SystemClock {
    /// [`now_ns`](Clock::now_ns) as of the last clock tick (1–4 ms ago on
    /// Linux, `CLOCK_MONOTONIC_COARSE`: a few nanoseconds to read instead
    /// of a few tens), never later than `now_ns`. For times that need
    /// milliseconds, not nanoseconds: when an exemplar was recorded.
    #[inline]
    pub fn coarse_now_ns(&self) -> u64 {
        #[cfg(target_os = "linux")]
        {
            monotonic_ns(rustix::time::ClockId::MonotonicCoarse).saturating_sub(origin_ns())
        }
        #[cfg(not(target_os = "linux"))]
        {
            self.now_ns()
        }
    }
}

/// A clock that only moves when told to; clones share the same time.
///
/// ```
/// use std::time::Duration;
/// use tailwatch::{engine::Clock, engine::ManualClock};
/// let clock = ManualClock::new();
/// clock.advance(Duration::from_secs(10));
/// assert_eq!(clock.now_ns(), 10_000_000_000);
/// ```
#[derive(Debug, Default, Clone)]
pub struct ManualClock {
    ns: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock at time zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward by `by` (saturating at `u64::MAX` ns).
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        let _ = self
            .ns
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |t| {
                Some(t.saturating_add(by))
            });
    }
}

impl Clock for ManualClock {
    fn now_ns(&self) -> u64 {
        self.ns.load(Ordering::SeqCst)
    }
}
