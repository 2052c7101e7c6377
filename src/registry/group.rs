//! Grouping a family's series over their outcome labels: one view per
//! route or operation, as people read it, shared by `/stats`
//! ([`Monitor::all_stats`](crate::Monitor::all_stats)) and the
//! exposition's window gauges, so the two always agree.

use std::cmp::Ordering;

use crate::engine::histogram::Histogram;
use crate::registry::{Label, SeriesId};

/// Labels that describe how a call ended rather than what was called.
pub(crate) const OUTCOME_LABELS: [&str; 4] = [
    "http_response_status_code",
    "rpc_grpc_status_code",
    "error_type",
    "outcome",
];

/// How a call ended: the `outcome` label of an operation, and how the
/// series of a route or method are grouped (`/stats`, the window gauges).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ended {
    /// Finished, not an error.
    Ok,
    /// Finished with an error, or panicked.
    Error,
    /// Dropped before it finished (a future that was not polled to the
    /// end, a client that went away): its duration is truncated, so it is
    /// left out of latency figures.
    Cancelled,
}

impl Ended {
    /// The label value: `"ok"`, `"error"` or `"cancelled"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Ended::Ok => "ok",
            Ended::Error => "error",
            Ended::Cancelled => "cancelled",
        }
    }
}

/// One series of a family, with what its group is (no allocation: the
/// labels are borrowed from its id).
#[derive(Debug)]
pub(crate) struct Member {
    pub(crate) id: SeriesId,
    /// Bit `i` set when label `i` is an outcome label.
    outcome_mask: u64,
    pub(crate) ending: Ended,
    pub(crate) histogram: Histogram,
}

impl Member {
    pub(crate) fn new(id: SeriesId, histogram: Histogram) -> Self {
        let mut outcome_mask = 0;
        let mut cancelled = false;
        let mut error = false;
        for (i, (k, v)) in id.labels().enumerate() {
            if OUTCOME_LABELS.contains(&k) {
                outcome_mask |= 1_u64 << i.min(63);
                cancelled |= v == "cancelled";
            }
            error |= k == "error_type" || (k == "outcome" && v == "error");
        }
        let ending = if cancelled {
            Ended::Cancelled
        } else if error {
            Ended::Error
        } else {
            Ended::Ok
        };
        Self {
            id,
            outcome_mask,
            ending,
            histogram,
        }
    }

    /// The series' own labels.
    pub(crate) fn labels(&self) -> impl Iterator<Item = Label<'_>> {
        self.id.labels()
    }

    /// Its labels without the outcome labels: the group it belongs to.
    pub(crate) fn group(&self) -> impl Iterator<Item = Label<'_>> {
        let mask = self.outcome_mask;
        self.id
            .labels()
            .enumerate()
            .filter(move |(i, _)| mask & (1_u64 << (*i).min(63)) == 0)
            .map(|(_, l)| l)
    }

    /// Its outcome labels only (how its calls ended).
    pub(crate) fn outcome_labels(&self) -> impl Iterator<Item = Label<'_>> {
        let mask = self.outcome_mask;
        self.id
            .labels()
            .enumerate()
            .filter(move |(i, _)| mask & (1_u64 << (*i).min(63)) != 0)
            .map(|(_, l)| l)
    }

    fn same_group(&self, other: &Self) -> bool {
        self.group().eq(other.group())
    }
}

fn order(a: &Member, b: &Member) -> Ordering {
    a.group()
        .cmp(b.group())
        .then_with(|| a.labels().cmp(b.labels()))
}

/// Sorts members so that each group is contiguous (then by own labels)
/// and returns the ranges of the groups.
pub(crate) fn groups(members: &mut [Member]) -> Vec<std::ops::Range<usize>> {
    members.sort_unstable_by(order);
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=members.len() {
        if i == members.len() || !members[i].same_group(&members[start]) {
            if i > start {
                out.push(start..i);
            }
            start = i;
        }
    }
    out
}

/// The series as families (one per metric name, by name), each a list of
/// members.
pub(crate) fn families(series: Vec<(SeriesId, Histogram)>) -> Vec<Vec<Member>> {
    let mut members: Vec<Member> = series
        .into_iter()
        .map(|(id, h)| Member::new(id, h))
        .collect();
    // Unstable is enough: each family is sorted again by `groups`.
    members.sort_unstable_by(|a, b| a.id.name().cmp(b.id.name()));
    let mut out: Vec<Vec<Member>> = Vec::new();
    for m in members {
        match out.last_mut() {
            Some(family) if family[0].id.name() == m.id.name() => family.push(m),
            _ => out.push(vec![m]),
        }
    }
    out
}
