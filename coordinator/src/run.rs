//! One run, from a validated profile to the written report: wait for the agents, plan, test the
//! endpoint once per agent (the preflight), then per stage probe clocks, assign every shard with
//! one start_at (in each agent's own clock), collect and store snapshots (acknowledging each after
//! it is stored), and write the stage's report with its verdict; at the end the summary table
//! with every stage's verdict.
//!
//! A lost shard (`on_agent_loss: continue`) is told to stop (Cancel) and closed: what its agent
//! sends afterwards is kept apart (`snapshots/excluded/`) and never merged. A stop request
//! ([`Hub::request_stop`]: Ctrl-C, SIGTERM) cancels the stage, waits [`STOP_GRACE`] for the
//! agents' last snapshots and writes the stage's report marked `partial: true`.

use crate::collect::{Applied, StageCollector};
use crate::hub::{AgentEvent, Hub, Progress};
use crate::service::probe_clock;
use crate::store::RunStore;
use fleetbench_common::clock::unix_ns;
use fleetbench_common::measure::Metric;
use fleetbench_common::plan::{plan_run, RunPlan, ShardLoad, StagePlan};
use fleetbench_common::profile::{LoadedProfile, OnAgentLoss};
use fleetbench_common::report::{
    assess, build_stage_report, judge, verdicts_markdown, vllm_results, vllm_table, with_verdicts,
    AgentInfo, BenchmarkRun, EndpointFacts, ShardTally, StageInput, StageVerdict, VerdictInputs,
    DEFAULT_MAX_FAILURE_RATE,
};
use fleetbench_proto::v1 as wire;
use fleetbench_proto::v1::coordinator_message::Body as Down;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

pub struct RunRequest {
    pub loaded: LoadedProfile,
    /// The profile as given, stored with the results.
    pub profile_text: String,
    pub expect_agents: u32,
    pub options: RunOptions,
}

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

pub struct RunHandle {
    pub run_id: String,
    pub progress: watch::Receiver<Progress>,
    pub task: tokio::task::JoinHandle<Result<RunOutcome, RunError>>,
}

#[derive(Debug)]
pub struct RunOutcome {
    pub run_id: String,
    pub dir: std::path::PathBuf,
    pub reports: Vec<BenchmarkRun>,
    /// Each stage's verdict, judged from its report.
    pub verdicts: Vec<StageVerdict>,
    pub summary_markdown: String,
    /// Stopped before its end (a stop request): the last report is partial.
    pub partial: bool,
}

/// How long a stopped stage waits for the agents' last snapshots.
pub const STOP_GRACE: Duration = Duration::from_secs(3);

/// The policy for data a lost shard sends after its loss, as written in the report.
const LATE_DATA_POLICY: &str = "exclude_after_loss";

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("waited {waited:?} for {expected} agents, {joined} joined")]
    NotEnoughAgents {
        expected: u32,
        joined: usize,
        waited: Duration,
    },
    #[error(transparent)]
    Plan(#[from] fleetbench_common::plan::PlanError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("{0}")]
    Busy(String),
    #[error("stage {stage}: agent {agent} was lost (silent for {timeout:?}); fleet.on_agent_loss is fail")]
    AgentLost {
        stage: u32,
        agent: String,
        timeout: Duration,
    },
    #[error("stage {stage}: agent {agent} failed its shard: {reason}")]
    ShardFailed {
        stage: u32,
        agent: String,
        reason: String,
    },
    #[error("stage {stage}: snapshot from agent {agent} refused: {reason}")]
    BadSnapshot {
        stage: u32,
        agent: String,
        reason: String,
    },
    #[error("stage {stage} did not finish within {limit:?}")]
    StageTimeout { stage: u32, limit: Duration },
    #[error("stopped before any stage started")]
    Stopped,
    #[error(transparent)]
    Preflight(#[from] crate::preflight::PreflightFailure),
}

/// A run id that sorts by time: `YYYYMMDD-HHMMSS-xxxx`.
fn new_run_id() -> String {
    let t = fleetbench_common::clock::utc(unix_ns() / 1_000_000_000);
    format!(
        "{:04}{:02}{:02}-{:02}{:02}{:02}-{:04x}",
        t.year,
        t.month,
        t.day,
        t.hour,
        t.minute,
        t.second,
        rand::random::<u16>()
    )
}

/// Starts a run in the background.
pub fn start_run(hub: Arc<Hub>, req: RunRequest) -> RunHandle {
    let run_id = new_run_id();
    let (ptx, prx) = watch::channel(Progress {
        run_id: run_id.clone(),
        message: "waiting for agents".into(),
        ..Default::default()
    });
    hub.register_run(&run_id, prx.clone());
    let id = run_id.clone();
    let task = tokio::spawn(async move {
        let result = execute(&hub, &id, req, &ptx).await;
        hub.deactivate(&id);
        ptx.send_modify(|p| {
            p.finished = true;
            match &result {
                Ok(o) => {
                    p.message = "finished".into();
                    p.summary_markdown = o.summary_markdown.clone();
                    p.verdicts = o.verdicts.clone();
                }
                Err(e) => p.error = e.to_string(),
            }
        });
        // Tell every agent the run is over (agents started with --once exit).
        let (ok, message) = match &result {
            Ok(_) => (true, String::new()),
            Err(e) => (false, e.to_string()),
        };
        for m in hub.fleet.members() {
            let end = Down::RunEnd(wire::RunEnd {
                run_id: id.clone(),
                ok,
                message: message.clone(),
            });
            hub.fleet.send(&m.agent_id, end).await;
        }
        result
    });
    RunHandle {
        run_id,
        progress: prx,
        task,
    }
}

async fn execute(
    hub: &Arc<Hub>,
    run_id: &str,
    req: RunRequest,
    progress: &watch::Sender<Progress>,
) -> Result<RunOutcome, RunError> {
    let (events_tx, mut events) = mpsc::unbounded_channel();
    hub.activate(run_id, events_tx).map_err(RunError::Busy)?;

    // 1. The fleet.
    let waited_from = Instant::now();
    while hub.fleet.connected_count() < req.expect_agents as usize {
        if hub.stop_requested() {
            return Err(RunError::Stopped);
        }
        if waited_from.elapsed() > hub.config.join_timeout {
            return Err(RunError::NotEnoughAgents {
                expected: req.expect_agents,
                joined: hub.fleet.connected_count(),
                waited: hub.config.join_timeout,
            });
        }
        progress.send_modify(|p| {
            p.agents = hub.fleet.connected_count() as u32;
            p.message = format!("waiting for agents: {}/{}", p.agents, req.expect_agents);
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Roles as they joined, except where `fleet.hosts[].agents` places an agent in a group.
    let fleet_cfg = &req.loaded.profile.fleet;
    let mut members = hub.fleet.members();
    for m in &mut members {
        if let Some(role) = fleet_cfg.assigned_role(&m.agent_id) {
            m.role = role;
        }
    }
    let agents: Vec<AgentInfo> = members
        .iter()
        .filter_map(|m| {
            let mut a = hub.fleet.info(&m.agent_id)?;
            a.role = m.role;
            Some(a)
        })
        .collect();

    // 2. The plan.
    let seed = req
        .loaded
        .profile
        .load
        .base_seed
        .unwrap_or_else(rand::random);
    let plan = plan_run(&req.loaded, &members, run_id, seed)?;
    if req.options.preflight {
        progress.send_modify(|p| p.message = "preflight: one test request per agent".into());
        crate::preflight::preflight(hub, &plan, &mut events).await?;
    }
    let dir = hub.config.results_dir.join(run_id);
    let mut store = RunStore::create(dir.clone())?.with_secrets(req.loaded.secrets.clone());
    if let Some(state_dir) = hub.state_dir() {
        // A restarted `serve` on this state dir finds the run there.
        if let Err(e) = crate::resume::register(&state_dir, run_id, &dir) {
            tracing::warn!("cannot record run {run_id} in {}: {e}", state_dir.display());
        }
    }
    store.write_file("profile.yaml", req.profile_text.as_bytes())?;
    store.write_file(
        "plan.json",
        &serde_json::to_vec_pretty(&plan).unwrap_or_default(),
    )?;
    let agents_json: Vec<_> = agents
        .iter()
        .map(|a| json!({"id": a.agent_id, "role": a.role.as_str(), "host": a.host_name,
                        "devices": a.devices.iter().map(|d| json!({"model": d.model, "memory_bytes": d.memory_bytes})).collect::<Vec<_>>()}))
        .collect();
    store.write_file(
        "agents.json",
        &serde_json::to_vec_pretty(&agents_json).unwrap_or_default(),
    )?;
    tracing::info!(run = %run_id, agents = members.len(), stages = plan.stages.len(), "run planned; results in {}", dir.display());
    store.record_state(&json!({"event": "planned", "at_unix_ns": unix_ns()}))?;

    // 3. The stages, in step.
    let mut reports = Vec::new();
    let mut partial = false;
    for stage in &plan.stages {
        // `load.interval`: inference-perf's wait between stages.
        if stage.index > 0 && plan.stage_interval_s > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(plan.stage_interval_s)).await;
        }
        if hub.stop_requested() {
            partial = true;
            break;
        }
        let (report, cut_short) = run_stage(
            hub,
            &req,
            &plan,
            stage,
            &agents,
            &mut store,
            &mut events,
            progress,
        )
        .await?;
        store.write_stage_report(stage.index, &report)?;
        store.record_state(&json!({"event": "stage_finished", "stage": stage.index,
            "partial": cut_short, "at_unix_ns": unix_ns()}))?;
        reports.push(report);
        if cut_short {
            partial = true;
            break;
        }
    }

    store
        .record_state(&json!({"event": "finished", "partial": partial, "at_unix_ns": unix_ns()}))?;

    // 4. The summary (vLLM's dashboard columns), with each stage's verdict.
    let verdicts: Vec<StageVerdict> = reports.iter().map(assess).collect();
    let table = vllm_table(&vllm_results(&plan.profile_name, &reports));
    let md = table.markdown() + &verdicts_markdown(&verdicts);
    store.write_file("summary.md", md.as_bytes())?;
    store.write_file(
        "summary.json",
        &serde_json::to_vec_pretty(&with_verdicts(table.json(), &verdicts)).unwrap_or_default(),
    )?;
    // The llm-d reports (v0.1 and v0.2.1 under llm-d's names), then SUMMARY.txt, summary.csv,
    // plots and report.html, from the files just written; a failure here leaves the run's
    // results intact.
    let render_dir = dir.clone();
    let format = hub.config.report_format;
    match tokio::task::spawn_blocking(move || {
        if let Err(e) = crate::render::write_llm_d_reports(&render_dir, format) {
            tracing::warn!("writing the llm-d reports failed: {e}");
        }
        crate::render::render_run(&render_dir)
    })
    .await
    {
        Ok(Ok(r)) => tracing::info!("report: {}", r.dir.join("report.html").display()),
        Ok(Err(e)) => tracing::warn!("rendering the report failed: {e}"),
        Err(e) => tracing::warn!("rendering the report panicked: {e}"),
    }
    progress.send_modify(|p| p.results_dir = dir.display().to_string());
    Ok(RunOutcome {
        run_id: run_id.to_string(),
        dir,
        reports,
        verdicts,
        summary_markdown: md,
        partial,
    })
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn run_stage(
    hub: &Arc<Hub>,
    req: &RunRequest,
    plan: &RunPlan,
    stage: &StagePlan,
    agents: &[AgentInfo],
    store: &mut RunStore,
    events: &mut mpsc::UnboundedReceiver<AgentEvent>,
    progress: &watch::Sender<Progress>,
) -> Result<(BenchmarkRun, bool), RunError> {
    let ids: Vec<String> = plan.members.iter().map(|m| m.agent_id.clone()).collect();
    let planned = stage.planned_requests().unwrap_or(0);
    progress.send_modify(|p| {
        p.stage = stage.index;
        p.stages = plan.stages.len() as u32;
        p.requests_done = 0;
        p.requests_planned = planned;
        p.failures = 0;
        p.ttft_p50_ms = None;
        p.agents = ids.len() as u32;
        p.message = format!("stage {} ({})", stage.index, stage.label);
        p.live = None;
    });

    // Fresh clock offsets, then one start for all, in each agent's own clock.
    for id in &ids {
        if let Some(d) = hub.fleet.downlink(id) {
            tokio::spawn(probe_clock(d, 5));
        }
    }
    tokio::time::sleep(Duration::from_millis(120)).await;
    let start_at = unix_ns() + hub.config.start_lead.as_nanos() as i64;
    for (shard, id) in ids.iter().enumerate() {
        let offset = hub.fleet.offset_ns(id).unwrap_or(0);
        let spec = &stage.shards[shard];
        let assign = wire::Assign {
            run_id: plan.run_id.clone(),
            stage: stage.index,
            shard: shard as u32,
            start_at_unix_ns: start_at + offset,
            shard_spec_json: serde_json::to_vec(spec).unwrap_or_default(),
        };
        tracing::debug!(agent = %id, offset_ms = offset as f64 / 1e6, "assign stage {}", stage.index);
        hub.fleet.send(id, Down::Assign(assign)).await;
    }
    let started = Instant::now() + hub.config.start_lead;
    store.record_state(&json!({"event": "stage_started", "stage": stage.index,
        "start_at_unix_ns": start_at, "at_unix_ns": unix_ns()}))?;

    let window = stage.window;
    // Agents stop waiting for requests at window end + grace; allow for the last snapshots.
    let grace = Duration::from_millis(stage.shards[0].grace_period_ms);
    let limit = window.end_s.map(|w| {
        hub.config.start_lead + Duration::from_secs_f64(w) + grace + Duration::from_secs(30)
    });
    let mut collector =
        StageCollector::new(stage.index, ids.len()).with_request_limit(stage.planned_requests());
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    // Lost shards: (agent, shard, seconds after the start when the loss was detected).
    let mut lost_agents: Vec<(String, u32, f64)> = Vec::new();
    let begun = Instant::now();
    let mut stop = hub.stop_signal();
    // Set when a stop request cut the stage short: collect until then, then report partial.
    let mut stopping: Option<Instant> = None;
    // Telemetry-only shards of a stage without a fixed end run until the load shards are done.
    let idle: Vec<u32> = stage
        .shards
        .iter()
        .filter(|s| s.load == ShardLoad::Idle && window.end_s.is_none())
        .map(|s| s.shard)
        .collect();
    let mut stage_end_sent = idle.is_empty();
    while !collector.complete() {
        if stopping.is_some_and(|t| Instant::now() >= t) {
            tracing::warn!(
                "stage {}: stop grace over; reporting what arrived",
                stage.index
            );
            break;
        }
        if !stage_end_sent && collector.complete_except(&idle) {
            for &i in &idle {
                let end = wire::StageEnd {
                    run_id: plan.run_id.clone(),
                    stage: stage.index,
                };
                hub.fleet.send(&ids[i as usize], Down::StageEnd(end)).await;
            }
            stage_end_sent = true;
        }
        tokio::select! {
            _ = crate::hub::stopped(&mut stop), if stopping.is_none() => {
                tracing::warn!("stage {}: stop requested; cancelling the agents and waiting up to {STOP_GRACE:?} for their last snapshots", stage.index);
                cancel(hub, &ids, &plan.run_id, "the coordinator is stopping").await;
                stopping = Some(Instant::now() + STOP_GRACE);
                progress.send_modify(|p| p.message = "stopping: waiting for the last snapshots".into());
            }
            ev = events.recv() => {
                let Some(ev) = ev else { break };
                handle_event(hub, &ids, stage.index, &mut collector, store, ev).await?;
                let c = &collector.merged.counters;
                progress.send_modify(|p| {
                    p.requests_done = c.requests;
                    p.failures = c.failed();
                });
            }
            _ = tick.tick() => {
                // The figures on the tick, not per snapshot: they scan the histograms.
                publish_live(hub, stage, &collector, &ids, agents, started, progress);
                if let Some(l) = limit {
                    if begun.elapsed() > l {
                        cancel(hub, &ids, &plan.run_id, "stage timed out").await;
                        return Err(RunError::StageTimeout { stage: stage.index, limit: l });
                    }
                }
                let lost = hub.fleet.silent(&ids, hub.config.agent_timeout);
                for agent in lost {
                    let shard = ids.iter().position(|i| *i == agent).unwrap_or(0) as u32;
                    if collector.lost_shards().contains(&shard) {
                        continue;
                    }
                    match req.loaded.profile.fleet.on_agent_loss {
                        OnAgentLoss::Fail => {
                            cancel(hub, &ids, &plan.run_id, "an agent was lost").await;
                            return Err(RunError::AgentLost { stage: stage.index, agent, timeout: hub.config.agent_timeout });
                        }
                        OnAgentLoss::Continue => {
                            tracing::warn!(agent = %agent, "agent lost in stage {}; continuing without its shard (nothing it sends from now on is merged)", stage.index);
                            collector.abandon(shard);
                            // Tell it to stop, in case it is only frozen or cut off.
                            hub.fleet.try_send(&agent, Down::Cancel(wire::Cancel {
                                run_id: plan.run_id.clone(),
                                reason: format!("agent {agent} was declared lost in stage {}", stage.index),
                            }));
                            lost_agents.push((agent, shard, started.elapsed().as_secs_f64()));
                        }
                    }
                }
            }
        }
    }

    // The measured window: its end, or (count-bound stages) when the last request ended.
    let window_end = window.end_s.unwrap_or_else(|| collector.elapsed_s());
    let duration_s = (window_end - window.start_s).max(0.0);
    let start_unix_s = start_at as f64 / 1e9 + window.start_s;
    let endpoint = EndpointFacts {
        owned_by: collector
            .endpoint
            .as_ref()
            .map(|e| e.owned_by.clone())
            .unwrap_or_default(),
    };
    let mut extra = serde_json::Map::new();
    extra.insert(
        "agents".into(),
        json!(ids
            .iter()
            .zip(collector.shard_reports())
            .map(|(id, r)| json!({
                "id": id,
                "requests": r.requests,
                "ok": r.ok,
                // The agent's own clock; with clock_offset_ms it maps to the coordinator's.
                "started_unix_ns": r.started_unix_ns,
                "clock_offset_ms": hub.fleet.offset_ns(id).map(|o| o as f64 / 1e6),
                "clock_round_trip_ms": hub.fleet.round_trip_ns(id).map(|o| o as f64 / 1e6),
                "clock_probes": hub.fleet.clock_probes(id),
                "connections": {"opened": r.conn_opened, "reused": r.conn_reused, "retries": r.retries},
            }))
            .collect::<Vec<_>>()),
    );
    if !lost_agents.is_empty() {
        let lost: Vec<serde_json::Value> = lost_agents
            .iter()
            .map(|(agent, shard, detected)| {
                let f = collector.loss_facts(*shard);
                let interval_s = stage.shards[*shard as usize].snapshot_interval_ms as f64 / 1000.0;
                json!({
                    "agent": agent,
                    "shard": shard,
                    // The lost window starts where the last applied snapshot ended.
                    "lost_from_s": f.map(|f| f64::from(f.first_missing_interval) * interval_s),
                    "detected_after_s": detected,
                    "applied_snapshots": f.map(|f| f.applied_snapshots),
                    "requests_counted": f.map(|f| f.requests),
                    "excluded_snapshots": f.map(|f| f.excluded_snapshots),
                })
            })
            .collect();
        extra.insert("degraded".into(), json!(true));
        extra.insert("lost_shards".into(), json!(lost));
        extra.insert("late_data_policy".into(), json!(LATE_DATA_POLICY));
    }
    if stopping.is_some() {
        extra.insert("partial".into(), json!(true));
        extra.insert(
            "partial_reason".into(),
            json!("the coordinator was stopped (SIGINT/SIGTERM) during this stage"),
        );
        extra.insert("degraded".into(), json!(true));
    }
    let as_given: Option<serde_json::Value> = serde_norway::from_str(&req.profile_text).ok();
    let tallies: Vec<ShardTally> = ids
        .iter()
        .zip(collector.shard_reports())
        .zip(&stage.shards)
        .map(|((id, r), spec)| ShardTally {
            shard: spec.shard,
            agent: id.clone(),
            planned: spec.planned_count(),
            counted: r.requests + r.outside_window,
            lost: r.lost,
            lost_after_s: None,
        })
        .collect();
    let mut report = build_stage_report(&StageInput {
        profile: &req.loaded,
        plan,
        stage,
        agents,
        merged: &collector.merged,
        duration_s,
        start_unix_s,
        stop_unix_s: start_unix_s + duration_s,
        endpoint: &endpoint,
        extra_metadata: extra,
        telemetry: &collector.telemetry_in(&ids, window),
        profile_as_given: as_given.as_ref(),
    });
    let require_pd = req
        .options
        .require_pd
        .unwrap_or_else(|| fleetbench_common::report::declares_pd(&req.loaded.profile));
    if let Some(pd) = fleetbench_common::report::attach_pd_path(&mut report, require_pd) {
        tracing::info!("stage {} ({}): {}", stage.index, stage.label, pd.line());
    }
    let verdict = judge(
        &mut report,
        &VerdictInputs {
            max_failure_rate: req.options.max_failure_rate,
            shards: tallies,
            error_bodies: collector.error_bodies.clone(),
        },
    );
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
    publish_live(hub, stage, &collector, &ids, agents, started, progress);
    let stopped = stopping.is_some();
    progress.send_modify(|p| {
        p.requests_done = collector.merged.counters.requests;
        p.failures = collector.merged.counters.failed();
        p.ended.push(wire::StageEnded {
            stage: stage.index,
            label: stage.label.clone(),
            requests: collector.merged.counters.requests,
            failures: collector.merged.counters.failed(),
            ttft_p50_ms: p.ttft_p50_ms.unwrap_or(f64::NAN),
            elapsed_s: p.live.as_ref().map_or(f64::NAN, |l| l.elapsed_s),
            verdict: if stopped {
                "stopped"
            } else {
                verdict.verdict.as_str()
            }
            .to_string(),
        });
    });
    Ok((report, stopped))
}

/// The stage's live figures (and TTFT median) into the progress the views follow.
fn publish_live(
    hub: &Hub,
    stage: &StagePlan,
    collector: &StageCollector,
    ids: &[String],
    agents: &[AgentInfo],
    started: Instant,
    progress: &watch::Sender<Progress>,
) {
    let sources = crate::live::figures::StageSources {
        stage,
        collector,
        ids,
        agents,
        fleet: &hub.fleet,
        agent_timeout: hub.config.agent_timeout,
    };
    let elapsed = Instant::now().saturating_duration_since(started);
    let live = crate::live::figures::stage_live(&sources, elapsed.as_secs_f64());
    let ttft = collector.merged.histogram(Metric::Ttft);
    let p50 = (!ttft.is_empty()).then(|| ttft.value_at_quantile(0.5) as f64 / 1000.0);
    progress.send_modify(|p| {
        p.ttft_p50_ms = p50;
        p.live = Some(live);
    });
}

pub(crate) async fn handle_event(
    hub: &Arc<Hub>,
    ids: &[String],
    stage: u32,
    collector: &mut StageCollector,
    store: &mut RunStore,
    ev: AgentEvent,
) -> Result<(), RunError> {
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
                        return Err(RunError::BadSnapshot {
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
                        return Err(RunError::BadSnapshot {
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
        AgentEvent::Preflight { .. } => {}
        AgentEvent::Failed { agent_id, failed } => {
            if failed.stage == stage {
                cancel(hub, ids, &failed.run_id, "a shard failed").await;
                return Err(RunError::ShardFailed {
                    stage,
                    agent: agent_id,
                    reason: failed.reason,
                });
            }
        }
    }
    Ok(())
}

pub(crate) async fn cancel(hub: &Arc<Hub>, ids: &[String], run_id: &str, reason: &str) {
    for id in ids {
        let c = Down::Cancel(wire::Cancel {
            run_id: run_id.to_string(),
            reason: reason.to_string(),
        });
        hub.fleet.send(id, c).await;
    }
}
