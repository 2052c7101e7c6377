//! [`Counter`] and [`Gauge`]: integer counts sharded like histograms.
//!
//! Each thread adds to its own cell (its exclusive slot, `slot.rs`) or to
//! a shared one with `fetch_add`; readers sum the cells. An in-flight gauge incremented on one thread and
//! decremented on another is still exact: the sum of all cells is. Cells
//! are allocated (128 bytes each) the first time a slot touches the
//! counter: at most 24 per counter (6 on a 2-core machine), whatever the
//! number of threads, and kept (a slot's next owner continues its cell).

use crate::engine::lazy::LazyBox;
use crate::engine::slot::{self, MAX_EXCLUSIVE, SLOTS};
use crate::engine::sync::{AtomicU64, Ordering, add_exclusive};

/// One thread's part, on its own cache line.
#[repr(align(128))]
struct Cell(AtomicU64);

/// Wrapping u64 cells; the sum is exact modulo 2^64.
struct Cells([LazyBox<Cell>; SLOTS]);

impl Cells {
    fn new() -> Self {
        Self(std::array::from_fn(|_| LazyBox::new()))
    }

    #[inline]
    fn add(&self, n: u64) {
        let slot = slot::current();
        let new = || Box::new(Cell(AtomicU64::new(0)));
        if slot < MAX_EXCLUSIVE {
            add_exclusive(&self.0[slot].get_or_init(new).0, n);
        } else {
            let i = MAX_EXCLUSIVE + slot::shared_index();
            self.0[i.min(SLOTS - 1)]
                .get_or_init(new)
                .0
                .fetch_add(n, Ordering::Relaxed);
        }
    }

    fn sum(&self) -> u64 {
        self.0
            .iter()
            .filter_map(LazyBox::get)
            .fold(0_u64, |acc, c| {
                acc.wrapping_add(c.0.load(Ordering::Relaxed))
            })
    }
}

/// `new`, `Default` and `Debug` (with the value) for a handle over `Cells`.
macro_rules! common {
    ($t:ident, $doc:literal) => {
        impl $t {
            #[doc = $doc]
            pub fn new() -> Self {
                Self(std::sync::Arc::new(Cells::new()))
            }
        }

        impl Default for $t {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_tuple(stringify!($t)).field(&self.value()).finish()
            }
        }
    };
}

/// A monotonic count (requests, cache hits, errors); cheap to clone.
///
/// ```
/// use tailwatch::engine::Counter;
/// let hits = Counter::new();
/// hits.add(2);
/// hits.increment();
/// assert_eq!(hits.value(), 3);
/// ```
#[derive(Clone)]
pub struct Counter(std::sync::Arc<Cells>);

common!(Counter, "A counter at zero.");

impl Counter {
    /// Adds 1.
    #[inline]
    pub fn increment(&self) {
        self.0.add(1);
    }

    /// Adds `n`.
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.add(n);
    }

    /// The total (wraps after 2^64, as Prometheus counters may).
    pub fn value(&self) -> u64 {
        self.0.sum()
    }
}

/// A count that goes up and down (in-flight requests, queue depth); cheap
/// to clone.
///
/// ```
/// use tailwatch::engine::Gauge;
/// let in_flight = Gauge::new();
/// in_flight.increment();
/// in_flight.increment();
/// in_flight.decrement();
/// assert_eq!(in_flight.value(), 1);
/// ```
#[derive(Clone)]
pub struct Gauge(std::sync::Arc<Cells>);

common!(Gauge, "A gauge at zero.");

impl Gauge {
    /// Adds 1.
    #[inline]
    pub fn increment(&self) {
        self.0.add(1);
    }

    /// Subtracts 1.
    #[inline]
    pub fn decrement(&self) {
        self.0.add(u64::MAX); // −1 in two's complement
    }

    /// Adds `n` (negative to subtract).
    #[inline]
    pub fn add(&self, n: i64) {
        self.0.add(n as u64);
    }

    /// The current value.
    pub fn value(&self) -> i64 {
        self.0.sum() as i64
    }

    /// Sets the value, for a gauge with one writer (a sampler): it adds
    /// the difference, so an `add` racing with it from another thread may
    /// be overwritten.
    pub fn set(&self, value: i64) {
        self.add(value.wrapping_sub(self.value()));
    }
}

/// A sampled floating-point value (CPU seconds, a ratio): set by one
/// writer, read by the exposition. Cheap to clone.
///
/// ```
/// let cpu = tailwatch::engine::Value::new();
/// cpu.set(1.25);
/// assert_eq!(cpu.get(), 1.25);
/// ```
#[derive(Clone, Default)]
pub struct Value(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl Value {
    /// A value at 0.0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets it.
    pub fn set(&self, v: f64) {
        self.0
            .store(v.to_bits(), std::sync::atomic::Ordering::Relaxed);
    }

    /// Adds `delta` (negative to subtract); exact under concurrent adds.
    pub fn add(&self, delta: f64) {
        use std::sync::atomic::Ordering::Relaxed;
        let _ = self.0.fetch_update(Relaxed, Relaxed, |bits| {
            Some((f64::from_bits(bits) + delta).to_bits())
        });
    }

    /// Reads it.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(std::sync::atomic::Ordering::Relaxed))
    }
}

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Value").field(&self.get()).finish()
    }
}

#[cfg(all(test, not(tailwatch_loom)))]
mod tests {
    use super::*;

    #[test]
    fn gauge_up_on_one_thread_down_on_another_is_exact() {
        let g = Gauge::new();
        let up = {
            let g = g.clone();
            std::thread::spawn(move || (0..10_000).for_each(|_| g.increment()))
        };
        up.join().unwrap();
        assert_eq!(g.value(), 10_000);
        let down = {
            let g = g.clone();
            std::thread::spawn(move || (0..10_000).for_each(|_| g.decrement()))
        };
        down.join().unwrap();
        assert_eq!(g.value(), 0);
        g.add(-5);
        assert_eq!(g.value(), -5);
    }

    #[test]
    fn counter_sums_threads() {
        let c = Counter::new();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || (0..1000).for_each(|_| c.add(3)))
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(c.value(), 12_000);
    }
}
