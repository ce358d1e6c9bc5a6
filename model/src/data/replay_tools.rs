//! Live tool calls in a replay's substituted outputs, as inference-perf substitutes them
//! (`replay_graph_session_datagen.py`, `_build_messages_with_substitution`): where a call's
//! recorded input carried an ancestor's recorded assistant message, the ancestor's live message
//! goes instead, tool calls and all; the `role: tool` results that follow then answer the live
//! calls, so their `tool_call_id`s are rewritten to the live ids, each recorded result paired
//! with the first unused live call of the function the recorded call named (by position when
//! the recorded message had no tool calls). With `bad_tool_call_handling: use_recorded`, a live
//! message whose tool calls' `arguments` are not JSON (a server's tool parser can leak markup
//! into them, and the next turn's chat template then fails) is replaced by the recorded one; if
//! that is malformed too, the call fails.

use serde_json::Value;
use std::sync::Arc;

/// A chat message shared by the calls that send it (`super::replay::Message`).
type Message = Arc<Value>;

/// A live assistant message put at `at`, in place of `recorded`, whose tool calls the
/// `role: tool` messages after it answer.
#[derive(Debug)]
pub(crate) struct PendingIds {
    /// Where the live message is in the call's messages.
    pub at: usize,
    /// The live message.
    pub live: Message,
    /// The recorded message it replaced (its tool calls' names pair the results).
    pub recorded: Message,
}

/// What goes where a recorded assistant message was.
#[derive(Debug)]
pub(crate) enum Slot {
    /// The live message, and the id rewrite its tool calls need.
    Live(Message, Option<PendingIds>),
    /// The recorded message stays (the live tool calls were malformed).
    Recorded,
}

/// What goes where a recorded assistant message `recorded` was, at `at`, for `live` (the
/// ancestor's live message); `Err` when the live calls are malformed, the recorded fallback was
/// asked for, and it is malformed too.
pub(crate) fn substitute_output(
    recorded: &Message,
    live: &Message,
    at: usize,
    use_recorded_on_bad: bool,
) -> Result<Slot, String> {
    let live_calls = tool_calls(live);
    if use_recorded_on_bad && !live_calls.is_empty() && bad_calls(live_calls) > 0 {
        if bad_calls(tool_calls(recorded)) > 0 {
            return Err("its live tool calls' arguments are not JSON, and neither are the recorded ones (bad_tool_call_handling: use_recorded)".into());
        }
        return Ok(Slot::Recorded);
    }
    let rewrite = (!live_calls.is_empty()).then(|| PendingIds {
        at,
        live: live.clone(),
        recorded: recorded.clone(),
    });
    Ok(Slot::Live(live.clone(), rewrite))
}

/// Rewrites the `tool_call_id`s of the `role: tool` messages after `p.at` to the live calls'
/// ids: the k-th tool message after it answers the k-th recorded call, paired with the first
/// unused live call of that function's name; by position when no calls were recorded. As many
/// tool messages as there were recorded calls (live calls, by position) are paired.
pub(crate) fn rewrite_tool_call_ids(messages: &mut [Message], p: &PendingIds) {
    let (live, recorded) = (tool_calls(&p.live), tool_calls(&p.recorded));
    let positional = recorded.is_empty();
    let bound = if positional {
        live.len()
    } else {
        recorded.len()
    };
    let mut used = vec![false; live.len()];
    let mut k = 0usize;
    for m in messages.iter_mut().skip(p.at + 1) {
        if k >= bound {
            break;
        }
        if m.get("role").and_then(Value::as_str) != Some("tool") {
            continue;
        }
        // Positional: k < bound = the live calls.
        let matched = if positional {
            Some(k)
        } else {
            let name = function_name(&recorded[k]);
            (0..live.len()).find(|&i| !used[i] && name.is_some() && function_name(&live[i]) == name)
        };
        if let Some(i) = matched {
            used[i] = true;
            let id = live[i].get("id").and_then(Value::as_str);
            if let Some(id) = id.filter(|id| !id.is_empty()) {
                if let Value::Object(o) = Arc::make_mut(m) {
                    o.insert("tool_call_id".into(), Value::String(id.to_string()));
                }
            }
        }
        k += 1;
    }
}

/// A message's `tool_calls` (empty when it has none).
fn tool_calls(m: &Value) -> &[Value] {
    m.get("tool_calls")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn function_name(call: &Value) -> Option<&str> {
    call.get("function")?.get("name")?.as_str()
}

/// How many of `calls` have `function.arguments` that is a string but not JSON (a missing one
/// counts as the empty string, as inference-perf reads it).
fn bad_calls(calls: &[Value]) -> usize {
    (calls.iter())
        .filter(|c| {
            let args = c.get("function").and_then(|f| f.get("arguments"));
            match args {
                None => true,
                Some(Value::String(s)) => serde_json::from_str::<serde::de::IgnoredAny>(s).is_err(),
                Some(_) => false,
            }
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(id: &str, name: &str, args: &str) -> Value {
        json!({"id": id, "type": "function", "function": {"name": name, "arguments": args}})
    }

    fn assistant(calls: Vec<Value>) -> Message {
        Arc::new(json!({"role": "assistant", "tool_calls": calls}))
    }

    fn live_slot(s: Result<Slot, String>) -> (Message, Option<PendingIds>) {
        match s {
            Ok(Slot::Live(m, p)) => (m, p),
            other => panic!("not live: {other:?}"),
        }
    }

    fn tool(id: &str) -> Message {
        Arc::new(json!({"role": "tool", "tool_call_id": id, "content": "result"}))
    }

    #[test]
    fn tool_results_are_paired_with_the_live_calls_by_function_name() {
        let recorded = assistant(vec![call("r1", "search", "{}"), call("r2", "read", "{}")]);
        // The live model called read first, then search twice.
        let live = assistant(vec![
            call("l1", "read", "{}"),
            call("l2", "search", "{}"),
            call("l3", "search", "{}"),
        ]);
        let (sent, p) = live_slot(substitute_output(&recorded, &live, 1, false));
        assert_eq!(sent, live);
        let p = p.unwrap();
        let user = Arc::new(json!({"role": "user", "content": "go"}));
        let mut msgs = vec![user.clone(), sent, tool("r1"), tool("r2"), user, tool("r9")];
        rewrite_tool_call_ids(&mut msgs, &p);
        assert_eq!(
            msgs[2]["tool_call_id"], "l2",
            "search's result answers live search"
        );
        assert_eq!(
            msgs[3]["tool_call_id"], "l1",
            "read's result answers live read"
        );
        assert_eq!(
            msgs[5]["tool_call_id"], "r9",
            "only as many results as recorded calls"
        );
    }

    #[test]
    fn an_unmatched_name_leaves_the_id_and_no_recorded_calls_pair_by_position() {
        let recorded = assistant(vec![call("r1", "gone", "{}")]);
        let live = assistant(vec![call("l1", "other", "{}")]);
        let (_, p) = live_slot(substitute_output(&recorded, &live, 0, false));
        let mut msgs = vec![live.clone(), tool("r1")];
        rewrite_tool_call_ids(&mut msgs, &p.unwrap());
        assert_eq!(msgs[1]["tool_call_id"], "r1");
        let text = Arc::new(json!({"role": "assistant", "content": "hm"}));
        let (_, p) = live_slot(substitute_output(&text, &live, 0, false));
        let mut msgs = vec![live.clone(), tool("r1"), tool("r2")];
        rewrite_tool_call_ids(&mut msgs, &p.unwrap());
        assert_eq!(msgs[1]["tool_call_id"], "l1");
        assert_eq!(
            msgs[2]["tool_call_id"], "r2",
            "one live call: one result paired"
        );
        // A live text answer needs no rewrite.
        let (sent, p) = live_slot(substitute_output(&recorded, &text, 0, false));
        assert!(p.is_none() && sent == text);
    }

    #[test]
    fn malformed_live_arguments_fall_back_to_the_recorded_message_only_when_asked() {
        let recorded = assistant(vec![call("r1", "f", r#"{"a": 1}"#)]);
        let bad = assistant(vec![call("l1", "f", r#"{"a": 1</parameter>"#)]);
        let slot = substitute_output(&recorded, &bad, 0, true);
        assert!(matches!(slot, Ok(Slot::Recorded)), "{slot:?}");
        let (sent, _) = live_slot(substitute_output(&recorded, &bad, 0, false));
        assert_eq!(sent, bad, "none: sent as the server made it");
        let recorded_bad = assistant(vec![call("r1", "f", "")]);
        let e = substitute_output(&recorded_bad, &bad, 0, true).unwrap_err();
        assert!(e.contains("neither are the recorded"), "{e}");
        // Arguments given as an object are not a string to parse.
        let object = Arc::new(json!({"role": "assistant", "tool_calls": [
            {"id": "l1", "type": "function", "function": {"name": "f", "arguments": {"a": 1}}}]}));
        assert_eq!(bad_calls(tool_calls(&object)), 0);
        let missing = Arc::new(json!({"role": "assistant", "tool_calls": [{"id": "l1"}]}));
        assert_eq!(bad_calls(tool_calls(&missing)), 1);
    }
}
