//! The process-wide upkeep thread: rotates every live system-clock
//! histogram's window on time, so a window nobody reads still slides.
//!
//! Histograms register a weak reference when they are built; the thread
//! wakes every `min(1 s, shortest slice / 2)`, drops dead entries and
//! rotates the others. Rotation is the readers' work (it takes the
//! histogram's reader lock, never anything writers touch). Histograms with
//! another clock (a [`ManualClock`](crate::engine::ManualClock)) are left to the
//! code that moves that clock.
//!
//! If the thread cannot be spawned, windows still rotate whenever they are
//! read; the only effect is the one documented in `window.rs`.

use crate::engine::lock::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Once, Weak};
use std::time::Duration;

/// Something the upkeep thread keeps rotating.
pub(crate) trait Rotate: Send + Sync {
    fn rotate(&self);
}

static LIVE: Mutex<Vec<Weak<dyn Rotate>>> = Mutex::new(Vec::new());
static SHORTEST_SLICE_NS: AtomicU64 = AtomicU64::new(u64::MAX);
static START: Once = Once::new();
/// Passes the thread has completed (tests wait for one instead of hoping).
static PASSES: AtomicU64 = AtomicU64::new(0);

/// Passes the upkeep thread has completed.
#[cfg(test)]
pub(crate) fn passes() -> u64 {
    PASSES.load(Ordering::Acquire)
}

/// Adds `item` (whose window slices are `slice_ns` long) to the upkeep list.
pub(crate) fn register(item: Weak<dyn Rotate>, slice_ns: u64) {
    SHORTEST_SLICE_NS.fetch_min(slice_ns, Ordering::Relaxed);
    LIVE.lock().push(item);
    START.call_once(|| {
        // Best effort: without the thread, reads still rotate.
        let _ = std::thread::Builder::new()
            .name("tailwatch-upkeep".into())
            .spawn(run);
    });
}

fn interval() -> Duration {
    let half_slice = SHORTEST_SLICE_NS.load(Ordering::Relaxed) / 2;
    Duration::from_nanos(half_slice.clamp(1_000_000, 1_000_000_000))
}

fn run() {
    loop {
        std::thread::sleep(interval());
        let live: Vec<_> = {
            let mut list = LIVE.lock();
            list.retain(|w| w.strong_count() > 0);
            list.iter().filter_map(Weak::upgrade).collect()
        };
        for item in live {
            item.rotate();
        }
        PASSES.fetch_add(1, Ordering::Release);
    }
}
