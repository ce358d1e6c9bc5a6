//! A chat request's `tools` and `tool_choice`, checked as vLLM's `ChatCompletionRequest` checks
//! them (`check_tool_usage` and its pydantic types): every tool `{type: "function", function:
//! {name, description?, parameters?}}`; `tool_choice` `"none"`, or with tools `"auto"`,
//! `"required"` or a named function that is one of them. With a named function, or
//! `"required"` (the first tool), the sim's output is a call of that function, streamed as vLLM
//! streams a named tool choice (`crate::sse::ChunkTemplates::tool_call`); otherwise text. The
//! ground truth records how many tools came, the `tool_choice`, the call made and the
//! `tool_call_id`s the request's tool results answered.

use serde_json::Value;

/// What a request said about tools.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ToolUse {
    /// Tool definitions sent.
    pub(crate) tools: u32,
    /// The `tool_choice` sent, as sent.
    pub(crate) choice: Option<Value>,
    /// The function the output calls (a named choice's, or `"required"`'s first tool).
    pub(crate) calls: Option<String>,
    /// The `tool_call_id`s of the request's `role: tool` messages, in order.
    pub(crate) results: Vec<String>,
}

/// The tool call a response makes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ToolCall {
    /// Its id, `chatcmpl-tool-<request id>`.
    pub(crate) id: String,
    /// The function.
    pub(crate) name: String,
    /// Its arguments are not JSON (the `bad_tool_args` fault).
    pub(crate) bad: bool,
}

/// A call's arguments before its tokens' text.
pub(crate) const ARGS_OPEN: &str = r#"{"text":""#;

impl ToolCall {
    /// A call's arguments after its tokens' text: their closing, or with `bad` leaked parser
    /// markup (so they are not JSON).
    pub(crate) fn args_close(&self) -> &'static str {
        if self.bad {
            "</parameter></function>"
        } else {
            r#""}"#
        }
    }

    /// The whole arguments of a call whose tokens' text is `text`.
    pub(crate) fn arguments(&self, text: &str) -> String {
        format!("{ARGS_OPEN}{text}{}", self.args_close())
    }
}

impl ToolUse {
    /// The call request `request_id`'s output makes, if any.
    pub(crate) fn call(&self, request_id: &str, bad: bool) -> Option<ToolCall> {
        Some(ToolCall {
            id: format!("chatcmpl-tool-{request_id}"),
            name: self.calls.clone()?,
            bad,
        })
    }
}

/// `tools` and `tool_choice` checked; `Err` is vLLM's message.
pub(crate) fn check(tools: Option<&Value>, choice: Option<&Value>) -> Result<ToolUse, String> {
    let tools = match tools {
        None | Some(Value::Null) => None,
        Some(Value::Array(list)) => Some(list),
        Some(_) => return Err("`tools` must be a list of tools".into()),
    };
    let mut names = Vec::new();
    for (i, t) in tools.into_iter().flatten().enumerate() {
        let name = t
            .get("function")
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str);
        let kind_ok = t.get("type").is_none_or(|k| k == "function");
        match name {
            Some(n) if kind_ok && t.get("function").is_some_and(Value::is_object) => names.push(n),
            _ => {
                return Err(format!(
                "tools[{i}]: a tool is {{\"type\": \"function\", \"function\": {{\"name\": ...}}}}"
            ))
            }
        }
    }
    let mut used = ToolUse {
        tools: names.len() as u32,
        choice: choice.filter(|c| !c.is_null()).cloned(),
        ..ToolUse::default()
    };
    let Some(c) = &used.choice else {
        return Ok(used);
    };
    if c == "none" {
        return Ok(used);
    }
    if tools.is_none() {
        return Err("When using `tool_choice`, `tools` must be set.".into());
    }
    let usage = r#"Correct usage: `{"type": "function", "function": {"name": "my_function"}}`"#;
    match c {
        Value::String(s) if s == "auto" => Ok(used),
        Value::String(s) if s == "required" => {
            used.calls = names.first().map(|n| n.to_string());
            Ok(used)
        }
        Value::Object(o) => {
            let name = match o.get("function") {
                Some(Value::Object(f)) => f.get("name"),
                f => {
                    return Err(format!(
                        "Invalid value for `function`: `{}` in `tool_choice`! {usage}",
                        f.unwrap_or(&Value::Null)
                    ))
                }
            };
            match name.and_then(Value::as_str) {
                Some(n) if !n.is_empty() && names.contains(&n) => {
                    used.calls = Some(n.to_string());
                    Ok(used)
                }
                Some(n) if !n.is_empty() => Err(
                    "The tool specified in `tool_choice` does not match any of the specified `tools`"
                        .into(),
                ),
                _ => Err(format!(
                    "Expected field `name` in `function` in `tool_choice`! {usage}"
                )),
            }
        }
        other => Err(format!(
            "Invalid value for `tool_choice`: {other}! Only named tools, \"none\", \"auto\" or \"required\" are supported."
        )),
    }
}

/// The tool calls of the request's earlier assistant messages (`calls`: each message's list)
/// checked as vLLM's chat preprocessing reads them: a string `function.arguments` is parsed as
/// JSON, and one that is not JSON fails the request (vLLM answers 400).
pub(crate) fn check_history_calls<'a>(
    calls: impl Iterator<Item = &'a [Value]>,
) -> Result<(), String> {
    for (i, call) in calls.flatten().enumerate() {
        let args = call.get("function").and_then(|f| f.get("arguments"));
        if let Some(Value::String(a)) = args.filter(|a| a.as_str() != Some("")) {
            if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(a) {
                return Err(format!(
                    "messages: tool call {i}'s function.arguments is not JSON: {e}"
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tools_and_choices_are_checked_as_vllm_checks_them() {
        let tools = json!([{"type": "function", "function": {"name": "get", "parameters": null}}]);
        let ok = |c: Value| check(Some(&tools), Some(&c));
        assert_eq!(ok(json!("none")).unwrap().tools, 1);
        assert_eq!(ok(json!("required")).unwrap().calls.as_deref(), Some("get"));
        assert_eq!(
            ok(json!("auto")).unwrap().calls,
            None,
            "auto: the sim answers text"
        );
        let named = ok(json!({"type": "function", "function": {"name": "get"}})).unwrap();
        assert_eq!(named.calls.as_deref(), Some("get"));
        assert_eq!(named.choice.unwrap()["function"]["name"], "get");
        let other = ok(json!({"type": "function", "function": {"name": "put"}}));
        assert!(other.unwrap_err().contains("does not match"));
        assert!(ok(json!("sometimes"))
            .unwrap_err()
            .contains("Invalid value"));
        assert!(ok(json!({"type": "function"})).is_err());
        // A flat definition (no `function`) is refused, as vLLM's pydantic model refuses it.
        let flat = json!([{"type": "function", "name": "get"}]);
        assert!(check(Some(&flat), None).unwrap_err().contains("tools[0]"));
        // `none` needs no tools; the others do.
        assert!(check(None, Some(&json!("none"))).is_ok());
        assert!(check(None, Some(&json!("required")))
            .unwrap_err()
            .contains("must be set"));
        assert_eq!(check(None, None).unwrap(), ToolUse::default());
    }

    #[test]
    fn earlier_tool_calls_with_arguments_that_are_not_json_fail_the_request() {
        let call = |a: Value| json!({"id": "c", "type": "function", "function": {"name": "f", "arguments": a}});
        let ok = [
            call(json!("{\"a\": 1}")),
            call(json!("")),
            call(json!({"a": 1})),
        ];
        assert!(check_history_calls([&ok[..]].into_iter()).is_ok());
        let bad = [call(json!("{\"a\": 1</parameter>"))];
        let e = check_history_calls([&ok[..], &bad[..]].into_iter()).unwrap_err();
        assert!(e.contains("tool call 3") && e.contains("not JSON"), "{e}");
    }
}
