//! `data.weka_trace_replay`, inference-perf's Weka trace replay, under its key names
//! (`WekaTraceReplayConfig` of its `config/datagen/replay.py`) with its defaults; its checks are
//! in `weka_check.rs`, the traces are read and their prompts rebuilt by `data/weka/`.
//!
//! inference-perf's Weka and OTel configs share their session keys (`SessionReplayConfig`):
//! [`WekaTraceReplayConfig::session`] gives them as an [`OtelTraceReplayConfig`], so that the
//! two replays check them, build graphs and lay out sessions with one code.

use crate::otel::{
    default_max_tokens, default_max_wait_ms, default_predecessor_timeout, yes, BadToolCallHandling,
    OtelTraceReplayConfig, ToolChoiceMode,
};
use serde::{Deserialize, Serialize};
use serde_norway::Value;
use std::collections::BTreeMap;

/// The largest block size (tokens per hash id) a trace or `default_block_size` may give.
pub(crate) const MAX_BLOCK_SIZE: i64 = 1 << 16;

/// `data.weka_trace_replay`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WekaTraceReplayConfig {
    /// Name every request's model `static_model_name`.
    #[serde(default)]
    pub use_static_model: bool,
    /// The model of every request with `use_static_model`.
    #[serde(default)]
    pub static_model_name: String,
    /// Recorded model name → the model to name.
    #[serde(default)]
    pub model_mapping: Option<BTreeMap<String, String>>,
    /// `max_tokens` of a call that records 0 output tokens (1000).
    #[serde(default = "default_max_tokens")]
    pub default_max_tokens: u64,
    /// Read by inference-perf's session base; Weka calls carry no tools, so it changes nothing.
    #[serde(default = "yes")]
    pub override_tool_call_max_tokens: bool,
    /// `[SESS:<random>] ` before unique messages, so that sessions share no prefix cache.
    #[serde(default)]
    pub inject_random_session_id: bool,
    /// Sessions to reach by repeating the traces (round robin, `_dup<n>` ids).
    #[serde(default)]
    pub duplicate_sessions_target: Option<i64>,
    /// The longest recorded gap between predecessors' end and a call's start (15000 ms).
    #[serde(default = "default_max_wait_ms")]
    pub max_wait_ms: i64,
    /// Seconds a call waits for its predecessors before it fails (3600; 0: forever).
    #[serde(default = "default_predecessor_timeout")]
    pub predecessor_wait_timeout_sec: f64,
    /// A key of inference-perf's session base that the Weka replay does not read.
    #[serde(default = "yes")]
    pub include_errors: bool,
    /// A key of inference-perf's session base: Weka calls carry no tool calls to act on.
    #[serde(default)]
    pub bad_tool_call_handling: BadToolCallHandling,
    /// A key of inference-perf's session base: Weka calls carry no tool calls to force.
    #[serde(default)]
    pub tool_choice_mode: ToolChoiceMode,
    /// Skip a trace that cannot be read or rebuilt instead of refusing the profile.
    #[serde(default)]
    pub skip_invalid_files: bool,
    /// A directory whose `*.json` files are the traces, one trace each.
    #[serde(default)]
    pub trace_directory: Option<String>,
    /// Trace files (JSON, one trace each).
    #[serde(default)]
    pub trace_files: Option<Vec<String>>,
    /// A Hugging Face dataset whose `traces.jsonl` holds the traces, one per line: its id, or
    /// `{path, ...}` (only `path` is read, as inference-perf does).
    #[serde(default)]
    pub hf_dataset_path: Option<Value>,
    /// A Python lambda over each trace (and its `max_tokens`, `total_tokens`, `num_turns`).
    #[serde(default)]
    pub filter: Option<String>,
    /// Longest idle gap between request starts in a trace, in seconds (60; ≤ 0: as recorded).
    #[serde(default = "default_idle_gap_cap")]
    pub trace_idle_gap_cap_seconds: f64,
    /// Accepted and unread, as in inference-perf.
    #[serde(default)]
    pub ignore_trace_delays: bool,
    /// Accepted and unread, as in inference-perf.
    #[serde(default)]
    pub use_think_time_only: bool,
    /// Tokens per block hash id when a trace gives none (64).
    #[serde(default = "default_block_size")]
    pub default_block_size: i64,
    /// The most traces read from `hf_dataset_path` (100).
    #[serde(default = "default_dataset_entries")]
    pub num_dataset_entries: i64,
    /// inference-perf's processes for rebuilding; fleetbench rebuilds in the coordinator.
    #[serde(default)]
    pub datagen_workers: Option<i64>,
}

fn default_idle_gap_cap() -> f64 {
    60.0
}
fn default_block_size() -> i64 {
    64
}
fn default_dataset_entries() -> i64 {
    100
}

impl WekaTraceReplayConfig {
    /// The session keys, as the OTel replay's config carries them (no OTel-only key set).
    pub(crate) fn session(&self) -> OtelTraceReplayConfig {
        OtelTraceReplayConfig {
            use_static_model: self.use_static_model,
            static_model_name: self.static_model_name.clone(),
            model_mapping: self.model_mapping.clone(),
            default_max_tokens: self.default_max_tokens,
            override_tool_call_max_tokens: self.override_tool_call_max_tokens,
            inject_random_session_id: self.inject_random_session_id,
            duplicate_sessions_target: self.duplicate_sessions_target,
            max_wait_ms: self.max_wait_ms,
            predecessor_wait_timeout_sec: self.predecessor_wait_timeout_sec,
            include_errors: self.include_errors,
            skip_invalid_files: self.skip_invalid_files,
            trace_directory: None,
            trace_files: None,
            hf_dataset_path: None,
            filter: None,
            disable_output_substitution: false,
            attribute_to_header_map: None,
            attribute_to_label_map: None,
            bad_tool_call_handling: self.bad_tool_call_handling,
            tool_choice_mode: self.tool_choice_mode,
        }
    }
}

/// The Hub dataset `v` names: its id, or a mapping's `path` (inference-perf reads no other key).
pub(crate) fn dataset_id(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) if !s.is_empty() => Ok(s.clone()),
        Value::Mapping(m) => match m.get("path") {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            _ => Err("a mapping needs `path`: the dataset's id (owner/name)".into()),
        },
        _ => Err("the dataset's id (owner/name), or {path: owner/name}".into()),
    }
}
