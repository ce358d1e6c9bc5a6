//! `data.weka_trace_replay`, inference-perf's Weka trace replay, under its key names
//! (`WekaTraceReplayConfig` of its `config/datagen/replay.py`) with its defaults; its checks are
//! in `weka_check.rs`, the traces are read and their prompts rebuilt by `data/weka/`.
//!
//! inference-perf's Weka and OTel configs share their session keys (`SessionReplayConfig`,
//! declared once by `session_replay_config!`): [`WekaTraceReplayConfig::session_keys`] gives them as
//! an [`OtelTraceReplayConfig`](crate::otel::OtelTraceReplayConfig), so that the two replays check them, build graphs and lay out
//! sessions with one code.
//!
//! Its `hf_dataset_path` names a dataset whose `traces.jsonl` holds the traces, one per line (its
//! id, or `{path, ...}`: only `path` is read, as inference-perf does); its `filter` also sees each
//! trace's `max_tokens`, `total_tokens` and `num_turns`.

use crate::otel::{
    default_max_tokens, default_max_wait_ms, default_predecessor_timeout, session_replay_config,
    yes, BadToolCallHandling, ToolChoiceMode,
};
use serde::{Deserialize, Serialize};
use serde_norway::Value;
use std::collections::BTreeMap;

/// The largest block size (tokens per hash id) a trace or `default_block_size` may give.
pub(crate) const MAX_BLOCK_SIZE: i64 = 1 << 16;

session_replay_config! {
    /// `data.weka_trace_replay`.
    #[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    pub struct WekaTraceReplayConfig {
        /// Longest idle gap between request starts in a trace, in seconds (60; ≤ 0: as
        /// recorded).
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
