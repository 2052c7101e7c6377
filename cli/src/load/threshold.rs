//! Thresholds: `--threshold 'p99<50ms'`, `'errors<1%'`, optionally for
//! one URL (`'http://host/users/{id} p99<20ms'`); judged over every window
//! of the run (`--window`, 10 s) and over the whole run.

use tailwatch::engine::Snapshot;

/// What a threshold bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Metric {
    /// A latency quantile (0.99 for `p99`).
    Quantile(f64),
    /// The largest latency.
    Max,
    /// The mean latency.
    Mean,
    /// The share of requests that failed or got a status of 400 or more.
    Errors,
}

/// One threshold.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Threshold {
    /// As written.
    pub(crate) text: String,
    /// The URL it is for, or every request.
    pub(crate) endpoint: Option<String>,
    pub(crate) metric: Metric,
    /// `<=` rather than `<`.
    pub(crate) inclusive: bool,
    /// Seconds for latencies, a ratio (0–1) for errors.
    pub(crate) limit: f64,
}

/// The figures a threshold is judged on.
pub(crate) struct Figures<'a> {
    pub(crate) latency: &'a Snapshot,
    pub(crate) requests: u64,
    pub(crate) errors: u64,
}

impl Threshold {
    /// The metric's value over `f` (seconds, or a ratio), if there is one.
    pub(crate) fn value(&self, f: &Figures<'_>) -> Option<f64> {
        let s = |ns: u64| ns as f64 / 1e9;
        match self.metric {
            Metric::Quantile(q) => f.latency.value_at_quantile(q).map(s),
            Metric::Max => f.latency.max().map(s),
            Metric::Mean => f.latency.mean().map(|ns| ns / 1e9),
            Metric::Errors => (f.requests > 0).then(|| f.errors as f64 / f.requests as f64),
        }
    }

    /// Whether `value` keeps to the threshold.
    pub(crate) fn holds(&self, value: f64) -> bool {
        if self.inclusive {
            value <= self.limit
        } else {
            value < self.limit
        }
    }

    /// `value` in the threshold's unit, for reports.
    pub(crate) fn show(&self, value: f64) -> String {
        match self.metric {
            Metric::Errors => format!("{:.2} %", value * 100.0),
            _ if value >= 1.0 => format!("{value:.3} s"),
            _ => format!("{:.3} ms", value * 1e3),
        }
    }
}

/// Parses a threshold: `[URL ]METRIC(<|<=)VALUE`.
pub(crate) fn parse(text: &str) -> Result<Threshold, String> {
    let help = "write e.g. 'p99<50ms', 'p99.9<=1s', 'max<2s', 'mean<10ms', 'errors<1%', \
                optionally after a URL: 'http://host/users/{id} p99<20ms'";
    let t = text.trim();
    let (endpoint, expr) = match t.split_once(char::is_whitespace) {
        Some((url, expr)) if url.contains("://") => (Some(url.to_owned()), expr.trim()),
        _ => (None, t),
    };
    let expr: String = expr.chars().filter(|c| !c.is_whitespace()).collect();
    let at = expr
        .find('<')
        .ok_or_else(|| format!("threshold {text:?}: no '<' or '<='; {help}"))?;
    let (name, rest) = expr.split_at(at);
    let (inclusive, value) = match rest.strip_prefix("<=") {
        Some(v) => (true, v),
        None => (false, &rest[1..]),
    };
    let metric = match name {
        "max" => Metric::Max,
        "mean" | "avg" => Metric::Mean,
        "errors" => Metric::Errors,
        p if p.starts_with('p') => {
            let n: f64 = p[1..].parse().map_err(|_| {
                format!("threshold {text:?}: {p:?} is not a quantile like p99; {help}")
            })?;
            if !(n > 0.0 && n < 100.0) {
                return Err(format!(
                    "threshold {text:?}: {p} is not a quantile between p0 and p100; {help}"
                ));
            }
            Metric::Quantile(n / 100.0)
        }
        other => {
            return Err(format!(
                "threshold {text:?}: {other:?} is not a metric (p50…p99.9, max, mean, errors); {help}"
            ));
        }
    };
    let limit = if metric == Metric::Errors {
        let pct = value.strip_suffix('%').ok_or_else(|| {
            format!("threshold {text:?}: errors take a percentage, e.g. errors<1%")
        })?;
        let p: f64 = pct
            .parse()
            .map_err(|_| format!("threshold {text:?}: {value:?} is not a percentage"))?;
        if !(0.0..=100.0).contains(&p) {
            return Err(format!(
                "threshold {text:?}: {value} is not between 0% and 100%"
            ));
        }
        p / 100.0
    } else {
        let split = value
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| {
                format!("threshold {text:?}: {value:?} needs a unit (ms, s, us); {help}")
            })?;
        let n: f64 = value[..split]
            .parse()
            .map_err(|_| format!("threshold {text:?}: {value:?} is not a duration; {help}"))?;
        let scale = match &value[split..] {
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            unit => {
                return Err(format!(
                    "threshold {text:?}: {unit:?} is not a unit (s, ms, us, ns); {help}"
                ));
            }
        };
        n * scale
    };
    Ok(Threshold {
        text: text.to_owned(),
        endpoint,
        metric,
        inclusive,
        limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_parse_and_bad_ones_say_why() {
        let t = parse("p99<50ms").unwrap();
        assert_eq!(
            (t.metric, t.inclusive, t.endpoint.as_deref()),
            (Metric::Quantile(0.99), false, None)
        );
        assert!((t.limit - 0.05).abs() < 1e-12);
        let t = parse("http://h:1/users/{id} p99.9 <= 1s").unwrap();
        assert_eq!(t.endpoint.as_deref(), Some("http://h:1/users/{id}"));
        assert!(matches!(t.metric, Metric::Quantile(q) if (q - 0.999).abs() < 1e-12));
        assert_eq!((t.inclusive, t.limit), (true, 1.0));
        assert_eq!(parse("errors<1%").unwrap().limit, 0.01);
        assert_eq!(parse("max<250us").unwrap().metric, Metric::Max);
        assert!((parse("mean<2ms").unwrap().limit - 0.002).abs() < 1e-12);
        for (bad, says) in [
            ("p99>50ms", "no '<'"),
            ("p99<50", "needs a unit"),
            ("p99<50 m", "not a unit"),
            ("q99<5ms", "not a metric"),
            ("p100<5ms", "between p0 and p100"),
            ("errors<1", "percentage"),
            ("errors<150%", "between 0%"),
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
        let t = parse("p99<=10ms").unwrap();
        assert!(t.holds(0.010) && !t.holds(0.0101));
        assert!(!parse("p99<10ms").unwrap().holds(0.010));
    }
}
