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
use crate::run::{cancel, handle_event, run_stage, RunRequest};
use crate::store::RunStore;
use fleetbench_common::clock::unix_ns;
use fleetbench_proto::v1 as wire;
use fleetbench_proto::v1::coordinator_message::Body as Down;
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// Appends a started run to `state_dir/runs.jsonl`.
pub(crate) fn register(state_dir: &Path, run_id: &str, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(state_dir)?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(state_dir.join("runs.jsonl"))?;
    let mut line = serde_json::to_vec(&json!({"run_id": run_id, "dir": dir})).unwrap_or_default();
    line.push(b'\n');
    f.write_all(&line)
}

/// The run directories of the runs in `state_dir` that did not finish, oldest first.
pub fn unfinished_runs(state_dir: &Path) -> Vec<PathBuf> {
    let text = std::fs::read_to_string(state_dir.join("runs.jsonl")).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["dir"].as_str().map(PathBuf::from))
        .filter(|d| d.is_dir() && !recover::finished(&recover::read_state(d)))
        .collect()
}

/// Picks up the unfinished runs of `state_dir`: partial reports for all but the latest, which
/// is resumed in the background (returns its run id).
pub fn resume_unfinished(hub: &Arc<Hub>, state_dir: &Path) -> Option<String> {
    let mut runs = unfinished_runs(state_dir);
    let latest = runs.pop()?;
    for dir in runs {
        close_partial(
            &dir,
            "the coordinator restarted; this run was not the latest",
        );
    }
    match resume(hub, &latest) {
        Ok(id) => Some(id),
        Err(e) => {
            tracing::error!("cannot resume {}: {e}", latest.display());
            close_partial(&latest, "the coordinator restarted and could not resume it");
            None
        }
    }
}

/// Partial reports from the files, the outputs, and `finished` in the state log.
fn close_partial(dir: &Path, reason: &str) {
    if let Err(e) = recover::report_unfinished_stages(dir) {
        tracing::warn!("{}: {e}", dir.display());
    }
    let store = RunStore::open(dir.to_path_buf());
    let _ = store.record_state(&json!({"event": "finished", "partial": true,
        "reason": reason, "at_unix_ns": unix_ns()}));
    if let Err(e) = crate::render::render_run(dir) {
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
        close_partial(dir, "the coordinator restarted between stages");
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
        );
        return Ok(run_id);
    };
    let collector = recover::collect_log(dir, &stage)?;
    let (events_tx, events) = mpsc::unbounded_channel();
    if let Err(e) = hub.activate(&run_id, events_tx) {
        tracing::error!("cannot resume run {run_id}: {e}");
        close_partial(dir, "the coordinator restarted and could not resume it");
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
        let result =
            finish_stage(&hub, &dir, files, stage, collector, start_at, events, &ptx).await;
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

#[allow(clippy::too_many_arguments)]
async fn finish_stage(
    hub: &Arc<Hub>,
    dir: &Path,
    files: RunFiles,
    stage: fleetbench_common::plan::StagePlan,
    mut collector: StageCollector,
    start_at: Option<i64>,
    mut events: mpsc::UnboundedReceiver<AgentEvent>,
    progress: &watch::Sender<Progress>,
) -> Result<(), RecoverError> {
    let mut store = RunStore::open(dir.to_path_buf());
    let ids: Vec<String> = files
        .plan
        .members
        .iter()
        .map(|m| m.agent_id.clone())
        .collect();
    let timeout = hub.config.agent_timeout;
    // Until the stage's planned end (+ grace) in our clock, and at least the loss timeout.
    let grace = Duration::from_millis(stage.shards.first().map_or(0, |s| s.grace_period_ms));
    let planned_end = match (start_at, stage.window.end_s) {
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
    while !collector.complete() && Instant::now() < deadline {
        tokio::select! {
            ev = events.recv() => {
                let Some(ev) = ev else { break };
                if let Err(e) = handle_event(hub, &ids, stage.index, &mut collector, &mut store, ev).await {
                    tracing::warn!("resumed stage {}: {e}", stage.index);
                }
            }
            _ = tick.tick() => {
                // Agents that did not come back within the loss timeout are lost.
                if begun.elapsed() > timeout {
                    for agent in hub.fleet.silent(&ids, timeout) {
                        let shard = ids.iter().position(|i| *i == agent).unwrap_or(0) as u32;
                        if !collector.lost_shards().contains(&shard) {
                            tracing::warn!(agent = %agent, "did not come back after the restart: shard {shard} lost");
                            collector.abandon(shard);
                            lost.push(agent);
                        }
                    }
                }
            }
            _ = crate::hub::stopped(&mut stop) => {
                cancel(hub, &ids, &files.plan.run_id, "the coordinator is stopping").await;
                break;
            }
        }
    }
    let complete = collector.complete() && lost.is_empty();
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
    let mut report = recover::partial_report(&files, &stage, &collector, start_at, reason, extra);
    if complete {
        if let Some(Value::Object(m)) = report.metrics.metadata.as_mut() {
            m.remove("partial");
            m.remove("partial_reason");
            m.remove("degraded");
            m.insert("restart_note".into(), json!(reason));
        }
    }
    store.write_stage_report(stage.index, &report)?;
    let _ = store.record_state(&json!({"event": "stage_finished", "stage": stage.index,
        "partial": !complete, "at_unix_ns": unix_ns()}));
    let total = report.metrics.requests.total;
    // The later stages run as usual when this one finished; otherwise the run ends partial.
    let mut partial_run = !complete;
    let later: Vec<_> = files
        .plan
        .stages
        .iter()
        .filter(|s| s.index > stage.index)
        .cloned()
        .collect();
    if complete && !later.is_empty() {
        let RunFiles {
            loaded,
            plan,
            agents,
            ..
        } = files;
        let req = RunRequest {
            loaded,
            profile_text: std::fs::read_to_string(dir.join("profile.yaml")).unwrap_or_default(),
            expect_agents: plan.members.len() as u32,
            // The resumed run's verdicts use the default failure rate (the original's flag is
            // not in the run directory); its preflight was done before stage 0.
            options: crate::run::RunOptions {
                preflight: false,
                ..Default::default()
            },
        };
        for next in &later {
            if hub.stop_requested() {
                partial_run = true;
                break;
            }
            match run_stage(
                hub,
                &req,
                &plan,
                next,
                &agents,
                &mut store,
                &mut events,
                progress,
            )
            .await
            {
                Ok((r, cut_short)) => {
                    store.write_stage_report(next.index, &r)?;
                    let _ = store.record_state(&json!({"event": "stage_finished",
                        "stage": next.index, "partial": cut_short, "at_unix_ns": unix_ns()}));
                    if cut_short {
                        partial_run = true;
                        break;
                    }
                }
                Err(e) => {
                    tracing::error!("resumed run, stage {}: {e}", next.index);
                    partial_run = true;
                    break;
                }
            }
        }
    } else if !later.is_empty() {
        partial_run = true;
    }
    store.record_state(
        &json!({"event": "finished", "partial": partial_run, "at_unix_ns": unix_ns()}),
    )?;
    tracing::info!(
        "resumed stage {} {}: {} requests",
        stage.index,
        if complete {
            "finished"
        } else {
            "ended partial"
        },
        total
    );
    let d = dir.to_path_buf();
    match tokio::task::spawn_blocking(move || crate::render::render_run(&d)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!("rendering the report failed: {e}"),
        Err(e) => tracing::warn!("rendering the report panicked: {e}"),
    }
    Ok(())
}
