//! The whole plan of a run: its members, and per stage the stage's load and one shard spec per
//! member.

use super::count::PlannedCount;
use super::rate::rate_or_inf;
use super::shard::ShardSpec;
use super::window::Window;
use crate::role::Role;
use serde::{Deserialize, Serialize};

/// An agent as the planner sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The agent's name.
    pub agent_id: String,
    /// Its host's role.
    pub role: Role,
    /// Its host's name.
    pub host_name: String,
}

/// The load of one whole stage, before splitting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StageLoad {
    /// Evenly spaced: request j at the time the (ramped) rate's integral reaches j; `rate` may be
    /// infinite (all `total` requests at once).
    Constant {
        /// Requests/s (constant: `inf` sends all at once).
        #[serde(with = "rate_or_inf")]
        rate: f64,
        /// The rate at the end of the stage, ramped linearly from `rate`.
        ramp_to: Option<f64>,
        /// Seconds the stage lasts, where bounded.
        duration_s: Option<f64>,
        /// Requests (or trace records) the stage sends.
        total: u64,
    },
    /// Poisson arrivals at `rate` (ramped when `ramp_to`).
    Poisson {
        /// Requests/s (constant: `inf` sends all at once).
        rate: f64,
        /// The rate at the end of the stage, ramped linearly from `rate`.
        ramp_to: Option<f64>,
        /// Seconds the stage lasts.
        duration_s: f64,
        /// At most this many requests.
        max_requests: Option<u64>,
    },
    /// Gamma-distributed gaps at `rate`, shape `burstiness`.
    Gamma {
        /// Requests/s (constant: `inf` sends all at once).
        rate: f64,
        /// The gamma shape (1: Poisson; below 1: burstier).
        burstiness: f64,
        /// Seconds the stage lasts.
        duration_s: f64,
        /// At most this many requests.
        max_requests: Option<u64>,
    },
    /// A closed loop of `users` until `num_requests` or `duration_s`.
    Concurrent {
        /// Closed-loop users.
        users: u32,
        /// Requests the users send together, where bounded.
        num_requests: Option<u64>,
        /// Seconds the stage lasts, where bounded.
        duration_s: Option<f64>,
    },
    /// The data's trace replayed in order: record j at (timestamp_j − timestamp_0) · time_scale,
    /// the first `total` records (those before `duration_s`, at most the stage's num_requests).
    Trace {
        /// Factor on the trace's timestamps.
        time_scale: f64,
        /// Seconds the stage lasts, where bounded.
        duration_s: Option<f64>,
        /// Requests (or trace records) the stage sends.
        total: u64,
    },
    /// inference-perf's session stage (`trace_session_replay`): the data's sessions
    /// `first_session..first_session + sessions`, each run whole, at most `concurrent` at once
    /// (0: all at once), started at most `session_rate` per second; at `timeout_s` the sessions
    /// still running are cancelled and the stage fails.
    Sessions {
        /// Sessions at once over the whole stage (0: all).
        concurrent: u32,
        /// Sessions started per second, at most.
        session_rate: Option<f64>,
        /// The data's first session this stage runs.
        first_session: u64,
        /// Sessions the stage runs.
        sessions: u64,
        /// Seconds after which running sessions are cancelled.
        timeout_s: Option<f64>,
    },
}

impl StageLoad {
    /// The requests this stage will send, where the plan fixes it.
    pub fn planned_requests(&self) -> Option<u64> {
        match *self {
            StageLoad::Constant { total, .. } | StageLoad::Trace { total, .. } => Some(total),
            StageLoad::Poisson { .. } | StageLoad::Gamma { .. } | StageLoad::Sessions { .. } => {
                None
            }
            StageLoad::Concurrent {
                num_requests,
                duration_s,
                ..
            } => {
                if duration_s.is_none() {
                    num_requests
                } else {
                    None
                }
            }
        }
    }

    /// The stage's label in test names: `qps_04`, `qps_0.5`, `qps_inf`, `qps_1-10`, `c16`.
    pub fn label(&self) -> String {
        let q = |r: f64| {
            if r.is_infinite() {
                "inf".to_string()
            } else if r.fract() == 0.0 && r < 100.0 {
                format!("{:02}", r as u64)
            } else {
                format!("{r}")
            }
        };
        match *self {
            StageLoad::Constant { rate, ramp_to, .. }
            | StageLoad::Poisson { rate, ramp_to, .. } => match ramp_to {
                Some(to) => format!("qps_{}-{}", q(rate), q(to)),
                None => format!("qps_{}", q(rate)),
            },
            StageLoad::Gamma { rate, .. } => format!("qps_{}", q(rate)),
            StageLoad::Concurrent { users, .. } => format!("c{users}"),
            StageLoad::Trace {
                time_scale: 1.0, ..
            } => "trace".to_string(),
            StageLoad::Trace { time_scale, .. } => format!("trace_x{time_scale}"),
            StageLoad::Sessions { concurrent: 0, .. } => "sessions_all".to_string(),
            StageLoad::Sessions { concurrent, .. } => format!("sessions_c{concurrent}"),
        }
    }

    /// The load type's name in reports (`constant`, `poisson`, `gamma`, `concurrency`, `trace`).
    pub fn kind_name(&self) -> &'static str {
        match self {
            StageLoad::Constant { .. } => "constant",
            StageLoad::Poisson { .. } => "poisson",
            StageLoad::Gamma { .. } => "gamma",
            StageLoad::Concurrent { .. } => "concurrency",
            StageLoad::Trace { .. } => "trace",
            StageLoad::Sessions { .. } => "sessions",
        }
    }
}

/// The whole plan of a run: the stages, and per stage one shard per member (same order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunPlan {
    /// The run's id.
    pub run_id: String,
    /// The name the profile goes by.
    pub profile_name: String,
    /// The run's seed; each stage's derives from it.
    pub seed: u64,
    /// The agents, in shard order.
    pub members: Vec<Member>,
    /// Each member's load weight (same order).
    pub weights: Vec<u32>,
    /// The stages, in order.
    pub stages: Vec<StagePlan>,
    /// `load.interval`: seconds between one stage's end and the next one's start (default 1,
    /// inference-perf's).
    #[serde(default)]
    pub stage_interval_s: f64,
}

/// One stage of the plan: its load, window and one shard per member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StagePlan {
    /// The stage's index in the run.
    pub index: u32,
    /// Its label in test names (`qps_04`, `c16`).
    pub label: String,
    /// The whole stage's load, before splitting.
    pub load: StageLoad,
    /// The measured window.
    pub window: Window,
    /// One shard spec per member (same order as the run's members).
    pub shards: Vec<ShardSpec>,
}

impl StagePlan {
    /// The requests this stage will send, where the plan fixes it: the load's count, times the
    /// rounds of each session when it starts multi-turn sessions that no stage end can cut.
    pub fn planned_requests(&self) -> Option<u64> {
        if let StageLoad::Sessions { .. } = self.load {
            let shards = self.shards.iter().map(ShardSpec::planned_count);
            return match shards.fold(PlannedCount::Exact(0), PlannedCount::plus) {
                PlannedCount::Exact(n) => Some(n),
                _ => None,
            };
        }
        let n = self.load.planned_requests()?;
        let first = self.shards.first();
        let fixed = first.is_none_or(|s| s.data.source.fixed_rounds());
        match first.and_then(|s| s.session_rounds()) {
            None => Some(n),
            Some(rounds) => match self.load {
                StageLoad::Constant {
                    duration_s: None, ..
                } if fixed => Some(n * u64::from(rounds)),
                // Closed loop by count counts requests (rounds) already; a duration may cut
                // sessions short.
                StageLoad::Concurrent {
                    duration_s: None, ..
                } => Some(n),
                _ => None,
            },
        }
    }
}
