//! fleetbench's model of what travels between the coordinator and its agents, shared by both:
//!
//! - [`spec`]: the shard spec of each agent and stage (`Assign`), the run plan it is part of,
//!   intended send times and planned counts;
//! - [`data`]: what request j of a stage sends, derived from the stage seed and j alone;
//! - [`measure`]: the HDR histograms and counters agents record and coordinators merge
//!   (`Snapshot`), and the goodput objectives;
//! - [`settings`]: the profile settings a shard spec carries as they are (API, HTTP version,
//!   client certificate, telemetry);
//! - [`hosts`]: agents with their devices and the host groups their roles make;
//! - [`clock`]: Unix-nanosecond time and NTP-style clock offset estimation;
//! - [`tokenize`]: the word tokenizer and prompt synthesis;
//! - [`role`]: what an agent's host is (prefill, decode, client, other);
//! - [`token`]: the control plane's shared-token credentials (`agent:` and `client:` tokens);
//! - `wire.rs`: every conversion to and from the control plane's messages (roles, a snapshot's
//!   histograms and counters).
//!
//! No network or file I/O here; the agent links this crate and `fleetbench-proto` only.

#![warn(missing_docs)]
#![warn(unreachable_pub)]

pub mod breaker;
pub mod breaker_expr;
pub mod clock;
pub mod data;
pub mod hosts;
pub mod measure;
pub mod percent;
pub mod role;
pub mod settings;
pub mod spec;
pub mod token;
pub mod tokenize;
mod wire;

/// The version agents and coordinators exchange; both must match. 2: snapshots carry the
/// request-body and media metrics and counters (an older coordinator would refuse them mid-run).
pub const PROTOCOL_VERSION: u32 = 2;
/// This build's version, sent in Hello and written into reports.
pub const SOFTWARE_VERSION: &str = env!("CARGO_PKG_VERSION");
