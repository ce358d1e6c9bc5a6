//! Goodput's per-request test (DistServe's and inference-perf's definition): a request is good
//! when it succeeded and every per-request metric the profile constrains
//! (`report.goodput.constraints`, inference-perf's key, in seconds: `ttft`, `tpot`, `itl` — the
//! request's mean gap —, `ntpot`, `request_latency`) is at or under its limit. A constrained
//! metric the request does not have (no TPOT for one token) makes it not good, as
//! inference-perf has it. The agent decides at record time (histograms cannot) and counts good
//! requests and their tokens (`Counters::good`, `good_tokens`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The keys of `report.goodput.constraints`.
pub(crate) const GOODPUT_KEYS: [&str; 5] = ["ttft", "tpot", "itl", "ntpot", "request_latency"];

/// Per-request limits, µs (`None`: not constrained).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoodputSlo {
    /// Time to first token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_us: Option<u64>,
    /// Time per output token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpot_us: Option<u64>,
    /// Inter-token latency (the request's mean).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub itl_us: Option<u64>,
    /// Normalized time per output token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ntpot_us: Option<u64>,
    /// Request latency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e2e_us: Option<u64>,
}

/// One request's metrics, µs (`None`: the request has no such value).
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestTimes {
    /// Time to first token.
    pub ttft_us: Option<u64>,
    /// Time per output token.
    pub tpot_us: Option<u64>,
    /// Mean inter-token latency.
    pub mean_itl_us: Option<u64>,
    /// Normalized time per output token.
    pub ntpot_us: Option<u64>,
    /// Request latency.
    pub e2e_us: u64,
}

/// The most a limit may be: an hour, the histograms' range.
const MAX_LIMIT_S: f64 = 3600.0;

impl GoodputSlo {
    /// From `report.goodput.constraints` (seconds); the error names the key, the value and
    /// what is allowed.
    pub fn from_constraints(c: &BTreeMap<String, f64>) -> Result<GoodputSlo, (String, String)> {
        let mut slo = GoodputSlo::default();
        for (k, &v) in c {
            let key = format!("report.goodput.constraints.{k}");
            if !(v.is_finite() && v > 0.0 && v <= MAX_LIMIT_S) {
                return Err((
                    key,
                    format!("must be a number of seconds > 0 and at most {MAX_LIMIT_S}, got {v}"),
                ));
            }
            let us = Some((v * 1e6).round() as u64);
            match k.as_str() {
                "ttft" => slo.ttft_us = us,
                "tpot" => slo.tpot_us = us,
                "itl" => slo.itl_us = us,
                "ntpot" => slo.ntpot_us = us,
                "request_latency" => slo.e2e_us = us,
                _ => {
                    return Err((
                        key,
                        format!("unknown constraint; allowed: {}", GOODPUT_KEYS.join(", ")),
                    ))
                }
            }
        }
        Ok(slo)
    }

    /// Whether a successful request with these times meets every limit.
    pub fn meets(&self, t: &RequestTimes) -> bool {
        let ok =
            |limit: Option<u64>, v: Option<u64>| limit.is_none_or(|l| v.is_some_and(|v| v <= l));
        ok(self.ttft_us, t.ttft_us)
            && ok(self.tpot_us, t.tpot_us)
            && ok(self.itl_us, t.mean_itl_us)
            && ok(self.ntpot_us, t.ntpot_us)
            && ok(self.e2e_us, Some(t.e2e_us))
    }

    /// The limits in seconds under inference-perf's keys (for the report).
    pub fn constraints_s(&self) -> BTreeMap<&'static str, f64> {
        [
            ("ttft", self.ttft_us),
            ("tpot", self.tpot_us),
            ("itl", self.itl_us),
            ("ntpot", self.ntpot_us),
            ("request_latency", self.e2e_us),
        ]
        .into_iter()
        .filter_map(|(k, v)| Some((k, v? as f64 / 1e6)))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_constrained_metric_must_be_met_and_bad_keys_are_named() {
        let c: BTreeMap<String, f64> =
            [("ttft".to_string(), 0.2), ("tpot".to_string(), 0.02)].into();
        let slo = GoodputSlo::from_constraints(&c).unwrap();
        let t = |ttft, tpot| RequestTimes {
            ttft_us: Some(ttft),
            tpot_us: tpot,
            mean_itl_us: None,
            ntpot_us: None,
            e2e_us: 1,
        };
        assert!(slo.meets(&t(200_000, Some(20_000))));
        assert!(!slo.meets(&t(200_001, Some(20_000))));
        assert!(!slo.meets(&t(1, Some(20_001))));
        assert!(!slo.meets(&t(1, None)), "no TPOT: not good");
        let bad: BTreeMap<String, f64> = [("e2e".to_string(), 1.0)].into();
        let (key, msg) = GoodputSlo::from_constraints(&bad).unwrap_err();
        assert_eq!(key, "report.goodput.constraints.e2e");
        assert!(msg.contains("allowed: ttft, tpot, itl, ntpot, request_latency"));
        let neg: BTreeMap<String, f64> = [("ttft".to_string(), -1.0)].into();
        assert!(GoodputSlo::from_constraints(&neg)
            .unwrap_err()
            .1
            .contains("got -1"));
    }
}
