//! The `Control` gRPC service: agents' `Join` streams, and `Submit` / `Watch` / `GetReport` for
//! clients of a long-running coordinator.

use crate::auth::require;
use crate::fleet::Downlink;
use crate::hub::{AgentEvent, Hub};
use crate::probe;
use crate::run::{start_run, RunOptions, RunRequest};
use crate::submit_gate::{SubmitGate, MAX_PER_CLIENT, MAX_PROFILE_BYTES, PARSE_TIME_LIMIT};
use fleetbench_model::token::Access;
use fleetbench_model::{PROTOCOL_VERSION, SOFTWARE_VERSION};
use fleetbench_profile::{parse_profile_env, EnvSource, LoadedProfile};
use fleetbench_proto::v1 as wire;
use fleetbench_proto::v1::agent_message::Body as Up;
use fleetbench_proto::v1::control_server::Control;
use fleetbench_proto::v1::coordinator_message::Body as Down;
use std::collections::BTreeMap;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, WatchStream};
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

pub(crate) struct ControlService {
    pub hub: Arc<Hub>,
    submits: SubmitGate,
}

impl ControlService {
    pub(crate) fn new(hub: Arc<Hub>) -> ControlService {
        ControlService {
            hub,
            submits: SubmitGate::default(),
        }
    }
}

#[tonic::async_trait]
impl Control for ControlService {
    type JoinStream = ReceiverStream<Result<wire::CoordinatorMessage, Status>>;
    type WatchStream = Pin<Box<dyn Stream<Item = Result<wire::RunEvent, Status>> + Send>>;
    type FetchRunStream = ReceiverStream<Result<wire::FileChunk, Status>>;

    async fn join(
        &self,
        request: Request<Streaming<wire::AgentMessage>>,
    ) -> Result<Response<Self::JoinStream>, Status> {
        let caller = require(&request, Access::Agent)?;
        let peer = request
            .remote_addr()
            .map_or("unknown peer".to_string(), |a| a.to_string());
        let mut inbound = request.into_inner();
        let hello = check_hello(&caller, &peer, inbound.message().await?)?;
        let (tx, rx) = mpsc::channel(1024);
        let generation = self
            .hub
            .fleet
            .join(&hello, tx.clone(), self.hub.config.agent_timeout)
            .map_err(|e| {
                tracing::warn!(%peer, agent = %hello.agent_id, host = %hello.host_name, "refused a join: {e}");
                Status::already_exists(e)
            })?;
        let agent_id = hello.agent_id.clone();
        tracing::info!(agent = %agent_id, role = ?hello.role(), host = %hello.host_name, "agent joined");
        let welcome = Down::Welcome(wire::Welcome {
            coordinator_version: SOFTWARE_VERSION.to_string(),
            heartbeat_interval_ms: 1000,
        });
        let _ = tx
            .send(Ok(wire::CoordinatorMessage {
                body: Some(welcome),
            }))
            .await;
        tokio::spawn(probe::send_probes(tx.clone(), probe::JOIN_PROBES));
        tokio::spawn(probe::reprobe(tx.clone(), self.hub.config.clock_reprobe));
        let hub = self.hub.clone();
        tokio::spawn(async move {
            loop {
                let msg = match inbound.message().await {
                    Ok(Some(m)) => m,
                    Ok(None) => break,
                    Err(status) => {
                        tracing::debug!(agent = %agent_id, "stream ended: {status}");
                        break;
                    }
                };
                hub.fleet.heard_from(&agent_id);
                if let Some(body) = msg.body {
                    route(&hub, &agent_id, &tx, body).await;
                }
            }
            hub.fleet.left(&agent_id, generation);
            tracing::info!(agent = %agent_id, "agent stream closed");
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn submit(
        &self,
        request: Request<wire::SubmitRequest>,
    ) -> Result<Response<wire::SubmitReply>, Status> {
        let caller = require(&request, Access::Client)?;
        let client = client_name(&caller, &request);
        let r = request.into_inner();
        let loaded = self
            .parse_gated(&client, &r.profile_yaml, &r.profile_name, &r.env)
            .await?;
        crate::upload::admit_submitted(&loaded.profile, &self.hub.config.storage_buckets)
            .map_err(Status::permission_denied)?;
        crate::managed_prometheus::admit_submitted(
            &loaded.profile,
            self.hub.config.allow_managed_prometheus,
        )
        .map_err(Status::permission_denied)?;
        if let Some(rate) = r.max_failure_rate {
            if !(0.0..=1.0).contains(&rate) {
                return Err(Status::invalid_argument(format!(
                    "max_failure_rate must be from 0 to 1, got {rate}"
                )));
            }
        }
        if self.hub.is_busy() {
            return Err(Status::failed_precondition(
                "a run is in progress; one run at a time",
            ));
        }
        let expect = if r.expect_agents > 0 {
            r.expect_agents
        } else {
            loaded.profile.fleet.expect_agents.unwrap_or(1)
        };
        let handle = start_run(
            self.hub.clone(),
            RunRequest {
                loaded,
                profile_text: r.profile_yaml,
                expect_agents: expect,
                options: RunOptions {
                    max_failure_rate: r
                        .max_failure_rate
                        .unwrap_or(fleetbench_report::DEFAULT_MAX_FAILURE_RATE),
                    preflight: !r.no_preflight,
                    require_pd: r.require_pd,
                },
            },
        );
        Ok(Response::new(wire::SubmitReply {
            run_id: handle.run_id,
        }))
    }

    async fn watch(
        &self,
        request: Request<wire::WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        require(&request, Access::Client)?;
        let run_id = request.into_inner().run_id;
        let rx = self
            .hub
            .run_progress(&run_id)
            .ok_or_else(|| Status::not_found(format!("no run {run_id}")))?;
        let stream = WatchStream::new(rx)
            .map(|p| Ok(p.to_wire()))
            .throttle(Duration::from_millis(250));
        Ok(Response::new(Box::pin(stream)))
    }

    async fn get_report(
        &self,
        request: Request<wire::GetReportRequest>,
    ) -> Result<Response<wire::GetReportReply>, Status> {
        require(&request, Access::Client)?;
        let run_id = request.into_inner().run_id;
        let rx = self
            .hub
            .run_progress(&run_id)
            .ok_or_else(|| Status::not_found(format!("no run {run_id}")))?;
        let p = rx.borrow().clone();
        let status = if !p.finished {
            "running"
        } else if p.error.is_empty() {
            "ok"
        } else {
            "failed"
        };
        Ok(Response::new(wire::GetReportReply {
            run_id,
            status: status.into(),
            results_dir: p.results_dir,
            summary_markdown: crate::redact::redact(&p.summary_markdown),
            verdicts_json: serde_json::to_vec(&p.verdicts).unwrap_or_default(),
        }))
    }

    async fn preflight(
        &self,
        request: Request<wire::PreflightRequest>,
    ) -> Result<Response<wire::PreflightReply>, Status> {
        let caller = require(&request, Access::Client)?;
        let client = client_name(&caller, &request);
        let r = request.into_inner();
        let loaded = if r.profile_yaml.is_empty() {
            None
        } else {
            Some(
                self.parse_gated(&client, &r.profile_yaml, &r.profile_name, &r.env)
                    .await?,
            )
        };
        Ok(Response::new(
            crate::remote::check::check(&self.hub, loaded).await,
        ))
    }

    async fn list_runs(
        &self,
        request: Request<wire::ListRunsRequest>,
    ) -> Result<Response<wire::ListRunsReply>, Status> {
        require(&request, Access::Client)?;
        let hub = self.hub.clone();
        let runs = tokio::task::spawn_blocking(move || crate::remote::runs::list(&hub))
            .await
            .map_err(|e| Status::internal(format!("listing the runs failed: {e}")))?;
        Ok(Response::new(wire::ListRunsReply { runs }))
    }

    async fn fetch_run(
        &self,
        request: Request<wire::FetchRunRequest>,
    ) -> Result<Response<Self::FetchRunStream>, Status> {
        require(&request, Access::Client)?;
        let run_id = request.into_inner().run_id;
        let dir = crate::remote::fetch::run_dir(&self.hub, &run_id)?;
        let (tx, rx) = mpsc::channel(4);
        tokio::task::spawn_blocking(move || crate::remote::fetch::send_files(dir, tx));
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// Who is calling, for the per-client limits: the certificate's name, else the peer's address.
fn client_name<T>(caller: &crate::auth::Caller, request: &Request<T>) -> String {
    caller.cert_name.clone().unwrap_or_else(|| {
        request
            .remote_addr()
            .map_or("unknown".to_string(), |a| a.ip().to_string())
    })
}

/// The first message of a Join: a Hello of our protocol, with a name, and the name of the
/// agent's certificate where it has one.
fn check_hello(
    caller: &crate::auth::Caller,
    peer: &str,
    first: Option<wire::AgentMessage>,
) -> Result<wire::Hello, Status> {
    let hello = match first {
        Some(wire::AgentMessage {
            body: Some(Up::Hello(h)),
        }) => h,
        _ => {
            return Err(Status::invalid_argument(
                "the first message of Join must be Hello",
            ))
        }
    };
    if hello.protocol_version != PROTOCOL_VERSION {
        return Err(Status::failed_precondition(format!(
            "agent speaks protocol {} (software {}), this coordinator speaks {} (software {})",
            hello.protocol_version, hello.software_version, PROTOCOL_VERSION, SOFTWARE_VERSION
        )));
    }
    if hello.agent_id.is_empty() {
        return Err(Status::invalid_argument("Hello.agent_id is empty"));
    }
    if let Some(name) = caller.cert_name.as_deref() {
        if name != hello.agent_id {
            tracing::warn!(%peer, agent = %hello.agent_id, "refused a join: the certificate is for agent {name}");
            return Err(Status::permission_denied(format!(
                "this agent's certificate is for agent {name:?}, not {:?}: join with --name {name} or use its own certificate",
                hello.agent_id
            )));
        }
    }
    Ok(hello)
}

/// One message of a joined agent: clock replies to the fleet, the rest to the run it names.
async fn route(hub: &Hub, agent_id: &str, tx: &Downlink, body: Up) {
    let agent_id = agent_id.to_string();
    match body {
        Up::Hello(_) | Up::Heartbeat(_) => {}
        Up::Clock(r) => hub.fleet.clock_reply(&agent_id, &r),
        Up::Snapshot(s) => {
            let (run, key) = (s.run_id.clone(), (s.stage, s.shard, s.seq));
            if hub.deliver(
                &run,
                AgentEvent::Snapshot {
                    agent_id: agent_id.clone(),
                    snapshot: s,
                },
            ) {
                return;
            }
            // A run this coordinator does not know (it restarted, say): no ack, so the agent
            // keeps the snapshot for a coordinator that can apply it.
            if !hub.run_finished(&run) {
                tracing::warn!(agent = %agent_id, "snapshot for run {run}, which is not in progress here: not acknowledged (the agent keeps it)");
                return;
            }
            // Its run is over: nothing will apply it, so let the agent drop it.
            tracing::debug!(agent = %agent_id, "snapshot for finished run {run}: acknowledged, dropped");
            let ack = wire::SnapshotAck {
                run_id: run,
                stage: key.0,
                shard: key.1,
                seq: key.2,
            };
            let _ = tx
                .send(Ok(wire::CoordinatorMessage {
                    body: Some(Down::Ack(ack)),
                }))
                .await;
        }
        Up::Done(done) => {
            let run = done.run_id.clone();
            hub.deliver(&run, AgentEvent::Done { done });
        }
        Up::Preflight(result) => {
            let run = result.run_id.clone();
            hub.deliver(&run, AgentEvent::Preflight { agent_id, result });
        }
        Up::MediaReceived(received) => {
            let run = received.run_id.clone();
            hub.deliver(&run, AgentEvent::MediaReceived { agent_id, received });
        }
        Up::Failed(failed) => {
            let run = failed.run_id.clone();
            hub.deliver(&run, AgentEvent::Failed { agent_id, failed });
        }
    }
}

impl ControlService {
    /// Parses a profile a client sent (`Submit`, `Preflight`) off the runtime, within the
    /// gate's size, time and per-client limits; its secrets are registered for redaction.
    async fn parse_gated(
        &self,
        client: &str,
        text: &str,
        name: &str,
        env: &std::collections::HashMap<String, String>,
    ) -> Result<LoadedProfile, Status> {
        if text.len() > MAX_PROFILE_BYTES {
            return Err(Status::resource_exhausted(format!(
                "the profile is {} bytes; at most {MAX_PROFILE_BYTES} are accepted",
                text.len()
            )));
        }
        let slot = self.submits.enter(client).ok_or_else(|| {
            tracing::warn!(%client, "refused a submit: {MAX_PER_CLIENT} of this client's are being parsed");
            Status::resource_exhausted(format!(
                "{MAX_PER_CLIENT} submits of this client are still being parsed; try again later"
            ))
        })?;
        let origin = if name.is_empty() {
            "submitted profile".to_string()
        } else {
            name.to_string()
        };
        let (text, env) = (text.to_string(), env.clone());
        let parse = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            parse_submitted(&text, &origin, &env)
        });
        match tokio::time::timeout(PARSE_TIME_LIMIT, parse).await {
            Ok(Ok(Ok(loaded))) => {
                crate::redact::register(&loaded.secrets);
                Ok(loaded)
            }
            Ok(Ok(Err(e))) => Err(Status::invalid_argument(e.to_string())),
            Ok(Err(e)) => Err(Status::internal(format!("parsing the profile failed: {e}"))),
            Err(_) => {
                tracing::warn!(%client, "a submitted profile took longer than {PARSE_TIME_LIMIT:?} to parse: refused");
                Err(Status::deadline_exceeded(format!(
                    "the profile took longer than {PARSE_TIME_LIMIT:?} to parse and check"
                )))
            }
        }
    }
}

/// Parses a submitted profile (on a blocking thread): `REPLACE_ENV_` from the values the
/// submitter sent, every one of them a secret.
fn parse_submitted(
    text: &str,
    origin: &str,
    env: &std::collections::HashMap<String, String>,
) -> Result<LoadedProfile, fleetbench_profile::ProfileError> {
    let stem = fleetbench_profile::profile_stem(Path::new(origin), "profile");
    let env: BTreeMap<String, String> = env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let mut loaded = parse_profile_env(text, Path::new(origin), &stem, &[], EnvSource::Sent(&env))?;
    for v in env.values() {
        loaded.secrets.add_env(v);
    }
    Ok(loaded)
}
