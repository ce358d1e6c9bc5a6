//! Replay graphs (inference-perf's OTel trace replay) as a data source: the coordinator reads
//! the trace files and builds one graph per trace (see the profile crate's `data/otel/`); the
//! graphs travel in the shard spec and a session stage runs each session's calls as a DAG on
//! the agent that owns the session.
//!
//! Session s replays graph `slots[s].graph`; request indices encode the session and the call,
//! `session << ROUND_BITS | event`, as conversation replay's do. A call waits for its
//! predecessors, then for its recorded gap (capped by `max_wait_ms`), then sends its recorded
//! messages; with output substitution on, an assistant message that carried a predecessor's
//! recorded output carries that predecessor's live output instead.
//!
//! A call's messages are [`Message`]s shared with the calls before it: a long agentic session
//! sends its whole history in every call, so the history is held once, not once per call. On
//! the wire a call's leading messages that are its shared segment's source's are sent as a
//! reference (`replay_wire.rs`), so a graph's size grows with its text, not with its calls
//! times its history.

use super::conversation::ROUND_BITS;
use super::replay_tools::{rewrite_tool_call_ids, substitute_output, Slot};
use crate::tokenize::{count_words, splitmix64};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

/// Most calls of one session: the call is the low [`ROUND_BITS`] bits of a request index.
pub const MAX_REPLAY_EVENTS: usize = 10_000;

/// One chat message of a replay (OpenAI's form), shared by the calls that send it.
pub type Message = Arc<Value>;

/// What a call of a running session sent and generated, for its successors' substitution.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveCall {
    /// The messages it sent.
    pub messages: Vec<Message>,
    /// The assistant message it generated, in inference-perf's form: `{role: assistant,
    /// content}`, or with tool calls `{role, tool_calls, content?}`, plus `reasoning_content` and
    /// `reasoning` when it reasoned (none: not captured).
    pub reply: Option<Message>,
}

/// A call's messages after substitution.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallMessages {
    /// The messages to send.
    pub messages: Vec<Message>,
    /// The ancestors (calls of the session) whose live messages were replaced by their
    /// recorded ones (`bad_tool_call_handling: use_recorded`, on live tool calls whose
    /// arguments are not JSON).
    pub recorded_fallbacks: Vec<u32>,
}

/// The sessions of an `otel_trace_replay` source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplaySessions {
    /// One graph per trace that was read.
    pub graphs: Vec<ReplayGraph>,
    /// The sessions, in the order stages take them: each names its graph (duplicates of
    /// `duplicate_sessions_target` name the same graph again).
    pub slots: Vec<ReplaySlot>,
    /// The longest recorded gap a call waits after its predecessors (`max_wait_ms`).
    pub max_wait_ms: u64,
    /// The longest a call waits for its predecessors before it fails
    /// (`predecessor_wait_timeout_sec`; none: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predecessor_timeout_ms: Option<u64>,
    /// Live predecessor output replaces the recorded output in successors' inputs (inference-perf's
    /// default; off with `disable_output_substitution`).
    pub substitute_outputs: bool,
    /// `[SESS:<random>] ` before each unique message (`inject_random_session_id`; duplicates
    /// always), so sessions share no prefix cache.
    pub inject_session_id: bool,
    /// Seed of the injected session strings.
    pub seed: u64,
    /// `bad_tool_call_handling: use_recorded`: a live message whose tool calls' arguments are
    /// not JSON is replaced by the recorded one where a successor sends it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recorded_on_bad_tool_calls: bool,
}

/// One session: its graph and its id (`trace<slot>_<session id>`, `_dup<n>` for a duplicate).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplaySlot {
    /// Index into [`ReplaySessions::graphs`].
    pub graph: u32,
    /// The session's id.
    pub id: String,
    /// A duplicate of `duplicate_sessions_target` (gets the session string injected).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
}

/// One trace's calls in start order; `preds` index into `events`, always earlier ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    into = "super::replay_wire::WireGraph",
    try_from = "super::replay_wire::WireGraph"
)]
pub struct ReplayGraph {
    /// The trace file it came from.
    pub source: String,
    /// The calls.
    pub events: Vec<ReplayEvent>,
}

/// One LLM call of a trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayEvent {
    /// `event_<i>_<span id>`, as inference-perf names it.
    pub id: String,
    /// The calls that must end before this one starts (indices into the graph's events).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preds: Vec<u32>,
    /// Recorded milliseconds between the last predecessor's end and this call's start.
    #[serde(default)]
    pub wait_ms: u64,
    /// The model to name (mapped by `static_model_name` / `model_mapping`); none: the endpoint's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The recorded input messages, OpenAI chat messages.
    pub messages: Vec<Message>,
    /// The messages split into shared / output / unique segments, in order.
    pub segments: Vec<Segment>,
    /// `max_tokens`: the recorded completion tokens (`default_max_tokens` for a recorded 0; else
    /// estimated from the recorded output).
    pub max_tokens: u32,
    /// The recorded output text (what a successor's input carried).
    #[serde(default)]
    pub expected_output: String,
    /// The recorded tool definitions as sent (`tools`, OpenAI's nested form, schemas cleaned);
    /// a call with tools asks the server to stop at its end of sequence (`ignore_eos: false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Value>,
    /// The `tool_choice` sent with the tools (`tool_choice_mode: force_recorded`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
}

/// What a run of a call's messages is, relative to its ancestors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SegmentKind {
    /// Leading messages identical to an ancestor's (a prefix-cache hit).
    Shared,
    /// One assistant message that is an ancestor's output.
    Output,
    /// Messages of this call alone.
    Unique,
    /// One user message whose text is an ancestor's (a sub-agent's) report: its content is
    /// replaced by that ancestor's live output, wrapped in [`ASYNC_REPORT_OPEN`] and
    /// [`ASYNC_REPORT_CLOSE`] (inference-perf's `async_report`, a synthetic agentic session's
    /// notification of a finished sub-agent).
    AsyncReport,
}

/// What a live sub-agent report is wrapped in (inference-perf's task-notification envelope).
pub const ASYNC_REPORT_OPEN: &str = "<task-notification>\n<result>\n";
/// The end of the envelope.
pub const ASYNC_REPORT_CLOSE: &str = "\n</result>\n</task-notification>";

/// A run of messages of one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// Its kind.
    pub kind: SegmentKind,
    /// Messages it spans.
    pub messages: u32,
    /// Its tokens (recorded prompt tokens shared by characters, or estimated).
    pub tokens: u32,
    /// The ancestor it comes from (shared, output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<u32>,
}

impl ReplaySessions {
    /// The graph session `session` replays.
    pub fn graph_of(&self, session: u64) -> Option<&ReplayGraph> {
        let slot = self.slots.get(usize::try_from(session).ok()?)?;
        self.graphs.get(slot.graph as usize)
    }

    /// The session string injected into session `session`'s unique messages, if any.
    pub fn session_tag(&self, session: u64) -> Option<String> {
        let slot = self.slots.get(usize::try_from(session).ok()?)?;
        (self.inject_session_id || slot.duplicate)
            .then(|| format!("[SESS:{:016x}] ", splitmix64(self.seed ^ session)))
    }

    /// Calls of session `session` (at least 1, so that a request index exists).
    pub fn rounds_of(&self, session: u64) -> u32 {
        self.graph_of(session)
            .map_or(1, |g| g.events.len().max(1) as u32)
    }

    /// The most calls of any session.
    pub fn most_rounds(&self) -> u32 {
        let most = self.graphs.iter().map(|g| g.events.len()).max();
        most.unwrap_or(1).max(1) as u32
    }

    /// The messages of request `index` (session `index >> ROUND_BITS`, call `index & mask`):
    /// the recorded ones with the session string injected into the unique ones; with output
    /// substitution, and where `live(ancestor)` has what that ancestor sent and generated, a
    /// shared segment is the ancestor's sent messages and an output message is the ancestor's
    /// live message, the tool results after it answering its live tool calls
    /// (inference-perf's substitution, `replay_tools.rs`). `Err`: the call cannot be sent (its
    /// ancestor's live tool calls are malformed and so is the recorded fallback).
    pub fn messages(
        &self,
        index: u64,
        live: &dyn Fn(u32) -> Option<Arc<LiveCall>>,
    ) -> Result<CallMessages, String> {
        let session = index >> ROUND_BITS;
        let Some(event) = self.event(index) else {
            return Ok(CallMessages::default());
        };
        let tag = self.session_tag(session);
        let mut out = event.messages.clone();
        let mut rewrites = Vec::new();
        let mut recorded_fallbacks = Vec::new();
        let mut at = 0usize;
        for seg in &event.segments {
            let range = at..(at + seg.messages as usize).min(out.len());
            at = range.end;
            let from = || {
                seg.source
                    .and_then(live)
                    .filter(|_| self.substitute_outputs)
            };
            match seg.kind {
                SegmentKind::Unique => {
                    for m in &mut out[range] {
                        if let Some(t) = &tag {
                            prefix_content(Arc::make_mut(m), t);
                        }
                    }
                }
                SegmentKind::Shared => {
                    let n = range.len();
                    if let Some(l) =
                        from().filter(|l| l.messages.len() >= n && n == seg.messages as usize)
                    {
                        out[range].clone_from_slice(&l.messages[..n]);
                    }
                }
                SegmentKind::AsyncReport => {
                    // One user message; its content only becomes the live report.
                    let text = from()
                        .and_then(|l| l.reply.clone())
                        .and_then(|r| r.get("content").and_then(Value::as_str).map(str::to_string));
                    if let (Some(text), 1) = (text, range.len()) {
                        let m = Arc::make_mut(&mut out[range.start]);
                        if m.get("role").and_then(Value::as_str) == Some("user") {
                            m["content"] = Value::String(format!(
                                "{ASYNC_REPORT_OPEN}{text}{ASYNC_REPORT_CLOSE}"
                            ));
                        }
                    }
                }
                SegmentKind::Output => {
                    // One message, the assistant turn; anything else keeps the recorded ones.
                    let reply = from().and_then(|l| l.reply.clone());
                    if let (Some(reply), 1) = (reply, range.len()) {
                        let slot = substitute_output(
                            &out[range.start],
                            &reply,
                            range.start,
                            self.recorded_on_bad_tool_calls,
                        )
                        .map_err(|e| {
                            let source = seg.source.and_then(|s| self.source_id(index, s));
                            format!("{}: {e}", source.unwrap_or("an ancestor"))
                        })?;
                        match slot {
                            Slot::Live(sent, rewrite) => {
                                out[range.start] = sent;
                                rewrites.extend(rewrite);
                            }
                            Slot::Recorded => recorded_fallbacks.extend(seg.source),
                        }
                    }
                }
            }
        }
        for p in &rewrites {
            rewrite_tool_call_ids(&mut out, p);
        }
        Ok(CallMessages {
            messages: out,
            recorded_fallbacks,
        })
    }

    /// The id of call `call` of request `index`'s session.
    fn source_id(&self, index: u64, call: u32) -> Option<&str> {
        let graph = self.graph_of(index >> ROUND_BITS)?;
        Some(graph.events.get(call as usize)?.id.as_str())
    }

    /// Call `index & mask` of session `index >> ROUND_BITS`.
    pub fn event(&self, index: u64) -> Option<&ReplayEvent> {
        let graph = self.graph_of(index >> ROUND_BITS)?;
        graph.events.get((index & ((1 << ROUND_BITS) - 1)) as usize)
    }

    /// A one-line description for `coordinator validate`.
    pub fn describe(&self) -> String {
        let events: usize = self.graphs.iter().map(|g| g.events.len()).sum();
        let edges: usize = (self.graphs.iter())
            .flat_map(|g| g.events.iter())
            .map(|e| e.preds.len())
            .sum();
        let roots = (self.graphs.iter())
            .flat_map(|g| g.events.iter())
            .filter(|e| e.preds.is_empty())
            .count();
        format!(
            "replay graphs: {} sessions of {} graphs, {events} calls ({roots} roots, {edges} dependencies), waits capped at {} ms, output substitution {}",
            self.slots.len(),
            self.graphs.len(),
            self.max_wait_ms,
            if self.substitute_outputs { "on" } else { "off" }
        )
    }
}

/// `values` as messages.
pub fn messages(values: Vec<Value>) -> Vec<Message> {
    values.into_iter().map(Arc::new).collect()
}

/// Puts `tag` before a message's text content.
fn prefix_content(m: &mut Value, tag: &str) {
    if let Some(Value::String(s)) = m.get_mut("content") {
        s.insert_str(0, tag);
    }
}

/// The text of a chat message's content (a string, or the text of its parts), for token counts
/// and the completion API's prompt.
pub fn message_text(m: &Value) -> String {
    match m.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// The word tokens of a message list (the word tokenizer's count, the sim's rule).
pub fn message_words<M: std::borrow::Borrow<Value>>(messages: &[M]) -> u32 {
    let words: usize = (messages.iter())
        .map(|m| count_words(&message_text(m.borrow())))
        .sum();
    u32::try_from(words).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sessions(substitute: bool, inject: bool) -> ReplaySessions {
        let a = ReplayEvent {
            id: "event_000_a".into(),
            preds: vec![],
            wait_ms: 0,
            model: None,
            messages: messages(vec![json!({"role": "user", "content": "hi"})]),
            segments: vec![Segment {
                kind: SegmentKind::Unique,
                messages: 1,
                tokens: 1,
                source: None,
            }],
            max_tokens: 5,
            expected_output: "hello there".into(),
            tools: None,
            tool_choice: None,
        };
        let b = ReplayEvent {
            id: "event_001_b".into(),
            preds: vec![0],
            wait_ms: 500,
            messages: messages(vec![
                json!({"role": "user", "content": "hi"}),
                json!({"role": "assistant", "content": "hello there"}),
                json!({"role": "user", "content": "more"}),
            ]),
            segments: vec![
                Segment {
                    kind: SegmentKind::Shared,
                    messages: 1,
                    tokens: 1,
                    source: Some(0),
                },
                Segment {
                    kind: SegmentKind::Output,
                    messages: 1,
                    tokens: 2,
                    source: Some(0),
                },
                Segment {
                    kind: SegmentKind::Unique,
                    messages: 1,
                    tokens: 1,
                    source: None,
                },
            ],
            ..a.clone()
        };
        ReplaySessions {
            graphs: vec![ReplayGraph {
                source: "t.json".into(),
                events: vec![a, b],
            }],
            slots: vec![
                ReplaySlot {
                    graph: 0,
                    id: "trace0_s".into(),
                    duplicate: false,
                },
                ReplaySlot {
                    graph: 0,
                    id: "trace0_s_dup1".into(),
                    duplicate: true,
                },
            ],
            max_wait_ms: 100,
            predecessor_timeout_ms: None,
            substitute_outputs: substitute,
            inject_session_id: inject,
            seed: 7,
            recorded_on_bad_tool_calls: false,
        }
    }

    /// `s`'s messages of `index` with call 0's live call `l`.
    fn with_live(s: &ReplaySessions, index: u64, l: LiveCall) -> Result<CallMessages, String> {
        let l = Arc::new(l);
        s.messages(index, &|p: u32| (p == 0).then(|| l.clone()))
    }

    #[test]
    fn live_output_replaces_the_recorded_one_when_substitution_is_on() {
        let s = sessions(true, false);
        let live = || LiveCall {
            messages: messages(vec![json!({"role": "user", "content": "hi there"})]),
            reply: Some(Arc::new(
                json!({"role": "assistant", "content": "live words"}),
            )),
        };
        let m = with_live(&s, 1, live()).unwrap().messages;
        assert_eq!(m[1]["content"], "live words");
        assert_eq!(
            m[0]["content"], "hi there",
            "the shared prefix as the ancestor sent it"
        );
        let off = with_live(&sessions(false, false), 1, live()).unwrap();
        assert_eq!(off.messages[1]["content"], "hello there");
    }

    #[test]
    fn live_tool_calls_replace_the_recorded_ones_and_their_results_follow() {
        let mut s = sessions(true, false);
        let call = |id: &str, args: &str| json!({"id": id, "type": "function", "function": {"name": "f", "arguments": args}});
        let b = &mut s.graphs[0].events[1];
        b.messages[1] = Arc::new(json!({"role": "assistant", "tool_calls": [call("rec", "{}")]}));
        b.messages[2] = Arc::new(json!({"role": "tool", "tool_call_id": "rec", "content": "42"}));
        let live = |args: &str| LiveCall {
            messages: messages(vec![json!({"role": "user", "content": "hi"})]),
            reply: Some(Arc::new(
                json!({"role": "assistant", "tool_calls": [call("live", args)]}),
            )),
        };
        let sent = with_live(&s, 1, live("{\"a\": 1}")).unwrap();
        assert_eq!(sent.messages[1]["tool_calls"][0]["id"], "live");
        assert_eq!(sent.messages[2]["tool_call_id"], "live");
        assert!(sent.recorded_fallbacks.is_empty());
        // Malformed live arguments: sent as made, unless the recorded message is asked for.
        let bad = with_live(&s, 1, live("{\"a\": </parameter>")).unwrap();
        assert_eq!(bad.messages[2]["tool_call_id"], "live");
        s.recorded_on_bad_tool_calls = true;
        let fell_back = with_live(&s, 1, live("{\"a\": </parameter>")).unwrap();
        assert_eq!(fell_back.messages[1]["tool_calls"][0]["id"], "rec");
        assert_eq!(fell_back.messages[2]["tool_call_id"], "rec");
        assert_eq!(fell_back.recorded_fallbacks, [0]);
        Arc::make_mut(&mut s.graphs[0].events[1].messages[1])["tool_calls"][0]["function"]
            ["arguments"] = json!("{");
        let e = with_live(&s, 1, live("{")).unwrap_err();
        assert!(e.starts_with("event_000_a: "), "{e}");
    }

    #[test]
    fn a_shared_history_travels_once_and_is_read_back_shared() {
        let s = sessions(true, false);
        let wire = serde_json::to_value(&s.graphs[0]).unwrap();
        assert_eq!(wire["events"][1]["shared"], json!([0, 1]));
        assert_eq!(wire["events"][1]["messages"].as_array().unwrap().len(), 2);
        let back: ReplayGraph = serde_json::from_value(wire.clone()).unwrap();
        assert_eq!(back, s.graphs[0]);
        assert!(Arc::ptr_eq(
            &back.events[1].messages[0],
            &back.events[0].messages[0]
        ));
        // A reference to a call that is not before it is refused, not followed.
        let mut bad = wire;
        bad["events"][1]["shared"] = json!([1, 1]);
        assert!(serde_json::from_value::<ReplayGraph>(bad).is_err());
    }

    #[test]
    fn duplicates_and_the_flag_inject_a_session_string_into_unique_messages_only() {
        let s = sessions(false, false);
        let none = |i: u64| s.messages(i, &|_| None).unwrap().messages;
        assert_eq!(none(1)[2]["content"], "more");
        let dup = none(1 << ROUND_BITS | 1);
        let text = dup[2]["content"].as_str().unwrap();
        assert!(
            text.starts_with("[SESS:") && text.ends_with("] more"),
            "{text}"
        );
        assert_eq!(dup[0]["content"], "hi", "shared messages keep their text");
        let flagged = (sessions(false, true).messages(1, &|_| None))
            .unwrap()
            .messages;
        assert!(flagged[2]["content"]
            .as_str()
            .unwrap()
            .starts_with("[SESS:"));
        assert_eq!(s.rounds_of(1), 2);
        assert_eq!(s.rounds_of(9), 1);
        assert_eq!(s.event(1 << ROUND_BITS).unwrap().id, "event_000_a");
    }

    #[test]
    fn an_async_report_carries_the_ancestors_live_text_in_its_envelope() {
        let mut s = sessions(true, false);
        let b = &mut s.graphs[0].events[1];
        b.messages[1] = Arc::new(json!({"role": "user", "content": "PLACEHOLDER"}));
        b.segments[1].kind = SegmentKind::AsyncReport;
        let live = LiveCall {
            messages: vec![],
            reply: Some(Arc::new(
                json!({"role": "assistant", "content": "found it"}),
            )),
        };
        let got = with_live(&s, 1, live).unwrap().messages;
        assert_eq!(got[1]["role"], "user");
        assert_eq!(
            got[1]["content"],
            "<task-notification>\n<result>\nfound it\n</result>\n</task-notification>"
        );
        // Without the ancestor's live output the recorded placeholder is sent.
        let recorded = s.messages(1, &|_| None).unwrap().messages;
        assert_eq!(recorded[1]["content"], "PLACEHOLDER");
    }
}
