//! The registry as a whole: lookups, caps and overflow, validation.

use super::*;
use crate::engine::error::BuildError;

#[test]
fn label_order_does_not_matter() {
    let r = Registry::new();
    let a = r.histogram("m", &[("a", "1"), ("b", "2")]).unwrap();
    let b = r.histogram("m", &[("b", "2"), ("a", "1")]).unwrap();
    assert!(a.same_as(&b));
    let c = r.histogram("m", &[("a", "2"), ("b", "1")]).unwrap();
    assert!(!a.same_as(&c));
    assert_eq!(r.series().len(), 2);
}

#[test]
fn repeated_label_never_matches_and_is_refused() {
    let r = Registry::new();
    r.histogram("m", &[("a", "1"), ("b", "2")]).unwrap();
    assert_eq!(
        r.record("m", &[("a", "1"), ("a", "1")], 5),
        Err(RegistryError::DuplicateLabel("a".into()))
    );
}

#[test]
fn names_are_validated_with_a_clear_error() {
    let r = Registry::new();
    let e = r.histogram("bad name", &[]).unwrap_err();
    assert!(e.to_string().contains("bad name"), "{e}");
    assert!(matches!(
        r.histogram("1abc", &[]),
        Err(RegistryError::InvalidMetricName(_))
    ));
    assert!(matches!(
        r.histogram("ok", &[("__x", "v")]),
        Err(RegistryError::InvalidLabelName(_))
    ));
    assert!(matches!(
        r.histogram("ok", &[("a-b", "v")]),
        Err(RegistryError::InvalidLabelName(_))
    ));
    for reserved in ["le", "quantile"] {
        let e = r.histogram("ok", &[(reserved, "1")]).unwrap_err();
        assert_eq!(e, RegistryError::ReservedLabelName(reserved.into()));
        assert!(e.to_string().contains("reserved"), "{e}");
        assert!(r.gauge("g", &[(reserved, "1")]).is_err());
        assert!(r.counter("c_total", &[(reserved, "1")]).is_err());
    }
    // Any UTF-8 label value is fine.
    r.histogram("ok", &[("path", "/ünïcode/\"quoted\"\n\\")])
        .unwrap();
    assert!(r.histogram("ns:sub_name", &[]).is_ok());
}

#[test]
fn cap_folds_into_one_overflow_series() {
    let r = Registry::builder().series_cap(3).build().unwrap();
    for i in 0..10 {
        r.record("m", &[("id", &i.to_string())], 1).unwrap();
    }
    let f = r.family("m").unwrap();
    assert_eq!((f.series, f.cap, f.overflow_total), (4, 3, 7));
    let overflow = r.histogram("m", &[("id", OVERFLOW_VALUE)]).unwrap();
    assert_eq!(overflow.stats().total_count, 7);
    // Existing series keep working.
    r.record("m", &[("id", "0")], 1).unwrap();
    assert_eq!(
        r.histogram("m", &[("id", "0")])
            .unwrap()
            .stats()
            .total_count,
        2
    );
    assert_eq!(r.overflow_total("m"), 7);
    assert_eq!(r.overflow_total("unknown"), 0);
}

#[test]
fn label_cap_folds_only_that_label() {
    let r = Registry::builder().label_cap("route", 2).build().unwrap();
    for route in ["/a", "/b", "/c", "/d", "/a"] {
        for method in ["GET", "POST"] {
            r.record("http", &[("route", route), ("method", method)], 1)
                .unwrap();
        }
    }
    let get = r
        .histogram("http", &[("route", OVERFLOW_VALUE), ("method", "GET")])
        .unwrap();
    assert_eq!(get.stats().total_count, 2, "/c and /d folded, method kept");
    assert_eq!(
        r.histogram("http", &[("route", "/a"), ("method", "POST")])
            .unwrap()
            .stats()
            .total_count,
        2
    );
    let f = r.family("http").unwrap();
    assert_eq!(f.series, 6); // {/a,/b,overflow} × {GET,POST}
    // /c and /d past the cap, each with GET and POST: four folds.
    assert_eq!(f.overflow_total, 4);
    assert_eq!(
        Registry::builder().label_cap("x", 0).build().unwrap_err(),
        BuildError::ZeroCap
    );
}

#[test]
fn metric_names_are_bounded_with_a_clear_error() {
    let r = Registry::builder().max_metrics(2).build().unwrap();
    r.record("a", &[], 1).unwrap();
    r.record("b", &[], 1).unwrap();
    let e = r.record("c", &[], 1).unwrap_err();
    assert!(matches!(e, RegistryError::TooManyMetrics { limit: 2, .. }));
    assert!(e.to_string().contains("label values"), "{e}");
    r.record("a", &[("x", "1")], 1).unwrap(); // existing names still work
}

#[test]
fn families_report_clamped_and_rejected() {
    let r = Registry::new();
    let h = r.histogram("m", &[("a", "1")]).unwrap();
    h.record(u64::MAX);
    let _ = h.record_scaled(f64::NAN, 1.0);
    r.histogram("m", &[("a", "2")]).unwrap().record(u64::MAX);
    let f = r.family("m").unwrap();
    assert_eq!((f.clamped, f.rejected), (2, 1));
}

#[test]
fn thread_cache_never_confuses_registries_or_label_sets() {
    let (a, b) = (Registry::new(), Registry::new());
    for _ in 0..3 {
        a.record("m", &[("k", "1")], 1).unwrap();
        b.record("m", &[("k", "1")], 1).unwrap();
        b.record("m", &[("k", "1")], 1).unwrap();
    }
    assert_eq!(
        a.histogram("m", &[("k", "1")]).unwrap().stats().total_count,
        3
    );
    assert_eq!(
        b.histogram("m", &[("k", "1")]).unwrap().stats().total_count,
        6
    );
    // Many label sets share the 64 slots: each still lands in its own series.
    for round in 0..3 {
        for i in 0..500 {
            a.record("n", &[("i", &i.to_string())], round).unwrap();
        }
    }
    for i in [0, 63, 64, 499] {
        let h = a.histogram("n", &[("i", &i.to_string())]).unwrap();
        assert_eq!(h.stats().total_count, 3, "label set {i}");
    }
}

#[test]
fn overflowed_label_sets_are_counted_on_every_call() {
    let r = Registry::builder().series_cap(1).build().unwrap();
    for _ in 0..5 {
        r.record("m", &[("k", "a")], 1).unwrap();
        r.record("m", &[("k", "b")], 1).unwrap();
    }
    assert_eq!(r.overflow_total("m"), 5);
}

#[test]
fn gauges_are_shared_by_labels_and_capped() {
    let r = Registry::builder().series_cap(2).build().unwrap();
    let a = r.gauge("active", &[("route", "/a")]).unwrap();
    a.increment();
    assert_eq!(r.gauge("active", &[("route", "/a")]).unwrap().value(), 1);
    r.gauge("active", &[("route", "/b")]).unwrap();
    let c = r.gauge("active", &[("route", "/c")]).unwrap();
    let d = r.gauge("active", &[("route", "/d")]).unwrap();
    c.increment();
    d.increment();
    assert_eq!(
        r.gauge("active", &[("route", OVERFLOW_VALUE)])
            .unwrap()
            .value(),
        2
    );
    assert_eq!(r.gauges().len(), 3);
    assert!(r.gauge("bad name", &[]).is_err());
}

#[test]
fn zero_cap_is_refused() {
    assert_eq!(
        Registry::builder().series_cap(0).build().unwrap_err(),
        BuildError::ZeroCap
    );
}

#[test]
fn folds_of_every_kind_are_counted() {
    let r = Registry::builder().series_cap(2).build().unwrap();
    for route in ["/a", "/b", "/c", "/d", "/c"] {
        r.gauge("active", &[("route", route)]).unwrap();
        r.counter("hits_total", &[("route", route)]).unwrap();
        r.value("load", &[("route", route)]).unwrap();
    }
    for name in ["active", "hits_total", "load"] {
        let f = r.families().into_iter().find(|f| f.name == name);
        let f = f.unwrap_or_else(|| panic!("{name} has no figures"));
        assert_eq!((f.series, f.overflow_total), (3, 3), "{name}");
    }
}

#[test]
fn names_clash_across_kinds_and_derived_names_with_a_clear_error() {
    let r = Registry::new();
    r.histogram("req_seconds", &[]).unwrap();
    r.counter("jobs_total", &[]).unwrap();
    for (result, written) in [
        (r.gauge("req_seconds", &[]).map(drop), "req_seconds"),
        (
            r.counter("req_seconds_count", &[]).map(drop),
            "req_seconds_count",
        ),
        (r.value("req_max_seconds", &[]).map(drop), "req_max_seconds"),
        (r.gauge("jobs", &[]).map(drop), "jobs"),
        (r.histogram("jobs", &[]).map(drop), "jobs"),
    ] {
        let e = result.unwrap_err();
        assert!(
            matches!(&e, RegistryError::NameClash { written: w, .. } if w == written),
            "{e}"
        );
        assert!(e.to_string().contains("choose another name"), "{e}");
    }
    // The same metric again is no clash.
    r.counter("jobs_total", &[("a", "b")]).unwrap();
}

#[test]
fn names_are_capped_per_kind() {
    let r = Registry::builder().max_metrics(3).build().unwrap();
    for i in 0..3 {
        r.counter(&format!("c{i}_total"), &[]).unwrap();
        r.gauge(&format!("g{i}"), &[]).unwrap();
        r.histogram(&format!("h{i}"), &[]).unwrap();
    }
    assert!(matches!(
        r.counter("c3_total", &[]),
        Err(RegistryError::TooManyMetrics { limit: 3, .. })
    ));
    assert!(r.gauge("g3", &[]).is_err());
    assert!(r.histogram("h3", &[]).is_err());
    assert!(r.record("h4", &[], 1).is_err());
    // Existing names still resolve.
    r.counter("c0_total", &[("x", "y")]).unwrap();
}

#[test]
fn long_label_values_are_cut_and_counted() {
    let r = Registry::new();
    let long = "v".repeat(1 << 20);
    let h = r.histogram("m", &[("k", &long)]).unwrap();
    h.record(5);
    for _ in 0..3 {
        r.record("m", &[("k", &long)], 7).unwrap();
    }
    let series = r.series();
    assert_eq!(series.len(), 1, "the cut value is one series");
    let value = series[0].0.label("k").unwrap().to_owned();
    assert_eq!(value.len(), super::DEFAULT_MAX_LABEL_VALUE_BYTES);
    assert!(value.ends_with('…'));
    assert_eq!(h.stats().total_count, 4);
    assert_eq!(r.family("m").unwrap().truncated, 4);
    let g = r.gauge("g", &[("k", &long)]).unwrap();
    g.increment();
    assert_eq!(r.gauge("g", &[("k", &long)]).unwrap().value(), 1);
    let info = r.families().into_iter().find(|f| f.name == "g").unwrap();
    assert_eq!(info.truncated, 2);
}
