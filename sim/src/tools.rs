//! A chat request's `tools` and `tool_choice`, checked as vLLM's `ChatCompletionRequest` checks
//! them (`check_tool_usage` and its pydantic types): every tool `{type: "function", function:
//! {name, description?, parameters?}}`; `tool_choice` `"none"`, or with tools `"auto"`,
//! `"required"` or a named function that is one of them. The sim generates text either way;
//! the ground truth records how many tools came and the `tool_choice`.

use serde_json::Value;

/// What a request said about tools.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ToolUse {
    /// Tool definitions sent.
    pub(crate) tools: u32,
    /// The `tool_choice` sent, as sent.
    pub(crate) choice: Option<Value>,
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
    let used = ToolUse {
        tools: names.len() as u32,
        choice: choice.filter(|c| !c.is_null()).cloned(),
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
        Value::String(s) if s == "auto" || s == "required" => Ok(used),
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
                Some(n) if !n.is_empty() && names.contains(&n) => Ok(used),
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tools_and_choices_are_checked_as_vllm_checks_them() {
        let tools = json!([{"type": "function", "function": {"name": "get", "parameters": null}}]);
        let ok = |c: Value| check(Some(&tools), Some(&c));
        assert_eq!(ok(json!("none")).unwrap().tools, 1);
        assert!(ok(json!("required")).is_ok());
        assert!(ok(json!("auto")).is_ok());
        let named = ok(json!({"type": "function", "function": {"name": "get"}})).unwrap();
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
}
