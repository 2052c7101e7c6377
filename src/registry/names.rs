//! Metric names as the exposition writes them: each metric claims every
//! name it will be written under (a histogram's `_bucket`, `_count`,
//! `_sum`, its window families; a counter's OpenMetrics family without
//! `_total`), so that no two metrics, of one kind or two, can make one
//! family twice: Prometheus refuses a scrape with two `# TYPE` lines for a
//! name. The cap on metric names per kind lives here too.

use std::collections::HashMap;

use super::error::RegistryError;

/// What a metric is written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    /// `_bucket`/`_count`/`_sum` and the window families.
    Histogram,
    /// A counter (`name`, and in OpenMetrics the family without `_total`).
    Counter,
    /// A gauge.
    Gauge,
}

impl Kind {
    pub(crate) fn index(self) -> usize {
        match self {
            Kind::Histogram => 0,
            Kind::Counter => 1,
            Kind::Gauge => 2,
        }
    }

    /// Its name in messages.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Histogram => "histogram",
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        }
    }
}

/// The names tailwatch writes itself (self-metrics and the in-flight
/// operations gauge), claimed by every registry from the start.
const OWN: [(&str, Kind); 11] = [
    ("tailwatch_series", Kind::Gauge),
    ("tailwatch_series_overflow_total", Kind::Counter),
    ("tailwatch_values_clamped_total", Kind::Counter),
    ("tailwatch_values_rejected_total", Kind::Counter),
    ("tailwatch_label_values_truncated_total", Kind::Counter),
    ("tailwatch_scrape_duration_seconds", Kind::Gauge),
    ("tailwatch_facade_renamed_total", Kind::Counter),
    ("operation_active", Kind::Gauge),
    // Where the `metrics` facade folds names past the caps.
    (FACADE_OVERFLOW[0], Kind::Histogram),
    (FACADE_OVERFLOW[1], Kind::Counter),
    (FACADE_OVERFLOW[2], Kind::Gauge),
];

/// The families tailwatch's own pieces write (the layers, the samplers,
/// the agent): the `metrics` facade may not write under them (it renames
/// its metric `exported_…`), or the family would be written twice, or its
/// series mixed with tailwatch's. Every `tailwatch_` name is reserved too.
/// `tests/it/facade_limits.rs` checks that every family a fully wired
/// monitor writes is here.
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
const BUILTIN: [(&str, Kind); 34] = [
    ("http_server_request_duration_seconds", Kind::Histogram),
    ("http_server_active_requests", Kind::Gauge),
    ("http_client_request_duration_seconds", Kind::Histogram),
    ("http_client_active_requests", Kind::Gauge),
    ("rpc_server_duration_seconds", Kind::Histogram),
    ("rpc_server_active_requests", Kind::Gauge),
    ("operation_duration_seconds", Kind::Histogram),
    ("operation_active", Kind::Gauge),
    ("resource_wait_seconds", Kind::Histogram),
    ("resource_capacity", Kind::Gauge),
    ("resource_idle", Kind::Gauge),
    ("resource_in_use", Kind::Gauge),
    ("resource_waiting", Kind::Gauge),
    ("queue_wait_seconds", Kind::Histogram),
    ("queue_depth", Kind::Gauge),
    ("cache_requests_total", Kind::Counter),
    ("process_cpu_seconds_total", Kind::Counter),
    ("process_cpu_utilization_ratio", Kind::Gauge),
    ("process_cpu_limit_cores", Kind::Gauge),
    ("process_resident_memory_bytes", Kind::Gauge),
    ("process_memory_limit_bytes", Kind::Gauge),
    ("process_open_fds", Kind::Gauge),
    ("process_max_fds", Kind::Gauge),
    ("process_threads", Kind::Gauge),
    ("tokio_workers", Kind::Gauge),
    ("tokio_alive_tasks", Kind::Gauge),
    ("tokio_global_queue_depth", Kind::Gauge),
    ("tokio_worker_busy_seconds_total", Kind::Counter),
    ("tokio_worker_parks_total", Kind::Counter),
    ("tokio_busy_ratio", Kind::Gauge),
    // What the Prometheus client libraries write for a process; a facade
    // metric of the name would read as theirs.
    ("process_start_time_seconds", Kind::Gauge),
    ("process_virtual_memory_bytes", Kind::Gauge),
    ("up", Kind::Gauge),
    ("scrape_duration_seconds", Kind::Gauge),
];

/// Whether metric `name` of `kind` would be written under a name one of
/// tailwatch's own families is written under (see [`BUILTIN`]).
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) fn reserved(name: &str, kind: Kind) -> bool {
    static WRITTEN: std::sync::OnceLock<std::collections::HashSet<String>> =
        std::sync::OnceLock::new();
    let written =
        WRITTEN.get_or_init(|| BUILTIN.iter().flat_map(|(n, k)| exposed(n, *k)).collect());
    exposed(name, kind)
        .iter()
        .any(|n| n.starts_with("tailwatch_") || written.contains(n))
}

/// The metrics the `metrics` facade folds names into when a name cannot be
/// had (the kind at its cap, or the name and its rename both taken), by
/// [`Kind`] order: histogram, counter, gauge.
pub(crate) const FACADE_OVERFLOW: [&str; 3] = [
    "tailwatch_facade_overflow_histogram",
    "tailwatch_facade_overflow_total",
    "tailwatch_facade_overflow_gauge",
];

/// `x_seconds` → `x_<part>_seconds`; other names → `x_<part>`: the window
/// families of histogram `x` (the exposition uses the same rule).
pub(crate) fn derived(name: &str, part: &str) -> String {
    match name.strip_suffix("_seconds") {
        Some(base) => format!("{base}_{part}_seconds"),
        None => format!("{name}_{part}"),
    }
}

/// What a sampled [`Value`](crate::engine::Value) named `name` is written as: a
/// counter when it ends in `_total`, else a gauge.
pub(crate) fn value_kind(name: &str) -> Kind {
    if name.ends_with("_total") {
        Kind::Counter
    } else {
        Kind::Gauge
    }
}

/// The OpenMetrics family of counter `name`: the name without `_total`.
pub(crate) fn counter_family(name: &str) -> &str {
    name.strip_suffix("_total").unwrap_or(name)
}

/// Every name metric `name` of `kind` is written under, in any format.
pub(crate) fn exposed(name: &str, kind: Kind) -> Vec<String> {
    match kind {
        Kind::Gauge => vec![name.to_owned()],
        Kind::Counter => {
            let family = counter_family(name);
            vec![
                name.to_owned(),
                family.to_owned(),
                format!("{family}_total"),
                format!("{family}_created"),
            ]
        }
        Kind::Histogram => {
            let quantile = derived(name, "quantile");
            vec![
                name.to_owned(),
                format!("{name}_bucket"),
                format!("{name}_count"),
                format!("{name}_sum"),
                format!("{name}_created"),
                format!("{quantile}_count"),
                format!("{quantile}_sum"),
                quantile,
                derived(name, "max"),
            ]
        }
    }
}

/// Who owns each written name, and how many metric names each kind has.
#[derive(Debug)]
pub(super) struct Names {
    /// Written name → (the metric that writes it, its kind).
    owners: HashMap<Box<str>, (Box<str>, Kind)>,
    /// Metrics claimed per kind (tailwatch's own not counted).
    per_kind: [usize; 3],
    max_per_kind: usize,
}

impl Names {
    /// The cap on metric names of each kind.
    pub(super) fn max_per_kind(&self) -> usize {
        self.max_per_kind
    }

    pub(super) fn new(max_per_kind: usize) -> Self {
        let mut names = Self {
            owners: HashMap::new(),
            per_kind: [0; 3],
            max_per_kind,
        };
        for (name, kind) in OWN {
            names.insert(name, kind);
        }
        names
    }

    fn insert(&mut self, name: &str, kind: Kind) {
        for n in exposed(name, kind) {
            self.owners.insert(n.into(), (name.into(), kind));
        }
    }

    /// Whether metric `name` of `kind` exists already.
    pub(super) fn has(&self, name: &str, kind: Kind) -> bool {
        self.owners
            .get(name)
            .is_some_and(|(owner, k)| **owner == *name && *k == kind)
    }

    /// Claims the names metric `name` of `kind` is written under: `Ok` when
    /// it is that metric already or none of its names is taken (and the
    /// kind has room).
    ///
    /// # Errors
    /// [`RegistryError::NameClash`] when another metric writes one of its
    /// names; [`RegistryError::TooManyMetrics`] when `kind` is at its cap.
    pub(super) fn claim(&mut self, name: &str, kind: Kind) -> Result<(), RegistryError> {
        if self.has(name, kind) {
            return Ok(());
        }
        if self.per_kind[kind.index()] >= self.max_per_kind {
            return Err(RegistryError::TooManyMetrics {
                name: name.to_owned(),
                limit: self.max_per_kind,
            });
        }
        let names = exposed(name, kind);
        if let Some((written, (owner, owner_kind))) = names
            .iter()
            .find_map(|n| self.owners.get(n.as_str()).map(|o| (n, o)))
        {
            return Err(RegistryError::NameClash {
                name: name.to_owned(),
                kind: kind.as_str(),
                written: written.clone(),
                owner: owner.to_string(),
                owner_kind: owner_kind.as_str(),
            });
        }
        self.per_kind[kind.index()] += 1;
        self.insert(name, kind);
        Ok(())
    }
}

#[cfg(all(test, not(tailwatch_loom)))]
mod tests {
    use super::*;

    #[test]
    fn clashes_within_and_across_kinds_and_with_derived_names() {
        let mut n = Names::new(3);
        n.claim("req_seconds", Kind::Histogram).unwrap();
        n.claim("req_seconds", Kind::Histogram).unwrap(); // itself again
        for (name, kind, written) in [
            ("req_seconds", Kind::Gauge, "req_seconds"),
            ("req_seconds_bucket", Kind::Counter, "req_seconds_bucket"),
            ("req_seconds_count", Kind::Gauge, "req_seconds_count"),
            ("req_quantile_seconds", Kind::Gauge, "req_quantile_seconds"),
            ("req_max_seconds", Kind::Gauge, "req_max_seconds"),
            ("tailwatch_series", Kind::Counter, "tailwatch_series"),
        ] {
            match n.claim(name, kind) {
                Err(RegistryError::NameClash { written: w, .. }) => assert_eq!(w, written),
                other => panic!("{name}: {other:?}"),
            }
        }
        // A counter and a gauge that OpenMetrics would write as one family.
        n.claim("jobs_total", Kind::Counter).unwrap();
        assert!(n.claim("jobs", Kind::Gauge).is_err());
        assert!(n.claim("jobs_created", Kind::Gauge).is_err());
        // A histogram whose `_count` is an existing counter's name.
        n.claim("hits_count", Kind::Counter).unwrap();
        assert!(n.claim("hits", Kind::Histogram).is_err());
        // The cap is per kind, and tailwatch's own names are not counted.
        n.claim("a", Kind::Counter).unwrap();
        let e = n.claim("b", Kind::Counter).unwrap_err();
        assert!(
            matches!(e, RegistryError::TooManyMetrics { limit: 3, .. }),
            "{e}"
        );
        n.claim("g", Kind::Gauge).unwrap();
    }
}
