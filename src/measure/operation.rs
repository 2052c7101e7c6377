//! [`Operation`]: a pre-resolved handle for one measured operation, and
//! [`Timer`], its guard for code that is not a future.

use std::sync::Arc;
use std::time::Duration;

use quanta::Instant;

use super::context::current_trace;
use super::outcome::Outcome;
use crate::engine::counter::Gauge;
use crate::engine::exemplar::TraceContext;
use crate::engine::histogram::Histogram;
use crate::engine::thread_cache::thread_cache;
use crate::registry::group::Ended;

thread_cache! {
    /// Each thread's own handle of the operations it timed recently (one
    /// owner: the shared handle is the key).
    static PER_THREAD: (Arc<OperationInner>, Operation);
}

pub(crate) struct OperationInner {
    pub(crate) name: Box<str>,
    pub(crate) ok: Histogram,
    pub(crate) error: Histogram,
    pub(crate) cancelled: Histogram,
    pub(crate) active: Gauge,
    /// The thread whose own handle this is ([`thread_mark`]), 0 for the
    /// shared one (see `for_this_thread`).
    pub(crate) owner: usize,
    /// Its monitor's registry: the slow-call log's thresholds.
    pub(crate) registry: crate::registry::Registry,
}

/// One operation (`operation_duration_seconds{operation="…"}` with its three
/// outcomes, and `operation_active{operation="…"}`), resolved once: using it
/// involves no name lookup. Cheap to clone. Get one from
/// [`Monitor::operation`](crate::Monitor::operation).
///
/// What is measured, whichever entry point:
/// * the time from the call ([`measure`](Self::measure), [`time`](Self::time),
///   [`start`](Self::start), [`run`](Self::run)) to the end (the future
///   returning `Ready`, the closure returning, the timer finishing or
///   dropping), by `quanta::Instant` (the CPU's invariant time-stamp
///   counter, consistent across cores; the OS monotonic
///   clock where the counter is unreliable);
/// * the outcome: [`Outcome::is_error`] of the result, `error` when the work
///   panicked (the panic propagates unchanged), `cancelled` when a future is
///   dropped before it finished;
/// * in flight: `operation_active` is up from the call to the end, however
///   it ends.
#[derive(Clone)]
pub struct Operation {
    pub(crate) inner: Arc<OperationInner>,
}

impl std::fmt::Debug for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operation")
            .field("name", &self.inner.name)
            .field("active", &self.inner.active.value())
            .finish_non_exhaustive()
    }
}

impl Operation {
    /// The operation's name (the `operation` label value).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Runs `f` and times it; its result decides the outcome. A panic in
    /// `f` is counted as an error and propagates unchanged.
    ///
    /// ```
    /// let monitor = tailwatch::Monitor::new();
    /// let parse = monitor.operation("parse");
    /// let n: Result<u32, _> = parse.run(|| "42".parse::<u32>());
    /// assert_eq!(n, Ok(42));
    /// let bad: Result<u32, _> = parse.run(|| "x".parse::<u32>());
    /// assert!(bad.is_err());
    /// assert_eq!(monitor.stats("parse").unwrap().errors, 1);
    /// ```
    pub fn run<T: Outcome>(&self, f: impl FnOnce() -> T) -> T {
        let timer = self.start();
        let value = f();
        timer.finish(&value);
        value
    }

    /// Starts a [`Timer`]: in flight from now until it finishes or drops.
    /// The trace context of the calling code ([`current_trace`]), if any,
    /// becomes the exemplar of the value it records.
    pub fn start(&self) -> Timer {
        self.inner.active.increment();
        Timer {
            op: self.for_this_thread(),
            start: Instant::now(),
            trace: current_trace(),
            done: false,
        }
    }

    /// This operation through a handle of the calling thread's own: the
    /// same series, but an `Arc` whose count no other thread touches, so
    /// that timers started on many threads do not fight over one cache
    /// line (cloning a shared `Arc` is a locked add on it, twice a call).
    ///
    /// A handle another thread owns (one handed out by `Monitor::operation`
    /// on that thread and moved here) counts as shared: this thread gets
    /// its own copy of it.
    pub(crate) fn for_this_thread(&self) -> Operation {
        let me = thread_mark();
        if self.inner.owner == me {
            return self.clone();
        }
        let key = Arc::as_ptr(&self.inner) as u64;
        PER_THREAD.get_or(
            0,
            (key >> 4) ^ (key >> 12),
            |(shared, own)| Arc::ptr_eq(shared, &self.inner).then(|| own.clone()),
            || {
                let i = &self.inner;
                let own = Operation {
                    inner: Arc::new(OperationInner {
                        name: i.name.clone(),
                        ok: i.ok.clone(),
                        error: i.error.clone(),
                        cancelled: i.cancelled.clone(),
                        active: i.active.clone(),
                        owner: me,
                        registry: i.registry.clone(),
                    }),
                };
                // The entry keeps the shared handle alive, so its address
                // cannot be reused by another operation while cached.
                (own.clone(), Some((i.clone(), own)))
            },
        )
    }

    /// Records a duration measured elsewhere (e.g. by a tracing span).
    pub fn record(&self, duration: Duration, ended: Ended) {
        let ns = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        self.outcome(ended).record(ns);
        self.check_slow(ns, ended, None);
    }

    /// The slow-call log (off by default: one load).
    #[inline]
    fn check_slow(&self, ns: u64, ended: Ended, trace: Option<TraceContext>) {
        // A cancelled call's duration is truncated: not a slow call.
        if self.inner.registry.slow_watch().may_be_slow(ns) && ended != Ended::Cancelled {
            self.inner.registry.check_slow(
                // OPERATION_DURATION (monitor.rs, which uses this file).
                "operation_duration_seconds",
                &[("operation", &self.inner.name)],
                ns,
                trace,
            );
        }
    }

    /// The series of one outcome.
    fn outcome(&self, ended: Ended) -> &Histogram {
        match ended {
            Ended::Ok => &self.inner.ok,
            Ended::Error => &self.inner.error,
            Ended::Cancelled => &self.inner.cancelled,
        }
    }

    /// Records a duration measured elsewhere, with the trace it belongs to
    /// (kept as an exemplar, see [`Histogram::record_with_trace`](crate::Histogram::record_with_trace)).
    pub fn record_with_trace(&self, duration: Duration, ended: Ended, trace: TraceContext) {
        let ns = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        self.outcome(ended).record_with_trace(ns, trace);
        self.check_slow(ns, ended, Some(trace));
    }

    /// How many are in flight right now.
    pub fn active(&self) -> i64 {
        self.inner.active.value()
    }
}

/// A running measurement of an [`Operation`], for code that is not a
/// future. Finish it with [`ok`](Self::ok), [`error`](Self::error) or
/// [`finish`](Self::finish); dropping it counts as `ok`, or as `error` if
/// the thread is panicking (an unwinding scope did not finish its work).
///
/// ```
/// let monitor = tailwatch::Monitor::new();
/// let t = monitor.start("import.batch");
/// let loaded = 3; // … the work …
/// if loaded == 0 { t.error() } else { t.ok() }
/// {
///     let _t = monitor.start("import.batch"); // dropped at the end: ok
/// }
/// let s = monitor.stats("import.batch").unwrap();
/// assert_eq!((s.count, s.errors), (2, 0));
/// ```
#[must_use = "a timer measures until it is finished or dropped"]
pub struct Timer {
    op: Operation,
    start: Instant,
    /// The trace context when it started ([`current_trace`]): the exemplar.
    trace: Option<TraceContext>,
    done: bool,
}

impl std::fmt::Debug for Timer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timer")
            .field("operation", &self.op.name())
            .field("elapsed", &self.start.elapsed())
            .finish()
    }
}

impl Timer {
    /// Finishes as a success.
    pub fn ok(mut self) {
        self.end(Ended::Ok);
    }

    /// Finishes as an error.
    pub fn error(mut self) {
        self.end(Ended::Error);
    }

    /// Finishes as what `result` says ([`Outcome`]).
    pub fn finish<T: Outcome + ?Sized>(mut self, result: &T) {
        self.end(if result.is_error() {
            Ended::Error
        } else {
            Ended::Ok
        });
    }

    /// The time since the timer started.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    pub(crate) fn end(&mut self, ended: Ended) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        match self.trace {
            Some(trace) => self
                .op
                .record_with_trace(self.start.elapsed(), ended, trace),
            None => self.op.record(self.start.elapsed(), ended),
        }
        self.op.inner.active.decrement();
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.end(if std::thread::panicking() {
            Ended::Error
        } else {
            Ended::Ok
        });
    }
}

/// A number that tells the calling thread from every other live thread:
/// the address of one of its thread-locals (no `Arc` clone, unlike
/// `std::thread::current`). Never 0. A thread that starts after another
/// exited may get its address: it then takes over that thread's own
/// handles, which is still correct (a handle is only ever an optimization
/// of who touches which `Arc`).
#[inline]
pub(crate) fn thread_mark() -> usize {
    thread_local! {
        static MARK: u8 = const { 0 };
    }
    MARK.try_with(|m| std::ptr::from_ref(m) as usize)
        .unwrap_or(usize::MAX)
}
