//! Cost of measuring one call: tailwatch's `measure` around a ready future
//! against the hand-written `Instant` + `metrics::histogram!` pattern, in
//! one run.
//!
//! Run with: `cargo bench --bench measure`
//!
//! Every variant takes two clock readings: tailwatch reads `quanta`'s TSC
//! clock, the hand-written pattern `std::time::Instant` (the OS monotonic
//! clock through the vDSO); `two_quanta_reads` and `two_instant_reads` are
//! those floors alone.

use std::future::{Future, ready};
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

mod common;
use common::threads;
use tailwatch::Monitor;

/// Polls a future that is ready on its first poll.
#[inline]
fn poll_ready<F: Future>(f: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(f).poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => unreachable!("the benchmarked futures are ready"),
    }
}

fn measure(c: &mut Criterion) {
    let mut group = c.benchmark_group("measure_ready_future");
    group.throughput(Throughput::Elements(1));
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));

    group.bench_function("two_instant_reads", |b| {
        b.iter(|| {
            let start = Instant::now();
            let _ = black_box(poll_ready(ready(black_box(Ok::<u32, ()>(1)))));
            black_box(start.elapsed())
        })
    });

    group.bench_function("two_quanta_reads", |b| {
        b.iter(|| {
            let start = quanta::Instant::now();
            let _ = black_box(poll_ready(ready(black_box(Ok::<u32, ()>(1)))));
            black_box(start.elapsed())
        })
    });

    let monitor = Monitor::new();
    let op = monitor.operation("db.get_user");
    group.bench_function("tailwatch_operation_handle", |b| {
        b.iter(|| black_box(poll_ready(op.measure(ready(black_box(Ok::<u32, ()>(1)))))))
    });
    group.bench_function("tailwatch_monitor_by_name", |b| {
        b.iter(|| {
            black_box(poll_ready(monitor.measure(
                black_box("db.get_user"),
                ready(black_box(Ok::<u32, ()>(1))),
            )))
        })
    });
    group.bench_function("tailwatch_timer_sync", |b| {
        b.iter(|| {
            let t = op.start();
            black_box(black_box(1_u32) + 1);
            t.ok()
        })
    });

    // The same two through `#[tailwatch::measure]` (the global monitor).
    #[tailwatch::measure("bench.attribute_async")]
    async fn attribute_async() -> Result<u32, ()> {
        ready(black_box(Ok::<u32, ()>(1))).await
    }
    #[tailwatch::measure("bench.attribute_sync")]
    fn attribute_sync() -> u32 {
        black_box(black_box(1_u32) + 1)
    }
    // By hand, around the same async fn body the attribute wraps.
    async fn body() -> Result<u32, ()> {
        ready(black_box(Ok::<u32, ()>(1))).await
    }
    group.bench_function("tailwatch_operation_handle_async_fn", |b| {
        b.iter(|| black_box(poll_ready(op.measure(body()))))
    });
    group.bench_function("tailwatch_attribute_async", |b| {
        b.iter(|| black_box(poll_ready(attribute_async())))
    });
    group.bench_function("tailwatch_attribute_sync", |b| {
        b.iter(|| black_box(attribute_sync()))
    });

    // The pattern people write by hand with the `metrics` facade.
    fn by_hand() -> Result<u32, ()> {
        let start = Instant::now();
        let result = poll_ready(ready(black_box(Ok::<u32, ()>(1))));
        let outcome = if result.is_ok() { "ok" } else { "error" };
        metrics::histogram!("operation_duration_seconds", "operation" => "db.get_user", "outcome" => outcome)
            .record(start.elapsed().as_secs_f64());
        result
    }
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = prometheus.handle();
    group.bench_function(
        "metrics_histogram_instant_into_metrics_exporter_prometheus",
        |b| {
            b.iter_custom(|iters| {
                let took = metrics::with_local_recorder(&prometheus, || {
                    let start = Instant::now();
                    for _ in 0..iters {
                        black_box(by_hand()).ok();
                    }
                    start.elapsed()
                });
                handle.run_upkeep(); // drain its raw-sample buffers, outside the timing
                took
            })
        },
    );
    let recorder = tailwatch::MetricsRecorder::new(&monitor);
    group.bench_function("metrics_histogram_instant_into_tailwatch_recorder", |b| {
        b.iter_custom(|iters| {
            metrics::with_local_recorder(&recorder, || {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(by_hand()).ok();
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

/// The same calls from two threads on one operation (2 cores: ideal is
/// twice the elements per second of one thread).
fn measure_2_threads(c: &mut Criterion) {
    let mut group = c.benchmark_group("measure_2_threads");
    group.throughput(Throughput::Elements(2));
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    let monitor = Monitor::new();
    let op = monitor.operation("db.get_user");
    group.bench_function("tailwatch_operation_handle", |b| {
        b.iter_custom(|iters| {
            threads::two(iters, 1000, |_| {
                let _ = black_box(poll_ready(op.measure(ready(black_box(Ok::<u32, ()>(1))))));
            })
        })
    });
    group.bench_function("tailwatch_timer_sync", |b| {
        b.iter_custom(|iters| {
            threads::two(iters, 1000, |_| {
                let t = op.start();
                black_box(black_box(1_u32) + 1);
                t.ok()
            })
        })
    });
    group.bench_function("tailwatch_monitor_by_name", |b| {
        b.iter_custom(|iters| {
            threads::two(iters, 1000, |_| {
                let _ = black_box(poll_ready(
                    monitor.measure(black_box("db.get_user"), ready(black_box(Ok::<u32, ()>(1)))),
                ));
            })
        })
    });
    group.finish();
}

criterion_group!(benches, measure, measure_2_threads);
criterion_main!(benches);
