//! The walk over everything a monitor holds, the same for every format: a
//! [`Sink`] (text in `text.rs`, protobuf in `protobuf.rs`) writes what it
//! is handed, so every format has every family.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::buckets::Buckets;
use super::help::{HelpTexts, help_of};
use super::native::NativeBuckets;
use crate::engine::snapshot::Snapshot;
use crate::measure::{Monitor, OPERATION_ACTIVE};
use crate::registry::group::{Ended, families, groups};
use crate::registry::names::{Kind, value_kind};
use crate::registry::{FamilyInfo, Label, SeriesId};

/// A label set, owned.
pub(super) type Labels = Vec<(String, String)>;

/// A sample value of a gauge or counter.
#[derive(Debug, Clone, Copy)]
pub(super) enum Num {
    /// Counts and integer gauges (u64 and i64 both fit).
    Int(i128),
    Float(f64),
}

impl Num {
    pub(super) fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
}

/// A histogram family: what every one of its series is written with.
pub(super) struct HistogramFamily<'a> {
    pub(super) name: &'a str,
    pub(super) help: &'a str,
    /// Classic boundaries, in base units.
    pub(super) bounds: &'a [f64],
    pub(super) native: &'a NativeBuckets,
}

/// One series of a histogram family, read once.
pub(super) struct HistogramSeries<'a> {
    /// Its cumulative counts.
    pub(super) snap: &'a Snapshot,
    /// Recorded units per base unit.
    pub(super) scale: f64,
    /// The cumulative count at each of the family's classic boundaries.
    pub(super) counts: &'a [u64],
    /// Its exemplars, ascending by value (empty unless values were
    /// recorded with a trace).
    pub(super) exemplars: &'a [ExemplarOut],
}

/// An exemplar as the exposition writes it.
#[derive(Clone, Copy, Debug)]
pub(super) struct ExemplarOut {
    /// The value in base units (seconds for durations).
    pub(super) value: f64,
    pub(super) trace: crate::engine::exemplar::TraceContext,
    /// When it was recorded, Unix seconds.
    pub(super) unix_seconds: f64,
}

/// The latest of `exemplars` whose value lies in `(lower, upper]`: the
/// exemplar of the classic bucket with those bounds.
pub(super) fn exemplar_in(
    exemplars: &[ExemplarOut],
    lower: f64,
    upper: f64,
) -> Option<&ExemplarOut> {
    exemplars
        .iter()
        .filter(|e| e.value > lower && e.value <= upper)
        .max_by(|a, b| a.unix_seconds.total_cmp(&b.unix_seconds))
}

/// `h`'s exemplars into `out`, their times turned into Unix time.
fn exemplars_of(h: &crate::engine::histogram::Histogram, out: &mut Vec<ExemplarOut>) {
    out.clear();
    let held = h.exemplars();
    if held.is_empty() {
        return;
    }
    let scale = h.unit_scale();
    let unix = h.to_unix_seconds();
    out.extend(held.iter().map(|e| ExemplarOut {
        value: e.value as f64 / scale,
        trace: e.trace,
        unix_seconds: unix(e.at_ns),
    }));
}

/// The window of one group (a route, an operation): the series that differ
/// only in outcome labels, merged.
pub(super) struct GroupView<'a> {
    pub(super) labels: Vec<Label<'a>>,
    pub(super) scale: f64,
    /// The configured quantiles and their values (`None`: an idle window).
    pub(super) quantiles: &'a [f64],
    pub(super) values: Vec<Option<u64>>,
    pub(super) max: Option<u64>,
    /// Cumulative count and sum of its finished calls.
    pub(super) count: u64,
    pub(super) sum: u128,
}

/// What a format writes.
pub(super) trait Sink {
    /// A histogram family starts; its series follow.
    fn histogram_family(&mut self, family: &HistogramFamily<'_>);
    /// One series of the current histogram family.
    fn histogram<'l>(
        &mut self,
        labels: impl Iterator<Item = Label<'l>>,
        series: &HistogramSeries<'_>,
    );
    /// The window families of the histogram family `name`: its quantiles
    /// (a summary) and its max (a gauge), one entry per group.
    fn window_families(&mut self, name: &str, views: &[GroupView<'_>]);
    /// A gauge (or, when `counter`, a counter) family, samples sorted.
    fn scalar_family(&mut self, name: &str, help: &str, counter: bool, values: &[(Labels, Num)]);
    /// A sink for a part of the current histogram family's series, to be
    /// written on another thread and appended with [`join`](Self::join);
    /// `None` when the format cannot split a family.
    fn fork(&self) -> Option<Self>
    where
        Self: Sized,
    {
        None
    }
    /// Appends a part made by [`fork`](Self::fork).
    fn join(&mut self, _part: Self)
    where
        Self: Sized,
    {
    }
}

/// Families with at least this many series are read and written by
/// several threads at once.
pub(super) const PARALLEL_FROM: usize = 2_000;

/// How many threads a large family is split over: the cores, at most 4
/// (a scrape should not take a big server's every core).
pub(super) fn render_threads() -> usize {
    static N: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *N.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(4)))
}

/// A monitor's previous scrape (each monitor its own: two agents in one
/// process do not report each other's).
#[derive(Debug, Default)]
pub(super) struct LastScrape {
    /// Its length in bytes: the next one's buffer is sized from it (one
    /// allocation, no regrowth copies).
    len: AtomicUsize,
    /// How long it took (`tailwatch_scrape_duration_seconds`).
    pub(super) nanos: AtomicU64,
}

impl LastScrape {
    pub(super) fn of(monitor: &Monitor) -> std::sync::Arc<Self> {
        monitor.inner.extensions.get_or_init(Self::default)
    }

    pub(super) fn capacity(&self) -> usize {
        let last = self.len.load(Ordering::Relaxed);
        (last + last / 8).max(16 * 1024)
    }

    pub(super) fn done(&self, started: quanta::Instant, len: usize) {
        self.len.store(len, Ordering::Relaxed);
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.nanos.store(nanos, Ordering::Relaxed);
    }
}

/// Hands every family `monitor` holds to `sink`.
pub(super) fn walk<S: Sink + Send>(monitor: &Monitor, buckets: &Buckets, sink: &mut S) {
    let registry = monitor.registry();
    let helps = registry.helps();
    let help_of = |name: &str| help_of(&helps, name);
    histograms(monitor, buckets, &helps, sink);

    // Gauges of the registry and operations in flight.
    let mut gauges = Scalars::new();
    add_scalars(&mut gauges, registry.gauges(), |g| {
        Num::Int(g.value().into())
    });
    for (op, active) in monitor.operations_in_flight() {
        gauges
            .entry(OPERATION_ACTIVE.to_owned())
            .or_default()
            .push((vec![("operation".to_owned(), op)], Num::Int(active.into())));
    }
    scalars(sink, gauges, |_| false, help_of);
    // Sampled values (process figures, …): counters when named `_total`.
    let mut values = Scalars::new();
    add_scalars(&mut values, registry.values(), |v| Num::Float(v.get()));
    scalars(sink, values, |n| value_kind(n) == Kind::Counter, help_of);
    // Counters of the registry (cache lookups, …).
    let mut counters = Scalars::new();
    add_scalars(&mut counters, registry.counters(), |c| {
        Num::Int(c.value().into())
    });
    scalars(sink, counters, |_| true, help_of);

    #[cfg(feature = "metrics")]
    facade(monitor, &help_of, sink);

    // Self-metrics.
    let info = registry.families();
    let of = |keep: fn(&FamilyInfo) -> bool, read: fn(&FamilyInfo) -> u64| -> Vec<(Labels, Num)> {
        info.iter()
            .filter(|f| keep(f))
            .map(|f| {
                (
                    vec![("metric".to_owned(), f.name.clone())],
                    Num::Int(read(f).into()),
                )
            })
            .collect()
    };
    let per_metric = |read| of(|_| true, read);
    // Only histograms clamp or refuse values.
    let histograms_only = |read| of(|f| f.histogram, read);
    // The data-quality counters are written for the metrics where they
    // are not zero: most metrics never fold, cut or clamp, and a line of
    // each per metric name would be most of a scrape of many names.
    let nonzero = |mut v: Vec<(Labels, Num)>| {
        v.retain(|(_, n)| !matches!(n, Num::Int(0)));
        v
    };
    let mut series = Scalars::new();
    series.insert("tailwatch_series".into(), per_metric(|f| f.series as u64));
    let mut counters = Scalars::new();
    counters.insert(
        "tailwatch_series_overflow_total".into(),
        nonzero(per_metric(|f| f.overflow_total)),
    );
    // Names folded outside the registry: operations past the monitor's
    // cap, facade names that could not be had.
    let overflow = counters
        .entry("tailwatch_series_overflow_total".into())
        .or_default();
    add_to(
        overflow,
        crate::measure::OPERATION_DURATION,
        monitor.operations_folded(),
    );
    #[cfg(feature = "metrics")]
    for (metric, n) in monitor.facade().map(|f| f.folded()).unwrap_or_default() {
        add_to(overflow, &metric, n);
    }
    counters.insert(
        "tailwatch_label_values_truncated_total".into(),
        nonzero(per_metric(|f| f.truncated)),
    );
    counters.insert(
        "tailwatch_values_clamped_total".into(),
        nonzero(histograms_only(|f| f.clamped)),
    );
    counters.insert(
        "tailwatch_values_rejected_total".into(),
        nonzero(histograms_only(|f| f.rejected)),
    );
    let mut gauges = Scalars::new();
    gauges.insert(
        "tailwatch_scrape_duration_seconds".into(),
        vec![(
            Vec::new(),
            Num::Float(LastScrape::of(monitor).nanos.load(Ordering::Relaxed) as f64 / 1e9),
        )],
    );
    scalars(sink, series, |_| false, help_of);
    scalars(sink, counters, |_| true, help_of);
    scalars(sink, gauges, |_| false, help_of);
}

/// Every histogram family: its series (cumulative), then its window
/// families, grouped by route or operation (labels without the outcome
/// labels). A family of [`PARALLEL_FROM`] series or more is split by groups
/// over [`render_threads`] threads when the format allows it; the parts
/// are appended in order, so the output is the same.
pub(super) fn histograms<S: Sink + Send>(
    monitor: &Monitor,
    buckets: &Buckets,
    helps: &HelpTexts,
    sink: &mut S,
) {
    let mut buffers = Buffers::default();
    let added = super::buckets::AddedBoundaries::of(monitor);
    for mut members in families(monitor.registry().series()) {
        let name = members[0].id.name().to_owned();
        let bounds = buckets.of(&name);
        let bounds = match &added {
            Some(a) => a.with(&name, bounds),
            None => std::borrow::Cow::Borrowed(bounds),
        };
        let bounds = &*bounds;
        let native = buckets.native_of(&name);
        sink.histogram_family(&HistogramFamily {
            name: &name,
            help: help_of(helps, &name),
            bounds,
            native,
        });
        let ranges = groups(&mut members);
        let views = if members.len() >= PARALLEL_FROM && render_threads() > 1 {
            write_split(&members, ranges, bounds, sink, &mut buffers)
        } else {
            write_groups(&members, ranges, bounds, sink, &mut buffers)
        };
        sink.window_families(&name, &views);
    }
}

/// [`write_groups`] split over [`render_threads`] threads, cut between
/// groups: the calling thread writes the first part into `sink` itself (one
/// buffer fewer to fault in and copy), the others write forks of it,
/// appended in order. One thread when the format cannot fork.
fn write_split<'m, S: Sink + Send>(
    members: &'m [crate::registry::group::Member],
    ranges: Vec<std::ops::Range<usize>>,
    bounds: &[f64],
    sink: &mut S,
    buffers: &mut Buffers,
) -> Vec<GroupView<'m>> {
    let per = members.len().div_ceil(render_threads());
    let mut chunks: Vec<Vec<std::ops::Range<usize>>> = vec![Vec::new()];
    let mut in_chunk = 0;
    for range in ranges {
        if in_chunk >= per {
            chunks.push(Vec::new());
            in_chunk = 0;
        }
        in_chunk += range.len();
        if let Some(c) = chunks.last_mut() {
            c.push(range);
        }
    }
    let forks: Option<Vec<S>> = chunks.iter().skip(1).map(|_| sink.fork()).collect();
    let Some(forks) = forks else {
        return write_groups(members, chunks.concat(), bounds, sink, buffers);
    };
    let mut chunks = chunks.into_iter();
    let first = chunks.next().unwrap_or_default();
    let (mut views, parts) = std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .zip(forks)
            .map(|(chunk, mut part)| {
                scope.spawn(move || {
                    let views =
                        write_groups(members, chunk, bounds, &mut part, &mut Buffers::default());
                    (part, views)
                })
            })
            .collect();
        let views = write_groups(members, first, bounds, sink, buffers);
        let parts: Vec<(S, Vec<GroupView<'m>>)> = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect();
        (views, parts)
    });
    for (part, v) in parts {
        sink.join(part);
        views.extend(v);
    }
    views
}

/// Reading buffers, one set per thread writing series.
#[derive(Default)]
struct Buffers {
    snap: Snapshot,
    window: Snapshot,
    merged: Snapshot,
    counts: Vec<u64>,
    raw: Vec<u64>,
    exemplars: Vec<ExemplarOut>,
}

/// Writes the series of the groups `ranges` of `members` to `sink` and
/// returns the groups' window views.
fn write_groups<'m>(
    members: &'m [crate::registry::group::Member],
    ranges: Vec<std::ops::Range<usize>>,
    bounds: &[f64],
    sink: &mut impl Sink,
    b: &mut Buffers,
) -> Vec<GroupView<'m>> {
    let mut views: Vec<GroupView<'m>> = Vec::with_capacity(ranges.len());
    for range in ranges {
        let group = &members[range];
        let first = &group[0].histogram;
        let scale = first.unit_scale();
        b.raw.clear();
        b.raw.extend(
            bounds
                .iter()
                .map(|x| (x * scale).round().min(u64::MAX as f64) as u64),
        );
        // A group of one series (the common case) reads its own window;
        // larger groups merge theirs.
        let alone = group.len() == 1;
        if !alone {
            b.merged.clear(first.layout());
        }
        let (mut count, mut sum) = (0, 0);
        for m in group {
            m.histogram.read_views(&mut b.snap, &mut b.window);
            if m.ending != Ended::Cancelled {
                if !alone {
                    b.merged.merge(&b.window);
                }
                count += b.snap.count();
                sum += b.snap.sum();
            } else if alone {
                b.window.clear(m.histogram.layout());
            }
            b.snap.cumulative_buckets(&b.raw, &mut b.counts);
            exemplars_of(&m.histogram, &mut b.exemplars);
            let series = HistogramSeries {
                snap: &b.snap,
                scale: m.histogram.unit_scale(),
                counts: &b.counts,
                exemplars: &b.exemplars,
            };
            sink.histogram(m.labels(), &series);
        }
        let w = if alone { &b.window } else { &b.merged };
        let quantiles = group[0].histogram.quantiles();
        let mut values = vec![None; quantiles.len()];
        w.quantiles_into(quantiles, &mut values);
        views.push(GroupView {
            labels: group[0].group().collect(),
            scale,
            quantiles,
            values,
            max: w.max(),
            count,
            sum,
        });
    }
    views
}

/// Adds `n` to the sample labelled `metric="<metric>"` of a self-metric,
/// creating it if needed (and `n` is not 0).
fn add_to(samples: &mut Vec<(Labels, Num)>, metric: &str, n: u64) {
    if n == 0 {
        return;
    }
    match samples.iter_mut().find(|(l, _)| l[0].1 == metric) {
        Some((_, Num::Int(v))) => *v += i128::from(n),
        _ => samples.push((
            vec![("metric".to_owned(), metric.to_owned())],
            Num::Int(n.into()),
        )),
    }
}

/// Scalar samples (gauges, counters) by metric name.
type Scalars = std::collections::BTreeMap<String, Vec<(Labels, Num)>>;

/// Adds every `(id, handle)` to `into`, read by `read`.
fn add_scalars<H>(into: &mut Scalars, handles: Vec<(SeriesId, H)>, read: impl Fn(&H) -> Num) {
    for (id, h) in handles {
        let labels = id
            .labels()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        into.entry(id.name().to_owned())
            .or_default()
            .push((labels, read(&h)));
    }
}

/// Hands each family to `sink`, its samples sorted by labels.
fn scalars<'h>(
    sink: &mut impl Sink,
    families: Scalars,
    counter: impl Fn(&str) -> bool,
    help: impl for<'n> Fn(&'n str) -> &'h str,
) {
    for (name, mut values) in families {
        // A family without samples is not written (no header alone).
        if values.is_empty() {
            continue;
        }
        values.sort_by(|a, b| a.0.cmp(&b.0));
        sink.scalar_family(&name, help(&name), counter(&name), &values);
    }
}

#[cfg(feature = "metrics")]
fn facade<'h>(monitor: &Monitor, help_of: &impl Fn(&str) -> &'h str, sink: &mut impl Sink) {
    // Its counters and gauges are the registry's; what it renamed is its own.
    let mut renamed = Scalars::new();
    renamed.insert(
        "tailwatch_facade_renamed_total".into(),
        vec![(
            Vec::new(),
            Num::Int(monitor.facade().map_or(0, |f| f.renamed()).into()),
        )],
    );
    scalars(sink, renamed, |_| true, help_of);
}
