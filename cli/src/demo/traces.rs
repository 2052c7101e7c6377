//! Real OpenTelemetry trace contexts for the demo: an SDK tracer provider
//! (every trace sampled, no exporter: spans are dropped when they end)
//! behind tracing-opentelemetry, and a span per request. tailwatch finds
//! the span's context by itself, so `/metrics` (OpenMetrics or protobuf)
//! carries exemplars and `/stats` the trace ids of the slowest requests.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::trace::TracerProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

/// Installs the process-wide subscriber with the OpenTelemetry layer;
/// keep the provider alive while the demo runs. `None` if a subscriber
/// was already installed (then requests carry no trace context).
pub(super) fn install() -> Option<SdkTracerProvider> {
    let provider = SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("tailwatch-demo")));
    tracing::subscriber::set_global_default(subscriber)
        .ok()
        .map(|()| provider)
}

/// Runs the request inside its own span: a new trace per request.
pub(super) async fn per_request(request: Request, next: Next) -> Response {
    let span = tracing::info_span!("request", method = %request.method(), uri = %request.uri());
    next.run(request).instrument(span).await
}
