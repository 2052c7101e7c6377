//! [`Histogram`]: one series of values, recorded lock-free, read as a
//! cumulative view and as a sliding window.

use crate::engine::lock::Mutex;
use std::sync::{Arc, MutexGuard};
use std::time::Duration;

use crate::engine::clock::{Clock, SystemClock};
use crate::engine::error::{BuildError, RecordError};
use crate::engine::exemplar::{Exemplar, Exemplars, TraceContext};
use crate::engine::layout::Layout;
use crate::engine::shard::Counts;
use crate::engine::slowest::Slowest;
use crate::engine::snapshot::Snapshot;
use crate::engine::stats::Stats;
use crate::engine::upkeep::{self, Rotate};
use crate::engine::window::Window;

/// The quantiles a [`Stats`] reports unless configured otherwise.
pub const DEFAULT_QUANTILES: [f64; 3] = [0.5, 0.95, 0.99];

/// Settings for a [`Histogram`]; a consuming builder, validated by
/// [`build`](Self::build). Cloneable, so a registry can use one as the
/// template of all the series of a metric.
///
/// ```
/// use std::time::Duration;
/// use tailwatch::engine::HistogramBuilder;
///
/// let h = HistogramBuilder::new()
///     .range(1_000, 60_000_000_000) // 1 µs .. 60 s, in ns
///     .significant_digits(3)
///     .window(Duration::from_secs(30), 3)
///     .quantiles(vec![0.5, 0.9, 0.999])
///     .build()?;
/// h.record(1_500_000);
/// # Ok::<(), tailwatch::engine::BuildError>(())
/// ```
#[derive(Clone, Debug)]
pub struct HistogramBuilder {
    lowest: u64,
    highest: u64,
    significant_digits: u8,
    window: Duration,
    slices: u32,
    quantiles: Vec<f64>,
    clock: Arc<dyn Clock>,
    system_clock: bool,
    unit_scale: f64,
}

impl Default for HistogramBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl HistogramBuilder {
    /// Defaults: 1 ns to 1 hour, 2 significant digits, a 60 s window in 6
    /// slices, quantiles 0.5/0.95/0.99, the system clock.
    pub fn new() -> Self {
        Self {
            lowest: Layout::DEFAULT_LOWEST,
            highest: Layout::DEFAULT_HIGHEST,
            significant_digits: Layout::DEFAULT_SIGNIFICANT_DIGITS,
            window: Duration::from_secs(60),
            slices: 6,
            quantiles: DEFAULT_QUANTILES.to_vec(),
            clock: Arc::new(SystemClock),
            system_clock: true,
            unit_scale: 1e9,
        }
    }

    /// How many recorded units make one base unit: 1e9 (the default) for
    /// nanoseconds into seconds, 1.0 for bytes or counts. Only
    /// [`Stats`] and exposition use it, to report
    /// base units; recording is always in integer units.
    #[must_use]
    pub fn unit_scale(mut self, units_per_base: f64) -> Self {
        self.unit_scale = units_per_base;
        self
    }

    /// The lowest discernible and the highest trackable value, in the
    /// histogram's unit (nanoseconds for durations).
    #[must_use]
    pub fn range(mut self, lowest: u64, highest: u64) -> Self {
        self.lowest = lowest;
        self.highest = highest;
        self
    }

    /// Decimal digits of precision, 1 to 5 (2: < 0.8 % error, 3: < 0.1 %).
    #[must_use]
    pub fn significant_digits(mut self, digits: u8) -> Self {
        self.significant_digits = digits;
        self
    }

    /// The sliding window's length and the number of slices it rotates in.
    #[must_use]
    pub fn window(mut self, length: Duration, slices: u32) -> Self {
        self.window = length;
        self.slices = slices;
        self
    }

    /// The quantiles [`Histogram::stats`] reports, each in `0.0..=1.0`.
    #[must_use]
    pub fn quantiles(mut self, quantiles: Vec<f64>) -> Self {
        self.quantiles = quantiles;
        self
    }

    /// The clock windows are measured with (a [`ManualClock`](crate::engine::ManualClock) in tests).
    ///
    /// With the default system clock, the process-wide upkeep thread
    /// rotates the window every slice; with any other clock, windows rotate
    /// when read or when [`Histogram::rotate`] /
    /// [`Registry::rotate_all`](crate::Registry::rotate_all) is called.
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self.system_clock = false;
        self
    }

    /// The layout these settings describe.
    ///
    /// # Errors
    /// As [`Layout::new`].
    pub fn layout(&self) -> Result<Layout, BuildError> {
        Layout::new(self.lowest, self.highest, self.significant_digits)
    }

    pub(crate) fn validate(&self) -> Result<(Layout, u64), BuildError> {
        let layout = self.layout()?;
        let window_ns = u64::try_from(self.window.as_nanos()).unwrap_or(u64::MAX);
        let slices = u64::from(self.slices);
        let bad_window = BuildError::InvalidWindow {
            window_ns,
            slice_ns: window_ns.checked_div(slices).unwrap_or(0),
        };
        if !(1..=1024).contains(&slices) || window_ns % slices != 0 || window_ns / slices == 0 {
            return Err(bad_window);
        }
        if let Some(&q) = self.quantiles.iter().find(|q| !(0.0..=1.0).contains(*q)) {
            return Err(BuildError::InvalidQuantile(q));
        }
        if !(self.unit_scale.is_finite() && self.unit_scale > 0.0) {
            return Err(BuildError::InvalidUnitScale(self.unit_scale));
        }
        Ok((layout, window_ns / slices))
    }

    /// Builds the histogram.
    ///
    /// # Errors
    /// [`BuildError`] when the range, precision, window or a quantile is invalid.
    pub fn build(self) -> Result<Histogram, BuildError> {
        let (layout, slice_ns) = self.validate()?;
        let mut quantiles = self.quantiles;
        quantiles.sort_by(f64::total_cmp);
        quantiles.dedup();
        let now = self.clock.now_ns();
        let histogram = Histogram {
            inner: Arc::new(Inner {
                counts: Counts::new(layout),
                exemplars: Exemplars::default(),
                slowest: Slowest::new(slice_ns, self.slices),
                window_ns: slice_ns.saturating_mul(u64::from(self.slices) + 1),
                system_clock: self.system_clock,
                reader: Mutex::new(Reader {
                    window: Window::new(slice_ns, self.slices as usize, now),
                    last_sum: 0,
                    releases_seen: 0,
                }),
                clock: self.clock,
                quantiles: quantiles.into(),
                unit_scale: self.unit_scale,
            }),
        };
        if self.system_clock {
            let inner: Arc<dyn Rotate> = histogram.inner.clone();
            upkeep::register(Arc::downgrade(&inner), slice_ns);
        }
        Ok(histogram)
    }
}

impl Rotate for Inner {
    fn rotate(&self) {
        Histogram::rotate_inner(self);
    }
}

/// A series of values (typically latencies in nanoseconds) in an HDR
/// histogram; cheap to clone (an `Arc`), shared by every thread that records.
///
/// * Recording ([`record`](Self::record),
///   [`record_duration`](Self::record_duration)) takes no lock, performs no
///   atomic read-modify-write on a shared cache line, never waits for a
///   reader and never panics. Its first value in a new power-of-two range
///   allocates that range's 1 KiB page for the calling thread; after that,
///   nothing.
/// * Reading ([`cumulative`](Self::cumulative), [`window`](Self::window),
///   [`stats`](Self::stats)) copies the counts without stopping writers;
///   readers serialize among themselves.
///
/// ```
/// use std::time::Duration;
/// use tailwatch::Histogram;
///
/// let h = Histogram::new();
/// for ms in 1..=100 {
///     h.record_duration(Duration::from_millis(ms));
/// }
/// let stats = h.stats(); // in seconds
/// assert_eq!(stats.count, 100);
/// let p99 = stats.p99().unwrap();
/// assert!(p99 >= 0.099 && p99 <= 0.099 * (1.0 + stats.relative_error));
/// ```
#[derive(Clone, Debug)]
pub struct Histogram {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    counts: Counts,
    exemplars: Exemplars,
    slowest: Slowest,
    /// The window's length plus one slice: exemplars older are not shown.
    window_ns: u64,
    /// Whether `clock` is the system clock (exemplar times then come from
    /// its cheaper coarse reading).
    system_clock: bool,
    reader: Mutex<Reader>,
    clock: Arc<dyn Clock>,
    quantiles: Box<[f64]>,
    unit_scale: f64,
}

/// State only readers touch.
#[derive(Debug)]
struct Reader {
    window: Window,
    /// Highest sum reported, so a sum read while a writer carries into its
    /// high word never appears to go backwards.
    last_sum: u128,
    /// Slot releases already looked at for stripes to fold (`Counts::reclaim`).
    releases_seen: u64,
}

thread_local! {
    /// Working buffer for rotations, one per reading thread (not per series).
    static SCRATCH: std::cell::RefCell<Snapshot> = std::cell::RefCell::new(Snapshot::default());
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    /// A histogram with the default settings (see [`HistogramBuilder::new`]).
    pub fn new() -> Self {
        match HistogramBuilder::new().build() {
            Ok(h) => h,
            Err(_) => unreachable!("the default settings are valid"),
        }
    }

    /// A builder for other settings.
    pub fn builder() -> HistogramBuilder {
        HistogramBuilder::new()
    }

    /// Records one value in the histogram's unit. A value above the
    /// highest trackable value is recorded as that value and counted in
    /// [`clamped`](Self::clamped). Never blocks, never panics.
    #[inline]
    pub fn record(&self, value: u64) {
        self.inner.counts.record(value);
    }

    /// Records one value, as [`record`](Self::record), and keeps it with
    /// `trace` as the exemplar of its power-of-two range (the latest such
    /// value wins; a zero trace id is not kept). The first exemplar of a
    /// series allocates its slots (one per page of the layout, 64 bytes
    /// each); after that, no allocation and no lock.
    ///
    /// ```
    /// use tailwatch::{Histogram, engine::TraceContext};
    /// let h = Histogram::new();
    /// let trace = TraceContext { trace_id: 0x4bf92f3577b34da6a3ce929d0e0e4736, span_id: 0x00f067aa0ba902b7 };
    /// h.record_with_trace(2_500_000, trace);
    /// let ex = h.exemplars();
    /// assert_eq!((ex[0].value, ex[0].trace), (2_500_000, trace));
    /// ```
    #[inline]
    pub fn record_with_trace(&self, value: u64, trace: TraceContext) {
        let (value, index) = self.inner.counts.record(value);
        // Milliseconds are enough to place an exemplar in time: the system
        // clock's coarse reading costs a tenth of a precise one.
        let at_ns = if self.inner.system_clock {
            SystemClock.coarse_now_ns()
        } else {
            self.inner.clock.now_ns()
        };
        let e = Exemplar {
            value,
            trace,
            at_ns,
        };
        self.inner.exemplars.offer(self.layout(), index, &e);
        self.inner.slowest.offer(&e);
    }

    /// The exemplars of the window: the latest value recorded with a
    /// trace in each power-of-two range, if it was recorded within the
    /// window (its length plus the current slice), ascending by value, with
    /// when it was recorded (on the histogram's clock). Lock-free; a slot
    /// being written at that instant may be missing.
    pub fn exemplars(&self) -> Vec<Exemplar> {
        let mut held = self.inner.exemplars.read();
        let oldest = self
            .inner
            .clock
            .now_ns()
            .saturating_sub(self.inner.window_ns);
        held.retain(|e| e.at_ns >= oldest);
        held
    }

    /// [`record_with_trace`](Self::record_with_trace) when there is a
    /// trace, [`record`](Self::record) otherwise: for callers that found
    /// one with [`current_trace`](crate::measure::current_trace).
    #[inline]
    pub fn record_traced(&self, value: u64, trace: Option<TraceContext>) {
        match trace {
            Some(trace) => self.record_with_trace(value, trace),
            None => self.record(value),
        }
    }

    /// The slowest values recorded with a trace in the window (its slices
    /// and the current one), at most [`SLOWEST_KEPT`](crate::engine::SLOWEST_KEPT), slowest
    /// first: each slice keeps its five slowest traced values. Lock-free;
    /// a value recorded at the same instant as another slow one of the
    /// same series may be missing (see `engine/slowest.rs`).
    ///
    /// ```
    /// use tailwatch::{Histogram, engine::TraceContext};
    /// let h = Histogram::new();
    /// for (ms, id) in [(3, 1), (900, 2), (40, 3)] {
    ///     h.record_with_trace(ms * 1_000_000, TraceContext { trace_id: id, span_id: 1 });
    /// }
    /// let slow = h.slowest();
    /// assert_eq!(slow[0].trace.trace_id, 2);
    /// assert_eq!(slow.len(), 3);
    /// ```
    pub fn slowest(&self) -> Vec<Exemplar> {
        self.inner.slowest.read(self.inner.clock.now_ns())
    }

    /// `at_ns` on this histogram's clock as Unix time, in seconds.
    pub fn unix_seconds_at(&self, at_ns: u64) -> f64 {
        self.to_unix_seconds()(at_ns)
    }

    /// A conversion of times on this histogram's clock into Unix seconds,
    /// both clocks read once: times converted by one keep their order.
    pub(crate) fn to_unix_seconds(&self) -> impl Fn(u64) -> f64 + use<> {
        let unix_now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let now_ns = self.inner.clock.now_ns();
        move |at_ns| unix_now - now_ns.saturating_sub(at_ns) as f64 / 1e9
    }

    /// Records a duration in nanoseconds (saturating, then clamped like
    /// [`record`](Self::record)).
    #[inline]
    pub fn record_duration(&self, duration: Duration) {
        self.record(u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Records a float, e.g. seconds already converted to the histogram's
    /// unit by `scale` (1e9 for seconds into a nanosecond histogram).
    ///
    /// # Errors
    /// The value is never lost silently:
    /// * NaN → [`RecordError::NotANumber`], not recorded, counted in
    ///   [`rejected`](Self::rejected);
    /// * negative (including −∞) → recorded as 0, [`RecordError::Clamped`],
    ///   counted in [`clamped`](Self::clamped);
    /// * above the range (including +∞) → recorded as the highest trackable
    ///   value, [`RecordError::Clamped`], counted in `clamped`.
    ///
    /// ```
    /// use tailwatch::{Histogram, engine::RecordError};
    /// let h = Histogram::new();
    /// h.record_scaled(0.25, 1e9)?; // 250 ms
    /// assert!(matches!(h.record_scaled(f64::NAN, 1e9), Err(RecordError::NotANumber)));
    /// assert!(matches!(h.record_scaled(-1.0, 1e9), Err(RecordError::Clamped { recorded_as: 0, .. })));
    /// assert_eq!((h.stats().total_count, h.rejected(), h.clamped()), (2, 1, 1));
    /// # Ok::<(), RecordError>(())
    /// ```
    pub fn record_scaled(&self, value: f64, scale: f64) -> Result<(), RecordError> {
        let scaled = value * scale;
        if scaled.is_nan() {
            self.inner.counts.reject();
            return Err(RecordError::NotANumber);
        }
        let highest = self.inner.counts.layout().highest_trackable();
        if scaled < 0.0 {
            self.inner.counts.count_clamped();
            self.record(0);
            return Err(RecordError::Clamped {
                value,
                recorded_as: 0,
            });
        }
        if scaled > highest as f64 {
            // `record` clamps and counts.
            self.record(u64::MAX);
            return Err(RecordError::Clamped {
                value,
                recorded_as: highest,
            });
        }
        self.record(scaled.round() as u64);
        Ok(())
    }

    /// Recorded units per base unit (1e9: nanoseconds, reported as seconds).
    pub fn unit_scale(&self) -> f64 {
        self.inner.unit_scale
    }

    /// The quantiles it reports (its [`Stats`] and the window gauges of
    /// the exposition), sorted, each in `0.0..=1.0`.
    pub fn quantiles(&self) -> &[f64] {
        &self.inner.quantiles
    }

    /// The bucket layout (bounds, precision, error bound).
    pub fn layout(&self) -> &Layout {
        self.inner.counts.layout()
    }

    /// Values recorded at the edge of the range instead of their own value.
    pub fn clamped(&self) -> u64 {
        self.inner.counts.clamped()
    }

    /// Values refused (NaN floats).
    pub fn rejected(&self) -> u64 {
        self.inner.counts.rejected()
    }

    /// Whether two handles are the same series.
    pub fn same_as(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    fn reader(&self) -> MutexGuard<'_, Reader> {
        // A reader that panicked cannot have left the state half-written in
        // a way that matters more than losing the window; keep serving.
        self.inner.reader.lock()
    }

    /// Fills `snap` with every value recorded since the histogram was created.
    pub fn cumulative(&self, snap: &mut Snapshot) {
        let mut reader = self.reader();
        self.read_counts(&mut reader, snap, None);
    }

    /// Fills `snap` with the values of the sliding window (between the
    /// window length and one slice more, see [`Snapshot::span_ns`]).
    pub fn window(&self, snap: &mut Snapshot) {
        let now = self.inner.clock.now_ns();
        let mut reader = self.reader();
        Self::rotate_locked(&self.inner, &mut reader, now);
        self.read_counts(&mut reader, snap, Some(now));
    }

    /// Fills `snap` with the window (as [`window`](Self::window)) and
    /// returns the cumulative count and sum, all from one read of the counts.
    pub fn window_with_totals(&self, snap: &mut Snapshot) -> (u64, u128) {
        let now = self.inner.clock.now_ns();
        let mut reader = self.reader();
        Self::rotate_locked(&self.inner, &mut reader, now);
        self.read_counts(&mut reader, snap, None);
        let totals = (snap.count(), snap.sum());
        Self::to_window(&reader, snap, now);
        totals
    }

    /// Fills `cumulative` and `window` from one read of the counts (the two
    /// views of the same instant), for exposition.
    pub fn read_views(&self, cumulative: &mut Snapshot, window: &mut Snapshot) {
        let now = self.inner.clock.now_ns();
        let mut reader = self.reader();
        Self::rotate_locked(&self.inner, &mut reader, now);
        self.read_counts(&mut reader, cumulative, None);
        window.copy_from(cumulative);
        Self::to_window(&reader, window, now);
    }

    /// Advances the window if a slice boundary has passed. Reading does
    /// this too, and so does the upkeep thread for system-clock histograms;
    /// call it yourself only with another clock.
    pub fn rotate(&self) {
        Self::rotate_inner(&self.inner);
    }

    fn rotate_inner(inner: &Inner) {
        let now = inner.clock.now_ns();
        let mut reader = inner.reader.lock();
        Self::rotate_locked(inner, &mut reader, now);
    }

    fn rotate_locked(inner: &Inner, reader: &mut Reader, now: u64) {
        if !reader.window.due(now) {
            return;
        }
        // Give back the stripes of threads that exited (under the reader
        // lock, as `reclaim` requires): at most one slice after the exit.
        #[cfg(not(tailwatch_loom))]
        inner.counts.reclaim(&mut reader.releases_seen);
        let layout = inner.counts.layout();
        let mut rotate = |scratch: &mut Snapshot| {
            scratch.clear(layout);
            let (dense, touched) = scratch.parts_mut();
            let sum = inner.counts.add_into(dense, touched).max(reader.last_sum);
            reader.last_sum = sum;
            reader.window.rotate(now, dense, touched, sum);
            scratch.clear(layout);
        };
        // Re-entrancy (a clock that reads a histogram) gets a fresh buffer.
        let done = SCRATCH.try_with(|cell| match cell.try_borrow_mut() {
            Ok(mut scratch) => {
                rotate(&mut scratch);
                true
            }
            Err(_) => false,
        });
        if done != Ok(true) {
            rotate(&mut Snapshot::new(*layout));
        }
    }

    /// Fills `snap` with the cumulative counts.
    fn read_counts(&self, reader: &mut Reader, snap: &mut Snapshot, now: Option<u64>) {
        snap.clear(self.layout());
        let (dense, touched) = snap.parts_mut();
        let sum = self
            .inner
            .counts
            .add_into(dense, touched)
            .max(reader.last_sum);
        reader.last_sum = sum;
        snap.set_totals(sum, None);
        if let Some(now) = now {
            Self::to_window(reader, snap, now);
        }
    }

    /// Turns a cumulative snapshot into the window's: subtracts the base.
    fn to_window(reader: &Reader, snap: &mut Snapshot, now: u64) {
        let w = &reader.window;
        let base = w.base();
        let sum = snap.sum().wrapping_sub(base.sum);
        let (dense, _) = snap.parts_mut();
        base.subtract_from(dense);
        snap.set_totals(sum, Some(now.saturating_sub(w.base_ns())));
    }

    /// Statistics of the window (count, rate, min, mean, max, the
    /// configured quantiles) and the totals since creation, in base units
    /// (seconds for durations: values divided by the
    /// [`unit_scale`](Self::unit_scale)). For the raw recorded values, read
    /// a [`window`](Self::window) snapshot.
    pub fn stats(&self) -> Stats {
        let mut snap = Snapshot::new(*self.layout());
        self.stats_with(&mut snap)
    }

    /// [`stats`](Self::stats) reusing a snapshot buffer (no 36 KiB
    /// allocation per call when reading many series).
    pub fn stats_with(&self, snap: &mut Snapshot) -> Stats {
        let (total_count, total_sum) = self.window_with_totals(snap);
        let scale = self.inner.unit_scale;
        let mut s = Stats::of_window("", Default::default(), snap, scale, &self.inner.quantiles);
        s.total_count = total_count;
        s.total_sum = total_sum as f64 / scale;
        s.clamped = self.clamped();
        s.rejected = self.rejected();
        s
    }

    /// Heap bytes this series holds: its shards and pages, the window's
    /// base and slice deltas. Readers' working buffers (one dense copy per
    /// reading thread, shared by all series) are not part of it.
    pub fn heap_bytes(&self) -> usize {
        let reader = self.reader();
        size_of::<Inner>()
            + self.inner.counts.heap_bytes()
            + self.inner.exemplars.heap_bytes()
            + self.inner.slowest.heap_bytes()
            + reader.window.heap_bytes()
            + self.inner.quantiles.len() * size_of::<f64>()
    }
}

#[cfg(all(test, not(tailwatch_loom)))]
mod upkeep_tests {
    use std::time::{Duration, Instant};

    use super::Histogram;
    use crate::engine::upkeep;

    #[test]
    fn the_thread_rotates_system_clock_windows_nobody_reads() {
        // Real time: a 1 s window in 100 ms slices. The histogram sits
        // unread for 1.5 s, then gets a value that is read right away. Only
        // if something rotated the window meanwhile is the value attributed
        // to the right slice (otherwise it is taken as 1.5 s old and gone).
        let h = Histogram::builder()
            .window(Duration::from_secs(1), 10)
            .build()
            .unwrap();
        let unread = Instant::now() + Duration::from_millis(1500);
        while Instant::now() < unread {
            std::thread::sleep(Duration::from_millis(20));
        }
        // A whole pass of the thread after that point, however late the
        // scheduler runs it.
        let seen = upkeep::passes();
        while upkeep::passes() < seen + 2 {
            std::thread::sleep(Duration::from_millis(5));
        }
        h.record(5);
        assert_eq!(
            h.stats().count,
            1,
            "the upkeep thread did not rotate the window"
        );
    }
}
