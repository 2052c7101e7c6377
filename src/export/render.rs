//! [`render`] and [`encode`]: everything a monitor holds, in one exposition.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::buckets::Buckets;
use super::format::Format;
use super::protobuf::ProtoSink;
use super::text::TextSink;
use super::walk::{scrape_took, walk};
use crate::measure::Monitor;

/// Length of the previous scrape, in bytes: the next one's buffer is sized
/// from it (one allocation, no regrowth copies).
static LAST_SCRAPE_LEN: AtomicUsize = AtomicUsize::new(0);

fn capacity() -> usize {
    let last = LAST_SCRAPE_LEN.load(Ordering::Relaxed);
    (last + last / 8).max(16 * 1024)
}

/// Renders everything `monitor` holds in a text format. The protobuf
/// format is binary: for [`Format::Protobuf`] this writes the text format
/// 0.0.4 instead; use [`encode`] to get every format as bytes.
pub fn render(monitor: &Monitor, buckets: &Buckets, format: Format) -> String {
    let started = quanta::Instant::now();
    let mut sink = TextSink::new(capacity(), format == Format::OpenMetrics);
    walk(monitor, buckets, &mut sink);
    let out = sink.finish();
    LAST_SCRAPE_LEN.store(out.len(), Ordering::Relaxed);
    scrape_took(started);
    out
}

/// Encodes everything `monitor` holds in `format`, as the body of a
/// `/metrics` response whose `Content-Type` is
/// [`format.content_type()`](Format::content_type).
pub fn encode(monitor: &Monitor, buckets: &Buckets, format: Format) -> Vec<u8> {
    match format {
        Format::Protobuf => {
            let started = quanta::Instant::now();
            let mut sink = ProtoSink::new(capacity());
            walk(monitor, buckets, &mut sink);
            let out = sink.finish();
            LAST_SCRAPE_LEN.store(out.len(), Ordering::Relaxed);
            scrape_took(started);
            out
        }
        text => render(monitor, buckets, text).into_bytes(),
    }
}
