//! `tailwatch load URL…`: sends requests at a rate and reports what the
//! client saw, exactly.
//!
//! * **Open model** (the default): request `i` is scheduled at
//!   `start + i / rate` and sent then, whatever the earlier answers do; its
//!   latency is counted from that scheduled time, so a server that stalls
//!   for a second shows every request that waited, as users would
//!   (coordinated-omission-correct). The time from writing the request to
//!   its answer is kept too ("uncorrected", what most tools report).
//!   A request is handed to the async runtime by whoever first sees it
//!   due: a thread sleeping to each send time, or any request as it
//!   finishes (see [`Open`]); it is sent over a pool of keep-alive
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
//! * Ctrl-C (or SIGTERM) stops sending, waits for the answers in flight
//!   (at most the timeout) and prints the report of what ran.
//!
//! * **Profiles** (`--profile`): the rate's shape over the run, as stages
//!   (see [`profile`]); each stage's achieved rate and latencies are
//!   reported.
//! * **Thresholds** (`--threshold 'p99<50ms'`): judged over every window
//!   (`--window`, 10 s) and over the whole run; `breakpoint` judges them
//!   per step and stops at the first step that fails, reporting the knee.
//!
//! Exit codes: 0 done, 2 a bad option or an unreachable target, 3 an
//! invalid run, 99 a threshold failed (as k6 does).

mod args;
mod client;
mod judge;
mod plan;
mod profile;
mod record;
mod report;
mod target;
mod threshold;

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
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
    /// Per stage, per endpoint: its requests (by scheduled time).
    stages: Vec<Vec<judge::Figures>>,
    /// Requests sent per stage.
    stage_sent: Vec<AtomicU64>,
    /// The window being recorded, per endpoint (by answer time).
    window: judge::Window,
    /// The client side as tailwatch's own metrics (live table, agent).
    monitor: tailwatch::Monitor,
    /// Per endpoint: its labels for `http_client_request_duration_seconds`
    /// and its in-flight gauge.
    client_labels: Vec<Vec<(&'static str, String)>>,
    /// Per endpoint: its `http_client_request_duration_seconds` series,
    /// looked up once each (by status, by failure).
    client_series: Vec<ClientSeries>,
    active: Vec<tailwatch::engine::Gauge>,
    /// Answered and failed, for the live table's last line.
    client: crate::demo::ClientStats,
    timeout: Duration,
    /// Requests handed to the runtime and not finished.
    in_flight: AtomicU64,
    /// The endpoint of each request number modulo its length, by weight.
    order: Vec<usize>,
    /// The open model's schedule (set before the first send).
    open: OnceLock<Open>,
}

impl Shared {
    /// The endpoint of request `i`.
    fn endpoint_of(&self, i: u64) -> usize {
        let n = self.order.len() as u64;
        self.order[usize::try_from(i % n).unwrap_or(0)]
    }
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
    match &args.plan {
        Some(file) => {
            let text = std::fs::read_to_string(file).map_err(|e| {
                LoadError::Usage(format!("cannot read the plan {}: {e}", file.display()))
            })?;
            for p in plan::parse(&file.display().to_string(), &text).map_err(LoadError::Usage)? {
                endpoints.push(target::planned(p).await.map_err(LoadError::Usage)?);
            }
        }
        None => {
            for url in &args.urls {
                endpoints.push(target::endpoint(url).await.map_err(LoadError::Usage)?);
            }
        }
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
        pools.push(Arc::new(Pool::new(e.addr, max, client::IDLE_TIMEOUT)));
    }
    for t in &args.threshold {
        if let Some(url) = &t.endpoint {
            if !endpoints.iter().any(|e| &e.name == url) {
                return Err(LoadError::Usage(format!(
                    "threshold {:?} names {url}, which is not one of the URLs loaded",
                    t.text
                )));
            }
        }
    }
    if args.profile == profile::Profile::Breakpoint && args.threshold.is_empty() {
        return Err(LoadError::Usage(
            "--profile breakpoint needs a --threshold to find the knee at (e.g. --threshold 'p99<50ms')"
                .into(),
        ));
    }
    let schedule = profile::Schedule::new(args.profile.stages(args.rate, args.duration, args.step));
    let n = endpoints.len();
    let order: Vec<usize> = endpoints
        .iter()
        .enumerate()
        .flat_map(|(k, e)| std::iter::repeat_n(k, e.weight as usize))
        .collect();
    // The live table's quantiles; its histograms are the monitor's.
    const LIVE: [f64; 3] = [0.5, 0.99, 0.999];
    let monitor = tailwatch::Monitor::builder()
        .quantiles(&LIVE)
        .build()
        .map_err(|e| LoadError::Usage(e.to_string()))?;
    let client_labels: Vec<Vec<(&'static str, String)>> = endpoints
        .iter()
        .map(|e| {
            let (host, port) = e
                .host
                .rsplit_once(':')
                .map_or((e.host.clone(), "80".to_owned()), |(h, p)| {
                    (h.to_owned(), p.to_owned())
                });
            let template = e.path.split('?').next().unwrap_or("/").to_owned();
            vec![
                ("http_request_method", e.method.to_string()),
                ("server_address", host),
                ("server_port", port),
                ("url_template", template),
            ]
        })
        .collect();
    let active = client_labels
        .iter()
        .map(|labels| {
            let l: Vec<(&str, &str)> = labels[..3].iter().map(|(k, v)| (*k, v.as_str())).collect();
            monitor
                .registry()
                .gauge(tailwatch::http::client::HTTP_CLIENT_ACTIVE, &l)
                .unwrap_or_default()
        })
        .collect();
    let agent = match args.agent_listen {
        Some(addr) => Some(
            tailwatch::AgentBuilder::new(&monitor)
                .listen(addr)
                .start()
                .await
                .map_err(|e| LoadError::Usage(format!("{e} (--agent-listen)")))?,
        ),
        None => None,
    };
    if let Some(a) = &agent {
        println!("client metrics at http://{}/metrics", a.local_addr());
    }
    let shared = Arc::new(Shared {
        monitor,
        client_series: client_labels
            .iter()
            .map(|_| ClientSeries::default())
            .collect(),
        client_labels,
        active,
        client: crate::demo::ClientStats::default(),
        recorders: endpoints.iter().map(|_| Recorder::default()).collect(),
        stages: schedule
            .stages()
            .iter()
            .map(|_| (0..n).map(|_| judge::Figures::default()).collect())
            .collect(),
        stage_sent: schedule
            .stages()
            .iter()
            .map(|_| AtomicU64::new(0))
            .collect(),
        window: judge::Window::new(n),
        endpoints,
        pools,
        timeout: args.timeout,
        in_flight: AtomicU64::new(0),
        order,
        open: OnceLock::new(),
    });
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        let signal = crate::demo::shutdown_signal();
        tokio::spawn(async move {
            signal.await;
            stop.store(true, Ordering::Relaxed);
        });
    }
    let lag = record::histogram();
    let started = Instant::now();
    let verdicts = Arc::new(judge::Verdicts::default());
    let judging = tokio::spawn(judge::windows(
        shared.clone(),
        args.threshold.clone(),
        args.window,
        verdicts.clone(),
    ));
    let stepping = (args.profile == profile::Profile::Breakpoint && args.connections.is_none())
        .then(|| {
            tokio::spawn(judge::steps(
                shared.clone(),
                args.threshold.clone(),
                schedule.clone(),
                started,
                stop.clone(),
                verdicts.clone(),
            ))
        });
    let live = std::io::IsTerminal::is_terminal(&std::io::stdout()).then(|| {
        let (shared, every) = (shared.clone(), Duration::from_secs(args.interval));
        tokio::spawn(async move {
            let mut screen = crate::demo::Screen::new(LIVE.to_vec());
            loop {
                tokio::time::sleep(every).await;
                screen.draw(&shared.monitor, started.elapsed(), &shared.client);
            }
        })
    });
    let sent = match args.connections {
        None => open(&shared, &schedule, started, &stop, &lag).await,
        Some(n) => closed(&shared, args, n, &stop).await,
    };
    if let Some(l) = live {
        l.abort();
    }
    let sending = started.elapsed().min(args.duration);
    // The answers still in flight, for at most the timeout.
    let deadline = Instant::now() + args.timeout + Duration::from_millis(100);
    while shared.in_flight.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    judging.abort();
    if let Some(s) = stepping {
        s.abort();
        let _ = s.await;
    }
    // The last, partial window, and the whole run.
    judge::close_window(&shared, &args.threshold, started, &verdicts);
    judge::whole_run(&shared, &args.threshold, &verdicts);
    let interrupted = stop.load(Ordering::Relaxed) && verdicts.stopped_at().is_none();
    let mut report = report::Report::new(
        args,
        &report::Parts {
            endpoints: &shared.endpoints,
            recorders: &shared.recorders,
            stages: &shared.stages,
            stage_sent: &shared.stage_sent,
            schedule: &schedule,
            verdicts: &verdicts,
        },
        &lag,
        sent,
        sending,
        interrupted,
    );
    report.histogram_bytes = histogram_bytes(&shared, &lag);
    print!("{}", report.text());
    if let Some(path) = &args.out {
        std::fs::write(path, report.json().to_string() + "\n").map_err(|e| {
            LoadError::Usage(format!(
                "cannot write the report to {}: {e}",
                path.display()
            ))
        })?;
    }
    Ok(if !report.valid() {
        ExitCode::from(3)
    } else if verdicts.failed() {
        ExitCode::from(99)
    } else {
        ExitCode::SUCCESS
    })
}

/// Heap bytes of every histogram the run recorded into.
fn histogram_bytes(shared: &Shared, lag: &tailwatch::Histogram) -> usize {
    let recorders: usize = shared.recorders.iter().map(Recorder::heap_bytes).sum();
    let stages: usize = shared
        .stages
        .iter()
        .flatten()
        .map(judge::Figures::heap_bytes)
        .sum();
    let client: usize = shared
        .client_series
        .iter()
        .flat_map(|c| c.statuses.iter().chain(c.failures.iter()))
        .filter_map(|h| h.get().and_then(Option::as_ref))
        .map(tailwatch::Histogram::heap_bytes)
        .sum();
    recorders + stages + client + lag.heap_bytes()
}

/// A small fast generator for ids (xorshift64*), one per closed-model
/// sender.
struct Random(u64);

impl Random {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The open model's schedule and who keeps it.
///
/// Request `i` is due at `start + schedule.due(i)`. It is sent by whoever
/// first sees it due: a thread of its own, sleeping to each send time
/// (precise to tens of microseconds when the machine is idle), **or any
/// request as it finishes** (it sends every request then due before it
/// ends). On a busy core the thread may wait milliseconds for the core
/// (measured: the runtime's worker kept it off for whole time slices, lag
/// p99 ≈ 3 ms at 78,000 req/s on one core); the requests finishing on that
/// worker send the due ones meanwhile, as wrk2 does on each answer.
struct Open {
    schedule: profile::Schedule,
    start: Instant,
    /// The next request to send.
    next: AtomicU64,
    /// Scheduled → handed to the runtime, per request.
    lag: tailwatch::Histogram,
    stop: Arc<AtomicBool>,
    runtime: tokio::runtime::Handle,
}

/// Sends every request of the open model now due. Returns when the next
/// one is due, or `None` once the schedule is done (or stopped).
fn send_due(shared: &Arc<Shared>) -> Option<Instant> {
    let open = shared.open.get()?;
    loop {
        let i = open.next.load(Ordering::Acquire);
        let (at, stage) = open.schedule.due(i)?;
        if open.stop.load(Ordering::Relaxed) {
            return None;
        }
        let due = open.start + Duration::from_secs_f64(at);
        let now = Instant::now();
        if due > now {
            return Some(due);
        }
        if open
            .next
            .compare_exchange(i, i + 1, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            continue; // another sender took it
        }
        open.lag
            .record(u64::try_from(now.duration_since(due).as_nanos()).unwrap_or(u64::MAX));
        let e = shared.endpoint_of(i);
        let path = shared.endpoints[e].path(|| unit(i));
        shared.in_flight.fetch_add(1, Ordering::AcqRel);
        shared.stage_sent[stage].fetch_add(1, Ordering::Relaxed);
        // From a worker the task goes to that worker's own queue.
        open.runtime.spawn(one(shared.clone(), e, stage, path, due));
    }
}

/// A uniform value in [0, 1) drawn from request number `i` (splitmix64):
/// the ids of a run's paths do not depend on who sent each request.
fn unit(i: u64) -> f64 {
    let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// The open model (see [`Open`]). Returns how many requests were sent.
async fn open(
    shared: &Arc<Shared>,
    schedule: &profile::Schedule,
    start: Instant,
    stop: &Arc<AtomicBool>,
    lag: &tailwatch::Histogram,
) -> u64 {
    let open = Open {
        schedule: schedule.clone(),
        start,
        next: AtomicU64::new(0),
        lag: lag.clone(),
        stop: stop.clone(),
        runtime: tokio::runtime::Handle::current(),
    };
    if shared.open.set(open).is_err() {
        return 0;
    }
    let keeper = shared.clone();
    let scheduler = std::thread::Builder::new()
        .name("tailwatch-load-schedule".into())
        .spawn(move || {
            while let Some(due) = send_due(&keeper) {
                // At most 100 ms at a time: Ctrl-C is seen at low rates.
                let wait = due.saturating_duration_since(Instant::now());
                std::thread::sleep(wait.min(Duration::from_millis(100)));
            }
        });
    if let Ok(t) = scheduler {
        let _ = tokio::task::spawn_blocking(move || t.join()).await;
    }
    shared
        .open
        .get()
        .map_or(0, |o| o.next.load(Ordering::Acquire))
}

/// One request of endpoint `e`, scheduled at `due`: sent, answered (or
/// not), recorded.
async fn one(shared: Arc<Shared>, e: usize, stage: usize, path: String, due: Instant) {
    let endpoint = &shared.endpoints[e];
    shared.active[e].increment();
    let answer = tokio::time::timeout(shared.timeout, shared.pools[e].send(endpoint, &path)).await;
    let done = Instant::now();
    let recorder = &shared.recorders[e];
    let latency = done.duration_since(due);
    shared.active[e].decrement();
    let error = match &answer {
        Ok(Ok(a)) => {
            recorder.answered(a.status, latency, done.duration_since(a.sent), a.server);
            a.status >= 400
        }
        Ok(Err(why)) => {
            recorder.failed(*why, latency);
            true
        }
        Err(_) => {
            recorder.failed(Failure::Timeout, latency);
            true
        }
    };
    shared.stages[stage][e].record(latency, error);
    client_metrics(&shared, e, latency, &answer);
    // Before this request counts as finished: the run does not end while
    // a request it sends is not in flight yet.
    send_due(&shared);
    shared.in_flight.fetch_sub(1, Ordering::AcqRel);
}

/// One endpoint's `http_client_request_duration_seconds` series, each
/// looked up in the registry the first time it is needed.
struct ClientSeries {
    /// By status code (100 to 999, by index).
    statuses: Box<[OnceLock<Option<tailwatch::Histogram>>]>,
    /// By [`Failure`].
    failures: [OnceLock<Option<tailwatch::Histogram>>; 4],
}

impl Default for ClientSeries {
    fn default() -> Self {
        Self {
            statuses: (0..1000).map(|_| OnceLock::new()).collect(),
            failures: Default::default(),
        }
    }
}

/// Records a request in the client-side metrics
/// (`http_client_request_duration_seconds`, as the client layer names
/// them), its latency from its scheduled time.
fn client_metrics(
    shared: &Shared,
    e: usize,
    latency: Duration,
    answer: &Result<Result<client::Answer, Failure>, tokio::time::error::Elapsed>,
) {
    let lookup = |status: Option<u16>, failure: Option<Failure>| {
        let code = status.map(|s| s.to_string());
        let mut labels: Vec<(&str, &str)> = shared.client_labels[e]
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect();
        if let Some(code) = &code {
            labels.push(("http_response_status_code", code));
            if status.is_some_and(|s| s >= 500) {
                labels.push(("error_type", code));
            }
        }
        if let Some(f) = failure {
            labels.push(("error_type", f.name()));
        }
        shared
            .monitor
            .registry()
            .histogram(tailwatch::http::client::HTTP_CLIENT_DURATION, &labels)
            .ok()
    };
    let series = &shared.client_series[e];
    let histogram = match answer {
        Ok(Ok(a)) => {
            shared.client.answered.fetch_add(1, Ordering::Relaxed);
            let slot = usize::from(a.status).min(series.statuses.len() - 1);
            series.statuses[slot].get_or_init(|| lookup(Some(a.status), None))
        }
        Ok(Err(why)) => {
            shared.client.failed.fetch_add(1, Ordering::Relaxed);
            series.failures[*why as usize].get_or_init(|| lookup(None, Some(*why)))
        }
        Err(_) => {
            shared.client.failed.fetch_add(1, Ordering::Relaxed);
            let why = Failure::Timeout;
            series.failures[why as usize].get_or_init(|| lookup(None, Some(why)))
        }
    };
    if let Some(h) = histogram {
        h.record(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX));
    }
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
                while Instant::now() < end && !stop.load(Ordering::Relaxed) {
                    let i = sent.fetch_add(1, Ordering::AcqRel);
                    let e = shared.endpoint_of(i);
                    let path = shared.endpoints[e].path(|| random.unit());
                    shared.in_flight.fetch_add(1, Ordering::AcqRel);
                    shared.stage_sent[0].fetch_add(1, Ordering::Relaxed);
                    one(shared.clone(), e, 0, path, Instant::now()).await;
                }
            })
        })
        .collect();
    for s in senders {
        let _ = s.await;
    }
    sent.load(Ordering::Acquire)
}
