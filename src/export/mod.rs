//! Prometheus exposition: text format 0.0.4, and OpenMetrics 1.0 when asked.
//!
//! Rendered from the HDR data, one family per metric name, every family
//! with one `# HELP` and one `# TYPE`:
//!
//! * every histogram of the registry as a Prometheus histogram: cumulative
//!   `_bucket{le}` (boundaries from [`Buckets`], OpenTelemetry's 14 by
//!   default, in base units: seconds), `_sum`, `_count`, since start;
//! * its sliding window: `<name>_quantile_seconds{quantile}` (the
//!   `_seconds` suffix kept last; `<name>_quantile` for other units), typed
//!   `summary` as Prometheus client summaries are (window quantiles, and
//!   cumulative `_sum`/`_count`; `promtool` refuses a `quantile` label on a
//!   gauge), and the gauge `<name>_max_seconds`. The window merges the outcome labels
//!   (`http_response_status_code`, `error_type`, `outcome`): one value per
//!   route or operation, as people read it, over the calls that finished
//!   (cancelled ones have no complete latency). An idle window exports no
//!   quantile (the series is left out, never a made-up 0). These gauges are
//!   per instance: never average them across instances, aggregate the
//!   buckets instead;
//! * the registry's gauges (`http_server_active_requests`, …), the
//!   counters and gauges from the `metrics` facade;
//! * self-metrics: `tailwatch_series{metric}`,
//!   `tailwatch_series_overflow_total{metric}`,
//!   `tailwatch_values_clamped_total{metric}`,
//!   `tailwatch_values_rejected_total{metric}`,
//!   `tailwatch_scrape_duration_seconds` (of the previous scrape).
//!
//! Bucket counts are exact for values up to the HDR resolution: a value in
//! the same HDR bucket as a boundary (within 0.78 % of it) counts as equal
//! to the boundary.
//!
//! Files: `render.rs` (the walk over a monitor's series), `text.rs` (the
//! text formats' writing), `buckets.rs` ([`Buckets`]), `format.rs`
//! ([`Format`]), `help.rs` (`# HELP` texts).
//!
//! Uses the measure piece (a [`Monitor`](crate::Monitor)), the registry and
//! the engine; reads the names of the integrations, http and saturation
//! pieces only as data.

mod buckets;
mod format;
mod help;
mod render;
mod text;

pub use buckets::{Buckets, OTEL_BUCKETS};
pub use format::Format;
pub use render::render;
pub use text::escape_into;
