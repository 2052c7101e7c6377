//! Two threads running the same work from a common start, for the
//! benchmarks that measure scaling (2 threads vs 1).

use std::sync::Barrier;
use std::time::{Duration, Instant};

/// Two threads each run `f(i)` for `warm` untimed values of `i`, wait for
/// each other, then `iters` timed ones, all inside `within` (e.g. with a
/// thread-local `metrics` recorder set); returns the slower thread's time.
pub fn two_in<F, W>(iters: u64, warm: usize, within: W, f: F) -> Duration
where
    F: Fn(usize) + Sync,
    W: Fn(&mut dyn FnMut() -> Duration) -> Duration + Sync,
{
    let barrier = Barrier::new(2);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|t| {
                let (f, barrier, within) = (&f, &barrier, &within);
                scope.spawn(move || {
                    within(&mut || {
                        for i in 0..warm {
                            f(i);
                        }
                        barrier.wait();
                        let start = Instant::now();
                        for i in 0..iters as usize {
                            f(i.wrapping_mul(31).wrapping_add(t));
                        }
                        start.elapsed()
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .max()
            .unwrap()
    })
}

/// [`two_in`] without a wrapper.
pub fn two<F: Fn(usize) + Sync>(iters: u64, warm: usize, f: F) -> Duration {
    two_in(iters, warm, |run| run(), f)
}
