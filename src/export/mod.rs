//! Prometheus exposition: text format 0.0.4, OpenMetrics 1.0, and the
//! Prometheus protobuf format with native histograms, chosen by the
//! scrape's `Accept` header ([`Format::from_accept`]).
//!
//! Rendered from the HDR data at scrape time, one family per metric name,
//! every family with one `# HELP` and one `# TYPE`; every format has every
//! family:
//!
//! * every histogram of the registry as a Prometheus histogram, since
//!   start: classic `_bucket{le}` (boundaries from [`Buckets`], the 1-2-5
//!   ladder [`DEFAULT_BUCKETS`] from 1 µs to 100 s by default, in base
//!   units: seconds), `_sum`, `_count`; in protobuf also its native buckets
//!   ([`NativeBuckets`]: schema 6 by default, buckets 1.09 % wide);
//! * its sliding window: `<name>_quantile_seconds{quantile}` (the
//!   `_seconds` suffix kept last; `<name>_quantile` for other units), typed
//!   `summary` as Prometheus client summaries are (window quantiles, and
//!   cumulative `_sum`/`_count`; `promtool` refuses a `quantile` label on a
//!   gauge), one `quantile` per quantile the histogram is configured with
//!   ([`HistogramBuilder::quantiles`](crate::engine::HistogramBuilder::quantiles);
//!   0.5, 0.95, 0.99 by default), and the gauge `<name>_max_seconds`. The
//!   window merges the outcome labels (`http_response_status_code`,
//!   `rpc_grpc_status_code`, `error_type`, `outcome`): one value per route or operation, as people
//!   read it, over the calls that finished (cancelled ones have no complete
//!   latency). An idle window exports no quantile (the series is left out,
//!   never a made-up 0). These are per instance: never average them across
//!   instances, aggregate the buckets instead;
//! * the registry's gauges (`http_server_active_requests`, …), the
//!   counters and gauges from the `metrics` facade;
//! * self-metrics: `tailwatch_series{metric}`,
//!   `tailwatch_scrape_duration_seconds` (of the previous scrape), and,
//!   for the metrics where they are not zero,
//!   `tailwatch_series_overflow_total{metric}`,
//!   `tailwatch_values_clamped_total{metric}`,
//!   `tailwatch_values_rejected_total{metric}`,
//!   `tailwatch_label_values_truncated_total{metric}`.
//!
//! # Error bounds
//!
//! | what | bound on the relative error of a quantile |
//! | --- | --- |
//! | `/stats`, the window summaries (per instance) | the HDR bound, 0.78 % at 2 significant digits ([`Layout::relative_error`](crate::engine::Layout::relative_error)) |
//! | `histogram_quantile` over native buckets, per instance or fleet-wide | bucket growth − 1 + HDR bound: 1.87 % at schema 6 ([`NativeBuckets::relative_error`]) |
//! | `histogram_quantile` over classic `_bucket`s | one bucket ratio: 150 % with the default 1-2-5 ladder, 26 % with [`Buckets::exponential_between`] at 10 per decade |
//!
//! Classic bucket counts are exact up to the HDR resolution: a value in
//! the same HDR bucket as a boundary (within 0.78 % of it) counts as equal
//! to the boundary.
//!
//! Uses the measure piece (a [`Monitor`](crate::Monitor)), the registry and
//! the engine; reads the names of the integrations, http and saturation
//! pieces only as data.

mod buckets;
mod format;
mod help;
mod native;
pub mod proto;
mod protobuf;
mod render;
mod text;
mod walk;

pub use buckets::{Buckets, DEFAULT_BUCKETS, OTEL_BUCKETS, add_boundary};
pub use format::Format;
pub use native::{
    DEFAULT_NATIVE_MAX_BUCKETS, DEFAULT_NATIVE_SCHEMA, DEFAULT_ZERO_THRESHOLD, NativeBuckets,
};
pub use render::{encode, render};
pub use text::escape_into;
