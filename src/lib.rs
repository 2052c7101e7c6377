#![doc = include_str!("../docs/crate.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod clock;
mod error;
mod histogram;
mod layout;
mod registry;
mod shard;
mod slot;
mod snapshot;
mod stats;
mod sync;
mod upkeep;
mod window;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{BuildError, RecordError, RegistryError};
pub use histogram::{DEFAULT_QUANTILES, Histogram, HistogramBuilder};
pub use layout::Layout;
pub use registry::{
    DEFAULT_MAX_METRICS, DEFAULT_SERIES_CAP, FamilyInfo, Label, OVERFLOW_VALUE, Registry,
    RegistryBuilder, SeriesId, THREAD_CACHE_SLOTS,
};
pub use snapshot::Snapshot;
pub use stats::{QuantileValue, Stats};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
