//! Intended send times of a shard's open-loop requests, in seconds from the stage start. The
//! agent's scheduler walks these; tests check them against the global schedule.

use super::shard::{ShardLoad, ShardSpec};
use super::split::stripe_cycle;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Gamma};

/// One planned request: its global index (the key of its data) and its intended time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Arrival {
    /// The request's global index in the stage (the key of its data).
    pub index: u64,
    /// Its intended send time, seconds from the stage start.
    pub at_s: f64,
}

impl ShardSpec {
    /// This shard's open-loop arrivals, in order; `None` for closed-loop and idle shards.
    pub fn arrivals(&self) -> Option<Box<dyn Iterator<Item = Arrival> + Send>> {
        let (shard, seed) = (self.shard, self.shard_seed());
        Some(match &self.load {
            ShardLoad::Constant {
                rate,
                ramp_to,
                duration_s,
                total,
                weights,
            } => {
                let ramp = Ramp {
                    from: *rate,
                    to: *ramp_to,
                    duration_s: *duration_s,
                };
                Box::new(constant_arrivals(ramp, *total, weights, shard))
            }
            ShardLoad::Poisson {
                rate,
                ramp_to,
                duration_s,
                max_requests,
            } => {
                let ramp = Ramp {
                    from: *rate,
                    to: *ramp_to,
                    duration_s: Some(*duration_s),
                };
                Box::new(poisson_arrivals(
                    ramp,
                    *duration_s,
                    *max_requests,
                    seed,
                    shard,
                ))
            }
            ShardLoad::Gamma {
                rate,
                burstiness,
                duration_s,
                max_requests,
            } => Box::new(gamma_arrivals(
                *rate,
                *burstiness,
                *duration_s,
                *max_requests,
                seed,
                shard,
            )),
            ShardLoad::Trace {
                time_scale,
                total,
                weights,
            } => {
                let times: Vec<f64> = match &self.data.source {
                    crate::data::DataSource::Trace { records } => trace_times(records, *time_scale)
                        .take(*total as usize)
                        .collect(),
                    _ => Vec::new(),
                };
                Box::new(trace_arrivals(times, weights, shard))
            }
            ShardLoad::Concurrent { .. } | ShardLoad::Sessions { .. } | ShardLoad::Idle => {
                return None
            }
        })
    }
}

/// A rate that ramps linearly from `from` to `to` over `duration_s` (constant when `to` is None).
#[derive(Debug, Clone, Copy)]
pub struct Ramp {
    /// Requests/s at the start.
    pub from: f64,
    /// Requests/s at the end (None: constant).
    pub to: Option<f64>,
    /// Seconds over which the rate ramps.
    pub duration_s: Option<f64>,
}

impl Ramp {
    /// The time at which the rate's integral reaches `n` (requests): the inverse of
    /// N(t) = from·t + k·t²/2 with k = (to − from)/duration.
    pub(crate) fn time_of(&self, n: f64) -> f64 {
        if self.from.is_infinite() {
            return 0.0;
        }
        let k = match (self.to, self.duration_s) {
            (Some(to), Some(d)) if d > 0.0 => (to - self.from) / d,
            _ => 0.0,
        };
        if k.abs() < 1e-12 {
            n / self.from
        } else {
            let disc = (self.from * self.from + 2.0 * k * n).max(0.0);
            (disc.sqrt() - self.from) / k
        }
    }
}

/// This shard's share of the global constant schedule: request j (of `0..total`) at the time the
/// ramped rate's integral reaches j.
pub fn constant_arrivals(
    ramp: Ramp,
    total: u64,
    weights: &[u32],
    shard: u32,
) -> impl Iterator<Item = Arrival> {
    let cycle = stripe_cycle(weights);
    (0..total).filter_map(move |j| {
        let owner = *cycle.get((j % cycle.len().max(1) as u64) as usize)?;
        (owner == shard).then(|| Arrival {
            index: j,
            at_s: ramp.time_of(j as f64),
        })
    })
}

/// When each record of a trace is intended, in seconds from the stage start: (timestamp −
/// the first record's timestamp) × `time_scale`.
pub fn trace_times(
    records: &[crate::data::TraceRecord],
    time_scale: f64,
) -> impl Iterator<Item = f64> + '_ {
    let t0 = records.first().map_or(0.0, |r| r.timestamp_ms);
    records
        .iter()
        .map(move |r| (r.timestamp_ms - t0) / 1000.0 * time_scale)
}

/// This shard's share of a trace's schedule: record j at `times_s[j]`, striped over the shards
/// as the constant schedule is.
pub(crate) fn trace_arrivals(
    times_s: Vec<f64>,
    weights: &[u32],
    shard: u32,
) -> impl Iterator<Item = Arrival> {
    let cycle = stripe_cycle(weights);
    times_s
        .into_iter()
        .enumerate()
        .filter_map(move |(j, at_s)| {
            let owner = *cycle.get(j % cycle.len().max(1))?;
            (owner == shard).then_some(Arrival {
                index: j as u64,
                at_s,
            })
        })
}

/// A Poisson process with the (ramped) rate on `[0, duration_s)`, at most `max` arrivals: unit
/// exponential steps of the integrated rate, mapped back to time. Indices are `shard << 40 | k`.
pub(crate) fn poisson_arrivals(
    ramp: Ramp,
    duration_s: f64,
    max: Option<u64>,
    seed: u64,
    shard: u32,
) -> impl Iterator<Item = Arrival> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut n = 0.0f64;
    bounded(duration_s, max, shard, move || {
        // 1 − U is in (0, 1]: ln never sees 0.
        n += -(1.0 - rng.random::<f64>()).ln();
        ramp.time_of(n)
    })
}

/// Gaps drawn from Gamma(shape = burstiness, scale = 1/(rate·burstiness)), as
/// `vllm bench serve --burstiness` does; burstiness 1 is Poisson.
pub(crate) fn gamma_arrivals(
    rate: f64,
    burstiness: f64,
    duration_s: f64,
    max: Option<u64>,
    seed: u64,
    shard: u32,
) -> impl Iterator<Item = Arrival> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let gamma = Gamma::new(burstiness, 1.0 / (rate * burstiness)).ok();
    let mut t = 0.0f64;
    bounded(duration_s, max, shard, move || {
        t += match &gamma {
            Some(g) => g.sample(&mut rng),
            None => 1.0 / rate,
        };
        t
    })
}

fn bounded(
    duration_s: f64,
    max: Option<u64>,
    shard: u32,
    mut next_time: impl FnMut() -> f64,
) -> impl Iterator<Item = Arrival> {
    let mut k = 0u64;
    std::iter::from_fn(move || {
        if max.is_some_and(|m| k >= m) {
            return None;
        }
        let at_s = next_time();
        // A NaN time (a degenerate rate) ends the stream too.
        if at_s.is_nan() || at_s >= duration_s {
            return None;
        }
        let a = Arrival {
            index: (u64::from(shard) << 40) | k,
            at_s,
        };
        k += 1;
        Some(a)
    })
}
