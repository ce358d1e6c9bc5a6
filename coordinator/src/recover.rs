//! Stage reports rebuilt from a run directory's files alone, for stages that never finished
//! (the coordinator was stopped or crashed mid-stage): `profile.yaml`, `plan.json` and
//! `agents.json` give the run, `snapshots/stage-<k>.pb` the measurements (each (shard, seq)
//! applied once, as during the run), `state.jsonl` the stage's start. Such a report is marked
//! `partial: true` in its metadata.

use crate::collect::StageCollector;
use crate::store::{read_snapshots, RunStore, StoreError};
use fleetbench_model::hosts::{AgentInfo, DeviceInfo};
use fleetbench_model::role::Role;
use fleetbench_model::spec::{RunPlan, StagePlan};
use fleetbench_profile::{parse_profile, LoadedProfile};
use fleetbench_report::{build_stage_report, BenchmarkRun, EndpointFacts, StageInput};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Why an unfinished run's stages could not be reported.
#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    /// A run file (`path`) could not be read (`message`).
    #[error("{path}: {message}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Writing the report failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn read_err(path: &Path, e: impl std::fmt::Display) -> RecoverError {
    RecoverError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// What a run directory says about its run.
pub(crate) struct RunFiles {
    pub loaded: LoadedProfile,
    pub plan: RunPlan,
    pub agents: Vec<AgentInfo>,
    /// `profile.yaml` as given, for the report's `scenario.load.args`.
    pub(crate) as_given: Option<Value>,
}

pub(crate) fn read_run_files(dir: &Path) -> Result<RunFiles, RecoverError> {
    let plan_path = dir.join("plan.json");
    let plan: RunPlan =
        serde_json::from_slice(&std::fs::read(&plan_path).map_err(|e| read_err(&plan_path, e))?)
            .map_err(|e| read_err(&plan_path, e))?;
    let profile_path = dir.join("profile.yaml");
    let text = std::fs::read_to_string(&profile_path).map_err(|e| read_err(&profile_path, e))?;
    let loaded = parse_profile(&text, &profile_path, &plan.profile_name)
        .map_err(|e| read_err(&profile_path, e))?;
    let agents_path = dir.join("agents.json");
    let raw: Vec<Value> = serde_json::from_slice(
        &std::fs::read(&agents_path).map_err(|e| read_err(&agents_path, e))?,
    )
    .map_err(|e| read_err(&agents_path, e))?;
    let agents = raw
        .iter()
        .map(|a| AgentInfo {
            agent_id: a["id"].as_str().unwrap_or_default().to_string(),
            role: a["role"]
                .as_str()
                .and_then(|r| r.parse().ok())
                .unwrap_or(Role::Other),
            host_name: a["host"].as_str().unwrap_or_default().to_string(),
            devices: a["devices"]
                .as_array()
                .map(|d| {
                    d.iter()
                        .map(|d| DeviceInfo {
                            model: d["model"].as_str().unwrap_or_default().to_string(),
                            memory_bytes: d["memory_bytes"].as_u64().unwrap_or(0),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect();
    Ok(RunFiles {
        as_given: serde_norway::from_str(&text).ok(),
        loaded,
        plan,
        agents,
    })
}

/// The run's recorded state transitions (`state.jsonl`), oldest first.
pub(crate) fn read_state(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("state.jsonl"))
        .map(|t| {
            t.lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether the state log says the run ended.
pub(crate) fn finished(state: &[Value]) -> bool {
    state.iter().any(|e| e["event"] == "finished")
}

/// The stage's start (coordinator clock, Unix ns) from the state log.
pub(crate) fn stage_start(state: &[Value], stage: u32) -> Option<i64> {
    state
        .iter()
        .rev()
        .find(|e| e["event"] == "stage_started" && e["stage"] == stage)
        .and_then(|e| e["start_at_unix_ns"].as_i64())
}

/// A collector for `stage` holding every snapshot of its log (each (shard, seq) once).
pub(crate) fn collect_log(dir: &Path, stage: &StagePlan) -> Result<StageCollector, RecoverError> {
    let mut c = StageCollector::new(stage.shards.len());
    let path = dir.join(format!("snapshots/stage-{}.pb", stage.index));
    if path.is_file() {
        for s in read_snapshots(&path)? {
            c.apply(&s).map_err(|e| read_err(&path, e))?;
        }
    }
    Ok(c)
}

/// The report of a stage that did not finish, from what `collector` holds.
pub(crate) fn partial_report(
    files: &RunFiles,
    stage: &StagePlan,
    collector: &StageCollector,
    start_at_unix_ns: Option<i64>,
    reason: &str,
    mut extra: serde_json::Map<String, Value>,
) -> BenchmarkRun {
    let window = stage.window;
    let interval_s = stage
        .shards
        .first()
        .map_or(1.0, |s| s.snapshot_interval_ms as f64 / 1000.0);
    // What the snapshots cover: up to the end of the latest interval any shard reported.
    let covered = collector
        .latest_interval()
        .map_or(0.0, |k| f64::from(k + 1) * interval_s)
        .max(collector.elapsed_s());
    let end = window.end_s.map_or(covered, |e| e.min(covered));
    let duration_s = (end - window.start_s).max(0.0);
    let start_unix_s = start_at_unix_ns.map_or(0.0, |s| s as f64 / 1e9) + window.start_s;
    let ids: Vec<String> = files
        .plan
        .members
        .iter()
        .map(|m| m.agent_id.clone())
        .collect();
    extra.insert(
        "agents".into(),
        json!(ids
            .iter()
            .zip(collector.shard_reports())
            .map(
                |(id, r)| json!({"id": id, "requests": r.requests, "ok": r.ok,
                                   "started_unix_ns": r.started_unix_ns})
            )
            .collect::<Vec<_>>()),
    );
    extra.insert("partial".into(), json!(true));
    extra.insert("partial_reason".into(), json!(reason));
    extra.insert("degraded".into(), json!(true));
    let endpoint = EndpointFacts {
        owned_by: collector
            .endpoint
            .as_ref()
            .map(|e| e.owned_by.clone())
            .unwrap_or_default(),
    };
    build_stage_report(&StageInput {
        profile: &files.loaded,
        plan: &files.plan,
        stage,
        agents: &files.agents,
        merged: &collector.merged,
        duration_s,
        start_unix_s,
        stop_unix_s: start_unix_s + duration_s,
        endpoint: &endpoint,
        extra_metadata: extra,
        telemetry: &collector.telemetry_in(&ids, window),
        profile_as_given: files.as_given.as_ref(),
    })
}

/// Writes a partial report for every stage that has stored snapshots but no report; returns
/// their indices. Stages with a report are left as they are.
pub fn report_unfinished_stages(dir: &Path) -> Result<Vec<u32>, RecoverError> {
    let files = read_run_files(dir)?;
    let state = read_state(dir);
    let store = RunStore::open(dir.to_path_buf());
    let mut rebuilt = Vec::new();
    for stage in &files.plan.stages {
        let has_report = dir
            .join(format!("stage-{}/report.json", stage.index))
            .is_file();
        let has_log = dir
            .join(format!("snapshots/stage-{}.pb", stage.index))
            .is_file();
        if has_report || !has_log {
            continue;
        }
        let collector = collect_log(dir, stage)?;
        let report = partial_report(
            &files,
            stage,
            &collector,
            stage_start(&state, stage.index),
            "the stage never finished; rebuilt from its stored snapshots",
            serde_json::Map::new(),
        );
        store.write_stage_report(stage.index, &report)?;
        rebuilt.push(stage.index);
    }
    Ok(rebuilt)
}
