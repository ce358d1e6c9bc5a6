//! The coordinator's shared state: the fleet, the run in progress (where agent events go) and
//! the record of past runs (for `Watch` and `GetReport`).

use crate::fleet::Fleet;
use fleetbench_proto::v1 as wire;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// What an agent's stream delivers to the run in progress.
#[derive(Debug)]
pub(crate) enum AgentEvent {
    Snapshot {
        agent_id: String,
        snapshot: wire::Snapshot,
    },
    Done {
        done: wire::ShardDone,
    },
    Failed {
        agent_id: String,
        failed: wire::ShardFailed,
    },
    /// An agent's answer to the endpoint preflight.
    Preflight {
        agent_id: String,
        result: wire::PreflightResult,
    },
    /// An agent holds the run's dataset images, or says why not.
    MediaReceived {
        agent_id: String,
        received: wire::MediaReceived,
    },
}

/// The coordinator's settings (`serve` and `run` flags).
#[derive(Debug, Clone)]
pub struct CoordinatorConfig {
    /// Where run directories are written.
    pub results_dir: PathBuf,
    /// An agent silent this long is lost (docs/design.md: default 5 s).
    pub agent_timeout: Duration,
    /// How far ahead of now a stage's start_at is set.
    pub start_lead: Duration,
    /// How long a run waits for its expected agents.
    pub join_timeout: Duration,
    /// Every connected agent's clock is probed again this often (clocks drift in long runs).
    pub clock_reprobe: Duration,
    /// Which llm-d report versions each run writes besides `stage-<k>/report.*`.
    pub report_format: fleetbench_report::render::ReportFormat,
    /// The buckets a submitted profile may upload to with this coordinator's credentials
    /// (`serve --storage-bucket`).
    pub storage_buckets: Vec<String>,
    /// Whether a submitted profile may read Managed Prometheus with this coordinator's Google
    /// credentials (`serve --allow-managed-prometheus`).
    pub allow_managed_prometheus: bool,
}

/// Progress of a run, as `Watch` streams it and the console prints it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    /// The run's id.
    pub run_id: String,
    /// The stage running (index).
    pub stage: u32,
    /// Stages in the run.
    pub stages: u32,
    pub(crate) requests_done: u64,
    pub(crate) requests_planned: u64,
    /// Failed requests of the stage so far.
    pub failures: u64,
    /// Merged TTFT median of the stage so far, ms.
    pub ttft_p50_ms: Option<f64>,
    /// Agents connected.
    pub agents: u32,
    /// What the run is doing, in words.
    pub message: String,
    /// The run ended (see `error`).
    pub finished: bool,
    /// Why the run failed; empty when it did not.
    pub error: String,
    /// The run's directory.
    pub results_dir: String,
    /// The run's summary, once written.
    pub summary_markdown: String,
    /// Each stage's verdict, once the run finished.
    pub verdicts: Vec<fleetbench_report::StageVerdict>,
    /// The stage in progress as the live view shows it (`crate::live::figures`).
    pub live: Option<wire::StageLive>,
    /// The stages that ended, with their final counts.
    pub ended: Vec<wire::StageEnded>,
}

/// The coordinator's shared state: the fleet, the run in progress, stop requests.
pub struct Hub {
    pub(crate) fleet: Fleet,
    pub(crate) config: CoordinatorConfig,
    active: Mutex<Option<(String, mpsc::UnboundedSender<AgentEvent>)>>,
    runs: Mutex<BTreeMap<String, watch::Receiver<Progress>>>,
    /// Set once by a stop request (Ctrl-C, SIGTERM): the run in progress ends its stage early.
    stop: watch::Sender<bool>,
    /// `serve --state-dir`: where runs are listed for a restarted coordinator.
    state_dir: Mutex<Option<PathBuf>>,
    /// Fleet checks (`coordinator preflight`) waiting for their agents' answers, by check id.
    checks: Mutex<BTreeMap<String, mpsc::UnboundedSender<AgentEvent>>>,
}

/// Returns once a stop was requested (see [`Hub::stop_signal`]).
pub(crate) async fn stopped(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|v| *v).await.is_err() {
        std::future::pending::<()>().await;
    }
}

impl Hub {
    /// A hub with no agents and no run.
    pub fn new(config: CoordinatorConfig) -> Self {
        Hub {
            fleet: Fleet::default(),
            config,
            active: Mutex::new(None),
            runs: Mutex::new(BTreeMap::new()),
            stop: watch::channel(false).0,
            state_dir: Mutex::new(None),
            checks: Mutex::new(BTreeMap::new()),
        }
    }

    /// Lists every run started from now on in `dir/runs.jsonl` (`serve --state-dir`).
    pub fn set_state_dir(&self, dir: PathBuf) {
        *self.state_dir.lock().unwrap_or_else(|e| e.into_inner()) = Some(dir);
    }

    /// Where unfinished runs are kept for `--resume`, when set.
    pub fn state_dir(&self) -> Option<PathBuf> {
        self.state_dir
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Asks the run in progress to stop: cancel its stage, collect the last snapshots, write a
    /// partial report. No new stage starts after it.
    pub fn request_stop(&self) {
        self.stop.send_replace(true);
    }

    /// Whether a stop was asked for (Ctrl-C, `coordinator stop`).
    pub fn stop_requested(&self) -> bool {
        *self.stop.borrow()
    }

    /// Changes to true on a stop request.
    pub(crate) fn stop_signal(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Makes `run_id` the run that receives agent events; fails if another run is active.
    pub(crate) fn activate(
        &self,
        run_id: &str,
        events: mpsc::UnboundedSender<AgentEvent>,
    ) -> Result<(), String> {
        let mut a = self.active.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((other, tx)) = a.as_ref() {
            if !tx.is_closed() {
                return Err(format!("run {other} is in progress"));
            }
        }
        *a = Some((run_id.to_string(), events));
        Ok(())
    }

    pub(crate) fn deactivate(&self, run_id: &str) {
        let mut a = self.active.lock().unwrap_or_else(|e| e.into_inner());
        if a.as_ref().is_some_and(|(r, _)| r == run_id) {
            *a = None;
        }
    }

    /// Whether a run is in progress.
    pub fn is_busy(&self) -> bool {
        self.active
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_some_and(|(_, tx)| !tx.is_closed())
    }

    /// Delivers an event to the run it belongs to (or the fleet check of that id); false when
    /// that run is not in progress.
    pub(crate) fn deliver(&self, run_id: &str, ev: AgentEvent) -> bool {
        let ev = {
            let a = self.active.lock().unwrap_or_else(|e| e.into_inner());
            match a.as_ref() {
                Some((r, tx)) if r == run_id => return tx.send(ev).is_ok(),
                _ => ev,
            }
        };
        let checks = self.checks.lock().unwrap_or_else(|e| e.into_inner());
        checks.get(run_id).is_some_and(|tx| tx.send(ev).is_ok())
    }

    /// Routes the agent events of `check_id` (a fleet check's preflight answers) to the
    /// returned receiver until [`Hub::close_check`].
    pub(crate) fn open_check(&self, check_id: &str) -> mpsc::UnboundedReceiver<AgentEvent> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.checks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(check_id.to_string(), tx);
        rx
    }

    pub(crate) fn close_check(&self, check_id: &str) {
        self.checks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(check_id);
    }

    /// The ids of the runs of this process, oldest first.
    pub(crate) fn run_ids(&self) -> Vec<String> {
        self.runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect()
    }

    pub(crate) fn register_run(&self, run_id: &str, progress: watch::Receiver<Progress>) {
        self.runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(run_id.to_string(), progress);
    }

    /// Whether `run_id` is a run of this coordinator that has ended.
    pub(crate) fn run_finished(&self, run_id: &str) -> bool {
        self.run_progress(run_id)
            .is_some_and(|p| p.borrow().finished)
    }

    pub(crate) fn run_progress(&self, run_id: &str) -> Option<watch::Receiver<Progress>> {
        self.runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(run_id)
            .cloned()
    }
}
