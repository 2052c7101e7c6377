//! Tokio runtime gauges on a real multi-thread runtime.

use std::time::{Duration, Instant};

use tailwatch::Monitor;
use tailwatch::export::{self, Buckets, Format};

use crate::common;

fn value(m: &Monitor, name: &str) -> f64 {
    common::sampled(m, name, &[("runtime", "main")])
}

#[test]
fn tokio_gauges_exist_and_are_plausible_on_a_multi_thread_runtime() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let m = Monitor::builder()
        .sample_interval(Duration::from_secs(3600)) // sampled by hand
        .build()
        .unwrap();
    m.sample_tokio("main", rt.handle());
    assert_eq!(value(&m, "tokio_workers"), 2.0);

    // 50 idle tasks alive, 2 busy ones burning 300 ms each.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let idle: Vec<_> = (0..50)
        .map(|_| {
            let mut s = stopped.clone();
            rt.spawn(async move {
                let _ = s.wait_for(|v| *v).await;
            })
        })
        .collect();
    let busy: Vec<_> = (0..2)
        .map(|_| {
            rt.spawn(async {
                let start = Instant::now();
                while start.elapsed() < Duration::from_millis(300) {
                    std::hint::spin_loop();
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(50));
    m.sample_now();
    assert!(value(&m, "tokio_alive_tasks") >= 50.0);
    rt.block_on(async {
        for b in busy {
            b.await.unwrap();
        }
    });
    #[cfg(target_has_atomic = "64")]
    {
        // Workers publish their busy time when they park: poll for it.
        let deadline = Instant::now() + Duration::from_secs(5);
        let busy = loop {
            m.sample_now();
            let busy = value(&m, "tokio_worker_busy_seconds_total");
            if busy >= 0.5 || Instant::now() > deadline {
                break busy;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(busy >= 0.5, "two tasks busy 300 ms each: {busy}");
        let ratio = value(&m, "tokio_busy_ratio");
        assert!(ratio > 0.0 && ratio <= 1.0 + 1e-9, "{ratio}");
        assert!(value(&m, "tokio_worker_parks_total") >= 1.0);
    }
    let text = export::render(&m, &Buckets::default(), Format::Prometheus);
    assert!(
        text.contains("tokio_workers{runtime=\"main\"} 2\n"),
        "{text}"
    );
    assert!(text.contains("# TYPE tokio_worker_busy_seconds_total counter"));
    if let Some(report) = common::promtool_check(&text) {
        assert!(report.is_empty(), "promtool: {report}");
    }
    stop.send(true).unwrap();
    rt.block_on(async {
        for t in idle {
            t.await.unwrap();
        }
    });
    m.sample_now();
    assert!(value(&m, "tokio_alive_tasks") < 50.0);
}
