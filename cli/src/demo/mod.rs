//! `tailwatch demo`: the example app, its traffic, the agent and the table.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tailwatch::agent::{AgentError, WebConfig};
use tailwatch::{AgentBuilder, Monitor};
use tokio::net::TcpListener;
use tokio::sync::watch;

mod app;
mod grpc;
mod limited;
mod random;
mod table;

pub(crate) use table::{Screen, fit, human};
pub(crate) use traffic::ClientStats;
mod traces;
mod traffic;

/// Options of `tailwatch demo`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Address of the example app (host:port, or a port for loopback).
    #[arg(long, default_value = "127.0.0.1:8080", value_parser = listen_address)]
    listen: SocketAddr,
    /// Address of the agent (default: $TAILWATCH_LISTEN, else 127.0.0.1:9464;
    /// host:port, localhost:9464, or a port for loopback).
    #[arg(long, value_parser = listen_address)]
    agent_listen: Option<SocketAddr>,
    /// TLS and basic auth for the agent: a Prometheus exporter web-config
    /// file (tls_server_config, basic_auth_users), as node_exporter reads.
    #[arg(long, value_name = "FILE")]
    web_config_file: Option<std::path::PathBuf>,
    /// Requests per second the generator sends, all routes together.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    rps: u64,
    /// Keep-alive connections the generator sends them over.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=1024))]
    connections: u64,
    /// Connections the example app keeps open at once; more wait in the
    /// kernel's accept queue until one closes (the generator uses
    /// --connections of them).
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    max_connections: u64,
    /// Serve the app and the agent without generating traffic.
    #[arg(long)]
    no_traffic: bool,
    /// Stop after this many seconds (0 = run until Ctrl-C).
    #[arg(long, default_value_t = 0)]
    duration: u64,
    /// Seconds between two tables.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=3600))]
    interval: u64,
    /// The quantiles the table shows, comma-separated in 0..=1 (the
    /// operations' histograms are configured with them, so `/stats` and
    /// `/metrics` carry them too).
    #[arg(long, value_delimiter = ',', default_value = "0.5,0.95,0.99", value_parser = quantile)]
    quantiles: Vec<f64>,
    /// Objectives to declare, from a YAML file in the format of
    /// `tailwatch rules --objectives` (default: the demo's own, see
    /// `tailwatch demo --help` and docs/objectives.md).
    #[arg(long, value_name = "FILE")]
    objectives: Option<std::path::PathBuf>,
}

/// The objectives the demo declares in code unless `--objectives` names a
/// file: what a service author would write next to the routes.
fn demo_objectives() -> Vec<tailwatch::objectives::Objective> {
    use tailwatch::objectives::Objective;
    vec![
        Objective::latency("checkout-fast", Duration::from_millis(300), 0.99)
            .http_route("POST", "/checkout"),
        Objective::availability("checkout-up", 0.999).http_route("POST", "/checkout"),
        Objective::availability("users-up", 0.999).http_route("GET", "/users/{id}"),
        Objective::latency("db-fast", Duration::from_millis(25), 0.995).operation("db.query"),
    ]
}

/// Declares `--objectives` (or the demo's own) on `monitor`.
fn declare_objectives(args: &Args, monitor: &Monitor) -> Result<usize, DemoError> {
    let list = match &args.objectives {
        Some(file) => {
            let text = std::fs::read_to_string(file).map_err(|e| {
                DemoError::Usage(format!(
                    "cannot read {}: {e} (--objectives)",
                    file.display()
                ))
            })?;
            crate::rules::parse(&file.display().to_string(), &text).map_err(DemoError::Usage)?
        }
        None => demo_objectives(),
    };
    let objectives = tailwatch::objectives::Objectives::new(monitor);
    for o in &list {
        objectives
            .add(o.clone())
            .map_err(|e| DemoError::Usage(format!("{e} (--objectives)")))?;
    }
    Ok(list.len())
}

/// Why the demo stopped short: a message for stderr and the exit code.
#[derive(Debug)]
pub(crate) enum DemoError {
    /// The command line or the environment is wrong (exit code 2): a port
    /// in use, an unreadable web-config file.
    Usage(String),
    /// The demo failed while running (exit code 1).
    Failed(String),
}

impl DemoError {
    fn exit_code(&self) -> ExitCode {
        match self {
            DemoError::Usage(_) => ExitCode::from(2),
            DemoError::Failed(_) => ExitCode::FAILURE,
        }
    }
}

impl std::fmt::Display for DemoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DemoError::Usage(m) | DemoError::Failed(m) => f.write_str(m),
        }
    }
}

/// Runs the demo on its own two-worker runtime; its errors become an exit
/// code here, once.
pub(crate) fn run(args: &Args) -> ExitCode {
    let result = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => {
            let result = rt.block_on(serve(args));
            // A user callback still blocking a thread of the pool must
            // not keep the process from exiting.
            rt.shutdown_timeout(Duration::from_secs(1));
            result
        }
        Err(e) => Err(DemoError::Failed(format!(
            "cannot start the tokio runtime: {e}"
        ))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

async fn serve(args: &Args) -> Result<(), DemoError> {
    if !args.no_traffic && args.connections > args.max_connections {
        return Err(DemoError::Usage(format!(
            "--connections {} is more than --max-connections {}: the generator would wait \
             for connections the app does not accept",
            args.connections, args.max_connections
        )));
    }
    // The global monitor: the one `#[tailwatch::measure]` functions record
    // into, with the quantiles the table shows.
    let monitor = Monitor::builder()
        .quantiles(&args.quantiles)
        .build()
        .map_err(|e| DemoError::Usage(format!("{e} (--quantiles)")))?;
    if Monitor::set_global(monitor).is_err() {
        return Err(DemoError::Failed(
            "the global monitor was set before the demo's".into(),
        ));
    }
    let monitor = Monitor::global().clone();
    declare_objectives(args, &monitor)?;
    // Kept alive to the end: each request runs in an OpenTelemetry span.
    let _traces = traces::install();
    let listener = TcpListener::bind(args.listen).await.map_err(|e| {
        DemoError::Usage(format!(
            "the demo app cannot listen on {}: {e}; choose another address with --listen host:port",
            args.listen
        ))
    })?;
    let app_addr = listener.local_addr().unwrap_or(args.listen);
    let serving = Arc::new(AtomicBool::new(true));
    let mut agent = AgentBuilder::new(&monitor);
    if let Some(addr) = args.agent_listen {
        agent = agent.listen(addr);
    }
    let up = serving.clone();
    let agent = agent.health_check("app", move || {
        if up.load(Ordering::Relaxed) {
            Ok(())
        } else {
            Err("the demo app stopped serving".to_owned())
        }
    });
    let mut agent = agent.shutdown_timeout(DRAIN);
    let mut scheme = "http";
    if let Some(file) = &args.web_config_file {
        let config = WebConfig::from_file(file)
            .map_err(|e| DemoError::Usage(format!("{e} (--web-config-file)")))?;
        if config.tls() {
            scheme = "https";
        }
        agent = agent.web_config(config);
    }
    let agent = agent.start().await.map_err(|e| match e {
        AgentError::Bind { addr, source } => DemoError::Usage(format!(
            "the agent cannot listen on {addr}: {source}; choose another address \
             with --agent-listen host:port (or TAILWATCH_LISTEN)"
        )),
        e => DemoError::Usage(e.to_string()),
    })?;
    let agent_addr = agent.local_addr();

    let (stop, stopped) = watch::channel(false);
    let mut server_stopped = stopped.clone();
    let payments = app::payments().await.map_err(|e| {
        DemoError::Usage(format!(
            "the demo's payments service cannot listen on loopback: {e}"
        ))
    })?;
    let inventory = grpc::serve(&monitor).await.map_err(|e| {
        DemoError::Usage(format!(
            "the demo's gRPC service cannot listen on loopback: {e}"
        ))
    })?;
    let app = app::router(&monitor, payments, app::Faults::default());
    let listener = limited::Limited::new(listener, args.max_connections as usize);
    let server = tokio::spawn(async move {
        let result = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = server_stopped.wait_for(|s| *s).await;
            })
            .await;
        serving.store(false, Ordering::Relaxed);
        result
    });

    print_banner(args, app_addr, agent_addr, scheme);
    let client = Arc::new(traffic::ClientStats::default());
    // A tenth of the HTTP rate in gRPC calls to the inventory service.
    let grpc_traffic = (!args.no_traffic).then(|| {
        tokio::spawn(grpc::traffic(
            inventory,
            (args.rps / 10).max(1),
            stopped.clone(),
        ))
    });
    let generator = (!args.no_traffic).then(|| {
        tokio::spawn(traffic::generate(
            app_addr,
            args.rps,
            args.connections,
            stopped.clone(),
            client.clone(),
        ))
    });

    let started = tokio::time::Instant::now();
    let every = Duration::from_secs(args.interval);
    let mut ticker = tokio::time::interval_at(started + every, every);
    let deadline = (args.duration > 0).then(|| started + Duration::from_secs(args.duration));
    let mut screen = table::Screen::new(args.quantiles.clone());
    let signal = shutdown_signal();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            _ = ticker.tick() => screen.draw(&monitor, started.elapsed(), &client),
            name = &mut signal => {
                println!("{name}: draining (at most {} s)", DRAIN.as_secs());
                break;
            }
            () = sleep_until(deadline) => break,
        }
    }

    // Stop the traffic first (its requests in progress finish), then the
    // app and the agent, each within the drain deadline: a client that
    // never finishes its request cannot hold the demo up.
    let _ = stop.send(true);
    if let Some(g) = generator {
        let _ = tokio::time::timeout(DRAIN, g).await;
    }
    if let Some(g) = grpc_traffic {
        let _ = tokio::time::timeout(DRAIN, g).await;
    }
    let (served, ()) = tokio::join!(tokio::time::timeout(DRAIN, server), agent.stop());
    screen.finish(&monitor, started.elapsed(), &client);
    match served {
        Err(_) => {
            println!(
                "closed the connections still open after {} s",
                DRAIN.as_secs()
            );
            Ok(())
        }
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(e))) => Err(DemoError::Failed(format!("the demo app failed: {e}"))),
        Ok(Err(e)) => Err(DemoError::Failed(format!(
            "the demo app's task failed: {e}"
        ))),
    }
}

/// How long the app's requests in progress may take to finish on stop.
const DRAIN: Duration = Duration::from_secs(3);

/// The first of SIGINT (Ctrl-C) and SIGTERM; its name. The handlers are
/// installed when this is called (not when the future is first polled),
/// so a signal right after cannot take the process down.
pub(crate) fn shutdown_signal() -> impl std::future::Future<Output = &'static str> {
    #[cfg(unix)]
    let registered = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let (Ok(mut term), Ok(mut int)) = registered else {
                eprintln!("note: cannot listen for signals; stop with --duration");
                return std::future::pending().await;
            };
            tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn print_banner(args: &Args, app: SocketAddr, agent: SocketAddr, scheme: &str) {
    print!("{}", banner(args, app, agent, scheme));
}

/// The lines printed above the table, each within 80 columns.
fn banner(args: &Args, app: SocketAddr, agent: SocketAddr, scheme: &str) -> String {
    let traffic = if args.no_traffic {
        "none (--no-traffic): send your own".to_owned()
    } else {
        format!("{} requests/s, {} connections", args.rps, args.connections)
    };
    let until = if args.duration > 0 {
        format!("stops after {} s", args.duration)
    } else {
        "Ctrl-C to stop".to_owned()
    };
    let lines = [
        "tailwatch demo".to_owned(),
        format!("  app      http://{app}/"),
        "           GET /users/{id} fast, GET /orders/{id} slow, POST /checkout flaky".to_owned(),
        format!("  faults   curl -X PUT http://{app}/admin/fault/users  (DELETE: stop)"),
        format!("  metrics  {scheme}://{agent}/metrics  (also /stats, /health)"),
        format!("  traffic  {traffic}; {until}"),
    ];
    let mut out: String = lines
        .iter()
        .map(|l| table::fit(l, table::WIDTH))
        .collect::<Vec<_>>()
        .join("\n");
    out.push('\n');
    out
}

/// A listen address as the agent reads them (`localhost:8080`, `:8080`,
/// `8080`, …), for clap.
fn listen_address(text: &str) -> Result<SocketAddr, String> {
    tailwatch::agent::parse_listen(text).map_err(|e| e.to_string())
}

/// A quantile in `0.0..=1.0`, for clap.
fn quantile(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(q) if (0.0..=1.0).contains(&q) => Ok(q),
        _ => Err(format!("{text:?} is not a quantile in 0..=1 (0.99 is p99)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    #[test]
    fn the_banner_fits_80_columns() {
        let cli = Cli::parse_from([
            "demo",
            "--rps",
            "1000000",
            "--connections",
            "1024",
            "--duration",
            "123456",
        ]);
        let long: SocketAddr = "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"
            .parse()
            .unwrap();
        let text = banner(&cli.args, long, long, "https");
        assert!(text.lines().count() >= 4, "{text}");
        for line in text.lines() {
            assert!(
                line.chars().count() <= table::WIDTH,
                "{} columns: {line}",
                line.chars().count()
            );
        }
    }

    #[test]
    fn quantiles_are_checked() {
        assert_eq!(quantile("0.999"), Ok(0.999));
        assert!(quantile("99").unwrap_err().contains("0..=1"));
        assert!(quantile("p99").is_err());
    }
}
