//! A synthetic session being built (`build.rs` lays out its rounds, `agent.rs` its agents): the
//! calls so far, the random stream of each place in the graph, the token-fitted texts, and the
//! budget of calls.

use super::text::Filler;
use super::themes::Theme;
use crate::data::draw::draw_value;
use crate::model::Distribution;
use crate::synthetic_agentic::SyntheticAgenticConfig;
use fleetbench_model::data::{Message, Segment, SegmentKind};
use fleetbench_model::tokenize::splitmix64;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::sync::Arc;

/// The tool an agent spawns sub-agents with.
pub(super) const DISPATCH_TOOL: &str = "dispatch_agent";
/// An agent's answer to a report while others are outstanding.
const ACK: &str = "Noted; waiting for the remaining sub-agent reports.";
/// Tokens of an acknowledgement (inference-perf's fixed 48).
const ACK_TOKENS: u32 = 48;
/// `max_tokens` of a tool-call turn beyond the calls' own tokens (inference-perf's margin).
const TOOL_CALL_MARGIN: u32 = 64;

/// What every session of a source shares.
pub(crate) struct Source<'a> {
    pub(crate) c: &'a SyntheticAgenticConfig<Distribution>,
    pub(crate) text: &'a Filler<'a>,
    /// The model every call names (none: the endpoint's).
    pub(crate) model: Option<String>,
    /// The most calls of a session.
    pub(crate) budget: usize,
}

/// One call being built; `preds` index the session's calls so far.
pub(super) struct Draft {
    pub(super) id: String,
    pub(super) messages: Vec<Message>,
    pub(super) preds: Vec<usize>,
    pub(super) segments: Vec<Segment>,
    pub(super) wait_ms: u64,
    /// The tools its output calls (none: its output is text).
    pub(super) calls: Option<Vec<String>>,
    /// It advertises the dispatch tool too.
    pub(super) fanout: bool,
    pub(super) output: String,
    pub(super) output_tokens: u32,
}

impl Draft {
    /// Call `id` sending `messages` (split into `segments`) after `preds`, its output `out`
    /// (text and tokens): no wait, text output, the agent's own tools.
    pub(super) fn new(
        id: String,
        messages: Vec<Message>,
        preds: Vec<usize>,
        segments: Vec<Segment>,
        (output, output_tokens): (String, u32),
    ) -> Draft {
        Draft {
            id,
            messages,
            preds,
            segments,
            wait_ms: 0,
            calls: None,
            fanout: false,
            output,
            output_tokens,
        }
    }

    /// It starts `ms` after its predecessors end.
    pub(super) fn wait(mut self, ms: u64) -> Draft {
        self.wait_ms = ms;
        self
    }

    /// Its output calls the tools `names`.
    pub(super) fn calling(mut self, names: Vec<String>) -> Draft {
        self.calls = Some(names);
        self
    }

    /// It advertises the dispatch tool.
    pub(super) fn fanout(mut self) -> Draft {
        self.fanout = true;
        self
    }
}

/// A session being built.
pub(super) struct Session<'a> {
    pub(super) src: &'a Source<'a>,
    pub(super) theme: &'static Theme,
    /// The session's seed, which every place's stream derives from.
    pub(super) seed: u64,
    /// What the session works on, kept by its sub-agents.
    pub(super) subject: &'static str,
    /// The agents' tool catalog.
    pub(super) tools: Vec<Value>,
    pub(super) events: Vec<Draft>,
    /// The root's last terminal call.
    pub(super) root_terminal: Option<usize>,
}

pub(super) fn user(text: &str) -> Message {
    Arc::new(json!({"role": "user", "content": text}))
}

pub(super) fn seg(kind: SegmentKind, messages: u32, source: Option<usize>) -> Segment {
    Segment {
        kind,
        messages,
        tokens: 0,
        source: source.map(|s| s as u32),
    }
}

/// An assistant message calling `calls`.
pub(super) fn calling(calls: &[Value]) -> Message {
    Arc::new(json!({"role": "assistant", "tool_calls": calls}))
}

/// Adds a message to a call's trailing unique segment.
pub(super) fn bump_unique(segments: &mut [Segment]) {
    if let Some(last) = segments
        .last_mut()
        .filter(|s| s.kind == SegmentKind::Unique)
    {
        last.messages += 1;
    }
}

impl Session<'_> {
    /// The random stream of place `path` in the session.
    pub(super) fn rng(&self, path: &[u64]) -> ChaCha8Rng {
        let seed = path
            .iter()
            .fold(self.seed, |h, &p| splitmix64(h ^ splitmix64(p)));
        ChaCha8Rng::seed_from_u64(seed)
    }

    pub(super) fn int(&self, d: Option<&Distribution>, default: u32, path: &[u64]) -> u32 {
        draw_value(d, default, &mut self.rng(path))
    }

    /// Milliseconds of a distribution given in seconds, drawn in whole seconds as
    /// inference-perf draws it (its draws are integers: a fixed 0.5 s is 0).
    pub(super) fn millis(&self, d: Option<&Distribution>, default_s: u32, path: &[u64]) -> u64 {
        u64::from(self.int(d, default_s, path)) * 1000
    }

    pub(super) fn fit(&self, fixed: &str, tokens: u32, path: &[u64]) -> Result<String, String> {
        self.src.text.fit(fixed, tokens, &mut self.rng(path))
    }

    pub(super) fn objective(&self, path: &[u64]) -> String {
        let verbs = self.theme.verbs;
        let verb = verbs[self.rng(path).random_range(0..verbs.len())];
        format!("{verb} {}.", self.subject)
    }

    /// Whether `n` more calls fit beside those ancestors still owe.
    pub(super) fn fits(&self, n: usize, reserved: usize) -> bool {
        self.events.len() + reserved + n <= self.src.budget
    }

    /// `max_tokens` of a turn that outputs `calls`: their tokens and a margin.
    pub(super) fn call_tokens(&self, calls: &[Value]) -> u32 {
        let text = Value::Array(calls.to_vec()).to_string();
        self.src.text.count(&text) + TOOL_CALL_MARGIN
    }

    pub(super) fn answer(&self, path: &[u64]) -> Result<(String, u32), String> {
        let c = self.src.c;
        let p = [path, &[4]].concat();
        let tokens = self.int(Some(&c.output_tokens_per_turn), 0, &p);
        let text = self.fit("Summary:", tokens, &[path, &[5]].concat())?;
        Ok((text, tokens))
    }

    pub(super) fn ack(&self, path: &[u64], c: u64) -> Result<(String, u32), String> {
        let text = self.fit(ACK, ACK_TOKENS, &[path, &[c, 11]].concat())?;
        Ok((text, ACK_TOKENS))
    }

    /// Adds call `d`; its index.
    pub(super) fn emit(&mut self, d: Draft) -> usize {
        self.events.push(d);
        self.events.len() - 1
    }
}
