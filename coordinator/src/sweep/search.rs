//! The SLA search: geometric bisection between `lo` and `hi` for the highest rate (or
//! concurrency) whose probe meets every SLA target, with at most `max_probes` probes, and the
//! check of one probe's report against the targets (from the report's own percentiles).

use super::spec::{SearchOver, SearchSpec, Target};
use fleetbench_report::{BenchmarkRun, StageVerdict, Statistics, Verdict};

/// The state of one point's bisection.
#[derive(Debug, Clone)]
pub(crate) struct Bisection {
    over: SearchOver,
    /// Highest value known to meet the SLA (a probe passed), or the search's `lo` before one did.
    lo: f64,
    /// Lowest value known to miss it, or the search's `hi` before one did.
    hi: f64,
    lo_seen: bool,
    hi_seen: bool,
    precision: f64,
    probes_left: u32,
}

impl Bisection {
    pub(crate) fn new(s: &SearchSpec) -> Bisection {
        Bisection {
            over: s.over,
            lo: s.lo,
            hi: s.hi,
            lo_seen: false,
            hi_seen: false,
            precision: s.precision,
            probes_left: s.max_probes,
        }
    }

    /// The next value to probe, or None when the search is over.
    pub(crate) fn next(&self) -> Option<f64> {
        if self.probes_left == 0 {
            return None;
        }
        if self.hi / self.lo > 1.0 + self.precision {
            let mid = (self.lo * self.hi).sqrt();
            let mid = match self.over {
                SearchOver::Rate => Some(mid),
                // Whole users strictly inside the bracket, if there are any.
                SearchOver::Concurrency if self.hi - self.lo >= 2.0 => {
                    Some(mid.round().clamp(self.lo + 1.0, self.hi - 1.0))
                }
                SearchOver::Concurrency => None,
            };
            if let Some(mid) = mid {
                return Some(mid);
            }
        }
        // The bracket is narrow: confirm an end no probe has tested (lo first: without a
        // passing probe there is no answer; then hi: maybe everything passes).
        if !self.lo_seen {
            return Some(self.lo);
        }
        if !self.hi_seen {
            return Some(self.hi);
        }
        None
    }

    /// Records a probe's outcome at `value`.
    pub(crate) fn record(&mut self, value: f64, met: bool) {
        self.probes_left = self.probes_left.saturating_sub(1);
        if met {
            if value >= self.lo {
                self.lo = value;
                self.lo_seen = true;
            }
            if value >= self.hi {
                self.hi_seen = true;
            }
        } else {
            if value <= self.hi {
                self.hi = value;
                self.hi_seen = true;
            }
            if value <= self.lo {
                // Even the lowest value missed: nothing meets the SLA in the range.
                self.lo_seen = true;
                self.lo = value;
                self.hi = value;
            }
        }
    }

    /// The highest value that met the SLA (None: no probe did) and the lowest that missed it
    /// (None: no probe did), given whether any probe passed and any failed.
    pub(crate) fn result(&self, passed_any: bool, failed_any: bool) -> (Option<f64>, Option<f64>) {
        let found = passed_any.then_some(self.lo);
        let upper = failed_any.then_some(self.hi);
        (found, upper)
    }
}

/// The statistics an SLA metric names in a report.
fn statistics<'a>(r: &'a BenchmarkRun, metric: &str) -> Option<&'a Statistics> {
    let l = &r.metrics.latency;
    match metric {
        "ttft_ms" => Some(&l.time_to_first_token),
        "itl_ms" => l.inter_token_latency.as_ref(),
        "tpot_ms" => l.time_per_output_token.as_ref(),
        "ntpot_ms" => l.normalized_time_per_output_token.as_ref(),
        "e2e_ms" => l.request_latency.as_ref(),
        _ => None,
    }
}

/// A statistic of an SLA metric in ms (the report's latencies are in ms).
pub(crate) fn value(r: &BenchmarkRun, t: &Target) -> Option<f64> {
    let s = statistics(r, &t.metric)?;
    let v = serde_json::to_value(s).ok()?;
    v.get(&t.stat)?.as_f64()
}

/// Whether a probe met every target, and why not: each missed target with its value, a stage
/// that was not ok, or a stage without successful requests.
pub(crate) fn meets(
    r: &BenchmarkRun,
    verdict: &StageVerdict,
    targets: &[Target],
) -> (bool, Vec<String>) {
    let mut why = Vec::new();
    if verdict.verdict != Verdict::Ok {
        why.push(format!(
            "stage {}: {}",
            verdict.verdict.as_str(),
            verdict.reasons.join("; ")
        ));
    }
    if verdict.requests <= verdict.failures {
        why.push("no successful request".into());
    }
    for t in targets {
        match value(r, t) {
            Some(v) if v <= t.limit_ms => {}
            Some(v) => why.push(format!(
                "{} {} {v:.1} ms > {} ms",
                t.metric, t.stat, t.limit_ms
            )),
            None => why.push(format!("{} {} not in the report", t.metric, t.stat)),
        }
    }
    (why.is_empty(), why)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::spec::probes_needed;

    fn spec(over: SearchOver, lo: f64, hi: f64, max_probes: u32, precision: f64) -> SearchSpec {
        SearchSpec {
            over,
            lo,
            hi,
            max_probes,
            precision,
            probe_duration: 1.0,
        }
    }

    /// Runs a bisection against a step at `knee` (values up to it pass).
    fn search(s: &SearchSpec, knee: f64) -> (Option<f64>, Option<f64>, Vec<f64>) {
        let mut b = Bisection::new(s);
        let mut probes = Vec::new();
        while let Some(v) = b.next() {
            probes.push(v);
            b.record(v, v <= knee);
        }
        let (found, upper) = b.result(
            probes.iter().any(|v| *v <= knee),
            probes.iter().any(|v| *v > knee),
        );
        (found, upper, probes)
    }

    #[test]
    fn bisection_finds_a_knee_within_its_precision_in_its_probes() {
        for knee in [2.5, 7.0, 19.3, 20.0, 33.3, 60.0] {
            let s = spec(SearchOver::Rate, 2.0, 64.0, 8, 0.05);
            let (found, upper, probes) = search(&s, knee);
            assert!(probes.len() <= 8, "{knee}: {probes:?}");
            let found = found.unwrap();
            assert!(
                found <= knee && found >= knee / 1.05,
                "{knee}: {found} {probes:?}"
            );
            let upper = upper.unwrap();
            assert!(
                upper > knee && upper / found <= 1.05 + 1e-9,
                "{knee}: {upper}"
            );
        }
        assert!(probes_needed(2.0, 64.0, 0.05) <= 8);
    }

    #[test]
    fn ends_of_the_range_are_confirmed() {
        // Everything passes: hi is probed and is the answer, with no upper bound.
        let (found, upper, probes) = search(&spec(SearchOver::Rate, 1.0, 8.0, 8, 0.1), 100.0);
        assert_eq!((found, upper), (Some(8.0), None), "{probes:?}");
        // Nothing passes: lo is probed and fails.
        let (found, upper, probes) = search(&spec(SearchOver::Rate, 1.0, 8.0, 8, 0.1), 0.5);
        assert_eq!(found, None, "{probes:?}");
        assert_eq!(upper, Some(1.0));
    }

    #[test]
    fn concurrency_probes_are_whole_users() {
        let (found, upper, probes) =
            search(&spec(SearchOver::Concurrency, 1.0, 64.0, 8, 0.1), 13.0);
        assert!(probes.iter().all(|v| v.fract() == 0.0), "{probes:?}");
        assert_eq!(found, Some(13.0), "{probes:?}");
        assert_eq!(upper, Some(14.0), "{probes:?}");
    }
}
