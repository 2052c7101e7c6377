//! The Prometheus protobuf format: length-delimited
//! `io.prometheus.client.MetricFamily` messages, every family the text
//! formats have, each histogram with its classic buckets and its native
//! (sparse exponential) buckets.

use prost::Message as _;

use super::native::Native;
use super::proto::{self, MetricType};
use super::text::{MAX_HELP, QUANTILE_HELP, derived};
use super::walk::{GroupView, HistogramSeries, Labels, Num, Sink};
use crate::registry::Label;

/// Writes the protobuf format into a byte buffer.
pub(super) struct ProtoSink {
    pub(super) out: Vec<u8>,
    /// The histogram family being filled.
    family: Option<proto::MetricFamily>,
    native: Native,
}

impl ProtoSink {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            out: Vec::with_capacity(capacity),
            family: None,
            native: Native::default(),
        }
    }

    /// Ends the exposition: writes the family still open.
    pub(super) fn finish(mut self) -> Vec<u8> {
        self.flush();
        self.out
    }

    fn flush(&mut self) {
        if let Some(family) = self.family.take() {
            self.write(&family);
        }
    }

    fn write(&mut self, family: &proto::MetricFamily) {
        // Writing into a Vec cannot fail (it grows as needed).
        let _ = family.encode_length_delimited(&mut self.out);
    }
}

fn family(name: &str, help: &str, kind: MetricType) -> proto::MetricFamily {
    proto::MetricFamily {
        name: Some(name.to_owned()),
        help: Some(help.to_owned()),
        r#type: Some(kind as i32),
        metric: Vec::new(),
        unit: None,
    }
}

/// Label pairs; empty values are left out, as in the text formats.
fn label_pairs<'l>(labels: impl Iterator<Item = Label<'l>>) -> Vec<proto::LabelPair> {
    labels
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| proto::LabelPair {
            name: Some(k.to_owned()),
            value: Some(v.to_owned()),
        })
        .collect()
}

impl Sink for ProtoSink {
    fn histogram_family(&mut self, name: &str, help: &str) {
        self.flush();
        self.family = Some(family(name, help, MetricType::Histogram));
    }

    fn histogram<'l>(&mut self, labels: impl Iterator<Item = Label<'l>>, s: &HistogramSeries<'_>) {
        self.native.fill(s.snap, s.scale, s.native);
        let n = &self.native;
        let histogram = proto::Histogram {
            sample_count: Some(s.snap.count()),
            sample_sum: Some(s.snap.sum() as f64 / s.scale),
            bucket: s
                .bounds
                .iter()
                .zip(s.counts)
                .map(|(&upper_bound, &count)| proto::Bucket {
                    cumulative_count: Some(count),
                    upper_bound: Some(upper_bound),
                    ..Default::default()
                })
                .collect(),
            schema: Some(i32::from(n.schema)),
            zero_threshold: Some(n.zero_threshold),
            zero_count: Some(n.zero_count),
            positive_span: n
                .spans
                .iter()
                .map(|&(offset, length)| proto::BucketSpan {
                    offset: Some(offset),
                    length: Some(length),
                })
                .collect(),
            positive_delta: n.deltas.clone(),
            ..Default::default()
        };
        let metric = proto::Metric {
            label: label_pairs(labels),
            histogram: Some(histogram),
            ..Default::default()
        };
        if let Some(f) = &mut self.family {
            f.metric.push(metric);
        }
    }

    fn window_families(&mut self, name: &str, views: &[GroupView<'_>]) {
        self.flush();
        let mut summaries = family(
            &derived(name, "quantile"),
            QUANTILE_HELP,
            MetricType::Summary,
        );
        let mut maxes = family(&derived(name, "max"), MAX_HELP, MetricType::Gauge);
        for v in views {
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
            summaries.metric.push(proto::Metric {
                label: label_pairs(v.labels.iter().copied()),
                summary: Some(proto::Summary {
                    sample_count: Some(v.count),
                    sample_sum: Some(v.sum as f64 / v.scale),
                    quantile,
                    created_timestamp: None,
                }),
                ..Default::default()
            });
            if let Some(max) = v.max {
                maxes.metric.push(proto::Metric {
                    label: label_pairs(v.labels.iter().copied()),
                    gauge: Some(proto::Gauge {
                        value: Some(max as f64 / v.scale),
                    }),
                    ..Default::default()
                });
            }
        }
        self.write(&summaries);
        self.write(&maxes);
    }

    fn scalar_family(&mut self, name: &str, help: &str, counter: bool, values: &[(Labels, Num)]) {
        self.flush();
        let kind = if counter {
            MetricType::Counter
        } else {
            MetricType::Gauge
        };
        let mut f = family(name, help, kind);
        for (labels, v) in values {
            let label = label_pairs(labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            let value = Some(v.as_f64());
            f.metric.push(if counter {
                proto::Metric {
                    label,
                    counter: Some(proto::Counter {
                        value,
                        ..Default::default()
                    }),
                    ..Default::default()
                }
            } else {
                proto::Metric {
                    label,
                    gauge: Some(proto::Gauge { value }),
                    ..Default::default()
                }
            });
        }
        self.write(&f);
    }
}
