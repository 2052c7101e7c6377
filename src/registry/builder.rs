//! [`RegistryBuilder`]: a registry's settings, validated when it is built.

use std::collections::HashMap;
use std::sync::Arc;

use crate::engine::lock::{Mutex, RwLock};

use super::caps::{
    DEFAULT_MAX_LABEL_NAME_BYTES, DEFAULT_MAX_LABEL_VALUE_BYTES, DEFAULT_MAX_LABELS,
    DEFAULT_MAX_METRICS, DEFAULT_SERIES_CAP, Family, HandleStore,
};
use super::key::LabelLimits;
use super::names::{Kind, Names};
use super::store::{Inner, Registry, SeriesMap};
use crate::engine::error::BuildError;
use crate::engine::histogram::HistogramBuilder;

/// Settings for a [`Registry`].
///
/// ```
/// use tailwatch::{Registry, engine::HistogramBuilder};
/// let registry = Registry::builder()
///     .series_cap(500)
///     .metric("payload_size_bytes", HistogramBuilder::new().range(1, 1 << 30), None)
///     .build()?;
/// # Ok::<(), tailwatch::engine::BuildError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct RegistryBuilder {
    defaults: HistogramBuilder,
    cap: Option<usize>,
    max_metrics: Option<usize>,
    max_label_value: Option<usize>,
    max_labels: Option<usize>,
    max_label_name: Option<usize>,
    label_caps: HashMap<String, usize>,
    metrics: HashMap<String, (HistogramBuilder, Option<usize>)>,
    quantiles: Option<Vec<f64>>,
}

impl RegistryBuilder {
    /// Histogram settings for metrics not configured with [`metric`](Self::metric).
    #[must_use]
    pub fn defaults(mut self, defaults: HistogramBuilder) -> Self {
        self.defaults = defaults;
        self
    }

    /// The quantiles every histogram of the registry reports (its
    /// [`Stats`](crate::engine::Stats), `/stats` and the window summaries
    /// of `/metrics`), each in `0.0..=1.0`: the defaults' and every
    /// [`metric`](Self::metric)'s, set before or after this call. Invalid
    /// values fail [`build`](Self::build).
    #[must_use]
    pub fn quantiles(mut self, quantiles: &[f64]) -> Self {
        self.quantiles = Some(quantiles.to_vec());
        self
    }

    /// The histogram settings of metrics not configured with
    /// [`metric`](Self::metric) (with [`quantiles`](Self::quantiles) applied).
    pub(crate) fn default_histogram(&self) -> HistogramBuilder {
        match &self.quantiles {
            Some(q) => self.defaults.clone().quantiles(q.clone()),
            None => self.defaults.clone(),
        }
    }

    /// The cap on label sets per metric (default [`DEFAULT_SERIES_CAP`]).
    #[must_use]
    pub fn series_cap(mut self, cap: usize) -> Self {
        self.cap = Some(cap);
        self
    }

    /// Caps the distinct values of label `label` in each metric at `cap`;
    /// further values are recorded as [`OVERFLOW_VALUE`](crate::registry::OVERFLOW_VALUE) for that label.
    #[must_use]
    pub fn label_cap(mut self, label: &str, cap: usize) -> Self {
        self.label_caps.insert(label.to_owned(), cap);
        self
    }

    /// The limit on metric names of each kind, histograms, counters and
    /// gauges apart (default [`DEFAULT_MAX_METRICS`]).
    #[must_use]
    pub fn max_metrics(mut self, limit: usize) -> Self {
        self.max_metrics = Some(limit);
        self
    }

    /// The longest label value kept, in bytes (default
    /// [`DEFAULT_MAX_LABEL_VALUE_BYTES`]); a longer value is cut at a
    /// character boundary, ends in `…`, and is counted in
    /// `tailwatch_label_values_truncated_total`. At least 16.
    #[must_use]
    pub fn max_label_value_bytes(mut self, max: usize) -> Self {
        self.max_label_value = Some(max.max(16));
        self
    }

    /// The most labels a series may have (default [`DEFAULT_MAX_LABELS`]);
    /// a label set with more is refused with
    /// [`RegistryError::TooManyLabels`](super::RegistryError::TooManyLabels) (the `metrics` facade folds it into
    /// its overflow metric, counted). At least 1.
    #[must_use]
    pub fn max_labels(mut self, max: usize) -> Self {
        self.max_labels = Some(max.max(1));
        self
    }

    /// The longest label name, in bytes (default
    /// [`DEFAULT_MAX_LABEL_NAME_BYTES`]); a longer one is refused with
    /// [`RegistryError::LabelNameTooLong`](super::RegistryError::LabelNameTooLong) (the facade folds it, counted).
    /// At least 16.
    #[must_use]
    pub fn max_label_name_bytes(mut self, max: usize) -> Self {
        self.max_label_name = Some(max.max(16));
        self
    }

    /// Histogram settings, and optionally a cap, for one metric.
    #[must_use]
    pub fn metric(mut self, name: &str, histogram: HistogramBuilder, cap: Option<usize>) -> Self {
        self.metrics.insert(name.to_owned(), (histogram, cap));
        self
    }

    /// Builds the registry.
    ///
    /// # Errors
    /// [`BuildError`] when a histogram setting is invalid or a cap is 0.
    pub fn build(self) -> Result<Registry, BuildError> {
        let cap = self.cap.unwrap_or(DEFAULT_SERIES_CAP);
        let defaults = self.default_histogram();
        defaults.validate()?;
        let mut families = HashMap::new();
        let max_metrics = self.max_metrics.unwrap_or(DEFAULT_MAX_METRICS);
        let mut names = Names::new(max_metrics);
        for (name, (template, metric_cap)) in self.metrics {
            let template = match &self.quantiles {
                Some(q) => template.quantiles(q.clone()),
                None => template,
            };
            template.validate()?;
            let cap = metric_cap.unwrap_or(cap);
            if cap == 0 {
                return Err(BuildError::ZeroCap);
            }
            // A clash or an invalid name shows when the metric is used.
            let _ = names.claim(&name, Kind::Histogram);
            families.insert(name, Family::new(template, cap));
        }
        if cap == 0 || self.label_caps.values().any(|&c| c == 0) {
            return Err(BuildError::ZeroCap);
        }
        Ok(Registry {
            inner: Arc::new(Inner {
                gauges: Mutex::new(HandleStore::default()),
                counters: Mutex::new(HandleStore::default()),
                values: Mutex::new(HandleStore::default()),
                id: crate::engine::thread_cache::next_owner(),
                hasher: foldhash::fast::RandomState::default(),
                series: RwLock::new(SeriesMap::default()),
                families: Mutex::new(families),
                defaults,
                cap,
                label_caps: self.label_caps,
                names: Mutex::new(names),
                helps: RwLock::default(),
                slow: Default::default(),
                labels: LabelLimits {
                    max_labels: self.max_labels.unwrap_or(DEFAULT_MAX_LABELS),
                    max_name: self.max_label_name.unwrap_or(DEFAULT_MAX_LABEL_NAME_BYTES),
                    max_value: self
                        .max_label_value
                        .unwrap_or(DEFAULT_MAX_LABEL_VALUE_BYTES),
                },
            }),
        })
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    /// A registry with default histogram settings and cap.
    pub fn new() -> Self {
        match RegistryBuilder::default().build() {
            Ok(r) => r,
            Err(_) => unreachable!("the default settings are valid"),
        }
    }

    /// A builder for other settings.
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder::default()
    }
}
