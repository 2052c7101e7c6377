//! Sampling off the request path: closures registered on a monitor run on
//! a background thread every interval (1 s by default), each isolated from
//! the others.
//!
//! A sampler closure is user code (a pool's `status()`, a channel's
//! length, `/proc`): it may block. Each run goes to a runner thread and is
//! waited for at most one interval; a run past that is left on its runner
//! (which is replaced), counted in `tailwatch_sampler_stalls_total`, shown
//! in `tailwatch_sampler_stalled` and in the agent's `/health`, and the
//! closure is not started again until it returns. Only its own gauges go
//! stale: the others keep being sampled, and registering (which takes the
//! list's lock only to insert) never waits on a running closure.
//!
//! A closure that panics is skipped that round and counted in
//! `tailwatch_sampler_panics_total{sampler}`; its first panic is printed
//! by the process's panic hook as usual, later ones are not (a panic every
//! second would drown the log). For that, the first sampler wraps the
//! panic hook installed at that time: the wrapper stays silent only on a
//! sampler's runner thread, for a closure that has panicked before.

use crate::engine::lock::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak, mpsc};
use std::time::{Duration, Instant};

use crate::engine::counter::{Counter, Gauge};
use crate::measure::Monitor;
use crate::registry::Registry;

/// The self-metric counting sampler runs that passed their deadline.
pub const SAMPLER_STALLS: &str = "tailwatch_sampler_stalls_total";
/// The self-metric that is 1 while a sampler's run is past its deadline.
pub const SAMPLER_STALLED: &str = "tailwatch_sampler_stalled";
/// The self-metric counting sampler runs that panicked.
pub const SAMPLER_PANICS: &str = "tailwatch_sampler_panics_total";

type Task = Box<dyn Fn() + Send + Sync>;

/// A registered closure and the state of its runs.
struct Entry {
    /// The key it was registered under (registering again under it
    /// replaces it), if any.
    key: Option<String>,
    /// Its name in self-metrics and `/health`.
    name: String,
    task: Task,
    /// Whether a run is going (a stalled one included).
    running: AtomicBool,
    /// When the current run started, in ns since the sampler was made.
    started: AtomicU64,
    stalls: Counter,
    stalled: Gauge,
    panics: Counter,
    /// Whether it has panicked before (its later panics are not printed).
    panicked: AtomicBool,
}

/// A thread that runs entries one at a time; replaced when a run stalls.
struct Runner {
    jobs: mpsc::Sender<Arc<Entry>>,
    done: mpsc::Receiver<()>,
}

impl Runner {
    fn spawn() -> Option<Runner> {
        let (jobs, todo) = mpsc::channel::<Arc<Entry>>();
        let (finished, done) = mpsc::channel();
        std::thread::Builder::new()
            .name("tailwatch-sampler-run".into())
            .spawn(move || {
                for entry in todo {
                    run(&entry);
                    entry.running.store(false, Ordering::Release);
                    // The driver gave up on this runner: end.
                    if finished.send(()).is_err() {
                        return;
                    }
                }
            })
            .ok()?;
        Some(Runner { jobs, done })
    }
}

/// The sampled closures of a monitor and the thread that runs them.
pub(crate) struct Sampler {
    entries: Mutex<Vec<Arc<Entry>>>,
    interval: Duration,
    /// How long one run may take before it counts as stalled.
    deadline: Duration,
    registry: Registry,
    made: Instant,
    unnamed: AtomicU64,
    started: std::sync::Once,
}

impl Sampler {
    fn new(interval: Duration, registry: Registry) -> Self {
        registry.describe(
            SAMPLER_STALLS,
            "Sampler runs that took longer than the sample interval (their values went stale).",
        );
        registry.describe(
            SAMPLER_STALLED,
            "1 while a sampler's run is past the sample interval: its values are stale.",
        );
        registry.describe(
            SAMPLER_PANICS,
            "Sampler runs that panicked (skipped that round; only the first panic is printed).",
        );
        quiet_hook();
        Self {
            entries: Mutex::new(Vec::new()),
            interval,
            deadline: interval.max(Duration::from_millis(10)),
            registry,
            made: Instant::now(),
            unnamed: AtomicU64::new(0),
            started: std::sync::Once::new(),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.made.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Adds `task` (replacing the one under the same key), runs it once now
    /// (so its values exist at once; waited for at most the deadline), and
    /// starts the thread on first use. The thread ends when the monitor is
    /// dropped.
    pub(crate) fn add(self: &Arc<Self>, key: Option<String>, name: Option<String>, task: Task) {
        let name = name
            .unwrap_or_else(|| format!("sample#{}", self.unnamed.fetch_add(1, Ordering::Relaxed)));
        let labels = [("sampler", name.as_str())];
        let entry = Arc::new(Entry {
            stalls: self
                .registry
                .counter(SAMPLER_STALLS, &labels)
                .unwrap_or_default(),
            stalled: self
                .registry
                .gauge(SAMPLER_STALLED, &labels)
                .unwrap_or_default(),
            panics: self
                .registry
                .counter(SAMPLER_PANICS, &labels)
                .unwrap_or_default(),
            panicked: AtomicBool::new(false),
            key,
            name,
            task,
            running: AtomicBool::new(false),
            started: AtomicU64::new(0),
        });
        {
            let mut entries = self.entries.lock();
            let same = entries
                .iter_mut()
                .find(|e| entry.key.is_some() && e.key == entry.key);
            match same {
                Some(slot) => *slot = entry.clone(),
                None => entries.push(entry.clone()),
            }
        }
        self.round(&[entry], &mut None);
        self.started.call_once(|| {
            let weak: Weak<Self> = Arc::downgrade(self);
            let interval = self.interval;
            let _ = std::thread::Builder::new()
                .name("tailwatch-sampler".into())
                .spawn(move || {
                    let mut runner = None;
                    loop {
                        std::thread::sleep(interval);
                        let Some(sampler) = weak.upgrade() else {
                            return;
                        };
                        let entries = sampler.entries();
                        sampler.round(&entries, &mut runner);
                    }
                });
        });
    }

    fn entries(&self) -> Vec<Arc<Entry>> {
        self.entries.lock().clone()
    }

    /// Runs `entries` one after the other on `runner`, each waited for at
    /// most the deadline; one still running from before is skipped.
    fn round(&self, entries: &[Arc<Entry>], runner: &mut Option<Runner>) {
        for entry in entries {
            if entry.running.swap(true, Ordering::AcqRel) {
                entry.stalled.set(1);
                continue;
            }
            entry.started.store(self.now(), Ordering::Relaxed);
            if runner.is_none() {
                *runner = Runner::spawn();
            }
            let Some(r) = runner.as_ref() else {
                // No thread to be had: run here rather than not at all.
                run(entry);
                entry.running.store(false, Ordering::Release);
                continue;
            };
            let sent = r.jobs.send(entry.clone()).is_ok();
            match sent.then(|| r.done.recv_timeout(self.deadline)) {
                Some(Ok(())) => entry.stalled.set(0),
                Some(Err(mpsc::RecvTimeoutError::Timeout)) => {
                    entry.stalls.increment();
                    entry.stalled.set(1);
                    *runner = None;
                }
                _ => {
                    entry.running.store(false, Ordering::Release);
                    *runner = None;
                }
            }
        }
    }

    /// Runs every closure now, each waited for at most the deadline.
    pub(crate) fn sample_now(&self) {
        self.round(&self.entries(), &mut None);
    }

    /// Whether a closure is registered under a key starting with `prefix`.
    #[cfg(feature = "agent")]
    fn has_key_prefix(&self, prefix: &str) -> bool {
        self.entries()
            .iter()
            .any(|e| e.key.as_deref().is_some_and(|k| k.starts_with(prefix)))
    }

    /// The closures running past their deadline, and for how long.
    fn stalled(&self) -> Vec<(String, Duration)> {
        let now = self.now();
        self.entries()
            .iter()
            .filter(|e| e.running.load(Ordering::Acquire))
            .map(|e| {
                let took = now.saturating_sub(e.started.load(Ordering::Relaxed));
                (e.name.clone(), Duration::from_nanos(took))
            })
            .filter(|(_, took)| *took > self.deadline)
            .collect()
    }
}

impl Monitor {
    /// The monitor's sampler, created on first use (its thread starts with
    /// the first closure).
    fn sampler(&self) -> Arc<Sampler> {
        let interval = self.inner.sample_interval;
        let registry = self.registry().clone();
        self.inner
            .extensions
            .get_or_init(|| Sampler::new(interval, registry))
    }

    /// Runs `sample` on the monitor's sampler thread every sample interval
    /// (and once now, waited for at most one interval): for values read
    /// from elsewhere (a pool's own counts, a channel's length) into
    /// gauges, off the request path. A panicking closure is skipped that
    /// round; one that blocks past the interval stales only its own values
    /// (see [`samplers_stalled`](Self::samplers_stalled)).
    pub fn sample(&self, sample: impl Fn() + Send + Sync + 'static) {
        self.sampler().add(None, None, Box::new(sample));
    }

    /// [`sample`](Self::sample) under `key`: registering again under the
    /// same key replaces the previous closure. `key` is `kind\0name`
    /// (`resource\0db`); the sampler is named `kind:name` in self-metrics.
    pub(crate) fn sample_as(&self, key: String, sample: impl Fn() + Send + Sync + 'static) {
        let name = key.replace('\0', ":");
        self.sampler().add(Some(key), Some(name), Box::new(sample));
    }

    /// Runs every sampling closure now (the sampler thread does it every
    /// interval), each waited for at most one sample interval.
    pub fn sample_now(&self) {
        if let Some(sampler) = self.inner.extensions.get::<Sampler>() {
            sampler.sample_now();
        }
    }

    /// Whether a tokio runtime is sampled ([`sample_tokio`](Self::sample_tokio)).
    #[cfg(feature = "agent")]
    pub(crate) fn samples_a_runtime(&self) -> bool {
        self.inner
            .extensions
            .get::<Sampler>()
            .is_some_and(|s| s.has_key_prefix("tokio\0"))
    }

    /// The sampling closures whose current run has taken longer than the
    /// sample interval (blocked on a lock, a socket, a slow `/proc`), with
    /// how long it has run: their values are stale. Named `process`,
    /// `tokio:NAME`, `resource:NAME`, `queue:NAME`, or `sample#N` for
    /// [`sample`](Self::sample)'s closures in registration order.
    pub fn samplers_stalled(&self) -> Vec<(String, Duration)> {
        self.inner
            .extensions
            .get::<Sampler>()
            .map(|s| s.stalled())
            .unwrap_or_default()
    }
}

thread_local! {
    /// Set while a closure that has panicked before runs on this thread:
    /// the panic hook stays silent.
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Wraps the process's panic hook (once): silent while [`QUIET`] is set,
/// the previous hook otherwise.
fn quiet_hook() {
    static WRAPPED: std::sync::Once = std::sync::Once::new();
    WRAPPED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(std::cell::Cell::get) {
                previous(info);
            }
        }));
    });
}

/// Runs an entry's closure; a panic is counted and skipped, not fatal, and
/// printed only the first time.
fn run(entry: &Entry) {
    QUIET.with(|q| q.set(entry.panicked.load(Ordering::Relaxed)));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(&entry.task));
    QUIET.with(|q| q.set(false));
    if result.is_err() {
        entry.panics.increment();
        entry.panicked.store(true, Ordering::Relaxed);
    }
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
        let mut h = self.samples.lock();
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
        assert_eq!(r.samples.lock().len(), 2);
    }
}
