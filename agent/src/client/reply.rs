//! The assistant message a response made, captured for an OTel replay's successors
//! (`RequestData::capture_reply`), in the form inference-perf records it
//! (`replay_graph_session_datagen.py`, `process_response`): of the first choice, the text
//! (`delta.content` / `message.content`), the reasoning (`reasoning`, else `reasoning_content`)
//! and the tool calls, a stream's `delta.tool_calls` fragments joined by their `index` (`id`
//! and `type` as last given, `function.name` and `function.arguments` concatenated). At most
//! [`crate::request::MAX_CAPTURED_TEXT`] bytes in all: a longer reply is not kept (the
//! successors send the recorded message).

use serde::Deserialize;
use serde_json::{json, Map, Value};

/// Most tool calls of one reply.
const MAX_TOOL_CALLS: usize = 1024;

/// A reply as its chunks arrive.
#[derive(Debug, Default)]
pub(crate) struct Reply {
    content: String,
    reasoning: String,
    /// Streamed tool calls by `index`, in the order first seen.
    calls: Vec<(u64, CallParts)>,
    /// A non-streamed message's tool calls, as sent.
    whole_calls: Option<Vec<Value>>,
    bytes: usize,
    /// Over the cap: nothing is kept.
    over: bool,
}

#[derive(Debug)]
struct CallParts {
    id: String,
    kind: String,
    name: String,
    arguments: String,
}

#[derive(Deserialize)]
struct ChunkIn {
    #[serde(default)]
    choices: Vec<ChoiceIn>,
}

#[derive(Deserialize)]
struct ChoiceIn {
    #[serde(default)]
    delta: Option<MessageIn>,
    #[serde(default)]
    message: Option<MessageIn>,
}

#[derive(Deserialize)]
struct MessageIn {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    reasoning: Option<String>,
    #[serde(default)]
    reasoning_content: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<Value>>,
}

impl Reply {
    /// Takes one streamed chunk's `data` (an unparseable one is the stream's failure, found
    /// elsewhere; here it adds nothing).
    pub(crate) fn on_chunk(&mut self, data: &[u8]) {
        let Some(delta) = first_choice(data).and_then(|c| c.delta) else {
            return;
        };
        self.add_text(&delta);
        for frag in delta.tool_calls.iter().flatten() {
            self.add_call_fragment(frag);
        }
    }

    /// Takes a non-streamed response's body.
    pub(crate) fn on_message(&mut self, body: &[u8]) {
        let Some(message) = first_choice(body).and_then(|c| c.message) else {
            return;
        };
        self.add_text(&message);
        if let Some(calls) = message.tool_calls.filter(|c| !c.is_empty()) {
            self.grow(calls.iter().map(|c| c.to_string().len()).sum());
            self.whole_calls = Some(calls);
        }
    }

    /// The message, or none when it was over the cap.
    pub(crate) fn into_message(self) -> Option<Value> {
        if self.over {
            return None;
        }
        let calls = match self.whole_calls {
            Some(calls) => calls,
            None => (self.calls.into_iter())
                .map(|(_, c)| {
                    json!({"id": c.id, "type": c.kind,
                        "function": {"name": c.name, "arguments": c.arguments}})
                })
                .collect(),
        };
        let mut m = Map::new();
        m.insert("role".into(), "assistant".into());
        if calls.is_empty() {
            m.insert("content".into(), self.content.into());
        } else {
            m.insert("tool_calls".into(), calls.into());
            if !self.content.is_empty() {
                m.insert("content".into(), self.content.into());
            }
        }
        if !self.reasoning.is_empty() {
            m.insert("reasoning_content".into(), self.reasoning.clone().into());
            m.insert("reasoning".into(), self.reasoning.into());
        }
        Some(Value::Object(m))
    }

    fn add_text(&mut self, m: &MessageIn) {
        if let Some(t) = &m.content {
            if self.grow(t.len()) {
                self.content.push_str(t);
            }
        }
        if let Some(t) = non_empty(&m.reasoning).or(non_empty(&m.reasoning_content)) {
            if self.grow(t.len()) {
                self.reasoning.push_str(t);
            }
        }
    }

    fn add_call_fragment(&mut self, frag: &Value) {
        let index = frag.get("index").and_then(Value::as_u64).unwrap_or(0);
        let at = match self.calls.iter().position(|(i, _)| *i == index) {
            Some(at) => at,
            None if self.calls.len() < MAX_TOOL_CALLS => {
                let kind = frag
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("function");
                self.calls.push((
                    index,
                    CallParts {
                        id: String::new(),
                        kind: kind.to_string(),
                        name: String::new(),
                        arguments: String::new(),
                    },
                ));
                self.calls.len() - 1
            }
            None => {
                self.over = true;
                return;
            }
        };
        let function = frag.get("function");
        let id = text(frag.get("id"));
        let name = text(function.and_then(|f| f.get("name")));
        let args = text(function.and_then(|f| f.get("arguments")));
        let grew = [id, name, args].iter().flatten().map(|s| s.len()).sum();
        if !self.grow(grew) {
            return;
        }
        let call = &mut self.calls[at].1;
        if let Some(id) = id {
            call.id = id.to_string();
        }
        if let Some(n) = name {
            call.name.push_str(n);
        }
        if let Some(a) = args {
            call.arguments.push_str(a);
        }
    }

    /// Counts `n` more bytes; false (and nothing kept) past the cap.
    fn grow(&mut self, n: usize) -> bool {
        self.bytes = self.bytes.saturating_add(n);
        if self.bytes > crate::request::MAX_CAPTURED_TEXT {
            self.over = true;
        }
        !self.over
    }
}

fn non_empty(t: &Option<String>) -> Option<&String> {
    t.as_ref().filter(|t| !t.is_empty())
}

/// A string value, when it is one and not empty.
fn text(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn first_choice(data: &[u8]) -> Option<ChoiceIn> {
    let chunk: ChunkIn = serde_json::from_slice(data).ok()?;
    chunk.choices.into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn streamed(chunks: &[&str]) -> Option<Value> {
        let mut r = Reply::default();
        for c in chunks {
            r.on_chunk(c.as_bytes());
        }
        r.into_message()
    }

    #[test]
    fn streamed_tool_call_fragments_join_by_index() {
        let m = streamed(&[
            r#"{"choices":[{"delta":{"role":"assistant","content":""}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"call-a","type":"function","function":{"name":"get","arguments":""}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":1,"id":"call-b","type":"function","function":{"name":"put","arguments":"{\"k\""}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"q\": "}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":1,"function":{"arguments":": 2}"}}]}}]}"#,
            r#"{"choices":[],"usage":{"completion_tokens":5}}"#,
        ])
        .unwrap();
        assert_eq!(
            m,
            json!({"role": "assistant", "tool_calls": [
                {"id": "call-a", "type": "function", "function": {"name": "get", "arguments": "{\"q\": 1}"}},
                {"id": "call-b", "type": "function", "function": {"name": "put", "arguments": "{\"k\": 2}"}}
            ]}),
            "no content key: the text was empty"
        );
    }

    #[test]
    fn text_and_reasoning_make_the_message_as_inference_perf_records_it() {
        let m = streamed(&[
            r#"{"choices":[{"delta":{"reasoning_content":"think "}}]}"#,
            r#"{"choices":[{"delta":{"reasoning":"more"}}]}"#,
            r#"{"choices":[{"delta":{"content":"Hello"}}]}"#,
            r#"{"choices":[{"delta":{"content":" world"}}]}"#,
        ])
        .unwrap();
        assert_eq!(
            m,
            json!({"role": "assistant", "content": "Hello world",
                "reasoning_content": "think more", "reasoning": "think more"})
        );
        assert_eq!(
            streamed(&[]).unwrap(),
            json!({"role": "assistant", "content": ""})
        );
    }

    #[test]
    fn a_whole_message_keeps_its_tool_calls_as_sent() {
        let mut r = Reply::default();
        r.on_message(br#"{"choices":[{"message":{"role":"assistant","content":"ok","tool_calls":[{"id":"x","type":"function","function":{"name":"f","arguments":"{}"}}]}}]}"#);
        let m = r.into_message().unwrap();
        assert_eq!(m["tool_calls"][0]["id"], "x");
        assert_eq!(m["content"], "ok");
    }

    #[test]
    fn a_reply_over_the_cap_is_not_kept() {
        let mut r = Reply::default();
        let big = "x".repeat(crate::request::MAX_CAPTURED_TEXT / 2 + 1);
        let chunk = format!(r#"{{"choices":[{{"delta":{{"content":"{big}"}}}}]}}"#);
        r.on_chunk(chunk.as_bytes());
        r.on_chunk(chunk.as_bytes());
        r.on_chunk(br#"{"choices":[{"delta":{"content":"small"}}]}"#);
        assert_eq!(r.into_message(), None);
    }
}
