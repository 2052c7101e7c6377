//! The final report of `tailwatch load`: text for the terminal (80
//! columns) and JSON (`--out`).

use std::fmt::Write;
use std::time::Duration;

use serde_json::{Value, json};
use tailwatch::Histogram;
use tailwatch::engine::Snapshot;

use super::args::Args;
use super::judge::{Failed, Figures, Verdicts};
use super::profile::Schedule;
use super::record::{QUANTILES, Recorder, seconds_at, snapshot};
use super::target::Endpoint;
use crate::demo::human;

/// What a report is made of.
pub(crate) struct Parts<'a> {
    pub(crate) endpoints: &'a [Endpoint],
    pub(crate) recorders: &'a [Recorder],
    pub(crate) stages: &'a [Vec<Figures>],
    pub(crate) stage_sent: &'a [std::sync::atomic::AtomicU64],
    pub(crate) schedule: &'a Schedule,
    pub(crate) verdicts: &'a Verdicts,
}

/// One stage's figures.
struct StageReport {
    target: f64,
    ramp_from: Option<f64>,
    seconds: f64,
    sent: u64,
    latency: Snapshot,
    requests: u64,
    errors: u64,
    held: Option<bool>,
}

/// One endpoint's figures.
struct EndpointReport {
    name: String,
    latency: Snapshot,
    service: Snapshot,
    server: Snapshot,
    gap: Snapshot,
    statuses: Vec<(u16, u64)>,
    failures: Vec<(&'static str, u64)>,
    errors: u64,
}

impl EndpointReport {
    fn count(&self) -> u64 {
        self.latency.count()
    }

    fn errors(&self) -> u64 {
        self.errors
    }
}

/// A run's report.
pub(crate) struct Report {
    open: bool,
    target_rate: f64,
    connections: Option<u64>,
    sending: Duration,
    sent: u64,
    interrupted: bool,
    lag: Snapshot,
    max_lag: Duration,
    endpoints: Vec<EndpointReport>,
    profile: super::profile::Profile,
    stages: Vec<StageReport>,
    failed: Vec<Failed>,
    thresholds: Vec<String>,
    windows: u64,
    stopped_at: Option<usize>,
    /// Requests due in the time the run sent.
    scheduled: f64,
    /// Heap bytes of the generator's histograms at the end (its memory
    /// that grows with what the run saw: see docs/load.md).
    pub(crate) histogram_bytes: usize,
}

impl Report {
    pub(crate) fn new(
        args: &Args,
        parts: &Parts<'_>,
        lag: &Histogram,
        sent: u64,
        sending: Duration,
        interrupted: bool,
    ) -> Self {
        let (endpoints, recorders) = (parts.endpoints, parts.recorders);
        let steps = parts.verdicts.steps();
        let elapsed = sending.as_secs_f64();
        let stages = parts
            .schedule
            .stages()
            .iter()
            .enumerate()
            .filter(|(k, _)| parts.schedule.stage_start(*k) < elapsed)
            .map(|(k, stage)| {
                let figures = &parts.stages[k];
                let mut latency = figures[0].latency();
                for f in &figures[1..] {
                    latency.merge(&f.latency());
                }
                let start = parts.schedule.stage_start(k);
                StageReport {
                    target: stage.to,
                    ramp_from: (stage.from != stage.to).then_some(stage.from),
                    seconds: (elapsed - start).min(stage.length.as_secs_f64()),
                    sent: parts.stage_sent[k].load(std::sync::atomic::Ordering::Relaxed),
                    latency,
                    requests: figures.iter().map(Figures::requests).sum(),
                    errors: figures.iter().map(Figures::errors).sum(),
                    held: steps.iter().find(|(s, _)| *s == k).map(|(_, h)| *h),
                }
            })
            .collect();
        Self {
            profile: args.profile,
            stages,
            failed: parts.verdicts.failures(),
            thresholds: args.threshold.iter().map(|t| t.text.clone()).collect(),
            windows: parts.verdicts.windows(),
            stopped_at: parts.verdicts.stopped_at(),
            scheduled: parts.schedule.count_before(sending.as_secs_f64()),
            histogram_bytes: 0,
            open: args.connections.is_none(),
            target_rate: args.rate,
            connections: args.connections,
            sending,
            sent,
            interrupted,
            lag: snapshot(lag),
            max_lag: args.max_lag,
            endpoints: endpoints
                .iter()
                .zip(recorders)
                .map(|(e, r)| EndpointReport {
                    name: e.name.clone(),
                    latency: snapshot(&r.latency),
                    service: snapshot(&r.service),
                    server: snapshot(&r.server),
                    gap: snapshot(&r.gap),
                    statuses: r.statuses().into_iter().collect(),
                    errors: r.errors(),
                    failures: r
                        .failures()
                        .into_iter()
                        .filter(|(_, n)| *n > 0)
                        .map(|(f, n)| (f.name(), n))
                        .collect(),
                })
                .collect(),
        }
    }

    /// Requests the schedule had due in the time it ran.
    fn scheduled(&self) -> f64 {
        self.scheduled.floor()
    }

    fn achieved_rate(&self) -> f64 {
        self.sent as f64 / self.sending.as_secs_f64().max(1e-9)
    }

    /// Why the run's figures cannot be trusted, if they cannot: the
    /// generator lagged its schedule, or sent too little of it.
    pub(crate) fn invalid(&self) -> Option<String> {
        if !self.open {
            return None;
        }
        // Below 100 sends, "p99" is the slowest one (often the very first,
        // while connections open): judged only from 100 on, as the rate is.
        let p99 = self.lag.value_at_quantile(0.99).unwrap_or(0);
        if self.lag.count() >= 100
            && p99 > u64::try_from(self.max_lag.as_nanos()).unwrap_or(u64::MAX)
        {
            return Some(format!(
                "the generator's schedule lag p99 was {}, above --max-lag {}",
                human(Some(p99 as f64 / 1e9)),
                human(Some(self.max_lag.as_secs_f64()))
            ));
        }
        let scheduled = self.scheduled();
        if scheduled >= 100.0 && (self.sent as f64) < 0.99 * scheduled {
            return Some(format!(
                "the generator sent {} of the {scheduled:.0} requests it scheduled",
                self.sent
            ));
        }
        None
    }

    /// Breakpoint: the highest step rate whose thresholds held before one
    /// failed.
    fn knee(&self) -> Option<f64> {
        let stopped = self.stopped_at?;
        stopped.checked_sub(1).map(|k| self.stages[k].target)
    }

    pub(crate) fn valid(&self) -> bool {
        self.invalid().is_none()
    }

    /// The report as text, 80 columns.
    pub(crate) fn text(&self) -> String {
        let mut out = String::new();
        let model = match self.connections {
            None => format!("open model at {} req/s", self.target_rate),
            Some(n) => format!("closed model, {n} connections"),
        };
        let answered: u64 = self
            .endpoints
            .iter()
            .map(|e| e.statuses.iter().map(|(_, n)| n).sum::<u64>())
            .sum();
        let _ = writeln!(
            out,
            "\ntailwatch load: {:.1} s, {model}{}",
            self.sending.as_secs_f64(),
            if self.interrupted {
                " (interrupted)"
            } else {
                ""
            }
        );
        let _ = writeln!(
            out,
            "  sent {} ({:.1} req/s), {answered} answered",
            self.sent,
            self.achieved_rate()
        );
        if self.open {
            let at = |q| seconds_at(&self.lag, q);
            let _ = writeln!(
                out,
                "  schedule lag: p50 {}, p99 {}, max {}",
                human(at(0.5)),
                human(at(0.99)),
                human(self.lag.max().map(|n| n as f64 / 1e9))
            );
        }
        match self.invalid() {
            Some(why) => {
                let _ = writeln!(out, "  INVALID RUN: {why}");
            }
            None if self.open => {
                let _ = writeln!(
                    out,
                    "  valid: schedule lag p99 within {}, the schedule sent",
                    human(Some(self.max_lag.as_secs_f64()))
                );
            }
            None => {}
        }
        for e in &self.endpoints {
            let _ = writeln!(out, "\n{}", crate::demo::fit(&e.name, 80));
            let errors = e.errors();
            let ratio = if e.count() > 0 {
                100.0 * errors as f64 / e.count() as f64
            } else {
                0.0
            };
            let _ = writeln!(
                out,
                "  {} requests, {errors} errors ({ratio:.2} %)",
                e.count()
            );
            let _ = writeln!(
                out,
                "  {:<14}{:>9}{:>9}{:>9}{:>9}{:>9}{:>9}",
                "", "p50", "p90", "p95", "p99", "p99.9", "max"
            );
            let row = |label: &str, s: &Snapshot, out: &mut String| {
                let mut line = format!("  {label:<14}");
                for q in QUANTILES {
                    let _ = write!(line, "{:>9}", human(seconds_at(s, q)));
                }
                let _ = write!(line, "{:>9}", human(s.max().map(|n| n as f64 / 1e9)));
                let _ = writeln!(out, "{line}");
            };
            let corrected = if self.open { "latency" } else { "latency*" };
            row(corrected, &e.latency, &mut out);
            if self.open {
                row("uncorrected", &e.service, &mut out);
            }
            if e.server.count() > 0 {
                row("server", &e.server, &mut out);
                row("client−server", &e.gap, &mut out);
                let _ = writeln!(
                    out,
                    "  (server: its Server-Timing, {} of {} answers; client−server: the\n   \
                     network, accept queue and work outside the handler)",
                    e.server.count(),
                    e.count()
                );
            } else {
                let _ = writeln!(out, "  server timing: not sent by the target");
            }
            let statuses: Vec<String> = e
                .statuses
                .iter()
                .map(|(s, n)| format!("{s} × {n}"))
                .chain(e.failures.iter().map(|(f, n)| format!("{f} × {n}")))
                .collect();
            let _ = writeln!(out, "  {}", statuses.join(", "));
        }
        if self.open && (self.stages.len() > 1 || self.stopped_at.is_some()) {
            let _ = writeln!(out, "\nstages ({:?} profile)", self.profile);
            let _ = writeln!(
                out,
                "  {:<5}{:>12}{:>12}{:>9}{:>10}{:>10}{:>8}",
                "", "target/s", "sent/s", "errors", "p50", "p99", "held"
            );
            for (k, s) in self.stages.iter().enumerate() {
                let target = match s.ramp_from {
                    Some(from) => format!("{from:.0}→{:.0}", s.target),
                    None => format!("{:.0}", s.target),
                };
                let held = match s.held {
                    Some(true) => "yes",
                    Some(false) => "NO",
                    None => "",
                };
                let _ = writeln!(
                    out,
                    "  {:<5}{:>12}{:>12.1}{:>9}{:>10}{:>10}{:>8}",
                    k + 1,
                    target,
                    s.sent as f64 / s.seconds.max(1e-9),
                    s.errors,
                    human(seconds_at(&s.latency, 0.5)),
                    human(seconds_at(&s.latency, 0.99)),
                    held
                );
            }
            if let Some(knee) = self.knee() {
                let _ = writeln!(
                    out,
                    "  knee: {knee:.0} req/s, the highest rate whose thresholds held"
                );
            } else if self.stopped_at.is_some() {
                let _ = writeln!(
                    out,
                    "  knee: below the first step ({:.0} req/s)",
                    self.target_rate
                );
            }
        }
        if !self.thresholds.is_empty() {
            let _ = writeln!(
                out,
                "\nthresholds ({} windows and the whole run): {}",
                self.windows,
                if self.failed.is_empty() {
                    "all held"
                } else {
                    "FAILED"
                }
            );
            for f in &self.failed {
                let _ = writeln!(
                    out,
                    "  {} failed over {}: {}",
                    f.threshold, f.scope, f.value
                );
            }
        }
        if self.open {
            let _ = writeln!(
                out,
                "\nlatency: from each request's scheduled send time (what a user waits);\n\
                 uncorrected: from the moment it was written (what most tools report)."
            );
        } else {
            let _ = writeln!(
                out,
                "\nlatency*: closed model, from the moment each request was written; a\n\
                 stalled server delays the next requests instead of showing in them."
            );
        }
        out
    }

    /// The report as JSON.
    pub(crate) fn json(&self) -> Value {
        let quantiles = |s: &Snapshot| -> Value {
            if s.count() == 0 {
                return Value::Null;
            }
            let mut m = serde_json::Map::new();
            for q in QUANTILES {
                m.insert(
                    format!("p{}", (q * 1000.0).round() / 10.0).replace(".0", ""),
                    json!(seconds_at(s, q)),
                );
            }
            m.insert("max".into(), json!(s.max().map(|n| n as f64 / 1e9)));
            m.insert("mean".into(), json!(s.mean().map(|n| n / 1e9)));
            m.insert("count".into(), json!(s.count()));
            Value::Object(m)
        };
        json!({
            "model": if self.open { "open" } else { "closed" },
            "target_rate": if self.open { json!(self.target_rate) } else { Value::Null },
            "connections": self.connections,
            "seconds": self.sending.as_secs_f64(),
            "sent": self.sent,
            "achieved_rate": self.achieved_rate(),
            "interrupted": self.interrupted,
            "valid": self.valid(),
            "invalid_because": self.invalid(),
            "schedule_lag": if self.open { quantiles(&self.lag) } else { Value::Null },
            "profile": format!("{:?}", self.profile).to_lowercase(),
            "stages": self.stages.iter().map(|s| json!({
                "target_rate": s.target,
                "ramp_from": s.ramp_from,
                "seconds": s.seconds,
                "sent": s.sent,
                "achieved_rate": s.sent as f64 / s.seconds.max(1e-9),
                "requests": s.requests,
                "errors": s.errors,
                "latency": quantiles(&s.latency),
                "held": s.held,
            })).collect::<Vec<_>>(),
            "knee": self.knee(),
            "histogram_bytes": self.histogram_bytes,
            "thresholds": {
                "given": self.thresholds,
                "windows": self.windows,
                "passed": self.failed.is_empty(),
                "failed": self.failed.iter().map(|f| json!({
                    "threshold": f.threshold, "over": f.scope, "value": f.value,
                })).collect::<Vec<_>>(),
            },
            "endpoints": self.endpoints.iter().map(|e| json!({
                "name": e.name,
                "requests": e.count(),
                "errors": e.errors(),
                "statuses": e.statuses.iter().map(|(s, n)| (s.to_string(), json!(n))).collect::<serde_json::Map<_, _>>(),
                "failures": e.failures.iter().map(|(f, n)| ((*f).to_owned(), json!(n))).collect::<serde_json::Map<_, _>>(),
                "latency": quantiles(&e.latency),
                "uncorrected": if self.open { quantiles(&e.service) } else { Value::Null },
                "server": quantiles(&e.server),
                "client_minus_server": quantiles(&e.gap),
                "server_timing_sent": e.server.count() > 0,
            })).collect::<Vec<_>>(),
        })
    }
}
