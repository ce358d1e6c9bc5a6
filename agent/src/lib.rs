//! The fleetbench agent: runs on every host of the deployment under test.
//!
//! It joins the coordinator over one gRPC stream ([`link`]), receives one shard of each stage,
//! sends that shard's requests to the OpenAI-compatible endpoint at their intended times
//! ([`stage`]), measures each request with a streaming client that timestamps every chunk as it
//! arrives ([`client`]), turns finished requests into HDR histograms per interval ([`record`]),
//! and streams those snapshots back with what [`telemetry`] sampled on the host meanwhile
//! (accelerators, host, engine metrics). The hot path only records: no printing, no waiting on the
//! coordinator. [`dial`] is how the link reaches the coordinator (TLS, mutual TLS, token).

#![warn(missing_docs)]
#![warn(unreachable_pub)]

mod breaker;
mod capacity;
pub mod client;
pub mod dial;
pub mod link;
mod media;
mod preflight;
pub mod record;
mod replay;
pub mod request;
pub mod runtime;
pub mod schedule;
pub mod stage;
pub mod telemetry;
#[cfg(test)]
mod test_spec;
