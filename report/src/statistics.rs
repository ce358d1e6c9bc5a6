//! From an HDR histogram to the schema's statistics object.

use super::benchmark_run::Statistics;
use hdrhistogram::Histogram;

impl Statistics {
    /// A required statistic with no samples: `mean: 0` and nothing else (spec, "Rules").
    pub fn empty(units: &str) -> Statistics {
        Statistics {
            units: units.to_string(),
            mean: 0.0,
            stddev: None,
            min: None,
            p0p1: None,
            p1: None,
            p5: None,
            p10: None,
            p25: None,
            p50: None,
            p75: None,
            p90: None,
            p95: None,
            p99: None,
            p99p9: None,
            max: None,
        }
    }

    /// A distribution whose every value is 0 (the gaps inside a response that came in one piece).
    pub fn zero(units: &str) -> Statistics {
        Statistics::from_parts(units, 0.0, 0.0, 0.0, 0.0, |_| 0.0)
    }

    /// Full statistics of `h` with every value multiplied by `scale` (e.g. 1e-3 for µs → ms);
    /// `None` when `h` has no samples. A percentile is the histogram's value at that quantile.
    pub fn from_histogram(h: &Histogram<u64>, units: &str, scale: f64) -> Option<Statistics> {
        if h.is_empty() {
            return None;
        }
        let min = round(h.min() as f64 * scale);
        let max = round(h.max() as f64 * scale);
        // HDR's mean uses bucket midpoints; keep it inside [min, max] as the schema requires.
        let mean = round(h.mean() * scale).clamp(min, max);
        Some(Statistics::from_parts(
            units,
            mean,
            h.stdev() * scale,
            min,
            max,
            |q| h.value_at_quantile(q) as f64 * scale,
        ))
    }

    /// [`Statistics::from_histogram`], or all zeros for an empty histogram.
    pub fn from_histogram_or_empty(h: &Histogram<u64>, units: &str, scale: f64) -> Statistics {
        Self::from_histogram(h, units, scale).unwrap_or_else(|| Self::empty(units))
    }

    /// Token counts: each value is the lowest of its HDR bucket (so a fixed 2048 reads 2048, not
    /// 2049, where buckets are 2 wide), and the mean is the exact one from the counters' sum.
    pub fn from_counts(h: &Histogram<u64>, sum: u64) -> Statistics {
        let Some(mut s) = Self::from_integers(h, "count", 1.0) else {
            return Self::empty("count");
        };
        let exact_mean = sum as f64 / h.len().max(1) as f64;
        s.mean = round(exact_mean).clamp(s.min.unwrap_or(0.0), s.max.unwrap_or(f64::MAX));
        s
    }

    /// Integer quantities (counts, bytes, pixels; `scale` for one recorded in thousandths):
    /// each value is the lowest of its HDR bucket, the mean HDR's; `None` without samples.
    pub(crate) fn from_integers(h: &Histogram<u64>, units: &str, scale: f64) -> Option<Statistics> {
        let mut s = Self::from_histogram(h, units, scale)?;
        let low = |v: Option<f64>| {
            v.map(|v| round(h.lowest_equivalent((v / scale).round() as u64) as f64 * scale))
        };
        for field in [
            &mut s.min,
            &mut s.p0p1,
            &mut s.p1,
            &mut s.p5,
            &mut s.p10,
            &mut s.p25,
            &mut s.p50,
            &mut s.p75,
            &mut s.p90,
            &mut s.p95,
            &mut s.p99,
            &mut s.p99p9,
        ] {
            *field = low(*field);
        }
        s.max = Some(round(h.lowest_equivalent(h.max()) as f64 * scale));
        let (min, max) = (s.min.unwrap_or(0.0), s.max.unwrap_or(f64::MAX));
        s.mean = s.mean.clamp(min, max);
        Some(s)
    }
}

impl Statistics {
    /// Exact statistics of sampled values (telemetry), NaN dropped; `None` when none are left.
    /// Percentiles are nearest-rank.
    pub fn from_values(values: impl IntoIterator<Item = f64>, units: &str) -> Option<Statistics> {
        let mut v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(|a, b| a.total_cmp(b));
        let n = v.len();
        let mean = v.iter().sum::<f64>() / n as f64;
        let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
        let (min, max) = (round(v[0]), round(v[n - 1]));
        let mean = round(mean).clamp(min, max);
        Some(Statistics::from_parts(
            units,
            mean,
            var.sqrt(),
            min,
            max,
            |q| v[((q * n as f64).ceil() as usize).clamp(1, n) - 1],
        ))
    }
}

impl Statistics {
    /// The schema's full set, with percentiles from `quantile` (rounded like everything else).
    fn from_parts(
        units: &str,
        mean: f64,
        stddev: f64,
        min: f64,
        max: f64,
        quantile: impl Fn(f64) -> f64,
    ) -> Statistics {
        let q = |q: f64| Some(round(quantile(q)));
        Statistics {
            units: units.to_string(),
            mean,
            stddev: Some(round(stddev)),
            min: Some(min),
            p0p1: q(0.001),
            p1: q(0.01),
            p5: q(0.05),
            p10: q(0.10),
            p25: q(0.25),
            p50: q(0.50),
            p75: q(0.75),
            p90: q(0.90),
            p95: q(0.95),
            p99: q(0.99),
            p99p9: q(0.999),
            max: Some(max),
        }
    }
}

/// Six decimals: enough for µs in ms, and no float noise in the files.
fn round(v: f64) -> f64 {
    if v.is_finite() {
        (v * 1e6).round() / 1e6
    } else {
        0.0
    }
}

/// The mean of the finite values (NaN and infinities skipped); `None` when there are none.
pub(crate) fn mean_of_finite(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (mut sum, mut n) = (0.0, 0u32);
    for v in values.filter(|v| v.is_finite()) {
        sum += v;
        n += 1;
    }
    (n > 0).then(|| sum / f64::from(n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleetbench_model::measure::new_histogram;

    #[test]
    fn statistics_are_monotone_and_scaled() {
        let mut h = new_histogram();
        for v in 1..=1000u64 {
            h.record(v * 1000).unwrap();
        }
        let s = Statistics::from_histogram(&h, "ms", 1e-3).unwrap();
        assert_eq!(s.units, "ms");
        let order = [
            s.min, s.p0p1, s.p1, s.p5, s.p10, s.p25, s.p50, s.p75, s.p90, s.p95, s.p99, s.p99p9,
            s.max,
        ];
        let order: Vec<f64> = order.into_iter().map(|v| v.unwrap()).collect();
        assert!(order.windows(2).all(|w| w[0] <= w[1]), "{order:?}");
        assert!((s.p50.unwrap() - 500.0).abs() < 1.0);
        assert!(s.mean >= s.min.unwrap() && s.mean <= s.max.unwrap());
        assert!(Statistics::from_histogram(&new_histogram(), "ms", 1.0).is_none());
    }

    #[test]
    fn count_statistics_of_a_fixed_length_are_exact() {
        let mut h = new_histogram();
        h.record_n(2048, 10).unwrap();
        let s = Statistics::from_counts(&h, 20480);
        assert_eq!(
            (s.min, s.p50, s.max, s.mean),
            (Some(2048.0), Some(2048.0), Some(2048.0), 2048.0)
        );
        let mut h = new_histogram();
        h.record_n(8192, 3).unwrap();
        let s = Statistics::from_counts(&h, 3 * 8192);
        assert_eq!(
            (s.min, s.p99, s.max, s.mean),
            (Some(8192.0), Some(8192.0), Some(8192.0), 8192.0)
        );
    }

    #[test]
    fn value_statistics_are_exact_nearest_rank() {
        let s = Statistics::from_values((1..=100).map(|v| v as f64).chain([f64::NAN]), "Watts")
            .unwrap();
        assert_eq!(
            (s.min, s.p50, s.p99, s.max),
            (Some(1.0), Some(50.0), Some(99.0), Some(100.0))
        );
        assert_eq!(s.mean, 50.5);
        assert!(Statistics::from_values([f64::NAN], "Watts").is_none());
    }
}
