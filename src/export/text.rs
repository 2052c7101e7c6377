//! The text formats (Prometheus 0.0.4 and OpenMetrics 1.0): label
//! escaping, sample lines, `# HELP`/`# TYPE` headers, and [`TextSink`],
//! which writes what the walk hands it.

use std::fmt::Write as _;

use super::buckets::format_le;
use super::walk::{
    ExemplarOut, GroupView, HistogramFamily, HistogramSeries, Labels, Num, Sink, exemplar_in,
};
use crate::registry::Label;

/// Escapes a label value for the text formats.
pub fn escape_into(out: &mut String, value: &str) {
    escape(out, value, true);
}

/// Escapes `\\` and newlines, and `"` when `quotes` (label values, and
/// help texts in OpenMetrics; 0.0.4 help texts keep their quotes).
#[inline]
fn escape(out: &mut String, value: &str, quotes: bool) {
    if !value
        .bytes()
        .any(|b| matches!(b, b'\\' | b'\n') || (quotes && b == b'"'))
    {
        out.push_str(value);
        return;
    }
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' if quotes => out.push_str("\\\""),
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
    out.push_str(itoa::Buffer::new().format(v));
    out.push('\n');
}

/// A bucket's count, then the latest exemplar whose value lies in
/// `(lower, upper]` if any (` # {trace_id="…",span_id="…"} value time`:
/// 63 characters of labels, within OpenMetrics' 128), and the end of line.
fn count_with_exemplar(
    out: &mut String,
    v: u64,
    exemplars: &[ExemplarOut],
    lower: f64,
    upper: f64,
) {
    out.push_str(itoa::Buffer::new().format(v));
    if let Some(e) = exemplar_in(exemplars, lower, upper) {
        let _ = write!(
            out,
            " # {{trace_id=\"{:032x}\",span_id=\"{:016x}\"}} ",
            e.trace.trace_id, e.trace.span_id
        );
        number(out, e.value);
        out.push(' ');
        // Milliseconds are enough, and keep the line short.
        number(out, (e.unix_seconds * 1e3).round() / 1e3);
    }
    out.push('\n');
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
    } else if v.fract() == 0.0 && v.abs() < 9.0e15 {
        // Integral values as integers (`2`, not `2.0`), as `{v}` writes them.
        out.push_str(itoa::Buffer::new().format(v as i64));
    } else {
        // Shortest round-trip digits, as `{v}` writes them but faster;
        // Prometheus parses either form (`1e-7` or `0.0000001`).
        out.push_str(ryu::Buffer::new().format_finite(v));
    }
}

/// `# HELP` and `# TYPE`. The help is escaped as the format wants it
/// (a user's text may hold anything): `\\` and newlines in both, `"` in
/// OpenMetrics too.
fn header(out: &mut String, om: bool, name: &str, kind: &str, help: &str) {
    let _ = write!(out, "# HELP {name} ");
    escape(out, help, om);
    out.push('\n');
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

use crate::registry::names::counter_family;
pub(super) use crate::registry::names::derived;

/// The `quantile` label value of `q` (`0.5`, `0.99`, `0.999`).
pub(super) fn quantile_label(q: f64) -> String {
    format!("{q}")
}

/// Help of the window quantile summary.
pub(super) const QUANTILE_HELP: &str = "Quantiles over the sliding window, per instance (never average them); cumulative sum and count.";
/// Help of the window max gauge.
pub(super) const MAX_HELP: &str = "Maximum over the sliding window (per instance).";

/// Writes the text formats into a string.
pub(super) struct TextSink {
    pub(super) out: String,
    om: bool,
    /// The current histogram family's sample names and `le` texts.
    bucket_name: String,
    sum_name: String,
    count_name: String,
    les: Vec<String>,
    /// The same boundaries as numbers (to place exemplars).
    bounds: Vec<f64>,
    /// `quantile` label texts by quantile.
    quantile_texts: Vec<(f64, String)>,
    /// Labels of the series being written.
    body: String,
}

impl TextSink {
    pub(super) fn new(capacity: usize, open_metrics: bool) -> Self {
        Self {
            out: String::with_capacity(capacity),
            om: open_metrics,
            bucket_name: String::new(),
            sum_name: String::new(),
            count_name: String::new(),
            les: Vec::new(),
            bounds: Vec::new(),
            quantile_texts: Vec::new(),
            body: String::new(),
        }
    }

    /// Ends the exposition (OpenMetrics' `# EOF`).
    pub(super) fn finish(mut self) -> String {
        if self.om {
            self.out.push_str("# EOF\n");
        }
        self.out
    }
}

impl Sink for TextSink {
    fn fork(&self) -> Option<Self> {
        Some(Self {
            out: String::new(),
            om: self.om,
            bucket_name: self.bucket_name.clone(),
            sum_name: self.sum_name.clone(),
            count_name: self.count_name.clone(),
            les: self.les.clone(),
            bounds: self.bounds.clone(),
            quantile_texts: self.quantile_texts.clone(),
            body: String::new(),
        })
    }

    fn join(&mut self, part: Self) {
        self.out.push_str(&part.out);
    }

    fn histogram_family(&mut self, f: &HistogramFamily<'_>) {
        header(&mut self.out, self.om, f.name, "histogram", f.help);
        self.bucket_name = format!("{}_bucket", f.name);
        self.sum_name = format!("{}_sum", f.name);
        self.count_name = format!("{}_count", f.name);
        self.les.clear();
        self.les.extend(f.bounds.iter().map(|b| format_le(*b)));
        self.bounds.clear();
        self.bounds.extend_from_slice(f.bounds);
    }

    fn histogram<'l>(&mut self, labels: impl Iterator<Item = Label<'l>>, s: &HistogramSeries<'_>) {
        let out = &mut self.out;
        label_body(&mut self.body, labels);
        // Exemplars only in OpenMetrics (the 0.0.4 text has no syntax for them).
        let exemplars = if self.om { s.exemplars } else { &[] };
        let mut lower = f64::NEG_INFINITY;
        for ((le, c), &upper) in self.les.iter().zip(s.counts).zip(&self.bounds) {
            head(out, &self.bucket_name, &self.body, Some(("le", le)));
            count_with_exemplar(out, *c, exemplars, lower, upper);
            lower = upper;
        }
        head(out, &self.bucket_name, &self.body, Some(("le", "+Inf")));
        count_with_exemplar(out, s.snap.count(), exemplars, lower, f64::INFINITY);
        head(out, &self.sum_name, &self.body, None);
        float_line(out, s.snap.sum() as f64 / s.scale);
        head(out, &self.count_name, &self.body, None);
        int_line(out, s.snap.count());
    }

    fn window_families(&mut self, name: &str, views: &[GroupView<'_>]) {
        // The window's quantiles, typed as a summary as Prometheus clients
        // do: quantiles over a sliding window, cumulative `_sum`/`_count`.
        let out = &mut self.out;
        let qname = derived(name, "quantile");
        header(out, self.om, &qname, "summary", QUANTILE_HELP);
        let (qsum, qcount) = (format!("{qname}_sum"), format!("{qname}_count"));
        for v in views {
            label_body(&mut self.body, v.labels.iter().copied());
            for (q, value) in v.quantiles.iter().zip(&v.values) {
                let Some(value) = value else { continue };
                // The label texts of the few quantiles in use, made once.
                let i = match self.quantile_texts.iter().position(|(k, _)| k == q) {
                    Some(i) => i,
                    None => {
                        self.quantile_texts.push((*q, quantile_label(*q)));
                        self.quantile_texts.len() - 1
                    }
                };
                head(
                    out,
                    &qname,
                    &self.body,
                    Some(("quantile", &self.quantile_texts[i].1)),
                );
                float_line(out, *value as f64 / v.scale);
            }
            head(out, &qsum, &self.body, None);
            float_line(out, v.sum as f64 / v.scale);
            head(out, &qcount, &self.body, None);
            int_line(out, v.count);
        }
        let mname = derived(name, "max");
        header(out, self.om, &mname, "gauge", MAX_HELP);
        for v in views {
            let Some(max) = v.max else { continue };
            label_body(&mut self.body, v.labels.iter().copied());
            head(out, &mname, &self.body, None);
            float_line(out, max as f64 / v.scale);
        }
    }

    /// A counter in OpenMetrics is a family named without `_total` whose
    /// samples carry it; in text 0.0.4 both are the full name.
    fn scalar_family(&mut self, name: &str, help: &str, counter: bool, values: &[(Labels, Num)]) {
        let family = counter_family(name);
        let (type_name, sample_name) = match (counter, self.om) {
            (true, true) => (family.to_owned(), format!("{family}_total")),
            _ => (name.to_owned(), name.to_owned()),
        };
        let out = &mut self.out;
        header(
            out,
            self.om,
            &type_name,
            if counter { "counter" } else { "gauge" },
            help,
        );
        for (l, v) in values {
            label_body(
                &mut self.body,
                l.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            );
            head(out, &sample_name, &self.body, None);
            match *v {
                Num::Int(i) => {
                    let _ = writeln!(out, "{i}");
                }
                Num::Float(f) => float_line(out, f),
            }
        }
    }
}

#[cfg(all(test, not(tailwatch_loom)))]
mod tests {
    use super::*;
    use crate::engine::clock::ManualClock;
    use crate::engine::histogram::HistogramBuilder;
    use crate::export::buckets::Buckets;
    use crate::export::walk::{PARALLEL_FROM, histograms, render_threads};
    use crate::measure::Monitor;
    use crate::registry::Registry;

    /// A text sink that cannot split a family: the single-thread render.
    struct Whole(TextSink);

    impl Sink for Whole {
        fn histogram_family(&mut self, family: &HistogramFamily<'_>) {
            self.0.histogram_family(family);
        }
        fn histogram<'l>(
            &mut self,
            labels: impl Iterator<Item = Label<'l>>,
            s: &HistogramSeries<'_>,
        ) {
            self.0.histogram(labels, s);
        }
        fn window_families(&mut self, name: &str, views: &[GroupView<'_>]) {
            self.0.window_families(name, views);
        }
        fn scalar_family(
            &mut self,
            name: &str,
            help: &str,
            counter: bool,
            values: &[(Labels, Num)],
        ) {
            self.0.scalar_family(name, help, counter, values);
        }
    }

    #[test]
    fn a_family_split_over_threads_renders_as_one_thread_would() {
        let clock = ManualClock::new();
        let monitor = Monitor::builder()
            .registry(
                Registry::builder()
                    .series_cap(10_000)
                    .defaults(HistogramBuilder::new().clock(std::sync::Arc::new(clock.clone()))),
            )
            .build()
            .unwrap();
        // Groups of one and of three series (status codes of a route).
        for i in 0..(PARALLEL_FROM + 500) as u64 {
            let route = format!("/r/{}", i / 3);
            let status = ["200", "404", "500"][(i % 3) as usize];
            let h = monitor
                .registry()
                .histogram("req_seconds", &[("route", &route), ("status", status)])
                .unwrap();
            (0..=i % 50).for_each(|v| h.record(1_000 + v * 10_007 + i));
        }
        let buckets = Buckets::otel();
        let mut split = TextSink::new(0, false);
        histograms(&monitor, &buckets, &Default::default(), &mut split);
        let mut whole = Whole(TextSink::new(0, false));
        histograms(&monitor, &buckets, &Default::default(), &mut whole);
        assert!(render_threads() > 1 || std::thread::available_parallelism().unwrap().get() == 1);
        assert!(split.out.len() > 500_000, "{}", split.out.len());
        assert!(split.out == whole.0.out, "the split render differs");
    }
}
