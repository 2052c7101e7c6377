//! [`RegistryError`]: resolving a series by name and labels.

use thiserror::Error;

/// A metric name or label set that the registry refuses.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The metric name does not match `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    #[error(
        "invalid metric name {0:?}: use ASCII letters, digits, '_' and ':', \
         not starting with a digit (e.g. \"db_query_duration_seconds\")"
    )]
    InvalidMetricName(String),
    /// A label name does not match `[a-zA-Z_][a-zA-Z0-9_]*` or starts with `__`.
    #[error(
        "invalid label name {0:?}: use ASCII letters, digits and '_', not starting \
         with a digit or with \"__\" (reserved by Prometheus)"
    )]
    InvalidLabelName(String),
    /// A label name the exposition writes itself (`le`, `quantile`).
    #[error(
        "label name {0:?} is reserved: Prometheus writes `le` on histogram buckets and \
         `quantile` on summaries, and refuses a scrape where a series has its own; \
         rename the label (e.g. \"{0}_bound\")"
    )]
    ReservedLabelName(String),
    /// A label set with more labels than the registry allows
    /// ([`RegistryBuilder::max_labels`](super::RegistryBuilder::max_labels)).
    #[error(
        "metric {name:?}: {count} labels, more than the {max} a series may have; \
         labels should describe a few dimensions (put the rest in logs or traces), \
         or raise RegistryBuilder::max_labels"
    )]
    TooManyLabels {
        /// The metric name.
        name: String,
        /// How many labels were given.
        count: usize,
        /// The configured limit.
        max: usize,
    },
    /// A label name longer than the registry allows
    /// ([`RegistryBuilder::max_label_name_bytes`](super::RegistryBuilder::max_label_name_bytes)).
    #[error(
        "metric {name:?}: a label name of {bytes} bytes (starting {start:?}) is longer than \
         the {max} allowed; label names should be short fixed identifiers, or raise \
         RegistryBuilder::max_label_name_bytes"
    )]
    LabelNameTooLong {
        /// The metric name.
        name: String,
        /// The label name's first 32 characters.
        start: String,
        /// Its length in bytes.
        bytes: usize,
        /// The configured limit.
        max: usize,
    },
    /// The same label name appears twice in one label set.
    #[error("label {0:?} is given twice: each label name may appear once per series")]
    DuplicateLabel(String),
    /// A new metric name would exceed the registry's limit on metric names
    /// (per kind: histograms, counters, gauges).
    #[error(
        "metric {name:?} not created: the registry already holds {limit} metric names; \
         metric names should be fixed strings (put variable parts in label values), \
         or raise RegistryBuilder::max_metrics"
    )]
    TooManyMetrics {
        /// The refused metric name.
        name: String,
        /// The configured limit.
        limit: usize,
    },
    /// Another metric is written under one of this metric's names (the
    /// same name as another kind, or a name the other derives: a
    /// histogram's `_bucket`/`_count`/`_sum`, a counter's family without
    /// `_total`). Prometheus would refuse the scrape.
    #[error(
        "{kind} {name:?} cannot be created: it would be written as {written:?}, which {owner_kind} \
         {owner:?} already writes, and Prometheus refuses a scrape with a name twice; \
         choose another name"
    )]
    NameClash {
        /// The refused metric name.
        name: String,
        /// Its kind.
        kind: &'static str,
        /// The name both would write.
        written: String,
        /// The metric that writes it already.
        owner: String,
        /// That metric's kind.
        owner_kind: &'static str,
    },
}
