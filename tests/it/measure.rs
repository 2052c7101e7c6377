//! The measure API: every outcome, in-flight accounting, panics, nesting,
//! concurrency.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Waker};
use std::time::Duration;

use tailwatch::{Monitor, measure::Ended};

use crate::common;
use common::block_on;

fn stats(m: &Monitor, op: &str) -> tailwatch::measure::Stats {
    m.stats(op).unwrap_or_else(|| panic!("no stats for {op}"))
}

/// (count, errors, cancelled, active)
fn counts(m: &Monitor, op: &str) -> (u64, u64, u64, i64) {
    let s = stats(m, op);
    (s.count, s.errors, s.cancelled, m.operation(op).active())
}

#[test]
fn ok_and_error_by_result() {
    let m = Monitor::new();
    block_on(async {
        let v: Result<u32, String> = m.measure("db.get_user", async { Ok(7) }).await;
        assert_eq!(v, Ok(7));
        let e: Result<u32, String> = m
            .measure("db.get_user", async { Err("gone".to_owned()) })
            .await;
        assert_eq!(e, Err("gone".to_owned()));
        // A plain future is ok.
        assert_eq!(m.measure("db.get_user", async { 5_u64 }).await, 5);
    });
    assert_eq!(counts(&m, "db.get_user"), (3, 1, 0, 0));
    let s = stats(&m, "db.get_user");
    assert!((s.error_ratio.unwrap() - 1.0 / 3.0).abs() < 1e-12);
    assert!(s.p50().is_some() && s.p99().is_some());
}

#[test]
fn in_flight_at_each_step_and_cancelled_when_dropped_mid_way() {
    let m = Monitor::new();
    let op = m.operation("slow");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    {
        let fut = op.measure(async move { rx.await.map_err(|_| "sender gone") });
        assert_eq!(op.active(), 1, "in flight from the call");
        let mut fut = pin!(fut);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        assert_eq!(op.active(), 1, "still in flight while pending");
        // Dropped here, mid-way.
    }
    assert_eq!(op.active(), 0);
    assert_eq!(counts(&m, "slow"), (1, 0, 1, 0));
    drop(tx);

    // Dropped by a timeout combinator.
    block_on(async {
        let r = tokio::time::timeout(
            Duration::from_millis(5),
            m.time("slow", std::future::pending::<()>()),
        )
        .await;
        assert!(r.is_err());
    });
    assert_eq!(counts(&m, "slow"), (2, 0, 2, 0));

    // Never polled at all: still cancelled, not lost.
    drop(m.measure("slow", async { Ok::<_, ()>(()) }));
    assert_eq!(counts(&m, "slow"), (3, 0, 3, 0));
}

#[test]
fn panic_in_a_measured_future_is_an_error_and_propagates_unchanged() {
    let m = Monitor::new();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let measured = m.measure("boom", async {
        tokio::task::yield_now().await;
        if true {
            panic!("boom 42");
        }
        Ok::<(), ()>(())
    });
    let err = rt
        .block_on(async { tokio::spawn(measured).await })
        .unwrap_err();
    assert!(err.is_panic());
    assert_eq!(*err.into_panic().downcast::<&str>().unwrap(), "boom 42");
    assert_eq!(counts(&m, "boom"), (1, 1, 0, 0));
}

#[test]
fn a_future_dropped_during_someone_elses_panic_is_cancelled() {
    let m = Monitor::new();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _pending = m.time("bystander", std::future::pending::<()>());
        panic!("elsewhere");
    }));
    assert!(r.is_err());
    assert_eq!(counts(&m, "bystander"), (1, 0, 1, 0));
}

#[test]
fn panic_in_a_measured_closure_is_an_error_and_propagates_unchanged() {
    let m = Monitor::new();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let n = std::hint::black_box(7); // a runtime value: the payload is a String
        m.run("sync.boom", || -> Result<(), ()> { panic!("closure {n}") })
    }));
    let payload = r.unwrap_err();
    assert_eq!(
        payload.downcast_ref::<String>().map(String::as_str),
        Some("closure 7")
    );
    assert_eq!(counts(&m, "sync.boom"), (1, 1, 0, 0));
    // And a sync Err / Ok.
    assert_eq!(m.run("sync.boom", || "12".parse::<u8>()), Ok(12));
    assert!(m.run("sync.boom", || "x".parse::<u8>()).is_err());
    assert_eq!(counts(&m, "sync.boom"), (3, 2, 0, 0));
}

#[test]
fn timer_outcomes() {
    let m = Monitor::new();
    m.start("t").ok();
    m.start("t").error();
    drop(m.start("t")); // ok
    m.start("t").finish(&Err::<(), _>("bad"));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _t = m.start("t");
        assert_eq!(m.operation("t").active(), 1);
        panic!("unwinding through a timer");
    }));
    assert!(r.is_err());
    assert_eq!(counts(&m, "t"), (5, 3, 0, 0));
}

#[test]
fn nested_measures_count_each_level() {
    let m = Monitor::new();
    block_on(async {
        let r: Result<u32, String> = m
            .measure("outer", async {
                assert_eq!(m.operation("outer").active(), 1);
                let a: Result<u32, String> = m.measure("inner", async { Ok(1) }).await;
                let b: Result<u32, String> = m
                    .measure("inner", async {
                        assert_eq!(m.operation("inner").active(), 1);
                        Err("no".to_owned())
                    })
                    .await;
                Ok(a? + b.unwrap_or(10))
            })
            .await;
        assert_eq!(r, Ok(11));
    });
    assert_eq!(counts(&m, "outer"), (1, 0, 0, 0));
    assert_eq!(counts(&m, "inner"), (2, 1, 0, 0));
}

#[test]
fn thousands_of_concurrent_measures_are_counted_exactly() {
    const TASKS: u64 = 5_000;
    let m = Monitor::new();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .build()
        .unwrap();
    let peak = rt.block_on(async {
        let op = m.operation("concurrent");
        let (go_tx, go_rx) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::new();
        for i in 0..TASKS {
            let mut go = go_rx.clone();
            tasks.push(tokio::spawn(op.measure(async move {
                // Everyone is in flight together before anyone finishes.
                let _ = go.wait_for(|g| *g).await;
                tokio::task::yield_now().await;
                if i % 7 == 0 { Err(i) } else { Ok(i) }
            })));
        }
        while op.active() < TASKS as i64 {
            tokio::task::yield_now().await;
        }
        let peak = op.active();
        go_tx.send(true).unwrap();
        for t in tasks {
            let _ = t.await.unwrap();
        }
        peak
    });
    assert_eq!(peak, TASKS as i64);
    let errors = (0..TASKS).filter(|i| i % 7 == 0).count() as u64;
    assert_eq!(counts(&m, "concurrent"), (TASKS, errors, 0, 0));
    assert_eq!(stats(&m, "concurrent").total_count, TASKS);
}

#[test]
fn stats_quantiles_in_seconds_from_known_durations() {
    let m = Monitor::new();
    let op = m.operation("known");
    for ms in 1..=100 {
        op.record(Duration::from_millis(ms), Ended::Ok);
    }
    op.record(Duration::from_secs(5), Ended::Error);
    let s = stats(&m, "known");
    assert_eq!((s.count, s.errors), (101, 1));
    let within = |got: Option<f64>, exact: f64| {
        let got = got.unwrap();
        assert!(
            got >= exact && got <= exact * (1.0 + s.relative_error),
            "{got} vs {exact}"
        );
    };
    within(s.p50(), 0.051);
    within(s.p95(), 0.096);
    within(s.p99(), 0.100);
    within(s.max, 5.0);
    assert!((s.mean.unwrap() - (5050.0 / 1000.0 + 5.0) / 101.0).abs() < 1e-9);
    assert_eq!(s.labels["operation"], "known");
    assert_eq!(s.name, "operation_duration_seconds");
    // JSON shape for /stats.
    let json = serde_json::to_value(&s).unwrap();
    for field in [
        "count",
        "rate_per_second",
        "errors",
        "error_ratio",
        "min",
        "mean",
        "max",
        "quantiles",
        "window_seconds",
    ] {
        assert!(json.get(field).is_some(), "missing {field} in {json}");
    }
    let qs: Vec<f64> = json["quantiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["quantile"].as_f64().unwrap())
        .collect();
    assert_eq!(qs, [0.5, 0.95, 0.99], "{json}");
}

#[test]
fn unknown_operation_has_no_stats_and_idle_one_has_no_quantiles() {
    let m = Monitor::new();
    assert!(m.stats("never").is_none());
    let _ = m.operation("idle");
    let s = stats(&m, "idle");
    assert_eq!((s.count, s.p50(), s.error_ratio), (0, None, None));
}

#[test]
fn operation_names_are_bounded() {
    let m = Monitor::builder().max_operations(10).build().unwrap();
    for i in 0..100 {
        m.run(&format!("op{i}"), || ());
    }
    assert_eq!(m.operations_folded(), 90);
    assert!(
        m.stats("op10").is_none() && m.stats("op99").is_none(),
        "a name past the limit got its own series"
    );
    let overflow = stats(&m, "__overflow__");
    assert_eq!(overflow.count, 90);
    let listed = m.all_stats();
    assert_eq!(listed.len(), 11, "10 operations + the overflow");
    // Each listed operation has its own counts (buffers are reused between them).
    for s in &listed {
        let expected = if s.labels["operation"] == "__overflow__" {
            90
        } else {
            1
        };
        assert_eq!(s.count, expected, "{:?}", s.labels);
    }
}
