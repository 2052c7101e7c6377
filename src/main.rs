//! The `tailwatch` command.
//!
//! Run with: `cargo run --release -- demo`
//!
//! `demo` drives the recording engine with generated traffic: worker
//! threads run simulated operations (a fast route, a "db" call with a long
//! tail, a flaky route) whose latencies are recorded into a registry, and a
//! live table of rate and window quantiles is printed every few seconds.
//! The HTTP service, middleware and Prometheus agent join the demo as they
//! are built (see the README's status section).

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use tailwatch::{Histogram, Registry, Snapshot};

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
struct Operation {
    name: &'static str,
    /// Median latency in nanoseconds and lognormal sigma.
    median_ns: f64,
    sigma: f64,
    /// Probability of a slow outlier (×50) and of an error.
    outlier: f64,
    error: f64,
}

const OPERATIONS: [Operation; 3] = [
    Operation {
        name: "GET /users/{id}",
        median_ns: 300_000.0,
        sigma: 0.3,
        outlier: 0.001,
        error: 0.0,
    },
    Operation {
        name: "db.get_user",
        median_ns: 2_000_000.0,
        sigma: 0.6,
        outlier: 0.01,
        error: 0.002,
    },
    Operation {
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
    let registry = Registry::new();
    let handles: Vec<(Histogram, Histogram)> = match OPERATIONS
        .iter()
        .map(|op| {
            Ok((
                registry.histogram(
                    "operation_duration_seconds",
                    &[("operation", op.name), ("outcome", "ok")],
                )?,
                registry.histogram(
                    "operation_duration_seconds",
                    &[("operation", op.name), ("outcome", "error")],
                )?,
            ))
        })
        .collect::<Result<_, tailwatch::RegistryError>>()
    {
        Ok(h) => h,
        Err(e) => {
            eprintln!("tailwatch demo: {e}");
            return ExitCode::FAILURE;
        }
    };
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
        "(engine only for now: the HTTP service and the Prometheus agent are not built yet; see README)"
    );

    let per_thread_rps = (args.rps / args.threads).max(1);
    let workers: Vec<_> = (0..args.threads)
        .map(|t| {
            let (handles, stop) = (handles.clone(), stop.clone());
            std::thread::spawn(move || generate(&handles, &stop, per_thread_rps, t))
        })
        .collect();

    let started = Instant::now();
    let mut snap = Snapshot::default();
    loop {
        std::thread::sleep(Duration::from_secs(args.interval));
        print_table(&handles, &mut snap, started.elapsed());
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

fn generate(handles: &[(Histogram, Histogram)], stop: &AtomicBool, rps: u64, seed: u64) {
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
            let (ok, err) = &handles[i];
            if rng.next_f64() < op.error { err } else { ok }.record(ns as u64);
        }
        next += tick;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
}

fn ms(ns: Option<u64>) -> String {
    ns.map_or_else(|| "-".into(), |v| format!("{:.3}", v as f64 / 1e6))
}

fn print_table(handles: &[(Histogram, Histogram)], snap: &mut Snapshot, elapsed: Duration) {
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
    for (op, (ok, err)) in OPERATIONS.iter().zip(handles) {
        let errors = err.stats_with(snap);
        let s = ok.stats_with(snap);
        let total = s.count + errors.count;
        let error_pct = if total > 0 {
            100.0 * errors.count as f64 / total as f64
        } else {
            0.0
        };
        println!(
            "{:>9} {:<18} {:>9.1} {:>7.2} {:>9} {:>9} {:>9} {:>9}",
            "",
            op.name,
            s.rate_per_second + errors.rate_per_second,
            error_pct,
            ms(s.quantile(0.5)),
            ms(s.quantile(0.95)),
            ms(s.quantile(0.99)),
            ms(s.max),
        );
    }
    println!(
        "{:>9} quantiles of successful calls over the last 60-70 s; error bound +0.78 %",
        ""
    );
}
