//! The live figures of the stage in progress ([`wire::StageLive`]), computed by the run task
//! from what the stage's collector merged so far, the plan and the fleet's link states. They
//! travel in [`crate::hub::Progress`] to the console of `run` and, as `Watch` events, to `submit`
//! and `watch`: one source for every view.

use crate::collect::{ShardLive, StageCollector};
use crate::fleet::Fleet;
use fleetbench_model::hosts::AgentInfo;
use fleetbench_model::measure::Metric;
use fleetbench_model::spec::{StageLoad, StagePlan};
use fleetbench_proto::v1 as wire;
use std::collections::BTreeMap;
use std::time::Duration;

/// What the figures of one stage are made from.
pub(crate) struct StageSources<'a> {
    pub stage: &'a StagePlan,
    pub collector: &'a StageCollector,
    /// The stage's agents, in shard order.
    pub(crate) ids: &'a [String],
    /// The run's agents with their roles (host groups).
    pub agents: &'a [AgentInfo],
    pub fleet: &'a Fleet,
    /// An agent silent this long is shown `silent`.
    pub agent_timeout: Duration,
}

/// The stage's figures `elapsed_s` after its start.
pub(crate) fn stage_live(src: &StageSources<'_>, elapsed_s: f64) -> wire::StageLive {
    let merged = &src.collector.merged;
    let c = &merged.counters;
    let q = |m: Metric, at: f64| {
        let h = merged.histogram(m);
        if h.is_empty() {
            f64::NAN
        } else {
            h.value_at_quantile(at) as f64 / 1000.0
        }
    };
    // Over the intervals the merged snapshots cover (they arrive an interval late: dividing
    // by the elapsed time would understate the rate).
    let interval_s = src
        .stage
        .shards
        .first()
        .map_or(1.0, |s| s.snapshot_interval_ms as f64 / 1000.0);
    let covered_s = src
        .collector
        .latest_interval()
        .map_or(0.0, |k| f64::from(k + 1) * interval_s);
    let achieved = if covered_s > 0.0 {
        c.requests as f64 / covered_s
    } else {
        0.0
    };
    let e2e = merged.histogram(Metric::E2e);
    let in_flight = if e2e.is_empty() {
        f64::NAN
    } else {
        achieved * e2e.mean() / 1e6
    };
    let shards = src.collector.shard_live();
    wire::StageLive {
        label: src.stage.label.clone(),
        elapsed_s,
        end_s: stage_duration_s(&src.stage.load).unwrap_or(f64::NAN),
        offered_rps: offered_rps(&src.stage.load, elapsed_s),
        achieved_rps: achieved,
        in_flight,
        users: match src.stage.load {
            StageLoad::Concurrent { users, .. } => users,
            StageLoad::Sessions { concurrent, .. } => concurrent,
            _ => 0,
        },
        ttft_p99_ms: q(Metric::Ttft, 0.99),
        itl_p50_ms: q(Metric::Itl, 0.5),
        itl_p99_ms: q(Metric::Itl, 0.99),
        failure_classes: c.failures.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        groups: groups(src, &shards),
        agents: src
            .ids
            .iter()
            .zip(&shards)
            .map(|(id, s)| agent_live(src, id, s))
            .collect(),
    }
}

/// How long the stage's load runs, where the plan says.
fn stage_duration_s(load: &StageLoad) -> Option<f64> {
    match *load {
        StageLoad::Poisson { duration_s, .. } | StageLoad::Gamma { duration_s, .. } => {
            Some(duration_s)
        }
        StageLoad::Constant { duration_s, .. }
        | StageLoad::Concurrent { duration_s, .. }
        | StageLoad::Trace { duration_s, .. } => duration_s,
        StageLoad::Sessions { .. } => None,
    }
}

/// The planned request rate `elapsed_s` into the stage: ramps go linearly from `rate` to
/// `ramp_to` over the stage's duration. NaN where the load has no rate.
fn offered_rps(load: &StageLoad, elapsed_s: f64) -> f64 {
    let ramped = |rate: f64, to: Option<f64>, duration: Option<f64>| match (to, duration) {
        (Some(to), Some(d)) if d > 0.0 => rate + (to - rate) * (elapsed_s / d).clamp(0.0, 1.0),
        _ => rate,
    };
    match *load {
        StageLoad::Constant {
            rate,
            ramp_to,
            duration_s,
            ..
        } if rate.is_finite() => ramped(rate, ramp_to, duration_s),
        StageLoad::Poisson {
            rate,
            ramp_to,
            duration_s,
            ..
        } => ramped(rate, ramp_to, Some(duration_s)),
        StageLoad::Gamma { rate, .. } => rate,
        _ => f64::NAN,
    }
}

fn agent_live(src: &StageSources<'_>, id: &str, s: &ShardLive<'_>) -> wire::AgentLive {
    let link = src.fleet.link(id);
    let state = match link {
        _ if s.lost => "lost",
        Some((true, since)) if since > src.agent_timeout => "silent",
        Some((true, _)) => "connected",
        _ => "disconnected",
    };
    let ms = |us: u64| us as f64 / 1000.0;
    wire::AgentLive {
        id: id.to_string(),
        state: state.to_string(),
        last_heard_s: link.map_or(f64::NAN, |(_, since)| since.as_secs_f64()),
        requests: s.requests,
        send_lag_p50_ms: s.send_lag_us.map_or(f64::NAN, |(p50, _)| ms(p50)),
        send_lag_p99_ms: s.send_lag_us.map_or(f64::NAN, |(_, p99)| ms(p99)),
    }
}

/// One row per host group (the agents' roles), from each agent's latest telemetry sample.
fn groups(src: &StageSources<'_>, shards: &[ShardLive<'_>]) -> Vec<wire::GroupLive> {
    let mut out: BTreeMap<&str, (wire::GroupLive, Vec<f64>)> = BTreeMap::new();
    for (id, s) in src.ids.iter().zip(shards) {
        let role = src
            .agents
            .iter()
            .find(|a| &a.agent_id == id)
            .map_or("client", |a| a.role.as_str());
        let (g, utils) = out.entry(role).or_insert_with(|| {
            (
                wire::GroupLive {
                    name: role.to_string(),
                    gpu_power_w: f64::NAN,
                    gpu_util_pct: f64::NAN,
                    engine_running: f64::NAN,
                    engine_waiting: f64::NAN,
                    ..Default::default()
                },
                Vec::new(),
            )
        });
        g.agents += 1;
        let Some(sample) = s.latest_sample else {
            continue;
        };
        for d in &sample.devices {
            g.gpus += 1;
            g.gpu_power_w = add_finite(g.gpu_power_w, d.power_w);
            if d.gpu_util_pct.is_finite() {
                utils.push(d.gpu_util_pct);
            }
        }
        for e in &sample.engines {
            g.engine_running = add_finite(g.engine_running, e.running);
            g.engine_waiting = add_finite(g.engine_waiting, e.waiting);
        }
    }
    out.into_values()
        .map(|(mut g, utils)| {
            if !utils.is_empty() {
                g.gpu_util_pct = utils.iter().sum::<f64>() / utils.len() as f64;
            }
            g
        })
        .collect()
}

/// `sum + x`, where NaN means "nothing yet" on the left and "not reported" on the right.
fn add_finite(sum: f64, x: f64) -> f64 {
    match (sum.is_finite(), x.is_finite()) {
        (_, false) => sum,
        (false, true) => x,
        (true, true) => sum + x,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offered_rate_follows_the_ramp_and_is_nan_without_a_rate() {
        let poisson = StageLoad::Poisson {
            rate: 2.0,
            ramp_to: Some(10.0),
            duration_s: 8.0,
            max_requests: None,
        };
        assert_eq!(offered_rps(&poisson, 0.0), 2.0);
        assert_eq!(offered_rps(&poisson, 4.0), 6.0);
        assert_eq!(offered_rps(&poisson, 20.0), 10.0);
        let closed = StageLoad::Concurrent {
            users: 4,
            num_requests: Some(10),
            duration_s: None,
        };
        assert!(offered_rps(&closed, 1.0).is_nan());
        assert_eq!(stage_duration_s(&poisson), Some(8.0));
        assert_eq!(stage_duration_s(&closed), None);
    }

    #[test]
    fn sums_skip_what_was_not_reported() {
        assert!(add_finite(f64::NAN, f64::NAN).is_nan());
        assert_eq!(add_finite(f64::NAN, 3.0), 3.0);
        assert_eq!(add_finite(3.0, f64::NAN), 3.0);
        assert_eq!(add_finite(3.0, 4.0), 7.0);
    }
}
