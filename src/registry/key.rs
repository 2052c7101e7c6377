//! Series identity: metric names and label sets, validated, hashed once,
//! and looked up by borrowed keys in any label order (no allocation).

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use hashbrown::Equivalent;

use super::error::RegistryError;

/// A label: `(name, value)`.
pub type Label<'a> = (&'a str, &'a str);

/// A label set owned, sorted by name.
pub(super) type OwnedLabels = Vec<(Box<str>, Box<str>)>;

/// The identity of a series: metric name and label set (sorted by label name).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SeriesId {
    pub(super) name: Arc<str>,
    pub(super) labels: Arc<[(Box<str>, Box<str>)]>,
}

impl SeriesId {
    /// The metric name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The labels, sorted by name.
    pub fn labels(&self) -> impl ExactSizeIterator<Item = Label<'_>> {
        self.labels.iter().map(|(k, v)| (&**k, &**v))
    }

    /// The value of label `name`, if present.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .binary_search_by(|(k, _)| (**k).cmp(name))
            .ok()
            .map(|i| &*self.labels[i].1)
    }
}

/// A map key: the id and its hash, computed once.
pub(super) struct Key {
    pub(super) hash: u64,
    pub(super) id: SeriesId,
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.id == other.id
    }
}

impl Eq for Key {}

/// The borrowed form a caller looks up with (labels in any order).
#[derive(Clone, Copy)]
pub(super) struct Lookup<'a, 'l> {
    pub(super) hash: u64,
    pub(super) name: &'a str,
    pub(super) labels: &'a [Label<'l>],
}

impl Hash for Lookup<'_, '_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl Equivalent<Key> for Lookup<'_, '_> {
    fn equivalent(&self, key: &Key) -> bool {
        let stored = &key.id.labels;
        if key.hash != self.hash
            || !same(&key.id.name, self.name)
            || stored.len() != self.labels.len()
        {
            return false;
        }
        // Common case: the caller passes the labels in sorted order.
        if stored
            .iter()
            .zip(self.labels)
            .all(|((k, v), (lk, lv))| same(k, lk) && same(v, lv))
        {
            return true;
        }
        // Any order: every given label must hit a distinct stored one (so a
        // lookup that repeats a label cannot match).
        let mut hit = 0_u128;
        for (k, v) in self.labels {
            match stored.iter().position(|(sk, _)| same(sk, k)) {
                Some(i) if i < 128 && same(&stored[i].1, v) => hit |= 1 << i,
                Some(i) if i >= 128 && same(&stored[i].1, v) => {}
                _ => return false,
            }
        }
        if stored.len() <= 128 {
            return hit.count_ones() as usize == stored.len();
        }
        // Beyond 128 labels, check the other direction too.
        stored.iter().all(|(k, v)| {
            self.labels
                .iter()
                .any(|(lk, lv)| same(k, lk) && same(v, lv))
        })
    }
}

/// String equality without an out-of-line `memcmp` call: label names and
/// values are short, and most mismatches differ in length.
#[inline(always)]
pub(crate) fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let (mut ca, mut cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let word = |c: &[u8]| <[u8; 8]>::try_from(c).map_or(0, u64::from_ne_bytes);
    (&mut ca).zip(&mut cb).all(|(x, y)| word(x) == word(y))
        && ca
            .remainder()
            .iter()
            .zip(cb.remainder())
            .all(|(x, y)| x == y)
}

/// The map hashes keys by their precomputed hash.
#[derive(Default)]
pub(super) struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Validates a metric name and label set and returns the labels owned and
/// sorted by name (the form a [`SeriesId`] keeps), each value cut to
/// `max_value` bytes; and whether one was cut.
pub(super) fn canonical(
    name: &str,
    labels: &[Label<'_>],
    limits: LabelLimits,
) -> Result<(OwnedLabels, bool), RegistryError> {
    validate_metric_name(name)?;
    if labels.len() > limits.max_labels {
        return Err(RegistryError::TooManyLabels {
            name: name.to_owned(),
            count: labels.len(),
            max: limits.max_labels,
        });
    }
    let mut owned: OwnedLabels = Vec::with_capacity(labels.len());
    let mut truncated = false;
    for &(k, v) in labels {
        if k.len() > limits.max_name {
            return Err(RegistryError::LabelNameTooLong {
                name: name.to_owned(),
                start: k.chars().take(32).collect(),
                bytes: k.len(),
                max: limits.max_name,
            });
        }
        validate_label_name(k)?;
        let v = match cut(v, limits.max_value) {
            Some(short) => {
                truncated = true;
                short.into()
            }
            None => v.into(),
        };
        owned.push((k.into(), v));
    }
    owned.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    if let Some(w) = owned.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(RegistryError::DuplicateLabel(w[0].0.to_string()));
    }
    Ok((owned, truncated))
}

/// The limits on a series' labels: how many, how long a name, how long a
/// value (a longer value is cut, the others are refused).
#[derive(Debug, Clone, Copy)]
pub(super) struct LabelLimits {
    pub(super) max_labels: usize,
    pub(super) max_name: usize,
    pub(super) max_value: usize,
}

/// The mark that ends a value cut to the length limit.
const CUT_MARK: &str = "…";

/// `value` cut to at most `max` bytes at a character boundary and ending
/// in `…`, if it is longer.
pub(crate) fn cut(value: &str, max: usize) -> Option<String> {
    if value.len() <= max {
        return None;
    }
    let mut end = max.saturating_sub(CUT_MARK.len());
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    Some(format!("{}{CUT_MARK}", &value[..end]))
}

fn validate_metric_name(name: &str) -> Result<(), RegistryError> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    if ok {
        Ok(())
    } else {
        Err(RegistryError::InvalidMetricName(name.to_owned()))
    }
}

fn validate_label_name(name: &str) -> Result<(), RegistryError> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__");
    if !ok {
        return Err(RegistryError::InvalidLabelName(name.to_owned()));
    }
    if RESERVED_LABELS.contains(&name) {
        return Err(RegistryError::ReservedLabelName(name.to_owned()));
    }
    Ok(())
}

/// Label names the exposition itself writes: a series carrying one would
/// make Prometheus refuse the whole scrape (`le` on histogram buckets,
/// `quantile` on the window summaries).
pub(crate) const RESERVED_LABELS: [&str; 2] = ["le", "quantile"];

#[cfg(all(test, not(tailwatch_loom)))]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_cut_at_a_character_boundary() {
        assert_eq!(cut("short", 10), None);
        assert_eq!(cut("abcdefghij", 10), None);
        assert_eq!(cut("abcdefghijk", 10).unwrap(), "abcdefg…");
        // "é" is two bytes: never cut in half.
        let v = "éééééé";
        let c = cut(v, 8).unwrap();
        assert!(c.len() <= 8 && c.ends_with('…'), "{c}");
        assert_eq!(c, "éé…");
        let (labels, cut_one) = canonical(
            "m",
            &[("a", &"x".repeat(5000))],
            LabelLimits {
                max_labels: 32,
                max_name: 128,
                max_value: 1024,
            },
        )
        .unwrap();
        assert!(cut_one);
        assert_eq!(labels[0].1.len(), 1024);
    }

    #[test]
    fn same_agrees_with_string_equality() {
        let base = "abcdefghijklmnopqrstuvwxyz0123456789";
        for len in 0..base.len() {
            let a = &base[..len];
            assert!(same(a, a));
            assert!(!same(a, &base[..len + 1]));
            for pos in 0..len {
                let mut b = a.to_owned().into_bytes();
                b[pos] = b'#';
                let b = String::from_utf8(b).unwrap();
                assert_eq!(same(a, &b), a == b, "{a} vs {b}");
            }
        }
    }
}
