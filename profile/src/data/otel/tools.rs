//! A replayed call's tools as inference-perf 0.7.0 sends them (`ChatCompletionAPIData.
//! to_request_body` and `SessionChatCompletionAPIData.to_request_body`): the recorded
//! definitions in OpenAI's nested form with their parameter schemas cleaned of what vLLM's
//! validator refuses, and the `tool_choice` that keeps a replay on its recorded path.

use super::spans::Msg;
use serde_json::{Map, Value};

/// The schema keys vLLM's tool validator accepts (`_ALLOWED_JSON_SCHEMA_KEYS`).
const ALLOWED_SCHEMA_KEYS: [&str; 12] = [
    "type",
    "description",
    "enum",
    "properties",
    "required",
    "items",
    "anyOf",
    "oneOf",
    "allOf",
    "$ref",
    "const",
    "additionalProperties",
];

/// `_clean_schema`: only the allowed keys; `additionalProperties` a boolean; a schema without
/// `type` becomes a string and drops `anyOf` / `oneOf` (as one with a `type` drops them too);
/// an object schema has `properties`. `properties` maps keep their property names.
fn clean_schema(v: &Value, properties_map: bool) -> Value {
    match v {
        Value::Object(m) if properties_map => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), clean_schema(v, false)))
                .collect(),
        ),
        Value::Object(m) => {
            let mut cleaned = Map::new();
            for (k, v) in m {
                if !ALLOWED_SCHEMA_KEYS.contains(&k.as_str()) {
                    continue;
                }
                let v = match v {
                    Value::Bool(_) => v.clone(),
                    _ if k == "additionalProperties" => Value::Bool(false),
                    _ => clean_schema(v, k == "properties"),
                };
                cleaned.insert(k.clone(), v);
            }
            cleaned.remove("anyOf");
            cleaned.remove("oneOf");
            if !cleaned.contains_key("type") {
                cleaned.insert("type".into(), Value::String("string".into()));
            }
            if cleaned.get("type").and_then(Value::as_str) == Some("object")
                && !cleaned.contains_key("properties")
            {
                cleaned.insert("properties".into(), Value::Object(Map::new()));
            }
            Value::Object(cleaned)
        }
        Value::Array(a) => Value::Array(a.iter().map(|v| clean_schema(v, false)).collect()),
        _ => v.clone(),
    }
}

/// The recorded definitions as `tools`: `{type, function: {name, description, parameters}}`
/// each, from the nested form or the flat one (`{type, name, description, parameters}`); none
/// when there are none. A flat definition without `type` is a function (inference-perf fails
/// the call on it). A missing description or parameters is left out, where inference-perf
/// sends `null`: llama.cpp's server refuses a null description (HTTP 500, "type must be string,
/// but is null"), and vLLM reads an absent one as it reads a null one.
pub(crate) fn openai_tools(defs: Option<&Value>) -> Option<Value> {
    let list = defs?.as_array().filter(|l| !l.is_empty())?;
    let tools = list.iter().map(|t| {
        let f = t.get("function").unwrap_or(t);
        let mut function = Map::new();
        function.insert("name".into(), f.get("name").cloned().unwrap_or(Value::Null));
        if let Some(d) = f.get("description").filter(|d| !d.is_null()) {
            function.insert("description".into(), d.clone());
        }
        if let Some(p) = f.get("parameters").filter(|p| !p.is_null()) {
            function.insert("parameters".into(), clean_schema(p, false));
        }
        serde_json::json!({
            "type": t.get("type").cloned().unwrap_or("function".into()),
            "function": function,
        })
    });
    Some(Value::Array(tools.collect()))
}

/// The functions the recorded output called: its `parts`' tool calls, else its OpenAI
/// `tool_calls` (the name under `function`, else beside it).
pub(crate) fn called_tools(out: Option<&Msg>) -> Vec<String> {
    let Some(info) = out.and_then(|o| o.info.as_ref()) else {
        return Vec::new();
    };
    let named = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .map(str::to_string)
    };
    let list = |k: &str| info.get(k).and_then(Value::as_array).into_iter().flatten();
    let parts: Vec<String> = list("parts")
        .filter(|p| p.get("type").and_then(Value::as_str) == Some("tool_call"))
        .filter_map(|p| named(p.get("name")))
        .collect();
    if !parts.is_empty() {
        return parts;
    }
    list("tool_calls")
        .filter_map(|tc| {
            named(tc.get("function").and_then(|f| f.get("name"))).or_else(|| named(tc.get("name")))
        })
        .collect()
}

/// The `tool_choice` a call with tools is sent with under `force_recorded`: a recorded call of
/// one function that the raw definitions name (at their top level, as inference-perf looks)
/// forces that function, other recorded tool calls `"required"`, a recorded text answer
/// `"none"`.
pub(crate) fn forced_choice(defs: &Value, called: &[String]) -> Value {
    if called.is_empty() {
        return Value::String("none".into());
    }
    let available = (defs.as_array().into_iter().flatten())
        .any(|t| t.get("name").and_then(Value::as_str) == Some(called[0].as_str()));
    if called.len() == 1 && available {
        serde_json::json!({"type": "function", "function": {"name": called[0]}})
    } else {
        Value::String("required".into())
    }
}
