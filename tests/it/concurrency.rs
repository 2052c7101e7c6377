//! Exactness under concurrency: writers never lose a count, readers never
//! see one go backwards, while a reader reads, rotates the window and
//! folds the stripes of exited threads (a manual clock advanced by a slice
//! on every read, so every read rotates).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use tailwatch::{Histogram, engine::ManualClock, engine::Snapshot};

/// A histogram whose window rotates on every `stats()` of [`reader`].
fn rotating() -> (Histogram, ManualClock) {
    let clock = ManualClock::new();
    let h = Histogram::builder()
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    (h, clock)
}

/// Reads until `done`, checking that count and sum never go back, and
/// rotating (so folding exited threads' stripes) on every read; counts its
/// reads in `reads`.
fn reader(
    h: Histogram,
    clock: ManualClock,
    done: Arc<AtomicBool>,
    reads_seen: Arc<AtomicU64>,
) -> thread::JoinHandle<u64> {
    thread::spawn(move || {
        let mut snap = Snapshot::default();
        let (mut last_count, mut last_sum, mut reads) = (0, 0, 0_u64);
        while !done.load(Ordering::Acquire) {
            h.cumulative(&mut snap);
            assert!(
                snap.count() >= last_count,
                "count went back: {last_count} -> {}",
                snap.count()
            );
            assert!(snap.sum() >= last_sum, "sum went back");
            (last_count, last_sum) = (snap.count(), snap.sum());
            clock.advance(Duration::from_secs(10));
            let _ = h.stats(); // window reads, rotations and folds concurrently too
            reads += 1;
            reads_seen.store(reads, Ordering::Release);
        }
        reads
    })
}

/// Waits until the reader completes a read that started after this call:
/// one read is then sure to have overlapped the writes before and after,
/// however the scheduler runs the threads.
fn wait_for_a_read(reads: &AtomicU64) {
    let before = reads.load(Ordering::Acquire);
    while reads.load(Ordering::Acquire) < before + 2 {
        thread::yield_now();
    }
}

fn hammer(threads: u64, per_thread: u64) {
    let (h, clock) = rotating();
    let start = Arc::new(Barrier::new(threads as usize + 1));
    let done = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let reader = reader(h.clone(), clock, done.clone(), reads.clone());
    let writers: Vec<_> = (0..threads)
        .map(|t| {
            let (h, start, reads) = (h.clone(), start.clone(), reads.clone());
            thread::spawn(move || {
                start.wait();
                for i in 0..per_thread {
                    // Integer nanoseconds spread over ~4 decades.
                    h.record(1_000 + (i * 7919 + t) % 10_000_000);
                    if t == 0 && i == per_thread / 2 {
                        wait_for_a_read(&reads);
                    }
                }
            })
        })
        .collect();
    start.wait();
    for w in writers {
        w.join().unwrap();
    }
    done.store(true, Ordering::Release);
    // At least the read writer 0 waited for, mid-way through its writes.
    assert!(reader.join().unwrap() >= 2);

    let mut snap = Snapshot::default();
    h.cumulative(&mut snap);
    assert_eq!(snap.count(), threads * per_thread);
    let expected_sum: u128 = (0..threads)
        .map(|t| {
            (0..per_thread)
                .map(|i| u128::from(1_000 + (i * 7919 + t) % 10_000_000))
                .sum::<u128>()
        })
        .sum();
    assert_eq!(snap.sum(), expected_sum);
}

#[test]
fn one_thread_with_a_reader() {
    hammer(1, 1_000_000);
}

#[test]
fn two_threads_with_a_reader() {
    hammer(2, 500_000);
}

#[test]
fn sixteen_threads_with_a_reader() {
    hammer(16, 100_000);
}

#[test]
fn more_threads_than_exclusive_slots_share_exactly() {
    // 80 writers: at most 16 exclusive slots, the rest share stripes with
    // atomic adds. Still exact.
    hammer(80, 20_000);
}

#[test]
fn two_hundred_threads_with_a_reader() {
    hammer(200, 5_000);
}

#[test]
fn thirty_thousand_short_lived_threads_lose_nothing_while_their_stripes_are_folded() {
    let (h, clock) = rotating();
    let done = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let reader = reader(h.clone(), clock, done.clone(), reads.clone());
    // 30,000 threads, 8 alive at a time, each recording 10 values and
    // exiting; its slot goes back and its stripe is folded while others
    // take the slot over.
    for batch in 0..3_750_u64 {
        let threads: Vec<_> = (0..8_u64)
            .map(|t| {
                let h = h.clone();
                thread::spawn(move || {
                    let base = (batch * 8 + t) * 10;
                    for i in 0..10 {
                        h.record(base + i);
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        if batch % 500 == 0 {
            // Reads (so folds) between the batches, whatever the scheduler.
            wait_for_a_read(&reads);
        }
    }
    done.store(true, Ordering::Release);
    assert!(reader.join().unwrap() >= 16);
    let stats = h.stats();
    assert_eq!(stats.total_count, 300_000);
    let mut all = tailwatch::engine::Snapshot::default();
    h.cumulative(&mut all);
    assert_eq!(all.sum(), (0..300_000_u128).sum::<u128>());
}
