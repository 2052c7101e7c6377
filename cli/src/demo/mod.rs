//! `tailwatch demo`: the example app, its traffic, the agent and the table.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tailwatch::Monitor;
use tokio::net::TcpListener;
use tokio::sync::watch;

mod app;
mod grpc;
mod random;
mod table;
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
    /// Serve the app and the agent without generating traffic.
    #[arg(long)]
    no_traffic: bool,
    /// Stop after this many seconds (0 = run until Ctrl-C).
    #[arg(long, default_value_t = 0)]
    duration: u64,
    /// Seconds between two tables.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=3600))]
    interval: u64,
}

/// Runs the demo on its own two-worker runtime.
pub(crate) fn run(args: &Args) -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build();
    match runtime {
        Ok(rt) => {
            let code = rt.block_on(serve(args));
            // A user callback still blocking a thread of the pool must
            // not keep the process from exiting.
            rt.shutdown_timeout(Duration::from_secs(1));
            code
        }
        Err(e) => {
            eprintln!("error: cannot start the tokio runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: &Args) -> ExitCode {
    // The global monitor: the one `#[tailwatch::measure]` functions record into.
    let monitor = Monitor::global().clone();
    // Kept alive to the end: each request runs in an OpenTelemetry span.
    let _traces = traces::install();
    let listener = match TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "error: the demo app cannot listen on {}: {e}; choose another address with --listen host:port",
                args.listen
            );
            return ExitCode::from(2);
        }
    };
    let app_addr = listener.local_addr().unwrap_or(args.listen);
    let serving = Arc::new(AtomicBool::new(true));
    let mut agent = tailwatch::agent(&monitor);
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
        match tailwatch::WebConfig::from_file(file) {
            Ok(config) => {
                if config.tls() {
                    scheme = "https";
                }
                agent = agent.web_config(config);
            }
            Err(e) => {
                eprintln!("error: {e} (--web-config-file)");
                return ExitCode::from(2);
            }
        }
    }
    let agent = match agent.start().await {
        Ok(agent) => agent,
        Err(tailwatch::AgentError::Bind { addr, source }) => {
            eprintln!(
                "error: the agent cannot listen on {addr}: {source}; choose another address \
                 with --agent-listen host:port (or TAILWATCH_LISTEN)"
            );
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let agent_addr = agent.local_addr();

    let (stop, stopped) = watch::channel(false);
    let mut server_stopped = stopped.clone();
    let payments = match app::payments().await {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("error: the demo's payments service cannot listen on loopback: {e}");
            return ExitCode::from(2);
        }
    };
    let inventory = match grpc::serve(&monitor).await {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("error: the demo's gRPC service cannot listen on loopback: {e}");
            return ExitCode::from(2);
        }
    };
    let app = app::router(&monitor, payments);
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
    let signal = shutdown_signal();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            _ = ticker.tick() => table::print(&monitor, started.elapsed(), &client),
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
    table::print(&monitor, started.elapsed(), &client);
    match served {
        Err(_) => {
            println!(
                "closed the connections still open after {} s",
                DRAIN.as_secs()
            );
            ExitCode::SUCCESS
        }
        Ok(Ok(Ok(()))) => ExitCode::SUCCESS,
        Ok(Ok(Err(e))) => {
            eprintln!("error: the demo app failed: {e}");
            ExitCode::FAILURE
        }
        Ok(Err(e)) => {
            eprintln!("error: the demo app's task failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// How long the app's requests in progress may take to finish on stop.
const DRAIN: Duration = Duration::from_secs(3);

/// The first of SIGINT (Ctrl-C) and SIGTERM; its name.
async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
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

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn print_banner(args: &Args, app: SocketAddr, agent: SocketAddr, scheme: &str) {
    println!("tailwatch demo");
    println!(
        "  app      http://{app}/  (GET /users/{{id}} fast, GET /orders/{{id}} slow \"db\", POST /checkout flaky)"
    );
    println!("  metrics  {scheme}://{agent}/metrics  (also /stats and /health)");
    let traffic = if args.no_traffic {
        "none generated (--no-traffic): send your own".to_owned()
    } else {
        format!(
            "{} requests/s over {} connections",
            args.rps, args.connections
        )
    };
    let until = if args.duration > 0 {
        format!("stops after {} s", args.duration)
    } else {
        "Ctrl-C to stop".to_owned()
    };
    println!("  traffic  {traffic}; {until}");
}

/// A listen address as the agent reads them (`localhost:8080`, `:8080`,
/// `8080`, …), for clap.
fn listen_address(text: &str) -> Result<SocketAddr, String> {
    tailwatch::parse_listen(text).map_err(|e| e.to_string())
}
