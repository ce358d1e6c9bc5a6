//! What every trace source shares: a trace's spans as a replay graph (`trace_graph`, the
//! model each call names), the traces kept so far with their bound, and the error naming the
//! key.

use super::graph;
use super::spans;
use crate::otel::{OtelTraceReplayConfig, ToolChoiceMode};
use fleetbench_model::data::{ReplayGraph, MAX_REPLAY_EVENTS};
use serde_json::Value;

/// The most spans of one trace.
pub(crate) const MAX_SPANS: usize = 100_000;
/// The most bytes of graphs (JSON) a shard spec carries: agents accept 64 MiB messages.
pub(crate) const MAX_REPLAY_BYTES: usize = 32 << 20;

/// Why the traces cannot be used: the key, and the message (naming the file).
#[derive(Debug)]
pub(crate) struct TraceError {
    pub key: &'static str,
    pub message: String,
}

pub(crate) fn err(key: &'static str, message: String) -> TraceError {
    TraceError { key, message }
}

/// The traces read so far: each graph with its session id (`None`: `session_<slot>`, as
/// inference-perf names a dataset row without one) and the bytes they take.
pub(crate) struct Traces {
    /// The replay's key, named in errors.
    key: &'static str,
    /// What to do when the graphs grow too large.
    fewer: &'static str,
    pub(super) graphs: Vec<ReplayGraph>,
    pub(super) ids: Vec<Option<String>>,
    bytes: usize,
}

impl Traces {
    /// No traces yet, for the replay `key` (`fewer`: what to do when they grow too large).
    pub(crate) fn new(key: &'static str, fewer: &'static str) -> Traces {
        Traces {
            key,
            fewer,
            graphs: Vec::new(),
            ids: Vec::new(),
            bytes: 0,
        }
    }

    /// Adds one trace; `at` names where it came from when the graphs grow too large.
    pub(crate) fn push(
        &mut self,
        id: Option<String>,
        graph: ReplayGraph,
        at: &str,
    ) -> Result<(), TraceError> {
        let mut counted = Counted(0);
        if serde_json::to_writer(&mut counted, &graph).is_ok() {
            self.bytes += counted.0;
        }
        if self.bytes > MAX_REPLAY_BYTES {
            return Err(err(self.key, format!(
                "{at}: the graphs so far pass {} MiB, the most a shard spec carries to an agent; {}",
                MAX_REPLAY_BYTES >> 20, self.fewer)));
        }
        self.ids.push(id);
        self.graphs.push(graph);
        Ok(())
    }

    /// Whether no trace was kept.
    pub(crate) fn is_empty(&self) -> bool {
        self.graphs.is_empty()
    }
}

/// The replay graph of one trace's `spans`, from `source`; `None` without LLM calls.
pub(crate) fn trace_graph(
    spans: &[Value],
    source: String,
    c: &OtelTraceReplayConfig,
) -> Result<Option<ReplayGraph>, String> {
    if spans.len() > MAX_SPANS {
        return Err(format!("{} spans, more than {MAX_SPANS}", spans.len()));
    }
    let calls = spans::build_raw_calls(spans, c.include_errors)?;
    if calls.is_empty() {
        return Ok(None);
    }
    if calls.len() > MAX_REPLAY_EVENTS {
        return Err(format!(
            "{} LLM calls, more than the {MAX_REPLAY_EVENTS} a session may have",
            calls.len()
        ));
    }
    let model = |recorded: &str| model_of(c, recorded);
    let opts = graph::Options {
        model: &model,
        default_max_tokens: u32::try_from(c.default_max_tokens).unwrap_or(u32::MAX),
        tool_call_max_tokens: c.override_tool_call_max_tokens,
        force_tool_choice: c.tool_choice_mode == ToolChoiceMode::ForceRecorded,
    };
    let events = graph::build_events(&calls, &opts)?;
    Ok(Some(ReplayGraph { source, events }))
}

/// The model a call names: `static_model_name`, else its `model_mapping` entry, else the
/// endpoint's (`None`; inference-perf sends the server's `model_name`).
pub(crate) fn model_of(c: &OtelTraceReplayConfig, recorded: &str) -> Option<String> {
    if c.use_static_model {
        return Some(c.static_model_name.clone());
    }
    c.model_mapping.as_ref()?.get(recorded).cloned()
}

/// A writer that only counts: a graph's wire size without holding its bytes.
struct Counted(usize);

impl std::io::Write for Counted {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
