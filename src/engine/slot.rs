//! Writer slots: which part of a series a recording thread writes.
//!
//! A series is split into a bounded number of *stripes* (see `shard.rs`),
//! whatever the number of threads:
//!
//! * [`exclusive_slots`] stripes, each owned by one thread at a time. A
//!   thread claims the lowest free one the first time it records and gives
//!   it back when it exits. While it holds slot `i` it is the only writer of
//!   stripe `i` of every series, so recording is a plain relaxed load and
//!   store ([`add_exclusive`](super::sync::add_exclusive)): no locked
//!   instruction, no cache line shared with another writer. The claim
//!   (`Acquire`) and the release (`Release`) order one owner's writes before
//!   the next owner's, so a slot handed from an exited thread to a new one
//!   loses nothing.
//! * [`shared_stripes`] stripes for every other thread (and for threads
//!   whose thread-locals are already torn down), written with `fetch_add`.
//!   A value goes to the stripe of the CPU the thread runs on
//!   ([`shared_index`]), so threads running at the same moment write
//!   different lines: more threads than cores cost time-slicing, not
//!   contention. Exact whichever stripe a moved thread picks.
//!
//! The number of exclusive slots follows the machine: the available
//! parallelism, at least 4 (a main thread and a few workers on a small
//! machine) and at most [`MAX_EXCLUSIVE`]. A tokio runtime's workers start
//! first and so own the exclusive stripes; the blocking pool's and other
//! late threads share.
//!
//! Each slot's state word also lets a reader *fold* the stripe of a slot
//! nobody holds (its thread exited) into a shared stripe and free it
//! ([`begin_fold`] / [`end_fold`]): the low bit is "held", the rest counts
//! folders. A claim only succeeds on a word that is 0 (free, no folder),
//! and a folder backs off from a held slot, so a stripe is never freed
//! while a writer can reach it.

use crate::engine::sync::{AtomicU32, AtomicU64, Ordering};

/// The most exclusive slots (and exclusive stripes per series) on any machine.
#[cfg(not(tailwatch_loom))]
pub(crate) const MAX_EXCLUSIVE: usize = 16;
/// The most shared stripes per series on any machine.
#[cfg(not(tailwatch_loom))]
pub(crate) const MAX_SHARED: usize = 8;
// Under loom, a small table keeps the model's state space small.
#[cfg(tailwatch_loom)]
pub(crate) const MAX_EXCLUSIVE: usize = 1;
#[cfg(tailwatch_loom)]
pub(crate) const MAX_SHARED: usize = 1;
/// Slot numbers: `0..MAX_EXCLUSIVE` exclusive, then the shared stripes.
pub(crate) const SLOTS: usize = MAX_EXCLUSIVE + MAX_SHARED;
/// The slot number of every thread without an exclusive slot (its stripe
/// is picked per value by [`shared_index`]).
pub(crate) const FIRST_SHARED: usize = MAX_EXCLUSIVE;

const HELD: u32 = 1;
const FOLDER: u32 = 2;

/// How many exclusive slots threads may claim on this machine.
pub(crate) fn exclusive_slots() -> usize {
    parallelism().0
}

/// How many shared stripes threads beyond the exclusive slots spread over.
pub(crate) fn shared_stripes() -> usize {
    parallelism().1
}

fn parallelism() -> (usize, usize) {
    static CACHED: std::sync::OnceLock<(usize, usize)> = std::sync::OnceLock::new();
    *CACHED.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(4, std::num::NonZero::get);
        (cores.clamp(4, MAX_EXCLUSIVE), cores.clamp(1, MAX_SHARED))
    })
}

/// Which shared stripe a value of a thread without an exclusive slot goes to.
#[cfg(not(tailwatch_loom))]
#[inline(always)]
pub(crate) fn shared_index() -> usize {
    crate::engine::cpu::current() % shared_stripes()
}

/// Under loom: the first shared stripe.
#[cfg(tailwatch_loom)]
pub(crate) fn shared_index() -> usize {
    0
}

/// Claims the lowest free slot among the first `exclusive` of `states`.
pub(crate) fn claim(states: &[AtomicU32], exclusive: usize) -> Option<usize> {
    states.iter().take(exclusive).position(|s| {
        s.load(Ordering::Relaxed) == 0
            && s.compare_exchange(0, HELD, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
    })
}

/// Gives exclusive slot `i` back and bumps `releases`, so readers look for
/// stripes to fold.
pub(crate) fn release(states: &[AtomicU32], releases: &AtomicU64, i: usize) {
    if let Some(s) = states.get(i) {
        s.fetch_sub(HELD, Ordering::Release);
        releases.fetch_add(1, Ordering::Release);
    }
}

/// Starts folding the stripe of slot `i`: true when no thread holds the
/// slot, which then cannot be claimed until [`end_fold`].
pub(crate) fn begin_fold(states: &[AtomicU32], i: usize) -> bool {
    let s = &states[i];
    if s.load(Ordering::Relaxed) & HELD != 0 {
        return false;
    }
    // Acquire: the last owner's writes (released with the slot) are visible.
    if s.fetch_add(FOLDER, Ordering::Acquire) & HELD != 0 {
        s.fetch_sub(FOLDER, Ordering::Release);
        return false;
    }
    true
}

/// Ends a fold started by a successful [`begin_fold`].
pub(crate) fn end_fold(states: &[AtomicU32], i: usize) {
    states[i].fetch_sub(FOLDER, Ordering::Release);
}

#[cfg(not(tailwatch_loom))]
mod global {
    use super::*;

    pub(crate) static STATES: [AtomicU32; MAX_EXCLUSIVE] =
        [const { AtomicU32::new(0) }; MAX_EXCLUSIVE];
    pub(crate) static RELEASES: AtomicU64 = AtomicU64::new(0);

    struct Guard(usize);

    impl Drop for Guard {
        fn drop(&mut self) {
            if self.0 < MAX_EXCLUSIVE {
                release(&STATES, &RELEASES, self.0);
            }
        }
    }

    fn claim_current() -> Guard {
        Guard(claim(&STATES, exclusive_slots()).unwrap_or(FIRST_SHARED))
    }

    thread_local! {
        static SLOT: Guard = claim_current();
    }

    /// The calling thread's slot; claims one on first use.
    #[inline(always)]
    pub(crate) fn current() -> usize {
        SLOT.try_with(|g| g.0).unwrap_or(FIRST_SHARED)
    }

    /// How many exclusive slots are held right now (for tests).
    #[cfg(test)]
    pub(crate) fn held() -> usize {
        STATES
            .iter()
            .filter(|f| f.load(Ordering::Relaxed) & HELD != 0)
            .count()
    }
}

#[cfg(not(tailwatch_loom))]
pub(crate) use global::{RELEASES, STATES, current};

/// Under loom the protocol is checked on explicit tables (see
/// `shard.rs`'s loom model); everything else takes the first shared stripe.
#[cfg(tailwatch_loom)]
pub(crate) fn current() -> usize {
    FIRST_SHARED
}
#[cfg(all(test, not(tailwatch_loom)))]
pub(crate) use global::held;

#[cfg(all(test, not(tailwatch_loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_thread_keeps_its_slot_and_gives_it_back() {
        let (mine, again) = std::thread::spawn(|| (current(), current()))
            .join()
            .unwrap();
        assert_eq!(mine, again);
        // Concurrent threads hold distinct exclusive slots (there are at least 4).
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(3));
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let b = barrier.clone();
                std::thread::spawn(move || {
                    let s = current();
                    b.wait();
                    s
                })
            })
            .collect();
        let slots: Vec<usize> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let mut exclusive: Vec<usize> = slots
            .iter()
            .copied()
            .filter(|&s| s < MAX_EXCLUSIVE)
            .collect();
        let n = exclusive.len();
        exclusive.sort_unstable();
        exclusive.dedup();
        assert_eq!(exclusive.len(), n, "two threads shared a slot: {slots:?}");
        assert!(held() <= exclusive_slots());
        assert!((4..=MAX_EXCLUSIVE).contains(&exclusive_slots()));
        assert!((1..=MAX_SHARED).contains(&shared_stripes()));
    }

    #[test]
    fn claim_stops_at_the_exclusive_count_and_skips_folded_slots() {
        let states: Vec<AtomicU32> = (0..4).map(|_| AtomicU32::new(0)).collect();
        let releases = AtomicU64::new(0);
        assert_eq!(claim(&states, 2), Some(0));
        assert_eq!(claim(&states, 2), Some(1));
        assert_eq!(claim(&states, 2), None);
        // A held slot cannot be folded; a released one can, and is not
        // claimable while folded.
        assert!(!begin_fold(&states, 0));
        release(&states, &releases, 0);
        assert_eq!(releases.load(Ordering::Relaxed), 1);
        assert!(begin_fold(&states, 0));
        assert!(begin_fold(&states, 0), "two folders may overlap");
        assert_eq!(claim(&states, 2), None);
        end_fold(&states, 0);
        end_fold(&states, 0);
        assert_eq!(claim(&states, 2), Some(0));
    }
}
