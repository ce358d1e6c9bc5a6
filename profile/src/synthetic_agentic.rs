//! `data.synthetic_agentic`, inference-perf 0.7.0's procedural agentic sessions, under its key
//! names (`SyntheticAgenticConfig` of its `config/datagen/replay.py`) with its defaults; its
//! checks are in `synthetic_agentic_check.rs`.
//!
//! The coordinator generates the sessions when it loads the profile (`data/agentic/`).

use crate::otel::{
    default_max_tokens, default_max_wait_ms, default_predecessor_timeout, session_keys, yes,
    BadToolCallHandling, OtelTraceReplayConfig, ToolChoiceMode,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

session_keys! {
    /// `data.synthetic_agentic`: inference-perf's session keys (`SessionReplayConfig`, the
    /// trace-only ones pinned; `override_tool_call_max_tokens` false by default, as the
    /// generator sizes its tool calls), then the generator's own; `D` is the profile's
    /// distribution (generic, so that this file does not name the profile model that names it).
    #[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
    #[serde(deny_unknown_fields, bound(deserialize = "D: Deserialize<'de>"))]
    pub struct SyntheticAgenticConfig<D> (override_tool_call_max_tokens = "no") {
    /// Sessions to generate (required, ≥ 1).
    pub num_sessions: i64,
    /// Tokens of each turn's new input (required).
    pub input_tokens_per_turn: D,
    /// Tokens of each plain-text answer (required).
    pub output_tokens_per_turn: D,
    /// User turns to the root agent (default fixed 1).
    #[serde(default)]
    pub turns_per_session: Option<D>,
    /// Probability that an agent spawns sub-agents (0 to 1, default 0).
    #[serde(default)]
    pub fanout_probability: f64,
    /// Theme name → weight, a number or `{weight}` (default the four built-in themes, equal).
    #[serde(default)]
    pub theme_mix: Option<BTreeMap<String, ThemeWeight>>,
    /// Base seed of the per-session generators (42).
    #[serde(default = "default_seed")]
    pub seed: i64,
    /// Tokens of the system head that opens every agent call (1000).
    #[serde(default = "default_system_prompt_len")]
    pub shared_system_prompt_len: i64,
    /// Tool-loop iterations before an agent answers (default fixed 2).
    #[serde(default)]
    pub tool_loop_depth: Option<D>,
    /// Sub-agents per spawn (default uniform 2–4).
    #[serde(default)]
    pub sub_agents_per_spawn: Option<D>,
    /// Deepest sub-agent level (2).
    #[serde(default = "default_max_depth")]
    pub max_depth: i64,
    /// Most calls per session (64).
    #[serde(default = "default_max_events")]
    pub max_events_per_session: i64,
    /// Tools advertised per agent (default fixed 8).
    #[serde(default)]
    pub tool_catalog_size_per_agent: Option<D>,
    /// Parallel tool calls per step (default fixed 1).
    #[serde(default)]
    pub parallel_tool_calls_per_step: Option<D>,
    /// Seconds a tool takes (default fixed 1).
    #[serde(default)]
    pub tool_call_latency_sec: Option<D>,
    /// Seconds before each follow-up user turn (default fixed 10).
    #[serde(default)]
    pub user_think_time_sec: Option<D>,
    /// The model's context window, for inference-perf's projection of the largest request.
    #[serde(default)]
    pub max_model_len: Option<i64>,
    /// Replace a grown transcript by a summary past a size.
    #[serde(default)]
    pub context_compaction: Option<ContextCompaction<D>>,
    }
}

/// A `theme_mix` weight: a bare number or `{weight: W}` (other keys of the block ignored, as
/// inference-perf's `ThemeSpec` ignores them).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum ThemeWeight {
    /// `name: W`.
    Bare(f64),
    /// `name: {weight: W}`.
    Block {
        /// The weight.
        weight: f64,
    },
}

impl ThemeWeight {
    /// The weight.
    pub fn weight(&self) -> f64 {
        match self {
            ThemeWeight::Bare(w) | ThemeWeight::Block { weight: w } => *w,
        }
    }
}

/// `context_compaction` (other keys ignored, as inference-perf's model ignores them).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct ContextCompaction<D> {
    /// The accumulated input past which the next round starts from a summary.
    pub trigger_tokens: D,
    /// The summary's tokens.
    pub target_tokens: D,
}

/// inference-perf's built-in themes, the default mix (equal weights).
pub(crate) const DEFAULT_THEMES: [&str; 4] = [
    "generic",
    "db2_latency_incident",
    "research_rag",
    "code_change_task",
];

fn no() -> bool {
    false
}
fn default_seed() -> i64 {
    42
}
fn default_system_prompt_len() -> i64 {
    1000
}
fn default_max_depth() -> i64 {
    2
}
fn default_max_events() -> i64 {
    64
}

impl<D> SyntheticAgenticConfig<D> {
    /// The session keys, as the OTel replay's config carries them, the pinned ones at their
    /// pinned values (`check_pinned` checks the given ones), for the shared checks.
    pub(crate) fn session(&self) -> OtelTraceReplayConfig {
        OtelTraceReplayConfig {
            inject_random_session_id: false,
            duplicate_sessions_target: None,
            include_errors: true,
            skip_invalid_files: false,
            ..self.session_keys()
        }
    }

    /// The theme weights, the default mix when none is given.
    pub(crate) fn theme_weights(&self) -> Vec<(String, f64)> {
        match &self.theme_mix {
            Some(m) => m.iter().map(|(k, w)| (k.clone(), w.weight())).collect(),
            None => DEFAULT_THEMES
                .iter()
                .map(|t| (t.to_string(), 0.25))
                .collect(),
        }
    }
}
