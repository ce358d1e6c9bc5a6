//! What the benchmark binaries (`fleetbench-bench`, `io-probe`) and the criterion benches
//! (`benches/`) share.

#![warn(missing_docs)]

use fleetbench_model::measure::{Measurements, Metric};

pub mod ioprobe;

/// One interval of one agent's measurements: 50 requests of 1,024 input and 128 output tokens,
/// with latencies drawn from a fixed xorshift sequence (the same bytes on every run). The
/// coordinator-merge benchmarks send it as every agent's snapshot.
pub fn sample_interval() -> Measurements {
    let mut m = Measurements::new();
    let mut x = 12345u64;
    let mut rnd = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..50 {
        m.counters.requests += 1;
        m.counters.ok += 1;
        m.counters.output_tokens += 128;
        m.record(Metric::Ttft, 40_000 + rnd() % 20_000);
        m.record(Metric::E2e, 700_000 + rnd() % 100_000);
        m.record(Metric::Tpot, 5_000 + rnd() % 500);
        m.record(Metric::Ntpot, 5_500 + rnd() % 500);
        m.record(Metric::SendLag, rnd() % 500);
        m.record(Metric::InputTokens, 1024);
        m.record(Metric::OutputTokens, 128);
        for _ in 0..127 {
            m.record(Metric::Itl, 4_000 + rnd() % 3_000);
        }
    }
    m
}

/// The `q` quantile of `v` (nearest rank; sorts `v`); NaN when `v` is empty.
pub fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1]
}
