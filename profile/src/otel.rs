//! `data.otel_trace_replay`, inference-perf's OTel trace replay, under its key names
//! (`OTelTraceReplayConfig` of its `config/datagen/replay.py`) with its defaults; its checks
//! are in `otel_check.rs`, the trace files are read by `data/otel/`.

use serde::{Deserialize, Serialize};
use serde_norway::Value;
use std::collections::BTreeMap;

/// The longest recorded gap a call may wait (`max_wait_ms`): one day.
pub(crate) const MAX_WAIT_MS: u64 = 86_400_000;
/// The most sessions `duplicate_sessions_target` may ask for (each travels as a slot).
pub(crate) const MAX_REPLAY_SESSIONS: u64 = 1_000_000;
/// The largest `default_max_tokens`.
pub(crate) const MAX_DEFAULT_MAX_TOKENS: u64 = crate::limits::MAX_REQUEST_TOKENS;

/// A struct of the keys of inference-perf's `SessionReplayConfig` that every session replay
/// reads alike (the trace replays and the synthetic agentic sessions), then its own; `$over`
/// names the default of `override_tool_call_max_tokens` (true for traces, false for generated
/// sessions, which size their tool calls themselves).
macro_rules! session_keys {
    ($(#[$meta:meta])* pub struct $name:ident $(<$g:ident>)? (override_tool_call_max_tokens = $over:literal) { $($(#[$fmeta:meta])* pub $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        pub struct $name $(<$g>)? {
            /// Name every request's model `static_model_name`.
            #[serde(default)]
            pub use_static_model: bool,
            /// The model of every request with `use_static_model`.
            #[serde(default)]
            pub static_model_name: String,
            /// Recorded model name → the model to name.
            #[serde(default)]
            pub model_mapping: Option<BTreeMap<String, String>>,
            /// `max_tokens` of a call that records no output tokens (1000).
            #[serde(default = "default_max_tokens")]
            pub default_max_tokens: u64,
            /// A call whose output is a tool call (with the tool definitions) asks for max(4 ×
            /// its tokens, 4096).
            #[serde(default = $over)]
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
            /// Skip a trace that cannot be read or built instead of refusing the profile.
            #[serde(default)]
            pub skip_invalid_files: bool,
            /// `none` or `use_recorded`: what to do with a live tool call whose arguments are
            /// not JSON.
            #[serde(default)]
            pub bad_tool_call_handling: BadToolCallHandling,
            /// `force_recorded` or `as_recorded`: whether a call with tools is sent the
            /// `tool_choice` that keeps it on its recorded path.
            #[serde(default)]
            pub tool_choice_mode: ToolChoiceMode,
            /// Keep spans whose status is an error (default true; Weka traces have none).
            #[serde(default = "yes")]
            pub include_errors: bool,
            $($(#[$fmeta])* pub $field: $ty,)*
        }

        impl $(<$g>)? $name $(<$g>)? {
            /// The session keys, as the OTel replay's config carries them (no source, no
            /// OTel-only key set), for the checks and the graph building the replays share.
            pub fn session_keys(&self) -> $crate::otel::OtelTraceReplayConfig {
                $crate::otel::OtelTraceReplayConfig {
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
    };
}
pub(crate) use session_keys;

/// A struct of a trace replay's config: the session keys ([`session_keys`]), the trace sources
/// and `filter`, then its own; a key whose meaning differs between the replays is each
/// replay's own.
macro_rules! session_replay_config {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident: $ty:ty,)* }) => {
        $crate::otel::session_keys! {
            $(#[$meta])*
            pub struct $name (override_tool_call_max_tokens = "yes") {
                /// A directory whose `*.json` files are the traces.
                #[serde(default)]
                pub trace_directory: Option<String>,
                /// Trace files (for OTel, also glob patterns: `*`, `?`, `**`).
                #[serde(default)]
                pub trace_files: Option<Vec<String>>,
                /// A Hugging Face dataset of traces: its id, or a mapping with its `path`.
                #[serde(default)]
                pub hf_dataset_path: Option<Value>,
                /// A Python lambda over each trace.
                #[serde(default)]
                pub filter: Option<String>,
                $($(#[$fmeta])* pub $field: $ty,)*
            }
        }

        impl $name {
            /// Which of the three trace sources are named.
            pub(crate) fn sources(&self) -> [bool; 3] {
                [
                    self.trace_directory.is_some(),
                    self.trace_files.is_some(),
                    self.hf_dataset_path.is_some(),
                ]
            }
        }
    };
}
pub(crate) use session_replay_config;

session_replay_config! {
    /// `data.otel_trace_replay`.
    #[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    pub struct OtelTraceReplayConfig {
        /// Send the recorded outputs in successors' inputs, not the live ones.
        #[serde(default)]
        pub disable_output_substitution: bool,
        /// Span attributes sent as HTTP headers (refused unless empty).
        #[serde(default)]
        pub attribute_to_header_map: Option<BTreeMap<String, String>>,
        /// Span attributes as report labels (refused unless empty).
        #[serde(default)]
        pub attribute_to_label_map: Option<BTreeMap<String, String>>,
    }
}

/// `tool_choice_mode`.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ToolChoiceMode {
    /// Send the `tool_choice` that keeps a call with tools on its recorded path (the default).
    #[default]
    ForceRecorded,
    /// Send no `tool_choice`.
    AsRecorded,
}

/// `bad_tool_call_handling`.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BadToolCallHandling {
    /// No mitigation (inference-perf's default).
    #[default]
    None,
    /// Replace a malformed live tool call by the recorded message.
    UseRecorded,
}

pub(crate) fn default_max_tokens() -> u64 {
    1000
}
pub(crate) fn default_max_wait_ms() -> i64 {
    15_000
}
pub(crate) fn default_predecessor_timeout() -> f64 {
    3600.0
}
pub(crate) fn yes() -> bool {
    true
}
