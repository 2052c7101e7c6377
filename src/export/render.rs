//! [`render`] and [`encode`]: everything a monitor holds, in one exposition.

use super::buckets::Buckets;
use super::format::Format;
use super::protobuf::ProtoSink;
use super::text::TextSink;
use super::walk::{LastScrape, walk};
use crate::measure::Monitor;

/// Renders everything `monitor` holds in a text format. The protobuf
/// format is binary: for [`Format::Protobuf`] this writes the text format
/// 0.0.4 instead; use [`encode`] to get every format as bytes.
pub fn render(monitor: &Monitor, buckets: &Buckets, format: Format) -> String {
    let started = quanta::Instant::now();
    let last = LastScrape::of(monitor);
    let mut sink = TextSink::new(last.capacity(), format == Format::OpenMetrics);
    walk(monitor, buckets, &mut sink);
    let out = sink.finish();
    last.done(started, out.len());
    out
}

/// Encodes everything `monitor` holds in `format`, as the body of a
/// `/metrics` response whose `Content-Type` is
/// [`format.content_type()`](Format::content_type).
pub fn encode(monitor: &Monitor, buckets: &Buckets, format: Format) -> Vec<u8> {
    match format {
        Format::Protobuf => {
            let started = quanta::Instant::now();
            let last = LastScrape::of(monitor);
            let mut sink = ProtoSink::new(last.capacity());
            walk(monitor, buckets, &mut sink);
            let out = sink.finish();
            last.done(started, out.len());
            out
        }
        text => render(monitor, buckets, text).into_bytes(),
    }
}
