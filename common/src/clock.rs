//! Wall-clock time as the control plane carries it (Unix nanoseconds), and NTP-style estimation of
//! an agent's clock offset from probes.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in Unix nanoseconds.
pub fn unix_ns() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i64,
        Err(e) => -(e.duration().as_nanos() as i64),
    }
}

/// One probe: sent at `t0` and answered at `t3` (coordinator clock), stamped `t_agent` by the
/// agent in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeSample {
    pub t0: i64,
    pub t_agent: i64,
    pub t3: i64,
}

impl ProbeSample {
    pub fn round_trip_ns(&self) -> i64 {
        self.t3 - self.t0
    }

    /// Agent clock minus coordinator clock, assuming a symmetric path.
    pub fn offset_ns(&self) -> i64 {
        self.t_agent - (self.t0 + (self.t3 - self.t0) / 2)
    }
}

/// Keeps the sample with the smallest round trip: its offset has the smallest error bound.
#[derive(Debug, Clone, Default)]
pub struct OffsetEstimate {
    best: Option<ProbeSample>,
    samples: u32,
}

impl OffsetEstimate {
    pub fn add(&mut self, s: ProbeSample) {
        self.samples += 1;
        if s.round_trip_ns() < 0 {
            return;
        }
        if self
            .best
            .is_none_or(|b| s.round_trip_ns() < b.round_trip_ns())
        {
            self.best = Some(s);
        }
    }

    /// Agent clock minus coordinator clock, if any probe came back.
    pub fn offset_ns(&self) -> Option<i64> {
        self.best.map(|b| b.offset_ns())
    }

    pub fn round_trip_ns(&self) -> Option<i64> {
        self.best.map(|b| b.round_trip_ns())
    }

    pub fn samples(&self) -> u32 {
        self.samples
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_smallest_round_trip_offset() {
        let mut e = OffsetEstimate::default();
        // True offset +1000; the slow probe is asymmetric and would mislead.
        e.add(ProbeSample {
            t0: 0,
            t_agent: 9_000,
            t3: 10_000,
        });
        e.add(ProbeSample {
            t0: 100,
            t_agent: 1_150,
            t3: 200,
        });
        assert_eq!(e.offset_ns(), Some(1_000));
        assert_eq!(e.round_trip_ns(), Some(100));
        assert_eq!(e.samples(), 2);
    }
}
