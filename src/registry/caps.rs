//! Caps and overflow: the bookkeeping that keeps a registry bounded.
//!
//! Every cap is applied on the slow path of a new label set: a label
//! capped in distinct values ([`RegistryBuilder::label_cap`](crate::registry::RegistryBuilder::label_cap)),
//! label sets per metric (histograms in [`Family`], gauges, counters and
//! sampled values in [`HandleStore`]). Past a cap, the label set is folded
//! into [`OVERFLOW_VALUE`] and the fold is counted.

use crate::engine::lock::Mutex;
use std::collections::HashMap;

use super::error::RegistryError;
use super::key::{Label, LabelLimits, SeriesId, canonical};
use super::names::{Kind, Names};
use crate::engine::histogram::{Histogram, HistogramBuilder};

/// The label value of a metric's overflow series.
pub const OVERFLOW_VALUE: &str = "__overflow__";
/// Label sets per metric unless configured otherwise.
pub const DEFAULT_SERIES_CAP: usize = 1000;
/// Metric names per kind (histograms, counters, gauges) unless configured
/// otherwise.
pub const DEFAULT_MAX_METRICS: usize = 10_000;
/// Bytes a label value may have unless configured otherwise; a longer one
/// is cut (at a character boundary, ending in `…`) and counted.
pub const DEFAULT_MAX_LABEL_VALUE_BYTES: usize = 1024;
/// Labels a series may have unless configured otherwise; a label set with
/// more is refused ([`RegistryError::TooManyLabels`](super::RegistryError::TooManyLabels)).
pub const DEFAULT_MAX_LABELS: usize = 32;
/// Bytes a label name may have unless configured otherwise; a longer one
/// is refused ([`RegistryError::LabelNameTooLong`](super::RegistryError::LabelNameTooLong)).
pub const DEFAULT_MAX_LABEL_NAME_BYTES: usize = 128;

/// Per metric of a [`HandleStore`]: label sets, folds and truncations.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Counts {
    pub(super) used: usize,
    pub(super) folded: u64,
    pub(super) truncated: u64,
    pub(super) overflow: bool,
}

/// What creating a handle needs from the registry.
pub(super) struct Limits<'a> {
    pub(super) names: &'a Mutex<Names>,
    pub(super) kind: Kind,
    pub(super) cap: usize,
    pub(super) labels: LabelLimits,
}

/// Gauges or counters of the registry: `(name, labels)` → handle, with
/// the number of label sets per metric (capped like histograms).
pub(super) struct HandleStore<T> {
    by_id: HashMap<SeriesId, T>,
    per_metric: HashMap<String, Counts>,
}

impl<T> Default for HandleStore<T> {
    fn default() -> Self {
        Self {
            by_id: HashMap::new(),
            per_metric: HashMap::new(),
        }
    }
}

impl<T: Clone + Default> HandleStore<T> {
    /// The handle of `name{labels}`, created if needed; past `cap` label
    /// sets for `name`, the labels all become [`OVERFLOW_VALUE`] (counted).
    /// A new metric name claims its written names first.
    pub(super) fn get_or_create(
        store: &Mutex<Self>,
        name: &str,
        labels: &[Label<'_>],
        limits: &Limits<'_>,
    ) -> Result<T, RegistryError> {
        let (labels, truncated) = canonical(name, labels, limits.labels)?;
        let mut id = SeriesId {
            name: name.into(),
            labels: labels.into(),
        };
        let mut guard = store.lock();
        let store = &mut *guard;
        // A series exists only under a metric that claimed its names.
        if !store.per_metric.contains_key(name) {
            limits.names.lock().claim(name, limits.kind)?;
        }
        let counts = store.per_metric.entry(name.to_owned()).or_default();
        counts.truncated += u64::from(truncated);
        if let Some(h) = store.by_id.get(&id) {
            return Ok(h.clone());
        }
        if counts.used >= limits.cap {
            counts.folded += 1;
            counts.overflow = true;
            id.labels = id
                .labels
                .iter()
                .map(|(k, _)| (k.clone(), Box::from(OVERFLOW_VALUE)))
                .collect();
        } else {
            counts.used += 1;
        }
        Ok(store.by_id.entry(id).or_default().clone())
    }

    pub(super) fn all(store: &Mutex<Self>) -> Vec<(SeriesId, T)> {
        let store = store.lock();
        store
            .by_id
            .iter()
            .map(|(k, h)| (k.clone(), h.clone()))
            .collect()
    }

    /// The figures of each metric, for the self-metrics.
    pub(super) fn infos(store: &Mutex<Self>, cap: usize) -> Vec<FamilyInfo> {
        let store = store.lock();
        store
            .per_metric
            .iter()
            .map(|(name, c)| FamilyInfo {
                name: name.clone(),
                series: c.used + usize::from(c.overflow),
                cap,
                overflow_total: c.folded,
                truncated: c.truncated,
                histogram: false,
                clamped: 0,
                rejected: 0,
            })
            .collect()
    }
}

/// Per-metric bookkeeping, touched only when a label set is new.
#[derive(Debug)]
pub(super) struct Family {
    pub(super) cap: usize,
    pub(super) template: HistogramBuilder,
    pub(super) live: usize,
    pub(super) overflow: Option<Histogram>,
    pub(super) folded: u64,
    pub(super) truncated: u64,
    /// Distinct values seen, for the labels that have a cap.
    pub(super) values: HashMap<Box<str>, hashbrown::HashSet<Box<str>>>,
    /// Every series of the metric, for the aggregated figures.
    pub(super) members: Vec<Histogram>,
}

/// Cardinality and data-quality figures of one metric (the registry's
/// self-metrics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FamilyInfo {
    /// The metric name.
    pub name: String,
    /// Series that exist, the overflow series included.
    pub series: usize,
    /// The cap on label sets.
    pub cap: usize,
    /// Label-set resolutions folded into an overflow series or value.
    pub overflow_total: u64,
    /// Label-set resolutions with a value cut to the length limit.
    pub truncated: u64,
    /// Whether it is a histogram (only histograms clamp or refuse values).
    pub histogram: bool,
    /// Values clamped to the range, over all the metric's series.
    pub clamped: u64,
    /// Values refused (NaN), over all the metric's series.
    pub rejected: u64,
}

impl Family {
    pub(super) fn new(template: HistogramBuilder, cap: usize) -> Self {
        Self {
            cap,
            template,
            live: 0,
            overflow: None,
            folded: 0,
            truncated: 0,
            values: HashMap::new(),
            members: Vec::new(),
        }
    }

    /// Replaces label values past their label's cap by the overflow value;
    /// returns whether any was replaced.
    pub(super) fn cap_label_values(
        &mut self,
        label_caps: &HashMap<String, usize>,
        labels: &mut [(Box<str>, Box<str>)],
    ) -> bool {
        let mut replaced = false;
        for (k, v) in labels.iter_mut() {
            let Some(&cap) = label_caps.get(&**k) else {
                continue;
            };
            if **v == *OVERFLOW_VALUE {
                continue;
            }
            let seen = self.values.entry(k.clone()).or_default();
            if seen.contains(&**v) {
                continue;
            }
            if seen.len() < cap {
                seen.insert(v.clone());
            } else {
                *v = OVERFLOW_VALUE.into();
                replaced = true;
            }
        }
        replaced
    }
}

pub(super) fn info(name: &str, f: &Family) -> FamilyInfo {
    FamilyInfo {
        name: name.to_owned(),
        series: f.live + usize::from(f.overflow.is_some()),
        cap: f.cap,
        overflow_total: f.folded,
        truncated: f.truncated,
        histogram: true,
        clamped: f.members.iter().map(Histogram::clamped).sum(),
        rejected: f.members.iter().map(Histogram::rejected).sum(),
    }
}
