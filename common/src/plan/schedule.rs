//! Intended send times of a shard's open-loop requests, in seconds from the stage start. The
//! agent's scheduler walks these; tests check them against the global schedule.

use super::stripe_cycle;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// One planned request: its global index (the key of its data) and its intended time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Arrival {
    pub index: u64,
    pub at_s: f64,
}

/// This shard's share of the constant schedule `j/rate, j in 0..total`.
pub fn constant_arrivals(
    rate: f64,
    total: u64,
    weights: &[u32],
    shard: u32,
) -> impl Iterator<Item = Arrival> {
    let cycle = stripe_cycle(weights);
    (0..total).filter_map(move |j| {
        let owner = *cycle.get((j % cycle.len().max(1) as u64) as usize)?;
        (owner == shard).then(|| Arrival {
            index: j,
            at_s: j as f64 / rate,
        })
    })
}

/// A Poisson process at `rate` on `[0, duration_s)`: exponential gaps from a seeded stream.
/// Indices are `shard << 40 | k`, unique across shards.
pub fn poisson_arrivals(
    rate: f64,
    duration_s: f64,
    seed: u64,
    shard: u32,
) -> impl Iterator<Item = Arrival> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut t = 0.0f64;
    let mut k = 0u64;
    std::iter::from_fn(move || {
        // 1 - U is in (0, 1]: ln never sees 0.
        let u: f64 = rng.random::<f64>();
        t += -(1.0 - u).ln() / rate;
        if t >= duration_s {
            return None;
        }
        let a = Arrival {
            index: (u64::from(shard) << 40) | k,
            at_s: t,
        };
        k += 1;
        Some(a)
    })
}
