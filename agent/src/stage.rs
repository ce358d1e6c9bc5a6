//! Runs one shard of one stage: sends its requests at their intended times (open loop) or as its
//! users become free (closed loop), cuts a snapshot at every interval boundary counted from the
//! stage start, lets requests still in flight finish within the grace period, and reports done.
//! It never waits on the coordinator: snapshots go into a channel that the link drains.

use crate::breaker::BreakerWatch;
use crate::client::EndpointClient;
use crate::record::Recorder;
use crate::request::RequestData;
use crate::schedule::{pace, Due};
use crate::telemetry::Telemetry;
use fleetbench_model::measure::Metric;
use fleetbench_model::settings::{NvmlSetting, TelemetrySection};
use fleetbench_model::spec::{Arrival, ShardLoad, ShardSpec};
use fleetbench_proto::v1 as wire;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;

/// Send lag (sent − intended) p99 above which the agent warns that it is the bottleneck.
const SEND_LAG_WARN_US: u64 = 10_000;

/// How long before the stage start its pre-warmed connections are opened: close enough that
/// they are not idle for long (an idle connection may hold one of the server's HTTP threads).
const PREWARM_LEAD: Duration = Duration::from_millis(300);

/// How often idle connections past their idle limit are closed.
const SWEEP_EVERY: Duration = Duration::from_millis(250);

/// What a stage sends towards the coordinator.
#[derive(Debug)]
pub(crate) enum Outbound {
    Snapshot(wire::Snapshot),
    Done(wire::ShardDone),
    Failed(wire::ShardFailed),
    /// The answer to the coordinator's test request (not kept for resending).
    Preflight(wire::PreflightResult),
}

/// Limits of this agent that are not part of the profile.
#[derive(Debug, Clone, Copy)]
pub struct AgentLimits {
    /// Requests in flight at once; arrivals beyond it wait (and are counted as held back).
    pub max_in_flight: usize,
    /// An open-loop request due more than this long ago is not sent but counted `client_late`
    /// (after a stall of this process nothing is sent in a burst).
    pub max_send_lag: Duration,
}

/// How long requests still in flight may finish after a stop before they are abandoned.
const STOP_DRAIN: Duration = Duration::from_secs(1);

/// Set when the stage must stop early (the coordinator's Cancel, an orphaned agent, a signal):
/// no new request starts, what is in flight gets [`STOP_DRAIN`], and the last snapshot and
/// `ShardDone` are still sent.
#[derive(Debug, Clone)]
pub(crate) struct StopSignal(tokio::sync::watch::Receiver<bool>);

impl StopSignal {
    pub(crate) fn new() -> (tokio::sync::watch::Sender<bool>, StopSignal) {
        let (tx, rx) = tokio::sync::watch::channel(false);
        (tx, StopSignal(rx))
    }

    pub(crate) fn is_set(&self) -> bool {
        *self.0.borrow()
    }

    /// Returns once the stop is set (never, if its sender is gone unset).
    pub(crate) async fn wait(&self) {
        let mut rx = self.0.clone();
        if rx.wait_for(|s| *s).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

pub(crate) struct StageContext {
    pub spec: ShardSpec,
    pub start: Instant,
    pub client: Arc<EndpointClient>,
    pub out: mpsc::UnboundedSender<Outbound>,
    pub limits: AgentLimits,
    pub endpoint: wire::EndpointInfo,
    /// Added to the wall clock when this agent reports a time (see `AgentConfig`).
    pub clock_offset_ns: i64,
    pub telemetry: Arc<tokio::sync::Mutex<Telemetry>>,
    /// Notified when the coordinator ends the stage (telemetry-only shards wait for it).
    pub stage_end: Arc<tokio::sync::Notify>,
    pub stop: StopSignal,
}

/// Runs the stage to its end and sends its snapshots and `ShardDone`.
pub(crate) async fn run_stage(mut ctx: StageContext) {
    let (breakers, forward_stop) = arm_breakers(&mut ctx).unzip();
    let recorder = Arc::new(new_recorder(&ctx, breakers));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let cutter = tokio::spawn(cut_snapshots(
        ctx.spec.clone(),
        ctx.start,
        recorder.clone(),
        ctx.out.clone(),
        stop_rx,
    ));
    let spec = &ctx.spec;
    let (sweep_stop_tx, sweeper) = prepare_connections(&ctx).await;
    tokio::select! {
        _ = wait_until(ctx.start) => {}
        _ = ctx.stop.wait() => {}
    }
    let started_unix_ns = fleetbench_model::clock::unix_ns() + ctx.clock_offset_ns;
    let (sampling_tx, sampling_rx) = tokio::sync::oneshot::channel::<()>();
    let sampler = tokio::spawn(sample_telemetry(
        ctx.telemetry.clone(),
        spec.telemetry,
        spec.engine_metrics.clone(),
        spec.prometheus_query.clone(),
        recorder.clone(),
        ctx.clock_offset_ns,
        sampling_rx,
    ));
    let grace = Duration::from_millis(spec.grace_period_ms);
    let window_end = spec
        .window
        .end_s
        .map(|w| ctx.start + Duration::from_secs_f64(w));
    send_load(&ctx, &recorder, grace, window_end).await;
    let elapsed = recorder
        .last_end()
        .or(window_end)
        .map(|t| t.saturating_duration_since(ctx.start))
        .unwrap_or_default();
    let _ = sampling_tx.send(());
    let _ = sampler.await;
    let _ = sweep_stop_tx.send(());
    let _ = sweeper.await;
    ctx.client.pool().close_idle();
    let conns = ctx.client.pool().stats();
    tracing::info!(
        "stage {} connections: {} opened, {} reused, {} retries, {} closed by the server, {} idle closed",
        spec.stage,
        conns.opened,
        conns.reused,
        conns.retries,
        conns.server_closed,
        conns.idle_closed
    );
    recorder.record_connections(conns);
    let _ = stop_tx.send(());
    let snapshots = cutter.await.unwrap_or(0);
    let _ = ctx.out.send(Outbound::Done(wire::ShardDone {
        run_id: spec.run_id.clone(),
        stage: spec.stage,
        shard: spec.shard,
        snapshots,
        endpoint: Some(ctx.endpoint.clone()),
        elapsed_us: elapsed.as_micros() as u64,
        started_unix_ns,
        circuit_breaker: recorder.breaker_trip(),
    }));
    if let Some(f) = forward_stop {
        f.abort();
    }
}

/// With circuit breakers, the stage's stop becomes "the link's stop, or a trip": the breakers
/// (stopping through the new signal) and the task that forwards the link's stop to it.
fn arm_breakers(ctx: &mut StageContext) -> Option<(BreakerWatch, tokio::task::JoinHandle<()>)> {
    if ctx.spec.circuit_breakers.is_empty() {
        return None;
    }
    let (tx, stop) = StopSignal::new();
    let tx = Arc::new(tx);
    let link = std::mem::replace(&mut ctx.stop, stop);
    let forward = {
        let tx = tx.clone();
        tokio::spawn(async move {
            link.wait().await;
            tx.send_replace(true);
        })
    };
    let spec = &ctx.spec;
    let watch = BreakerWatch::new(&spec.circuit_breakers, spec.stage, ctx.start, tx);
    Some((watch, forward))
}

/// The stage's recorder (keeping per-request records, with their Unix times in this agent's
/// clock, when the profile asks).
fn new_recorder(ctx: &StageContext, breakers: Option<BreakerWatch>) -> Recorder {
    let mut recorder = Recorder::new(ctx.start, ctx.spec.window).with_goodput(ctx.spec.goodput);
    if let Some(b) = breakers {
        recorder = recorder.with_breakers(b);
    }
    if ctx.spec.per_request {
        // The stage start in this agent's clock, for the records' Unix times.
        let now = Instant::now();
        let ahead = ctx.start.saturating_duration_since(now).as_nanos() as i64;
        let behind = now.saturating_duration_since(ctx.start).as_nanos() as i64;
        let start_unix_ns =
            fleetbench_model::clock::unix_ns() + ctx.clock_offset_ns + ahead - behind;
        return recorder.keeping_requests(start_unix_ns);
    }
    recorder
}

/// The connection pool for the stage: idle connections capped at what it has in flight, the
/// pre-warmed ones the profile asks for, and the idle sweeper (stopped through the sender).
async fn prepare_connections(
    ctx: &StageContext,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let spec = &ctx.spec;
    // Never more idle connections than the stage has in flight at once: each idle one may
    // hold one of the server's HTTP threads.
    let in_flight = match &spec.load {
        ShardLoad::Concurrent { users, .. } => *users as usize,
        ShardLoad::Sessions {
            concurrent: 0,
            sessions,
            ..
        } => usize::try_from(*sessions).unwrap_or(usize::MAX),
        ShardLoad::Sessions { concurrent, .. } => *concurrent as usize,
        ShardLoad::Idle => 0,
        _ => ctx.limits.max_in_flight,
    }
    .min(ctx.limits.max_in_flight);
    ctx.client.pool().set_max_idle(in_flight);
    // Pre-warm only when the profile asks (`load.warmup_connections`), at most what the stage
    // uses at once, opened just before the start so that they do not sit idle.
    let warm = (spec.warmup_connections as usize).min(in_flight);
    if warm > 0 {
        if let Some(t) = ctx.start.checked_sub(PREWARM_LEAD) {
            tokio::time::sleep_until(t.into()).await;
        }
        ctx.client.prewarm(warm, ctx.start).await;
    }
    let (sweep_stop_tx, mut sweep_stop) = tokio::sync::oneshot::channel::<()>();
    let sweeper = {
        let client = ctx.client.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_EVERY);
            loop {
                tokio::select! {
                    _ = tick.tick() => client.pool().sweep(),
                    _ = &mut sweep_stop => return,
                }
            }
        })
    };
    (sweep_stop_tx, sweeper)
}

/// Sends the shard's load: open loop, closed loop, or (telemetry only) nothing until the
/// window ends or the coordinator ends the stage.
async fn send_load(
    ctx: &StageContext,
    recorder: &Arc<Recorder>,
    grace: Duration,
    window_end: Option<Instant>,
) {
    let spec = &ctx.spec;
    match &spec.load {
        ShardLoad::Constant { .. }
        | ShardLoad::Poisson { .. }
        | ShardLoad::Gamma { .. }
        | ShardLoad::Trace { .. } => {
            if let Some(arrivals) = spec.arrivals() {
                open_loop(ctx, arrivals, recorder, grace).await;
            }
        }
        ShardLoad::Concurrent {
            users,
            num_requests,
            duration_s,
            first_user,
            total_users,
        } => {
            let stop_at = duration_s.map(|d| ctx.start + Duration::from_secs_f64(d));
            let users = Users {
                count: *users,
                first: *first_user,
                total: *total_users,
            };
            closed_loop(ctx, users, *num_requests, stop_at, recorder, grace).await;
        }
        ShardLoad::Sessions {
            concurrent,
            session_rate,
            first_session,
            sessions,
            timeout_s,
        } => {
            let share = SessionShare {
                concurrent: *concurrent,
                rate: *session_rate,
                first: *first_session,
                count: *sessions,
                timeout_s: *timeout_s,
            };
            session_stage(ctx, share, recorder).await;
        }
        // Telemetry only: sample until the window ends, or until the coordinator says the
        // load shards are done.
        ShardLoad::Idle => tokio::select! {
            _ = async {
                match window_end {
                    Some(end) => tokio::time::sleep_until(end.into()).await,
                    None => ctx.stage_end.notified().await,
                }
            } => {}
            _ = ctx.stop.wait() => {}
        },
    }
}

/// Sends each request at its intended time; latency counts from that time even when the send
/// is late (no coordinated omission). When the arrivals start multi-turn sessions, each session
/// then sends its later rounds itself (see [`later_rounds`]) and holds its in-flight slot until
/// its last round.
async fn open_loop(
    ctx: &StageContext,
    arrivals: Box<dyn Iterator<Item = Arrival> + Send>,
    recorder: &Arc<Recorder>,
    grace: Duration,
) {
    let slots = Arc::new(Semaphore::new(ctx.limits.max_in_flight.max(1)));
    let mut in_flight = JoinSet::new();
    let mut last_intended = ctx.start;
    // With multi-turn data: the spec the session tasks share, and when rounds stop starting.
    let sessions = ctx.spec.session_rounds().map(|_| {
        let stop_at = ctx
            .spec
            .load
            .duration_s()
            .map(|d| ctx.start + Duration::from_secs_f64(d));
        (Arc::new(ctx.spec.clone()), stop_at)
    });
    let mut due = pace(ctx.spec.clone(), arrivals, ctx.start);
    let max_lag = ctx.limits.max_send_lag;
    loop {
        let next = tokio::select! {
            d = due.recv() => d,
            _ = ctx.stop.wait() => None,
        };
        let Some(Due {
            arrival,
            data,
            intended,
        }) = next
        else {
            break;
        };
        last_intended = intended;
        let permit = match slots.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                recorder.record_held_back();
                let permit = tokio::select! {
                    p = slots.clone().acquire_owned() => p.ok(),
                    _ = ctx.stop.wait() => None,
                };
                match permit {
                    Some(p) => p,
                    None => break,
                }
            }
        };
        // A stalled process (SIGSTOP, a frozen VM) finds many arrivals overdue at once: they
        // are counted, not sent in one wave.
        if Instant::now().saturating_duration_since(intended) > max_lag {
            recorder.record_client_late(intended);
            continue;
        }
        while in_flight.try_join_next().is_some() {}
        let (client, recorder) = (ctx.client.clone(), recorder.clone());
        let session = sessions.clone();
        let stop = ctx.stop.clone();
        in_flight.spawn(async move {
            let rec = client.execute(&data, intended).await;
            recorder.record(&rec);
            if let Some((spec, stop_at)) = session {
                later_rounds(&spec, arrival, stop_at, &client, &recorder, &stop).await;
            }
            drop(permit);
        });
    }
    if ctx.stop.is_set() {
        drain(in_flight, Instant::now() + STOP_DRAIN, recorder).await;
        return;
    }
    if let Some((_, None)) = sessions {
        // Sessions with no stage end run all their rounds (each bounded by the request timeout).
        while in_flight.join_next().await.is_some() {}
        return;
    }
    let end = ctx
        .spec
        .window
        .end_s
        .map(|w| ctx.start + Duration::from_secs_f64(w))
        .unwrap_or(last_intended);
    let end = match &sessions {
        Some((_, Some(stop_at))) => end.max(*stop_at),
        _ => end,
    };
    drain(in_flight, end.max(last_intended) + grace, recorder).await;
}

/// The rounds after the first of session `session`: each sent when the previous answer ended
/// and the user thought for the think time (its intended time is that instant); none starts
/// after `stop_at`.
async fn later_rounds(
    spec: &ShardSpec,
    session: u64,
    stop_at: Option<Instant>,
    client: &EndpointClient,
    recorder: &Recorder,
    stop: &StopSignal,
) {
    let source = &spec.data.source;
    for round in 1..source.rounds_of(session) {
        let wait = source.wait_after_ms(session, round - 1);
        if !think(spec, wait, stop_at).await || stop.is_set() {
            return;
        }
        let index = spec.data.source.session_round_index(session, round);
        let data = RequestData::build(spec, index);
        let rec = client.execute(&data, Instant::now()).await;
        recorder.record(&rec);
    }
}

/// Waits the user's think time and `extra_ms` (a conversation's tool call); false when
/// `stop_at` has passed by then (send nothing more).
async fn think(spec: &ShardSpec, extra_ms: u64, stop_at: Option<Instant>) -> bool {
    let wait_ms = spec.think_time_ms + extra_ms;
    if wait_ms > 0 {
        let wake = Instant::now() + Duration::from_millis(wait_ms);
        if stop_at.is_some_and(|s| wake >= s) {
            return false;
        }
        tokio::time::sleep_until(wake.into()).await;
    }
    stop_at.is_none_or(|s| Instant::now() < s)
}

/// `users` users, each sending its next request when the last one ended (after the think time),
/// until the shard's request count is used up or `stop_at` passes. With multi-turn data each
/// user runs whole sessions, one after another: round after round, then the next session.
async fn closed_loop(
    ctx: &StageContext,
    users: Users,
    num_requests: Option<u64>,
    stop_at: Option<Instant>,
    recorder: &Arc<Recorder>,
    grace: Duration,
) {
    let remaining = Arc::new(AtomicU64::new(num_requests.unwrap_or(u64::MAX)));
    let next = Arc::new(AtomicU64::new(0));
    let spec = Arc::new(ctx.spec.clone());
    let mut tasks = JoinSet::new();
    for user in 0..users.count {
        let (client, recorder) = (ctx.client.clone(), recorder.clone());
        let (remaining, next) = (remaining.clone(), next.clone());
        let spec = spec.clone();
        let stop = ctx.stop.clone();
        tasks.spawn(async move {
            let sessions = spec.session_rounds().is_some();
            let mut first = true;
            let mut wait_ms = 0;
            'sessions: for sessions_run in 0u64.. {
                let session = match (sessions, users.total) {
                    // Multi-turn: the stage's user g runs sessions g, g + total, g + 2·total...
                    (true, 1..) => {
                        u64::from(users.first + user) + sessions_run * u64::from(users.total)
                    }
                    _ => (u64::from(spec.shard) << 40) | next.fetch_add(1, Ordering::Relaxed),
                };
                for round in 0..spec.data.source.rounds_of(session) {
                    if !first && !think(&spec, wait_ms, stop_at).await {
                        break 'sessions;
                    }
                    first = false;
                    wait_ms = spec.data.source.wait_after_ms(session, round);
                    if stop.is_set() || stop_at.is_some_and(|s| Instant::now() >= s) {
                        break 'sessions;
                    }
                    let claimed =
                        remaining.fetch_update(Ordering::AcqRel, Ordering::Acquire, |r| {
                            r.checked_sub(1)
                        });
                    if claimed.is_err() {
                        break 'sessions;
                    }
                    let index = spec.data.source.session_round_index(session, round);
                    let data = RequestData::build(&spec, index);
                    let rec = client.execute(&data, Instant::now()).await;
                    recorder.record(&rec);
                }
            }
        });
    }
    let stop = &ctx.stop;
    let deadline = async {
        match stop_at {
            Some(s) => tokio::time::sleep_until((s + grace).into()).await,
            None => std::future::pending::<()>().await,
        }
    };
    // Until the stage's own deadline, or a stop plus the stop's drain time.
    let stopped = async {
        stop.wait().await;
        tokio::time::sleep(STOP_DRAIN).await;
    };
    let all = async { while tasks.join_next().await.is_some() {} };
    tokio::select! {
        _ = all => {}
        _ = deadline => {}
        _ = stopped => {}
    }
    abandon(tasks, recorder);
}

/// This shard's part of a session stage (see `ShardLoad::Sessions`).
#[derive(Debug, Clone, Copy)]
struct SessionShare {
    concurrent: u32,
    rate: Option<f64>,
    first: u64,
    count: u64,
    timeout_s: Option<f64>,
}

/// What a session stage knows of its sessions: how many are running, and whether the timeout
/// closed the stage (a round that ends after it is not recorded: it was counted cancelled).
#[derive(Debug, Default)]
struct SessionBook {
    active: u64,
    closed: bool,
}

/// A session stage: the shard's sessions started in order, at most `concurrent` running (0:
/// all; never more than the agent's in-flight cap), at most `rate` started per second; each runs
/// all its rounds, each after the previous answer and its wait. At the timeout the running
/// sessions are cancelled and each running or never started session counts one request of
/// class `session_timeout` (the stage fails); a stop drains as the other loads do.
async fn session_stage(ctx: &StageContext, share: SessionShare, recorder: &Arc<Recorder>) {
    let cap = match share.concurrent {
        0 => usize::try_from(share.count).unwrap_or(usize::MAX),
        n => n as usize,
    };
    let slots = Arc::new(Semaphore::new(
        cap.min(ctx.limits.max_in_flight)
            .clamp(1, Semaphore::MAX_PERMITS),
    ));
    let book = Arc::new(std::sync::Mutex::new(SessionBook::default()));
    let spec = Arc::new(ctx.spec.clone());
    let gap = share.rate.map(|r| Duration::from_secs_f64(1.0 / r));
    let mut tasks = JoinSet::new();
    let mut started = 0u64;
    let start_all = async {
        let mut next_start = ctx.start;
        for session in share.first..share.first.saturating_add(share.count) {
            tokio::time::sleep_until(next_start.into()).await;
            let Ok(permit) = slots.clone().acquire_owned().await else {
                break;
            };
            if let Some(g) = gap {
                next_start = (next_start + g).max(Instant::now());
            }
            started += 1;
            if let Ok(mut b) = book.lock() {
                b.active += 1;
            }
            let (client, recorder, spec, book) = (
                ctx.client.clone(),
                recorder.clone(),
                spec.clone(),
                book.clone(),
            );
            tasks.spawn(async move {
                run_session(&spec, session, &client, &recorder, &book).await;
                drop(permit);
            });
        }
        while tasks.join_next().await.is_some() {}
    };
    let timeout = async {
        match share.timeout_s {
            Some(t) => {
                tokio::time::sleep_until((ctx.start + Duration::from_secs_f64(t)).into()).await
            }
            None => std::future::pending::<()>().await,
        }
    };
    let timed_out = tokio::select! {
        _ = start_all => false,
        _ = timeout => true,
        _ = ctx.stop.wait() => {
            drain(tasks, Instant::now() + STOP_DRAIN, recorder).await;
            return;
        }
    };
    if timed_out {
        let cancelled = match book.lock() {
            Ok(mut b) => {
                b.closed = true;
                b.active + (share.count - started)
            }
            Err(_) => 0,
        };
        tasks.abort_all();
        tracing::warn!(
            "stage {}: timeout after {} s: {cancelled} sessions cancelled or never started (the stage fails, as in inference-perf)",
            ctx.spec.stage,
            share.timeout_s.unwrap_or(0.0)
        );
        recorder.record_session_timeout(cancelled);
    }
}

/// All rounds of session `session`, each after the previous answer and its wait (think time,
/// a conversation's tool call); a round that ends after the stage's timeout is not recorded.
async fn run_session(
    spec: &ShardSpec,
    session: u64,
    client: &EndpointClient,
    recorder: &Recorder,
    book: &std::sync::Mutex<SessionBook>,
) {
    let source = &spec.data.source;
    if let fleetbench_model::data::DataSource::Replay(r) = source {
        let record = |rec: &crate::request::RequestRecord| -> bool {
            let Ok(b) = book.lock() else { return false };
            if !b.closed {
                recorder.record(rec);
            }
            !b.closed
        };
        let out = crate::replay::run_graph_session(spec, r, session, client, &record).await;
        tracing::debug!(
            "stage {} session {session}: {} calls ok, {} failed, {} not sent after a failure",
            spec.stage,
            out.ok,
            out.failed,
            out.skipped
        );
        if out.recorded_fallbacks > 0 {
            tracing::warn!(
                "stage {} session {session}: the live tool calls of {} calls had arguments that are not JSON; their successors sent the recorded messages (bad_tool_call_handling: use_recorded)",
                spec.stage,
                out.recorded_fallbacks
            );
        }
        if let Ok(mut b) = book.lock() {
            if !b.closed {
                b.active -= 1;
                recorder.record_session(out.failed, out.skipped, out.recorded_fallbacks);
            }
        }
        return;
    }
    let rounds = source.rounds_of(session);
    for round in 0..rounds {
        if round > 0 {
            think(spec, source.wait_after_ms(session, round - 1), None).await;
        }
        let data = RequestData::build(spec, source.session_round_index(session, round));
        let rec = client.execute(&data, Instant::now()).await;
        let Ok(mut b) = book.lock() else { return };
        if b.closed {
            return;
        }
        recorder.record(&rec);
        if round + 1 == rounds {
            b.active -= 1;
        }
    }
}

/// A shard's closed-loop users: `count` of them, users `first..first + count` of the stage's
/// `total` (0: unknown, from an older coordinator).
#[derive(Debug, Clone, Copy)]
struct Users {
    count: u32,
    first: u32,
    total: u32,
}

/// Samples the host at the telemetry interval (the profile's, else the agent's) until told to
/// stop (one sample at once and one when stopped, so even a short stage has both ends); no accelerator samples when the
/// profile says `nvml: off`; `engines`: the host group's endpoints from the profile.
async fn sample_telemetry(
    telemetry: Arc<tokio::sync::Mutex<Telemetry>>,
    section: TelemetrySection,
    engines: Vec<String>,
    query: Option<fleetbench_model::spec::PromQuery>,
    recorder: Arc<Recorder>,
    clock_offset_ns: i64,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    // The lock is held for one sample at a time, never across the stage: the link takes it too.
    let default_interval = telemetry.lock().await.interval;
    let interval = section
        .interval
        .map_or(default_interval, Duration::from_secs_f64);
    let accelerators = section.nvml != Some(NvmlSetting::Off);
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let now = fleetbench_model::clock::unix_ns() + clock_offset_ns;
                let s = telemetry.lock().await.sample(now, accelerators, &engines, query.as_ref()).await;
                recorder.push_sample(s);
            }
            _ = &mut stop => {
                // One last sample after the last request, so the engines' counters cover the
                // whole stage (the per-pool breakdown takes increases between samples).
                let now = fleetbench_model::clock::unix_ns() + clock_offset_ns;
                let s = telemetry.lock().await.sample(now, accelerators, &engines, query.as_ref()).await;
                recorder.push_sample(s);
                return;
            }
        }
    }
}

/// Waits until the stage's start instant. Tokio's timer wheel has 1 ms ticks and rounds deadlines
/// up, which would start every agent up to 1 ms late: sleep on the timer until shortly before,
/// then sleep the rest on a blocking thread (the OS timer, tens of microseconds late). Not a spin:
/// agents that share cores all reach their start at the same instant, and spinners would take the
/// cores from each other (and from the agent that must send) for a scheduler slice — starts
/// several milliseconds apart on a 2-core host.
async fn wait_until(t: Instant) {
    const TIMER_SLACK: Duration = Duration::from_millis(2);
    if let Some(early) = t.checked_sub(TIMER_SLACK) {
        if early > Instant::now() {
            tokio::time::sleep_until(early.into()).await;
        }
    }
    let precise = tokio::task::spawn_blocking(move || {
        let now = Instant::now();
        if t > now {
            std::thread::sleep(t - now);
        }
    });
    if precise.await.is_err() {
        // The blocking pool is shutting down: the timer alone, 1 ms coarse.
        tokio::time::sleep_until(t.into()).await;
    }
}

/// Waits for what is in flight until `deadline`; the rest is abandoned and counted incomplete.
async fn drain(mut in_flight: JoinSet<()>, deadline: Instant, recorder: &Recorder) {
    let all = async { while in_flight.join_next().await.is_some() {} };
    if tokio::time::timeout_at(deadline.into(), all).await.is_err() {
        abandon(in_flight, recorder);
    }
}

/// Aborts what is still in flight and counts it incomplete.
fn abandon(mut in_flight: JoinSet<()>, recorder: &Recorder) {
    let left = in_flight.len() as u64;
    if left > 0 {
        in_flight.abort_all();
        tracing::warn!(
            "{left} requests still in flight after the grace period: counted incomplete"
        );
        recorder.record_incomplete(left);
    }
}

/// Cuts a snapshot at every interval boundary from `start` until told to stop, then a last one;
/// returns how many it sent.
async fn cut_snapshots(
    spec: ShardSpec,
    start: Instant,
    recorder: Arc<Recorder>,
    out: mpsc::UnboundedSender<Outbound>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> u64 {
    let interval = Duration::from_millis(spec.snapshot_interval_ms.max(10));
    let mut seq = 0u64;
    let mut k = 0u32;
    let send = |seq: u64, k: u32| {
        let recorded = recorder.take();
        let m = recorded.measurements;
        let lag_p99 = m.histogram(Metric::SendLag).value_at_quantile(0.99);
        if lag_p99 > SEND_LAG_WARN_US {
            tracing::warn!(
                "send lag p99 {:.1} ms in interval {k}: this agent is overloaded (the measurements still count from the intended times)",
                lag_p99 as f64 / 1000.0
            );
        }
        let (histograms, counters) = m.to_wire();
        let _ = out.send(Outbound::Snapshot(wire::Snapshot {
            run_id: spec.run_id.clone(),
            stage: spec.stage,
            shard: spec.shard,
            seq,
            interval: k,
            histograms,
            counters,
            samples: recorded.samples,
            requests: recorded.requests,
            error_bodies: recorded.error_bodies,
        }));
    };
    loop {
        let boundary = start + interval * (k + 1);
        tokio::select! {
            _ = tokio::time::sleep_until(boundary.into()) => {
                send(seq, k);
                seq += 1;
                k += 1;
            }
            _ = &mut stop => break,
        }
    }
    send(seq, k);
    seq + 1
}
