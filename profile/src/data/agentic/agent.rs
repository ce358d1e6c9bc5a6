//! One agent of a synthetic session, as inference-perf's `_build_agent` lays it out: a principal
//! call; a chain of tool-loop steps, each sending the transcript so far with the previous
//! call's tool calls and their results appended; when it spawns, one call dispatching every
//! sub-agent (the loop's last step), the sub-agents, an acknowledgement and one call per
//! sub-agent report (each waiting for that sub-agent's answer, the last one this agent's
//! answer). A spawn that does not fit the session's budget whole is dropped whole.

use super::session::{bump_unique, calling, seg, user, Draft, Session, DISPATCH_TOOL};
use fleetbench_model::data::{Message, Segment, SegmentKind};
use fleetbench_model::data::{ASYNC_REPORT_CLOSE, ASYNC_REPORT_OPEN};
use rand::Rng;
use serde_json::{json, Value};
use std::sync::Arc;

/// A dispatch call's result: the report comes later, as its own message.
const DISPATCH_STUB: &str =
    "Sub-agent started. Its report will arrive as a separate message when it finishes.";
const DISPATCH_ASK: &str = "Hand this work to sub-agents, one dispatch_agent call each; their reports will arrive one at a time as each finishes.";
const ROOT_DIRECTIVE: &str = "This is the last turn and no more tools will run: give the user your answer now, in plain prose, without a tool call.";
const WORKER_DIRECTIVE: &str = "This is the last turn and no more tools will run: report to the orchestrator now, two or three sentences of plain prose on what you found, without a tool call.";
/// Tokens of a tool's result.
const RESULT_TOKENS: u32 = 96;
/// The defaults of unset distributions (inference-perf's fallbacks).
const STEPS: u32 = 2;
const PARALLEL: u32 = 1;
const TOOL_LATENCY_S: u32 = 1;
const SUB_AGENTS: std::ops::RangeInclusive<u32> = 2..=4;

/// One agent to build.
pub(super) struct Agent {
    pub(super) depth: u32,
    pub(super) prefix: String,
    pub(super) task: Vec<Message>,
    pub(super) preds: Vec<usize>,
    pub(super) wait_ms: u64,
    pub(super) root: bool,
    /// Its place in the session, which seeds its draws.
    pub(super) path: Vec<u64>,
    /// Calls that ancestors still owe (their tails), kept free.
    pub(super) reserved: usize,
    /// The principal's segments when it continues a transcript (a follow-up round).
    pub(super) segments: Option<Vec<Segment>>,
}

impl Agent {
    /// A root agent named `prefix` given `task` after `preds`, at `path`.
    pub(super) fn new(
        prefix: String,
        task: Vec<Message>,
        preds: Vec<usize>,
        path: Vec<u64>,
    ) -> Agent {
        Agent {
            depth: 0,
            prefix,
            task,
            preds,
            wait_ms: 0,
            root: true,
            path,
            reserved: 0,
            segments: None,
        }
    }

    /// The place `tail` below the agent.
    fn at(&self, tail: &[u64]) -> Vec<u64> {
        [&self.path[..], tail].concat()
    }

    fn directive(&self) -> &'static str {
        match self.root {
            true => ROOT_DIRECTIVE,
            false => WORKER_DIRECTIVE,
        }
    }
}

/// One step's parallel tool calls, their results and the tools they call.
#[derive(Default)]
struct Turn {
    calls: Vec<Value>,
    results: Vec<Message>,
    names: Vec<String>,
}

/// The agent's last call so far: what it sent and the tool calls it outputs.
struct Cursor {
    call: usize,
    sent: Vec<Message>,
    turn: Turn,
}

impl Session<'_> {
    /// Builds agent `a`; its terminal call, none when not even one call fits.
    pub(super) fn agent(&mut self, mut a: Agent) -> Result<Option<usize>, String> {
        let c = self.src.c;
        if !self.fits(1, a.reserved) {
            return Ok(None);
        }
        let mut k = self.int(c.tool_loop_depth.as_ref(), STEPS, &a.at(&[100]));
        if self.tools.is_empty() {
            k = 0;
        }
        let roll: f64 = self.rng(&a.at(&[7])).random();
        let spawns = roll < c.fanout_probability && i64::from(a.depth) < c.max_depth;
        let mut cur = self.principal(&mut a, k, spawns)?;
        // The tool loop: a spawning agent's spawn call is its last step.
        let steps = if spawns { k.saturating_sub(1) } else { k };
        for t in 0..u64::from(steps) {
            if !self.fits(1, a.reserved) {
                break;
            }
            cur = self.step(&a, cur, t, t + 1 == u64::from(k) && !spawns)?;
        }
        if spawns {
            if let Some(last) = self.spawn(&a, &cur)? {
                cur.call = last;
            }
        }
        // An agent whose last call still calls tools (a loop cut short) answers there instead.
        let last = cur.call;
        if self.events[last].calls.is_some() {
            let (output, tokens) = self.answer(&a.path)?;
            let e = &mut self.events[last];
            (e.calls, e.output, e.output_tokens) = (None, output, tokens);
        }
        if a.root {
            self.root_terminal = Some(last);
        }
        Ok(Some(last))
    }

    /// The agent's first call: its task (with the system head unless it continues a
    /// transcript), the last user turn padded to `input_tokens_per_turn`; it calls step 0's
    /// tools when the loop runs, else answers (unless it spawns).
    fn principal(&mut self, a: &mut Agent, k: u32, spawns: bool) -> Result<Cursor, String> {
        let (p50, p51) = (a.at(&[50]), a.at(&[51]));
        if let Some(last) = a.task.last_mut() {
            if last.get("role").and_then(Value::as_str) == Some("user") {
                let c = self.src.c;
                let tokens = self.int(Some(&c.input_tokens_per_turn), 0, &p50);
                let text = last
                    .get("content")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                *last = user(&self.fit(text, tokens, &p51)?);
            }
        }
        let (mut sent, mut segs) = match a.segments.take() {
            Some(s) => (std::mem::take(&mut a.task), s),
            None => {
                let head = self.head(a)?;
                (
                    head.into_iter().chain(a.task.drain(..)).collect(),
                    Vec::new(),
                )
            }
        };
        let id = format!("{}:principal", a.prefix);
        let preds = std::mem::take(&mut a.preds);
        if k >= 1 {
            let turn = self.turn(a, 0)?;
            let out = (String::new(), self.call_tokens(&turn.calls));
            let d = Draft::new(id, sent.clone(), preds, segs, out);
            let call = self.emit(d.wait(a.wait_ms).calling(turn.names.clone()));
            return Ok(Cursor { call, sent, turn });
        }
        let out = match spawns {
            false => self.answer(&a.path)?,
            true => (String::new(), 0),
        };
        if !spawns && (!a.root || !self.tools.is_empty()) {
            sent.push(user(a.directive()));
            bump_unique(&mut segs);
        }
        let call = self.emit(Draft::new(id, sent.clone(), preds, segs, out).wait(a.wait_ms));
        Ok(Cursor {
            call,
            sent,
            turn: Turn::default(),
        })
    }

    /// Tool-loop step `t` after `cur`: the previous call's tool calls and results appended; it
    /// calls the next step's tools, or answers when `terminal`.
    fn step(&mut self, a: &Agent, cur: Cursor, t: u64, terminal: bool) -> Result<Cursor, String> {
        let mut sent = cur.sent.clone();
        sent.push(calling(&cur.turn.calls));
        sent.extend(cur.turn.results.iter().cloned());
        let mut segs = vec![
            seg(SegmentKind::Shared, cur.sent.len() as u32, Some(cur.call)),
            seg(SegmentKind::Output, 1, Some(cur.call)),
            seg(SegmentKind::Unique, cur.turn.results.len() as u32, None),
        ];
        let c = self.src.c;
        let wait = self.millis(
            c.tool_call_latency_sec.as_ref(),
            TOOL_LATENCY_S,
            &a.at(&[t, 3]),
        );
        let id = format!("{}:t{t}", a.prefix);
        if terminal {
            let out = self.answer(&a.path)?;
            sent.push(user(a.directive()));
            bump_unique(&mut segs);
            let d = Draft::new(id, sent.clone(), vec![cur.call], segs, out);
            let call = self.emit(d.wait(wait));
            return Ok(Cursor {
                call,
                sent,
                turn: Turn::default(),
            });
        }
        let turn = self.turn(a, t + 1)?;
        let out = (String::new(), self.call_tokens(&turn.calls));
        let d = Draft::new(id, sent.clone(), vec![cur.call], segs, out);
        let call = self.emit(d.wait(wait).calling(turn.names.clone()));
        Ok(Cursor { call, sent, turn })
    }

    /// Step `t`'s parallel tool calls and their results.
    fn turn(&self, a: &Agent, t: u64) -> Result<Turn, String> {
        let c = self.src.c;
        let n = self.int(
            c.parallel_tool_calls_per_step.as_ref(),
            PARALLEL,
            &a.at(&[t, 30]),
        );
        let mut turn = Turn::default();
        for j in 0..u64::from(n.max(1)) {
            let def = &self.tools[((t + j) as usize) % self.tools.len()];
            let name = def["name"].as_str().unwrap_or_default().to_string();
            let id = format!("call_{}_{t}_{j}", a.prefix);
            let args = json!({"query": self.subject}).to_string();
            let call = json!({"id": id, "type": "function", "function": {"name": name, "arguments": args}});
            let head = format!("{name} ({}):", self.subject);
            let body = self.fit(&head, RESULT_TOKENS, &a.at(&[t, 9, j]))?;
            let result = json!({"role": "tool", "tool_call_id": id, "content": body});
            turn.calls.push(call);
            turn.results.push(Arc::new(result));
            turn.names.push(name);
        }
        Ok(turn)
    }

    /// The system head of an agent's first call (none with `shared_system_prompt_len: 0`).
    fn head(&self, a: &Agent) -> Result<Option<Message>, String> {
        let len = self.src.c.shared_system_prompt_len;
        if len <= 0 {
            return Ok(None);
        }
        let prompt = match a.root {
            true => self.theme.root_prompt,
            false => self.theme.worker_prompt,
        };
        let len = u32::try_from(len).unwrap_or(u32::MAX);
        let text = self.fit(prompt, len, &a.at(&[2]))?;
        Ok(Some(Arc::new(json!({"role": "system", "content": text}))))
    }

    /// Agent `a`'s fan-out after `cur`: the dispatch call (answering `cur`'s tool calls first,
    /// if any), the sub-agents, then the reports; the last report's call, none when the whole
    /// spawn does not fit (then nothing of it is kept).
    fn spawn(&mut self, a: &Agent, cur: &Cursor) -> Result<Option<usize>, String> {
        let c = self.src.c;
        let k = match &c.sub_agents_per_spawn {
            Some(d) => self.int(Some(d), 0, &a.at(&[8])),
            None => self.rng(&a.at(&[8])).random_range(SUB_AGENTS),
        } as usize;
        if k == 0 || !self.fits(1 + k + (k + 1), a.reserved) {
            return Ok(None);
        }
        let mut dispatch = Vec::with_capacity(k);
        let mut objectives = Vec::with_capacity(k);
        for i in 0..k {
            let objective = self.objective(&a.at(&[i as u64, 1]));
            let args = json!({"objective": objective}).to_string();
            let id = format!("dispatch_{}_{i}", a.prefix);
            dispatch.push(json!({"id": id, "type": "function", "function": {"name": DISPATCH_TOOL, "arguments": args}}));
            objectives.push(objective);
        }
        let mut sent = cur.sent.clone();
        let mut segs = vec![seg(
            SegmentKind::Shared,
            cur.sent.len() as u32,
            Some(cur.call),
        )];
        let mut fresh = 1;
        if !cur.turn.calls.is_empty() {
            sent.push(calling(&cur.turn.calls));
            sent.extend(cur.turn.results.iter().cloned());
            segs.push(seg(SegmentKind::Output, 1, Some(cur.call)));
            fresh += cur.turn.results.len();
        }
        sent.push(user(DISPATCH_ASK));
        segs.push(seg(SegmentKind::Unique, fresh as u32, None));
        let before = self.events.len();
        let out = (String::new(), self.call_tokens(&dispatch));
        let id = format!("{}:d{}:spawn", a.prefix, a.depth);
        let d = Draft::new(id, sent.clone(), vec![cur.call], segs, out);
        let spawn = self.emit(d.calling(vec![DISPATCH_TOOL.to_string(); k]).fanout());
        let mut children = Vec::with_capacity(k);
        for (i, objective) in objectives.iter().enumerate() {
            let reserved = a.reserved + (k + 1) + (k - i - 1);
            if !self.fits(1, reserved) {
                break;
            }
            let child = Agent {
                depth: a.depth + 1,
                root: false,
                reserved,
                ..Agent::new(
                    format!("{}:d{}:sub{i}", a.prefix, a.depth + 1),
                    vec![user(objective)],
                    vec![spawn],
                    a.at(&[200 + i as u64]),
                )
            };
            match self.agent(child)? {
                Some(t) => children.push(t),
                None => break,
            }
        }
        if children.len() != k || !self.fits(k + 1, a.reserved) {
            self.events.truncate(before);
            return Ok(None);
        }
        let spawned = Cursor {
            call: spawn,
            sent,
            turn: Turn {
                calls: dispatch,
                ..Turn::default()
            },
        };
        self.reports(a, spawned, &children).map(Some)
    }

    /// After the spawn call `spawned`: the acknowledgement of the dispatch calls, then one call
    /// per sub-agent's report (its text the sub-agent's answer), the last one the agent's
    /// answer; that last call.
    fn reports(&mut self, a: &Agent, spawned: Cursor, children: &[usize]) -> Result<usize, String> {
        let k = children.len();
        let mut sent = spawned.sent.clone();
        sent.push(calling(&spawned.turn.calls));
        for d in &spawned.turn.calls {
            let stub = json!({"role": "tool", "tool_call_id": d["id"], "content": DISPATCH_STUB});
            sent.push(Arc::new(stub));
        }
        let segs = vec![
            seg(
                SegmentKind::Shared,
                spawned.sent.len() as u32,
                Some(spawned.call),
            ),
            seg(SegmentKind::Output, 1, Some(spawned.call)),
            seg(SegmentKind::Unique, k as u32, None),
        ];
        let out = self.ack(&a.path, k as u64)?;
        let id = format!("{}:d{}:dispatch_ack", a.prefix, a.depth);
        let d = Draft::new(id, sent.clone(), vec![spawned.call], segs, out);
        let mut last = self.emit(d.fanout());
        for (i, &child) in children.iter().enumerate() {
            let report = format!(
                "{ASYNC_REPORT_OPEN}{}{ASYNC_REPORT_CLOSE}",
                self.events[child].output
            );
            let mut msgs = sent.clone();
            msgs.push(user(&report));
            let mut segs = vec![
                seg(SegmentKind::Shared, sent.len() as u32, Some(last)),
                seg(SegmentKind::AsyncReport, 1, Some(child)),
            ];
            let out = if i + 1 == k {
                msgs.push(user(a.directive()));
                segs.push(seg(SegmentKind::Unique, 1, None));
                self.answer(&a.path)?
            } else {
                self.ack(&a.path, i as u64)?
            };
            let id = format!("{}:d{}:notify{i}", a.prefix, a.depth);
            let d = Draft::new(id, msgs.clone(), vec![last, child], segs, out);
            last = self.emit(d.fanout());
            sent = msgs;
        }
        Ok(last)
    }
}
