//! The recording engine: one series of values, recorded without a lock or
//! an allocation, read back as a cumulative view and as a sliding window.
//!
//! * [`histogram`]: [`Histogram`](histogram::Histogram) (the handle) and
//!   its builder; the hot path is [`shard`] (a bounded set of stripes of
//!   lazily allocated HDR count pages, freed by [`lazy`] when their thread
//!   exits), indexed by [`layout`] (the `hdrhistogram`
//!   crate's bucket arithmetic), with writer slots claimed in [`slot`] over
//!   the atomics of [`sync`] (loom's under `--cfg tailwatch_loom`).
//! * [`window`]: the sliding window as compressed slice deltas, rotated by
//!   readers and by the process-wide [`upkeep`] thread, on the time of a
//!   [`clock`].
//! * [`snapshot`]: a reusable read buffer (quantiles, `le` buckets,
//!   conversion to `hdrhistogram::Histogram`); [`stats`]: the serializable
//!   figures people read.
//! * [`exemplar`]: the trace of a recent value per power-of-two range;
//!   [`slowest`]: the slowest traced values of the window.
//! * [`counter`]: sharded integer counters and gauges, and sampled floats.
//! * [`thread_cache`]: the per-thread direct-mapped caches the pieces above
//!   use to find a handle without a lock.
//! * [`error`]: building and recording errors.
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
