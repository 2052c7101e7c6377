//! The atomics of the recording protocol, swapped for loom's under
//! `--cfg tailwatch_loom` so that `loom` can check every interleaving
//! (see `slot.rs` tests; run with `RUSTFLAGS="--cfg tailwatch_loom" cargo test -p tailwatch --lib loom`).

#[cfg(tailwatch_loom)]
pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64};
#[cfg(not(tailwatch_loom))]
pub(crate) use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64};

pub(crate) use std::sync::atomic::Ordering;

/// Adds `n` to a counter that only the calling thread ever writes.
///
/// A relaxed load and store instead of a `fetch_add`: no locked
/// instruction, no cache-line ownership request. Correct because the
/// caller holds the exclusive [`slot`](super::slot) of the counter's shard;
/// readers only load. Wraps on overflow (2^64 events) instead of panicking.
#[inline(always)]
pub(crate) fn add_exclusive(counter: &AtomicU64, n: u64) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(n),
        Ordering::Relaxed,
    );
}

/// Adds 1 to a 32-bit counter that only the calling thread writes, as
/// [`add_exclusive`]; false (and nothing added) when it is full, so the
/// caller counts the value elsewhere instead of wrapping.
#[inline(always)]
pub(crate) fn increment_exclusive(counter: &AtomicU32) -> bool {
    let n = counter.load(Ordering::Relaxed);
    if n == u32::MAX {
        return false;
    }
    counter.store(n + 1, Ordering::Relaxed);
    true
}
