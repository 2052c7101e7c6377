//! Prometheus exposition: text format 0.0.4, and OpenMetrics 1.0 when asked.
//!
//! Rendered from the HDR data, one family per metric name, every family
//! with one `# HELP` and one `# TYPE`:
//!
//! * every histogram of the registry as a Prometheus histogram: cumulative
//!   `_bucket{le}` (boundaries from [`Buckets`], OpenTelemetry's 14 by
//!   default, in base units: seconds), `_sum`, `_count`, since start;
//! * its sliding window: `<name>_quantile_seconds{quantile}` (the
//!   `_seconds` suffix kept last; `<name>_quantile` for other units), typed
//!   `summary` as Prometheus client summaries are (window quantiles, and
//!   cumulative `_sum`/`_count`; `promtool` refuses a `quantile` label on a
//!   gauge), and the gauge `<name>_max_seconds`. The window merges the outcome labels
//!   (`http_response_status_code`, `error_type`, `outcome`): one value per
//!   route or operation, as people read it, over the calls that finished
//!   (cancelled ones have no complete latency). An idle window exports no
//!   quantile (the series is left out, never a made-up 0). These gauges are
//!   per instance: never average them across instances, aggregate the
//!   buckets instead;
//! * the registry's gauges (`http_server_active_requests`, …), the
//!   counters and gauges from the `metrics` facade;
//! * self-metrics: `tailwatch_series{metric}`,
//!   `tailwatch_series_overflow_total{metric}`,
//!   `tailwatch_values_clamped_total{metric}`,
//!   `tailwatch_values_rejected_total{metric}`,
//!   `tailwatch_scrape_duration_seconds` (of the previous scrape).
//!
//! Bucket counts are exact for values up to the HDR resolution: a value in
//! the same HDR bucket as a boundary (within 0.78 % of it) counts as equal
//! to the boundary.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::group::{Ending, families, groups};
use crate::monitor::Monitor;
use crate::registry::{FamilyInfo, SeriesId};
use crate::snapshot::Snapshot;

/// OpenTelemetry's recommended boundaries for HTTP durations, in seconds.
pub const OTEL_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// A label set, owned.
type Labels = Vec<(String, String)>;

/// The window view of one group (route or operation), kept until the
/// family's quantile and max gauges are written.
struct GroupView {
    /// The group's labels, escaped (see [`label_body`]).
    body: String,
    scale: f64,
    quantiles: [Option<u64>; 3],
    max: Option<u64>,
    /// Cumulative count and sum of its finished calls.
    count: u64,
    sum: u128,
}

/// Quantiles exported as window gauges.
const QUANTILES: [f64; 3] = [0.5, 0.95, 0.99];
/// Their `quantile` label values.
const QUANTILE_LABELS: [&str; 3] = ["0.5", "0.95", "0.99"];

/// Bucket boundaries (base units) by metric name; OpenTelemetry's 14 by default.
#[derive(Debug, Clone)]
pub struct Buckets {
    default: Vec<f64>,
    per_metric: BTreeMap<String, Vec<f64>>,
}

impl Default for Buckets {
    fn default() -> Self {
        Self {
            default: OTEL_BUCKETS.to_vec(),
            per_metric: BTreeMap::new(),
        }
    }
}

impl Buckets {
    /// The boundaries of every metric not configured otherwise.
    #[must_use]
    pub fn default_boundaries(mut self, boundaries: Vec<f64>) -> Self {
        self.default = clean(boundaries);
        self
    }

    /// The boundaries of one metric.
    #[must_use]
    pub fn metric(mut self, name: &str, boundaries: Vec<f64>) -> Self {
        self.per_metric.insert(name.to_owned(), clean(boundaries));
        self
    }

    /// A log-linear preset for accurate fleet-wide quantiles: `per_decade`
    /// boundaries per power of ten from `from` to `to` (base units).
    pub fn log_linear(from: f64, to: f64, per_decade: u32) -> Vec<f64> {
        let mut out = Vec::new();
        let mut decade = from;
        while decade <= to {
            for i in 0..per_decade {
                let v = decade * (1.0 + 9.0 * f64::from(i) / f64::from(per_decade));
                if v <= to {
                    out.push(v);
                }
            }
            decade *= 10.0;
        }
        clean(out)
    }

    fn of(&self, name: &str) -> &[f64] {
        self.per_metric.get(name).unwrap_or(&self.default)
    }
}

fn clean(mut b: Vec<f64>) -> Vec<f64> {
    b.retain(|v| v.is_finite() && *v >= 0.0);
    b.sort_by(f64::total_cmp);
    b.dedup();
    b
}

/// Which text format to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4 (`text/plain; version=0.0.4`).
    Prometheus,
    /// OpenMetrics 1.0 (`application/openmetrics-text; version=1.0.0`).
    OpenMetrics,
}

impl Format {
    /// The format an `Accept` header asks for (OpenMetrics only when named).
    pub fn from_accept(accept: Option<&str>) -> Self {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Prometheus,
        }
    }

    /// The `Content-Type` of this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// Duration of the previous scrape, in nanoseconds.
static LAST_SCRAPE_NS: AtomicU64 = AtomicU64::new(0);
/// Length of the previous scrape's text, in bytes.
static LAST_SCRAPE_LEN: AtomicUsize = AtomicUsize::new(0);

/// Escapes a label value for the text formats.
pub fn escape_into(out: &mut String, value: &str) {
    if !value.bytes().any(|b| matches!(b, b'\\' | b'"' | b'\n')) {
        out.push_str(value);
        return;
    }
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// `k="v",k2="v2"` (escaped, empty values left out, no braces): the
/// labels of a series, written once and reused for all its lines.
fn label_body<'a>(out: &mut String, pairs: impl Iterator<Item = (&'a str, &'a str)>) {
    out.clear();
    for (k, v) in pairs.filter(|(_, v)| !v.is_empty()) {
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(k);
        out.push_str("=\"");
        escape_into(out, v);
        out.push('"');
    }
}

/// `name{body,extra}␠` (braces only when there are labels); `extra`'s
/// value must not need escaping.
fn head(out: &mut String, name: &str, body: &str, extra: Option<(&str, &str)>) {
    out.push_str(name);
    if !body.is_empty() || extra.is_some() {
        out.push('{');
        out.push_str(body);
        if let Some((k, v)) = extra {
            if !body.is_empty() {
                out.push(',');
            }
            out.push_str(k);
            out.push_str("=\"");
            out.push_str(v);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
}

/// An integer sample value and the end of its line.
fn int_line(out: &mut String, v: u64) {
    let _ = writeln!(out, "{v}");
}

/// A float sample value and the end of its line.
fn float_line(out: &mut String, v: f64) {
    number(out, v);
    out.push('\n');
}

fn number(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{v}");
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// `x_seconds` → `x_<part>_seconds`; other names → `x_<part>`.
fn derived(name: &str, part: &str) -> String {
    match name.strip_suffix("_seconds") {
        Some(base) => format!("{base}_{part}_seconds"),
        None => format!("{name}_{part}"),
    }
}

fn help_of(name: &str) -> &'static str {
    match name {
        "http_server_request_duration_seconds" => "Duration of HTTP server requests.",
        "operation_duration_seconds" => "Duration of measured operations.",
        "http_server_active_requests" => "HTTP server requests in flight.",
        "operation_active" => "Measured operations in flight.",
        "resource_in_use" => "Units of the resource in use.",
        "resource_capacity" => "Units of the resource in total.",
        "resource_wait_seconds" => "Time spent waiting to acquire a unit of the resource.",
        "resource_idle" => "Units of the resource open but idle (a pool's idle connections).",
        "resource_waiting" => "Callers waiting to acquire a unit of the resource now.",
        "queue_depth" => "Items waiting in the queue.",
        "cache_requests_total" => "Cache lookups by result.",
        "process_cpu_seconds_total" => "User and system CPU time of the process, in seconds.",
        "process_cpu_utilization_ratio" => {
            "CPU time of the process over the sliding window, as a fraction of the CPUs it may use (the cgroup quota when there is one)."
        }
        "process_cpu_limit_cores" => {
            "CPUs the process may use: the cgroup CPU quota, else the CPUs available."
        }
        "process_resident_memory_bytes" => "Resident memory of the process, in bytes.",
        "process_memory_limit_bytes" => {
            "The cgroup memory limit of the process, in bytes (absent when unlimited)."
        }
        "process_open_fds" => "Open file descriptors of the process.",
        "process_max_fds" => "Maximum open file descriptors of the process (soft limit).",
        "process_threads" => "Threads of the process.",
        "tailwatch_series" => "Live series per metric, the overflow series included.",
        "tailwatch_series_overflow_total" => "Label sets folded into an overflow series or value.",
        "tailwatch_values_clamped_total" => {
            "Values recorded at the edge of the range instead of their own value."
        }
        "tailwatch_values_rejected_total" => "Values refused (NaN).",
        "tailwatch_scrape_duration_seconds" => "Time the previous scrape took to render.",
        "tokio_workers" => "Worker threads of the tokio runtime.",
        "tokio_alive_tasks" => "Tasks alive in the tokio runtime.",
        "tokio_global_queue_depth" => "Tasks waiting in the tokio runtime's global queue.",
        "tokio_worker_busy_seconds_total" => {
            "Time the tokio workers spent busy, summed over workers."
        }
        "tokio_worker_parks_total" => "Times the tokio workers parked, summed over workers.",
        "tokio_busy_ratio" => {
            "Busy time of the tokio workers over the sliding window, as a fraction of their time."
        }
        _ => "Recorded by tailwatch.",
    }
}

/// Renders everything `monitor` holds in `format`.
pub fn render(monitor: &Monitor, buckets: &Buckets, format: Format) -> String {
    let started = quanta::Instant::now();
    // Sized from the previous scrape: one allocation, no regrowth copies.
    let last = LAST_SCRAPE_LEN.load(Ordering::Relaxed);
    let mut out = String::with_capacity((last + last / 8).max(16 * 1024));
    let registry = monitor.registry();
    let om = format == Format::OpenMetrics;

    // Histograms by name; series grouped by route or operation (their
    // labels without the outcome labels), then by their own labels.
    let mut snap = Snapshot::default();
    let mut window = Snapshot::default();
    let mut merged = Snapshot::default();
    let mut counts = Vec::new();
    let mut raw = Vec::new();
    for mut members in families(registry.series()) {
        let name = members[0].id.name().to_owned();
        let bounds = buckets.of(&name);
        let les: Vec<String> = bounds.iter().map(|b| format_le(*b)).collect();
        let (bucket_name, sum_name, count_name) = (
            format!("{name}_bucket"),
            format!("{name}_sum"),
            format!("{name}_count"),
        );
        header(&mut out, &name, "histogram", help_of(&name));
        let mut views: Vec<GroupView> = Vec::new();
        let mut body = String::new();
        for range in groups(&mut members) {
            let group = &members[range];
            let scale = group[0].histogram.unit_scale();
            let mut view = GroupView {
                body: String::new(),
                scale,
                quantiles: [None; 3],
                max: None,
                count: 0,
                sum: 0,
            };
            label_body(&mut view.body, group[0].group());
            raw.clear();
            raw.extend(
                bounds
                    .iter()
                    .map(|b| (b * scale).round().min(u64::MAX as f64) as u64),
            );
            // A group of one series (the common case) reads its own window;
            // larger groups merge theirs.
            let alone = group.len() == 1;
            if !alone {
                merged.clear(group[0].histogram.layout());
            }
            for m in group {
                m.histogram.read_views(&mut snap, &mut window);
                if m.ending != Ending::Cancelled {
                    if !alone {
                        merged.merge(&window);
                    }
                    view.count += snap.count();
                    view.sum += snap.sum();
                } else if alone {
                    window.clear(m.histogram.layout());
                }
                snap.cumulative_buckets(&raw, &mut counts);
                label_body(&mut body, m.labels());
                for (le, c) in les.iter().zip(&counts) {
                    head(&mut out, &bucket_name, &body, Some(("le", le)));
                    int_line(&mut out, *c);
                }
                head(&mut out, &bucket_name, &body, Some(("le", "+Inf")));
                int_line(&mut out, snap.count());
                head(&mut out, &sum_name, &body, None);
                float_line(&mut out, snap.sum() as f64 / scale);
                head(&mut out, &count_name, &body, None);
                int_line(&mut out, snap.count());
            }
            let w = if alone { &window } else { &merged };
            w.quantiles_into(&QUANTILES, &mut view.quantiles);
            view.max = w.max();
            views.push(view);
        }
        // The window's quantiles, typed as a summary as Prometheus clients
        // do: quantiles over a sliding window, cumulative `_sum`/`_count`.
        let qname = derived(&name, "quantile");
        header(
            &mut out,
            &qname,
            "summary",
            "Quantiles over the sliding window, per instance (never average them); cumulative sum and count.",
        );
        let (qsum, qcount) = (format!("{qname}_sum"), format!("{qname}_count"));
        for v in &views {
            for (label, value) in QUANTILE_LABELS.iter().zip(v.quantiles) {
                let Some(value) = value else { continue };
                head(&mut out, &qname, &v.body, Some(("quantile", label)));
                float_line(&mut out, value as f64 / v.scale);
            }
            head(&mut out, &qsum, &v.body, None);
            float_line(&mut out, v.sum as f64 / v.scale);
            head(&mut out, &qcount, &v.body, None);
            int_line(&mut out, v.count);
        }
        let mname = derived(&name, "max");
        header(
            &mut out,
            &mname,
            "gauge",
            "Maximum over the sliding window (per instance).",
        );
        for v in &views {
            let Some(max) = v.max else { continue };
            head(&mut out, &mname, &v.body, None);
            float_line(&mut out, max as f64 / v.scale);
        }
    }

    // Gauges of the registry and operations in flight.
    let mut gauges = Scalars::new();
    add_scalars(&mut gauges, registry.gauges(), |g| {
        Num::Int(g.value().into())
    });
    for (op, active) in monitor.operations_in_flight() {
        gauges
            .entry(crate::monitor::OPERATION_ACTIVE.to_owned())
            .or_default()
            .push((vec![("operation".to_owned(), op)], Num::Int(active.into())));
    }
    scalar_families(&mut out, gauges, om, |_| false, help_of);
    // Sampled values (process figures, …): counters when named `_total`.
    let mut values = Scalars::new();
    add_scalars(&mut values, registry.values(), |v| Num::Float(v.get()));
    scalar_families(&mut out, values, om, |n| n.ends_with("_total"), help_of);
    // Counters of the registry (cache lookups, …).
    let mut counters = Scalars::new();
    add_scalars(&mut counters, registry.counters(), |c| {
        Num::Int(c.value().into())
    });
    scalar_families(&mut out, counters, om, |_| true, help_of);

    #[cfg(feature = "metrics")]
    facade(&mut out, monitor, om);

    // Self-metrics.
    let info = registry.families();
    let per_metric = |read: fn(&FamilyInfo) -> u64| -> Vec<(Labels, Num)> {
        info.iter()
            .map(|f| {
                (
                    vec![("metric".to_owned(), f.name.clone())],
                    Num::Int(read(f).into()),
                )
            })
            .collect()
    };
    let mut series = Scalars::new();
    series.insert("tailwatch_series".into(), per_metric(|f| f.series as u64));
    let mut gauges = Scalars::new();
    gauges.insert(
        "tailwatch_scrape_duration_seconds".into(),
        vec![(
            Vec::new(),
            Num::Float(LAST_SCRAPE_NS.load(Ordering::Relaxed) as f64 / 1e9),
        )],
    );
    let mut counters = Scalars::new();
    counters.insert(
        "tailwatch_series_overflow_total".into(),
        per_metric(|f| f.overflow_total),
    );
    counters.insert(
        "tailwatch_values_clamped_total".into(),
        per_metric(|f| f.clamped),
    );
    counters.insert(
        "tailwatch_values_rejected_total".into(),
        per_metric(|f| f.rejected),
    );
    scalar_families(&mut out, series, om, |_| false, help_of);
    scalar_families(&mut out, counters, om, |_| true, help_of);
    scalar_families(&mut out, gauges, om, |_| false, help_of);
    if om {
        out.push_str("# EOF\n");
    }
    LAST_SCRAPE_LEN.store(out.len(), Ordering::Relaxed);
    LAST_SCRAPE_NS.store(
        u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
    out
}

/// A sample value as the text formats write it.
#[derive(Debug, Clone, Copy)]
enum Num {
    /// Counts and integer gauges (u64 and i64 both fit).
    Int(i128),
    Float(f64),
}

/// Scalar samples (gauges, counters) by metric name.
type Scalars = BTreeMap<String, Vec<(Labels, Num)>>;

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

/// Writes each family, its samples sorted by labels: a counter when
/// `counter(name)` (in OpenMetrics the family is named without `_total`
/// and its samples with it), else a gauge.
fn scalar_families(
    out: &mut String,
    families: Scalars,
    om: bool,
    counter: impl Fn(&str) -> bool,
    help: impl Fn(&str) -> &'static str,
) {
    let mut body = String::new();
    for (name, mut values) in families {
        values.sort_by(|a, b| a.0.cmp(&b.0));
        let is_counter = counter(&name);
        let family = name.strip_suffix("_total").unwrap_or(&name);
        let (type_name, sample_name) = match (is_counter, om) {
            (true, true) => (family.to_owned(), format!("{family}_total")),
            _ => (name.clone(), name.clone()),
        };
        header(
            out,
            &type_name,
            if is_counter { "counter" } else { "gauge" },
            help(&name),
        );
        for (l, v) in &values {
            label_body(&mut body, l.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            head(out, &sample_name, &body, None);
            match *v {
                Num::Int(i) => {
                    let _ = writeln!(out, "{i}");
                }
                Num::Float(f) => float_line(out, f),
            }
        }
    }
}

/// A boundary as an `le` value (`0.005`, `1`, `10`; always parseable as a float).
fn format_le(v: f64) -> String {
    let s = format!("{v}");
    if om_needs_dot(&s) {
        format!("{s}.0")
    } else {
        s
    }
}

fn om_needs_dot(s: &str) -> bool {
    !s.contains('.') && !s.contains('e') && !s.contains("inf") && !s.contains("NaN")
}

#[cfg(feature = "metrics")]
fn facade(out: &mut String, monitor: &Monitor, om: bool) {
    let mut counters = Scalars::new();
    for c in monitor.metrics_counters() {
        counters
            .entry(c.name)
            .or_default()
            .push((c.labels, Num::Int(c.value.into())));
    }
    scalar_families(
        out,
        counters,
        om,
        |_| true,
        |_| "Counted through the metrics facade.",
    );
    let mut gauges = Scalars::new();
    for g in monitor.metrics_gauges() {
        gauges
            .entry(g.name)
            .or_default()
            .push((g.labels, Num::Float(g.value)));
    }
    scalar_families(
        out,
        gauges,
        om,
        |_| false,
        |_| "Set through the metrics facade.",
    );
}
