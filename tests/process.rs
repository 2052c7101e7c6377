//! Process figures move with what the process does: CPU burnt, memory
//! touched, threads started, files opened. One test: the figures are the
//! whole test process's.
#![cfg(target_os = "linux")]

use std::time::{Duration, Instant};

use tailwatch::Monitor;
use tailwatch::export::{self, Buckets, Format};

mod common;

fn value(m: &Monitor, name: &str) -> f64 {
    common::sampled(m, name, &[])
}

#[test]
fn process_gauges_follow_cpu_memory_threads_and_files() {
    let m = Monitor::builder()
        .sample_interval(Duration::from_secs(3600)) // sampled by hand below
        .build()
        .unwrap();
    m.sample_process().unwrap();
    let (cpu0, rss0, threads0, fds0) = (
        value(&m, "process_cpu_seconds_total"),
        value(&m, "process_resident_memory_bytes"),
        value(&m, "process_threads"),
        value(&m, "process_open_fds"),
    );
    assert!(value(&m, "process_max_fds") >= fds0);
    let cores = value(&m, "process_cpu_limit_cores");
    assert!(cores > 0.0 && cores <= 1024.0, "{cores}");

    // Burn 400 ms of CPU time (not of wall time: on a busy machine this
    // thread gets less than all of it), as the kernel counts it.
    let cpu_time = || {
        let stat = procfs::process::Process::myself().unwrap().stat().unwrap();
        (stat.utime + stat.stime) as f64 / procfs::ticks_per_second() as f64
    };
    let burnt_from = cpu_time();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut x = 0_u64;
    while cpu_time() - burnt_from < 0.4 {
        assert!(Instant::now() < deadline, "no CPU time in 60 s");
        for _ in 0..100_000 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
    // Touch 256 MiB.
    let mut memory = vec![0_u8; 256 << 20];
    for page in memory.chunks_mut(4096) {
        page[0] = 1;
    }
    // Three more threads, ten more files.
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let stop_rx = std::sync::Arc::new(std::sync::Mutex::new(stop_rx));
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let rx = stop_rx.clone();
            std::thread::spawn(move || {
                let _ = rx.lock().unwrap().recv_timeout(Duration::from_secs(10));
            })
        })
        .collect();
    let files: Vec<_> = (0..10)
        .map(|_| std::fs::File::open("/proc/self/stat").unwrap())
        .collect();

    m.sample_now();
    let cpu1 = value(&m, "process_cpu_seconds_total");
    assert!(cpu1 - cpu0 >= 0.3, "cpu {cpu0} → {cpu1}");
    let rss1 = value(&m, "process_resident_memory_bytes");
    assert!(
        rss1 - rss0 >= 200.0 * 1024.0 * 1024.0,
        "rss {rss0} → {rss1}"
    );
    assert!(value(&m, "process_threads") >= threads0 + 3.0);
    assert!(value(&m, "process_open_fds") >= fds0 + 10.0);
    let utilization = value(&m, "process_cpu_utilization_ratio");
    assert!(utilization > 0.0, "{utilization}");

    // Exposed under the standard names, promtool-clean.
    let text = export::render(&m, &Buckets::default(), Format::Prometheus);
    for family in [
        "# TYPE process_cpu_seconds_total counter",
        "# TYPE process_resident_memory_bytes gauge",
        "# TYPE process_open_fds gauge",
        "# TYPE process_max_fds gauge",
        "# TYPE process_threads gauge",
        "# TYPE process_cpu_utilization_ratio gauge",
    ] {
        assert!(text.contains(family), "{family} not in\n{text}");
    }
    if let Some(report) = common::promtool_check(&text) {
        assert!(report.is_empty(), "promtool: {report}");
    }

    drop(stop_tx);
    for t in threads {
        t.join().unwrap();
    }
    drop((files, memory, x));
}
