//! The recording engine: a series of values recorded without a lock or an
//! allocation, read back as a cumulative view and as a sliding window.
//!
//! * [`Histogram`]: one series. Recording indexes the value with the
//!   `hdrhistogram` crate's bucket arithmetic ([`Layout`]) and increments a
//!   counter in the calling thread's own stripe (no read-modify-write on a
//!   shared cache line, no lock, no panic; out-of-range values clamped and
//!   counted). Configured with a [`HistogramBuilder`]: range, precision,
//!   window length and slices, the quantiles it reports, its [`Clock`].
//! * Two views of the same counts: cumulative since creation (for
//!   Prometheus buckets) and the sliding window (the quantiles, min, max
//!   and rate people read). Both are read into a reusable [`Snapshot`]
//!   without stopping writers; [`Stats`] is what people read, in base
//!   units.
//! * Exemplars: a value recorded with a [`TraceContext`] is kept as the
//!   [`Exemplar`] of its range, and among the slowest traced calls of the
//!   window ([`SlowCall`], at most [`SLOWEST_KEPT`] per series).
//! * [`Counter`], [`Gauge`] (sharded integers) and [`Value`] (a float),
//!   the handles of the registry's other metric kinds.
//!
//! Memory per series depends on the spread of the values, never on their
//! number, the number of writer threads past the stripe count, or how often
//! anyone reads; see [`Histogram`] for the figures and where they are
//! tested.
//!
//! Uses no other piece of tailwatch: everything else is built on it.

pub(crate) mod clock;
pub(crate) mod counter;
pub(crate) mod cpu;
pub(crate) mod error;
pub(crate) mod exemplar;
pub(crate) mod histogram;
pub(crate) mod layout;
pub(crate) mod lazy;
pub(crate) mod lock;
pub(crate) mod shard;
pub(crate) mod slot;
pub(crate) mod slowest;
pub(crate) mod snapshot;
pub(crate) mod stats;
pub(crate) mod sync;
pub(crate) mod thread_cache;
pub(crate) mod upkeep;
pub(crate) mod window;

pub use clock::{Clock, ManualClock, SystemClock};
pub use counter::{Counter, Gauge, Value};
pub use error::{BuildError, RecordError};
pub use exemplar::{Exemplar, TraceContext};
pub use histogram::{DEFAULT_QUANTILES, Histogram, HistogramBuilder};
pub use layout::Layout;
pub use slowest::KEEP as SLOWEST_KEPT;
pub use snapshot::Snapshot;
pub use stats::{Quantile, SlowCall, Stats};
