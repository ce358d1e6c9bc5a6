//! Runs left unfinished by a crashed `coordinator serve --state-dir DIR`, picked up by the next
//! one. `DIR/runs.jsonl` lists every run started there (id and run directory); a run whose
//! `state.jsonl` does not say `finished` is unfinished. The latest of them is resumed: its
//! current stage's collector is rebuilt from the stored snapshot log (so resent snapshots are
//! recognised and nothing is counted twice), its agents reattach and resend what was not
//! acknowledged plus their `ShardDone`, and the stage's report is written when it is complete,
//! or partial when its agents do not come back in time. The later stages then run as usual
//! (after a partial one, none: the run ends partial). Older unfinished runs get partial reports
//! from their files.

use crate::collect::StageCollector;
use crate::hub::{AgentEvent, Hub, Progress};
use crate::recover::{self, RecoverError, RunFiles};
use crate::run::{run_stages, sweep_after_probe, RunError, RunOptions};
use crate::stage::{cancel, handle_event, StageContext};
use crate::state_dir::unfinished_runs;
use crate::store::RunStore;
use fleetbench_model::clock::unix_ns;
use fleetbench_model::spec::StagePlan;
use fleetbench_proto::v1 as wire;
use fleetbench_proto::v1::coordinator_message::Body as Down;
use fleetbench_report::render::{write_outputs, ReportFormat};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// Picks up the unfinished runs of `state_dir`: partial reports for all but the latest, which
/// is resumed in the background (returns its run id).
pub fn resume_unfinished(hub: &Arc<Hub>, state_dir: &Path) -> Option<String> {
    let mut runs = unfinished_runs(state_dir);
    let latest = runs.pop()?;
    for dir in runs {
        close_partial(
            &dir,
            "the coordinator restarted; this run was not the latest",
            hub.config.report_format,
        );
    }
    match resume(hub, &latest) {
        Ok(id) => Some(id),
        Err(e) => {
            tracing::error!("cannot resume {}: {e}", latest.display());
            close_partial(
                &latest,
                "the coordinator restarted and could not resume it",
                hub.config.report_format,
            );
            None
        }
    }
}

/// Partial reports from the files, `finished` in the state log, and the outputs.
fn close_partial(dir: &Path, reason: &str, format: ReportFormat) {
    if let Err(e) = recover::report_unfinished_stages(dir) {
        tracing::warn!("{}: {e}", dir.display());
    }
    let store = RunStore::open(dir.to_path_buf());
    let _ = store.record_state(&json!({"event": "finished", "partial": true,
        "reason": reason, "at_unix_ns": unix_ns()}));
    if let Err(e) = write_outputs(dir, format) {
        tracing::warn!("{}: rendering failed: {e}", dir.display());
    }
}

fn resume(hub: &Arc<Hub>, dir: &Path) -> Result<String, RecoverError> {
    let files = recover::read_run_files(dir)?;
    let state = recover::read_state(dir);
    let run_id = files.plan.run_id.clone();
    // The stage in progress: started, not finished.
    let current = state
        .iter()
        .rev()
        .find(|e| e["event"] == "stage_started" || e["event"] == "stage_finished")
        .filter(|e| e["event"] == "stage_started")
        .and_then(|e| e["stage"].as_u64())
        .map(|k| k as u32);
    let Some(stage_index) = current else {
        close_partial(
            dir,
            "the coordinator restarted between stages",
            hub.config.report_format,
        );
        return Ok(run_id);
    };
    let Some(stage) = files
        .plan
        .stages
        .iter()
        .find(|s| s.index == stage_index)
        .cloned()
    else {
        close_partial(
            dir,
            "the coordinator restarted; its stage is not in the plan",
            hub.config.report_format,
        );
        return Ok(run_id);
    };
    let collector = recover::collect_log(dir, &stage)?;
    let (events_tx, events) = mpsc::unbounded_channel();
    if let Err(e) = hub.activate(&run_id, events_tx) {
        tracing::error!("cannot resume run {run_id}: {e}");
        close_partial(
            dir,
            "the coordinator restarted and could not resume it",
            hub.config.report_format,
        );
        return Ok(run_id);
    }
    let (ptx, prx) = watch::channel(Progress {
        run_id: run_id.clone(),
        stage: stage_index,
        stages: files.plan.stages.len() as u32,
        message: format!("resumed after a restart: stage {stage_index}"),
        ..Default::default()
    });
    hub.register_run(&run_id, prx);
    tracing::warn!(run = %run_id, "resuming run {run_id} at stage {stage_index} after a restart; waiting for its agents");
    let start_at = recover::stage_start(&state, stage_index);
    let (hub, dir, id) = (hub.clone(), dir.to_path_buf(), run_id.clone());
    tokio::spawn(async move {
        let resumed = Resumed {
            dir: dir.clone(),
            files,
            stage,
            collector,
            start_at,
        };
        let result = finish_stage(&hub, resumed, events, &ptx).await;
        hub.deactivate(&id);
        let message = match &result {
            Ok(()) => String::new(),
            Err(e) => e.to_string(),
        };
        ptx.send_modify(|p| {
            p.finished = true;
            p.results_dir = dir.display().to_string();
            p.error = message.clone();
        });
        for m in hub.fleet.members() {
            let end = Down::RunEnd(wire::RunEnd {
                run_id: id.clone(),
                ok: result.is_ok(),
                message: message.clone(),
            });
            hub.fleet.send(&m.agent_id, end).await;
        }
    });
    Ok(run_id)
}

/// The stage a restarted coordinator picks up: the run's files and the collector rebuilt from
/// its snapshot log.
struct Resumed {
    dir: PathBuf,
    files: RunFiles,
    stage: StagePlan,
    collector: StageCollector,
    /// The stage's recorded start, Unix ns in the coordinator's clock.
    start_at: Option<i64>,
}

/// Finishes the resumed stage (its report complete, or partial when agents did not come back),
/// then the later stages as usual after a complete one; renders the outputs.
async fn finish_stage(
    hub: &Arc<Hub>,
    mut resumed: Resumed,
    mut events: mpsc::UnboundedReceiver<AgentEvent>,
    progress: &watch::Sender<Progress>,
) -> Result<(), RecoverError> {
    let dir = resumed.dir.clone();
    let mut store = RunStore::open(dir.clone());
    let lost = collect_resumed(hub, &mut resumed, &mut store, &mut events).await;
    let (mut report, complete) = resumed_report(&resumed, lost);
    let stage = resumed.stage.index;
    store.write_stage_report(stage, &report)?;
    let _ = store.record_state(&json!({"event": "stage_finished", "stage": stage,
        "partial": !complete, "at_unix_ns": unix_ns()}));
    let total = report.metrics.requests.total;
    let plan = &resumed.files.plan;
    // A `load.sweep` probe's stages are generated once the probe is done.
    let sweep_after = stage == 0 && plan.stages.len() == 1;
    let later = sweep_after || plan.stages.iter().any(|s| s.index > stage);
    // The later stages run as usual when this one finished; otherwise the run ends partial.
    let partial_run = match (complete, later) {
        (true, true) => {
            let probe = sweep_after.then_some(&mut report);
            run_later_stages(hub, resumed, probe, &mut store, &mut events, progress).await?
        }
        (true, false) => false,
        (false, _) => true,
    };
    store.record_state(
        &json!({"event": "finished", "partial": partial_run, "at_unix_ns": unix_ns()}),
    )?;
    let how = if complete {
        "finished"
    } else {
        "ended partial"
    };
    tracing::info!("resumed stage {stage} {how}: {total} requests");
    crate::run::render_outputs(dir.clone(), hub.config.report_format)
        .await
        .map_err(|message| RecoverError::Read { path: dir, message })?;
    Ok(())
}

/// Collects the resumed stage until it is complete, its deadline passed (its planned end plus
/// grace in our clock, at least the loss timeout, then twice that timeout) or a stop request;
/// returns the agents that did not come back within the loss timeout.
async fn collect_resumed(
    hub: &Arc<Hub>,
    r: &mut Resumed,
    store: &mut RunStore,
    events: &mut mpsc::UnboundedReceiver<AgentEvent>,
) -> Vec<String> {
    let ids: Vec<String> = r
        .files
        .plan
        .members
        .iter()
        .map(|m| m.agent_id.clone())
        .collect();
    let timeout = hub.config.agent_timeout;
    let grace = Duration::from_millis(r.stage.shards.first().map_or(0, |s| s.grace_period_ms));
    let planned_end = match (r.start_at, r.stage.window.end_s) {
        (Some(s), Some(w)) => {
            let end_ns = s + (w * 1e9) as i64 + grace.as_nanos() as i64;
            Duration::from_nanos((end_ns - unix_ns()).max(0) as u64)
        }
        _ => Duration::from_secs(30),
    };
    let begun = Instant::now();
    let deadline = begun + planned_end.max(timeout) + timeout * 2;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut lost: Vec<String> = Vec::new();
    let mut stop = hub.stop_signal();
    let stage = r.stage.index;
    while !r.collector.complete() && Instant::now() < deadline {
        tokio::select! {
            ev = events.recv() => {
                let Some(ev) = ev else { break };
                if let Err(e) = handle_event(hub, &ids, stage, &mut r.collector, store, ev).await {
                    tracing::warn!("resumed stage {stage}: {e}");
                }
            }
            _ = tick.tick() => {
                // Agents that did not come back within the loss timeout are lost.
                if begun.elapsed() > timeout {
                    for agent in hub.fleet.silent(&ids, timeout) {
                        let shard = ids.iter().position(|i| *i == agent).unwrap_or(0) as u32;
                        if !r.collector.lost_shards().contains(&shard) {
                            tracing::warn!(agent = %agent, "did not come back after the restart: shard {shard} lost");
                            r.collector.abandon(shard);
                            lost.push(agent);
                        }
                    }
                }
            }
            _ = crate::hub::stopped(&mut stop) => {
                cancel(hub, &ids, &r.files.plan.run_id, "the coordinator is stopping").await;
                break;
            }
        }
    }
    lost
}

/// The resumed stage's report and whether every shard finished: partial unless all did.
fn resumed_report(r: &Resumed, lost: Vec<String>) -> (fleetbench_report::BenchmarkRun, bool) {
    let complete = r.collector.complete() && lost.is_empty();
    let mut extra = serde_json::Map::new();
    extra.insert("recovered_after_restart".into(), json!(true));
    if !lost.is_empty() {
        extra.insert("lost_agents".into(), json!(lost));
    }
    let reason = if complete {
        "the coordinator restarted during this stage; all shards reattached and finished"
    } else {
        "the coordinator restarted during this stage and not every shard came back"
    };
    let mut report =
        recover::partial_report(&r.files, &r.stage, &r.collector, r.start_at, reason, extra);
    if complete {
        if let Some(Value::Object(m)) = report.metrics.metadata.as_mut() {
            m.remove("partial");
            m.remove("partial_reason");
            m.remove("degraded");
            m.insert("restart_note".into(), json!(reason));
        }
    }
    (report, complete)
}

/// The stages after the resumed one, as a run runs them (after a resumed `load.sweep` probe,
/// `probe` its report: the saturation rate, then the stages generated from it); whether the
/// run ended partial (a stage failed or was cut short). A store error is the resume's error.
async fn run_later_stages(
    hub: &Arc<Hub>,
    r: Resumed,
    probe: Option<&mut fleetbench_report::BenchmarkRun>,
    store: &mut RunStore,
    events: &mut mpsc::UnboundedReceiver<AgentEvent>,
    progress: &watch::Sender<Progress>,
) -> Result<bool, RecoverError> {
    let profile_path = r.dir.join("profile.yaml");
    let profile_text = std::fs::read_to_string(&profile_path).map_err(|e| RecoverError::Read {
        path: profile_path,
        message: e.to_string(),
    })?;
    let prometheus = crate::run::check_managed_prometheus(&r.files.loaded, progress)
        .await
        .map_err(|e| RecoverError::Read {
            path: r.dir.join("profile.yaml"),
            message: e.to_string(),
        })?;
    let mut ctx = StageContext {
        hub,
        loaded: &r.files.loaded,
        profile_text: &profile_text,
        // The resumed run's verdicts use the default failure rate (the original's flag is not
        // in the run directory); its preflight was done before stage 0.
        options: RunOptions {
            preflight: false,
            ..Default::default()
        },
        plan: &r.files.plan,
        agents: &r.files.agents,
        store,
        events,
        progress,
        prometheus: prometheus.as_ref(),
    };
    let sweep = r.files.loaded.profile.load.sweep.as_ref();
    let later = match (sweep, probe) {
        (Some(sweep), Some(probe)) => sweep_after_probe(&mut ctx, sweep, Some(probe)).await,
        _ => run_stages(&mut ctx, r.stage.index + 1).await,
    };
    match later {
        Ok((_, cut_short)) => Ok(cut_short),
        Err(RunError::Store(e)) => Err(e.into()),
        Err(e) => {
            tracing::error!("resumed run: {e}");
            Ok(true)
        }
    }
}
