//! Judging thresholds: over each window of the run (by answer time), over
//! each breakpoint step (by scheduled time, stopping the run at the first
//! step that fails), and over the whole run. Each window's histograms are
//! dropped once judged: memory does not grow with the run.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tailwatch::Histogram;
use tailwatch::engine::Snapshot;

use super::Shared;
use super::profile::Schedule;
use super::record::{Recorder, histogram, snapshot};
use super::threshold::{self, Threshold};

/// The requests of a window or a step, for one endpoint.
pub(crate) struct Figures {
    latency: Histogram,
    requests: AtomicU64,
    errors: AtomicU64,
}

impl Default for Figures {
    fn default() -> Self {
        Self {
            latency: histogram(),
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        }
    }
}

impl Figures {
    pub(crate) fn record(&self, latency: Duration, error: bool) {
        self.latency
            .record(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX));
        self.requests.fetch_add(1, Ordering::Relaxed);
        if error {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub(crate) fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    pub(crate) fn latency(&self) -> Snapshot {
        snapshot(&self.latency)
    }

    /// Heap bytes of its histogram.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.latency.heap_bytes()
    }
}

/// Windows of the run, by answer time: each is the difference between the
/// endpoints' cumulative figures when it closes and when the one before
/// it closed. Nothing is recorded for it on the requests' path (no lock,
/// no extra histogram), and a request answered while a window closes is
/// in that window or the next, never lost.
pub(crate) struct Window {
    /// Per endpoint at the last close: its latencies and errors.
    last: Mutex<(Vec<(Snapshot, u64)>, u64)>,
}

impl Window {
    pub(crate) fn new(endpoints: usize) -> Self {
        let empty = Snapshot::new(*histogram().layout());
        Self {
            last: Mutex::new((vec![(empty, 0); endpoints], 0)),
        }
    }

    /// The window since the last close, per endpoint (latencies, requests,
    /// errors), and its number; a new one starts.
    fn close(&self, recorders: &[Recorder]) -> (Vec<(Snapshot, u64, u64)>, u64) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let number = last.1;
        last.1 += 1;
        let figures = recorders
            .iter()
            .zip(last.0.iter_mut())
            .map(|(r, (then, errors_then))| {
                // Errors first: an answer counted in them is in the
                // latencies read next (recorded before its status).
                let errors = r.errors();
                let now = snapshot(&r.latency);
                let mut window = now.clone();
                window.subtract(then);
                let errors_in = errors.saturating_sub(*errors_then);
                (*then, *errors_then) = (now, errors);
                let requests = window.count();
                (window, requests, errors_in.min(requests))
            })
            .collect();
        (figures, number)
    }
}

/// A threshold that failed: where, and its value there.
#[derive(Debug, Clone)]
pub(crate) struct Failed {
    pub(crate) threshold: String,
    pub(crate) scope: String,
    pub(crate) value: String,
}

/// What the judging found.
#[derive(Default)]
pub(crate) struct Verdicts {
    inner: Mutex<Inner>,
    stopped: AtomicBool,
}

#[derive(Default)]
struct Inner {
    failed: Vec<Failed>,
    windows: u64,
    /// Breakpoint steps judged: (step, held).
    steps: Vec<(usize, bool)>,
    stopped_at: Option<usize>,
}

impl Verdicts {
    pub(crate) fn failed(&self) -> bool {
        !self.lock().failed.is_empty()
    }

    pub(crate) fn failures(&self) -> Vec<Failed> {
        self.lock().failed.clone()
    }

    pub(crate) fn windows(&self) -> u64 {
        self.lock().windows
    }

    pub(crate) fn steps(&self) -> Vec<(usize, bool)> {
        self.lock().steps.clone()
    }

    /// The breakpoint step at which a threshold failed (the run stopped).
    pub(crate) fn stopped_at(&self) -> Option<usize> {
        self.stopped
            .load(Ordering::Acquire)
            .then(|| self.lock().stopped_at)
            .flatten()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Judges `thresholds` over per-endpoint figures (`latency`, requests,
/// errors); the failures, named `scope`.
fn judge(
    shared: &Shared,
    thresholds: &[Threshold],
    figures: &[(Snapshot, u64, u64)],
    scope: &str,
) -> Vec<Failed> {
    let mut out = Vec::new();
    for t in thresholds {
        let chosen: Vec<&(Snapshot, u64, u64)> = match &t.endpoint {
            Some(url) => shared
                .endpoints
                .iter()
                .zip(figures)
                .filter(|(e, _)| &e.name == url)
                .map(|(_, f)| f)
                .collect(),
            None => figures.iter().collect(),
        };
        let Some(first) = chosen.first() else {
            continue;
        };
        let mut latency = first.0.clone();
        for f in &chosen[1..] {
            latency.merge(&f.0);
        }
        let f = threshold::Figures {
            latency: &latency,
            requests: chosen.iter().map(|f| f.1).sum(),
            errors: chosen.iter().map(|f| f.2).sum(),
        };
        if let Some(v) = t.value(&f) {
            if !t.holds(v) {
                out.push(Failed {
                    threshold: t.text.clone(),
                    scope: scope.to_owned(),
                    value: t.show(v),
                });
            }
        }
    }
    out
}

fn of(figures: &[Figures]) -> Vec<(Snapshot, u64, u64)> {
    figures
        .iter()
        .map(|f| (f.latency(), f.requests(), f.errors()))
        .collect()
}

/// Closes the current window and judges it.
pub(crate) fn close_window(
    shared: &Shared,
    thresholds: &[Threshold],
    started: Instant,
    verdicts: &Verdicts,
) {
    let (window, number) = shared.window.close(&shared.recorders);
    if window.iter().all(|f| f.1 == 0) {
        return;
    }
    let at = started.elapsed().as_secs_f64();
    let failed = judge(
        shared,
        thresholds,
        &window,
        &format!("window {} (ending at {at:.0} s)", number + 1),
    );
    let mut v = verdicts.lock();
    v.windows += 1;
    v.failed.extend(failed);
}

/// Closes and judges a window every `length`, for ever (aborted at the end).
pub(crate) async fn windows(
    shared: Arc<Shared>,
    thresholds: Vec<Threshold>,
    length: Duration,
    verdicts: Arc<Verdicts>,
) {
    let started = Instant::now();
    let mut next = tokio::time::Instant::now() + length;
    loop {
        tokio::time::sleep_until(next).await;
        close_window(&shared, &thresholds, started, &verdicts);
        next += length;
    }
}

/// Judges the thresholds over the whole run.
pub(crate) fn whole_run(shared: &Shared, thresholds: &[Threshold], verdicts: &Verdicts) {
    let figures: Vec<(Snapshot, u64, u64)> = shared
        .recorders
        .iter()
        .map(|r| {
            let latency = snapshot(&r.latency);
            let requests = latency.count();
            (latency, requests, r.errors())
        })
        .collect();
    let failed = judge(shared, thresholds, &figures, "the whole run");
    verdicts.lock().failed.extend(failed);
}

/// Breakpoint: judges each step once its requests are answered (1 s, or
/// the timeout if shorter, after it ends), and stops the run at the first
/// step that fails.
pub(crate) async fn steps(
    shared: Arc<Shared>,
    thresholds: Vec<Threshold>,
    schedule: Schedule,
    started: Instant,
    stop: Arc<AtomicBool>,
    verdicts: Arc<Verdicts>,
) {
    let grace = shared.timeout.min(Duration::from_secs(1));
    for (k, stage) in schedule.stages().iter().enumerate() {
        let end = started + Duration::from_secs_f64(schedule.stage_start(k + 1)) + grace;
        tokio::time::sleep_until(end.into()).await;
        let failed = judge(
            &shared,
            &thresholds,
            &of(&shared.stages[k]),
            &format!("step {} ({} req/s)", k + 1, stage.rate()),
        );
        let held = failed.is_empty();
        let mut v = verdicts.lock();
        v.steps.push((k, held));
        if !held {
            v.failed.extend(failed);
            v.stopped_at = Some(k);
            drop(v);
            verdicts.stopped.store(true, Ordering::Release);
            stop.store(true, Ordering::Relaxed);
            return;
        }
    }
}
