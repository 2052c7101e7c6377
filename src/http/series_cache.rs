//! [`Cached`]: the series of one client host or one gRPC method, kept by
//! their layer so that a call finds its gauge and histogram without a
//! registry lookup by labels (the registry is asked once per new
//! combination of outcome labels).

use std::sync::RwLock;

use crate::engine::counter::Gauge;
use crate::engine::histogram::Histogram;
use crate::registry::Registry;

/// Outcome label values: (the status label's value, `error_type`).
type Outcome = (Option<&'static str>, Option<&'static str>);

/// One target's in-flight gauge and its histograms by outcome.
pub(crate) struct Cached {
    pub(crate) gauge: Gauge,
    registry: Registry,
    name: &'static str,
    /// The histogram's labels besides the outcome ones.
    labels: Vec<(&'static str, Box<str>)>,
    /// The name of the status label (`http_response_status_code`, …).
    status_label: &'static str,
    series: RwLock<Vec<(Outcome, Histogram)>>,
}

impl Cached {
    /// For histogram `name` with `labels`, its outcomes labelled
    /// `status_label` and `error_type`, and `gauge`.
    pub(crate) fn new(
        registry: &Registry,
        name: &'static str,
        labels: Vec<(&'static str, Box<str>)>,
        status_label: &'static str,
        gauge: Gauge,
    ) -> Self {
        Self {
            gauge,
            registry: registry.clone(),
            name,
            labels,
            status_label,
            series: RwLock::default(),
        }
    }

    /// The histogram of outcome (`status`, `error`), from the registry the
    /// first time.
    pub(crate) fn histogram(
        &self,
        status: Option<&'static str>,
        error: Option<&'static str>,
    ) -> Option<Histogram> {
        let key = (status, error);
        let found = self
            .series
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, h)| h.clone());
        if found.is_some() {
            return found;
        }
        let mut labels: Vec<(&str, &str)> = self.labels.iter().map(|(k, v)| (*k, &**v)).collect();
        if let Some(s) = status {
            labels.push((self.status_label, s));
        }
        if let Some(e) = error {
            labels.push(("error_type", e));
        }
        let h = self.registry.histogram(self.name, &labels).ok()?;
        let mut series = self.series.write().unwrap_or_else(|e| e.into_inner());
        if !series.iter().any(|(k, _)| *k == key) {
            series.push((key, h.clone()));
        }
        Some(h)
    }
}
