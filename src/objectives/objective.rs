//! One objective: what it measures, over which calls, its target and
//! period, and how it is checked and written as an info metric.

use std::time::Duration;

use crate::registry::RegistryError;

/// The info metric every declared objective is exported as (value 1).
pub const OBJECTIVE_INFO: &str = "tailwatch_objective_info";

/// A period's default: 28 days (four whole weeks: every weekday counts
/// the same).
pub const DEFAULT_PERIOD: Duration = Duration::from_secs(28 * 86_400);

/// The fewest failed calls in an alert's long window for it to fire, by
/// default: one failed call of a quiet service is not a page.
pub const DEFAULT_MIN_FAILURES: u32 = 5;

/// What an objective measures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sli {
    /// Calls that finish within `threshold` are good.
    Latency {
        /// The threshold (positive, at most an hour).
        threshold: Duration,
    },
    /// Calls that are not errors are good.
    Availability,
}

/// Which calls an objective judges: one series family and its labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// An HTTP route of the server layer (`http_server_request_duration_seconds`).
    HttpRoute {
        /// The method (`GET`), or `None` for every method.
        method: Option<String>,
        /// The matched route template (`/users/{id}`).
        route: String,
    },
    /// A gRPC method of the server layer (`rpc_server_duration_seconds`).
    GrpcMethod {
        /// The service (`shop.Checkout`).
        service: String,
        /// The method (`Pay`).
        method: String,
    },
    /// An operation (`operation_duration_seconds`).
    Operation(String),
    /// An outbound host of the client layer
    /// (`http_client_request_duration_seconds`).
    HttpClient {
        /// The host called (`server_address`).
        server_address: String,
    },
}

impl Scope {
    /// An HTTP route of the server layer; `method` `""` or `"*"` for every
    /// method (others are upper-cased).
    pub fn http_route(method: &str, route: &str) -> Self {
        let method = (!matches!(method, "" | "*")).then(|| method.to_ascii_uppercase());
        Scope::HttpRoute {
            method,
            route: route.to_owned(),
        }
    }

    /// The histogram family the objective reads.
    pub fn metric(&self) -> &'static str {
        match self {
            Scope::HttpRoute { .. } => "http_server_request_duration_seconds",
            Scope::GrpcMethod { .. } => "rpc_server_duration_seconds",
            Scope::Operation(_) => "operation_duration_seconds",
            Scope::HttpClient { .. } => "http_client_request_duration_seconds",
        }
    }

    /// The labels that select its series.
    pub fn labels(&self) -> Vec<(&'static str, String)> {
        match self {
            Scope::HttpRoute { method, route } => {
                let mut out = Vec::new();
                if let Some(m) = method {
                    out.push(("http_request_method", m.clone()));
                }
                out.push(("http_route", route.clone()));
                out
            }
            Scope::GrpcMethod { service, method } => vec![
                ("rpc_service", service.clone()),
                ("rpc_method", method.clone()),
            ],
            Scope::Operation(name) => vec![("operation", name.clone())],
            Scope::HttpClient { server_address } => {
                vec![("server_address", server_address.clone())]
            }
        }
    }

    /// The label matcher that leaves out cancelled calls, as PromQL: a call
    /// the client gave up on is neither good nor bad (its duration is
    /// truncated, its outcome unknown), in every SLI.
    pub fn judged_matcher(&self) -> &'static str {
        match self {
            Scope::Operation(_) => "outcome!=\"cancelled\"",
            _ => "error_type!=\"cancelled\"",
        }
    }

    /// The label matchers that select the failed calls among them, as
    /// PromQL: every layer sets `error_type` only on errors (`cancelled`
    /// aside); operations say `outcome="error"`.
    pub fn errors_matcher(&self) -> &'static str {
        match self {
            Scope::Operation(_) => "outcome=\"error\"",
            _ => "error_type!=\"\", error_type!=\"cancelled\"",
        }
    }

    /// Builds a scope back from an info metric's labels.
    fn from_labels(get: &dyn Fn(&str) -> Option<String>) -> Option<Scope> {
        match get("metric")?.as_str() {
            "http_server_request_duration_seconds" => Some(Scope::HttpRoute {
                method: get("http_request_method"),
                route: get("http_route")?,
            }),
            "rpc_server_duration_seconds" => Some(Scope::GrpcMethod {
                service: get("rpc_service")?,
                method: get("rpc_method")?,
            }),
            "operation_duration_seconds" => Some(Scope::Operation(get("operation")?)),
            "http_client_request_duration_seconds" => Some(Scope::HttpClient {
                server_address: get("server_address")?,
            }),
            _ => None,
        }
    }
}

/// A service-level objective: a name, an [`Sli`], a target fraction of
/// good calls over a period, and the calls it judges ([`Scope`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Objective {
    pub(super) name: String,
    pub(super) sli: Sli,
    pub(super) target: f64,
    pub(super) period: Duration,
    pub(super) scope: Option<Scope>,
    pub(super) min_failures: u32,
}

impl Objective {
    /// `target` (e.g. `0.99`) of the calls finish within `threshold`.
    pub fn latency(name: &str, threshold: Duration, target: f64) -> Self {
        Self::new(name, Sli::Latency { threshold }, target)
    }

    /// `target` (e.g. `0.999`) of the calls are not errors.
    pub fn availability(name: &str, target: f64) -> Self {
        Self::new(name, Sli::Availability, target)
    }

    fn new(name: &str, sli: Sli, target: f64) -> Self {
        Self {
            name: name.to_owned(),
            sli,
            target,
            period: DEFAULT_PERIOD,
            scope: None,
            min_failures: DEFAULT_MIN_FAILURES,
        }
    }

    /// Judges an HTTP route of the server layer; `method` `""` or `"*"`
    /// for every method.
    #[must_use]
    pub fn http_route(mut self, method: &str, route: &str) -> Self {
        self.scope = Some(Scope::http_route(method, route));
        self
    }

    /// Judges a gRPC method of the server layer.
    #[must_use]
    pub fn grpc_method(mut self, service: &str, method: &str) -> Self {
        self.scope = Some(Scope::GrpcMethod {
            service: service.to_owned(),
            method: method.to_owned(),
        });
        self
    }

    /// Judges an operation (`measure`, `#[measure]`, spans).
    #[must_use]
    pub fn operation(mut self, name: &str) -> Self {
        self.scope = Some(Scope::Operation(name.to_owned()));
        self
    }

    /// Judges the calls to an outbound host (the client layer).
    #[must_use]
    pub fn http_client(mut self, server_address: &str) -> Self {
        self.scope = Some(Scope::HttpClient {
            server_address: server_address.to_owned(),
        });
        self
    }

    /// The period the budget is spent over: whole days, 1 to 90 (28 by
    /// default).
    #[must_use]
    pub fn period(mut self, period: Duration) -> Self {
        self.period = period;
        self
    }

    /// The fewest failed calls in an alert's long window for it to fire
    /// ([`DEFAULT_MIN_FAILURES`]): a quiet service does not page on one
    /// failed call, and a failing one still pages, however quiet.
    #[must_use]
    pub fn min_failures(mut self, n: u32) -> Self {
        self.min_failures = n;
        self
    }

    /// Its name (the `objective` label).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What it measures.
    pub fn sli(&self) -> Sli {
        self.sli
    }

    /// The fraction of good calls it asks for.
    pub fn target(&self) -> f64 {
        self.target
    }

    /// Its error budget: the fraction of calls that may be bad.
    pub fn budget(&self) -> f64 {
        // As written: 1 − 0.999 is 0.001, not 0.0010000000000000009.
        ((1.0 - self.target) * 1e12).round() / 1e12
    }

    /// Its period.
    pub fn period_length(&self) -> Duration {
        self.period
    }

    /// The calls it judges, once set.
    pub fn scope(&self) -> Option<&Scope> {
        self.scope.as_ref()
    }

    /// The fewest failed calls for an alert to fire.
    pub fn failures_needed(&self) -> u32 {
        self.min_failures
    }

    /// Its period in whole days.
    pub fn period_days(&self) -> u64 {
        self.period.as_secs() / 86_400
    }

    /// Checks every field; the error says which and why.
    ///
    /// # Errors
    /// [`ObjectiveError`] naming the objective and the bad field.
    pub fn validate(&self) -> Result<(), ObjectiveError> {
        let bad = |field: &'static str, reason: String| {
            Err(ObjectiveError::Invalid {
                objective: self.name.clone(),
                field,
                reason,
            })
        };
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self.name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !name_ok {
            return bad(
                "name",
                "use 1 to 64 ASCII letters, digits, '-', '_' or '.', starting with a letter or digit (e.g. \"checkout-fast\")".into(),
            );
        }
        if !(self.target.is_finite() && self.target > 0.0 && self.target < 1.0) {
            return bad(
                "target",
                format!(
                    "{} is not a fraction between 0 and 1 (write 0.999 for 99.9 %)",
                    self.target
                ),
            );
        }
        if self.target > 0.99999 {
            return bad(
                "target",
                format!(
                    "{} leaves a budget under 0.001 % : no traffic measures it (at most 0.99999)",
                    self.target
                ),
            );
        }
        if let Sli::Latency { threshold } = self.sli {
            check_threshold(&self.name, threshold)?;
        }
        let days = self.period.as_secs() / 86_400;
        if self.period.as_nanos() % 86_400_000_000_000 != 0 || !(1..=90).contains(&days) {
            return bad(
                "period",
                format!(
                    "{:?} is not a whole number of days from 1 to 90 (28 or 30 are usual)",
                    self.period
                ),
            );
        }
        if self.min_failures == 0 || self.min_failures > 10_000 {
            return bad(
                "min_failures",
                format!("{} is not between 1 and 10000", self.min_failures),
            );
        }
        let Some(scope) = &self.scope else {
            return bad(
                "scope",
                "say which calls it judges: .http_route(method, route), .grpc_method(service, method), .operation(name) or .http_client(host)".into(),
            );
        };
        check_scope(&self.name, scope)
    }

    /// The labels of its info metric ([`OBJECTIVE_INFO`]).
    pub fn info_labels(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![
            ("objective", self.name.clone()),
            (
                "sli",
                match self.sli {
                    Sli::Latency { .. } => "latency",
                    Sli::Availability => "availability",
                }
                .to_owned(),
            ),
            ("target", float(self.target)),
            ("period", format!("{}d", self.period_days())),
            ("min_failures", self.min_failures.to_string()),
        ];
        if let Sli::Latency { threshold } = self.sli {
            out.push(("threshold_seconds", float(threshold.as_secs_f64())));
        }
        if let Some(scope) = &self.scope {
            out.push(("metric", scope.metric().to_owned()));
            out.extend(scope.labels());
        }
        out
    }

    /// An objective back from its info metric's labels (as
    /// [`info_labels`](Self::info_labels) wrote them), checked.
    ///
    /// # Errors
    /// [`ObjectiveError`] when a label is missing or a value is bad.
    pub fn from_info_labels(labels: &[(String, String)]) -> Result<Self, ObjectiveError> {
        let get = |k: &str| labels.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let name = get("objective").unwrap_or_default();
        let missing = |field: &'static str| ObjectiveError::Invalid {
            objective: name.clone(),
            field,
            reason: "missing or unreadable in the info metric".into(),
        };
        let target: f64 = get("target")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| missing("target"))?;
        let sli = match get("sli").as_deref() {
            Some("availability") => Sli::Availability,
            Some("latency") => Sli::Latency {
                threshold: get("threshold_seconds")
                    .and_then(|v| v.parse::<f64>().ok())
                    .and_then(seconds)
                    .ok_or_else(|| missing("threshold_seconds"))?,
            },
            _ => return Err(missing("sli")),
        };
        let days: u64 = get("period")
            .and_then(|p| p.strip_suffix('d').and_then(|d| d.parse().ok()))
            .ok_or_else(|| missing("period"))?;
        let min_failures: u32 = get("min_failures")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| missing("min_failures"))?;
        let scope = Scope::from_labels(&get).ok_or_else(|| missing("metric"))?;
        let o = Objective {
            name: name.clone(),
            sli,
            target,
            period: Duration::from_secs(days.saturating_mul(86_400)),
            scope: Some(scope),
            min_failures,
        };
        o.validate()?;
        Ok(o)
    }
}

fn invalid(name: &str, field: &'static str, reason: String) -> Result<(), ObjectiveError> {
    Err(ObjectiveError::Invalid {
        objective: name.to_owned(),
        field,
        reason,
    })
}

/// Checks a latency threshold (of objective `name`): above 0, at most an
/// hour.
pub(super) fn check_threshold(name: &str, threshold: Duration) -> Result<(), ObjectiveError> {
    if threshold.is_zero() || threshold > Duration::from_secs(3600) {
        return invalid(
            name,
            "threshold",
            format!("{threshold:?} is not between 0 and 1 hour"),
        );
    }
    Ok(())
}

/// Checks a scope's labels (of objective `name`): each 1 to 256 bytes, a
/// route that is a template, a method that is one.
pub(super) fn check_scope(name: &str, scope: &Scope) -> Result<(), ObjectiveError> {
    for (label, value) in scope.labels() {
        if value.is_empty() || value.len() > 256 {
            return invalid(name, label, format!("{value:?} must be 1 to 256 bytes"));
        }
    }
    if let Scope::HttpRoute { route, method } = scope {
        if !route.starts_with('/') && route != "unmatched" {
            return invalid(
                name,
                "http_route",
                format!(
                    "{route:?} is not a route template (they start with '/', e.g. \"/users/{{id}}\")"
                ),
            );
        }
        if let Some(m) = method {
            if !m.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
                return invalid(
                    name,
                    "http_request_method",
                    format!("{m:?} is not an HTTP method"),
                );
            }
        }
    }
    Ok(())
}

/// `s` seconds to the nearest nanosecond (`0.3` is 300 ms, not the
/// 299.999999 ms its double truncates to); `None` when negative or out of
/// range.
pub fn seconds(s: f64) -> Option<Duration> {
    let nanos = (s * 1e9).round();
    (nanos.is_finite() && nanos >= 0.0 && nanos < u64::MAX as f64)
        .then(|| Duration::from_nanos(nanos as u64))
}

/// A number as Prometheus and people write it: the shortest decimal that
/// reads back as the same double (`0.3`, `0.999`, `1`).
pub(crate) fn float(v: f64) -> String {
    format!("{v}")
}

/// Why an objective was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ObjectiveError {
    /// A field is out of range or malformed.
    #[error("objective {objective:?}: bad {field}: {reason}")]
    Invalid {
        /// The objective's name.
        objective: String,
        /// The field.
        field: &'static str,
        /// What is wrong and what to write instead.
        reason: String,
    },
    /// Another objective has that name.
    #[error("objective {0:?} is declared twice (names are the `objective` label: one each)")]
    Duplicate(String),
    /// Its info metric could not be registered.
    #[error("objective {objective:?}: {source}")]
    Registry {
        /// The objective's name.
        objective: String,
        /// What the registry said.
        source: Box<RegistryError>,
    },
    /// The rules generated for it could never fire (see [`rules`](super::rules)).
    #[error("objective {objective:?}: {reason}")]
    CannotFire {
        /// The objective's name.
        objective: String,
        /// Why, and what to change.
        reason: String,
    },
}
