//! The `tailwatch` command.
//!
//! Run with: `cargo run --release -- demo`
//!
//! `demo` drives the measure API with generated traffic: worker threads
//! run simulated operations (a fast route, a "db" call with a long tail, a
//! flaky route) whose latencies and outcomes are recorded through
//! `Operation` handles, and a live table from `Monitor::stats` (rate, error
//! %, p50/p95/p99, max) is printed every few seconds.
//! The HTTP service, middleware and Prometheus agent join the demo as they
//! are built (see the README's status section).

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use tailwatch::{Ended, Monitor, Operation};

#[derive(Parser, Debug)]
#[command(name = "tailwatch", version, about = "Exact, cheap latency monitoring")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Generate traffic into the engine and print live per-operation quantiles.
    Demo(DemoArgs),
}

#[derive(clap::Args, Debug)]
struct DemoArgs {
    /// Stop after this many seconds (0 = run until interrupted).
    #[arg(long, default_value_t = 0)]
    duration: u64,
    /// Simulated operations per second, all operations together.
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    rps: u64,
    /// Seconds between two tables.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=3600))]
    interval: u64,
    /// Worker threads generating traffic.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=64))]
    threads: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo(args) => demo(&args),
    }
}

/// A simulated operation: name and latency shape.
struct Simulated {
    name: &'static str,
    /// Median latency in nanoseconds and lognormal sigma.
    median_ns: f64,
    sigma: f64,
    /// Probability of a slow outlier (×50) and of an error.
    outlier: f64,
    error: f64,
}

const OPERATIONS: [Simulated; 3] = [
    Simulated {
        name: "GET /users/{id}",
        median_ns: 300_000.0,
        sigma: 0.3,
        outlier: 0.001,
        error: 0.0,
    },
    Simulated {
        name: "db.get_user",
        median_ns: 2_000_000.0,
        sigma: 0.6,
        outlier: 0.01,
        error: 0.002,
    },
    Simulated {
        name: "GET /flaky",
        median_ns: 5_000_000.0,
        sigma: 0.8,
        outlier: 0.02,
        error: 0.05,
    },
];

/// xorshift64*: enough randomness for a demo, no dependency.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1_u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        // Box-Muller.
        let u = self.next_f64().max(f64::MIN_POSITIVE);
        let v = self.next_f64();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

fn demo(args: &DemoArgs) -> ExitCode {
    let monitor = Monitor::new();
    let handles: Vec<Operation> = OPERATIONS
        .iter()
        .map(|op| monitor.operation(op.name))
        .collect();
    let handles = Arc::new(handles);
    let stop = Arc::new(AtomicBool::new(false));
    println!(
        "tailwatch demo: {} simulated operations/s on {} threads, table every {} s{}",
        args.rps,
        args.threads,
        args.interval,
        if args.duration > 0 {
            format!(", stopping after {} s", args.duration)
        } else {
            " (Ctrl-C to stop)".into()
        }
    );
    println!(
        "(simulated calls through the measure API; the HTTP service and the Prometheus agent are not built yet, see README)"
    );

    let per_thread_rps = (args.rps / args.threads).max(1);
    let workers: Vec<_> = (0..args.threads)
        .map(|t| {
            let (handles, stop) = (handles.clone(), stop.clone());
            std::thread::spawn(move || generate(&handles, &stop, per_thread_rps, t))
        })
        .collect();

    let started = Instant::now();
    loop {
        std::thread::sleep(Duration::from_secs(args.interval));
        print_table(&monitor, started.elapsed());
        if args.duration > 0 && started.elapsed() >= Duration::from_secs(args.duration) {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    ExitCode::SUCCESS
}

fn generate(handles: &[Operation], stop: &AtomicBool, rps: u64, seed: u64) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (seed + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9));
    // Pace in batches of 10 ms.
    let batch = (rps / 100).max(1);
    let tick = Duration::from_secs_f64(batch as f64 / rps as f64);
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        for _ in 0..batch {
            let i = (rng.next_f64() * OPERATIONS.len() as f64) as usize % OPERATIONS.len();
            let op = &OPERATIONS[i];
            let mut ns = op.median_ns * (op.sigma * rng.normal()).exp();
            if rng.next_f64() < op.outlier {
                ns *= 50.0;
            }
            let ended = if rng.next_f64() < op.error {
                Ended::Error
            } else {
                Ended::Ok
            };
            handles[i].record(Duration::from_nanos(ns as u64), ended);
        }
        next += tick;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
}

fn ms(seconds: Option<f64>) -> String {
    seconds.map_or_else(|| "-".into(), |v| format!("{:.3}", v * 1e3))
}

fn print_table(monitor: &Monitor, elapsed: Duration) {
    println!(
        "\n[{:>5.0} s] {:<18} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9}",
        elapsed.as_secs_f64(),
        "operation",
        "rate/s",
        "error%",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms"
    );
    for op in &OPERATIONS {
        let Some(s) = monitor.stats(op.name) else {
            continue;
        };
        println!(
            "{:>9} {:<18} {:>9.1} {:>7.2} {:>9} {:>9} {:>9} {:>9}",
            "",
            op.name,
            s.rate_per_second,
            s.error_ratio.unwrap_or(0.0) * 100.0,
            ms(s.p50),
            ms(s.p95),
            ms(s.p99),
            ms(s.max),
        );
    }
    println!(
        "{:>9} window of the last 60-70 s; quantiles within +0.78 %",
        ""
    );
}
