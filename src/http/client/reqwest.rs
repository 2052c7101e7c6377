//! [`ReqwestMetrics`]: outbound calls made with reqwest, through a
//! `reqwest-middleware` client, recorded as [`HttpClientMetricsLayer`]
//! records them (feature `reqwest`).
//!
//! ```
//! let monitor = tailwatch::Monitor::new();
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(tailwatch::http::client::ReqwestMetrics::new(&monitor))
//!     .build();
//! # let _ = client;
//! ```

use std::sync::Arc;

use super::layer::{Call, HttpClientMetricsLayer, Shared, error_type};
use crate::http::layer::method_index;
use crate::measure::Monitor;

/// A reqwest-middleware middleware recording
/// `http_client_request_duration_seconds` and `http_client_active_requests`
/// exactly as [`HttpClientMetricsLayer`] does (same labels, host cap, URL
/// templates, error types; reqwest's own timeouts are `timeout`).
#[derive(Clone)]
pub struct ReqwestMetrics {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ReqwestMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReqwestMetrics").finish_non_exhaustive()
    }
}

impl ReqwestMetrics {
    /// Recording into `monitor`'s registry, with the defaults of
    /// [`HttpClientMetricsLayer::new`].
    pub fn new(monitor: &Monitor) -> Self {
        Self::from_layer(&HttpClientMetricsLayer::new(monitor))
    }

    /// With the settings of `layer` (`max_hosts`, `url_template`).
    pub fn from_layer(layer: &HttpClientMetricsLayer) -> Self {
        Self {
            shared: layer.shared.clone(),
        }
    }
}

/// The error type of a failed reqwest call.
fn reqwest_error_type(error: &reqwest_middleware::Error) -> &'static str {
    match error {
        reqwest_middleware::Error::Reqwest(e) if e.is_timeout() => "timeout",
        reqwest_middleware::Error::Reqwest(e) => match error_type(e) {
            "_OTHER" if e.is_connect() => "connect",
            other => other,
        },
        reqwest_middleware::Error::Middleware(e) => error_type(e.as_ref()),
    }
}

#[async_trait::async_trait]
impl reqwest_middleware::Middleware for ReqwestMetrics {
    async fn handle(
        &self,
        request: reqwest::Request,
        extensions: &mut http::Extensions,
        next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let url = request.url();
        let (address, port) = self.shared.capped(
            url.host_str().unwrap_or("_OTHER"),
            url.port_or_known_default().unwrap_or(0),
        );
        let template = self.shared.template.as_ref().and_then(|t| {
            let uri: http::Uri = url.as_str().parse().ok()?;
            t(request.method(), &uri)
        });
        // Records itself as cancelled if this future is dropped first.
        let entry = self
            .shared
            .entry(method_index(request.method()), address, port, template);
        let call = Call::start(entry);
        let result = next.run(request, extensions).await;
        match &result {
            Ok(response) => call.record_status(response.status().as_u16()),
            Err(e) => call.record(None, Some(reqwest_error_type(e))),
        }
        result
    }
}
