//! Writing the text formats (Prometheus 0.0.4 and OpenMetrics 1.0): label
//! escaping, sample lines, `# HELP`/`# TYPE` headers, gauge and counter
//! families.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::registry::SeriesId;

/// A label set, owned.
pub(super) type Labels = Vec<(String, String)>;

/// Escapes a label value for the text formats.
pub fn escape_into(out: &mut String, value: &str) {
    if !value.bytes().any(|b| matches!(b, b'\\' | b'"' | b'\n')) {
        out.push_str(value);
        return;
    }
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// `k="v",k2="v2"` (escaped, empty values left out, no braces): the
/// labels of a series, written once and reused for all its lines.
pub(super) fn label_body<'a>(out: &mut String, pairs: impl Iterator<Item = (&'a str, &'a str)>) {
    out.clear();
    for (k, v) in pairs.filter(|(_, v)| !v.is_empty()) {
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(k);
        out.push_str("=\"");
        escape_into(out, v);
        out.push('"');
    }
}

/// `name{body,extra}␠` (braces only when there are labels); `extra`'s
/// value must not need escaping.
pub(super) fn head(out: &mut String, name: &str, body: &str, extra: Option<(&str, &str)>) {
    out.push_str(name);
    if !body.is_empty() || extra.is_some() {
        out.push('{');
        out.push_str(body);
        if let Some((k, v)) = extra {
            if !body.is_empty() {
                out.push(',');
            }
            out.push_str(k);
            out.push_str("=\"");
            out.push_str(v);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
}

/// An integer sample value and the end of its line.
pub(super) fn int_line(out: &mut String, v: u64) {
    let _ = writeln!(out, "{v}");
}

/// A float sample value and the end of its line.
pub(super) fn float_line(out: &mut String, v: f64) {
    number(out, v);
    out.push('\n');
}

pub(super) fn number(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{v}");
    }
}

pub(super) fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// `x_seconds` → `x_<part>_seconds`; other names → `x_<part>`.
pub(super) fn derived(name: &str, part: &str) -> String {
    match name.strip_suffix("_seconds") {
        Some(base) => format!("{base}_{part}_seconds"),
        None => format!("{name}_{part}"),
    }
}

/// A sample value as the text formats write it.
#[derive(Debug, Clone, Copy)]
pub(super) enum Num {
    /// Counts and integer gauges (u64 and i64 both fit).
    Int(i128),
    Float(f64),
}

/// Scalar samples (gauges, counters) by metric name.
pub(super) type Scalars = BTreeMap<String, Vec<(Labels, Num)>>;

/// Adds every `(id, handle)` to `into`, read by `read`.
pub(super) fn add_scalars<H>(
    into: &mut Scalars,
    handles: Vec<(SeriesId, H)>,
    read: impl Fn(&H) -> Num,
) {
    for (id, h) in handles {
        let labels = id
            .labels()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        into.entry(id.name().to_owned())
            .or_default()
            .push((labels, read(&h)));
    }
}

/// Writes each family, its samples sorted by labels: a counter when
/// `counter(name)` (in OpenMetrics the family is named without `_total`
/// and its samples with it), else a gauge.
pub(super) fn scalar_families(
    out: &mut String,
    families: Scalars,
    om: bool,
    counter: impl Fn(&str) -> bool,
    help: impl Fn(&str) -> &'static str,
) {
    let mut body = String::new();
    for (name, mut values) in families {
        values.sort_by(|a, b| a.0.cmp(&b.0));
        let is_counter = counter(&name);
        let family = name.strip_suffix("_total").unwrap_or(&name);
        let (type_name, sample_name) = match (is_counter, om) {
            (true, true) => (family.to_owned(), format!("{family}_total")),
            _ => (name.clone(), name.clone()),
        };
        header(
            out,
            &type_name,
            if is_counter { "counter" } else { "gauge" },
            help(&name),
        );
        for (l, v) in &values {
            label_body(&mut body, l.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            head(out, &sample_name, &body, None);
            match *v {
                Num::Int(i) => {
                    let _ = writeln!(out, "{i}");
                }
                Num::Float(f) => float_line(out, f),
            }
        }
    }
}
