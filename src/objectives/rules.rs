//! Prometheus recording and alerting rules for objectives: the SRE
//! workbook's multi-window, multi-burn-rate alerts.
//!
//! | alert | severity | fires when the error ratio is over | in both windows |
//! | --- | --- | --- | --- |
//! | `TailwatchObjectiveBurnFast` | `page` | 14.4 × budget (2 % of a 30-day budget in 1 h) | 1 h and 5 m |
//! | | | 6 × budget (5 % in 6 h) | 6 h and 30 m |
//! | `TailwatchObjectiveBurnSlow` | `ticket` | 3 × budget (10 % in 1 d) | 1 d and 2 h |
//! | | | 1 × budget (10 % in 3 d) | 3 d and 6 h |
//!
//! * **Windows up to 6 h** are rates of the raw series: a total outage at
//!   99.9 % pages within a minute (14.4 × 0.1 % of an hour, 52 s). **1 d,
//!   3 d and the period** are chained from the 1 h recording
//!   (`avg_over_time` of it): a day's rule reads 24 × 120 samples of one
//!   series, not a day of every raw series (sloth#504).
//! * **Low traffic**: each pair fires only with at least the objective's
//!   `min_failures` failed calls in its long window (5 by default), so one
//!   failed call of a quiet service does not page, and a service failing
//!   90 % of its few calls still does.
//! * **Objectives that cannot fire are refused**: a 14.4× burn of a 10 %
//!   budget is more than every call failing. [`generate`] says so instead
//!   of writing a page that can never come.
//! * **Latency thresholds**: the classic SLI reads the `le` bucket at the
//!   threshold (which declaring the objective adds to the ladder), matched
//!   as every Prometheus writes it (`1` and `1.0`); a companion alert,
//!   `TailwatchObjectiveThresholdMissing`, fires if that bucket is not
//!   exported while the calls are, instead of the SLI failing silently.
//!   With [`RuleOptions::native`], `histogram_fraction` over the native
//!   histogram (its bound: 1.87 % at schema 6).
//!
//! Each objective's rules are one group, recordings first: its alerts read
//! the recordings of the same evaluation, not the previous one's.
//!
//! Every alert carries `severity`, `objective`, the scope's labels, and the
//! annotations `summary`, `description`, `runbook_url`, `dashboard_url`.

use std::fmt::Write as _;

use super::objective::{Objective, ObjectiveError, Sli, float};

/// Where generated alerts point people.
#[derive(Debug, Clone)]
pub struct RuleOptions {
    /// The runbooks page; each alert links to its section (`#` and the
    /// alert's name in lower case).
    pub runbook_url: String,
    /// The dashboard; each alert links to it with `var-objective` set.
    pub dashboard_url: String,
    /// Read native histograms (`histogram_fraction`, `histogram_count`)
    /// instead of the classic `_bucket`/`_count` series.
    pub native: bool,
}

impl Default for RuleOptions {
    fn default() -> Self {
        Self {
            runbook_url: DEFAULT_RUNBOOKS.to_owned(),
            dashboard_url: DEFAULT_DASHBOARD.to_owned(),
            native: false,
        }
    }
}

/// The runbooks shipped with tailwatch.
pub const DEFAULT_RUNBOOKS: &str =
    "https://github.com/tailwatch/tailwatch/blob/main/docs/runbooks.md";

/// The shipped dashboard on a local Grafana.
pub const DEFAULT_DASHBOARD: &str = "http://localhost:3000/d/tailwatch-red/tailwatch";

/// The windows of every rule set, in seconds, and their names.
const DIRECT: [(&str, u64); 5] = [
    ("5m", 300),
    ("30m", 1800),
    ("1h", 3600),
    ("2h", 7200),
    ("6h", 21_600),
];
const CHAINED: [(&str, u64); 2] = [("1d", 86_400), ("3d", 259_200)];

/// A burn-rate pair: long window, short window, factor.
struct Pair {
    long: &'static str,
    long_seconds: u64,
    short: &'static str,
    factor: f64,
}

const PAGE: [Pair; 2] = [
    Pair {
        long: "1h",
        long_seconds: 3600,
        short: "5m",
        factor: 14.4,
    },
    Pair {
        long: "6h",
        long_seconds: 21_600,
        short: "30m",
        factor: 6.0,
    },
];
const TICKET: [Pair; 2] = [
    Pair {
        long: "1d",
        long_seconds: 86_400,
        short: "2h",
        factor: 3.0,
    },
    Pair {
        long: "3d",
        long_seconds: 259_200,
        short: "6h",
        factor: 1.0,
    },
];

/// The recording rules' metric names.
pub const REQUESTS: &str = "tailwatch_objective:requests:rate";
/// Failed calls per second (errors, or calls over the threshold).
pub const FAILURES: &str = "tailwatch_objective:failures:rate";
/// Failures over requests.
pub const ERROR_RATIO: &str = "tailwatch_objective:error_ratio:rate";
/// The error ratio over the objective's period, whatever its length.
pub const PERIOD_RATIO: &str = "tailwatch_objective:error_ratio:period";
/// The fraction of the period's budget left (1 − ratio / budget).
pub const BUDGET_LEFT: &str = "tailwatch_objective:error_budget_remaining";
/// The objective's budget, a constant (1 − target): burn rates on the
/// dashboard are ratios over it.
pub const BUDGET: &str = "tailwatch_objective:error_budget";

/// The rules for `objectives`, as a Prometheus rule file.
///
/// # Errors
/// [`ObjectiveError`] for an invalid objective, a name used twice, or an
/// objective whose alerts could never fire.
pub fn generate(objectives: &[Objective], options: &RuleOptions) -> Result<String, ObjectiveError> {
    let mut out = String::from(
        "# Generated by `tailwatch rules`: multi-window, multi-burn-rate alerts\n\
         # for each objective (see docs/objectives.md). Regenerate, do not edit.\n\
         groups:\n",
    );
    if objectives.is_empty() {
        out.push_str("  []\n");
        return Ok(out);
    }
    for (i, o) in objectives.iter().enumerate() {
        o.validate()?;
        if objectives[..i].iter().any(|p| p.name() == o.name()) {
            return Err(ObjectiveError::Duplicate(o.name().to_owned()));
        }
        can_fire(o)?;
        recording(&mut out, o, options);
        alerts(&mut out, o, options);
    }
    Ok(out)
}

/// Refuses an objective whose page could never fire: the error ratio
/// cannot pass 1.
fn can_fire(o: &Objective) -> Result<(), ObjectiveError> {
    let budget = o.budget();
    for pair in PAGE.iter().chain(&TICKET) {
        if pair.factor * budget >= 1.0 {
            let lowest = 1.0 - 1.0 / pair.factor;
            return Err(ObjectiveError::CannotFire {
                objective: o.name().to_owned(),
                reason: format!(
                    "a {}x burn of a {} budget is more than every call failing: the {}/{} alert could never fire. \
                     Burn-rate alerts need a target of at least {:.4} ({:.2} %); for a lower one, alert on the error ratio itself",
                    pair.factor,
                    percent(budget),
                    pair.long,
                    pair.short,
                    lowest,
                    lowest * 100.0
                ),
            });
        }
    }
    Ok(())
}

fn percent(f: f64) -> String {
    format!("{} %", float((f * 1e6).round() / 1e4))
}

/// `{a="b", …}` of the scope, plus `extra` matchers.
fn selector(o: &Objective, extra: &[String]) -> String {
    let mut m: Vec<String> = o
        .scope()
        .map(|s| s.labels())
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| format!("{k}=\"{}\"", promql_escape(&v)))
        .collect();
    m.extend(extra.iter().cloned());
    format!("{{{}}}", m.join(", "))
}

/// A string as a PromQL double-quoted literal's content.
fn promql_escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A regular expression matching the `le` of `seconds` as any Prometheus
/// writes it: `0.3`; `1` and `1.0`; `1e-06` and `0.000001`.
pub fn le_pattern(seconds: f64) -> String {
    let mut forms = vec![format!("{seconds}")];
    if seconds.fract() == 0.0 {
        forms.push(format!("{seconds}.0"));
    }
    let exp = format!("{seconds:e}");
    // Go's strconv 'g' form, as Prometheus 3 may normalize small values:
    // 1e-06 (Go writes an exponent below 1e-4).
    if let (true, Some((mantissa, e))) = (seconds < 1e-4, exp.split_once('e')) {
        if let Ok(e) = e.parse::<i32>() {
            let sign = if e < 0 { '-' } else { '+' };
            forms.push(format!("{mantissa}e{sign}{:02}", e.abs()));
        }
    }
    forms.dedup();
    forms
        .iter()
        .map(|f| f.replace('.', "\\\\.").replace('+', "\\\\+"))
        .collect::<Vec<_>>()
        .join("|")
}

/// The expressions of requests and failures per second over `window`.
fn raw(o: &Objective, window: &str, options: &RuleOptions) -> (String, String) {
    let Some(scope) = o.scope() else {
        return (String::new(), String::new());
    };
    let metric = scope.metric();
    let all = selector(o, &[scope.judged_matcher().to_owned()]);
    let errors = selector(o, &[scope.errors_matcher().to_owned()]);
    if options.native {
        let requests = format!("histogram_count(sum(rate({metric}{all}[{window}])))");
        let failures = match o.sli() {
            Sli::Availability => {
                format!("histogram_count(sum(rate({metric}{errors}[{window}]))) or on() vector(0)")
            }
            Sli::Latency { threshold } => format!(
                "histogram_count(sum(rate({metric}{all}[{window}])))\n  * (1 - histogram_fraction(0, {}, sum(rate({metric}{all}[{window}]))))",
                float(threshold.as_secs_f64())
            ),
        };
        return (requests, failures);
    }
    let requests = format!("sum(rate({metric}_count{all}[{window}]))");
    let failures = match o.sli() {
        // No error series yet is no error: 0, not an empty vector.
        Sli::Availability => {
            format!("sum(rate({metric}_count{errors}[{window}])) or on() vector(0)")
        }
        Sli::Latency { threshold } => {
            let le = selector(
                o,
                &[
                    scope.judged_matcher().to_owned(),
                    format!("le=~\"{}\"", le_pattern(threshold.as_secs_f64())),
                ],
            );
            format!(
                "sum(rate({metric}_count{all}[{window}]))\n  - sum(rate({metric}_bucket{le}[{window}]))"
            )
        }
    };
    (requests, failures)
}

fn record(out: &mut String, name: &str, o: &Objective, expr: &str) {
    let _ = write!(
        out,
        "      - record: {name}\n        labels:\n          objective: {}\n        expr: |\n",
        yaml_string(o.name())
    );
    for line in expr.lines() {
        let _ = writeln!(out, "          {line}");
    }
}

/// A YAML double-quoted scalar (JSON's escapes are YAML's).
fn yaml_string(v: &str) -> String {
    let mut s = String::with_capacity(v.len() + 2);
    s.push('"');
    for c in v.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\t' => s.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(s, "\\u{:04x}", c as u32);
            }
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

fn recording(out: &mut String, o: &Objective, options: &RuleOptions) {
    let name = o.name();
    let sel = format!("{{objective={}}}", promql_string(name));
    let _ = writeln!(out, "  - name: tailwatch-objective-{name}\n    rules:");
    for (w, _) in DIRECT {
        let (requests, failures) = raw(o, w, options);
        record(out, &format!("{REQUESTS}{w}"), o, &requests);
        record(out, &format!("{FAILURES}{w}"), o, &failures);
    }
    let period = format!("{}d", o.period_days());
    let chained: Vec<&str> = CHAINED
        .iter()
        .map(|(w, _)| *w)
        .chain(std::iter::once(period.as_str()))
        .collect();
    for w in &chained {
        if DIRECT.iter().any(|(d, _)| d == w) {
            continue;
        }
        for metric in [REQUESTS, FAILURES] {
            record(
                out,
                &format!("{metric}{w}"),
                o,
                &format!("avg_over_time({metric}1h{sel}[{w}])"),
            );
        }
    }
    let mut windows: Vec<&str> = DIRECT.iter().map(|(w, _)| *w).collect();
    for w in &chained {
        if !windows.contains(w) {
            windows.push(w);
        }
    }
    for w in &windows {
        record(
            out,
            &format!("{ERROR_RATIO}{w}"),
            o,
            &format!("{FAILURES}{w}{sel}\n  / {REQUESTS}{w}{sel}"),
        );
    }
    record(out, BUDGET, o, &format!("vector({})", float(o.budget())));
    record(out, PERIOD_RATIO, o, &format!("{ERROR_RATIO}{period}{sel}"));
    record(
        out,
        BUDGET_LEFT,
        o,
        &format!("1 - {PERIOD_RATIO}{sel} / {}", float(o.budget())),
    );
}

/// A PromQL string literal.
fn promql_string(v: &str) -> String {
    format!("\"{}\"", promql_escape(v))
}

fn burn(o: &Objective, pairs: &[Pair]) -> String {
    let sel = format!("{{objective={}}}", promql_string(o.name()));
    let budget = o.budget();
    let parts: Vec<String> = pairs
        .iter()
        .map(|p| {
            let limit = float(round6(p.factor * budget));
            format!(
                "(\n  {ERROR_RATIO}{long}{sel} > {limit}\n  and {ERROR_RATIO}{short}{sel} > {limit}\n  and {FAILURES}{long}{sel} * {secs} >= {min}\n)",
                long = p.long,
                short = p.short,
                secs = p.long_seconds,
                min = o.failures_needed(),
            )
        })
        .collect();
    parts.join("\nor\n")
}

/// A threshold as people write it: `300 ms`, `1.5 s`.
fn human(d: std::time::Duration) -> String {
    let s = d.as_secs_f64();
    if s < 1.0 {
        format!("{} ms", float(round6(s * 1e3)))
    } else {
        format!("{} s", float(round6(s)))
    }
}

fn round6(v: f64) -> f64 {
    (v * 1e9).round() / 1e9
}

fn alerts(out: &mut String, o: &Objective, options: &RuleOptions) {
    let name = o.name();
    let what = match o.sli() {
        Sli::Latency { threshold } => format!(
            "{} of calls within {}",
            percent(o.target()),
            human(threshold)
        ),
        Sli::Availability => format!("{} of calls without error", percent(o.target())),
    };
    let scope_text = o
        .scope()
        .map(|s| {
            s.labels()
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    let days = o.period_days();
    for (alert, severity, pairs, speed) in [
        (
            "TailwatchObjectiveBurnFast",
            "page",
            &PAGE,
            "fast: at this rate the budget lasts days",
        ),
        (
            "TailwatchObjectiveBurnSlow",
            "ticket",
            &TICKET,
            "steadily: at this rate the budget runs out before the period ends",
        ),
    ] {
        let summary = format!("Objective {name} is burning its error budget {speed}");
        let description = format!(
            "Objective {name} ({what}, {scope_text}, over {days} days): the error ratio is {{{{ $value | humanizePercentage }}}} over the last {}, against a budget of {}.",
            pairs[0].long,
            percent(o.budget())
        );
        alert_rule(
            out,
            o,
            options,
            alert,
            severity,
            &burn(o, pairs),
            &summary,
            &description,
            None,
        );
    }
    if let (Sli::Latency { threshold }, false, Some(scope)) = (o.sli(), options.native, o.scope()) {
        let metric = scope.metric();
        let all = selector(o, &[]);
        let le = selector(
            o,
            &[format!("le=~\"{}\"", le_pattern(threshold.as_secs_f64()))],
        );
        let expr =
            format!("sum(rate({metric}_count{all}[5m])) > 0\nunless on() sum({metric}_bucket{le})");
        let summary = format!("Objective {name} cannot be judged: no bucket at its threshold");
        let description = format!(
            "{metric} is exported for {scope_text} but has no le=\"{}\" bucket: the latency objective {name} reads nothing. Declare the objective in the service (it adds the boundary) or add the boundary to the agent's Buckets.",
            float(threshold.as_secs_f64())
        );
        alert_rule(
            out,
            o,
            options,
            "TailwatchObjectiveThresholdMissing",
            "ticket",
            &expr,
            &summary,
            &description,
            Some("10m"),
        );
    }
}

#[allow(clippy::too_many_arguments)]
fn alert_rule(
    out: &mut String,
    o: &Objective,
    options: &RuleOptions,
    alert: &str,
    severity: &str,
    expr: &str,
    summary: &str,
    description: &str,
    for_: Option<&str>,
) {
    let _ = writeln!(out, "      - alert: {alert}\n        expr: |");
    for line in expr.lines() {
        let _ = writeln!(out, "          {line}");
    }
    if let Some(f) = for_ {
        let _ = writeln!(out, "        for: {f}");
    }
    let _ = writeln!(
        out,
        "        labels:\n          severity: {severity}\n          objective: {}\n          sli: {}",
        yaml_string(o.name()),
        match o.sli() {
            Sli::Latency { .. } => "latency",
            Sli::Availability => "availability",
        }
    );
    if let Some(scope) = o.scope() {
        for (k, v) in scope.labels() {
            let _ = writeln!(out, "          {k}: {}", yaml_string(&v));
        }
    }
    let anchor = alert.to_ascii_lowercase();
    let _ = writeln!(
        out,
        "        annotations:\n          summary: {}\n          description: {}\n          runbook_url: {}\n          dashboard_url: {}",
        yaml_string(summary),
        yaml_string(description),
        yaml_string(&format!("{}#{anchor}", options.runbook_url)),
        yaml_string(&format!(
            "{}?var-objective={}",
            options.dashboard_url,
            url_component(o.name())
        )),
    );
}

/// Percent-encodes what a URL query value cannot hold as is (objective
/// names are ASCII letters, digits, `-`, `_`, `.`: nothing, today).
fn url_component(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn le_patterns_match_every_spelling() {
        assert_eq!(le_pattern(0.3), "0\\\\.3");
        assert_eq!(le_pattern(1.0), "1|1\\\\.0");
        assert_eq!(le_pattern(0.000001), "0\\\\.000001|1e-06");
    }

    #[test]
    fn objectives_whose_alerts_cannot_fire_are_refused_saying_why() {
        let o = Objective::availability("low", 0.9).operation("job");
        let err = generate(&[o], &RuleOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("could never fire"), "{err}");
        assert!(err.contains("0.9306"), "{err}");
        let ok = Objective::availability("ok", 0.9307).operation("job");
        assert!(generate(&[ok], &RuleOptions::default()).is_ok());
    }

    #[test]
    fn two_objectives_of_one_name_are_refused() {
        let a = Objective::latency("x", Duration::from_millis(300), 0.99).operation("a");
        let err = generate(&[a.clone(), a], &RuleOptions::default()).unwrap_err();
        assert!(matches!(err, ObjectiveError::Duplicate(_)));
    }
}
