//! One synthetic agentic session as a replay graph, in the shape inference-perf 0.7.0's
//! `build_graph_for_session` gives it: rounds of user turns to a root agent; each agent a chain
//! of calls (a principal call, then one call per tool-loop step, each sending the whole
//! transcript so far, the previous call's tool calls and their results appended); an agent may
//! spawn sub-agents (one call dispatching them all, the sub-agents, an acknowledgement, then
//! one call per sub-agent report, the last one the agent's answer); a grown transcript is
//! replaced by a summary past `context_compaction`'s trigger; `max_events_per_session` bounds
//! the calls, a spawn that does not fit whole is rolled back.
//!
//! The draws are fleetbench's own (ChaCha8 streams seeded per place in the graph, not numpy's),
//! and so are the words (`themes.rs`, the corpus): the structure follows inference-perf's rules,
//! the sizes its distributions, but a session is not inference-perf's session byte for byte.

use super::agent::Agent;
use super::session::{seg, user, Session, Source, DISPATCH_TOOL};
use super::themes::Theme;
use crate::data::otel::tools::{forced_choice, openai_tools};
use fleetbench_model::data::{Message, ReplayEvent, ReplayGraph, SegmentKind};
use fleetbench_model::tokenize::splitmix64;
use rand::Rng;
use serde_json::{json, Value};
use std::sync::Arc;

/// The defaults of unset distributions (inference-perf's fallbacks; the agents' in `agent.rs`).
const CATALOG: u32 = 8;
const TURNS: u32 = 1;
const THINK_S: u32 = 10;

/// Session `index`'s graph, drawn from `seed` in `theme`.
pub(crate) fn session_graph(
    src: &Source<'_>,
    theme: &'static Theme,
    seed: u64,
    index: usize,
) -> Result<ReplayGraph, String> {
    let seed = splitmix64(seed ^ splitmix64(index as u64));
    let c = src.c;
    let mut s = Session {
        src,
        theme,
        seed,
        subject: "",
        tools: Vec::new(),
        events: Vec::new(),
        root_terminal: None,
    };
    s.subject = theme.subjects[s.rng(&[62]).random_range(0..theme.subjects.len())];
    let rounds = s.int(c.turns_per_session.as_ref(), TURNS, &[0]);
    let catalog = s.int(c.tool_catalog_size_per_agent.as_ref(), CATALOG, &[1]);
    s.tools = (0..catalog as usize).map(|i| tool_def(theme, i)).collect();
    let compaction = c.context_compaction.as_ref().map(|cc| {
        (
            s.int(Some(&cc.trigger_tokens), 0, &[64]),
            s.int(Some(&cc.target_tokens), 0, &[65]),
        )
    });
    // The catalog is prefilled with every round's transcript: counted once.
    let catalog_tokens = match compaction.is_some() && !s.tools.is_empty() {
        true => s.src.text.count(&Value::Array(s.tools.clone()).to_string()),
        false => 0,
    };
    let sid = format!("synthN{index}");
    let mut prev_answer: Option<usize> = None;
    let mut transcript: Vec<Message> = Vec::new();
    for r in 0..u64::from(rounds) {
        if !s.fits(1, 0) {
            break;
        }
        let mut objective = s.objective(&[r, 1]);
        let wait_ms = match r {
            0 => 0,
            _ => s.millis(c.user_think_time_sec.as_ref(), THINK_S, &[r, 2]),
        };
        let compact = compaction.filter(|&(trigger, _)| {
            prev_answer.is_some()
                && s.src.text.count(&transcript_text(&transcript)) + catalog_tokens >= trigger
        });
        let fresh = r == 0 || prev_answer.is_none() || compact.is_some();
        let (task, segments, preds) = if fresh {
            if let Some((_, target)) = compact {
                let summary = s.fit("Summary of the work so far:", target, &[r, 66])?;
                objective = format!("{summary}\n{objective}");
            }
            (
                vec![user(&objective)],
                None,
                prev_answer.into_iter().collect(),
            )
        } else {
            let term = s.root_terminal.unwrap_or_default();
            let term_len = s.events[term].messages.len() as u32;
            let answer = json!({"role": "assistant", "content": s.events[term].output});
            let follow = format!("{} {objective}", s.follow_up(&[r, 3]));
            let mut task = transcript.clone();
            task.extend([Arc::new(answer), user(&follow)]);
            let segments = vec![
                seg(SegmentKind::Shared, term_len, Some(term)),
                seg(SegmentKind::Output, 1, Some(term)),
                seg(SegmentKind::Unique, 1, None),
            ];
            (task, Some(segments), vec![term])
        };
        let agent = Agent {
            wait_ms,
            segments,
            ..Agent::new(format!("{sid}:r{r}"), task, preds, vec![r])
        };
        let Some(terminal) = s.agent(agent)? else {
            break;
        };
        prev_answer = Some(terminal);
        let root = s.root_terminal.unwrap_or(terminal);
        transcript = s.events[root].messages.clone();
    }
    Ok(ReplayGraph {
        source: sid,
        events: s.finish(),
    })
}

/// A transcript's text, as inference-perf counts what a round's principal would send (with the
/// tool catalog's tokens).
fn transcript_text(transcript: &[Message]) -> String {
    let text: Vec<&str> = (transcript.iter())
        .map(|m| m.get("content").and_then(Value::as_str).unwrap_or_default())
        .collect();
    text.join("\n")
}

fn params(name: &str, what: &str) -> Value {
    json!({
        "type": "object",
        "properties": {name: {"type": "string", "description": what}},
        "required": [name],
    })
}

/// Tool `i` of a catalog: the theme's tools in turn, suffixed past the first round.
fn tool_def(theme: &Theme, i: usize) -> Value {
    let (base, what) = theme.tools[i % theme.tools.len()];
    let name = match i < theme.tools.len() {
        true => base.to_string(),
        false => format!("{base}_{i}"),
    };
    json!({
        "name": name,
        "description": what,
        "type": "function",
        "function": {"name": name, "description": what, "parameters": params("query", "What to look at.")},
    })
}

fn dispatch_def() -> Value {
    let what = "Start a sub-agent on `objective`. It returns at once; the sub-agent's report arrives later as its own user message, wrapped in <task-notification><result>...</result></task-notification>. Acknowledge briefly while reports are outstanding.";
    json!({
        "name": DISPATCH_TOOL,
        "description": what,
        "type": "function",
        "function": {"name": DISPATCH_TOOL, "description": what, "parameters": params("objective", "What the sub-agent is to do.")},
    })
}

impl Session<'_> {
    fn follow_up(&self, path: &[u64]) -> &'static str {
        const OPENERS: [&str; 4] = [
            "Thanks. Next:",
            "Good. Now,",
            "That helps. One more thing:",
            "Understood. Follow-up:",
        ];
        OPENERS[self.rng(path).random_range(0..OPENERS.len())]
    }

    /// The calls as replay events.
    fn finish(self) -> Vec<ReplayEvent> {
        let c = self.src.c;
        let force = c.tool_choice_mode == crate::otel::ToolChoiceMode::ForceRecorded;
        let mut fanout_tools = self.tools.clone();
        if !fanout_tools.iter().any(|t| t["name"] == DISPATCH_TOOL) {
            fanout_tools.push(dispatch_def());
        }
        let plain = Value::Array(self.tools);
        let fanout = Value::Array(fanout_tools);
        let default_max = u32::try_from(c.default_max_tokens).unwrap_or(u32::MAX);
        (self.events.into_iter())
            .map(|d| {
                let defs = if d.fanout { &fanout } else { &plain };
                let tools = openai_tools(Some(defs));
                let called = d.calls.clone().unwrap_or_default();
                let tool_choice = (force && tools.is_some()).then(|| forced_choice(defs, &called));
                let mut max_tokens = match d.output_tokens {
                    0 => default_max,
                    t => t,
                };
                if d.calls.is_some() && c.override_tool_call_max_tokens {
                    max_tokens = max_tokens.saturating_mul(4).max(4096);
                }
                let mut segments = d.segments;
                if segments.is_empty() {
                    segments.push(seg(SegmentKind::Unique, d.messages.len() as u32, None));
                }
                let mut preds: Vec<u32> = d.preds.iter().map(|&p| p as u32).collect();
                preds.sort_unstable();
                ReplayEvent {
                    id: d.id,
                    preds,
                    wait_ms: d.wait_ms,
                    model: self.src.model.clone(),
                    messages: d.messages,
                    segments,
                    max_tokens: max_tokens.max(1),
                    expected_output: d.output,
                    tools,
                    tool_choice,
                }
            })
            .collect()
    }
}
