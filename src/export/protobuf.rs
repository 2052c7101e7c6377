//! The Prometheus protobuf format: length-delimited
//! `io.prometheus.client.MetricFamily` messages, every family the text
//! formats have, each histogram with its classic buckets and its native
//! (sparse exponential) buckets.
//!
//! A family is written as it is walked: each series is encoded into a
//! scratch buffer through one reused [`proto::Metric`] (its vectors and
//! strings keep their capacity), and the family's length prefix and head
//! are written when it ends. No message tree of the whole scrape is built.

use prost::Message as _;
use prost::encoding::{encode_varint, message};

use super::native::{Native, NativeBuckets};
use super::proto::{self, MetricType};
use super::text::{MAX_HELP, QUANTILE_HELP, derived};
use super::walk::{
    ExemplarOut, GroupView, HistogramFamily, HistogramSeries, Labels, Num, Sink, exemplar_in,
};
use crate::registry::Label;

/// `MetricFamily.metric` is field 4.
const METRIC_FIELD: u32 = 4;

/// Writes the protobuf format into a byte buffer.
pub(super) struct ProtoSink {
    pub(super) out: Vec<u8>,
    /// The family being written: its head, and its metrics encoded so far.
    head: Option<proto::MetricFamily>,
    body: Vec<u8>,
    /// One metric, refilled for every series.
    metric: proto::Metric,
    /// The current histogram family's classic boundaries and native settings.
    bounds: Vec<f64>,
    settings: NativeBuckets,
    native: Native,
}

impl ProtoSink {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            out: Vec::with_capacity(capacity),
            head: None,
            body: Vec::new(),
            metric: proto::Metric::default(),
            bounds: Vec::new(),
            settings: NativeBuckets::new(),
            native: Native::default(),
        }
    }

    /// Ends the exposition: writes the family still open.
    pub(super) fn finish(mut self) -> Vec<u8> {
        self.end();
        self.out
    }

    fn begin(&mut self, name: &str, help: &str, kind: MetricType) {
        self.end();
        self.head = Some(proto::MetricFamily {
            name: Some(name.to_owned()),
            help: Some(help.to_owned()),
            r#type: Some(kind as i32),
            metric: Vec::new(),
            unit: None,
        });
    }

    /// Encodes the current metric into the family's body.
    fn push(&mut self) {
        message::encode(METRIC_FIELD, &self.metric, &mut self.body);
    }

    /// Writes the open family: its length, its head, its metrics.
    fn end(&mut self) {
        if let Some(head) = self.head.take() {
            let len = head.encoded_len() + self.body.len();
            encode_varint(len as u64, &mut self.out);
            // Writing into a Vec cannot fail (it grows as needed).
            let _ = head.encode(&mut self.out);
            self.out.extend_from_slice(&self.body);
            self.body.clear();
        }
    }

    /// Sets the metric's labels (empty values left out, as in the text
    /// formats), reusing its strings, and clears its values.
    fn labels<'l>(&mut self, labels: impl Iterator<Item = Label<'l>>) {
        let m = &mut self.metric;
        m.gauge = None;
        m.counter = None;
        m.summary = None;
        m.untyped = None;
        m.timestamp_ms = None;
        let mut n = 0;
        for (k, v) in labels.filter(|(_, v)| !v.is_empty()) {
            if n == m.label.len() {
                m.label.push(proto::LabelPair::default());
            }
            let pair = &mut m.label[n];
            set(&mut pair.name, k);
            set(&mut pair.value, v);
            n += 1;
        }
        m.label.truncate(n);
    }
}

/// `slot = Some(value)`, reusing the string already there.
fn set(slot: &mut Option<String>, value: &str) {
    let s = slot.get_or_insert_with(String::new);
    s.clear();
    s.push_str(value);
}

impl Sink for ProtoSink {
    fn histogram_family(&mut self, f: &HistogramFamily<'_>) {
        self.begin(f.name, f.help, MetricType::Histogram);
        self.bounds.clear();
        self.bounds.extend_from_slice(f.bounds);
        self.settings = *f.native;
    }

    fn histogram<'l>(&mut self, labels: impl Iterator<Item = Label<'l>>, s: &HistogramSeries<'_>) {
        self.labels(labels);
        self.native.fill(s.snap, s.scale, &self.settings);
        let n = &self.native;
        let h = self.metric.histogram.get_or_insert_with(Default::default);
        h.sample_count = Some(s.snap.count());
        h.sample_sum = Some(s.snap.sum() as f64 / s.scale);
        h.bucket.clear();
        // The classic buckets carry one exemplar: the newest, in its
        // bucket. Prometheus before 2.50 reads a native histogram's
        // exemplar from its classic buckets, only the first one found, once
        // per scrape: with the newest alone there, every scrape brings the
        // latest trace, in time order (an older one would be refused as
        // out of order). Later versions read the full list below.
        let newest = s
            .exemplars
            .iter()
            .max_by(|a, b| a.unix_seconds.total_cmp(&b.unix_seconds));
        let on_buckets = newest.map_or(&[][..], std::slice::from_ref);
        let mut lower = f64::NEG_INFINITY;
        h.bucket.extend(
            self.bounds
                .iter()
                .zip(s.counts)
                .map(|(&upper_bound, &count)| {
                    let exemplar = exemplar_in(on_buckets, lower, upper_bound).map(exemplar_proto);
                    lower = upper_bound;
                    proto::Bucket {
                        cumulative_count: Some(count),
                        upper_bound: Some(upper_bound),
                        exemplar,
                        ..Default::default()
                    }
                }),
        );
        // Native histograms carry their exemplars apart, each timestamped.
        h.exemplars.clear();
        h.exemplars.extend(s.exemplars.iter().map(exemplar_proto));
        h.schema = Some(i32::from(n.schema));
        h.zero_threshold = Some(n.zero_threshold);
        h.zero_count = Some(n.zero_count);
        h.positive_span.clear();
        h.positive_span
            .extend(n.spans.iter().map(|&(offset, length)| proto::BucketSpan {
                offset: Some(offset),
                length: Some(length),
            }));
        h.positive_delta.clear();
        h.positive_delta.extend_from_slice(&n.deltas);
        self.push();
    }

    fn window_families(&mut self, name: &str, views: &[GroupView<'_>]) {
        self.metric.histogram = None;
        self.begin(
            &derived(name, "quantile"),
            QUANTILE_HELP,
            MetricType::Summary,
        );
        for v in views {
            self.labels(v.labels.iter().copied());
            let quantile = v
                .quantiles
                .iter()
                .zip(&v.values)
                .filter_map(|(&q, value)| {
                    value.map(|value| proto::Quantile {
                        quantile: Some(q),
                        value: Some(value as f64 / v.scale),
                    })
                })
                .collect();
            self.metric.summary = Some(proto::Summary {
                sample_count: Some(v.count),
                sample_sum: Some(v.sum as f64 / v.scale),
                quantile,
                created_timestamp: None,
            });
            self.push();
        }
        self.begin(&derived(name, "max"), MAX_HELP, MetricType::Gauge);
        for v in views {
            let Some(max) = v.max else { continue };
            self.labels(v.labels.iter().copied());
            self.metric.gauge = Some(proto::Gauge {
                value: Some(max as f64 / v.scale),
            });
            self.push();
        }
        self.end();
    }

    fn scalar_family(&mut self, name: &str, help: &str, counter: bool, values: &[(Labels, Num)]) {
        self.metric.histogram = None;
        let kind = if counter {
            MetricType::Counter
        } else {
            MetricType::Gauge
        };
        self.begin(name, help, kind);
        for (labels, v) in values {
            self.labels(labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            let value = Some(v.as_f64());
            if counter {
                self.metric.counter = Some(proto::Counter {
                    value,
                    ..Default::default()
                });
            } else {
                self.metric.gauge = Some(proto::Gauge { value });
            }
            self.push();
        }
        self.end();
    }
}

/// An exemplar as `metrics.proto` has it: the trace and span ids as labels,
/// the value in base units, the time it was recorded.
fn exemplar_proto(e: &ExemplarOut) -> proto::Exemplar {
    let secs = e.unix_seconds.floor();
    proto::Exemplar {
        label: vec![
            proto::LabelPair {
                name: Some("trace_id".to_owned()),
                value: Some(e.trace.trace_id_hex()),
            },
            proto::LabelPair {
                name: Some("span_id".to_owned()),
                value: Some(e.trace.span_id_hex()),
            },
        ],
        value: Some(e.value),
        timestamp: Some(prost_types::Timestamp {
            seconds: secs as i64,
            nanos: ((e.unix_seconds - secs) * 1e9) as i32,
        }),
    }
}
