//! What `tailwatch load` records, per endpoint, in tailwatch's own HDR
//! histograms (3 significant digits: 0.1 % relative error; memory fixed
//! whatever the run's length, never a list of samples).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tailwatch::Histogram;
use tailwatch::engine::Snapshot;

/// The quantiles every report gives.
pub(crate) const QUANTILES: [f64; 5] = [0.5, 0.9, 0.95, 0.99, 0.999];

/// Why a request got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// No answer within `--timeout` (waiting for a connection included).
    Timeout,
    /// The connection was refused.
    Refused,
    /// The connection broke (reset, closed mid-answer).
    Reset,
    /// Anything else (no route to the host, out of descriptors…).
    Other,
}

impl Failure {
    pub(crate) const ALL: [Failure; 4] = [
        Failure::Timeout,
        Failure::Refused,
        Failure::Reset,
        Failure::Other,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Failure::Timeout => "timeout",
            Failure::Refused => "refused",
            Failure::Reset => "reset",
            Failure::Other => "other",
        }
    }
}

/// A histogram for one figure of a run: 1 µs to 1 hour at 3 significant
/// digits.
pub(crate) fn histogram() -> Histogram {
    Histogram::builder()
        .range(1_000, 3_600_000_000_000)
        .significant_digits(3)
        .build()
        .unwrap_or_default()
}

/// One endpoint's figures.
pub(crate) struct Recorder {
    /// From each request's scheduled send time to the end of its answer
    /// (what a user of the service waits; coordinated-omission-correct).
    pub(crate) latency: Histogram,
    /// From the moment it was written to the end of its answer (what the
    /// usual tools report; hides the time a request waited to be sent).
    pub(crate) service: Histogram,
    /// The server's own duration, from its `Server-Timing` header.
    pub(crate) server: Histogram,
    /// Per answer with a `Server-Timing`: the client's time (from writing
    /// the request) less the server's: the network, the accept queue, the
    /// work outside the measured handler.
    pub(crate) gap: Histogram,
    /// Answers by status code (hyper's are 100 to 999), by index.
    statuses: Box<[AtomicU64]>,
    /// Requests without an answer, by [`Failure`].
    failures: [AtomicU64; 4],
}

impl Default for Recorder {
    fn default() -> Self {
        Self {
            latency: histogram(),
            service: histogram(),
            server: histogram(),
            gap: histogram(),
            statuses: (0..1000).map(|_| AtomicU64::new(0)).collect(),
            failures: Default::default(),
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Recorder {
    /// An answer with `status`.
    pub(crate) fn answered(
        &self,
        status: u16,
        latency: Duration,
        service: Duration,
        server: Option<Duration>,
    ) {
        self.latency.record(nanos(latency));
        self.service.record(nanos(service));
        if let Some(s) = server {
            self.server.record(nanos(s));
            self.gap.record(nanos(service.saturating_sub(s)));
        }
        let last = self.statuses.len() - 1;
        self.statuses[usize::from(status).min(last)].fetch_add(1, Ordering::Relaxed);
    }

    /// A request without an answer; its latency is counted too (a user
    /// waited that long for nothing).
    pub(crate) fn failed(&self, why: Failure, latency: Duration) {
        self.latency.record(nanos(latency));
        self.failures[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Answers by status code.
    pub(crate) fn statuses(&self) -> BTreeMap<u16, u64> {
        (0u16..)
            .zip(self.statuses.iter())
            .map(|(s, n)| (s, n.load(Ordering::Relaxed)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// Requests that failed or got a status of 400 or more.
    pub(crate) fn errors(&self) -> u64 {
        let bad: u64 = self
            .statuses()
            .iter()
            .filter(|(s, _)| **s >= 400)
            .map(|(_, n)| n)
            .sum();
        bad + self
            .failures
            .iter()
            .map(|f| f.load(Ordering::Relaxed))
            .sum::<u64>()
    }

    /// Heap bytes of its histograms.
    pub(crate) fn heap_bytes(&self) -> usize {
        [&self.latency, &self.service, &self.server, &self.gap]
            .iter()
            .map(|h| h.heap_bytes())
            .sum()
    }

    /// Requests without an answer, by kind.
    pub(crate) fn failures(&self) -> Vec<(Failure, u64)> {
        Failure::ALL
            .iter()
            .map(|f| (*f, self.failures[*f as usize].load(Ordering::Relaxed)))
            .collect()
    }
}

/// The whole-run distribution of `h`.
pub(crate) fn snapshot(h: &Histogram) -> Snapshot {
    let mut snap = Snapshot::new(*h.layout());
    h.cumulative(&mut snap);
    snap
}

/// `snap`'s value at quantile `q`, in seconds.
pub(crate) fn seconds_at(snap: &Snapshot, q: f64) -> Option<f64> {
    snap.value_at_quantile(q).map(|ns| ns as f64 / 1e9)
}
