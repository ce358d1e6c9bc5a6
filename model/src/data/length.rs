//! Token-length distributions: fixed, uniform, normal (inference-perf's `input_distribution`
//! semantics), skew-normal, lognormal and Poisson, each clamped to `[min, max]` and rounded.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal, Normal, Poisson, StandardNormal};
use serde::{Deserialize, Serialize};

/// The shape of a length distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LengthDist {
    /// Normal(mean, std_dev), inference-perf's distribution (std_dev 0: always the mean).
    #[default]
    Normal,
    /// Always `mean`.
    Fixed,
    /// Uniform over the integers `min..=max`.
    Uniform,
    /// Lognormal whose own mean and standard deviation are `mean` and `std_dev`.
    Lognormal,
    /// Skew-normal with location `mean`, scale `std_dev` and shape `skew` (Azzalini's
    /// two-normal method, as inference-perf samples it).
    SkewNormal,
    /// Poisson with rate `mean`.
    Poisson,
}

/// Token lengths: a distribution clamped to `[min, max]` and rounded.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LengthSpec {
    /// The distribution's shape.
    #[serde(default)]
    pub dist: LengthDist,
    /// Its mean (location for skew-normal; rate for Poisson).
    pub mean: f64,
    /// Its standard deviation (scale for skew-normal).
    pub std_dev: f64,
    /// The shortest length drawn.
    pub min: u32,
    /// The longest length drawn.
    pub max: u32,
    /// Shape of a skew-normal (0: normal).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub skew: f64,
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

impl LengthSpec {
    /// Always `n` tokens.
    pub fn fixed(n: u32) -> LengthSpec {
        LengthSpec {
            dist: LengthDist::Fixed,
            mean: n as f64,
            std_dev: 0.0,
            min: n.max(1),
            max: n.max(1),
            skew: 0.0,
        }
    }

    /// Draws one length.
    pub fn draw(&self, rng: &mut ChaCha8Rng) -> u32 {
        let v = match self.dist {
            LengthDist::Fixed => self.mean,
            LengthDist::Normal if self.std_dev > 0.0 => {
                match Normal::new(self.mean, self.std_dev) {
                    Ok(n) => n.sample(rng),
                    Err(_) => self.mean,
                }
            }
            LengthDist::Normal => self.mean,
            LengthDist::Uniform => {
                let (lo, hi) = (self.min.min(self.max), self.max.max(self.min));
                return rng.random_range(lo..=hi);
            }
            LengthDist::Lognormal if self.std_dev > 0.0 && self.mean > 0.0 => {
                // The underlying normal's parameters from the lognormal's own mean and std.
                let s2 = (1.0 + (self.std_dev / self.mean).powi(2)).ln();
                let mu = self.mean.ln() - s2 / 2.0;
                match LogNormal::new(mu, s2.sqrt()) {
                    Ok(d) => d.sample(rng),
                    Err(_) => self.mean,
                }
            }
            LengthDist::Lognormal => self.mean,
            LengthDist::SkewNormal => {
                let delta = self.skew / (1.0 + self.skew * self.skew).sqrt();
                let u0: f64 = rng.sample(StandardNormal);
                let v: f64 = rng.sample(StandardNormal);
                let u1 = delta * u0 + (1.0 - delta * delta).sqrt() * v;
                self.mean + self.std_dev * if u0 >= 0.0 { u1 } else { -u1 }
            }
            LengthDist::Poisson => {
                match Poisson::new(if self.mean > 0.0 { self.mean } else { 1.0 }) {
                    Ok(d) => d.sample(rng),
                    Err(_) => self.mean,
                }
            }
        };
        (v.round().max(0.0) as u64).clamp(self.min as u64, self.max as u64) as u32
    }

    /// The mean of the clamped distribution, estimated from `n` draws of a fixed-seed stream
    /// (exact for fixed lengths). Used to say what a profile's reports should show.
    pub fn expected_mean(&self, n: u32) -> f64 {
        use rand::SeedableRng;
        if self.dist == LengthDist::Fixed
            || (self.std_dev == 0.0 && self.dist != LengthDist::Uniform)
        {
            return (self.mean.round().max(0.0) as u64).clamp(self.min as u64, self.max as u64)
                as f64;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(0xD15C);
        let sum: u64 = (0..n.max(1)).map(|_| self.draw(&mut rng) as u64).sum();
        sum as f64 / n.max(1) as f64
    }
}
