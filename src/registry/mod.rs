//! The registry: (metric name, label set) → series handle ([`Histogram`](crate::Histogram),
//! gauge, counter, sampled value), get-or-create,
//! with a cap on label sets per metric.
//!
//! * Resolve once, record many: [`Registry::histogram`] returns a handle
//!   (an `Arc`) to keep; recording through it takes no lock.
//! * Or record by name each call: [`Registry::record`] hashes the name and
//!   labels (no allocation) and looks the series up under a read lock.
//! * Label order does not matter: `[("a", "1"), ("b", "2")]` and
//!   `[("b", "2"), ("a", "1")]` are the same series.
//! * Cardinality, in three bounds, all on the slow path of a new label set:
//!   - a label can be capped in distinct values per metric
//!     ([`RegistryBuilder::label_cap`], e.g. 100 routes): a value past the
//!     cap becomes [`OVERFLOW_VALUE`] for that label only, the other labels
//!     keep theirs;
//!   - each metric holds at most `cap` label sets (1000 unless configured).
//!     Past it, a new label set is folded into the metric's one overflow
//!     series, whose every label value is [`OVERFLOW_VALUE`];
//!   - at most [`DEFAULT_MAX_METRICS`] metric names per kind (configurable);
//!     a new name past it is an error, since names should be fixed strings;
//!   - label values of at most [`DEFAULT_MAX_LABEL_VALUE_BYTES`]
//!     (configurable): a longer one is cut and counted;
//!   - at most [`DEFAULT_MAX_LABELS`] labels per series and label names
//!     of at most [`DEFAULT_MAX_LABEL_NAME_BYTES`] (configurable): more is
//!     an error ([`RegistryError::TooManyLabels`],
//!     [`RegistryError::LabelNameTooLong`]), so that one series cannot
//!     make a scrape of megabytes; the `metrics` facade, which cannot
//!     return an error, folds such a series into its overflow metric,
//!     counted.
//! * One family per name: every metric claims each name it is written
//!   under (a histogram's `_bucket`, `_count`, `_sum` and window families,
//!   a counter's OpenMetrics family), whatever its kind; a metric that
//!   would write a name another writes is refused
//!   ([`RegistryError::NameClash`]), since Prometheus refuses a scrape
//!   with two `# TYPE` lines for one name.
//!
//!   Each fold is counted in [`Registry::overflow_total`] (exported as
//!   `tailwatch_series_overflow_total`). Nothing is dropped: the values are
//!   recorded in the series they were folded into. A metric never has more
//!   than `cap + 1` series, whatever the traffic.
//!
//! Registries are built with [`Registry::builder`]; a [`Monitor`](crate::Monitor)
//! owns one ([`MonitorBuilder::registry`](crate::MonitorBuilder::registry)).
//!
//! Uses the engine only.

pub(crate) mod builder;
pub(crate) mod caps;
pub(crate) mod error;
pub(crate) mod group;
pub(crate) mod key;
pub(crate) mod names;
pub(crate) mod slow;
pub(crate) mod store;
#[cfg(all(test, not(tailwatch_loom)))]
mod tests;

pub use builder::RegistryBuilder;
pub use caps::{
    DEFAULT_MAX_LABEL_NAME_BYTES, DEFAULT_MAX_LABEL_VALUE_BYTES, DEFAULT_MAX_LABELS,
    DEFAULT_MAX_METRICS, DEFAULT_SERIES_CAP, FamilyInfo, OVERFLOW_VALUE,
};
pub use error::RegistryError;
pub(crate) use key::same;
pub use key::{Label, SeriesId};
pub use slow::{DEFAULT_SLOW_EVENTS, DEFAULT_SLOW_WINDOW, SLOW_CALLS_SUPPRESSED};
pub use store::Registry;
