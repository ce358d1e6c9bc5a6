//! fleetbench's shared domain model, used by the coordinator and the agent alike.
//!
//! - [`profile`]: the workload profile (inference-perf's format plus `fleet`), strict parsing and
//!   validation with errors that name file, key and what is allowed;
//! - [`data`]: request data sources (synthetic lengths, shared prefixes, ShareGPT, traces): what
//!   request j of a stage sends;
//! - [`plan`]: splitting a profile's stages into one shard per agent, and the intended send
//!   times of a shard;
//! - [`measure`]: the HDR histograms and counters that agents record and coordinators merge;
//! - [`report`]: the BenchmarkRun 0.1 report and the summary table, built from merged data;
//! - [`clock`]: Unix-nanosecond time and NTP-style clock offset estimation;
//! - [`tokenize`]: the word tokenizer shared with the simulated engine, prompt synthesis;
//! - [`role`]: what an agent's host is (prefill, decode, client, other);
//! - [`token`]: the control plane's shared-token credentials (`agent:` and `client:` tokens).
//!
//! Nothing here does network or heavy file I/O; the binaries do.

pub mod clock;
pub mod data;
pub mod measure;
pub mod plan;
pub mod profile;
pub mod report;
pub mod role;
pub mod token;
pub mod tokenize;

/// The version agents and coordinators exchange; both must match.
pub const PROTOCOL_VERSION: u32 = 1;
pub const SOFTWARE_VERSION: &str = env!("CARGO_PKG_VERSION");
