//! Scrapes as a bounded resource: at most
//! [`max_scrapes`](crate::AgentBuilder::max_scrapes) `/metrics` and
//! `/stats` answers are rendered or being sent at once (past it: 503 at
//! once, counted); scrapes that ask for the same thing while it is being
//! rendered share that one render; rendering and gzip run on tokio's
//! blocking pool, never on an async worker; and the answer is handed to
//! the connection in 64 KiB slices of one shared buffer, so a client that
//! does not read holds one body (and its slot) until the idle timeout
//! closes it, and never a copy per slice.
//!
//! Memory for clients that stop reading is therefore bounded by
//! `max_scrapes` × one scrape's size, and usually one: clients that ask at
//! the same time share the render.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::{OnceCell, OwnedSemaphorePermit, Semaphore};

use crate::engine::counter::Counter;
use crate::engine::lock::Mutex;
use crate::export::Format;

/// The self-metric counting scrapes refused because
/// [`max_scrapes`](crate::AgentBuilder::max_scrapes) were in progress.
pub const SCRAPES_REFUSED: &str = "tailwatch_agent_scrapes_refused_total";

/// How much of a body is handed to the connection at a time.
const SLICE: usize = 64 * 1024;

/// What a scrape asked for: two scrapes asking the same share a render.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Kind {
    /// `/metrics` in a format, gzipped or not.
    Metrics(Format, bool),
    /// `/stats`.
    Stats,
}

/// A render's result: the body, or why it failed.
type Rendered = Result<Bytes, String>;

/// The agent's scrapes in progress.
pub(super) struct Scrapes {
    permits: Arc<Semaphore>,
    refused: Counter,
    rendering: Mutex<HashMap<Kind, Arc<OnceCell<Rendered>>>>,
}

impl Scrapes {
    pub(super) fn new(max: usize, refused: Counter) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max)),
            refused,
            rendering: Mutex::new(HashMap::new()),
        }
    }

    /// Answers a scrape of `kind`: `render` (run on the blocking pool,
    /// unless a scrape of the same kind is already rendering, whose result
    /// this one shares), or 503 when `max_scrapes` are in progress.
    pub(super) async fn answer(
        &self,
        kind: Kind,
        content_type: &'static str,
        render: impl FnOnce() -> Vec<u8> + Send + 'static,
    ) -> Response {
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            self.refused.increment();
            let mut r = (
                StatusCode::SERVICE_UNAVAILABLE,
                "the tailwatch agent is answering as many scrapes as it allows (max_scrapes); retry\n",
            )
                .into_response();
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return r;
        };
        let cell = self.rendering.lock().entry(kind).or_default().clone();
        let gzip = matches!(kind, Kind::Metrics(_, true));
        let rendered = cell
            .get_or_init(|| async move {
                let task = tokio::task::spawn_blocking(move || {
                    let body = render();
                    if gzip { gzipped(&body) } else { body }
                });
                task.await
                    .map(Bytes::from)
                    .map_err(|e| format!("the tailwatch agent failed to render: {e}"))
            })
            .await
            .clone();
        {
            // Later scrapes render anew (this render may already be old
            // for them); the ones waiting on this cell share it.
            let mut rendering = self.rendering.lock();
            if rendering.get(&kind).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
                rendering.remove(&kind);
            }
        }
        match rendered {
            Ok(bytes) => {
                let mut r = Response::new(Body::new(Sliced {
                    bytes,
                    permit: Some(permit),
                }));
                let h = r.headers_mut();
                h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
                if gzip {
                    h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                }
                h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
                r
            }
            Err(reason) => {
                (StatusCode::INTERNAL_SERVER_ERROR, format!("{reason}\n")).into_response()
            }
        }
    }
}

/// gzip at level 1: on a scrape's repetitive text it is within a few per
/// cent of the default level's size at a fraction of its CPU.
fn gzipped(body: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 8 + 64),
        flate2::Compression::fast(),
    );
    // Writing to a Vec cannot fail.
    let _ = gz.write_all(body);
    gz.finish().unwrap_or_default()
}

/// Whether an `Accept-Encoding` header accepts gzip (`gzip` or `*` with a
/// q-value above zero).
pub(super) fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            let q = parts
                .filter_map(|p| p.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
                .map_or(1.0, |(_, v)| v.trim().parse::<f64>().unwrap_or(0.0));
            (name.eq_ignore_ascii_case("gzip") || name == "*") && q > 0.0
        })
}

/// A body handed out in slices of one shared buffer; holds its scrape's
/// slot until the last slice is taken.
struct Sliced {
    bytes: Bytes,
    permit: Option<OwnedSemaphorePermit>,
}

impl http_body::Body for Sliced {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if self.bytes.is_empty() {
            self.permit = None;
            return Poll::Ready(None);
        }
        let n = self.bytes.len().min(SLICE);
        let slice = self.bytes.split_to(n);
        if self.bytes.is_empty() {
            self.permit = None;
        }
        Poll::Ready(Some(Ok(http_body::Frame::data(slice))))
    }

    fn is_end_stream(&self) -> bool {
        self.bytes.is_empty()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.bytes.len() as u64)
    }
}

#[cfg(all(test, not(tailwatch_loom)))]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_accepted_by_name_or_star_with_a_positive_q() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
            accepts_gzip(&m)
        };
        assert!(h("gzip"));
        assert!(h("deflate, GZIP;q=0.5"));
        assert!(h("*"));
        assert!(h("identity, *;q=0.1"));
        assert!(!h("gzip;q=0"));
        assert!(!h("deflate, br"));
        assert!(!h("gzipx"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn gzip_round_trips() {
        use std::io::Read;
        let text = "a_metric{label=\"value\"} 1\n".repeat(1000);
        let gz = gzipped(text.as_bytes());
        assert!(gz.len() < text.len() / 10, "{}", gz.len());
        let mut back = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut back)
            .unwrap();
        assert_eq!(back, text);
    }
}
