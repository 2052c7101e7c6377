//! The `# HELP` text of the metrics the exposition itself writes (its
//! self-metrics); every other metric's help is given where it is defined
//! (`Registry::describe`).

/// The help of `name`: its described text, else the exposition's own.
pub(super) fn help_of<'a>(described: &'a HelpTexts, name: &str) -> &'a str {
    match described.get(name) {
        Some(help) => help,
        None => own(name),
    }
}

/// Help texts given with `Registry::describe`, read once per scrape.
pub(super) type HelpTexts = std::collections::HashMap<String, std::sync::Arc<str>>;

fn own(name: &str) -> &'static str {
    match name {
        "tailwatch_series" => "Live series per metric, the overflow series included.",
        "tailwatch_series_overflow_total" => "Label sets folded into an overflow series or value.",
        "tailwatch_values_clamped_total" => {
            "Values recorded at the edge of the range instead of their own value."
        }
        "tailwatch_values_rejected_total" => "Values refused (NaN).",
        "tailwatch_label_values_truncated_total" => {
            "Label sets with a value cut to the length limit (it ends in …)."
        }
        "tailwatch_scrape_duration_seconds" => "Time the previous scrape took to render.",
        "tailwatch_facade_renamed_total" => {
            "Series the metrics facade registered under another name than given (invalid or reserved names and label names)."
        }
        _ => "No description given.",
    }
}
