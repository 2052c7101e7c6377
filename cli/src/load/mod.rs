//! `tailwatch load URL…`: sends requests at a rate and reports what the
//! client saw, exactly.
//!
//! * **Open model** (the default): request `i` is scheduled at
//!   `start + i / rate` and sent then, whatever the earlier answers do; its
//!   latency is counted from that scheduled time, so a server that stalls
//!   for a second shows every request that waited, as users would
//!   (coordinated-omission-correct). The time from writing the request to
//!   its answer is kept too ("uncorrected", what most tools report).
//!   Requests are scheduled by a thread of their own (sleeping to each
//!   send time), sent by the async runtime over a pool of keep-alive
//!   connections that grows as requests find none free, up to
//!   `--max-connections`.
//! * The generator measures itself: schedule lag (scheduled → handed to
//!   the runtime) in its own histogram, and the rate it achieved against
//!   the target. A run whose lag p99 passes `--max-lag`, or that sent less
//!   than 99 % of what it scheduled, is reported **invalid** (exit code 3).
//! * **Closed model** (`--connections N`): N connections each send the next
//!   request when the previous is answered, as fast as the target allows;
//!   for a throughput ceiling.
//! * Recording is tailwatch's own HDR engine, per URL: p50/p90/p95/p99/
//!   p99.9/max at 0.1 % relative error, answers by status, failures by kind
//!   (timeout, refused, reset, other); memory does not grow with the run.
//! * Ctrl-C stops sending, waits for the answers in flight (at most the
//!   timeout) and prints the report of what ran.
//!
//! Exit codes: 0 done, 2 a bad option or an unreachable target, 3 an
//! invalid run.

mod args;
mod client;
mod record;
mod report;
mod target;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub(crate) use args::Args;
use client::Pool;
use record::{Failure, Recorder};
use target::Endpoint;

/// Why `load` stopped short.
#[derive(Debug)]
enum LoadError {
    /// A bad option or target (exit code 2).
    Usage(String),
}

/// What the sending side needs.
struct Shared {
    endpoints: Vec<Endpoint>,
    /// One pool per endpoint (endpoints on one address share it).
    pools: Vec<Arc<Pool>>,
    recorders: Vec<Recorder>,
    timeout: Duration,
    /// Requests handed to the runtime and not finished.
    in_flight: AtomicU64,
}

/// Runs `tailwatch load` and returns its exit code.
pub(crate) fn run(args: &Args) -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build();
    let result = match runtime {
        Ok(rt) => {
            let result = rt.block_on(load(args));
            rt.shutdown_timeout(Duration::from_secs(1));
            result
        }
        Err(e) => {
            eprintln!("error: cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match result {
        Ok(code) => code,
        Err(LoadError::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

async fn load(args: &Args) -> Result<ExitCode, LoadError> {
    let mut endpoints = Vec::new();
    for url in &args.urls {
        endpoints.push(target::endpoint(url).await.map_err(LoadError::Usage)?);
    }
    // Every address answers a connection before the run starts: a typo in
    // the port is an error now, not a run of `refused`.
    let mut pools: Vec<Arc<Pool>> = Vec::new();
    let max = usize::try_from(args.max_connections).unwrap_or(usize::MAX);
    for e in &endpoints {
        if let Some(i) = endpoints.iter().position(|o| o.addr == e.addr) {
            if i < pools.len() {
                pools.push(pools[i].clone());
                continue;
            }
        }
        match tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::TcpStream::connect(e.addr),
        )
        .await
        {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => {
                return Err(LoadError::Usage(format!(
                    "{}: cannot connect to {}: {err}",
                    e.name, e.addr
                )));
            }
            Err(_) => {
                return Err(LoadError::Usage(format!(
                    "{}: {} did not accept a connection within 5 s",
                    e.name, e.addr
                )));
            }
        }
        pools.push(Arc::new(Pool::new(e.addr, max)));
    }
    let shared = Arc::new(Shared {
        recorders: endpoints.iter().map(|_| Recorder::default()).collect(),
        endpoints,
        pools,
        timeout: args.timeout,
        in_flight: AtomicU64::new(0),
    });
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                stop.store(true, Ordering::Relaxed);
            }
        });
    }
    let lag = record::histogram();
    let started = Instant::now();
    let sent = match args.connections {
        None => open(&shared, args, &stop, &lag).await,
        Some(n) => closed(&shared, args, n, &stop).await,
    };
    let sending = started.elapsed().min(args.duration);
    // The answers still in flight, for at most the timeout.
    let deadline = Instant::now() + args.timeout + Duration::from_millis(100);
    while shared.in_flight.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let report = report::Report::new(
        args,
        &shared.endpoints,
        &shared.recorders,
        &lag,
        sent,
        sending,
        stop.load(Ordering::Relaxed),
    );
    print!("{}", report.text());
    if let Some(path) = &args.out {
        std::fs::write(path, report.json().to_string() + "\n").map_err(|e| {
            LoadError::Usage(format!(
                "cannot write the report to {}: {e}",
                path.display()
            ))
        })?;
    }
    Ok(if report.valid() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}

/// A small fast generator for ids (xorshift64*), one per sender.
struct Random(u64);

impl Random {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The open model: a scheduling thread hands each request to the runtime
/// at its time. Returns how many were sent.
async fn open(
    shared: &Arc<Shared>,
    args: &Args,
    stop: &Arc<AtomicBool>,
    lag: &tailwatch::Histogram,
) -> u64 {
    let handle = tokio::runtime::Handle::current();
    let (shared, stop, lag) = (shared.clone(), stop.clone(), lag.clone());
    let (rate, duration) = (args.rate, args.duration);
    let scheduler = std::thread::Builder::new()
        .name("tailwatch-load-schedule".into())
        .spawn(move || {
            let start = Instant::now();
            let mut random = Random(0x9e37_79b9_7f4a_7c15);
            let n = shared.endpoints.len() as u64;
            let mut i: u64 = 0;
            loop {
                let due = start + Duration::from_secs_f64(i as f64 / rate);
                if due.duration_since(start) >= duration || stop.load(Ordering::Relaxed) {
                    return i;
                }
                let now = Instant::now();
                if due > now {
                    // At most 100 ms at a time: Ctrl-C is seen at low rates.
                    std::thread::sleep((due - now).min(Duration::from_millis(100)));
                    continue;
                }
                lag.record(u64::try_from(now.duration_since(due).as_nanos()).unwrap_or(u64::MAX));
                let e = usize::try_from(i % n).unwrap_or(0);
                let path = shared.endpoints[e].path(|| random.unit());
                shared.in_flight.fetch_add(1, Ordering::AcqRel);
                handle.spawn(one(shared.clone(), e, path, due));
                i += 1;
            }
        });
    match scheduler {
        Ok(t) => tokio::task::spawn_blocking(move || t.join().unwrap_or(0))
            .await
            .unwrap_or(0),
        Err(_) => 0,
    }
}

/// One request of endpoint `e`, scheduled at `due`: sent, answered (or
/// not), recorded.
async fn one(shared: Arc<Shared>, e: usize, path: String, due: Instant) {
    let endpoint = &shared.endpoints[e];
    let answer = tokio::time::timeout(
        shared.timeout,
        shared.pools[e].get_path(&endpoint.host, &path),
    )
    .await;
    let done = Instant::now();
    let recorder = &shared.recorders[e];
    match answer {
        Ok(Ok(a)) => recorder.answered(
            a.status,
            done.duration_since(due),
            done.duration_since(a.sent),
            a.server,
        ),
        Ok(Err(why)) => recorder.failed(why, done.duration_since(due)),
        Err(_) => recorder.failed(Failure::Timeout, done.duration_since(due)),
    }
    shared.in_flight.fetch_sub(1, Ordering::AcqRel);
}

/// The closed model: `n` senders, each sending its next request when the
/// previous is answered. Returns how many were sent.
async fn closed(shared: &Arc<Shared>, args: &Args, n: u64, stop: &Arc<AtomicBool>) -> u64 {
    let end = Instant::now() + args.duration;
    let sent = Arc::new(AtomicU64::new(0));
    let senders: Vec<_> = (0..n)
        .map(|k| {
            let (shared, stop, sent) = (shared.clone(), stop.clone(), sent.clone());
            tokio::spawn(async move {
                let mut random = Random(0x9e37_79b9_7f4a_7c15 ^ (k + 1).wrapping_mul(0xff51_afd7));
                let count = shared.endpoints.len() as u64;
                while Instant::now() < end && !stop.load(Ordering::Relaxed) {
                    let i = sent.fetch_add(1, Ordering::AcqRel);
                    let e = usize::try_from(i % count).unwrap_or(0);
                    let path = shared.endpoints[e].path(|| random.unit());
                    shared.in_flight.fetch_add(1, Ordering::AcqRel);
                    one(shared.clone(), e, path, Instant::now()).await;
                }
            })
        })
        .collect();
    for s in senders {
        let _ = s.await;
    }
    sent.load(Ordering::Acquire)
}
