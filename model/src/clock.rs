//! Wall-clock time as the control plane carries it (Unix nanoseconds), and NTP-style estimation of
//! an agent's clock offset from probes.

use std::time::{SystemTime, UNIX_EPOCH};

/// A UTC calendar instant, to the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcTime {
    /// Year (proleptic Gregorian).
    pub year: i64,
    /// Month, 1 to 12.
    pub month: i64,
    /// Day of the month, 1 to 31.
    pub day: i64,
    /// Hour, 0 to 23.
    pub hour: i64,
    /// Minute, 0 to 59.
    pub minute: i64,
    /// Second, 0 to 59.
    pub second: i64,
}

/// The UTC calendar instant of `secs` Unix seconds (the civil date from days since 1970-01-01
/// by Howard Hinnant's algorithm).
pub fn utc(secs: i64) -> UtcTime {
    let (d, s) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = d + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    UtcTime {
        year: yoe + era * 400 + i64::from(month <= 2),
        month,
        day,
        hour: s / 3600,
        minute: (s / 60) % 60,
        second: s % 60,
    }
}

/// `YYYYMMDD-HHMMSS` (UTC) of `secs` Unix seconds: what run ids, sweep ids and inference-perf's
/// `{timestamp}` in storage paths are made of.
pub fn compact_utc(secs: i64) -> String {
    let t = utc(secs);
    format!(
        "{:04}{:02}{:02}-{:02}{:02}{:02}",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

/// Now, in whole Unix seconds.
pub fn unix_s() -> i64 {
    unix_ns().div_euclid(1_000_000_000)
}

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
    /// When the coordinator sent the probe (its clock, Unix ns).
    pub t0: i64,
    /// When the agent stamped it (the agent's clock, Unix ns).
    pub t_agent: i64,
    /// When the answer came back (the coordinator's clock, Unix ns).
    pub t3: i64,
}

impl ProbeSample {
    /// The probe's round trip.
    pub fn round_trip_ns(&self) -> i64 {
        self.t3 - self.t0
    }

    /// Agent clock minus coordinator clock, assuming a symmetric path.
    pub fn offset_ns(&self) -> i64 {
        self.t_agent - (self.t0 + (self.t3 - self.t0) / 2)
    }
}

/// Probes an estimate remembers: the offset comes from the one with the smallest round trip
/// among the latest of them, so a clock that drifts during a long run is followed.
pub(crate) const PROBE_WINDOW: usize = 16;

/// Keeps the latest `PROBE_WINDOW` (16) samples and uses the one with the smallest round trip: its
/// offset has the smallest error bound.
#[derive(Debug, Clone, Default)]
pub struct OffsetEstimate {
    recent: std::collections::VecDeque<ProbeSample>,
    samples: u32,
}

impl OffsetEstimate {
    /// Adds a probe's answer (a negative round trip is counted, not used).
    pub fn add(&mut self, s: ProbeSample) {
        self.samples += 1;
        if s.round_trip_ns() < 0 {
            return;
        }
        if self.recent.len() == PROBE_WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(s);
    }

    fn best(&self) -> Option<&ProbeSample> {
        self.recent.iter().min_by_key(|s| s.round_trip_ns())
    }

    /// Agent clock minus coordinator clock, if any probe came back.
    pub fn offset_ns(&self) -> Option<i64> {
        self.best().map(|b| b.offset_ns())
    }

    /// The round trip of the probe the offset comes from.
    pub fn round_trip_ns(&self) -> Option<i64> {
        self.best().map(|b| b.round_trip_ns())
    }

    /// Probes answered since the agent joined.
    pub fn samples(&self) -> u32 {
        self.samples
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_gives_the_civil_instant() {
        let t = super::utc(951_782_400 + 3_723); // 2000-02-29 01:02:03
        assert_eq!((t.year, t.month, t.day), (2000, 2, 29));
        assert_eq!((t.hour, t.minute, t.second), (1, 2, 3));
        assert_eq!(super::utc(-1).year, 1969);
    }

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

    #[test]
    fn follows_a_drifting_clock_once_old_probes_age_out() {
        let mut e = OffsetEstimate::default();
        // An early, very fast probe at offset +1000 ...
        e.add(ProbeSample {
            t0: 0,
            t_agent: 1_005,
            t3: 10,
        });
        // ... then the agent's clock drifts to +5000; slower probes see it.
        for k in 0..PROBE_WINDOW as i64 {
            let t0 = 1_000_000 * (k + 1);
            e.add(ProbeSample {
                t0,
                t_agent: t0 + 50 + 5_000,
                t3: t0 + 100,
            });
        }
        assert_eq!(e.offset_ns(), Some(5_000));
        assert_eq!(e.samples(), PROBE_WINDOW as u32 + 1);
    }
}
