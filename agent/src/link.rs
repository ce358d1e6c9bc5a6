//! The agent's life line to the coordinator: one `Join` stream, re-opened after a break. It says
//! Hello, answers clock probes, heartbeats every second, starts a stage on `Assign`, forwards the
//! stage's snapshots and keeps every snapshot until the coordinator acknowledges it, so a
//! reconnect resends exactly what may have been lost.

use crate::client::EndpointClient;
use crate::stage::{run_stage, AgentLimits, Outbound, StageContext};
use crate::telemetry::Telemetry;
use anyhow::{bail, Context};
use fleetbench_common::clock::unix_ns;
use fleetbench_common::plan::ShardSpec;
use fleetbench_common::role::Role;
use fleetbench_common::{PROTOCOL_VERSION, SOFTWARE_VERSION};
use fleetbench_proto::v1 as wire;
use fleetbench_proto::v1::agent_message::Body as Up;
use fleetbench_proto::v1::control_client::ControlClient;
use fleetbench_proto::v1::coordinator_message::Body as Down;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// `http://HOST:PORT` of the coordinator.
    pub coordinator: String,
    pub agent_id: String,
    pub role: Role,
    pub host_name: String,
    pub labels: HashMap<String, String>,
    /// Added to this agent's wall clock (tests use it to fake a skewed host).
    pub clock_offset_ns: i64,
    pub limits: AgentLimits,
    /// Exit after the first run ends.
    pub once: bool,
    /// Give up after failing to reach the coordinator for this long.
    pub reconnect_timeout: Duration,
    pub telemetry: Arc<tokio::sync::Mutex<Telemetry>>,
}

type SnapshotKey = (String, u32, u32, u64);

/// The stage this agent runs now.
struct RunningStage {
    run_id: String,
    stage: u32,
    task: tokio::task::JoinHandle<()>,
    /// Notified on the coordinator's StageEnd.
    end: Arc<tokio::sync::Notify>,
}

/// What survives a broken stream.
struct LinkState {
    unacked: BTreeMap<SnapshotKey, wire::Snapshot>,
    /// Done/Failed of the latest stage, resent after a reconnect until the next Assign.
    last_end: Option<Up>,
    stage: Option<RunningStage>,
    runs_ended: u32,
}

impl AgentConfig {
    fn now_ns(&self) -> i64 {
        unix_ns() + self.clock_offset_ns
    }
}

/// Runs the agent until the coordinator is gone for good (or, with `once`, the run ended).
pub async fn run(cfg: AgentConfig) -> anyhow::Result<()> {
    let (stage_tx, mut stage_rx) = mpsc::unbounded_channel::<Outbound>();
    let mut state = LinkState {
        unacked: BTreeMap::new(),
        last_end: None,
        stage: None,
        runs_ended: 0,
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
        down_since.get_or_insert_with(Instant::now);
        // Keep forwarding stage output into `unacked` while disconnected.
        let pause = tokio::time::sleep(Duration::from_millis(250));
        tokio::pin!(pause);
        loop {
            tokio::select! {
                _ = &mut pause => break,
                Some(o) = stage_rx.recv() => { absorb(&mut state, o); }
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
    }
}

async fn session(
    cfg: &AgentConfig,
    state: &mut LinkState,
    stage_tx: &mpsc::UnboundedSender<Outbound>,
    stage_rx: &mut mpsc::UnboundedReceiver<Outbound>,
) -> Result<SessionEnd, SessionError> {
    let retry = |e: anyhow::Error| SessionError::Retry(e);
    // An Assign carries the shard's data (up to 20,000 trace records): more than tonic's 4 MiB.
    let mut client = ControlClient::connect(cfg.coordinator.clone())
        .await
        .with_context(|| format!("connect to coordinator {}", cfg.coordinator))
        .map_err(retry)?
        .max_decoding_message_size(64 << 20);
    let (up_tx, up_rx) = mpsc::channel::<wire::AgentMessage>(4096);
    let send = |body: Up| wire::AgentMessage { body: Some(body) };
    let hello = wire::Hello {
        agent_id: cfg.agent_id.clone(),
        role: cfg.role.to_wire() as i32,
        host_name: cfg.host_name.clone(),
        labels: cfg.labels.clone(),
        accelerators: cfg.telemetry.lock().await.inventory(),
        software_version: SOFTWARE_VERSION.to_string(),
        protocol_version: PROTOCOL_VERSION,
    };
    up_tx.send(send(Up::Hello(hello))).await.ok();
    let mut down = match client.join(ReceiverStream::new(up_rx)).await {
        Ok(r) => r.into_inner(),
        Err(status)
            if status.code() == tonic::Code::FailedPrecondition
                || status.code() == tonic::Code::InvalidArgument =>
        {
            return Err(SessionError::Fatal(anyhow::anyhow!(
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
    let mut heartbeat = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
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
                match body {
                    Down::Welcome(w) => tracing::info!("joined coordinator {} (version {})", cfg.coordinator, w.coordinator_version),
                    Down::Clock(p) => {
                        let reply = wire::ClockProbeReply { probe_id: p.probe_id, coordinator_unix_ns: p.coordinator_unix_ns, agent_unix_ns: cfg.now_ns() };
                        up_tx.send(send(Up::Clock(reply))).await.ok();
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
                        if let Some(s) = state.stage.take() {
                            if s.run_id == c.run_id {
                                tracing::warn!("run {} stage {} cancelled: {}", s.run_id, s.stage, c.reason);
                                s.task.abort();
                            } else {
                                state.stage = Some(s);
                            }
                        }
                    }
                    Down::StageEnd(e) => {
                        if let Some(s) = state.stage.as_ref().filter(|s| s.run_id == e.run_id && s.stage == e.stage) {
                            s.end.notify_one();
                        }
                    }
                    Down::RunEnd(e) => {
                        tracing::info!("run {} ended ({})", e.run_id, if e.ok { "ok" } else { &e.message });
                        state.runs_ended += 1;
                        state.last_end = None;
                        if cfg.once {
                            // Let queued messages reach the coordinator before the stream closes.
                            drop(up_tx);
                            return Ok(SessionEnd::RunEnded);
                        }
                    }
                }
            }
        }
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
    if spec.telemetry.nvml == Some(fleetbench_common::profile::NvmlSetting::On)
        && !cfg.telemetry.lock().await.has_accelerators()
    {
        return Err(shard_failed(
            stage_tx,
            &spec,
            "the profile's telemetry.nvml is on, but this agent samples no accelerators (NVML unavailable, or --nvml off)".into(),
        ));
    }
    let client = match EndpointClient::new(&spec.endpoint, timeouts).await {
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
        })
        .await;
    });
    state.stage = Some(RunningStage {
        run_id,
        stage,
        task,
        end,
    });
    Ok(())
}
