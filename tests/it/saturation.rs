//! Saturation of registered resources, queues and caches: the numbers, the
//! sampler, the exposition and `/stats`.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use tailwatch::export::{self, Buckets, Format};
use tailwatch::{Monitor, saturation::Usage};
use tokio::sync::Semaphore;

use crate::common;
use common::wait_stats;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_held_at_k_of_n_and_its_waiters() {
    let m = Monitor::new();
    let permits = Arc::new(Semaphore::new(4));
    let pool = m.resource("db");
    pool.set_capacity(4);
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(pool.acquire(permits.clone().acquire_owned()).await.unwrap());
    }
    assert_eq!((pool.in_use(), pool.capacity()), (3, 4));
    assert_eq!(pool.utilization(), Some(0.75));
    let stats = m.resource_stats();
    assert_eq!(stats.len(), 1);
    assert_eq!((stats[0].in_use, stats[0].capacity), (3, 4));
    assert_eq!(stats[0].utilization, Some(0.75));

    // Exhaust it; two waiters wait until a unit comes back ~80 ms later.
    held.push(pool.acquire(permits.clone().acquire_owned()).await.unwrap());
    assert_eq!(pool.utilization(), Some(1.0));
    let started = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let (pool, permits, started) = (pool.clone(), permits.clone(), started.clone());
            tokio::spawn(async move {
                started.fetch_add(1, Ordering::SeqCst);
                let unit = pool.acquire(permits.acquire_owned()).await.unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
                drop(unit);
            })
        })
        .collect();
    // Both waiters are waiting (whenever the scheduler ran them); they wait
    // at least 80 ms more.
    while started.load(Ordering::SeqCst) < 2 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(pool.in_use(), 4, "the waiters hold nothing yet");
    held.pop();
    held.pop();
    for w in waiters {
        w.await.unwrap();
    }
    assert_eq!(pool.in_use(), 2);
    let waits = wait_stats(&m, "db");
    assert_eq!(waits.count, 6, "4 immediate acquires + 2 waiters");
    assert!(waits.max.unwrap() >= 0.075, "{waits:?}");
    assert!(waits.p50().unwrap() < 0.01, "{waits:?}");
    drop(held);
    assert_eq!(pool.in_use(), 0);

    // A wait given up (timeout) is still a wait, and holds nothing.
    let _all = permits.clone().acquire_many_owned(4).await.unwrap();
    let gave_up = tokio::time::timeout(
        Duration::from_millis(30),
        pool.acquire(permits.clone().acquire_owned()),
    )
    .await;
    assert!(gave_up.is_err());
    assert_eq!(pool.in_use(), 0);
    assert_eq!(wait_stats(&m, "db").count, 7);

    // release() gives the unit back and stops counting it.
    drop(_all);
    let unit = pool.acquire(permits.clone().acquire_owned()).await.unwrap();
    assert_eq!(pool.in_use(), 1);
    let permit = unit.release();
    assert_eq!(pool.in_use(), 0);
    drop(permit);
}

#[test]
fn sampled_resources_and_queues_follow_their_source() {
    let m = Monitor::builder()
        .sample_interval(Duration::from_millis(10))
        .build()
        .unwrap();
    let in_use = Arc::new(AtomicI64::new(2));
    let source = in_use.clone();
    // A pool of 10 that keeps at least 4 connections open.
    let pool = m.resource_sampled("pg", move || {
        let in_use = source.load(Ordering::Relaxed);
        Usage::new(in_use, 10).idle(4 - in_use.min(4))
    });
    // Sampled once at registration.
    assert_eq!((pool.in_use(), pool.capacity()), (2, 10));
    let stats = &m.resource_stats()[0];
    assert_eq!(
        (stats.idle, stats.size, stats.waiting),
        (Some(2), Some(4), None)
    );
    let (tx, rx) = std::sync::mpsc::sync_channel::<u32>(100);
    let len = Arc::new(AtomicI64::new(0));
    let l = len.clone();
    let queue = m.queue_sampled("jobs", move || l.load(Ordering::Relaxed));
    // A panicking sampler is skipped; the others keep being sampled.
    let explosions = Arc::new(AtomicI64::new(0));
    let e = explosions.clone();
    m.sample(move || {
        if e.fetch_add(1, Ordering::Relaxed) < 2 {
            panic!("sampler exploded (expected by the test)");
        }
    });

    in_use.store(7, Ordering::Relaxed);
    for i in 0..5 {
        tx.send(i).unwrap();
        len.fetch_add(1, Ordering::Relaxed);
    }
    // The sampler thread catches up within a few intervals.
    let deadline = Instant::now() + Duration::from_secs(5);
    while (pool.in_use(), queue.depth()) != (7, 5) || explosions.load(Ordering::Relaxed) < 2 {
        assert!(Instant::now() < deadline, "sampler never caught up");
        std::thread::sleep(Duration::from_millis(5));
    }
    let stats = &m.resource_stats()[0];
    assert_eq!(stats.utilization, Some(0.7));
    assert_eq!(
        (stats.idle, stats.size, stats.waiting),
        (Some(0), Some(7), None)
    );
    assert!(
        explosions.load(Ordering::Relaxed) >= 2,
        "the sampler survived its panics"
    );
    rx.recv().unwrap();
    len.fetch_sub(1, Ordering::Relaxed);
    m.sample_now();
    assert_eq!(queue.depth(), 4);
    let queues = m.queue_stats();
    assert_eq!((queues[0].queue.as_str(), queues[0].depth), ("jobs", 4));
}

#[test]
fn explicit_queue_depth_and_exact_cache_hit_ratio() {
    let m = Monitor::new();
    let q = m.queue("emails");
    for _ in 0..10 {
        q.push();
    }
    for _ in 0..4 {
        q.pop();
    }
    assert_eq!(q.depth(), 6);
    q.set(3);
    assert_eq!(q.depth(), 3);

    let c = m.cache("users");
    assert_eq!(c.hit_ratio(), None);
    for i in 0..1000 {
        c.lookup(i % 8 != 0); // 7 of 8 hit
    }
    assert_eq!(c.counts(), (875, 125));
    assert_eq!(c.hit_ratio(), Some(0.875));
    // Same cache by name: the same counts.
    m.cache("users").miss();
    let stats = m.cache_stats();
    assert_eq!(stats.len(), 1);
    assert_eq!((stats[0].hits, stats[0].misses), (875, 126));
    assert_eq!(stats[0].hit_ratio, Some(875.0 / 1001.0));
}

fn populated() -> Monitor {
    let m = Monitor::new();
    let pool = m.resource("db");
    pool.set_capacity(8);
    let _held = pool.hold(());
    std::mem::forget(_held); // stays in use
    pool.record_wait(Duration::from_millis(3));
    m.queue("jobs").push();
    let c = m.cache("users");
    c.hit();
    c.hit();
    c.miss();
    m
}

#[test]
fn exposition_has_every_saturation_family_and_promtool_agrees() {
    let m = populated();
    let text = export::render(&m, &Buckets::default(), Format::Prometheus);
    for line in [
        "# TYPE resource_in_use gauge",
        "resource_in_use{resource=\"db\"} 1",
        "resource_capacity{resource=\"db\"} 8",
        "# TYPE resource_wait_seconds histogram",
        "resource_wait_seconds_count{resource=\"db\"} 1",
        "# TYPE resource_wait_quantile_seconds summary",
        "queue_depth{queue=\"jobs\"} 1",
        "# TYPE cache_requests_total counter",
        "cache_requests_total{cache=\"users\",result=\"hit\"} 2",
        "cache_requests_total{cache=\"users\",result=\"miss\"} 1",
    ] {
        assert!(text.contains(line), "{line:?} not in\n{text}");
    }
    let om = export::render(&m, &Buckets::default(), Format::OpenMetrics);
    assert!(om.contains("# TYPE cache_requests counter\n"), "{om}");
    assert!(om.contains("cache_requests_total{cache=\"users\",result=\"hit\"} 2"));
    if let Some(report) = common::promtool_check(&text) {
        assert!(report.is_empty(), "promtool: {report}");
    }
}

#[tokio::test]
async fn stats_lists_resources_queues_and_caches() {
    let m = populated();
    let a = tailwatch::AgentBuilder::new(&m)
        .listen("127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .unwrap();
    let body = common::get_ok(a.local_addr(), "/stats").await;
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["resources"][0]["resource"], "db");
    assert_eq!(json["resources"][0]["in_use"], 1);
    assert_eq!(json["resources"][0]["utilization"], 0.125);
    assert_eq!(json["caches"][0]["cache"], "users");
    assert_eq!(json["caches"][0]["hit_ratio"], 2.0 / 3.0);
    assert_eq!(json["queues"][0]["queue"], "jobs");
    assert_eq!(json["queues"][0]["depth"], 1);
    assert!(
        json["gauges"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["name"] == "queue_depth" && g["value"] == 1.0),
        "{body}"
    );
    a.stop().await;
}

#[test]
fn registering_a_sampled_resource_again_replaces_its_sampler() {
    let m = Monitor::builder()
        .sample_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    let calls = Arc::new(AtomicI64::new(0));
    // Registered per request by mistake: the samplers must not pile up.
    for i in 0..1_000 {
        let c = calls.clone();
        m.resource_sampled("db", move || {
            c.fetch_add(1, Ordering::Relaxed);
            Usage::new(i, 1_000)
        });
        let c = calls.clone();
        m.queue_sampled("jobs", move || {
            c.fetch_add(1, Ordering::Relaxed);
            i
        });
    }
    calls.store(0, Ordering::Relaxed);
    m.sample_now();
    assert_eq!(calls.load(Ordering::Relaxed), 2, "one sampler per name");
    assert_eq!(m.resource_stats()[0].in_use, 999, "the last one registered");
    assert_eq!(m.queue_stats()[0].depth, 999);
    // Different names are different samplers; user closures are never merged.
    let c = calls.clone();
    m.resource_sampled("cache_pool", move || {
        c.fetch_add(1, Ordering::Relaxed);
        Usage::new(0, 1)
    });
    for _ in 0..2 {
        let c = calls.clone();
        m.sample(move || {
            c.fetch_add(1, Ordering::Relaxed);
        });
    }
    calls.store(0, Ordering::Relaxed);
    m.sample_now();
    assert_eq!(calls.load(Ordering::Relaxed), 5);
}

/// A sampler closure that blocks for good (a pool's lock held elsewhere):
/// registering more samplers does not wait on it, the other gauges keep
/// moving, the app and `/metrics` answer within 1 s, and it is visible
/// (`tailwatch_sampler_stalled`, its stall count, `/health` naming it).
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_blocking_sampler_stales_only_its_own_gauges_visibly() {
    let m = Monitor::builder()
        .sample_interval(Duration::from_millis(50))
        .build()
        .unwrap();
    let (release, blocked) = std::sync::mpsc::channel::<()>();
    let blocked = std::sync::Mutex::new(blocked);
    let runs = Arc::new(AtomicI64::new(0));
    let r = runs.clone();
    let stuck = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s = stuck.clone();
    m.resource_sampled("db", move || {
        r.fetch_add(1, Ordering::SeqCst);
        if s.load(Ordering::SeqCst) {
            let _ = blocked.lock().unwrap().recv(); // blocks until released
        }
        Usage::new(1, 10)
    });
    stuck.store(true, Ordering::SeqCst);
    // Wait until the sampler thread is inside the blocked closure.
    let deadline = Instant::now() + Duration::from_secs(5);
    while m.samplers_stalled().is_empty() {
        assert!(Instant::now() < deadline, "the closure never stalled");
        std::thread::sleep(Duration::from_millis(10));
    }
    let runs_when_stalled = runs.load(Ordering::SeqCst);
    // Registering does not wait on it; the new sampler keeps moving.
    let started = Instant::now();
    let ticks = Arc::new(AtomicI64::new(0));
    let t = ticks.clone();
    let queue = m.queue_sampled("jobs", move || t.fetch_add(1, Ordering::SeqCst));
    m.sample_process().unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    let before = queue.depth();
    let deadline = Instant::now() + Duration::from_secs(5);
    while queue.depth() < before + 3 {
        assert!(
            Instant::now() < deadline,
            "the new sampler stopped with the stalled one: {before} then {}",
            queue.depth()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The blocked closure is not started again while it hangs.
    assert_eq!(runs.load(Ordering::SeqCst), runs_when_stalled);

    let a = tailwatch::AgentBuilder::new(&m)
        .listen("127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .unwrap();
    let within = Duration::from_secs(1);
    // The app, on the same one-worker runtime, answers.
    let app = axum::Router::new().route("/ping", axum::routing::get(|| async { "pong" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app_addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let (status, _, body) =
        tokio::time::timeout(within, common::request(app_addr, "GET", "/ping", None))
            .await
            .expect("the app answers while a sampler blocks");
    assert_eq!((status, body.as_str()), (200, "pong"));
    let (status, _, text) = tokio::time::timeout(
        within,
        common::request(a.local_addr(), "GET", "/metrics", None),
    )
    .await
    .expect("/metrics answers while a sampler blocks");
    assert_eq!(status, 200);
    assert!(
        text.contains("tailwatch_sampler_stalled{sampler=\"resource:db\"} 1\n"),
        "{text}"
    );
    assert!(text.contains("tailwatch_sampler_stalled{sampler=\"queue:jobs\"} 0\n"));
    assert!(text.contains("tailwatch_sampler_stalls_total{sampler=\"resource:db\"} 1\n"));
    let (status, _, body) = tokio::time::timeout(
        within,
        common::request(a.local_addr(), "GET", "/health", None),
    )
    .await
    .expect("/health answers while a sampler blocks");
    assert_eq!(status, 200, "a stalled sampler is detail, not ill health");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let stalled = json["samplers_stalled"].as_array().unwrap();
    assert_eq!(stalled.len(), 1, "{body}");
    assert_eq!(stalled[0]["sampler"], "resource:db");
    assert!(stalled[0]["reason"].as_str().unwrap().contains("stale"));

    // Released: it runs again, and is no longer stalled.
    stuck.store(false, Ordering::SeqCst);
    release.send(()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while runs.load(Ordering::SeqCst) < runs_when_stalled + 2 || !m.samplers_stalled().is_empty() {
        assert!(Instant::now() < deadline, "never resumed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = common::get_ok(a.local_addr(), "/metrics").await;
        if text.contains("tailwatch_sampler_stalled{sampler=\"resource:db\"} 0\n") {
            break;
        }
        assert!(Instant::now() < deadline, "still stalled:\n{text}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
