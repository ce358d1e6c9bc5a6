//! inference-perf's dependency inference (`build_graph` of its `otel_trace_to_replay_graph.py`),
//! ported: for each call, the earlier calls whose output its input carries (causal edges: the
//! exact text, a partial match, the tool-call ids, or the output's parts split over several
//! messages), skipping those already causal ancestors of a found one; then the closest earlier
//! call that ended before it started (temporal edge) unless already a predecessor. Each call's
//! messages are split into shared / output / unique segments against all its ancestors, and its
//! wait is the gap between its last predecessor's end and its start.

use super::spans::{Msg, RawCall};
use super::tools;
use fleetbench_model::data::{Message, ReplayEvent, Segment, SegmentKind};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};

/// The kind of an edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dep {
    /// The input carries the output (a causal edge).
    Causal,
    /// Only timing: the closest earlier call that ended before this one started.
    Temporal,
}

/// Exact matches found while looking for edges: (pred, call) → message indices.
type Matches = HashMap<(usize, usize), Vec<usize>>;

/// What the builder needs besides the calls: the mapped model of a recorded one, and the
/// `max_tokens` of a call that recorded 0 completion tokens.
pub(crate) struct Options<'a> {
    pub model: &'a dyn Fn(&str) -> Option<String>,
    pub default_max_tokens: u32,
    /// `override_tool_call_max_tokens`: a call whose recorded output is a tool call (with the
    /// tool definitions recorded) asks for max(4 × its tokens, 4096).
    pub tool_call_max_tokens: bool,
    /// `tool_choice_mode: force_recorded`: a call with tools is sent the `tool_choice` that
    /// keeps it on its recorded path ([`tools::forced_choice`]).
    pub force_tool_choice: bool,
}

/// The predecessors of each call, by index, with their kind.
fn dependencies(calls: &[RawCall], matches: &mut Matches) -> Vec<BTreeMap<usize, Dep>> {
    let n = calls.len();
    let mut preds: Vec<BTreeMap<usize, Dep>> = vec![BTreeMap::new(); n];
    for i in 1..n {
        let mut causal = BTreeMap::new();
        let mut transitive: HashSet<usize> = HashSet::new();
        for j in (0..i).rev() {
            if transitive.contains(&j) {
                continue;
            }
            if causal_dep(calls, j, i, matches) {
                causal.insert(j, Dep::Causal);
                transitive.extend(causal_ancestors(&preds, j));
            }
        }
        preds[i].extend(causal);
        let closest = (0..i)
            .rev()
            .find(|&j| calls[i].t_start_ms >= calls[j].t_end_ms);
        if let Some(j) = closest {
            preds[i].entry(j).or_insert(Dep::Temporal);
        }
    }
    preds
}

fn causal_ancestors(preds: &[BTreeMap<usize, Dep>], node: usize) -> HashSet<usize> {
    let mut seen = HashSet::new();
    let causal = |k: usize| {
        preds[k]
            .iter()
            .filter(|(_, d)| **d == Dep::Causal)
            .map(|(p, _)| *p)
            .collect::<Vec<_>>()
    };
    let mut stack = causal(node);
    while let Some(a) = stack.pop() {
        if seen.insert(a) {
            stack.extend(causal(a));
        }
    }
    seen
}

fn all_ancestors(preds: &[BTreeMap<usize, Dep>], node: usize) -> Vec<usize> {
    let mut seen = HashSet::new();
    let mut order = Vec::new();
    let mut stack: Vec<usize> = preds[node].keys().copied().collect();
    while let Some(a) = stack.pop() {
        if seen.insert(a) {
            order.push(a);
            stack.extend(preds[a].keys().copied());
        }
    }
    // inference-perf iterates a Python set of the indices: ascending for small ones.
    order.sort_unstable();
    order
}

/// An assistant message whose text is `output` (or, `partial`, contains it).
fn output_matches(output: &str, m: &Msg, partial: bool) -> bool {
    m.role == "assistant" && (&*m.text == output || (partial && m.text.contains(output)))
}

fn parts_of(m: &Msg) -> Option<&Vec<Value>> {
    m.info.as_ref()?.get("parts")?.as_array()
}

fn part_type(p: &Value) -> &str {
    p.get("type").and_then(Value::as_str).unwrap_or("")
}

/// Tool-call ids a message carries (`tool_calls` or parts).
fn tool_ids(m: &Msg) -> HashSet<String> {
    let Some(info) = &m.info else {
        return HashSet::new();
    };
    let list = match (info.get("tool_calls"), info.get("parts")) {
        (Some(Value::Array(t)), _) => t.iter().collect::<Vec<_>>(),
        (_, Some(Value::Array(p))) => p.iter().filter(|p| part_type(p) == "tool_call").collect(),
        _ => Vec::new(),
    };
    list.iter()
        .filter_map(|t| t.get("id").and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

/// inference-perf's `get_causal_dep`: whether call `b` carries call `a`'s output.
fn causal_dep(calls: &[RawCall], a: usize, b: usize, matches: &mut Matches) -> bool {
    let (ca, cb) = (&calls[a], &calls[b]);
    let Some(out) = &ca.out else { return false };
    if cb.messages.is_empty() {
        return false;
    }
    for (k, m) in cb.messages.iter().enumerate() {
        if output_matches(&out.text, m, true) {
            if output_matches(&out.text, m, false) {
                matches.entry((a, b)).or_default().push(k);
            }
            return true;
        }
    }
    let Some(parts) = parts_of(out) else {
        return false;
    };
    let ids: Vec<&str> = (parts.iter())
        .filter(|p| part_type(p) == "tool_call")
        .filter_map(|p| p.get("id").and_then(Value::as_str))
        .collect();
    if !ids.is_empty() {
        let in_b: HashSet<String> = cb.messages.iter().flat_map(tool_ids).collect();
        if ids.iter().all(|id| in_b.contains(*id)) {
            return true;
        }
    }
    if parts.len() < 2 {
        return false;
    }
    let texts: Vec<String> = (out
        .info
        .as_ref()
        .and_then(|i| i.get("parts_text"))
        .and_then(Value::as_array))
    .map(|t| {
        t.iter()
            .map(|v| v.as_str().unwrap_or("").to_string())
            .collect()
    })
    .unwrap_or_default();
    let kinds: Vec<bool> = parts.iter().map(|p| part_type(p) == "tool_call").collect();
    if try_match_parts(&kinds, &texts, &cb.messages, false) {
        return true;
    }
    if kinds[0] {
        return false;
    }
    if try_match_parts(&kinds, &texts, &cb.messages, true) {
        return true;
    }
    let (tk, tt): (Vec<bool>, Vec<String>) = (kinds.iter().zip(&texts))
        .filter(|(k, _)| **k)
        .map(|(k, t)| (*k, t.clone()))
        .unzip();
    !tk.is_empty() && try_match_parts(&tk, &tt, &cb.messages, false)
}

/// `_try_match_parts`: the parts (`is_tool[i]`, `texts[i]`) appear in order in `msgs`, a text
/// part one message after the previous, a tool call two (its result between); `combine`: the
/// first part is text that prefixes each tool call's message.
fn try_match_parts(is_tool: &[bool], texts: &[String], msgs: &[Msg], combine: bool) -> bool {
    if is_tool.is_empty() || texts.len() < is_tool.len() || msgs.is_empty() {
        return false;
    }
    let (content, kinds, texts) = if combine {
        if is_tool[0] || is_tool.len() < 2 || !is_tool[1..].iter().all(|t| *t) {
            return false;
        }
        (Some(texts[0].as_str()), &is_tool[1..], &texts[1..])
    } else {
        (None, is_tool, texts)
    };
    let text_of = |t: &str| match content {
        Some(c) => format!("{c}\n{t}"),
        None => t.to_string(),
    };
    let step = |tool: bool| if combine || tool { 2 } else { 1 };
    let first = text_of(&texts[0]);
    (0..msgs.len())
        .filter(|&i| output_matches(&first, &msgs[i], true))
        .any(|start| {
            let mut offset = step(kinds[0]);
            for (k, t) in kinds.iter().zip(texts).skip(1) {
                match msgs.get(start + offset) {
                    Some(m) if output_matches(&text_of(t), m, true) => offset += step(*k),
                    _ => return false,
                }
            }
            true
        })
}

/// inference-perf's `decompose_input`: the longest prefix shared with an ancestor, then each
/// ancestor output carried as an assistant message, the rest unique; tokens from the recorded
/// prompt tokens shared by characters (else 4 characters a token).
fn decompose(
    calls: &[RawCall],
    call: usize,
    ancestors: &[usize],
    matches: &Matches,
) -> Vec<Segment> {
    let c = &calls[call];
    let msgs = &c.messages;
    let n = msgs.len();
    let seg = |kind, messages: usize, tokens: u64, source: Option<usize>| Segment {
        kind,
        messages: messages as u32,
        tokens: u32::try_from(tokens).unwrap_or(u32::MAX),
        source: source.map(|s| s as u32),
    };
    if n == 0 {
        return vec![seg(SegmentKind::Unique, 0, 0, None)];
    }
    let est = |t: &str| (t.chars().count() / 4).max(1) as u64;
    let total = c
        .prompt_tokens
        .unwrap_or_else(|| msgs.iter().map(|m| est(&m.text)).sum());
    let total_chars: usize = msgs.iter().map(|m| m.text.chars().count()).sum();
    let tokens = |r: std::ops::Range<usize>| -> u64 {
        if total == 0 || total_chars == 0 {
            return 0;
        }
        let chars: usize = msgs[r].iter().map(|m| m.text.chars().count()).sum();
        (total as f64 * chars as f64 / total_chars as f64).round_ties_even() as u64
    };
    if ancestors.is_empty() {
        return vec![seg(SegmentKind::Unique, n, total, None)];
    }
    let mut segments = Vec::new();
    let (mut best, mut best_len) = (None, 0);
    for &a in ancestors {
        let len = msgs
            .iter()
            .zip(&calls[a].messages)
            .take_while(|(x, y)| x.role == y.role && x.text == y.text)
            .count();
        if len > best_len {
            (best, best_len) = (Some(a), len);
        }
    }
    let mut cursor = 0;
    if let (Some(a), true) = (best, best_len >= 1) {
        segments.push(seg(
            SegmentKind::Shared,
            best_len,
            tokens(0..best_len),
            Some(a),
        ));
        cursor = best_len;
    }
    let ids: Vec<HashSet<String>> = msgs.iter().map(tool_ids).collect();
    while cursor < n {
        let mut found: Option<(usize, usize)> = None; // (message, ancestor)
        for &a in ancestors {
            let Some(out) = &calls[a].out else { continue };
            let at = match matches.get(&(a, call)) {
                Some(idx) => idx.iter().copied().find(|&k| k >= cursor && k < n),
                None => {
                    let pred_ids: HashSet<String> = parts_of(out)
                        .map(|p| {
                            p.iter()
                                .filter(|p| part_type(p) == "tool_call")
                                .filter_map(|p| {
                                    p.get("id").and_then(Value::as_str).map(str::to_string)
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    (cursor..n).find(|&k| {
                        output_matches(&out.text, &msgs[k], false)
                            || (!pred_ids.is_empty() && pred_ids.is_subset(&ids[k]))
                    })
                }
            };
            if let Some(k) = at {
                if found.is_none_or(|(best, _)| k < best) {
                    found = Some((k, a));
                }
            }
        }
        let Some((k, a)) = found else {
            segments.push(seg(
                SegmentKind::Unique,
                n - cursor,
                tokens(cursor..n),
                None,
            ));
            break;
        };
        if k > cursor {
            segments.push(seg(
                SegmentKind::Unique,
                k - cursor,
                tokens(cursor..k),
                None,
            ));
        }
        let out_tokens = calls[a]
            .completion_tokens
            .unwrap_or_else(|| tokens(k..k + 1));
        segments.push(seg(SegmentKind::Output, 1, out_tokens, Some(a)));
        cursor = k + 1;
    }
    if segments.is_empty() {
        segments.push(seg(SegmentKind::Unique, n, total, None));
    }
    segments
}

/// The graph of a trace's calls: one event per call.
pub(crate) fn build_events(
    calls: &[RawCall],
    opts: &Options<'_>,
) -> Result<Vec<ReplayEvent>, String> {
    let mut matches = Matches::new();
    let preds = dependencies(calls, &mut matches);
    let mut events = Vec::with_capacity(calls.len());
    for (i, c) in calls.iter().enumerate() {
        let ancestors = all_ancestors(&preds, i);
        let wait_ms = preds[i]
            .keys()
            .map(|&j| calls[j].t_end_ms)
            .max()
            .map_or(0, |end| (c.t_start_ms - end).max(0) as u64);
        let out_text = c.out.as_ref().map_or("", |o| &*o.text);
        // inference-perf's expected_output_tokens (the output's characters / 4, at least 1,
        // when no completion tokens were recorded); a recorded 0 asks for default_max_tokens.
        let max_tokens = match c.completion_tokens {
            Some(0) => u64::from(opts.default_max_tokens),
            Some(t) => t,
            None => (out_text.chars().count() / 4).max(1) as u64,
        };
        let tools = tools::openai_tools(c.tools.as_ref());
        let called = tools::called_tools(c.out.as_ref());
        let tool_call = tools.is_some() && !called.is_empty();
        let tool_choice = match (&c.tools, &tools) {
            (Some(defs), Some(_)) if opts.force_tool_choice => {
                Some(tools::forced_choice(defs, &called))
            }
            _ => None,
        };
        let max_tokens = if tool_call && opts.tool_call_max_tokens {
            (max_tokens * 4).max(4096)
        } else {
            max_tokens
        };
        let segments = decompose(calls, i, &ancestors, &matches);
        let messages = shared_messages(calls, i, &segments, &events)
            .map_err(|e| format!("span {:?}: {e}", c.call_id))?;
        events.push(ReplayEvent {
            id: format!("event_{i:03}_{}", c.call_id),
            preds: preds[i].keys().map(|&j| j as u32).collect(),
            wait_ms,
            model: (opts.model)(&c.model),
            messages,
            segments,
            max_tokens: u32::try_from(max_tokens.max(1)).unwrap_or(u32::MAX),
            expected_output: out_text.to_string(),
            tools,
            tool_choice,
        });
    }
    Ok(events)
}

/// Call `i`'s messages as sent: those of its shared segment that are its source's the same
/// [`Message`]s as the source's (the history is held once), the others made anew.
fn shared_messages(
    calls: &[RawCall],
    i: usize,
    segments: &[Segment],
    events: &[ReplayEvent],
) -> Result<Vec<Message>, String> {
    let shared = (segments.first())
        .filter(|s| s.kind == SegmentKind::Shared)
        .and_then(|s| Some((s.source? as usize, s.messages as usize)))
        .filter(|&(src, _)| src < events.len());
    (calls[i].messages.iter().enumerate())
        .map(|(k, m)| {
            let reused = shared
                .filter(|&(src, n)| k < n && calls[src].messages.get(k) == Some(m))
                .and_then(|(src, _)| events[src].messages.get(k).cloned());
            match reused {
                Some(same) => Ok(same),
                None => wire_message(m).map(Message::new),
            }
        })
        .collect()
}

/// inference-perf's `_replay_message_to_dict`: the OpenAI chat message a recorded one is sent as
/// (tool calls and tool results kept structured).
fn wire_message(m: &Msg) -> Result<Value, String> {
    let Some(info) = &m.info else {
        return Ok(serde_json::json!({"role": m.role, "content": &*m.text}));
    };
    let role = info
        .get("role")
        .and_then(Value::as_str)
        .unwrap_or(&m.role)
        .to_string();
    let mut out = Map::new();
    out.insert("role".into(), Value::String(role.clone()));
    if let Some(Value::Array(parts)) = info.get("parts") {
        let mut text = String::new();
        let mut calls = Vec::new();
        let mut result = false;
        for p in parts {
            match part_type(p) {
                "text" => text.push_str(&coerce_text(p.get("content"))),
                "tool_call" => calls.push(normalize_tool_call(p)?),
                "tool_call_response" if !result => {
                    result = true;
                    out.insert("role".into(), "tool".into());
                    if let Some(id) = p.get("id").filter(|v| truthy_str(v)) {
                        out.insert("tool_call_id".into(), id.clone());
                    }
                    text.push_str(&coerce_text(p.get("result")));
                }
                _ => {}
            }
        }
        let has_calls = !calls.is_empty();
        if has_calls {
            out.insert("tool_calls".into(), Value::Array(calls));
        }
        if !text.is_empty() || !has_calls {
            out.insert("content".into(), Value::String(text));
        }
        return Ok(Value::Object(out));
    }
    let content = info.get("content");
    if let Some(Value::Array(items)) = content {
        if let Some(r) = items.iter().find(|p| part_type(p) == "tool_call_response") {
            out.insert("role".into(), "tool".into());
            if let Some(id) = r.get("id").filter(|v| truthy_str(v)) {
                out.insert("tool_call_id".into(), id.clone());
            }
            out.insert(
                "content".into(),
                Value::String(coerce_text(r.get("result"))),
            );
            return Ok(Value::Object(out));
        }
    }
    if let Some(Value::Array(tcs)) = info.get("tool_calls") {
        out.insert(
            "tool_calls".into(),
            Value::Array(
                tcs.iter()
                    .map(normalize_tool_call)
                    .collect::<Result<_, _>>()?,
            ),
        );
    }
    if role == "tool" {
        if let Some(id) = info.get("tool_call_id").filter(|v| !v.is_null()) {
            out.insert("tool_call_id".into(), id.clone());
        }
    }
    match content {
        Some(Value::String(s)) => {
            out.insert("content".into(), Value::String(s.clone()));
        }
        Some(v) if !v.is_null() => {
            out.insert("content".into(), Value::String(coerce_text(Some(v))));
        }
        _ if !out.contains_key("tool_calls") => {
            out.insert("content".into(), Value::String(m.text.to_string()));
        }
        _ => {}
    }
    Ok(Value::Object(out))
}

fn truthy_str(v: &Value) -> bool {
    !(v.is_null() || v.as_str() == Some(""))
}

/// `_coerce_text`: a string, or the text of a list of blocks.
fn coerce_text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|b| match b {
                Value::Object(o) => o
                    .get("text")
                    .filter(|v| !v.is_null())
                    .or_else(|| o.get("content"))
                    .map_or(String::new(), |v| {
                        v.as_str().map_or(v.to_string(), str::to_string)
                    }),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        Some(v) => v.to_string(),
    }
}

/// `_normalize_tool_call`: OpenAI's `{id, type: function, function: {name, arguments}}`, the
/// arguments a JSON string; a call without an id cannot be replayed.
fn normalize_tool_call(tc: &Value) -> Result<Value, String> {
    let (name, args) = match tc.get("function").and_then(Value::as_object) {
        Some(f) => (f.get("name"), f.get("arguments")),
        None => (tc.get("name"), tc.get("arguments")),
    };
    let args = match args {
        None | Some(Value::Null) => Value::String(String::new()),
        Some(Value::String(s)) => Value::String(s.clone()),
        Some(v) => Value::String(v.to_string()),
    };
    let id = tc.get("id").filter(|v| !v.is_null()).ok_or_else(|| {
        format!(
            "tool call has no id (name={}); cannot replay it faithfully",
            name.cloned().unwrap_or(Value::Null)
        )
    })?;
    Ok(
        serde_json::json!({"id": id, "type": "function", "function": {"name": name, "arguments": args}}),
    )
}
