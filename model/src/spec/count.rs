//! How many requests a shard sends, as far as its plan fixes it, in closed form: the coordinator
//! compares it with what the shard counted (a mismatch makes the stage degraded), and
//! `coordinator validate` prints it without enumerating a single arrival.
//!
//! A striped schedule (constant, trace) fixes each shard's count exactly; a closed loop by count
//! fixes it too. Where a stage's duration ends the load (Poisson, gamma, closed loop by time,
//! sessions cut by the stage end), the plan fixes at most a cap, or nothing.

use super::shard::{ShardLoad, ShardSpec};
use super::split::stripe_cycle;
use serde::{Deserialize, Serialize};

/// What the plan says about the number of requests of one shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlannedCount {
    /// Exactly this many.
    Exact(u64),
    /// Up to this many (the stage's end may come first).
    AtMost(u64),
    /// Whatever the stage's duration allows.
    Open,
}

impl PlannedCount {
    /// Adds two shards' plans (a stage's total).
    pub fn plus(self, other: PlannedCount) -> PlannedCount {
        use PlannedCount::*;
        match (self, other) {
            (Open, _) | (_, Open) => Open,
            (Exact(a), Exact(b)) => Exact(a.saturating_add(b)),
            (Exact(a) | AtMost(a), Exact(b) | AtMost(b)) => AtMost(a.saturating_add(b)),
        }
    }

    /// Whether `counted` requests agree with the plan.
    pub fn admits(self, counted: u64) -> bool {
        match self {
            PlannedCount::Exact(n) => counted == n,
            PlannedCount::AtMost(n) => counted <= n,
            PlannedCount::Open => true,
        }
    }
}

impl std::fmt::Display for PlannedCount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlannedCount::Exact(n) => write!(f, "{n}"),
            PlannedCount::AtMost(n) => write!(f, "at most {n}"),
            PlannedCount::Open => write!(f, "open (by time)"),
        }
    }
}

/// How many of the global requests `0..total` fall to `shard` when request j goes to
/// `cycle[j % cycle.len()]`: whole cycles times the shard's slots, plus its slots in the rest.
pub fn stripe_share(total: u64, cycle: &[u32], shard: u32) -> u64 {
    if cycle.is_empty() {
        return 0;
    }
    let len = cycle.len() as u64;
    let slots = |c: &[u32]| c.iter().filter(|&&s| s == shard).count() as u64;
    (total / len).saturating_mul(slots(cycle)) + slots(&cycle[..(total % len) as usize])
}

impl ShardSpec {
    /// The requests this shard sends (each round of a multi-turn session is one request; with
    /// sessions of different lengths, the longest's rounds per session at most).
    pub fn planned_count(&self) -> PlannedCount {
        let rounds = u64::from(self.session_rounds().unwrap_or(1));
        let sessions = self.session_rounds().is_some();
        match &self.load {
            ShardLoad::Constant {
                total,
                weights,
                duration_s,
                ..
            } => {
                let n = stripe_share(*total, &stripe_cycle(weights), self.shard);
                let fixed = self.data.source.fixed_rounds();
                match (sessions, duration_s) {
                    (false, _) => PlannedCount::Exact(n),
                    (true, None) if fixed => PlannedCount::Exact(n.saturating_mul(rounds)),
                    // Conversations of different lengths: the longest bounds each.
                    (true, None) => PlannedCount::AtMost(n.saturating_mul(rounds)),
                    // The stage end stops later rounds.
                    (true, Some(_)) => PlannedCount::AtMost(n.saturating_mul(rounds)),
                }
            }
            ShardLoad::Trace { total, weights, .. } => {
                PlannedCount::Exact(stripe_share(*total, &stripe_cycle(weights), self.shard))
            }
            ShardLoad::Poisson { max_requests, .. } | ShardLoad::Gamma { max_requests, .. } => {
                match max_requests {
                    Some(cap) => PlannedCount::AtMost(cap.saturating_mul(rounds)),
                    None => PlannedCount::Open,
                }
            }
            // Closed loop counts rounds as requests already.
            ShardLoad::Concurrent {
                num_requests,
                duration_s,
                ..
            } => match (num_requests, duration_s) {
                (Some(n), None) => PlannedCount::Exact(*n),
                (Some(n), Some(_)) => PlannedCount::AtMost(*n),
                (None, _) => PlannedCount::Open,
            },
            // Every round of every session, unless the stage's timeout cancels some.
            ShardLoad::Sessions {
                first_session,
                sessions,
                timeout_s,
                ..
            } => {
                let source = &self.data.source;
                let n = (*first_session..first_session.saturating_add(*sessions))
                    .map(|s| u64::from(source.rounds_of(s)))
                    .sum();
                // A replay graph's calls after a failed one are not sent.
                let replay = matches!(source, crate::data::DataSource::Replay(_));
                match timeout_s {
                    None if !replay => PlannedCount::Exact(n),
                    None => PlannedCount::AtMost(n),
                    Some(_) => PlannedCount::AtMost(n),
                }
            }
            ShardLoad::Idle => PlannedCount::Exact(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripe_share_matches_counting_the_cycle() {
        for weights in [vec![1, 1], vec![3, 1, 2], vec![0, 2, 5], vec![7]] {
            let cycle = stripe_cycle(&weights);
            for total in [0u64, 1, 5, 17, 100, 101] {
                let mut sum = 0;
                for shard in 0..weights.len() as u32 {
                    let counted = (0..total)
                        .filter(|j| cycle[(*j % cycle.len() as u64) as usize] == shard)
                        .count() as u64;
                    assert_eq!(stripe_share(total, &cycle, shard), counted);
                    sum += counted;
                }
                assert_eq!(sum, total);
            }
        }
        assert_eq!(stripe_share(10, &[], 0), 0);
    }

    #[test]
    fn stripe_share_of_a_huge_total_is_immediate() {
        let cycle = stripe_cycle(&[1, 1, 1]);
        assert_eq!(stripe_share(1_000_000_000_000, &cycle, 0), 333_333_333_334);
        assert_eq!(stripe_share(u64::MAX, &cycle, 2), u64::MAX / 3);
    }

    #[test]
    fn plans_add_and_admit() {
        use PlannedCount::*;
        assert_eq!(Exact(3).plus(Exact(4)), Exact(7));
        assert_eq!(Exact(3).plus(AtMost(4)), AtMost(7));
        assert_eq!(AtMost(3).plus(Open), Open);
        assert!(Exact(3).admits(3) && !Exact(3).admits(2) && !Exact(3).admits(4));
        assert!(AtMost(3).admits(0) && AtMost(3).admits(3) && !AtMost(3).admits(4));
        assert!(Open.admits(u64::MAX));
        assert_eq!(
            serde_json::to_value(Exact(40)).unwrap(),
            serde_json::json!({"exact": 40})
        );
        assert_eq!(
            serde_json::to_value(Open).unwrap(),
            serde_json::json!("open")
        );
    }
}
