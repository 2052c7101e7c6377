//! The trace context of the code running now, for exemplars: what the HTTP
//! middleware, [`Operation::measure`](crate::Operation::measure), timers
//! and the tracing layer attach to the values they record.
//!
//! [`current_trace`] looks, in order, at:
//! 1. with the `opentelemetry` feature, the current OpenTelemetry context
//!    (`opentelemetry::Context::current()`, which tracing-opentelemetry
//!    makes the entered `tracing` span's by default), then the current
//!    `tracing` span's OpenTelemetry context (`OpenTelemetrySpanExt`, for a
//!    layer built `with_context_activation(false)`). Only a valid, sampled
//!    span context counts: a trace that is not sampled is never stored in
//!    a trace backend, and an exemplar pointing at it would lead nowhere.
//! 2. with the `tracing` feature, the `trace_id` (and `span_id`) fields of
//!    the current span or its nearest ancestor that has one, as hex texts
//!    (W3C trace context), read by [`MonitorLayer`](crate::MonitorLayer)
//!    when the span was created or recorded later. For services that
//!    carry a trace id without OpenTelemetry.
//!
//! The HTTP middleware falls back to the request's W3C `traceparent`
//! header ([`parse_traceparent`]) when the code has no trace context.
//!
//! Without a subscriber and without an OpenTelemetry context this costs a
//! couple of thread-local reads.

use crate::engine::exemplar::TraceContext;

/// The trace context of the code running now, if there is one. Looked
/// for, in order: with the `opentelemetry` feature, the current
/// OpenTelemetry context (tracing-opentelemetry makes it the entered span's)
/// and then the current `tracing` span's OpenTelemetry context, valid and
/// sampled only; with the `tracing` feature, the `trace_id` / `span_id`
/// fields (hex) of the current span or its nearest ancestor that has them,
/// as [`MonitorLayer`](crate::MonitorLayer) read them.
///
/// ```
/// assert_eq!(tailwatch::measure::current_trace(), None); // no span, no context
/// ```
#[inline]
pub fn current_trace() -> Option<TraceContext> {
    #[cfg(feature = "opentelemetry")]
    if let Some(found) = otel::active() {
        return found;
    }
    #[cfg(feature = "tracing")]
    {
        // One look-up of the current span for both of its sources.
        let span = tracing::Span::current();
        if span.is_none() {
            return None;
        }
        #[cfg(feature = "opentelemetry")]
        if let Some(t) = otel::of_tracing_span(&span) {
            return Some(t);
        }
        fields::of(&span)
    }
    #[cfg(not(feature = "tracing"))]
    None
}

/// The trace context of a W3C `traceparent` header
/// (`00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`), if it is
/// well-formed, its ids are not zero and it is sampled (flag `01`).
/// Future versions (not `ff`) are read as version `00` reads them.
///
/// ```
/// let t = tailwatch::measure::parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
/// assert_eq!(t.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert_eq!(tailwatch::measure::parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"), None); // not sampled
/// ```
pub fn parse_traceparent(header: &str) -> Option<TraceContext> {
    if !header.is_ascii() {
        return None;
    }
    let b = header.as_bytes();
    let fixed = b.len() == 55 || (b.len() > 55 && b[55] == b'-' && !header.starts_with("00"));
    if !fixed || b[2] != b'-' || b[35] != b'-' || b[52] != b'-' || header.starts_with("ff") {
        return None;
    }
    let hex = |s: &str| s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
    let (version, trace, parent, flags) = (
        &header[..2],
        &header[3..35],
        &header[36..52],
        &header[53..55],
    );
    if !(hex(version) && hex(trace) && hex(parent) && hex(flags)) {
        return None;
    }
    let trace_id = u128::from_str_radix(trace, 16).ok()?;
    let span_id = u64::from_str_radix(parent, 16).ok()?;
    let sampled = u8::from_str_radix(flags, 16).ok()? & 1 == 1;
    (trace_id != 0 && span_id != 0 && sampled).then_some(TraceContext { trace_id, span_id })
}

/// The trace ids a span's fields gave, kept in its extensions by
/// `MonitorLayer` (so that spans inside it, and [`current_trace`], find them).
#[cfg(feature = "tracing")]
#[derive(Clone, Copy, Debug)]
pub(crate) struct SpanTrace(pub(crate) TraceContext);

#[cfg(feature = "tracing")]
pub(crate) mod fields {
    //! The `trace_id` / `span_id` span fields, through the subscriber's registry.

    use tracing_subscriber::registry::{LookupSpan, Registry};

    use super::SpanTrace;
    use crate::engine::exemplar::TraceContext;

    /// The ids of `span` or its nearest ancestor that has them.
    pub(crate) fn of(span: &tracing::Span) -> Option<TraceContext> {
        span.with_subscriber(|(id, dispatch)| {
            let registry = dispatch.downcast_ref::<Registry>()?;
            let span = registry.span(id)?;
            span.scope()
                .find_map(|s| s.extensions().get::<SpanTrace>().map(|t| t.0))
        })
        .flatten()
        .filter(|t| t.trace_id != 0)
    }
}

#[cfg(feature = "opentelemetry")]
pub(crate) mod otel {
    //! OpenTelemetry span contexts.

    use opentelemetry::trace::{SpanContext, TraceContextExt};
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    use crate::engine::exemplar::TraceContext;

    /// A valid, sampled span context as a [`TraceContext`].
    pub(crate) fn of(sc: &SpanContext) -> Option<TraceContext> {
        (sc.is_valid() && sc.is_sampled())
            .then(|| TraceContext::from_bytes(sc.trace_id().to_bytes(), sc.span_id().to_bytes()))
    }

    /// The current OpenTelemetry context's span, if it has an active one
    /// (`Some(None)`: it has one, not valid or not sampled).
    pub(crate) fn active() -> Option<Option<TraceContext>> {
        opentelemetry::Context::map_current(|cx| {
            cx.has_active_span().then(|| of(cx.span().span_context()))
        })
    }

    /// `span`'s OpenTelemetry context (tracing-opentelemetry's), for a
    /// layer built `with_context_activation(false)`.
    pub(crate) fn of_tracing_span(span: &tracing::Span) -> Option<TraceContext> {
        of(span.context().span().span_context())
    }

    /// The OpenTelemetry span context of the span `id` of `dispatch`, if
    /// tracing-opentelemetry's layer is in it. The caller must not hold
    /// the span's extensions.
    pub(crate) fn of_span(
        id: &tracing::span::Id,
        dispatch: &tracing::Dispatch,
    ) -> Option<TraceContext> {
        let cx = tracing_opentelemetry::get_otel_context(id, dispatch)?;
        of(cx.span().span_context())
    }
}
