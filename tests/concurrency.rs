//! Exactness under concurrency: writers never lose a count, readers never
//! see one go backwards.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use tailwatch::{Histogram, Snapshot};

fn hammer(threads: u64, per_thread: u64) {
    let h = Histogram::new();
    let start = Arc::new(Barrier::new(threads as usize + 1));
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (h, done) = (h.clone(), done.clone());
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
                let _ = h.stats(); // window reads and rotations concurrently too
                reads += 1;
            }
            reads
        })
    };
    let writers: Vec<_> = (0..threads)
        .map(|t| {
            let (h, start) = (h.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                for i in 0..per_thread {
                    // Integer nanoseconds spread over ~4 decades.
                    h.record(1_000 + (i * 7919 + t) % 10_000_000);
                }
            })
        })
        .collect();
    start.wait();
    for w in writers {
        w.join().unwrap();
    }
    done.store(true, Ordering::Release);
    let reads = reader.join().unwrap();
    assert!(reads > 0);

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
fn eight_threads_a_million_each_with_a_reader() {
    hammer(8, 1_000_000);
}

#[test]
fn more_threads_than_exclusive_slots_share_exactly() {
    // 80 writers: 64 exclusive slots at most, the rest share one shard
    // with atomic adds. Still exact.
    hammer(80, 20_000);
}

#[test]
fn slots_handed_between_short_lived_threads_lose_nothing() {
    let h = Histogram::new();
    for round in 0..200_u64 {
        let h = h.clone();
        thread::spawn(move || {
            for i in 0..100 {
                h.record(round * 100 + i);
            }
        })
        .join()
        .unwrap();
    }
    assert_eq!(h.stats().total_count, 20_000);
    assert_eq!(h.stats().total_sum, (0..20_000_u128).sum::<u128>());
}
