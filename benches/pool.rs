//! Cost of monitoring a pool's acquire: a deadpool `get` (an idle object
//! ready, returned at once) bare, through tailwatch's adapter, and timed
//! by hand into a `metrics` histogram with metrics-exporter-prometheus, in
//! one run.
//!
//! Run with: `cargo bench --bench pool`
//!
//! The pool's manager creates and recycles a plain number, so the figures
//! are deadpool's own bookkeeping plus what monitoring adds to it; a real
//! connection's acquire costs the same added amount.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use deadpool::managed::{self, Metrics, Pool, RecycleResult};
use tailwatch::Monitor;

/// A manager of numbers: nothing to connect.
struct Numbers;

impl managed::Manager for Numbers {
    type Type = u32;
    type Error = std::convert::Infallible;

    async fn create(&self) -> Result<u32, Self::Error> {
        Ok(7)
    }

    async fn recycle(&self, _: &mut u32, _: &Metrics) -> RecycleResult<Self::Error> {
        Ok(())
    }
}

fn pool(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let pool: Pool<Numbers> = Pool::builder(Numbers).max_size(16).build().unwrap();
    let monitor = Monitor::new();
    let monitored = monitor.deadpool("db", &pool);
    // Every variant finds an idle object.
    rt.block_on(async { drop(pool.get().await.unwrap()) });

    let mut group = c.benchmark_group("pool_get");
    group.throughput(Throughput::Elements(1));
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));

    group.bench_function("deadpool_bare", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    drop(black_box(pool.get().await.unwrap()));
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("tailwatch_adapter", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    drop(black_box(monitored.get().await.unwrap()));
                }
                start.elapsed()
            })
        })
    });
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = prometheus.handle();
    group.bench_function("by_hand_metrics_into_metrics_exporter_prometheus", |b| {
        b.iter_custom(|iters| {
            let took = metrics::with_local_recorder(&prometheus, || {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let waited = Instant::now();
                        let object = pool.get().await.unwrap();
                        metrics::histogram!("resource_wait_seconds", "resource" => "db")
                            .record(waited.elapsed().as_secs_f64());
                        drop(black_box(object));
                    }
                    start.elapsed()
                })
            });
            handle.run_upkeep(); // drain its raw-sample buffers, outside the timing
            took
        })
    });
    group.finish();
}

criterion_group!(benches, pool);
criterion_main!(benches);
