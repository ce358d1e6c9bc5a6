//! One stage of a run across the fleet: fresh clock probes (their replies awaited), one start
//! instant for all shards (each Assign in its agent's own clock), then collection: snapshots
//! stored, applied and acknowledged, lost agents handled by `fleet.on_agent_loss`, a stop
//! request honoured within [`STOP_GRACE`]; the report is built by [`crate::stage_report`].
//!
//! A lost shard (`on_agent_loss: continue`) is told to stop (Cancel) and closed: what its agent
//! sends afterwards is kept apart (`snapshots/excluded/`) and never merged.

use crate::collect::{Applied, StageCollector};
use crate::hub::{AgentEvent, Hub, Progress};
use crate::managed_prometheus::ManagedPrometheus;
use crate::stage_report::{announce, stage_report, Collected, LostShard, ReportInputs, RunOptions};
use crate::store::RunStore;
use fleetbench_model::clock::unix_ns;
use fleetbench_model::hosts::AgentInfo;
use fleetbench_model::measure::Metric;
use fleetbench_model::spec::{RunPlan, ShardLoad, StagePlan};
use fleetbench_profile::{LoadedProfile, OnAgentLoss};
use fleetbench_proto::v1 as wire;
use fleetbench_proto::v1::coordinator_message::Body as Down;
use fleetbench_report::BenchmarkRun;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// How long a stopped stage waits for the agents' last snapshots.
pub const STOP_GRACE: Duration = Duration::from_secs(3);

/// Clock probes sent to every agent before a stage starts.
const STAGE_PROBES: u64 = 5;

/// How long a stage start waits at most for the replies to those probes.
const STAGE_PROBE_WAIT: Duration = Duration::from_secs(1);

/// Why a stage could not be completed.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// A snapshot or report could not be stored.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// An agent was silent past `fleet.agent_timeout` and `fleet.on_agent_loss` is `fail`.
    #[error("stage {stage}: agent {agent} was lost (silent for {timeout:?}); fleet.on_agent_loss is fail")]
    AgentLost {
        /// The stage (index).
        stage: u32,
        /// The agent's id.
        agent: String,
        /// How long it was silent.
        timeout: Duration,
    },
    /// An agent reported its shard failed.
    #[error("stage {stage}: agent {agent} failed its shard: {reason}")]
    ShardFailed {
        /// The stage (index).
        stage: u32,
        /// The agent's id.
        agent: String,
        /// What went wrong.
        reason: String,
    },
    /// An agent sent a snapshot that cannot be merged.
    #[error("stage {stage}: snapshot from agent {agent} refused: {reason}")]
    BadSnapshot {
        /// The stage (index).
        stage: u32,
        /// The agent's id.
        agent: String,
        /// What went wrong.
        reason: String,
    },
    /// The stage ran past its limit (`stage`, `limit`).
    #[error("stage {stage} did not finish within {limit:?}")]
    StageTimeout {
        /// The stage (index).
        stage: u32,
        /// The stage's time limit.
        limit: Duration,
    },
    /// A shard spec or report could not be encoded.
    #[error("stage {stage}: cannot encode {what}: {source}")]
    Encode {
        /// The stage (index).
        stage: u32,
        /// What was being encoded.
        what: &'static str,
        /// The underlying error.
        source: serde_json::Error,
    },
    /// `metrics.prometheus.google_managed`: no token for the stage.
    #[error("{0}")]
    ManagedPrometheus(String),
}

/// What every stage of a run shares: the fleet, the profile and plan, the store, the agents'
/// events and the progress the views follow.
pub(crate) struct StageContext<'a> {
    pub(crate) hub: &'a Arc<Hub>,
    pub(crate) loaded: &'a LoadedProfile,
    /// The profile as given (`profile.yaml`).
    pub(crate) profile_text: &'a str,
    pub(crate) options: RunOptions,
    pub(crate) plan: &'a RunPlan,
    pub(crate) agents: &'a [AgentInfo],
    pub(crate) store: &'a mut RunStore,
    pub(crate) events: &'a mut mpsc::UnboundedReceiver<AgentEvent>,
    pub(crate) progress: &'a watch::Sender<Progress>,
    /// `metrics.prometheus.google_managed`: fills each stage's query with a fresh token.
    pub(crate) prometheus: Option<&'a Arc<ManagedPrometheus>>,
}

/// A stage under way: its shards' agents, collector and what happened to them so far.
struct Running<'s> {
    stage: &'s StagePlan,
    ids: Vec<String>,
    collector: StageCollector,
    /// The start instant on our monotonic clock.
    started: Instant,
    lost: Vec<LostShard>,
    /// Set when a stop request cut the stage short: collect until then, then report partial.
    stopping: Option<Instant>,
    /// A shard's circuit breaker tripped and the other shards were told to stop.
    breaker_stopped: bool,
}

/// Runs one stage on every member of the plan; the report and whether a stop cut it short.
pub(crate) async fn run_stage(
    ctx: &mut StageContext<'_>,
    stage: &StagePlan,
) -> Result<(BenchmarkRun, bool), StageError> {
    let ids: Vec<String> = ctx
        .plan
        .members
        .iter()
        .map(|m| m.agent_id.clone())
        .collect();
    reset_progress(ctx, stage, ids.len());
    let start_at = start(ctx, stage, &ids).await?;
    let mut run = Running {
        stage,
        collector: StageCollector::new(ids.len()).with_request_limit(stage.planned_requests()),
        ids,
        started: Instant::now() + ctx.hub.config.start_lead,
        lost: Vec::new(),
        stopping: None,
        breaker_stopped: false,
    };
    collect(ctx, &mut run).await?;
    let tripped = run.collector.breaker_trip.is_some();
    let collected = Collected {
        collector: run.collector,
        start_at,
        lost: run.lost,
        stopped: run.stopping.is_some(),
    };
    let inputs = ReportInputs {
        loaded: ctx.loaded,
        profile_text: ctx.profile_text,
        options: ctx.options,
        plan: ctx.plan,
        agents: ctx.agents,
        fleet: &ctx.hub.fleet,
    };
    let (report, verdict) =
        stage_report(&inputs, stage, &run.ids, &collected).map_err(|source| {
            StageError::Encode {
                stage: stage.index,
                what: "the report's metadata",
                source,
            }
        })?;
    let live = LiveSources {
        hub: ctx.hub,
        stage,
        collector: &collected.collector,
        ids: &run.ids,
        agents: ctx.agents,
        started: run.started,
    };
    publish_live(&live, ctx.progress);
    announce(stage, &report, &verdict, &collected, ctx.progress);
    if tripped && stage.index + 1 < ctx.plan.stages.len() as u32 {
        // inference-perf never closes a tripped breaker: its later stages end at once.
        tracing::warn!(
            "a circuit breaker tripped in stage {}: the run's later stages are not started",
            stage.index
        );
    }
    Ok((report, collected.stopped || tripped))
}

fn reset_progress(ctx: &StageContext<'_>, stage: &StagePlan, agents: usize) {
    let planned = stage.planned_requests().unwrap_or(0);
    ctx.progress.send_modify(|p| {
        p.stage = stage.index;
        p.stages = ctx.plan.stages.len() as u32;
        p.requests_done = 0;
        p.requests_planned = planned;
        p.failures = 0;
        p.ttft_p50_ms = None;
        p.agents = agents as u32;
        p.message = format!("stage {} ({})", stage.index, stage.label);
        p.live = None;
    });
}

/// Fresh clock offsets, then one start for all, in each agent's own clock; returns the start in
/// ours. Every shard spec is encoded before the first Assign is sent.
async fn start(
    ctx: &mut StageContext<'_>,
    stage: &StagePlan,
    ids: &[String],
) -> Result<i64, StageError> {
    let hub = ctx.hub;
    let token = match ctx.prometheus {
        Some(mp) => Some(fresh_token(mp).await?),
        None => None,
    };
    let specs = (stage.shards.iter())
        .map(|shard| match (ctx.prometheus, &token) {
            (Some(mp), Some(t)) if shard.prometheus_query.is_some() => {
                let mut filled = shard.clone();
                mp.fill(&mut filled, t);
                serde_json::to_vec(&filled)
            }
            _ => serde_json::to_vec(shard),
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| StageError::Encode {
            stage: stage.index,
            what: "a shard spec",
            source,
        })?;
    crate::probe::probe_and_wait(&hub.fleet, ids, STAGE_PROBES, STAGE_PROBE_WAIT).await;
    let start_at = unix_ns() + hub.config.start_lead.as_nanos() as i64;
    for ((shard, id), spec) in ids.iter().enumerate().zip(specs) {
        let offset = hub.fleet.offset_ns(id).unwrap_or(0);
        let assign = wire::Assign {
            run_id: ctx.plan.run_id.clone(),
            stage: stage.index,
            shard: shard as u32,
            start_at_unix_ns: start_at + offset,
            shard_spec_json: spec,
        };
        tracing::debug!(agent = %id, offset_ms = offset as f64 / 1e6, "assign stage {}", stage.index);
        hub.fleet.send(id, Down::Assign(assign)).await;
    }
    ctx.store
        .record_state(&json!({"event": "stage_started", "stage": stage.index,
        "start_at_unix_ns": start_at, "at_unix_ns": unix_ns()}))?;
    Ok(start_at)
}

/// A Managed Prometheus token for a stage (off the runtime: the request blocks).
async fn fresh_token(mp: &Arc<ManagedPrometheus>) -> Result<String, StageError> {
    let mp = mp.clone();
    match tokio::task::spawn_blocking(move || mp.token()).await {
        Ok(r) => r.map_err(StageError::ManagedPrometheus),
        Err(e) => Err(StageError::ManagedPrometheus(format!(
            "metrics.prometheus.google_managed: panicked: {e}"
        ))),
    }
}

/// Collects until every shard is done (or lost), a stop's grace is over, or the stage's time
/// limit passed (an error).
async fn collect(ctx: &mut StageContext<'_>, run: &mut Running<'_>) -> Result<(), StageError> {
    let (hub, stage) = (ctx.hub, run.stage);
    let window = stage.window;
    // Agents stop waiting for requests at window end + grace; allow for the last snapshots.
    let grace = Duration::from_millis(stage.shards[0].grace_period_ms);
    let limit = window.end_s.map(|w| {
        hub.config.start_lead + Duration::from_secs_f64(w) + grace + Duration::from_secs(30)
    });
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let begun = Instant::now();
    let mut stop = hub.stop_signal();
    // Telemetry-only shards of a stage without a fixed end run until the load shards are done.
    let idle: Vec<u32> = (stage.shards.iter())
        .filter(|s| s.load == ShardLoad::Idle && window.end_s.is_none())
        .map(|s| s.shard)
        .collect();
    let mut stage_end_sent = idle.is_empty();
    while !run.collector.complete() {
        if run.stopping.is_some_and(|t| Instant::now() >= t) {
            tracing::warn!(
                "stage {}: stop grace over; reporting what arrived",
                stage.index
            );
            break;
        }
        if !stage_end_sent && run.collector.complete_except(&idle) {
            for &i in &idle {
                let end = wire::StageEnd {
                    run_id: ctx.plan.run_id.clone(),
                    stage: stage.index,
                };
                hub.fleet
                    .send(&run.ids[i as usize], Down::StageEnd(end))
                    .await;
            }
            stage_end_sent = true;
        }
        tokio::select! {
            _ = crate::hub::stopped(&mut stop), if run.stopping.is_none() => {
                tracing::warn!("stage {}: stop requested; cancelling the agents and waiting up to {STOP_GRACE:?} for their last snapshots", stage.index);
                cancel(hub, &run.ids, &ctx.plan.run_id, "the coordinator is stopping").await;
                run.stopping = Some(Instant::now() + STOP_GRACE);
                ctx.progress.send_modify(|p| p.message = "stopping: waiting for the last snapshots".into());
            }
            ev = ctx.events.recv() => {
                let Some(ev) = ev else { break };
                handle_event(hub, &run.ids, stage.index, &mut run.collector, ctx.store, ev).await?;
                stop_on_breaker(hub, run, &ctx.plan.run_id).await;
                let c = &run.collector.merged.counters;
                ctx.progress.send_modify(|p| {
                    p.requests_done = c.requests;
                    p.failures = c.failed();
                });
            }
            _ = tick.tick() => {
                // The figures on the tick, not per snapshot: they scan the histograms.
                let live = LiveSources { hub, stage, collector: &run.collector, ids: &run.ids, agents: ctx.agents, started: run.started };
                publish_live(&live, ctx.progress);
                if let Some(l) = limit {
                    if begun.elapsed() > l {
                        cancel(hub, &run.ids, &ctx.plan.run_id, "stage timed out").await;
                        return Err(StageError::StageTimeout { stage: stage.index, limit: l });
                    }
                }
                handle_losses(ctx, run).await?;
            }
        }
    }
    Ok(())
}

/// Once a shard reports that a circuit breaker tripped, every other shard is told to stop.
async fn stop_on_breaker(hub: &Arc<Hub>, run: &mut Running<'_>, run_id: &str) {
    let Some((shard, trip)) = (!run.breaker_stopped)
        .then_some(run.collector.breaker_trip.as_ref())
        .flatten()
    else {
        return;
    };
    let agent = run.ids.get(*shard as usize).cloned().unwrap_or_default();
    let reason = format!(
        "circuit breaker {:?} tripped on agent {agent} {:.1} s into stage {}",
        trip.name, trip.at_s, run.stage.index
    );
    tracing::warn!(
        "{reason} ({}: {}); stopping the stage's other shards",
        trip.trigger,
        trip.reason
    );
    run.breaker_stopped = true;
    let others: Vec<String> = (run.ids.iter())
        .filter(|id| **id != agent)
        .cloned()
        .collect();
    cancel(hub, &others, run_id, &reason).await;
}

/// Agents silent past `--agent-timeout`: the run fails, or (`on_agent_loss: continue`) their
/// shards are closed and they are told to stop.
async fn handle_losses(ctx: &StageContext<'_>, run: &mut Running<'_>) -> Result<(), StageError> {
    let (hub, stage) = (ctx.hub, run.stage.index);
    for agent in hub.fleet.silent(&run.ids, hub.config.agent_timeout) {
        let shard = run.ids.iter().position(|i| *i == agent).unwrap_or(0) as u32;
        if run.collector.lost_shards().contains(&shard) {
            continue;
        }
        match ctx.loaded.profile.fleet.on_agent_loss {
            OnAgentLoss::Fail => {
                cancel(hub, &run.ids, &ctx.plan.run_id, "an agent was lost").await;
                return Err(StageError::AgentLost {
                    stage,
                    agent,
                    timeout: hub.config.agent_timeout,
                });
            }
            OnAgentLoss::Continue => {
                tracing::warn!(agent = %agent, "agent lost in stage {stage}; continuing without its shard (nothing it sends from now on is merged)");
                run.collector.abandon(shard);
                // Tell it to stop, in case it is only frozen or cut off.
                hub.fleet.try_send(
                    &agent,
                    Down::Cancel(wire::Cancel {
                        run_id: ctx.plan.run_id.clone(),
                        reason: format!("agent {agent} was declared lost in stage {stage}"),
                    }),
                );
                run.lost.push(LostShard {
                    agent,
                    shard,
                    detected_after_s: run.started.elapsed().as_secs_f64(),
                });
            }
        }
    }
    Ok(())
}

/// What the live figures of a stage are computed from.
struct LiveSources<'a> {
    hub: &'a Hub,
    stage: &'a StagePlan,
    collector: &'a StageCollector,
    ids: &'a [String],
    agents: &'a [AgentInfo],
    started: Instant,
}

/// The stage's live figures (and TTFT median) into the progress the views follow.
fn publish_live(s: &LiveSources<'_>, progress: &watch::Sender<Progress>) {
    let sources = crate::live::figures::StageSources {
        stage: s.stage,
        collector: s.collector,
        ids: s.ids,
        agents: s.agents,
        fleet: &s.hub.fleet,
        agent_timeout: s.hub.config.agent_timeout,
    };
    let elapsed = Instant::now().saturating_duration_since(s.started);
    let live = crate::live::figures::stage_live(&sources, elapsed.as_secs_f64());
    let ttft = s.collector.merged.histogram(Metric::Ttft);
    let p50 = (!ttft.is_empty()).then(|| ttft.value_at_quantile(0.5) as f64 / 1000.0);
    progress.send_modify(|p| {
        p.ttft_p50_ms = p50;
        p.live = Some(live);
    });
}

/// One agent event of the stage: a snapshot checked, stored, applied and acknowledged (a
/// resend only acknowledged), a shard's end, or its failure (the stage fails).
pub(crate) async fn handle_event(
    hub: &Arc<Hub>,
    ids: &[String],
    stage: u32,
    collector: &mut StageCollector,
    store: &mut RunStore,
    ev: AgentEvent,
) -> Result<(), StageError> {
    match ev {
        AgentEvent::Snapshot { agent_id, snapshot } => {
            let key = (
                snapshot.run_id.clone(),
                snapshot.stage,
                snapshot.shard,
                snapshot.seq,
            );
            let owner_ok = ids
                .get(snapshot.shard as usize)
                .is_some_and(|i| *i == agent_id);
            if !owner_ok {
                tracing::warn!(agent = %agent_id, "snapshot for shard {} that is not this agent's: ignored", snapshot.shard);
                return Ok(());
            }
            if snapshot.stage == stage {
                if collector.is_new(&snapshot) {
                    // A forged or broken snapshot is refused before it reaches the log.
                    if let Err(e) = collector.check(&snapshot) {
                        return Err(StageError::BadSnapshot {
                            stage,
                            agent: agent_id,
                            reason: e.to_string(),
                        });
                    }
                    // Stored before it is applied and acknowledged.
                    store.append_snapshot(&snapshot)?;
                    store.append_requests(&agent_id, &snapshot)?;
                }
                match collector.apply(&snapshot) {
                    Ok(Applied::New | Applied::Duplicate) => {}
                    Ok(Applied::Excluded) => {
                        // Kept apart for inspection, never merged; the agent is told again to stop.
                        store.append_excluded(&snapshot)?;
                        tracing::warn!(agent = %agent_id, "snapshot {} of lost shard {} arrived after the loss: excluded", snapshot.seq, snapshot.shard);
                        hub.fleet.try_send(
                            &agent_id,
                            Down::Cancel(wire::Cancel {
                                run_id: snapshot.run_id.clone(),
                                reason: "this agent was declared lost".into(),
                            }),
                        );
                    }
                    Err(e) => {
                        return Err(StageError::BadSnapshot {
                            stage,
                            agent: agent_id,
                            reason: e.to_string(),
                        });
                    }
                }
            } else if snapshot.stage > stage {
                tracing::warn!(agent = %agent_id, "snapshot for future stage {}: ignored", snapshot.stage);
                return Ok(());
            }
            // Earlier stages were complete, so this is a resend: acknowledge it again.
            let ack = wire::SnapshotAck {
                run_id: key.0,
                stage: key.1,
                shard: key.2,
                seq: key.3,
            };
            hub.fleet.send(&agent_id, Down::Ack(ack)).await;
        }
        AgentEvent::Done { done, .. } => {
            if done.stage == stage {
                collector.done(&done);
            }
        }
        AgentEvent::Preflight { .. } | AgentEvent::MediaReceived { .. } => {}
        AgentEvent::Failed { agent_id, failed } => {
            if failed.stage == stage {
                cancel(hub, ids, &failed.run_id, "a shard failed").await;
                return Err(StageError::ShardFailed {
                    stage,
                    agent: agent_id,
                    reason: failed.reason,
                });
            }
        }
    }
    Ok(())
}

/// Tells every agent of `ids` to stop its shard of `run_id`.
pub(crate) async fn cancel(hub: &Arc<Hub>, ids: &[String], run_id: &str, reason: &str) {
    for id in ids {
        let c = Down::Cancel(wire::Cancel {
            run_id: run_id.to_string(),
            reason: reason.to_string(),
        });
        hub.fleet.send(id, c).await;
    }
}
