//! [`Format`]: which exposition format a scrape gets, negotiated from its
//! `Accept` header.

/// An exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// Prometheus text format 0.0.4 (`text/plain; version=0.0.4`).
    Prometheus,
    /// OpenMetrics 1.0 (`application/openmetrics-text; version=1.0.0`).
    OpenMetrics,
    /// The Prometheus protobuf format (length-delimited
    /// `io.prometheus.client.MetricFamily` messages): the only one with
    /// native histograms. Binary: write it with
    /// [`encode`](crate::export::encode).
    Protobuf,
}

impl Format {
    /// The format an `Accept` header asks for: the acceptable media range
    /// with the highest q-value among those tailwatch writes (protobuf
    /// needs `proto=io.prometheus.client.MetricFamily` and
    /// `encoding=delimited`); on a tie, protobuf, then OpenMetrics, then
    /// text. `q=0` refuses a format. No header, or nothing acceptable:
    /// text 0.0.4, which every Prometheus reads.
    ///
    /// ```
    /// use tailwatch::export::Format;
    /// // What Prometheus 2.x sends with --enable-feature=native-histograms:
    /// let accept = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;\
    ///     encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,\
    ///     text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    /// assert_eq!(Format::from_accept(Some(accept)), Format::Protobuf);
    /// assert_eq!(
    ///     Format::from_accept(Some("application/openmetrics-text;q=0, text/plain")),
    ///     Format::Prometheus
    /// );
    /// ```
    pub fn from_accept(accept: Option<&str>) -> Self {
        let Some(accept) = accept else {
            return Format::Prometheus;
        };
        let mut best: Option<(f64, u8, Format)> = None;
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or("").to_ascii_lowercase();
            let mut q: f64 = 1.0;
            let (mut proto, mut delimited) = (false, false);
            for param in parts {
                let Some((k, v)) = param.split_once('=') else {
                    continue;
                };
                let v = v.trim().trim_matches('"');
                match k.trim().to_ascii_lowercase().as_str() {
                    "q" => q = v.parse().unwrap_or(0.0),
                    "proto" => proto = v == "io.prometheus.client.MetricFamily",
                    "encoding" => delimited = v == "delimited",
                    _ => {}
                }
            }
            if q.is_nan() || q <= 0.0 {
                continue;
            }
            let format = match media.as_str() {
                "application/vnd.google.protobuf" if proto && delimited => Format::Protobuf,
                "application/openmetrics-text" => Format::OpenMetrics,
                "text/plain" | "text/*" | "*/*" => Format::Prometheus,
                _ => continue,
            };
            let preference = match format {
                Format::Protobuf => 3,
                Format::OpenMetrics => 2,
                Format::Prometheus => 1,
            };
            if best.is_none_or(|(bq, bp, _)| q > bq || (q == bq && preference > bp)) {
                best = Some((q, preference, format));
            }
        }
        best.map_or(Format::Prometheus, |(_, _, f)| f)
    }

    /// The `Content-Type` of this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Protobuf => {
                "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
            }
        }
    }
}

#[cfg(all(test, not(tailwatch_loom)))]
mod tests {
    use super::*;

    #[test]
    fn accept_negotiation_follows_q_values() {
        let f = |a| Format::from_accept(Some(a));
        assert_eq!(Format::from_accept(None), Format::Prometheus);
        assert_eq!(f(""), Format::Prometheus);
        assert_eq!(f("application/json"), Format::Prometheus);
        assert_eq!(f("application/openmetrics-text"), Format::OpenMetrics);
        // Prometheus 2.x without native histograms.
        assert_eq!(
            f(
                "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
            ),
            Format::OpenMetrics
        );
        assert_eq!(
            f("text/plain;q=0.9, application/openmetrics-text;q=0.5"),
            Format::Prometheus
        );
        assert_eq!(f("application/openmetrics-text;q=0"), Format::Prometheus);
        // Protobuf only with the right proto and encoding.
        assert_eq!(f("application/vnd.google.protobuf"), Format::Prometheus);
        assert_eq!(
            f(
                "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text"
            ),
            Format::Prometheus
        );
        assert_eq!(
            f(
                "application/vnd.google.protobuf; proto=\"io.prometheus.client.MetricFamily\"; encoding=delimited; q=0.2, text/plain;q=0.1"
            ),
            Format::Protobuf
        );
        assert_eq!(f("*/*"), Format::Prometheus);
        assert_eq!(f("garbage;;;q=x,"), Format::Prometheus);
    }
}
