//! Sampling off the request path: closures registered on a monitor run on
//! one background thread per monitor, every interval (1 s by default).

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use crate::measure::Monitor;

type Task = Box<dyn Fn() + Send + Sync>;

/// The sampled closures of a monitor and the thread that runs them.
pub(crate) struct Sampler {
    /// Each closure with the key it was registered under, if any: a
    /// closure registered again under its key replaces the old one, so
    /// re-registering a resource (say, per request by mistake) never
    /// piles up samplers.
    tasks: Mutex<Vec<(Option<String>, Task)>>,
    interval: Duration,
    started: std::sync::Once,
}

impl Sampler {
    fn new(interval: Duration) -> Self {
        Self {
            tasks: Mutex::new(Vec::new()),
            interval,
            started: std::sync::Once::new(),
        }
    }

    /// Adds `task`, runs it once now (so its values exist at once), and
    /// starts the thread on first use. The thread ends when the monitor
    /// is dropped.
    pub(crate) fn add(self: &Arc<Self>, key: Option<String>, task: Task) {
        run(&task);
        {
            let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
            match tasks.iter_mut().find(|(k, _)| key.is_some() && *k == key) {
                Some(slot) => slot.1 = task,
                None => tasks.push((key, task)),
            }
        }
        self.started.call_once(|| {
            let weak: Weak<Self> = Arc::downgrade(self);
            let interval = self.interval;
            let _ = std::thread::Builder::new()
                .name("tailwatch-sampler".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(interval);
                        let Some(sampler) = weak.upgrade() else {
                            return;
                        };
                        sampler.sample_now();
                    }
                });
        });
    }

    /// Runs every task now.
    pub(crate) fn sample_now(&self) {
        for (_, task) in self.tasks.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            run(task);
        }
    }
}

impl Monitor {
    /// The monitor's sampler, created on first use (its thread starts with
    /// the first closure).
    fn sampler(&self) -> Arc<Sampler> {
        let interval = self.inner.sample_interval;
        self.inner.extensions.get_or_init(|| Sampler::new(interval))
    }

    /// Runs `sample` on the monitor's sampler thread every sample interval
    /// (and once now, on the caller's thread): for values read from
    /// elsewhere (a pool's own counts, a channel's length) into gauges,
    /// off the request path. A panicking closure is skipped that round.
    pub fn sample(&self, sample: impl Fn() + Send + Sync + 'static) {
        self.sampler().add(None, Box::new(sample));
    }

    /// [`sample`](Self::sample) under `key`: registering again under the
    /// same key replaces the previous closure.
    pub(crate) fn sample_as(&self, key: String, sample: impl Fn() + Send + Sync + 'static) {
        self.sampler().add(Some(key), Box::new(sample));
    }

    /// Runs every sampling closure now (the sampler thread does it every
    /// interval).
    pub fn sample_now(&self) {
        if let Some(sampler) = self.inner.extensions.get::<Sampler>() {
            sampler.sample_now();
        }
    }
}

/// Runs a task; a panicking sampler closure is skipped, not fatal.
fn run(task: &Task) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(task));
}

/// The rate of a growing total (CPU seconds, busy seconds) over the last
/// `window`, from the samples taken: `Δtotal / Δt` between now and the
/// newest sample at least `window` old (or the oldest one, while younger).
#[cfg(any(feature = "agent", all(target_os = "linux", feature = "process")))]
#[derive(Debug)]
pub(crate) struct WindowRate {
    window: Duration,
    samples: Mutex<std::collections::VecDeque<(std::time::Instant, f64)>>,
}

#[cfg(any(feature = "agent", all(target_os = "linux", feature = "process")))]
impl WindowRate {
    pub(crate) fn new(window: Duration) -> Self {
        Self {
            window,
            samples: Mutex::new(std::collections::VecDeque::new()),
        }
    }

    /// Adds the total sampled now; the rate per second since the start of
    /// the window (`None` on the first sample).
    pub(crate) fn update(&self, total: f64) -> Option<f64> {
        let now = std::time::Instant::now();
        let mut h = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        h.push_back((now, total));
        while h.len() > 2 && now.duration_since(h[1].0) >= self.window {
            h.pop_front();
        }
        let (t0, v0) = h[0];
        let elapsed = now.duration_since(t0).as_secs_f64();
        (elapsed > 0.0).then(|| (total - v0) / elapsed)
    }
}

#[cfg(all(
    test,
    not(tailwatch_loom),
    any(feature = "agent", all(target_os = "linux", feature = "process"))
))]
mod tests {
    use super::*;

    #[test]
    fn window_rate_keeps_one_sample_older_than_the_window() {
        let r = WindowRate::new(Duration::from_millis(30));
        assert_eq!(r.update(0.0), None);
        std::thread::sleep(Duration::from_millis(40));
        let first = r.update(4.0).unwrap();
        assert!(first > 0.0);
        std::thread::sleep(Duration::from_millis(40));
        // The total did not move: over a window that excludes the first
        // sample, the rate is 0.
        r.update(4.0);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(r.update(4.0), Some(0.0));
        assert_eq!(r.samples.lock().unwrap().len(), 2);
    }
}
