//! inference-perf's automatic saturation sweep (`load.sweep`, `docs/saturation.md`): the
//! section, the probe's constants and the rates generated from the saturation rate. Its checks
//! and the probe stage are in `saturation_check.rs`; the coordinator measures the rate from the
//! probe (`coordinator/src/saturation.rs`) and plans the generated stages with
//! `plan::plan_sweep_stages`.

use serde::{Deserialize, Serialize};

/// The probe's send time, seconds: `num_requests` are sent at `num_requests / 5` per second
/// (inference-perf's `duration = 5`).
pub const PROBE_SECONDS: f64 = 5.0;
/// The label of the probe stage in reports and test names.
pub const PROBE_LABEL: &str = "sweep-probe";
/// The most requests a probe may send: each is kept as a (sent, end) pair by the coordinator.
pub const MAX_PROBE_REQUESTS: u64 = 100_000;
/// The longest probe timeout, seconds (an hour).
pub(crate) const MAX_PROBE_TIMEOUT_S: f64 = 3600.0;
/// The most stages a sweep may generate.
pub(crate) const MAX_SWEEP_STAGES: u32 = 100;

/// How the generated stages' rates are spaced up to the saturation rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SweepType {
    /// Dense near the saturation rate: `round(1 + sat − g, 2)` for g in `geomspace(sat, 1, n)`.
    Geometric,
    /// Evenly spaced: `round(linspace(1, sat, n), 2)`.
    Linear,
}

/// `load.sweep`: inference-perf's `SweepConfig`, with its defaults.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SweepConfig {
    /// `load.sweep.type` (required, as in inference-perf).
    #[serde(rename = "type")]
    pub kind: SweepType,
    /// Requests of the probe, sent over [`PROBE_SECONDS`] (default 2000).
    #[serde(default = "default_num_requests")]
    pub num_requests: u64,
    /// Seconds the probe may take from its start; in-flight counts after it are not sampled
    /// (default 60).
    #[serde(default = "default_timeout")]
    pub timeout: f64,
    /// Stages generated (default 5).
    #[serde(default = "default_num_stages")]
    pub num_stages: u32,
    /// Seconds of each generated stage (default 180).
    #[serde(default = "default_stage_duration")]
    pub stage_duration: u64,
    /// The percentile of the probe's burn-down rates taken as the saturation rate (default 95).
    #[serde(default = "default_percentile")]
    pub saturation_percentile: f64,
}

fn default_num_requests() -> u64 {
    2000
}
fn default_timeout() -> f64 {
    60.0
}
fn default_num_stages() -> u32 {
    5
}
fn default_stage_duration() -> u64 {
    180
}
fn default_percentile() -> f64 {
    95.0
}

/// The grace period of the probe's shards: requests may finish until `timeout` seconds after
/// the probe's start (none after the sends when the timeout is shorter than them).
pub(crate) fn probe_grace_ms(s: &SweepConfig) -> u64 {
    ((s.timeout - PROBE_SECONDS).max(0.0) * 1000.0).round() as u64
}

/// `x` rounded to 2 decimals as Python's `round(x, 2)` does (the nearest of the decimal
/// representation, ties to even).
fn round2(x: f64) -> f64 {
    format!("{x:.2}").parse().unwrap_or(x)
}

/// numpy's `linspace(start, stop, n)`.
fn linspace(start: f64, stop: f64, n: u32) -> Vec<f64> {
    if n == 1 {
        return vec![start];
    }
    let step = (stop - start) / f64::from(n - 1);
    let mut v: Vec<f64> = (0..n).map(|i| start + f64::from(i) * step).collect();
    if let Some(last) = v.last_mut() {
        *last = stop;
    }
    v
}

/// numpy's `geomspace(start, stop, n)` for start, stop > 0: `10 ** linspace(log10 start,
/// log10 stop, n)` with both ends exact.
fn geomspace(start: f64, stop: f64, n: u32) -> Vec<f64> {
    let mut v: Vec<f64> = linspace(start.log10(), stop.log10(), n)
        .into_iter()
        .map(|e| 10f64.powf(e))
        .collect();
    if let Some(first) = v.first_mut() {
        *first = start;
    }
    if n > 1 {
        if let Some(last) = v.last_mut() {
            *last = stop;
        }
    }
    v
}

/// The generated stages' rates from the saturation rate, as inference-perf's `generateRates`:
/// geometric `round(1 + sat − g, 2)` for g in `geomspace(sat, 1, n)`, linear
/// `round(linspace(1, sat, n), 2)`.
pub fn sweep_rates(kind: SweepType, saturation: f64, n: u32) -> Vec<f64> {
    match kind {
        SweepType::Geometric => geomspace(saturation, 1.0, n)
            .into_iter()
            .map(|g| round2(1.0 + saturation - g))
            .collect(),
        SweepType::Linear => linspace(1.0, saturation, n)
            .into_iter()
            .map(round2)
            .collect(),
    }
}

/// numpy's `percentile(values, p)` (linear interpolation between the closest ranks); `None`
/// without values.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let rank = p.clamp(0.0, 100.0) / 100.0 * (v.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    Some(v[lo] + (v[hi] - v[lo]) * (rank - lo as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometric_and_linear_rates_are_inference_perfs() {
        // numpy: [round(1 + 20 - g, 2) for g in np.geomspace(20, 1, 5)]
        assert_eq!(
            sweep_rates(SweepType::Geometric, 20.0, 5),
            vec![1.0, 11.54, 16.53, 18.89, 20.0]
        );
        // numpy: [round(r, 2) for r in np.linspace(1, 20, 4)]
        assert_eq!(
            sweep_rates(SweepType::Linear, 20.0, 4),
            vec![1.0, 7.33, 13.67, 20.0]
        );
        assert_eq!(sweep_rates(SweepType::Linear, 7.5, 3), vec![1.0, 4.25, 7.5]);
        // numpy, with sat 23.7 over 7 stages and 133.333 over 10.
        assert_eq!(
            sweep_rates(SweepType::Geometric, 23.7, 7),
            vec![1.0, 10.72, 16.45, 19.83, 21.83, 23.01, 23.7]
        );
        assert_eq!(
            sweep_rates(SweepType::Linear, 23.7, 7),
            vec![1.0, 4.78, 8.57, 12.35, 16.13, 19.92, 23.7]
        );
        assert_eq!(
            sweep_rates(SweepType::Geometric, 133.333, 10),
            vec![1.0, 56.92, 89.38, 108.23, 119.18, 125.53, 129.22, 131.37, 132.61, 133.33]
        );
        assert_eq!(sweep_rates(SweepType::Geometric, 9.0, 1), vec![1.0]);
        assert_eq!(sweep_rates(SweepType::Linear, 9.0, 1), vec![1.0]);
        // Below 1 request/s both fall from 1 to sat.
        assert_eq!(sweep_rates(SweepType::Linear, 0.5, 3), vec![1.0, 0.75, 0.5]);
        assert_eq!(
            sweep_rates(SweepType::Geometric, 0.25, 3),
            vec![1.0, 0.75, 0.25]
        );
    }

    #[test]
    fn percentile_interpolates_as_numpy() {
        assert_eq!(percentile(&[], 95.0), None);
        assert_eq!(percentile(&[4.0], 95.0), Some(4.0));
        // np.percentile([1, 2, 3, 4], 95) = 3.85; [10, 20] at 50 = 15.
        let p = percentile(&[4.0, 1.0, 3.0, 2.0], 95.0).unwrap();
        assert!((p - 3.85).abs() < 1e-12, "{p}");
        assert_eq!(percentile(&[20.0, 10.0], 50.0), Some(15.0));
        assert_eq!(percentile(&[1.0, 5.0, 9.0], 100.0), Some(9.0));
        assert_eq!(percentile(&[1.0, 5.0, 9.0], 0.0), Some(1.0));
    }
}
