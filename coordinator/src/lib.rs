//! The fleetbench coordinator: the control plane of a distributed benchmark.
//!
//! Agents join over one gRPC stream each ([`service`], [`fleet`]). A run ([`run`]) waits for
//! the expected agents, splits the profile into shards (`fleetbench_profile::plan`), starts every
//! stage on all agents at one instant (clock offsets measured per agent), stores each snapshot
//! before acknowledging it ([`store`]), merges snapshots exactly ([`collect`]) and stores each
//! stage's BenchmarkRun report with its verdict; at the end
//! `fleetbench_report::render::write_outputs` turns the run directory into the summaries,
//! tables, plots and HTML page people read. Before the first stage [`preflight`] tests the
//! endpoint once per agent; [`live`] is the console's view of a run in progress; [`sweep`]
//! runs a profile over deployment points (with an SLA search per point). [`hub`] holds
//! the state that these share. [`upload`] copies a finished run directory to the GCS or S3
//! buckets the profile's `storage` names.
//!
//! Security: [`tls`] sets up TLS / mutual TLS on both ends of the control plane, [`auth`]
//! checks every call's credential (token or client certificate) and its role, [`certs`] issues
//! first-time certificates and tokens, [`redact`] keeps profiles' secrets out of logs.
//! [`remote`] answers remote clients' fleet checks, run listings and run downloads.

#![warn(missing_docs)]
#![warn(unreachable_pub)]

mod auth;
pub mod certs;
pub mod collect;
mod fleet;
pub mod hub;
pub mod live;
mod managed_prometheus;
mod media;
pub mod preflight;
mod probe;
pub mod recover;
pub mod redact;
pub mod remote;
pub mod resume;
pub mod run;
mod saturation;
mod service;
mod stage;
mod stage_report;
mod state_dir;
mod store;
mod submit_gate;
pub mod sweep;
pub mod tls;
mod upload;
mod wire;

use fleetbench_proto::v1::control_server::ControlServer;
use hub::Hub;
use service::ControlService;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::service::interceptor::InterceptedService;

/// Serves the control plane on `listener` until the process ends: over TLS when `security`
/// has it, every call authenticated by its [`auth::Authenticator`].
pub async fn serve(
    listener: TcpListener,
    hub: Arc<Hub>,
    security: tls::ServerSecurity,
) -> Result<(), tonic::transport::Error> {
    let mut builder = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(std::time::Duration::from_secs(10)));
    if let Some(config) = security.tls {
        builder = builder.tls_config(config.timeout(std::time::Duration::from_secs(10)))?;
    }
    let service = ControlServer::new(ControlService::new(hub)).max_decoding_message_size(64 << 20);
    builder
        .add_service(InterceptedService::new(service, security.auth))
        .serve_with_incoming(TcpListenerStream::new(listener))
        .await
}
