//! The `tailwatch` command.
//!
//! Run with: `cargo run --release -- demo`
//!
//! `demo` serves an example axum app wrapped in [`tailwatch::HttpMetricsLayer`]
//! on `127.0.0.1:8080` (`--listen`), generates its own traffic over HTTP
//! (`--rps`, `--connections`, `--no-traffic`), serves the agent (`/metrics`,
//! `/stats`, `/health`) on its default address, and prints a live table per
//! route every few seconds until `--duration` has passed or Ctrl-C.
//!
//! `load URL…` loads a service (open model by default, profiles,
//! thresholds) and reports what the client saw: `docs/load.md`.
//!
//! `rules` writes the Prometheus rules for objectives: `docs/objectives.md`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod demo;
mod load;
mod rules;

#[derive(Parser, Debug)]
#[command(name = "tailwatch", version, about = "Exact, cheap latency monitoring")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve an example app with generated traffic, the agent, and a live table.
    Demo(demo::Args),
    /// Send requests to URLs at a rate (open model) or as fast as N
    /// connections allow (closed model), and report the latencies exactly.
    Load(load::Args),
    /// Write the Prometheus rules (burn-rate alerts) for the objectives of
    /// a file or of a running agent.
    Rules(rules::Args),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Demo(args) => demo::run(&args),
        Command::Load(args) => load::run(&args),
        Command::Rules(args) => rules::run(&args),
    }
}
