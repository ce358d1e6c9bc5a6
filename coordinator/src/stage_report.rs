//! A stage's report once its collection ended: the BenchmarkRun from the merged measurements,
//! the coordinator's own facts under `metrics.metadata` (per agent: requests, clock, connections;
//! lost shards; a stop), the P/D path check and the verdict, and the stage's final line in the
//! progress the views follow.

use crate::collect::StageCollector;
use crate::fleet::Fleet;
use crate::hub::Progress;
use fleetbench_model::hosts::AgentInfo;
use fleetbench_model::spec::{RunPlan, StagePlan};
use fleetbench_profile::LoadedProfile;
use fleetbench_proto::v1 as wire;
use fleetbench_report::{
    attach_pd_path, build_stage_report, declares_pd, judge, BenchmarkRun, EndpointFacts,
    ShardTally, StageInput, StageVerdict, VerdictInputs, DEFAULT_MAX_FAILURE_RATE,
};
use serde::Serialize;
use tokio::sync::watch;

/// How a run judges its stages, and whether it tests the endpoint before stage 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunOptions {
    /// A stage whose failure rate is above this fails (`--max-failure-rate`).
    pub max_failure_rate: f64,
    /// One test request per agent before stage 0 (`--no-preflight` turns it off).
    pub preflight: bool,
    /// A failed P/D path check fails the stage (`--require-pd` / `--no-require-pd`); `None`:
    /// when the profile declares prefill and decode hosts.
    pub require_pd: Option<bool>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            max_failure_rate: DEFAULT_MAX_FAILURE_RATE,
            preflight: true,
            require_pd: None,
        }
    }
}

/// The policy for data a lost shard sends after its loss, as written in the report.
const LATE_DATA_POLICY: &str = "exclude_after_loss";

/// What the report is built from besides the stage's collection.
pub(crate) struct ReportInputs<'a> {
    pub(crate) loaded: &'a LoadedProfile,
    /// The profile as given, for `scenario.load.args`.
    pub(crate) profile_text: &'a str,
    pub(crate) options: RunOptions,
    pub(crate) plan: &'a RunPlan,
    pub(crate) agents: &'a [AgentInfo],
    pub(crate) fleet: &'a Fleet,
}

/// A lost shard: its agent, and seconds after the stage start when the loss was detected.
pub(crate) struct LostShard {
    pub(crate) agent: String,
    pub(crate) shard: u32,
    pub(crate) detected_after_s: f64,
}

/// How a stage's collection ended.
pub(crate) struct Collected {
    pub(crate) collector: StageCollector,
    /// The stage's start instant, Unix ns in the coordinator's clock.
    pub(crate) start_at: i64,
    pub(crate) lost: Vec<LostShard>,
    /// A stop request cut the stage short.
    pub(crate) stopped: bool,
}

/// The coordinator's facts under the report's `metrics.metadata`.
#[derive(Serialize)]
struct StageMetadata {
    agents: Vec<AgentFacts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    degraded: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    lost_shards: Vec<LostShardFacts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    late_data_policy: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    partial: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    partial_reason: Option<&'static str>,
    /// The circuit breaker that stopped the stage (the verdict fails it).
    #[serde(skip_serializing_if = "Option::is_none")]
    circuit_breaker: Option<BreakerFacts>,
}

/// A circuit breaker trip: which breaker, on which agent's requests, when and why.
#[derive(Serialize)]
struct BreakerFacts {
    name: String,
    agent: String,
    shard: u32,
    /// Seconds from the stage start (the agent's clock) to the request that tripped it.
    at_s: f64,
    trigger: String,
    reason: String,
    request_id: String,
}

#[derive(Serialize)]
struct AgentFacts {
    id: String,
    requests: u64,
    ok: u64,
    /// The agent's own clock; with clock_offset_ms it maps to the coordinator's.
    started_unix_ns: i64,
    clock_offset_ms: Option<f64>,
    clock_round_trip_ms: Option<f64>,
    clock_probes: u32,
    connections: Connections,
}

#[derive(Serialize)]
struct Connections {
    opened: u64,
    reused: u64,
    retries: u64,
}

#[derive(Serialize)]
struct LostShardFacts {
    agent: String,
    shard: u32,
    /// The lost window starts where the last applied snapshot ended.
    lost_from_s: Option<f64>,
    detected_after_s: f64,
    applied_snapshots: Option<u64>,
    requests_counted: Option<u64>,
    excluded_snapshots: Option<u64>,
}

fn metadata(fleet: &Fleet, stage: &StagePlan, ids: &[String], c: &Collected) -> StageMetadata {
    let ms = |ns: i64| ns as f64 / 1e6;
    let agents = ids
        .iter()
        .zip(c.collector.shard_reports())
        .map(|(id, r)| AgentFacts {
            id: id.clone(),
            requests: r.requests,
            ok: r.ok,
            started_unix_ns: r.started_unix_ns,
            clock_offset_ms: fleet.offset_ns(id).map(ms),
            clock_round_trip_ms: fleet.round_trip_ns(id).map(ms),
            clock_probes: fleet.clock_probes(id),
            connections: Connections {
                opened: r.conn_opened,
                reused: r.conn_reused,
                retries: r.retries,
            },
        })
        .collect();
    let lost_shards: Vec<LostShardFacts> = c
        .lost
        .iter()
        .map(|l| {
            let f = c.collector.loss_facts(l.shard);
            let interval_s = stage.shards[l.shard as usize].snapshot_interval_ms as f64 / 1000.0;
            LostShardFacts {
                agent: l.agent.clone(),
                shard: l.shard,
                lost_from_s: f.map(|f| f64::from(f.first_missing_interval) * interval_s),
                detected_after_s: l.detected_after_s,
                applied_snapshots: f.map(|f| f.applied_snapshots),
                requests_counted: f.map(|f| f.requests),
                excluded_snapshots: f.map(|f| f.excluded_snapshots),
            }
        })
        .collect();
    let lost = !lost_shards.is_empty();
    StageMetadata {
        agents,
        degraded: (lost || c.stopped).then_some(true),
        lost_shards,
        late_data_policy: lost.then_some(LATE_DATA_POLICY),
        partial: c.stopped.then_some(true),
        partial_reason: c
            .stopped
            .then_some("the coordinator was stopped (SIGINT/SIGTERM) during this stage"),
        circuit_breaker: c
            .collector
            .breaker_trip
            .as_ref()
            .map(|(shard, t)| BreakerFacts {
                name: t.name.clone(),
                agent: ids.get(*shard as usize).cloned().unwrap_or_default(),
                shard: *shard,
                at_s: t.at_s,
                trigger: t.trigger.clone(),
                reason: t.reason.clone(),
                request_id: t.request_id.clone(),
            }),
    }
}

/// The stage's report with its P/D path check and verdict; fails only when the metadata
/// cannot be encoded.
pub(crate) fn stage_report(
    inputs: &ReportInputs<'_>,
    stage: &StagePlan,
    ids: &[String],
    c: &Collected,
) -> Result<(BenchmarkRun, StageVerdict), serde_json::Error> {
    let window = stage.window;
    // The measured window: its end, or (count-bound stages) when the last request ended.
    let window_end = window.end_s.unwrap_or_else(|| c.collector.elapsed_s());
    let duration_s = (window_end - window.start_s).max(0.0);
    let start_unix_s = c.start_at as f64 / 1e9 + window.start_s;
    let endpoint = EndpointFacts {
        owned_by: (c.collector.endpoint.as_ref()).map_or_else(String::new, |e| e.owned_by.clone()),
    };
    let extra = match serde_json::to_value(metadata(inputs.fleet, stage, ids, c))? {
        serde_json::Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    let as_given: Option<serde_json::Value> = serde_norway::from_str(inputs.profile_text).ok();
    let mut report = build_stage_report(&StageInput {
        profile: inputs.loaded,
        plan: inputs.plan,
        stage,
        agents: inputs.agents,
        merged: &c.collector.merged,
        duration_s,
        start_unix_s,
        stop_unix_s: start_unix_s + duration_s,
        endpoint: &endpoint,
        extra_metadata: extra,
        telemetry: &c.collector.telemetry_in(ids, window),
        profile_as_given: as_given.as_ref(),
    });
    let require_pd =
        (inputs.options.require_pd).unwrap_or_else(|| declares_pd(&inputs.loaded.profile));
    if let Some(pd) = attach_pd_path(&mut report, require_pd) {
        tracing::info!("stage {} ({}): {}", stage.index, stage.label, pd.line());
    }
    let verdict = judge(
        &mut report,
        &VerdictInputs {
            max_failure_rate: inputs.options.max_failure_rate,
            shards: tallies(stage, ids, c),
            error_bodies: c.collector.error_bodies.clone(),
        },
    );
    Ok((report, verdict))
}

/// Planned and counted requests per shard, for the verdict (a lost shard with when its loss
/// was detected, from the stage start).
fn tallies(stage: &StagePlan, ids: &[String], c: &Collected) -> Vec<ShardTally> {
    ids.iter()
        .zip(c.collector.shard_reports())
        .zip(&stage.shards)
        .map(|((id, r), spec)| ShardTally {
            shard: spec.shard,
            agent: id.clone(),
            planned: spec.planned_count(),
            counted: r.requests + r.outside_window,
            lost: r.lost,
            lost_after_s: (c.lost.iter())
                .find(|l| l.shard == spec.shard)
                .map(|l| l.detected_after_s),
        })
        .collect()
}

/// The stage's last log line and its final line in the progress (`stopped` when cut short).
pub(crate) fn announce(
    stage: &StagePlan,
    report: &BenchmarkRun,
    verdict: &StageVerdict,
    c: &Collected,
    progress: &watch::Sender<Progress>,
) {
    tracing::info!(
        "stage {} ({}) done: {} requests, {} failures; verdict {}{}",
        stage.index,
        stage.label,
        report.metrics.requests.total,
        report.metrics.requests.failures.unwrap_or(0),
        verdict.verdict.as_str(),
        if verdict.reasons.is_empty() {
            String::new()
        } else {
            format!(": {}", verdict.reasons.join("; "))
        }
    );
    let counters = &c.collector.merged.counters;
    progress.send_modify(|p| {
        p.requests_done = counters.requests;
        p.failures = counters.failed();
        p.ended.push(wire::StageEnded {
            stage: stage.index,
            label: stage.label.clone(),
            requests: counters.requests,
            failures: counters.failed(),
            ttft_p50_ms: p.ttft_p50_ms.unwrap_or(f64::NAN),
            elapsed_s: p.live.as_ref().map_or(f64::NAN, |l| l.elapsed_s),
            sessions_ok: counters.sessions_ok,
            sessions_failed: counters.sessions_failed,
            calls_not_sent: counters.calls_not_sent,
            recorded_substitutions: counters.recorded_substitutions,
            verdict: if c.stopped {
                "stopped"
            } else {
                verdict.verdict.as_str()
            }
            .to_string(),
        });
    });
}
