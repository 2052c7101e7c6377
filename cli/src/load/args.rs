//! The command line of `tailwatch load`, and the checks that make a bad
//! option a clear error (exit code 2).

use std::path::PathBuf;
use std::time::Duration;

/// The longest run `--duration` accepts.
const LONGEST: Duration = Duration::from_secs(7 * 24 * 3600);

/// `tailwatch load`: send requests to URLs at a rate, and report what the
/// client saw.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct Args {
    /// The URLs to load, `http://host:port/path`; `{id}` in a path becomes
    /// a random id from 1 to 1000 for each request. Several URLs share the
    /// rate equally, in turn.
    #[arg(required_unless_present = "plan", value_name = "URL")]
    pub(crate) urls: Vec<String>,
    /// A plan file instead of URLs: several endpoints with their methods,
    /// headers, bodies and weights (format: `docs/load.md`).
    #[arg(long, value_name = "FILE", conflicts_with = "urls")]
    pub(crate) plan: Option<PathBuf>,
    /// Requests per second, all URLs together (open model: each request is
    /// sent at its scheduled time whatever the answers do, and its latency
    /// is counted from that time).
    #[arg(long, default_value_t = 100.0, value_parser = rate)]
    pub(crate) rate: f64,
    /// How long to send: `30s`, `2m`, `1h30m`, `500ms`, or seconds (at most
    /// 7 days).
    #[arg(long, default_value = "30s", value_parser = duration)]
    pub(crate) duration: Duration,
    /// A closed model instead: N connections, each sending its next request
    /// once the previous one is answered, as fast as the target allows (a
    /// throughput ceiling; its latencies hide the queueing an open model
    /// shows).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub(crate) connections: Option<u64>,
    /// Open model: the most connections open at once; connections are
    /// opened as requests find none free, up to this.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub(crate) max_connections: u64,
    /// How long one request may take, waiting for a connection included;
    /// past it, it counts as a `timeout` error.
    #[arg(long, default_value = "10s", value_parser = duration)]
    pub(crate) timeout: Duration,
    /// A run whose schedule lag (the generator's own delay from a request's
    /// scheduled time to sending it) has a p99 above this is reported
    /// invalid (exit code 3): its figures would describe the generator.
    #[arg(long, default_value = "5ms", value_parser = duration)]
    pub(crate) max_lag: Duration,
    /// The shape of the rate over the run (see `tailwatch load --help`):
    /// `constant`; `load` (ramp up over the first tenth, hold); `stress`
    /// (five steps: 1, 1.5, 2, 2.5, 3 × the rate); `spike` (5 × the rate
    /// for the middle fifth); `soak` (a long hold); `breakpoint` (steps of
    /// +rate every --step until a --threshold fails: reports the knee).
    #[arg(long, value_enum, default_value = "constant")]
    pub(crate) profile: super::profile::Profile,
    /// The length of each breakpoint step.
    #[arg(long, default_value = "10s", value_parser = duration)]
    pub(crate) step: Duration,
    /// A bound the run must keep, judged over every window and over the
    /// whole run (exit code 99 when one fails): `p99<50ms`, `p99.9<=1s`,
    /// `max<2s`, `mean<10ms`, `errors<1%`, optionally after a URL given
    /// above (`'http://host/users/{id} p99<20ms'`). Repeatable.
    #[arg(long, value_parser = super::threshold::parse)]
    pub(crate) threshold: Vec<super::threshold::Threshold>,
    /// The windows thresholds are judged over, besides the whole run.
    #[arg(long, default_value = "10s", value_parser = duration)]
    pub(crate) window: Duration,
    /// Also serve the client side's metrics (tailwatch's agent:
    /// `http_client_request_duration_seconds` per URL, latency from the
    /// scheduled time) on this address, for Prometheus to scrape next to
    /// the server's; the dashboards overlay both.
    #[arg(long, value_name = "HOST:PORT", value_parser = tailwatch::agent::parse_listen)]
    pub(crate) agent_listen: Option<std::net::SocketAddr>,
    /// Seconds between two frames of the live table (drawn when stdout is
    /// a terminal).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub(crate) interval: u64,
    /// Also write the final report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
}

/// A positive, finite rate of at most 1,000,000 per second.
fn rate(text: &str) -> Result<f64, String> {
    let r: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of requests per second"))?;
    if !(r.is_finite() && r > 0.0) {
        return Err(format!(
            "the rate must be above 0 requests per second, not {text}"
        ));
    }
    if r > 1_000_000.0 {
        return Err(format!(
            "{text} requests per second is more than one generator sends (at most 1000000)"
        ));
    }
    Ok(r)
}

/// A duration: a sum of `<number><unit>` (`h`, `m`, `s`, `ms`), or plain
/// seconds; more than zero and at most 7 days.
pub(crate) fn duration(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "{text:?} is not a duration; write e.g. 30s, 2m, 1h30m, 500ms or a number of seconds"
        )
    };
    let t = text.trim();
    let total = if let Ok(secs) = t.parse::<f64>() {
        if !secs.is_finite() || secs < 0.0 {
            return Err(bad());
        }
        Duration::from_secs_f64(secs.min(LONGEST.as_secs_f64() * 2.0))
    } else {
        let mut total = Duration::ZERO;
        let mut rest = t;
        if rest.is_empty() {
            return Err(bad());
        }
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(bad)?;
            if digits == 0 {
                return Err(bad());
            }
            let n: f64 = rest[..digits].parse().map_err(|_| bad())?;
            rest = &rest[digits..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len());
            let seconds = match &rest[..unit_len] {
                "h" => 3600.0,
                "m" => 60.0,
                "s" => 1.0,
                "ms" => 1e-3,
                _ => return Err(bad()),
            };
            rest = &rest[unit_len..];
            total += Duration::from_secs_f64((n * seconds).min(LONGEST.as_secs_f64() * 2.0));
        }
        total
    };
    if total.is_zero() {
        return Err(format!("{text:?}: a duration must be more than zero"));
    }
    if total > LONGEST {
        return Err(format!("{text:?} is longer than 7 days; split the run"));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_units_or_seconds() {
        assert_eq!(duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("1.5"), Ok(Duration::from_millis(1500)));
        for bad in [
            "", "s", "10x", "-3", "5 m", "1h-2m", "0", "0s", "8000h", "inf",
        ] {
            assert!(duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rates_must_be_positive_and_sane() {
        assert_eq!(rate("1000"), Ok(1000.0));
        assert_eq!(rate("0.5"), Ok(0.5));
        for bad in ["0", "-1", "NaN", "inf", "ten", "2000000"] {
            assert!(rate(bad).is_err(), "{bad}");
        }
    }
}
