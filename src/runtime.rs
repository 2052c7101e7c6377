//! Tokio runtime gauges from the metrics tokio offers without
//! `--cfg tokio_unstable`, sampled by the monitor's sampler thread
//! ([`Monitor::tokio_metrics`](crate::Monitor::tokio_metrics)).
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

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::Monitor;

/// The window the busy ratio is computed over.
const WINDOW: Duration = Duration::from_secs(60);

impl Monitor {
    /// Samples the runtime `handle` (e.g. `tokio::runtime::Handle::current()`)
    /// as `runtime="name"` on the monitor's sampler thread.
    pub fn tokio_metrics(&self, name: &str, handle: &tokio::runtime::Handle) {
        let r = self.registry().clone();
        let l = [("runtime", name)];
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
        let history: Mutex<VecDeque<(Instant, f64)>> = Mutex::new(VecDeque::new());
        let handle = handle.clone();
        self.sample(move || {
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
                let now = Instant::now();
                let mut h = history.lock().unwrap_or_else(|e| e.into_inner());
                h.push_back((now, busy_now));
                while h.len() > 2 && now.duration_since(h[1].0) >= WINDOW {
                    h.pop_front();
                }
                let (t0, b0) = h[0];
                let elapsed = now.duration_since(t0).as_secs_f64();
                if elapsed > 0.0 && n > 0 {
                    ratio.set((busy_now - b0) / elapsed / n as f64);
                }
            }
            #[cfg(not(target_has_atomic = "64"))]
            let _ = &history;
        });
    }
}
