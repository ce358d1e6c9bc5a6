//! An OTel trace's LLM spans as calls (inference-perf's `build_raw_calls` and the text
//! reconstruction of its `otel_trace_utils.py`): duplicate spans dropped, LLM spans kept
//! (`gen_ai.operation.name: chat` or a `chat …` name, with input messages; error spans unless
//! `include_errors`), sorted by start, times in ms from the earliest start; each message's text
//! as inference-perf reconstructs it (tool calls as `<|tool_call|>name<|tool_args|>args<|end|>`),
//! which is what dependency matching compares.

use serde_json::{Map, Value};
use std::collections::HashSet;
use std::sync::Arc;

/// One message: its role, its text as inference-perf reconstructs it (shared: a trace replay's
/// calls repeat their history, and equal texts compare at once), and the structured message
/// when it is more than text (tool calls, parts).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Msg {
    pub role: String,
    pub text: Arc<str>,
    pub info: Option<Map<String, Value>>,
}

/// One LLM call of a trace.
#[derive(Debug, Clone)]
pub(crate) struct RawCall {
    pub call_id: String,
    pub t_start_ms: i64,
    pub t_end_ms: i64,
    pub model: String,
    pub messages: Vec<Msg>,
    pub out: Option<Msg>,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    pub tools: Option<Value>,
}

/// The LLM calls of `spans`, in start order; `Err` names what is malformed.
pub(crate) fn build_raw_calls(
    spans: &[Value],
    include_errors: bool,
) -> Result<Vec<RawCall>, String> {
    let mut unique: Vec<&Value> = spans.iter().collect();
    unique.sort_by(|a, b| str_of(a, "span_id").cmp(str_of(b, "span_id")));
    let mut seen = HashSet::new();
    unique.retain(|s| {
        let attrs = s.get("attributes").cloned().unwrap_or(Value::Null);
        seen.insert(format!(
            "{}|{}|{}",
            str_of(s, "start_time"),
            str_of(s, "end_time"),
            attrs
        ))
    });
    let mut llm: Vec<(f64, &Value)> = Vec::new();
    for s in unique
        .into_iter()
        .filter(|s| is_llm_span(s, include_errors))
    {
        let start = parse_iso(str_of(s, "start_time")).ok_or_else(|| {
            format!(
                "span {:?}: start_time is not an ISO-8601 time",
                str_of(s, "span_id")
            )
        })?;
        llm.push((start, s));
    }
    let Some(t0) = llm.iter().map(|(t, _)| *t).reduce(f64::min) else {
        return Ok(Vec::new());
    };
    llm.sort_by(|a, b| {
        a.0.total_cmp(&b.0)
            .then(str_of(a.1, "span_id").cmp(str_of(b.1, "span_id")))
    });
    llm.into_iter()
        .map(|(start, s)| raw_call(s, start, t0))
        .collect()
}

fn raw_call(s: &Value, start: f64, t0: f64) -> Result<RawCall, String> {
    let id = str_of(s, "span_id");
    let attrs = s
        .get("attributes")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let t_start_ms = ((start - t0) * 1000.0).round_ties_even() as i64;
    let t_end_ms = match s
        .get("end_time")
        .and_then(Value::as_str)
        .filter(|e| !e.is_empty())
    {
        Some(e) => {
            let end = parse_iso(e)
                .ok_or_else(|| format!("span {id:?}: end_time is not an ISO-8601 time"))?;
            ((end - t0) * 1000.0).round_ties_even() as i64
        }
        None => t_start_ms,
    };
    let num = |a: &str, b: &str| {
        let v = attrs
            .get(a)
            .filter(|v| !v.is_null())
            .or_else(|| attrs.get(b));
        v.and_then(|v| {
            v.as_f64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .map(|f| f.max(0.0) as u64)
    };
    let tools = match attrs.get("gen_ai.tool.definitions") {
        Some(Value::String(t)) => serde_json::from_str::<Value>(t)
            .ok()
            .filter(Value::is_array),
        Some(v @ Value::Array(_)) => Some(v.clone()),
        _ => None,
    };
    Ok(RawCall {
        call_id: id.to_string(),
        t_start_ms,
        t_end_ms,
        model: attrs
            .get("gen_ai.request.model")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        messages: extract_messages(&attrs).map_err(|e| format!("span {id:?}: {e}"))?,
        out: extract_output(&attrs).map_err(|e| format!("span {id:?}: {e}"))?,
        prompt_tokens: num("gen_ai.usage.prompt_tokens", "gen_ai.usage.input_tokens"),
        completion_tokens: num(
            "gen_ai.usage.completion_tokens",
            "gen_ai.usage.output_tokens",
        ),
        tools,
    })
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// inference-perf's `is_llm_span`.
fn is_llm_span(s: &Value, include_errors: bool) -> bool {
    let attrs = s.get("attributes");
    let op = attrs
        .and_then(|a| a.get("gen_ai.operation.name"))
        .and_then(Value::as_str);
    let input = attrs.and_then(|a| a.get("gen_ai.input.messages"));
    let truthy = match input {
        None | Some(Value::Null) => false,
        Some(Value::String(t)) => !t.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(_) => true,
    };
    let is_llm = (op == Some("chat") || str_of(s, "name").starts_with("chat ")) && truthy;
    let error = s
        .get("status")
        .and_then(|st| st.get("code"))
        .and_then(Value::as_i64)
        == Some(2);
    is_llm && (include_errors || !error)
}

/// `gen_ai.input.messages` (a JSON string or a list) as messages; `developer` becomes `system`.
fn extract_messages(attrs: &Map<String, Value>) -> Result<Vec<Msg>, String> {
    let raw = match attrs.get("gen_ai.input.messages") {
        Some(Value::String(t)) => serde_json::from_str(t)
            .map_err(|e| format!("gen_ai.input.messages is not JSON: {e}"))?,
        Some(v) => v.clone(),
        None => return Ok(Vec::new()),
    };
    let Value::Array(list) = raw else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(list.len());
    for (i, x) in list.into_iter().enumerate() {
        let Value::Object(mut x) = x else {
            return Err(format!("gen_ai.input.messages[{i}] is not an object"));
        };
        let mut role = x
            .get("role")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("gen_ai.input.messages[{i}] has no role"))?
            .to_string();
        if role == "developer" {
            role = "system".into();
            x.insert("role".into(), Value::String(role.clone()));
        }
        let has_calls = x.get("tool_calls").is_some_and(|t| !t.is_null());
        let msg = match x.get("content") {
            Some(_) if has_calls => {
                let parts = content_and_tool_calls_to_parts(&x);
                Msg {
                    role,
                    text: reconstruct_input(&parts).into(),
                    info: Some(parts),
                }
            }
            Some(Value::String(c)) if x.get("tool_call_id").is_none_or(Value::is_null) => Msg {
                role,
                text: c.as_str().into(),
                info: None,
            },
            _ => Msg {
                role,
                text: reconstruct_input(&x).into(),
                info: Some(x),
            },
        };
        out.push(msg);
    }
    Ok(out)
}

/// The recorded output: a text attribute, else the one message of `gen_ai.output.messages`.
fn extract_output(attrs: &Map<String, Value>) -> Result<Option<Msg>, String> {
    for k in ["gen_ai.output.text", "gen_ai.completion", "gen_ai.output"] {
        if let Some(Value::String(t)) = attrs.get(k) {
            return Ok(Some(Msg {
                role: "assistant".into(),
                text: t.as_str().into(),
                info: None,
            }));
        }
    }
    let out = match attrs.get("gen_ai.output.messages") {
        Some(Value::String(t)) => serde_json::from_str(t)
            .map_err(|e| format!("gen_ai.output.messages is not JSON: {e}"))?,
        Some(v) => v.clone(),
        None => return Ok(None),
    };
    let Value::Array(list) = out else {
        return Ok(None);
    };
    match list.as_slice() {
        [] => Err("gen_ai.output.messages is an empty list".into()),
        [Value::Object(m)] => {
            let mut info = m.clone();
            let texts: Vec<Value> = (info
                .get("parts")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default())
            .iter()
            .map(|p| match p.get("type").and_then(Value::as_str) {
                Some("tool_call") => Value::String(format_tool_call(p)),
                _ => p.get("content").cloned().unwrap_or(Value::Null),
            })
            .collect();
            info.insert("parts_text".into(), Value::Array(texts));
            Ok(Some(Msg {
                role: "assistant".into(),
                text: reconstruct_output(m).into(),
                info: Some(info),
            }))
        }
        [Value::Object(_), ..] => Err(format!(
            "Unexpected output messages format: expected a single message, got {} messages",
            list.len()
        )),
        _ => Ok(None),
    }
}

/// `{role, content, tool_calls}` as `{role, parts: [text, tool_call…]}`.
fn content_and_tool_calls_to_parts(m: &Map<String, Value>) -> Map<String, Value> {
    let mut parts = Vec::new();
    match m.get("content") {
        Some(Value::String(c)) if !c.is_empty() => {
            parts.push(serde_json::json!({"type": "text", "content": c}))
        }
        Some(Value::Array(a)) => parts.extend(a.iter().cloned()),
        _ => {}
    }
    for tc in m
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match tc.get("function").and_then(Value::as_object) {
            Some(f) => parts.push(serde_json::json!({"type": "tool_call", "id": tc.get("id"),
                "name": f.get("name"), "arguments": f.get("arguments")})),
            None if tc.get("name").is_some() => parts.push(serde_json::json!({"type": "tool_call",
                "id": tc.get("id"), "name": tc.get("name"), "arguments": tc.get("arguments")})),
            None => {}
        }
    }
    let mut out = Map::new();
    out.insert(
        "role".into(),
        m.get("role").cloned().unwrap_or("assistant".into()),
    );
    out.insert("parts".into(), Value::Array(parts));
    out
}

/// `_format_tool_call`.
pub(crate) fn format_tool_call(tc: &Value) -> String {
    let name = match tc.get("name") {
        Some(Value::String(n)) => n.clone(),
        Some(Value::Null) => "None".into(),
        Some(v) => v.to_string(),
        None => "unknown_tool".into(),
    };
    let args = match tc
        .get("arguments")
        .filter(|a| truthy(a))
        .or_else(|| tc.get("input"))
    {
        Some(Value::String(s)) => s.clone(),
        Some(v @ Value::Object(_)) => py_dumps(v),
        Some(v) => v.to_string(),
        None => "{}".into(),
    };
    format!("<|tool_call|>{name}<|tool_args|>{args}<|end|>")
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        Value::Number(n) => n.as_f64() != Some(0.0),
    }
}

/// Python's `json.dumps(v, separators=(", ", ": "))` (ASCII escapes as Python writes them).
fn py_dumps(v: &Value) -> String {
    match v {
        Value::Object(o) => {
            let items: Vec<String> = o
                .iter()
                .map(|(k, v)| format!("{}: {}", py_str(k), py_dumps(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(py_dumps).collect::<Vec<_>>().join(", ")
        ),
        Value::String(s) => py_str(s),
        other => other.to_string(),
    }
}

fn py_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `_format_tool_result`.
fn format_tool_result(r: &Value) -> String {
    let id = r
        .get("tool_use_id")
        .filter(|v| truthy(v))
        .or_else(|| r.get("id"));
    let id = id.map_or("unknown".to_string(), |v| {
        v.as_str().map_or(v.to_string(), str::to_string)
    });
    let content = r
        .get("content")
        .filter(|v| truthy(v))
        .or_else(|| r.get("result"));
    let content = content.map_or(String::new(), |v| {
        v.as_str().map_or(v.to_string(), str::to_string)
    });
    let err = if r.get("is_error").is_some_and(truthy) {
        " [ERROR]"
    } else {
        ""
    };
    format!("<tool_result: {id}{err}>\n{content}\n</tool_result>")
}

/// `reconstruct_llm_input` of one message.
fn reconstruct_input(m: &Map<String, Value>) -> String {
    match m.get("content") {
        None | Some(Value::Null) => {
            if let Some(Value::Array(parts)) = m.get("parts") {
                return parts_text(parts);
            }
            tool_calls_of(m)
                .iter()
                .map(format_tool_call)
                .collect::<Vec<_>>()
                .join("\n")
        }
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => list_text(items),
        Some(_) => String::new(),
    }
}

fn parts_text(parts: &[Value]) -> String {
    let mut out = Vec::new();
    for p in parts.iter().filter(|p| p.is_object()) {
        match p.get("type").and_then(Value::as_str).unwrap_or("") {
            "text" => {
                if let Some(t) = p
                    .get("text")
                    .or_else(|| p.get("content"))
                    .and_then(Value::as_str)
                {
                    out.push(t.to_string());
                }
            }
            "tool_call" | "tool_use" => out.push(format_tool_call(p)),
            "tool_result" | "tool_call_response" => out.push(format_tool_result(p)),
            _ => {}
        }
    }
    out.join("\n")
}

fn list_text(items: &[Value]) -> String {
    let mut out = Vec::new();
    for item in items {
        match item {
            Value::String(s) => out.push(s.clone()),
            Value::Object(o) => match o.get("type").and_then(Value::as_str).unwrap_or("") {
                "tool_result" | "tool_call_response" => out.push(format_tool_result(item)),
                "tool_use" => out.push(format_tool_call(item)),
                t => {
                    let text = o.get("text").or_else(|| {
                        if t == "text" || !o.contains_key("text") {
                            o.get("content")
                        } else {
                            None
                        }
                    });
                    if let Some(v) = text {
                        out.push(v.as_str().map_or(v.to_string(), str::to_string));
                    }
                }
            },
            _ => {}
        }
    }
    out.join("\n")
}

/// `_extract_tool_calls` of a message.
fn tool_calls_of(m: &Map<String, Value>) -> Vec<Value> {
    let mut out = Vec::new();
    for tc in m
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match tc.get("function").and_then(Value::as_object) {
            Some(f) => out.push(serde_json::json!({"id": tc.get("id"), "name": f.get("name"), "arguments": f.get("arguments")})),
            None if tc.get("name").is_some() => out.push(tc.clone()),
            None => {}
        }
    }
    for p in m
        .get("parts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if p.get("type").and_then(Value::as_str) == Some("tool_call") {
            out.push(serde_json::json!({"id": p.get("id"), "name": p.get("name"), "arguments": p.get("arguments")}));
        }
    }
    if let Some(fc) = m.get("function_call").and_then(Value::as_object) {
        out.push(serde_json::json!({"name": fc.get("name"), "arguments": fc.get("arguments")}));
    }
    out
}

/// `reconstruct_llm_output` of one message: its text, then its tool calls.
fn reconstruct_output(m: &Map<String, Value>) -> String {
    let mut texts = Vec::new();
    match m.get("content") {
        Some(Value::String(s)) if !s.is_empty() => texts.push(s.clone()),
        Some(Value::Array(a)) => {
            for p in a {
                match p {
                    Value::String(s) => texts.push(s.clone()),
                    Value::Object(o) => {
                        if let Some(t) = o.get("text").and_then(Value::as_str) {
                            texts.push(t.to_string());
                        }
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
    for p in m
        .get("parts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if p.get("type").and_then(Value::as_str) == Some("text") {
            if let Some(t) = p
                .get("text")
                .or_else(|| p.get("content"))
                .and_then(Value::as_str)
            {
                texts.push(t.to_string());
            }
        }
    }
    let mut parts = Vec::new();
    let text = texts.join("\n");
    if !text.is_empty() {
        parts.push(text);
    }
    parts.extend(tool_calls_of(m).iter().map(format_tool_call));
    parts.join("\n")
}

/// Seconds since the epoch of an ISO-8601 time (`2026-02-25T10:00:00.5`, `…Z`, `…+02:00`; no
/// zone is UTC, as inference-perf reads it).
pub(crate) fn parse_iso(t: &str) -> Option<f64> {
    let t = t.trim();
    let (date, rest) = t.split_at_checked(10)?;
    let mut d = date.split('-');
    let (y, mo, da): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&da) {
        return None;
    }
    let (time, offset_s) = match rest.strip_prefix(['T', ' ']) {
        None if rest.is_empty() => ("00:00:00", 0.0),
        None => return None,
        Some(r) => split_zone(r)?,
    };
    let mut hms = time.split(':');
    let h: f64 = hms.next()?.parse().ok()?;
    let m: f64 = hms.next().unwrap_or("0").parse().ok()?;
    let s: f64 = hms.next().unwrap_or("0").parse().ok()?;
    if !(0.0..24.0).contains(&h) || !(0.0..60.0).contains(&m) || !(0.0..61.0).contains(&s) {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + da - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days as f64 * 86_400.0 + h * 3600.0 + m * 60.0 + s - offset_s)
}

fn split_zone(r: &str) -> Option<(&str, f64)> {
    if let Some(t) = r.strip_suffix(['Z', 'z']) {
        return Some((t, 0.0));
    }
    match r.rfind(['+', '-']) {
        Some(i) if i >= 5 => {
            let (t, z) = r.split_at(i);
            let sign = if z.starts_with('-') { -1.0 } else { 1.0 };
            let z = &z[1..];
            let (zh, zm) = z
                .split_once(':')
                .unwrap_or((z.get(..2)?, z.get(2..).unwrap_or("0")));
            let zm = if zm.is_empty() { "0" } else { zm };
            Some((
                t,
                sign * (zh.parse::<f64>().ok()? * 3600.0 + zm.parse::<f64>().ok()? * 60.0),
            ))
        }
        _ => Some((r, 0.0)),
    }
}
