//! The Prometheus text exposition format (0.0.4, and OpenMetrics' text, which differs only in
//! what this reader skips) as engines serve it on `/metrics`: every sample line's name, labels
//! and value. Comments (`# HELP`, `# TYPE`, `# EOF`) and timestamps are skipped; metric names may
//! contain `:` (`vllm:*`, `sglang:*`), which some parsers drop.
//!
//! The text comes from a network peer: a malformed line is skipped, never a panic, and at most
//! [`MAX_SAMPLES`] samples are kept (the body itself is capped by the scrape).

use std::borrow::Cow;

/// The most samples one scrape yields; the rest of a larger exposition is ignored.
pub(crate) const MAX_SAMPLES: usize = 100_000;

/// One sample line: `name{label="value",...} value [timestamp]`. A histogram's or summary's
/// series keep their own names (`NAME_bucket`, `NAME_sum`, `NAME_count`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample<'a> {
    pub(crate) name: &'a str,
    pub(crate) labels: Vec<(&'a str, Cow<'a, str>)>,
    pub(crate) value: f64,
}

impl Sample<'_> {
    /// The value of label `key`, if the sample has it.
    pub(crate) fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_ref())
    }
}

/// Every well-formed sample of `text`, in order.
pub(crate) fn parse(text: &str) -> Vec<Sample<'_>> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(sample)
        .take(MAX_SAMPLES)
        .collect()
}

/// One sample line, or `None` when it is malformed.
fn sample(line: &str) -> Option<Sample<'_>> {
    let name_end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        rest = label_set(inner, &mut labels)?;
    }
    let value = rest.split_whitespace().next()?;
    Some(Sample {
        name,
        labels,
        value: number(value)?,
    })
}

/// Reads `k="v",...}` into `labels`; returns what follows the closing brace.
fn label_set<'a>(mut s: &'a str, labels: &mut Vec<(&'a str, Cow<'a, str>)>) -> Option<&'a str> {
    loop {
        s = s.trim_start();
        if let Some(after) = s.strip_prefix('}') {
            return Some(after);
        }
        let eq = s.find('=')?;
        let key = s[..eq].trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return None;
        }
        let (value, after) = quoted(s[eq + 1..].trim_start())?;
        labels.push((key, value));
        s = after.trim_start();
        s = s.strip_prefix(',').unwrap_or(s);
    }
}

/// A double-quoted label value with `\\`, `\"` and `\n` escapes, and what follows it.
fn quoted(s: &str) -> Option<(Cow<'_, str>, &str)> {
    let body = s.strip_prefix('"')?;
    let mut owned: Option<String> = None;
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                let value = owned.map_or(Cow::Borrowed(&body[..i]), Cow::Owned);
                return Some((value, &body[i + 1..]));
            }
            '\\' => {
                let out = owned.get_or_insert_with(|| body[..i].to_string());
                match chars.next()?.1 {
                    'n' => out.push('\n'),
                    other => out.push(other),
                }
            }
            c => {
                if let Some(out) = owned.as_mut() {
                    out.push(c);
                }
            }
        }
    }
    None
}

/// A sample value: a float, `NaN`, `+Inf` or `-Inf`.
fn number(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_colons_labels_and_histogram_series_are_read() {
        let text = "# HELP vllm:num_requests_running Number of requests.\n\
                    # TYPE vllm:num_requests_running gauge\n\
                    vllm:num_requests_running{model_name=\"m\",engine=\"0\"} 3.0\n\
                    # TYPE vllm:e2e_request_latency_seconds histogram\n\
                    vllm:e2e_request_latency_seconds_bucket{le=\"+Inf\",model_name=\"m\"} 7\n\
                    vllm:e2e_request_latency_seconds_sum{model_name=\"m\"} 1.5e1 1700000000000\n\
                    vllm:e2e_request_latency_seconds_count{model_name=\"m\"} 7\n\
                    process_open_fds 12\n";
        let s = parse(text);
        assert_eq!(s.len(), 5);
        assert_eq!(s[0].name, "vllm:num_requests_running");
        assert_eq!(s[0].label("engine"), Some("0"));
        assert_eq!(s[0].value, 3.0);
        assert_eq!(s[1].label("le"), Some("+Inf"));
        assert_eq!(s[2].name, "vllm:e2e_request_latency_seconds_sum");
        assert_eq!(s[2].value, 15.0);
        assert_eq!(s[4].name, "process_open_fds");
        assert!(s[4].labels.is_empty());
    }

    #[test]
    fn escaped_label_values_and_special_numbers() {
        let text = "info{path=\"C:\\\\x\",msg=\"say \\\"hi\\\"\\n\",} 1\nnan_metric NaN\ninf_metric +Inf\n";
        let s = parse(text);
        assert_eq!(s[0].label("path"), Some("C:\\x"));
        assert_eq!(s[0].label("msg"), Some("say \"hi\"\n"));
        assert!(s[1].value.is_nan());
        assert_eq!(s[2].value, f64::INFINITY);
    }

    #[test]
    fn malformed_lines_are_skipped_not_fatal() {
        let text = "good 1\n{no_name=\"x\"} 2\nbad{unterminated=\"x 3\nbad2{k=v} 4\nno_value\n9starts_with_digit 5\nlast{a=\"b\"} notanumber\nalso_good{a=\"b\"} 6\n";
        let s = parse(text);
        let names: Vec<&str> = s.iter().map(|x| x.name).collect();
        assert_eq!(names, ["good", "also_good"]);
        assert_eq!(s[1].value, 6.0);
    }

    #[test]
    fn a_huge_exposition_is_capped() {
        let text = "m 1\n".repeat(MAX_SAMPLES + 10);
        assert_eq!(parse(&text).len(), MAX_SAMPLES);
    }
}
