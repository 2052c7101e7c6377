//! Tokio runtime gauges from the metrics tokio offers without
//! `--cfg tokio_unstable`, sampled by the monitor's sampler thread
//! ([`Monitor::sample_tokio`](crate::Monitor::sample_tokio)).
//!
//! | metric | type | from |
//! | --- | --- | --- |
//! | `tokio_workers` | gauge | `num_workers` |
//! | `tokio_alive_tasks` | gauge | `num_alive_tasks` |
//! | `tokio_global_queue_depth` | gauge | `global_queue_depth` |
//! | `tokio_worker_busy_seconds_total` | counter | Σ `worker_total_busy_duration` |
//! | `tokio_worker_parks_total` | counter | Σ `worker_park_count` |
//! | `tokio_busy_ratio` | gauge | busy time over the last 60 s ÷ (elapsed × workers) |
//!
//! Each has a `runtime` label (the name given). The busy time and park
//! counts are stable on 64-bit targets only (tokio's `cfg_64bit_metrics`);
//! elsewhere those three are absent. Only with `--cfg tokio_unstable`
//! does tokio offer (and tailwatch does not yet read) blocking-pool
//! threads and queue, spawned-task counts, per-worker local queue depths,
//! steals, poll counts and the poll-time histogram.

use std::time::Duration;

use crate::measure::Monitor;
use crate::saturation::sampler::WindowRate;

/// What each figure is (`# HELP`).
const HELP: [(&str, &str); 6] = [
    ("tokio_workers", "Worker threads of the tokio runtime."),
    ("tokio_alive_tasks", "Tasks alive in the tokio runtime."),
    (
        "tokio_global_queue_depth",
        "Tasks waiting in the tokio runtime's global queue.",
    ),
    (
        "tokio_worker_busy_seconds_total",
        "Time the tokio workers spent busy, summed over workers.",
    ),
    (
        "tokio_worker_parks_total",
        "Times the tokio workers parked, summed over workers.",
    ),
    (
        "tokio_busy_ratio",
        "Busy time of the tokio workers over the sliding window, as a fraction of their time.",
    ),
];

/// The window the busy ratio is computed over.
const WINDOW: Duration = Duration::from_secs(60);

impl Monitor {
    /// Samples the runtime `handle` (e.g. `tokio::runtime::Handle::current()`)
    /// as `runtime="name"` on the monitor's sampler thread (again with the
    /// same name: the new handle replaces the old).
    pub fn sample_tokio(&self, name: &str, handle: &tokio::runtime::Handle) {
        let r = self.registry().clone();
        let l = [("runtime", name)];
        for (metric, help) in HELP {
            r.describe(metric, help);
        }
        let value = |metric: &str| r.value(metric, &l).unwrap_or_default();
        let workers = value("tokio_workers");
        let alive = value("tokio_alive_tasks");
        let global = value("tokio_global_queue_depth");
        #[cfg(target_has_atomic = "64")]
        let (busy, parks, ratio) = (
            value("tokio_worker_busy_seconds_total"),
            value("tokio_worker_parks_total"),
            value("tokio_busy_ratio"),
        );
        let busy_rate = WindowRate::new(WINDOW);
        let handle = handle.clone();
        self.sample_as(format!("tokio\0{name}"), move || {
            let m = handle.metrics();
            let n = m.num_workers();
            workers.set(n as f64);
            alive.set(m.num_alive_tasks() as f64);
            global.set(m.global_queue_depth() as f64);
            #[cfg(target_has_atomic = "64")]
            {
                let busy_now: f64 = (0..n)
                    .map(|w| m.worker_total_busy_duration(w).as_secs_f64())
                    .sum();
                busy.set(busy_now);
                parks.set((0..n).map(|w| m.worker_park_count(w)).sum::<u64>() as f64);
                if let Some(per_second) = busy_rate.update(busy_now) {
                    if n > 0 {
                        ratio.set(per_second / n as f64);
                    }
                }
            }
            #[cfg(not(target_has_atomic = "64"))]
            let _ = &busy_rate;
        });
    }
}
