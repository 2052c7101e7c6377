//! The protobuf exposition decoded with prost and checked field by field
//! against the HDR data, and against the text format family by family.

use std::collections::BTreeMap;
use std::time::Duration;

use prost::Message;
use tailwatch::export::proto::{self, MetricFamily, MetricType};
use tailwatch::export::{self, Buckets, DEFAULT_BUCKETS, Format, NativeBuckets};
use tailwatch::{Histogram, Monitor, engine::HistogramBuilder, engine::Snapshot, measure::Ended};

/// A protobuf scrape of `monitor`, decoded.
fn scrape(monitor: &Monitor, buckets: &Buckets) -> Vec<MetricFamily> {
    decode(&export::encode(monitor, buckets, Format::Protobuf))
}

/// The family `name` of a decoded scrape.
fn family<'a>(families: &'a [MetricFamily], name: &str) -> &'a MetricFamily {
    families
        .iter()
        .find(|f| f.name() == name)
        .unwrap_or_else(|| panic!("no family {name}"))
}

fn decode(bytes: &[u8]) -> Vec<MetricFamily> {
    let mut rest = bytes;
    let mut out = Vec::new();
    while !rest.is_empty() {
        out.push(
            MetricFamily::decode_length_delimited(&mut rest).expect("a delimited MetricFamily"),
        );
    }
    out
}

fn labels(m: &proto::Metric) -> BTreeMap<&str, &str> {
    m.label.iter().map(|l| (l.name(), l.value())).collect()
}

/// The native bucket index of `x` at `schema`, by the definition
/// (`(2^((k-1)/2^s), 2^(k/2^s)]`), independently of tailwatch's code.
fn native_index(x: f64, schema: i32) -> i32 {
    (x.log2() * 2f64.powi(schema)).ceil() as i32
}

/// `(index, count)` of the populated buckets from spans and deltas.
fn native_buckets(h: &proto::Histogram) -> Vec<(i32, u64)> {
    let mut out = Vec::new();
    let (mut index, mut count, mut d) = (0, 0_i64, 0);
    for (n, span) in h.positive_span.iter().enumerate() {
        index = if n == 0 {
            span.offset()
        } else {
            index + span.offset()
        };
        for _ in 0..span.length() {
            count += h.positive_delta[d];
            assert!(count >= 0, "a delta makes a count negative");
            d += 1;
            if count > 0 {
                out.push((index, count as u64));
            }
            index += 1;
        }
    }
    assert_eq!(d, h.positive_delta.len(), "spans cover every delta");
    out
}

/// A registry with one histogram of known values (seconds, with p99.9),
/// some exact zeros among them.
fn fixture() -> (Monitor, Vec<u64>) {
    let monitor = Monitor::new();
    let h = monitor
        .registry()
        .histogram_or_new_metric("job_duration_seconds", &[("queue", "mail")], || {
            HistogramBuilder::new().quantiles(vec![0.5, 0.9, 0.999])
        })
        .unwrap();
    // Deterministic spread over six decades (1 µs … 1 s and a few slow).
    let mut values: Vec<u64> = (0..20_000_u64)
        .map(|i| {
            let x = (i * 7_919 % 20_000) as f64 / 20_000.0;
            (1_000.0 * 10f64.powf(6.0 * x)) as u64
        })
        .collect();
    values.extend([0, 0, 0, 30_000_000_000]);
    for &v in &values {
        h.record(v);
    }
    monitor
        .operation("db.get_user")
        .record(Duration::from_millis(3), Ended::Ok);
    monitor
        .registry()
        .gauge("queue_depth", &[("queue", "mail")])
        .unwrap()
        .set(4);
    monitor
        .registry()
        .counter(
            "cache_requests_total",
            &[("cache", "users"), ("result", "hit")],
        )
        .unwrap()
        .add(9);
    (monitor, values)
}

#[test]
fn histograms_carry_native_and_classic_buckets_from_the_hdr_data() {
    let (monitor, values) = fixture();
    let families = scrape(&monitor, &Buckets::default());
    let job = family(&families, "job_duration_seconds");
    assert_eq!(job.r#type(), MetricType::Histogram);
    assert!(!job.help().is_empty());
    assert_eq!(job.metric.len(), 1);
    let m = &job.metric[0];
    assert_eq!(labels(m), BTreeMap::from([("queue", "mail")]));
    let h = m.histogram.as_ref().expect("a histogram");

    // Count and sum: exactly the recorded values.
    assert_eq!(h.sample_count(), values.len() as u64);
    let sum: u64 = values.iter().sum();
    assert!((h.sample_sum() - sum as f64 / 1e9).abs() < 1e-9 * h.sample_sum());

    // Classic buckets: the default ladder, cumulative counts of the HDR data.
    let reference = Histogram::new();
    for &v in &values {
        reference.record(v);
    }
    let mut snap = Snapshot::default();
    reference.cumulative(&mut snap);
    let bounds: Vec<f64> = h.bucket.iter().map(|b| b.upper_bound()).collect();
    assert_eq!(bounds, DEFAULT_BUCKETS.to_vec());
    for b in &h.bucket {
        let raw = (b.upper_bound() * 1e9).round() as u64;
        assert_eq!(
            b.cumulative_count(),
            snap.count_at_or_below(raw),
            "le={}",
            b.upper_bound()
        );
    }

    // Native: schema, zero bucket, and every bucket holding the HDR
    // buckets whose midpoint it contains.
    // The values span 25 powers of two: 1,600 buckets at schema 6, past
    // the default limit of 1,024, so the schema is the finest that fits.
    let layout = snap.layout();
    let midpoints: Vec<f64> = values
        .iter()
        .filter(|&&v| v > 0)
        .map(|&v| {
            let i = layout.index_of(v);
            (layout.lowest_equivalent_of_index(i) as f64
                + layout.highest_equivalent_of_index(i) as f64)
                / 2.0
                / 1e9
        })
        .collect();
    let expected_at = |schema: i32| {
        let mut expected: BTreeMap<i32, u64> = BTreeMap::new();
        for &mid in &midpoints {
            *expected.entry(native_index(mid, schema)).or_default() += 1;
        }
        expected
    };
    let schema = (-4..=6)
        .rev()
        .find(|&s| expected_at(s).len() <= export::DEFAULT_NATIVE_MAX_BUCKETS)
        .unwrap();
    assert_eq!(schema, 5);
    assert_eq!(h.schema(), schema);
    assert_eq!(h.zero_threshold(), export::DEFAULT_ZERO_THRESHOLD);
    assert_eq!(h.zero_count(), 3);
    let expected = expected_at(schema);
    let native = native_buckets(h);
    assert_eq!(native, expected.into_iter().collect::<Vec<_>>());
    assert_eq!(
        native.iter().map(|b| b.1).sum::<u64>() + h.zero_count(),
        h.sample_count()
    );
    // Spans: a gap of at most two buckets is written as zero deltas.
    for span in h.positive_span.iter().skip(1) {
        assert!(
            span.offset() > 2,
            "gap {} should be zero deltas",
            span.offset()
        );
    }
}

#[test]
fn bucket_limit_and_schema_are_per_metric() {
    let (monitor, _) = fixture();
    let buckets = Buckets::default()
        .native_metric(
            "job_duration_seconds",
            NativeBuckets::new().with_max_buckets(50).unwrap(),
        )
        .native_metric(
            "operation_duration_seconds",
            NativeBuckets::new()
                .with_schema(2)
                .unwrap()
                .with_zero_threshold(1e-3)
                .unwrap(),
        );
    let families = scrape(&monitor, &buckets);
    let job = family(&families, "job_duration_seconds");
    let h = job.metric[0].histogram.as_ref().unwrap();
    assert!(h.schema() < 6, "the resolution was halved");
    assert!(native_buckets(h).len() <= 50);
    let op = family(&families, "operation_duration_seconds");
    let h = op.metric[0].histogram.as_ref().unwrap();
    assert_eq!(h.schema(), 2);
    assert_eq!(h.zero_threshold(), 1e-3);
}

#[test]
fn a_protobuf_scrape_has_every_family_of_the_text_one() {
    let (monitor, _) = fixture();
    let text = export::render(&monitor, &Buckets::default(), Format::Prometheus);
    let text_families: BTreeMap<String, String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| {
            let (name, kind) = l.split_once(' ').unwrap();
            (name.to_owned(), kind.to_owned())
        })
        .collect();
    let proto_families: BTreeMap<String, String> = scrape(&monitor, &Buckets::default())
        .iter()
        .map(|f| {
            let kind = match f.r#type() {
                MetricType::Counter => "counter",
                MetricType::Gauge => "gauge",
                MetricType::Summary => "summary",
                MetricType::Histogram => "histogram",
                other => panic!("unexpected type {other:?}"),
            };
            (f.name().to_owned(), kind.to_owned())
        })
        .collect();
    assert_eq!(proto_families, text_families);
    assert!(proto_families.contains_key("cache_requests_total"));
}

#[test]
fn window_quantiles_follow_the_configured_quantiles_in_every_format() {
    let (monitor, values) = fixture();
    let families = scrape(&monitor, &Buckets::default());
    let summary = family(&families, "job_duration_quantile_seconds");
    assert_eq!(summary.r#type(), MetricType::Summary);
    let s = summary.metric[0].summary.as_ref().unwrap();
    let qs: Vec<f64> = s.quantile.iter().map(|q| q.quantile()).collect();
    assert_eq!(qs, vec![0.5, 0.9, 0.999]);
    assert_eq!(s.sample_count(), values.len() as u64);
    let stats = monitor
        .registry()
        .histogram("job_duration_seconds", &[("queue", "mail")])
        .unwrap()
        .stats();
    let p999 = stats.quantile(0.999).unwrap();
    assert_eq!(s.quantile[2].value(), p999);
    let text = export::render(&monitor, &Buckets::default(), Format::Prometheus);
    assert!(
        text.contains(&format!(
            "job_duration_quantile_seconds{{queue=\"mail\",quantile=\"0.999\"}} {p999}\n"
        )),
        "{text}"
    );
    // Operations keep the defaults.
    assert!(text.contains(
        "operation_duration_quantile_seconds{operation=\"db.get_user\",quantile=\"0.99\"}"
    ));
}
