//! [`render`]: everything a monitor holds, in one text exposition.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::buckets::{Buckets, format_le};
use super::format::Format;
use super::help::help_of;
use super::text::{
    Labels, Num, Scalars, add_scalars, derived, float_line, head, header, int_line, label_body,
    scalar_families,
};
use crate::engine::snapshot::Snapshot;
use crate::measure::Monitor;
use crate::registry::FamilyInfo;
use crate::registry::group::{Ending, families, groups};

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

/// Duration of the previous scrape, in nanoseconds.
static LAST_SCRAPE_NS: AtomicU64 = AtomicU64::new(0);
/// Length of the previous scrape's text, in bytes.
static LAST_SCRAPE_LEN: AtomicUsize = AtomicUsize::new(0);

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
            .entry(crate::measure::OPERATION_ACTIVE.to_owned())
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
