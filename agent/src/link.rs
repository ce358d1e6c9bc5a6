//! The agent's life line to the coordinator: one `Join` stream, re-opened after a break. It says
//! Hello, answers clock probes, heartbeats every second, starts a stage on `Assign`, forwards the
//! stage's snapshots and keeps every snapshot until the coordinator acknowledges it, so a
//! reconnect resends exactly what may have been lost.
//!
//! A stage runs on beside the link: a break does not touch it, and nothing the link does waits
//! for the stage or its telemetry sampler (the Hello's inventory is read once at start). A
//! stage stops early on the coordinator's Cancel, when the coordinator has been unreachable for
//! `orphan_timeout` (an orphaned agent sends no load), or on shutdown (SIGINT/SIGTERM), after
//! which the agent waits a bounded time for its last snapshots to be acknowledged, then exits.

use crate::client::EndpointClient;
use crate::stage::{run_stage, AgentLimits, Outbound, StageContext, StopSignal};
use crate::telemetry::Telemetry;
use anyhow::{bail, Context};
use fleetbench_model::clock::unix_ns;
use fleetbench_model::role::Role;
use fleetbench_model::spec::ShardSpec;
use fleetbench_model::{PROTOCOL_VERSION, SOFTWARE_VERSION};
use fleetbench_proto::v1 as wire;
use fleetbench_proto::v1::agent_message::Body as Up;
use fleetbench_proto::v1::coordinator_message::Body as Down;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

/// Everything an agent process needs to join a coordinator and run its shards.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// `HOST:PORT` of the coordinator, for messages.
    pub coordinator: String,
    /// How to reach it (TLS, token).
    pub dialer: crate::dial::Dialer,
    /// This agent's id in the fleet (unique per coordinator).
    pub agent_id: String,
    /// The host group it measures (`prefill`, `decode`, `client`, ...).
    pub role: Role,
    /// The host's name, as reports show it.
    pub host_name: String,
    /// `--label KEY=VALUE` pairs, matched by profiles' agent selectors.
    pub labels: HashMap<String, String>,
    /// Added to this agent's wall clock (tests use it to fake a skewed host).
    pub clock_offset_ns: i64,
    /// What this agent accepts of a shard (streams, rates, send lag).
    pub limits: AgentLimits,
    /// Exit after the first run ends.
    pub once: bool,
    /// Give up after failing to reach the coordinator for this long.
    pub reconnect_timeout: Duration,
    /// A running stage stops sending load after the coordinator has been unreachable this long.
    pub orphan_timeout: Duration,
    /// The host's samplers, shared with the stages that run.
    pub telemetry: Arc<tokio::sync::Mutex<Telemetry>>,
    /// The roots HTTPS endpoints are checked against (`--endpoint-ca`, else Mozilla's).
    pub endpoint_trust: crate::client::EndpointTrust,
    /// Set to true to shut down: stop the stage, flush its last snapshots, exit.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

/// How long a shutting-down agent waits for its last snapshots to be acknowledged.
const SHUTDOWN_FLUSH: Duration = Duration::from_secs(3);

/// A connect (or Join) that takes longer counts as a failed attempt.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

type SnapshotKey = (String, u32, u32, u64);

/// The stage this agent runs now.
struct RunningStage {
    run_id: String,
    stage: u32,
    task: tokio::task::JoinHandle<()>,
    /// Notified on the coordinator's StageEnd.
    end: Arc<tokio::sync::Notify>,
    /// Ends the stage early (Cancel, orphaned, shutdown).
    stop: tokio::sync::watch::Sender<bool>,
}

impl RunningStage {
    fn stop(&self, why: &str) {
        if !*self.stop.borrow() && !self.task.is_finished() {
            tracing::warn!("run {} stage {}: stopping: {why}", self.run_id, self.stage);
            let _ = self.stop.send(true);
        }
    }
}

/// What survives a broken stream.
struct LinkState {
    unacked: BTreeMap<SnapshotKey, wire::Snapshot>,
    /// Done/Failed of the latest stage, resent after a reconnect until the next Assign.
    last_end: Option<Up>,
    stage: Option<RunningStage>,
    runs_ended: u32,
    /// Read once at start: the Hello never waits for the telemetry lock.
    inventory: Vec<wire::Accelerator>,
    /// Why no accelerators are sampled (`None` when they are).
    no_accelerators: Option<String>,
    /// Set once shutdown began: exit when flushed or at this instant.
    shutdown_until: Option<Instant>,
    /// A run's dataset images as their pieces arrive.
    media: crate::media::Receiver,
}

impl LinkState {
    /// Shutting down and nothing is left to send: the stage ended, its output was taken from
    /// `pending` and every snapshot was acknowledged.
    fn flushed(&self, pending: &mpsc::UnboundedReceiver<Outbound>) -> bool {
        self.shutdown_until.is_some()
            && self.stage.as_ref().is_none_or(|s| s.task.is_finished())
            && pending.is_empty()
            && self.unacked.is_empty()
    }

    fn shutdown_expired(&self) -> bool {
        self.shutdown_until.is_some_and(|t| Instant::now() >= t)
    }

    fn begin_shutdown(&mut self) {
        if self.shutdown_until.is_none() {
            tracing::warn!("shutting down: stopping the stage and flushing its last snapshots");
            self.shutdown_until = Some(Instant::now() + SHUTDOWN_FLUSH);
            if let Some(s) = &self.stage {
                s.stop("this agent is shutting down");
            }
        }
    }
}

/// Returns once shutdown is requested (never, if it cannot be anymore).
async fn shutdown_requested(rx: &tokio::sync::watch::Receiver<bool>) {
    let mut rx = rx.clone();
    if rx.wait_for(|v| *v).await.is_err() {
        std::future::pending::<()>().await;
    }
}

impl AgentConfig {
    fn now_ns(&self) -> i64 {
        unix_ns() + self.clock_offset_ns
    }
}

/// Runs the agent until the coordinator is gone for good (or, with `once`, the run ended).
pub async fn run(cfg: AgentConfig) -> anyhow::Result<()> {
    let (stage_tx, mut stage_rx) = mpsc::unbounded_channel::<Outbound>();
    let (inventory, no_accelerators) = {
        let t = cfg.telemetry.lock().await;
        (t.inventory(), t.no_accelerators().map(str::to_string))
    };
    let mut state = LinkState {
        unacked: BTreeMap::new(),
        last_end: None,
        stage: None,
        runs_ended: 0,
        inventory,
        no_accelerators,
        shutdown_until: None,
        media: crate::media::Receiver::default(),
    };
    let mut down_since: Option<Instant> = None;
    loop {
        match session(&cfg, &mut state, &stage_tx, &mut stage_rx).await {
            Ok(SessionEnd::RunEnded) => return Ok(()),
            Ok(SessionEnd::Closed) => {
                tracing::warn!("lost the stream to the coordinator; reconnecting");
                down_since = None;
            }
            Err(SessionError::Fatal(e)) => return Err(e),
            Err(SessionError::Retry(e)) => {
                let since = *down_since.get_or_insert_with(Instant::now);
                if since.elapsed() > cfg.reconnect_timeout {
                    return Err(e.context(format!(
                        "coordinator {} unreachable for {:?}",
                        cfg.coordinator, cfg.reconnect_timeout
                    )));
                }
                tracing::debug!("link: {e:#}; retrying");
            }
        }
        if state.flushed(&stage_rx) || state.shutdown_expired() {
            return Ok(());
        }
        let since = *down_since.get_or_insert_with(Instant::now);
        if since.elapsed() >= cfg.orphan_timeout {
            if let Some(s) = &state.stage {
                s.stop(&format!(
                    "orphaned: the coordinator has been unreachable for {:?}",
                    since.elapsed()
                ));
            }
        }
        // Keep forwarding stage output into `unacked` while disconnected.
        let pause = tokio::time::sleep(Duration::from_millis(250));
        tokio::pin!(pause);
        loop {
            tokio::select! {
                _ = &mut pause => break,
                Some(o) = stage_rx.recv() => { absorb(&mut state, o); }
                _ = shutdown_requested(&cfg.shutdown), if state.shutdown_until.is_none() => state.begin_shutdown(),
            }
        }
    }
}

enum SessionEnd {
    Closed,
    RunEnded,
}

enum SessionError {
    Retry(anyhow::Error),
    Fatal(anyhow::Error),
}

/// Keeps a stage message for (re)sending.
fn absorb(state: &mut LinkState, o: Outbound) -> Option<Up> {
    match o {
        Outbound::Snapshot(s) => {
            state
                .unacked
                .insert((s.run_id.clone(), s.stage, s.shard, s.seq), s.clone());
            Some(Up::Snapshot(s))
        }
        Outbound::Done(d) => {
            state.last_end = Some(Up::Done(d.clone()));
            Some(Up::Done(d))
        }
        Outbound::Failed(f) => {
            state.last_end = Some(Up::Failed(f.clone()));
            Some(Up::Failed(f))
        }
        Outbound::Preflight(p) => Some(Up::Preflight(p)),
    }
}

/// One connection to the coordinator: join, resend what it may not have, then heartbeats,
/// stage messages up and the coordinator's messages down until the stream or the run ends.
async fn session(
    cfg: &AgentConfig,
    state: &mut LinkState,
    stage_tx: &mpsc::UnboundedSender<Outbound>,
    stage_rx: &mut mpsc::UnboundedReceiver<Outbound>,
) -> Result<SessionEnd, SessionError> {
    let (up_tx, mut down) = open(cfg, state).await?;
    let send = |body: Up| wire::AgentMessage { body: Some(body) };
    let mut heartbeat = tokio::time::interval(Duration::from_secs(1));
    let mut flush_check = tokio::time::interval(Duration::from_millis(50));
    loop {
        tokio::select! {
            _ = shutdown_requested(&cfg.shutdown), if state.shutdown_until.is_none() => state.begin_shutdown(),
            _ = flush_check.tick(), if state.shutdown_until.is_some() => {
                if state.flushed(stage_rx) || state.shutdown_expired() {
                    if !state.unacked.is_empty() {
                        tracing::warn!("{} snapshots not acknowledged at exit", state.unacked.len());
                    }
                    // The ShardDone sent after the last snapshot is not acknowledged: give it
                    // a moment on the wire.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    drop(up_tx);
                    return Ok(SessionEnd::RunEnded);
                }
            }
            _ = heartbeat.tick() => {
                if up_tx.send(send(Up::Heartbeat(wire::Heartbeat { agent_unix_ns: cfg.now_ns() }))).await.is_err() {
                    return Ok(SessionEnd::Closed);
                }
            }
            Some(o) = stage_rx.recv() => {
                if let Some(msg) = absorb(state, o) {
                    if up_tx.send(send(msg)).await.is_err() {
                        return Ok(SessionEnd::Closed);
                    }
                }
            }
            msg = down.message() => {
                let msg = match msg {
                    Ok(Some(m)) => m,
                    Ok(None) => return Ok(SessionEnd::Closed),
                    Err(status) => {
                        tracing::debug!("stream: {status}");
                        return Ok(SessionEnd::Closed);
                    }
                };
                let Some(body) = msg.body else { continue };
                if let Some(end) = on_message(cfg, state, stage_tx, &up_tx, body).await {
                    drop(up_tx);
                    return Ok(end);
                }
            }
        }
    }
}

/// Connects, says Hello and joins (a refusal for good is fatal, anything else is retried),
/// then resends the unacknowledged snapshots and the last end of a shard.
async fn open(
    cfg: &AgentConfig,
    state: &mut LinkState,
) -> Result<
    (
        mpsc::Sender<wire::AgentMessage>,
        tonic::Streaming<wire::CoordinatorMessage>,
    ),
    SessionError,
> {
    let retry = |e: anyhow::Error| SessionError::Retry(e);
    // An Assign carries the shard's data (up to 20,000 trace records): more than tonic's 4 MiB.
    // A hung connect counts as unreachable (the orphan timeout must be able to fire).
    let mut client = match tokio::time::timeout(CONNECT_TIMEOUT, cfg.dialer.connect()).await {
        Ok(c) => c
            .with_context(|| format!("connect to coordinator {}", cfg.coordinator))
            .map_err(retry)?,
        Err(_) => {
            return Err(retry(anyhow::anyhow!(
                "connect to coordinator {}: timed out",
                cfg.coordinator
            )))
        }
    }
    .max_decoding_message_size(64 << 20);
    let (up_tx, up_rx) = mpsc::channel::<wire::AgentMessage>(4096);
    let send = |body: Up| wire::AgentMessage { body: Some(body) };
    let hello = wire::Hello {
        agent_id: cfg.agent_id.clone(),
        role: cfg.role.to_wire() as i32,
        host_name: cfg.host_name.clone(),
        labels: cfg.labels.clone(),
        accelerators: state.inventory.clone(),
        software_version: SOFTWARE_VERSION.to_string(),
        protocol_version: PROTOCOL_VERSION,
    };
    up_tx.send(send(Up::Hello(hello))).await.ok();
    let joined = tokio::time::timeout(CONNECT_TIMEOUT, client.join(ReceiverStream::new(up_rx)))
        .await
        .map_err(|_| {
            retry(anyhow::anyhow!(
                "join: no answer within {CONNECT_TIMEOUT:?}"
            ))
        })?;
    let down = match joined {
        Ok(r) => r.into_inner(),
        Err(status)
            if matches!(
                status.code(),
                tonic::Code::FailedPrecondition
                    | tonic::Code::InvalidArgument
                    | tonic::Code::Unauthenticated
                    | tonic::Code::PermissionDenied
            ) =>
        {
            return Err(SessionError::Fatal(anyhow::anyhow!(
                "coordinator refused this agent: {}",
                status.message()
            )));
        }
        Err(status) if status.code() == tonic::Code::AlreadyExists => {
            // The name is taken by a connected agent; after a network break that may be this
            // agent's own old stream, which the coordinator drops once it is silent: retry.
            tracing::warn!("coordinator refused this agent: {}", status.message());
            return Err(retry(anyhow::anyhow!(
                "coordinator refused this agent: {}",
                status.message()
            )));
        }
        Err(status) => return Err(retry(anyhow::anyhow!("join: {status}"))),
    };
    // Resend what the coordinator may not have.
    for s in state.unacked.values() {
        if up_tx.send(send(Up::Snapshot(s.clone()))).await.is_err() {
            return Err(retry(anyhow::anyhow!("stream closed while resending")));
        }
    }
    if let Some(end) = state.last_end.clone() {
        up_tx.send(send(end)).await.ok();
    }
    Ok((up_tx, down))
}

/// One message from the coordinator; `Some` when the session ends with it (`--once` and the
/// run ended).
async fn on_message(
    cfg: &AgentConfig,
    state: &mut LinkState,
    stage_tx: &mpsc::UnboundedSender<Outbound>,
    up_tx: &mpsc::Sender<wire::AgentMessage>,
    body: Down,
) -> Option<SessionEnd> {
    match body {
        Down::Welcome(w) => tracing::info!(
            "joined coordinator {} (version {})",
            cfg.coordinator,
            w.coordinator_version
        ),
        Down::Clock(p) => {
            let reply = wire::ClockProbeReply {
                probe_id: p.probe_id,
                coordinator_unix_ns: p.coordinator_unix_ns,
                agent_unix_ns: cfg.now_ns(),
            };
            up_tx
                .send(wire::AgentMessage {
                    body: Some(Up::Clock(reply)),
                })
                .await
                .ok();
        }
        Down::Ack(a) => {
            state.unacked.remove(&(a.run_id, a.stage, a.shard, a.seq));
        }
        Down::Assign(a) => {
            if let Err(e) = start_stage(cfg, state, stage_tx, a).await {
                tracing::error!("{e:#}");
            }
        }
        Down::Cancel(c) => {
            // The stage stops sending and still flushes its last snapshot and Done.
            if let Some(s) = state.stage.as_ref().filter(|s| s.run_id == c.run_id) {
                s.stop(&format!("cancelled by the coordinator: {}", c.reason));
            }
        }
        Down::Preflight(p) => {
            tokio::spawn(crate::preflight::answer(
                p,
                cfg.endpoint_trust.clone(),
                stage_tx.clone(),
            ));
        }
        Down::Media(p) => {
            if let Some(answer) = state.media.take(p) {
                let up = wire::AgentMessage {
                    body: Some(Up::MediaReceived(answer)),
                };
                up_tx.send(up).await.ok();
            }
        }
        Down::StageEnd(e) => {
            if let Some(s) = state
                .stage
                .as_ref()
                .filter(|s| s.run_id == e.run_id && s.stage == e.stage)
            {
                s.end.notify_one();
            }
        }
        Down::RunEnd(e) => {
            tracing::info!(
                "run {} ended ({})",
                e.run_id,
                if e.ok { "ok" } else { &e.message }
            );
            state.runs_ended += 1;
            state.last_end = None;
            // The run is closed: what it did not acknowledge, it will not apply.
            state.unacked.retain(|k, _| k.0 != e.run_id);
            if cfg.once {
                // Let queued messages reach the coordinator before the stream closes.
                return Some(SessionEnd::RunEnded);
            }
        }
    }
    None
}

/// A shard of a run with dataset images fails unless this agent holds them.
fn check_media(stage_tx: &mpsc::UnboundedSender<Outbound>, spec: &ShardSpec) -> anyhow::Result<()> {
    match &spec.data.stored_media {
        Some(media) => crate::media::check_held(&spec.run_id, media)
            .map_err(|why| shard_failed(stage_tx, spec, why)),
        None => Ok(()),
    }
}

/// Tells the coordinator that this shard cannot run, and why; the error for the log.
fn shard_failed(
    stage_tx: &mpsc::UnboundedSender<Outbound>,
    spec: &ShardSpec,
    reason: String,
) -> anyhow::Error {
    let _ = stage_tx.send(Outbound::Failed(wire::ShardFailed {
        run_id: spec.run_id.clone(),
        stage: spec.stage,
        shard: spec.shard,
        reason: reason.clone(),
    }));
    anyhow::anyhow!("stage {}: {reason}", spec.stage)
}

async fn start_stage(
    cfg: &AgentConfig,
    state: &mut LinkState,
    stage_tx: &mpsc::UnboundedSender<Outbound>,
    a: wire::Assign,
) -> anyhow::Result<()> {
    if let Some(s) = &state.stage {
        if s.run_id == a.run_id && s.stage == a.stage {
            return Ok(()); // a resent Assign after a reconnect
        }
        if !s.task.is_finished() {
            bail!(
                "Assign for run {} stage {} while stage {} of run {} still runs",
                a.run_id,
                a.stage,
                s.stage,
                s.run_id
            );
        }
    }
    state.last_end = None;
    let spec: ShardSpec = match serde_json::from_slice(&a.shard_spec_json) {
        Ok(s) => s,
        Err(e) => {
            let _ = stage_tx.send(Outbound::Failed(wire::ShardFailed {
                run_id: a.run_id.clone(),
                stage: a.stage,
                shard: a.shard,
                reason: format!("cannot read the shard spec: {e}"),
            }));
            bail!("Assign with an unreadable shard spec: {e}");
        }
    };
    check_media(stage_tx, &spec)?;
    let delay_ns = a.start_at_unix_ns - cfg.now_ns();
    let start = if delay_ns > 0 {
        Instant::now() + Duration::from_nanos(delay_ns as u64)
    } else {
        tracing::warn!(
            "start_at is {} ms in the past; starting now",
            -delay_ns / 1_000_000
        );
        Instant::now()
    };
    let mut timeouts =
        crate::client::Timeouts::with_total(Duration::from_millis(spec.request_timeout_ms));
    if let Some(ms) = spec.first_byte_timeout_ms {
        timeouts.first_byte = Duration::from_millis(ms).min(timeouts.total);
    }
    if let Some(ms) = spec.idle_timeout_ms {
        timeouts.idle = Duration::from_millis(ms).min(timeouts.total);
    }
    if let (Some(fleetbench_model::settings::NvmlSetting::On), Some(why)) =
        (spec.telemetry.nvml, state.no_accelerators.as_deref())
    {
        return Err(shard_failed(
            stage_tx,
            &spec,
            format!(
                "the profile's telemetry.nvml is on, but this agent samples no accelerators: {why}"
            ),
        ));
    }
    if let Some(why) = crate::capacity::refuse(&spec, crate::capacity::open_files_limit()) {
        return Err(shard_failed(stage_tx, &spec, why));
    }
    let client = match EndpointClient::new(&spec.endpoint, timeouts, &cfg.endpoint_trust).await {
        Ok(c) => Arc::new(c),
        Err(e) => return Err(shard_failed(stage_tx, &spec, e.to_string())),
    };
    tracing::info!(
        "run {} stage {} ({}): shard {}/{} starts in {} ms",
        spec.run_id,
        spec.stage,
        spec.stage_label,
        spec.shard,
        spec.shards,
        delay_ns.max(0) / 1_000_000
    );
    let tx = stage_tx.clone();
    let limits = cfg.limits;
    let clock_offset_ns = cfg.clock_offset_ns;
    let telemetry = cfg.telemetry.clone();
    let end = Arc::new(tokio::sync::Notify::new());
    let stage_end = end.clone();
    let (stop_tx, stop) = StopSignal::new();
    if state.shutdown_until.is_some() {
        let _ = stop_tx.send(true);
    }
    let (run_id, stage) = (spec.run_id.clone(), spec.stage);
    let task = tokio::spawn(async move {
        // Ask the endpoint who it is while waiting for start_at.
        let endpoint = match tokio::time::timeout(Duration::from_secs(5), client.models()).await {
            Ok(Some((models, owned_by))) => wire::EndpointInfo { models, owned_by },
            _ => wire::EndpointInfo::default(),
        };
        run_stage(StageContext {
            spec,
            start,
            client,
            out: tx,
            limits,
            endpoint,
            clock_offset_ns,
            telemetry,
            stage_end,
            stop,
        })
        .await;
    });
    state.stage = Some(RunningStage {
        run_id,
        stage,
        task,
        end,
        stop: stop_tx,
    });
    Ok(())
}
