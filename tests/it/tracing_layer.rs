//! The tracing layer, with real `#[instrument]`ed async functions.

use std::time::Duration;

use tailwatch::{Monitor, MonitorLayer};
use tracing::instrument;
use tracing_subscriber::layer::SubscriberExt;

use crate::common;
use common::block_on;

#[instrument]
async fn get_user(id: u32) -> Result<String, String> {
    tokio::task::yield_now().await;
    Ok(format!("user{id}"))
}

#[instrument(err)]
async fn flaky(fail: bool) -> Result<(), String> {
    tokio::task::yield_now().await;
    if fail {
        Err("backend down".to_owned())
    } else {
        Ok(())
    }
}

#[instrument(fields(operation = "db.query"))]
async fn query(table: &str) -> usize {
    tokio::time::sleep(Duration::from_millis(30)).await;
    table.len()
}

#[instrument]
async fn nested() -> Result<(), String> {
    get_user(1).await?;
    flaky(true).await.ok(); // the inner error marks `flaky`, not `nested`
    Ok(())
}

fn run<F: std::future::Future>(layer: MonitorLayer, f: F) -> F::Output {
    let subscriber = tracing_subscriber::registry().with(layer);
    let _guard = tracing::subscriber::set_default(subscriber);
    block_on(f)
}

#[test]
fn instrumented_async_functions_are_measured_with_outcomes() {
    let m = Monitor::new();
    run(MonitorLayer::new(&m), async {
        for id in 0..3 {
            get_user(id).await.unwrap();
        }
        flaky(false).await.unwrap();
        flaky(true).await.unwrap_err();
        flaky(true).await.unwrap_err();
        assert_eq!(query("users").await, 5);
        nested().await.unwrap();
    });
    let s = m.stats("get_user").unwrap();
    assert_eq!((s.count, s.errors), (4, 0));
    let s = m.stats("flaky").unwrap();
    assert_eq!((s.count, s.errors), (4, 3));
    // Named by its `operation` field; creation to close includes the sleep.
    let s = m.stats("db.query").unwrap();
    assert_eq!(s.count, 1);
    assert!(s.min.unwrap() >= 0.030, "{:?}", s.min);
    assert!(m.stats("query").is_none());
    let s = m.stats("nested").unwrap();
    assert_eq!((s.count, s.errors), (1, 0));
    for op in ["get_user", "flaky", "db.query", "nested"] {
        assert_eq!(m.operation(op).active(), 0, "{op} still active");
    }
}

#[test]
fn with_field_measures_only_spans_carrying_it() {
    let m = Monitor::new();
    run(MonitorLayer::new(&m).with_field("operation"), async {
        get_user(1).await.unwrap();
        query("orders").await;
    });
    assert!(m.stats("get_user").is_none());
    assert_eq!(m.stats("db.query").unwrap().count, 1);
}

#[test]
fn filter_by_metadata() {
    let m = Monitor::new();
    run(
        MonitorLayer::new(&m).filter(|meta| meta.name() == "flaky"),
        async {
            get_user(1).await.unwrap();
            flaky(false).await.unwrap();
        },
    );
    assert!(m.stats("get_user").is_none());
    assert_eq!(m.stats("flaky").unwrap().count, 1);
}

#[test]
fn busy_time_excludes_time_spent_waiting() {
    let wall = Monitor::new();
    let busy = Monitor::new();
    let layers = tracing_subscriber::registry()
        .with(MonitorLayer::new(&wall))
        .with(MonitorLayer::new(&busy).busy_time(true));
    let _guard = tracing::subscriber::set_default(layers);
    block_on(query("t"));
    let wall = wall.stats("db.query").unwrap().max.unwrap();
    let busy = busy.stats("db.query").unwrap().max.unwrap();
    assert!(wall >= 0.030, "wall {wall}");
    assert!(busy < wall / 3.0, "busy {busy} vs wall {wall}");
}

#[test]
fn error_recorded_later_or_by_an_error_event_marks_the_span() {
    let m = Monitor::new();
    let subscriber = tracing_subscriber::registry().with(MonitorLayer::new(&m));
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("job", error = tracing::field::Empty);
        span.in_scope(|| {});
        span.record("error", true);
        drop(span);
        let span = tracing::info_span!("job");
        span.in_scope(|| tracing::error!("disk full"));
        drop(span);
        let span = tracing::info_span!("job", error = false);
        span.in_scope(|| tracing::warn!("slow, but fine"));
        drop(span);
    });
    let s = m.stats("job").unwrap();
    assert_eq!((s.count, s.errors), (3, 2));
}
