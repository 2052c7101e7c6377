//! A sampler closure that panics on every run: its first panic reaches the
//! process's panic hook, later ones do not (they are counted in
//! `tailwatch_sampler_panics_total{sampler}`), and a panic elsewhere still
//! does. Its own binary: it installs a panic hook.
//!
//! Run with: `cargo test --test sampler_panics`

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tailwatch::Monitor;

fn panics_counted(m: &Monitor) -> u64 {
    m.registry()
        .counters()
        .into_iter()
        .find(|(id, _)| {
            id.name() == tailwatch::saturation::SAMPLER_PANICS
                && id.labels().any(|(k, v)| k == "sampler" && v == "sample#0")
        })
        .map_or(0, |(_, c)| c.value())
}

#[test]
fn a_sampler_that_panics_every_run_is_printed_once_and_counted() {
    let printed = Arc::new(AtomicUsize::new(0));
    let counter = printed.clone();
    std::panic::set_hook(Box::new(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    }));
    let m = Monitor::builder()
        .sample_interval(Duration::from_millis(10))
        .build()
        .unwrap();
    m.sample(|| panic!("the pool is gone"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while panics_counted(&m) < 5 {
        assert!(Instant::now() < deadline, "the sampler never ran 5 times");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        printed.load(Ordering::SeqCst),
        1,
        "only the first panic is printed"
    );
    // A panic elsewhere (this thread) still reaches the hook.
    let _ = std::panic::catch_unwind(|| panic!("elsewhere"));
    assert_eq!(printed.load(Ordering::SeqCst), 2);
}
