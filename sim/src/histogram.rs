//! A Prometheus histogram with fixed buckets, rendered in the text exposition format (the sim's
//! `/metrics` and its P/D figures use it).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// A Prometheus histogram with fixed buckets: of seconds (its sum kept in ns) or of counts.
#[derive(Debug)]
pub(crate) struct Histogram {
    bounds: &'static [f64],
    /// Non-cumulative count per bucket; the last one is +Inf.
    counts: Vec<AtomicU64>,
    /// The sum in integer units: ns for a histogram of seconds, 1 for counts.
    sum_ns: AtomicU64,
    /// Units of `sum_ns` per rendered unit (1e9 for seconds).
    per_unit: f64,
}

impl Histogram {
    pub(crate) fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_ns: AtomicU64::new(0),
            per_unit: 1e9,
        }
    }

    pub(crate) fn of_counts(bounds: &'static [f64]) -> Self {
        Histogram {
            per_unit: 1.0,
            ..Histogram::new(bounds)
        }
    }

    /// Records one observation of a count (a histogram made by `of_counts`).
    pub(crate) fn observe_count(&self, v: u64) {
        let i = self.bounds.partition_point(|b| *b < v as f64);
        self.counts[i].fetch_add(1, Relaxed);
        self.sum_ns.fetch_add(v, Relaxed);
    }

    /// Records `n` observations of `d`.
    pub(crate) fn observe_n(&self, d: Duration, n: u64) {
        if n == 0 {
            return;
        }
        let s = d.as_secs_f64();
        let i = self.bounds.partition_point(|b| *b < s);
        self.counts[i].fetch_add(n, Relaxed);
        self.sum_ns
            .fetch_add((d.as_nanos() as u64).saturating_mul(n), Relaxed);
    }

    pub(crate) fn observe(&self, d: Duration) {
        self.observe_n(d, 1);
    }

    /// Total number of observations.
    #[cfg(test)]
    pub(crate) fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Relaxed)).sum()
    }

    pub(crate) fn render(&self, out: &mut String, name: &str, help: &str, labels: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cum = 0;
        for (i, c) in self.counts.iter().enumerate() {
            cum += c.load(Relaxed);
            let le = match self.bounds.get(i) {
                Some(b) => format!("{b:?}"),
                None => "+Inf".to_string(),
            };
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cum}");
        }
        let sum = self.sum_ns.load(Relaxed) as f64 / self.per_unit;
        let _ = writeln!(
            out,
            "{name}_sum{{{labels}}} {sum:?}\n{name}_count{{{labels}}} {cum}"
        );
    }
}
