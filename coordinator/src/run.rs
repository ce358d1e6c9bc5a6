//! One run, from a validated profile to the written report: wait for the agents, plan, test the
//! endpoint once per agent (the preflight), write the run directory's first files, then the
//! stages in step ([`crate::stage`]: clock probes, one start for all shards, collection, the
//! report with its verdict) and at the end every stage's verdict and the run's outputs
//! (`fleetbench_report::render::write_outputs`: summaries, plots, HTML, llm-d reports). With
//! `load.sweep` the stages are the saturation probe, then the stages generated from the rate it
//! found ([`crate::saturation`], `docs/saturation.md`).
//!
//! A stop request ([`Hub::request_stop`]: Ctrl-C, SIGTERM) cancels the stage, waits
//! [`STOP_GRACE`] for the agents' last snapshots and ends the run after that stage's report,
//! marked `partial: true`.

use crate::hub::{Hub, Progress};
use crate::managed_prometheus::ManagedPrometheus;
use crate::stage::{run_stage, StageContext};
use crate::store::RunStore;
use crate::upload::Uploads;
use fleetbench_model::clock::{compact_utc, unix_ns, unix_s};
use fleetbench_model::hosts::AgentInfo;
use fleetbench_model::spec::{Member, RunPlan};
use fleetbench_profile::plan::{plan_run, plan_sweep_stages};
use fleetbench_profile::{LoadedProfile, SweepConfig};
use fleetbench_proto::v1 as wire;
use fleetbench_proto::v1::coordinator_message::Body as Down;
use fleetbench_report::render::{write_outputs, ReportFormat};
use fleetbench_report::{
    assess, verdicts_markdown, vllm_results, vllm_table, BenchmarkRun, StageVerdict,
};
use serde::Serialize;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

pub use crate::stage::{StageError, STOP_GRACE};
pub use crate::stage_report::RunOptions;
pub use crate::store::StoreError;

/// A run to start: the profile and how to run it.
pub struct RunRequest {
    /// The validated profile.
    pub loaded: LoadedProfile,
    /// The profile as given, stored with the results.
    pub profile_text: String,
    /// Agents to wait for before the first stage.
    pub expect_agents: u32,
    /// Verdict thresholds and outputs.
    pub options: RunOptions,
}

/// A started run: its id, its progress, and the task that ends with its outcome.
pub struct RunHandle {
    /// The run's id.
    pub run_id: String,
    /// Progress updates, for the console.
    pub progress: watch::Receiver<Progress>,
    /// Ends when the run does.
    pub task: tokio::task::JoinHandle<Result<RunOutcome, RunError>>,
}

/// What a finished run left: its directory, reports and verdicts.
#[derive(Debug)]
pub struct RunOutcome {
    /// The run's id.
    pub run_id: String,
    /// The run's directory.
    pub dir: std::path::PathBuf,
    /// Each stage's report.
    pub reports: Vec<BenchmarkRun>,
    /// Each stage's verdict, judged from its report.
    pub verdicts: Vec<StageVerdict>,
    /// The run's summary (`summary.md`).
    pub summary_markdown: String,
    /// Stopped before its end (a stop request): the last report is partial.
    pub partial: bool,
    /// What was uploaded to each bucket of the profile's `storage` (a line each).
    pub uploaded: Vec<String>,
}

/// Why a run stopped before its last stage ended.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Fewer agents than expected joined in time.
    #[error("waited {waited:?} for {expected} agents, {joined} joined")]
    NotEnoughAgents {
        /// Agents expected.
        expected: u32,
        /// Agents that joined.
        joined: usize,
        /// How long the run waited.
        waited: Duration,
    },
    /// The profile could not be split into shards.
    #[error(transparent)]
    Plan(#[from] fleetbench_profile::plan::PlanError),
    /// A run file could not be written.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// Another run is in progress.
    #[error("{0}")]
    Busy(String),
    /// A stage failed.
    #[error(transparent)]
    Stage(#[from] StageError),
    /// A stop request came before any stage started.
    #[error("stopped before any stage started")]
    Stopped,
    /// The endpoint preflight failed on some agent.
    #[error(transparent)]
    Preflight(#[from] crate::preflight::PreflightFailure),
    /// `data.visionarena`: the dataset's images did not reach every agent.
    #[error("{0}")]
    Media(String),
    /// `load.sweep`: no saturation rate, or no stages from it.
    #[error("load.sweep: {0}")]
    Saturation(String),
    /// The stages ran and their reports are stored, but the summaries, plots or HTML were not
    /// written.
    #[error("{0}")]
    Outputs(String),
    /// `storage`: a bucket could not be reached before the run, or the run directory could not
    /// be uploaded after it.
    #[error("{0}")]
    Upload(String),
    /// `metrics.prometheus.google_managed`: no credentials, project or token to read it.
    #[error("{0}")]
    ManagedPrometheus(String),
}

/// A run id that sorts by time: `<prefix>YYYYMMDD-HHMMSS-xxxx`, where the prefix is
/// `storage.local_storage.report_file_prefix` (checked to be letters, digits, `.`, `_`, `-`).
fn new_run_id(prefix: &str) -> String {
    let t = compact_utc(unix_s());
    format!("{prefix}{t}-{:04x}", rand::random::<u16>())
}

/// Starts a run in the background.
pub fn start_run(hub: Arc<Hub>, req: RunRequest) -> RunHandle {
    let prefix = (req.loaded.profile.storage.as_ref())
        .and_then(|s| s.local_storage.as_ref())
        .and_then(|l| l.report_file_prefix.clone())
        .unwrap_or_default();
    let run_id = new_run_id(&prefix);
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
    let uploads = check_uploads(&req, progress).await?;
    let prometheus = check_managed_prometheus(&req.loaded, progress).await?;
    wait_for_agents(hub, req.expect_agents, progress).await?;
    let (members, agents) = fleet_roles(hub, &req);
    let seed = (req.loaded.profile.load.base_seed).unwrap_or_else(rand::random);
    let plan = plan_run(&req.loaded, &members, run_id, seed)?;
    if let Some(pool) = &req.loaded.stored_media {
        progress.send_modify(|p| p.message = "sending the dataset's images to the agents".into());
        crate::media::distribute(hub, &plan, pool, &mut events)
            .await
            .map_err(RunError::Media)?;
    }
    if req.options.preflight {
        progress.send_modify(|p| p.message = "preflight: one test request per agent".into());
        crate::preflight::preflight(hub, &plan, &mut events).await?;
    }
    let mut store = open_store(hub, &req, &plan, &agents)?;
    let dir = store.dir().to_path_buf();
    tracing::info!(run = %run_id, agents = members.len(), stages = plan.stages.len(), "run planned; results in {}", dir.display());
    store.record_state(&json!({"event": "planned", "at_unix_ns": unix_ns()}))?;
    let mut ctx = StageContext {
        hub,
        loaded: &req.loaded,
        profile_text: &req.profile_text,
        options: req.options,
        plan: &plan,
        agents: &agents,
        store: &mut store,
        events: &mut events,
        progress,
        prometheus: prometheus.as_ref(),
    };
    let ran = match &req.loaded.profile.load.sweep {
        Some(sweep) => run_sweep(&mut ctx, sweep).await,
        None => run_stages(&mut ctx, 0).await,
    };
    let (reports, partial) = match ran {
        Ok(r) => r,
        Err(e) => {
            // A failed run's directory (the stages that ended, the snapshot logs) still goes
            // to the buckets: in a Kubernetes Job it is all that stays.
            if let Err(u) = upload_run(uploads, &dir, run_id, progress).await {
                tracing::error!("{u}");
            }
            return Err(e);
        }
    };
    store
        .record_state(&json!({"event": "finished", "partial": partial, "at_unix_ns": unix_ns()}))?;
    let (verdicts, md) = summarize(&plan, &reports);
    render_outputs(dir.clone(), hub.config.report_format)
        .await
        .map_err(|m| RunError::Outputs(format!("{}: {m}", dir.display())))?;
    let uploaded = upload_run(uploads, &dir, run_id, progress).await?;
    progress.send_modify(|p| p.results_dir = dir.display().to_string());
    Ok(RunOutcome {
        run_id: run_id.to_string(),
        dir,
        reports,
        verdicts,
        summary_markdown: md,
        partial,
        uploaded,
    })
}

/// The profile's buckets (`storage`), each reached with its credentials before any load is
/// sent: a run that could not store its results is refused at its start, not at its end.
async fn check_uploads(
    req: &RunRequest,
    progress: &watch::Sender<Progress>,
) -> Result<Uploads, RunError> {
    let storage = req.loaded.profile.storage.clone();
    let start = unix_s();
    let uploads = Uploads::from_profile(storage.as_ref(), start).map_err(RunError::Upload)?;
    if uploads.is_empty() {
        return Ok(uploads);
    }
    progress.send_modify(|p| p.message = "storage: checking the buckets".into());
    let checked = tokio::task::spawn_blocking(move || uploads.check().map(|()| uploads)).await;
    match checked {
        Ok(r) => r.map_err(RunError::Upload),
        Err(e) => Err(RunError::Upload(format!(
            "checking the buckets panicked: {e}"
        ))),
    }
}

/// `metrics.prometheus.google_managed`: the credentials, the project and a first token, found
/// before any load is sent (a run that could not read the engines' series is refused at its
/// start).
pub(crate) async fn check_managed_prometheus(
    loaded: &fleetbench_profile::LoadedProfile,
    progress: &watch::Sender<Progress>,
) -> Result<Option<Arc<ManagedPrometheus>>, RunError> {
    if !crate::managed_prometheus::wanted(&loaded.profile) {
        return Ok(None);
    }
    progress.send_modify(|p| p.message = "metrics: Google Cloud Managed Prometheus".into());
    let found = tokio::task::spawn_blocking(ManagedPrometheus::from_env).await;
    let mp = match found {
        Ok(r) => r.map_err(RunError::ManagedPrometheus)?,
        Err(e) => {
            return Err(RunError::ManagedPrometheus(format!(
                "metrics.prometheus.google_managed: panicked: {e}"
            )))
        }
    };
    tracing::info!("engine series from Managed Prometheus at {}", mp.base_url());
    Ok(Some(Arc::new(mp)))
}

/// Uploads the run directory to the profile's buckets, off the runtime; a failure leaves the
/// directory as it is and fails the run.
async fn upload_run(
    uploads: Uploads,
    dir: &std::path::Path,
    run_id: &str,
    progress: &watch::Sender<Progress>,
) -> Result<Vec<String>, RunError> {
    if uploads.is_empty() {
        return Ok(Vec::new());
    }
    progress.send_modify(|p| p.message = "storage: uploading the run directory".into());
    let (d, id) = (dir.to_path_buf(), run_id.to_string());
    let done = tokio::task::spawn_blocking(move || uploads.upload_dir(&d, &id)).await;
    let failed = |e: String| {
        RunError::Upload(format!(
            "{e}; the run's files are in {} (the run is complete there)",
            dir.display()
        ))
    };
    match done {
        Ok(Ok(lines)) => {
            for l in &lines {
                tracing::info!("uploaded {l}");
            }
            Ok(lines)
        }
        Ok(Err(e)) => Err(failed(e)),
        Err(e) => Err(failed(format!("uploading panicked: {e}"))),
    }
}

/// Waits (at most `--join-timeout`) until `expect` agents are connected.
async fn wait_for_agents(
    hub: &Hub,
    expect: u32,
    progress: &watch::Sender<Progress>,
) -> Result<(), RunError> {
    let waited_from = Instant::now();
    while hub.fleet.connected_count() < expect as usize {
        if hub.stop_requested() {
            return Err(RunError::Stopped);
        }
        if waited_from.elapsed() > hub.config.join_timeout {
            return Err(RunError::NotEnoughAgents {
                expected: expect,
                joined: hub.fleet.connected_count(),
                waited: hub.config.join_timeout,
            });
        }
        progress.send_modify(|p| {
            p.agents = hub.fleet.connected_count() as u32;
            p.message = format!("waiting for agents: {}/{}", p.agents, expect);
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// The connected agents with their roles as they joined, except where `fleet.hosts[].agents`
/// places an agent in a group: as plan members and as the reports' agents.
fn fleet_roles(hub: &Hub, req: &RunRequest) -> (Vec<Member>, Vec<AgentInfo>) {
    let fleet_cfg = &req.loaded.profile.fleet;
    let mut members = hub.fleet.members();
    for m in &mut members {
        if let Some(role) = fleet_cfg.assigned_role(&m.agent_id) {
            m.role = role;
        }
    }
    let agents = (members.iter())
        .filter_map(|m| {
            let mut a = hub.fleet.info(&m.agent_id)?;
            a.role = m.role;
            Some(a)
        })
        .collect();
    (members, agents)
}

/// One entry of `agents.json`.
#[derive(Serialize)]
struct AgentEntry<'a> {
    id: &'a str,
    role: &'a str,
    host: &'a str,
    devices: Vec<DeviceEntry<'a>>,
}

#[derive(Serialize)]
struct DeviceEntry<'a> {
    model: &'a str,
    memory_bytes: u64,
}

/// The run directory with `profile.yaml`, `plan.json` and `agents.json` (listed in the state
/// dir, when `serve` has one, so that a restarted `serve` finds it).
fn open_store(
    hub: &Hub,
    req: &RunRequest,
    plan: &RunPlan,
    agents: &[AgentInfo],
) -> Result<RunStore, RunError> {
    let run_id = &plan.run_id;
    let dir = hub.config.results_dir.join(run_id);
    let store = RunStore::create(dir.clone())?.with_secrets(req.loaded.secrets.clone());
    if let Some(state_dir) = hub.state_dir() {
        if let Err(e) = crate::state_dir::register(&state_dir, run_id, &dir) {
            tracing::warn!("cannot record run {run_id} in {}: {e}", state_dir.display());
        }
    }
    store.write_file("profile.yaml", req.profile_text.as_bytes())?;
    store.write_json("plan.json", plan)?;
    let entries: Vec<AgentEntry<'_>> = (agents.iter())
        .map(|a| AgentEntry {
            id: &a.agent_id,
            role: a.role.as_str(),
            host: &a.host_name,
            devices: (a.devices.iter())
                .map(|d| DeviceEntry {
                    model: &d.model,
                    memory_bytes: d.memory_bytes,
                })
                .collect(),
        })
        .collect();
    store.write_json("agents.json", &entries)?;
    Ok(store)
}

/// The stages from index `from` on, in step, each report stored as it is done; the reports and
/// whether the run ended early (a stop request).
pub(crate) async fn run_stages(
    ctx: &mut StageContext<'_>,
    from: u32,
) -> Result<(Vec<BenchmarkRun>, bool), RunError> {
    let mut reports = Vec::new();
    for stage in ctx.plan.stages.iter().filter(|s| s.index >= from) {
        // `load.interval`: inference-perf's wait between stages.
        if stage.index > 0 && ctx.plan.stage_interval_s > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(ctx.plan.stage_interval_s)).await;
        }
        if ctx.hub.stop_requested() {
            return Ok((reports, true));
        }
        let (report, cut_short) = run_stage(ctx, stage).await?;
        ctx.store.write_stage_report(stage.index, &report)?;
        ctx.store
            .record_state(&json!({"event": "stage_finished", "stage": stage.index,
            "partial": cut_short, "at_unix_ns": unix_ns()}))?;
        reports.push(report);
        if cut_short {
            return Ok((reports, true));
        }
    }
    Ok((reports, false))
}

/// The probe (stage 0), the saturation rate from what it measured, then the generated stages
/// as normal stages; the reports of all, and whether the run ended early.
async fn run_sweep(
    ctx: &mut StageContext<'_>,
    sweep: &SweepConfig,
) -> Result<(Vec<BenchmarkRun>, bool), RunError> {
    let (mut reports, partial) = run_stages(ctx, 0).await?;
    if partial {
        return Ok((reports, true));
    }
    let (more, partial) = sweep_after_probe(ctx, sweep, reports.first_mut()).await?;
    reports.extend(more);
    Ok((reports, partial))
}

/// After a complete probe (stage 0, `probe` its report): the saturation rate from its records,
/// then the stages generated from it; their reports, and whether the run ended early. A run
/// resumed after a restart during the probe goes on from here too.
pub(crate) async fn sweep_after_probe(
    ctx: &mut StageContext<'_>,
    sweep: &SweepConfig,
    probe: Option<&mut BenchmarkRun>,
) -> Result<(Vec<BenchmarkRun>, bool), RunError> {
    let offsets: Vec<i64> = (ctx.plan.members.iter())
        .map(|m| ctx.hub.fleet.offset_ns(&m.agent_id).unwrap_or(0))
        .collect();
    let log = ctx.store.dir().join("snapshots").join("stage-0.pb");
    let spans = if log.exists() {
        crate::saturation::probe_spans(&log, &offsets)?
    } else {
        Vec::new()
    };
    let (found, result) = crate::saturation::measure(&spans, sweep);
    ctx.store.write_json("saturation.json", &found)?;
    if let Some(probe) = probe {
        // The probe's own report says what it found (its 0.2.1 report carries it on, under
        // `results.observability.fleetbench`).
        if let Some(Value::Object(meta)) = probe.metrics.metadata.as_mut() {
            meta.insert("saturation".into(), found.summary());
        }
        ctx.store.write_stage_report(0, probe)?;
    }
    ctx.store.record_state(&json!({"event": "saturation",
        "saturation_rate": found.saturation_rate, "stage_rates": found.stage_rates,
        "error": found.error, "at_unix_ns": unix_ns()}))?;
    let rates = result.map_err(RunError::Saturation)?;
    let sat = found.saturation_rate.unwrap_or_default();
    tracing::info!(
        "saturation rate {sat:.2} requests/s ({}th percentile of {} burn-down rates); stages at {rates:?} requests/s",
        sweep.saturation_percentile,
        found.burn_down_rates.len()
    );
    let (plan, members) = (ctx.plan, &ctx.plan.members);
    let stages =
        plan_sweep_stages(ctx.loaded, &rates, members, &plan.run_id, plan.seed).map_err(|e| {
            RunError::Saturation(format!(
                "the stages generated from the saturation rate {sat:.2} requests/s ({rates:?}): {e}"
            ))
        })?;
    let mut plan = plan.clone();
    plan.stages.extend(stages);
    ctx.store.write_json("plan.json", &plan)?;
    let mut next = StageContext {
        hub: ctx.hub,
        loaded: ctx.loaded,
        profile_text: ctx.profile_text,
        options: ctx.options,
        plan: &plan,
        agents: ctx.agents,
        store: &mut *ctx.store,
        events: &mut *ctx.events,
        progress: ctx.progress,
        prometheus: ctx.prometheus,
    };
    run_stages(&mut next, 1).await
}

/// Each stage's verdict and the summary table (vLLM's dashboard columns) with them, from the
/// reports in memory: what the run returns and prints. The files are `write_outputs`'s.
fn summarize(plan: &RunPlan, reports: &[BenchmarkRun]) -> (Vec<StageVerdict>, String) {
    let verdicts: Vec<StageVerdict> = reports.iter().map(assess).collect();
    let table = vllm_table(&vllm_results(&plan.profile_name, reports));
    let md = table.markdown() + &verdicts_markdown(&verdicts);
    (verdicts, md)
}

/// The run's outputs (summaries, plots, report.html, llm-d reports) from the files just written,
/// off the runtime. A failure leaves the run's stored files (stage reports, snapshot logs) intact
/// and is returned: the summaries a person reads are missing, so the run must not look clean.
pub(crate) async fn render_outputs(dir: PathBuf, format: ReportFormat) -> Result<(), String> {
    match tokio::task::spawn_blocking(move || write_outputs(&dir, format)).await {
        Ok(Ok(r)) => {
            tracing::info!("report: {}", r.dir.join("report.html").display());
            Ok(())
        }
        Ok(Err(e)) => Err(format!("writing the run's outputs: {e}")),
        Err(e) => Err(format!("writing the run's outputs panicked: {e}")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_run_id_with_the_longest_prefix_is_still_a_run_id() {
        let id = super::new_run_id(&"p".repeat(40));
        assert!(crate::remote::runs::is_run_id(&id), "{id}");
        assert_eq!(id.len(), 60);
        assert!(super::new_run_id("").len() == 20);
    }
}
