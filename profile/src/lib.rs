//! fleetbench's workload profiles: an inference-perf configuration file plus fleetbench's `fleet`
//! section (`docs/profile.md`).
//!
//! - loading ([`load_profile_with`], [`parse_profile`]): `REPLACE_ENV_*` filling and secrets, `-o`
//!   overrides, the strict parse, validation with errors that name file, key, position and what
//!   is allowed, and the dataset and tokenizer a profile names (`data/`: ShareGPT, Mooncake and
//!   Azure trace files, Hub datasets and tokenizers);
//! - sweep matrices ([`load_matrix`]): vLLM-style `standalone_runs` expanded into one profile
//!   per run;
//! - [`plan`]: from a loaded profile and the joined agents to the run plan, one shard spec per
//!   agent per stage.
//!
//! Everything downstream of a load may assume a valid [`Profile`].

#![warn(missing_docs)]
#![warn(unreachable_pub)]

mod client_cert;
mod data;
mod distribution;
mod error;
mod inference_perf;
pub mod limits;
mod load;
mod locate;
mod matrix;
mod model;
mod multimodal;
mod multimodal_check;
mod otel;
mod otel_check;
mod overrides;
pub mod plan;
mod saturation;
mod saturation_check;
mod secrets;
mod slo_headers;
mod storage_check;
mod synthetic_agentic;
mod synthetic_agentic_check;
mod validate;
mod visionarena;
mod visionarena_check;
mod vllm_args;
mod weka;
mod weka_check;

pub use client_cert::client_cert;
pub use data::visionarena::StoredPool;
pub use error::ProfileError;
pub use fleetbench_model::breaker::{BreakerMetrics, CircuitBreakerConfig, Trigger};
pub use fleetbench_model::percent::percent_encode;
pub use inference_perf::DEFAULT_RETRY_BACKOFF_S;
pub use load::{
    load_profile_with, parse_profile, parse_profile_env, parse_profile_with, profile_stem,
    LoadedProfile,
};
pub use matrix::{
    is_matrix_file, load_matrix, tensor_parallel_sizes, ExpandedRun, Matrix, SelectError,
};
pub use model::*;
pub use multimodal::{
    AnyResolution, AudioConfig, Durations, ImageConfig, InsertionPoint, MultimodalConfig,
    ResolutionPreset, Resolutions, Size, VideoConfig, VideoProfile, VideoProfiles,
    VideoRepresentation, WeightedDuration, WeightedResolution, WeightedVideoProfile,
};
pub use otel::{BadToolCallHandling, OtelTraceReplayConfig, ToolChoiceMode};
pub use overrides::apply_overrides;
pub use saturation::{
    percentile, sweep_rates, SweepConfig, SweepType, MAX_PROBE_REQUESTS, PROBE_LABEL, PROBE_SECONDS,
};
pub use secrets::{env_names, env_values, EnvSource, Secrets, REDACTED};
pub use slo_headers::HeaderSlos;
pub use storage_check::fill_timestamp;
pub use visionarena::VisionArenaConfig;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod inference_perf_tests;

#[cfg(test)]
mod saturation_tests;

#[cfg(test)]
mod multimodal_tests;

#[cfg(test)]
mod otel_tests;
#[cfg(test)]
mod synthetic_agentic_tests;

#[cfg(test)]
mod test_support;
