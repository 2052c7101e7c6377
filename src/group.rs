//! Grouping a family's series over their outcome labels: one view per
//! route or operation, as people read it, shared by `/stats`
//! ([`Monitor::all_stats`](crate::Monitor::all_stats)) and the
//! exposition's window gauges, so the two always agree.

use crate::histogram::Histogram;
use crate::registry::SeriesId;

/// Labels that describe how a call ended rather than what was called.
pub(crate) const OUTCOME_LABELS: [&str; 3] = ["http_response_status_code", "error_type", "outcome"];

/// An owned label set, sorted by name.
pub(crate) type Labels = Vec<(String, String)>;

/// How the calls of one series ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// Finished without error.
    Ok,
    /// Finished with an error (`error_type` set, or `outcome="error"`).
    Error,
    /// Cancelled: its duration is truncated, so it is left out of latency.
    Cancelled,
}

/// One series of a family, with its group key.
#[derive(Debug)]
pub(crate) struct Member {
    /// The series' own labels.
    pub(crate) labels: Labels,
    /// Its labels without the outcome labels: the group it belongs to.
    pub(crate) group: Labels,
    pub(crate) ending: Ending,
    pub(crate) histogram: Histogram,
}

impl Member {
    pub(crate) fn new(id: &SeriesId, histogram: Histogram) -> Self {
        let labels: Labels = id
            .labels()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let outcome = |k: &str| OUTCOME_LABELS.contains(&k);
        let ending = if labels.iter().any(|(k, v)| outcome(k) && v == "cancelled") {
            Ending::Cancelled
        } else if labels
            .iter()
            .any(|(k, v)| k == "error_type" || (k == "outcome" && v == "error"))
        {
            Ending::Error
        } else {
            Ending::Ok
        };
        let group = labels
            .iter()
            .filter(|(k, _)| !outcome(k))
            .cloned()
            .collect();
        Self {
            labels,
            group,
            ending,
            histogram,
        }
    }
}

/// Sorts members so that each group is contiguous (then by own labels)
/// and returns the ranges of the groups.
pub(crate) fn groups(members: &mut [Member]) -> Vec<std::ops::Range<usize>> {
    members.sort_by(|a, b| (&a.group, &a.labels).cmp(&(&b.group, &b.labels)));
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=members.len() {
        if i == members.len() || members[i].group != members[start].group {
            if i > start {
                out.push(start..i);
            }
            start = i;
        }
    }
    out
}
