//! A `tracing-subscriber` [`Layer`] that measures spans as operations.
//!
//! What is measured, exactly:
//! * **Which spans:** all of them ([`MonitorLayer::new`]), only those that
//!   carry a given field ([`MonitorLayer::with_field`], e.g. `operation`),
//!   or those a filter on their metadata accepts ([`MonitorLayer::filter`]).
//! * **The operation name:** the value of the `operation` field (or the field
//!   given to `with_field`) if the span has one, else the span's name (for
//!   `#[instrument]`, the function's name).
//! * **The time:** from the span's creation to its close (when its last
//!   handle is dropped: for an `#[instrument]`ed async function, after the
//!   future completes or is dropped), wall-clock. With
//!   [`busy_time`](MonitorLayer::busy_time), only the time the span was
//!   entered (for async code: the time spent in `poll`).
//! * **Errors:** the span is an error if it records a field named `error`
//!   (when created or later with `Span::record`; `error = false` does not
//!   count), or if an event at level ERROR, or any event with an `error`
//!   field, happens inside it. `#[instrument(err)]` does exactly that when
//!   the function returns `Err`. The event marks the nearest enclosing
//!   measured span only.
//! * **In flight:** `operation_active` is up from creation to close.
//!
//! ```
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! let monitor = tailwatch::Monitor::new();
//! let subscriber = tracing_subscriber::registry().with(tailwatch::MonitorLayer::new(&monitor));
//! tracing::subscriber::with_default(subscriber, || {
//!     let _span = tracing::info_span!("load_config").entered();
//! });
//! assert_eq!(monitor.stats("load_config").unwrap().count, 1);
//! ```

use std::sync::Arc;
use std::time::Duration;

use quanta::Instant;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::engine::exemplar::TraceContext;
use crate::measure::Monitor;
use crate::measure::context::SpanTrace;
use crate::measure::{Ended, Operation};

type SpanFilter = Arc<dyn Fn(&Metadata<'_>) -> bool + Send + Sync>;

/// The layer; see the [module docs](self).
#[derive(Clone)]
pub struct MonitorLayer {
    /// Tells this layer's state apart from other `MonitorLayer`s' in a span.
    id: u64,
    monitor: Monitor,
    field: &'static str,
    required: bool,
    filter: Option<SpanFilter>,
    busy: bool,
    /// The subscriber this layer is part of (to ask tracing-opentelemetry
    /// for a span's context; the default dispatcher is not reachable from
    /// inside a callback).
    dispatch: std::sync::OnceLock<tracing::dispatcher::WeakDispatch>,
}

impl std::fmt::Debug for MonitorLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonitorLayer")
            .field("field", &self.field)
            .field("required", &self.required)
            .field("filtered", &self.filter.is_some())
            .field("busy", &self.busy)
            .finish()
    }
}

impl MonitorLayer {
    /// Measures every span into `monitor`.
    pub fn new(monitor: &Monitor) -> Self {
        Self {
            id: crate::engine::thread_cache::next_owner(),
            monitor: monitor.clone(),
            field: "operation",
            required: false,
            filter: None,
            busy: false,
            dispatch: std::sync::OnceLock::new(),
        }
    }

    /// Measures only spans that have field `field`; its value names the
    /// operation.
    #[must_use]
    pub fn with_field(mut self, field: &'static str) -> Self {
        self.field = field;
        self.required = true;
        self
    }

    /// Measures only spans whose metadata `filter` accepts (target, name, level…).
    #[must_use]
    pub fn filter(
        mut self,
        filter: impl Fn(&Metadata<'_>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.filter = Some(Arc::new(filter));
        self
    }

    /// Records the time spans were entered instead of creation-to-close.
    #[must_use]
    pub fn busy_time(mut self, busy: bool) -> Self {
        self.busy = busy;
        self
    }
}

/// Per-span state of every `MonitorLayer` measuring the span (a span's
/// extensions hold one value per type, and several layers may measure it).
#[derive(Default)]
struct Measurings(Vec<(u64, Measuring)>);

impl Measurings {
    fn get_mut(&mut self, layer: u64) -> Option<&mut Measuring> {
        self.0
            .iter_mut()
            .find(|(id, _)| *id == layer)
            .map(|(_, m)| m)
    }

    fn remove(&mut self, layer: u64) -> Option<Measuring> {
        let i = self.0.iter().position(|(id, _)| *id == layer)?;
        Some(self.0.swap_remove(i).1)
    }
}

/// One layer's state for one span.
struct Measuring {
    op: Operation,
    start: Instant,
    error: bool,
    busy: Duration,
    depth: u32,
    entered_at: Option<Instant>,
    /// The exemplar's trace: the span's `trace_id` / `span_id` fields, its
    /// OpenTelemetry span, or an enclosing span's fields.
    trace: Option<TraceContext>,
}

/// Reads the operation-name field, the `error` field, and the `trace_id`
/// and `span_id` fields (hex, as W3C trace context writes them).
struct Fields<'a> {
    name_field: &'a str,
    operation: Option<String>,
    error: bool,
    trace_id: Option<u128>,
    span_id: Option<u64>,
}

impl<'a> Fields<'a> {
    /// The ids given: a trace id (and a span id, 0 if none), or a span id
    /// alone (trace id 0, to be completed from what the span had).
    fn trace(&self) -> Option<TraceContext> {
        match (self.trace_id, self.span_id) {
            (None, None) => None,
            (trace_id, span_id) => Some(TraceContext {
                trace_id: trace_id.unwrap_or(0),
                span_id: span_id.unwrap_or(0),
            }),
        }
    }

    fn new(name_field: &'a str) -> Self {
        Self {
            name_field,
            operation: None,
            error: false,
            trace_id: None,
            span_id: None,
        }
    }

    /// Takes `value` as a trace or span id when `field` is one; true if so.
    fn ids(&mut self, field: &Field, value: &str) -> bool {
        let hex = value.trim_matches('"');
        match field.name() {
            "trace_id" => {
                self.trace_id = u128::from_str_radix(hex, 16).ok().filter(|&t| t != 0);
                true
            }
            "span_id" => {
                self.span_id = u64::from_str_radix(hex, 16).ok();
                true
            }
            _ => false,
        }
    }
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.ids(field, value) {
            return;
        }
        if field.name() == self.name_field {
            self.operation = Some(value.to_owned());
        } else if field.name() == "error" {
            self.error = true;
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if field.name() == "error" {
            self.error |= value;
        } else if field.name() == self.name_field {
            self.operation = Some(value.to_string());
        }
    }

    fn record_error(&mut self, field: &Field, _: &(dyn std::error::Error + 'static)) {
        if field.name() == "error" {
            self.error = true;
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if matches!(field.name(), "trace_id" | "span_id") {
            self.ids(field, &format!("{value:?}"));
        } else if field.name() == self.name_field {
            self.operation = Some(format!("{value:?}"));
        } else if field.name() == "error" {
            self.error = true;
        }
    }
}

impl MonitorLayer {
    /// The OpenTelemetry span of span `id`, when the `opentelemetry`
    /// feature is on and tracing-opentelemetry's layer is in this
    /// subscriber. The caller must not hold the span's extensions.
    fn otel_trace_of(&self, id: &Id) -> Option<TraceContext> {
        #[cfg(feature = "opentelemetry")]
        {
            let dispatch = self.dispatch.get()?.upgrade()?;
            crate::measure::context::otel::of_span(id, &dispatch)
        }
        #[cfg(not(feature = "opentelemetry"))]
        {
            let _ = (id, &self.dispatch);
            None
        }
    }

    /// Runs `f` on this layer's state for span `id`, if it measures it.
    fn with_state<S>(&self, id: &Id, ctx: &Context<'_, S>, f: impl FnOnce(&mut Measuring))
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        if let Some(m) = ext.get_mut::<Measurings>().and_then(|a| a.get_mut(self.id)) {
            f(m);
        }
    }
}

impl<S> Layer<S> for MonitorLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_register_dispatch(&self, subscriber: &tracing::Dispatch) {
        let _ = self.dispatch.set(subscriber.downgrade());
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let meta = attrs.metadata();
        let mut fields = Fields::new(self.field);
        attrs.record(&mut fields);
        let Some(span) = ctx.span(id) else { return };
        // A span id alone, with no trace id, says nothing here.
        let own = fields.trace().filter(|t| t.trace_id != 0);
        if let Some(trace) = own {
            // Spans inside it, and `current_trace`, find it here.
            span.extensions_mut().replace(SpanTrace(trace));
        }
        if self.filter.as_ref().is_some_and(|f| !f(meta)) {
            return;
        }
        let name = match fields.operation {
            Some(name) => name,
            None if self.required => return,
            None => meta.name().to_owned(),
        };
        // Its own ids, else its OpenTelemetry span's, else an ancestor's ids.
        let trace = own.or_else(|| self.otel_trace_of(id)).or_else(|| {
            span.scope()
                .skip(1)
                .find_map(|s| s.extensions().get::<SpanTrace>().map(|t| t.0))
        });
        let op = self.monitor.operation(&name);
        op.inner.active.increment();
        let measuring = Measuring {
            op,
            start: Instant::now(),
            error: fields.error,
            trace,
            busy: Duration::ZERO,
            depth: 0,
            entered_at: None,
        };
        let mut ext = span.extensions_mut();
        match ext.get_mut::<Measurings>() {
            Some(all) => all.0.push((self.id, measuring)),
            None => ext.insert(Measurings(vec![(self.id, measuring)])),
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::new(self.field);
        values.record(&mut fields);
        let recorded = fields.trace();
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        if let Some(trace) = recorded {
            // A span id recorded alone completes the trace id given before.
            let trace = match (fields.trace_id, ext.get_mut::<SpanTrace>()) {
                (None, Some(old)) => TraceContext {
                    trace_id: old.0.trace_id,
                    span_id: trace.span_id,
                },
                _ => trace,
            };
            ext.replace(SpanTrace(trace));
        }
        let now = ext.get_mut::<SpanTrace>().map(|t| t.0);
        if let Some(m) = ext.get_mut::<Measurings>().and_then(|a| a.get_mut(self.id)) {
            m.error |= fields.error;
            if recorded.is_some() {
                m.trace = now.filter(|t| t.trace_id != 0);
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::new("");
        event.record(&mut fields);
        if !fields.error && *event.metadata().level() != Level::ERROR {
            return;
        }
        let Some(scope) = ctx.event_scope(event) else {
            return;
        };
        for span in scope {
            if let Some(m) = span
                .extensions_mut()
                .get_mut::<Measurings>()
                .and_then(|a| a.get_mut(self.id))
            {
                m.error = true;
                return;
            }
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        if self.busy {
            self.with_state(id, &ctx, |m| {
                m.depth += 1;
                if m.depth == 1 {
                    m.entered_at = Some(Instant::now());
                }
            });
        }
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        if self.busy {
            self.with_state(id, &ctx, |m| {
                m.depth = m.depth.saturating_sub(1);
                if m.depth == 0 {
                    if let Some(at) = m.entered_at.take() {
                        m.busy += at.elapsed();
                    }
                }
            });
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(m) = span
            .extensions_mut()
            .get_mut::<Measurings>()
            .and_then(|a| a.remove(self.id))
        else {
            return;
        };
        let took = if self.busy { m.busy } else { m.start.elapsed() };
        let ended = if m.error { Ended::Error } else { Ended::Ok };
        // An OpenTelemetry layer outside this one has built its span by now.
        match m.trace.or_else(|| self.otel_trace_of(&id)) {
            Some(trace) => m.op.record_with_trace(took, ended, trace),
            None => m.op.record(took, ended),
        }
        m.op.inner.active.decrement();
    }
}
