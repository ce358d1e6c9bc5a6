//! The fleetbench coordinator: the control plane of a distributed benchmark.
//!
//! Agents join over one gRPC stream each ([`service`], [`fleet`]). A run ([`run`]) waits for
//! the expected agents, splits the profile into shards (`fleetbench_common::plan`), starts every
//! stage on all agents at one instant (clock offsets measured per agent), stores each snapshot
//! before acknowledging it ([`store`]), merges snapshots exactly ([`collect`]) and writes the
//! BenchmarkRun reports (each with its verdict) and the summary table; before the first stage
//! [`preflight`] tests the endpoint once per agent; [`render`] turns a run directory into the tables,
//! plots and HTML page people read. [`hub`] holds the state that these share.

pub mod collect;
pub mod fleet;
pub mod hub;
pub mod recover;
pub mod preflight;
pub mod render;
pub mod resume;
pub mod run;
pub mod service;
pub mod store;

use fleetbench_proto::v1::control_server::ControlServer;
use hub::Hub;
use service::ControlService;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;

/// Serves the control plane on `listener` until the process ends.
pub async fn serve(listener: TcpListener, hub: Arc<Hub>) -> Result<(), tonic::transport::Error> {
    tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(std::time::Duration::from_secs(10)))
        .add_service(ControlServer::new(ControlService { hub }).max_decoding_message_size(64 << 20))
        .serve_with_incoming(TcpListenerStream::new(listener))
        .await
}
