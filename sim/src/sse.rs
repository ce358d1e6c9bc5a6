//! Server-sent events as vLLM streams them. Every chunk of one request differs only in its
//! token text and finish reason, so each request renders its chunk template once
//! ([`ChunkTemplates::new`]) and then every token is one `memcpy` into the frame buffer: no
//! per-chunk allocation, no per-chunk JSON serialization.

use bytes::{BufMut, BytesMut};

use crate::openai::{json_str, Endpoint, Usage, TOKEN_TEXT};

/// The end-of-stream event.
pub const DONE: &[u8] = b"data: [DONE]\n\n";

/// One chunk of invalid JSON (the `malformed` fault).
pub(crate) const MALFORMED: &[u8] =
    b"data: {\"id\":\"malformed\",\"choices\":[{\"text\":\" tok\",\n\n";

/// Pre-rendered chunks of one streamed request.
#[derive(Debug, Clone)]
pub struct ChunkTemplates {
    /// Full event of a non-final token chunk.
    token: Vec<u8>,
    /// Event up to the token text (the splice point).
    head: Vec<u8>,
    /// Between the token text and the finish reason value.
    mid: Vec<u8>,
    /// After the finish reason value.
    tail: Vec<u8>,
    /// Chat only: the role-only chunk sent before the first token.
    role: Option<Vec<u8>>,
    /// A tool call's stream (`ChunkTemplates::tool_call`): the first token's event up to its
    /// text (the call's id, type and name), and the arguments' opening and closing text.
    call: Option<CallTemplates>,
    /// `data: {"id":...,"model":...,"choices":[],"usage":` prefix of the usage chunk.
    usage_head: Vec<u8>,
}

/// The usage chunk's start after the members every chunk shares.
const USAGE_TAIL: &str = "\"choices\":[],\"usage\":";

/// What a tool call's stream adds to the text stream's templates.
#[derive(Debug, Clone)]
struct CallTemplates {
    first_head: Vec<u8>,
    open: String,
    close: String,
}

impl ChunkTemplates {
    /// The chunks of one response of `endpoint`, with its id, creation time and model.
    pub fn new(endpoint: Endpoint, request_id: &str, created: u64, model: &str) -> Self {
        let model = json_str(model);
        let (id, object) = match endpoint {
            Endpoint::Completions => (json_str(&format!("cmpl-{request_id}")), "text_completion"),
            Endpoint::Chat => (
                json_str(&format!("chatcmpl-{request_id}")),
                "chat.completion.chunk",
            ),
        };
        let common = format!(
            "data: {{\"id\":{id},\"object\":\"{object}\",\"created\":{created},\"model\":{model},"
        );
        let (head, mid, tail, role) = match endpoint {
            Endpoint::Completions => (
                format!("{common}\"choices\":[{{\"index\":0,\"text\":\""),
                "\",\"logprobs\":null,\"finish_reason\":".to_string(),
                ",\"stop_reason\":null}]}\n\n".to_string(),
                None,
            ),
            Endpoint::Chat => (
                format!("{common}\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\""),
                "\"},\"logprobs\":null,\"finish_reason\":".to_string(),
                "}]}\n\n".to_string(),
                Some(
                    format!(
                        "{common}\"choices\":[{{\"index\":0,\"delta\":{{\"role\":\"assistant\",\"content\":\"\"}},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n"
                    )
                    .into_bytes(),
                ),
            ),
        };
        let mut t = ChunkTemplates {
            token: Vec::new(),
            head: head.into_bytes(),
            mid: mid.into_bytes(),
            tail: tail.into_bytes(),
            role,
            call: None,
            usage_head: format!("{common}{USAGE_TAIL}").into_bytes(),
        };
        let mut token = Vec::new();
        t.splice(&mut token, TOKEN_TEXT, None);
        t.token = token;
        t
    }

    /// A chat stream's tokens as one tool call (`crate::tools::ToolCall`), as vLLM streams a
    /// named or required tool choice: the first token's delta carries the call's index, id,
    /// type, name and the first arguments text, every later one the next arguments text
    /// (`{"text":" tok tok ..."}` in all, or with `call.bad` markup leaked where the closing
    /// should be, so the arguments are not JSON).
    pub(crate) fn tool_call(mut self, call: &crate::tools::ToolCall) -> Self {
        let common_len = self.usage_head.len() - USAGE_TAIL.len();
        let common_head = self.usage_head[..common_len].to_vec();
        let head = |first: &str| {
            let mut h = common_head.clone();
            h.extend_from_slice(
                format!("\"choices\":[{{\"index\":0,\"delta\":{{\"tool_calls\":[{{\"index\":0,{first}\"function\":{{").as_bytes(),
            );
            h
        };
        let ident = format!("\"id\":{},\"type\":\"function\",", json_str(&call.id));
        let mut first_head = head(&ident);
        first_head.extend_from_slice(
            format!("\"name\":{},\"arguments\":\"", json_str(&call.name)).as_bytes(),
        );
        let mut h = head("");
        h.extend_from_slice(b"\"arguments\":\"");
        self.head = h;
        self.mid = b"\"}}]},\"logprobs\":null,\"finish_reason\":".to_vec();
        // The arguments' text as it stands inside their JSON string.
        let escaped = |s: &str| {
            let quoted = json_str(s);
            quoted[1..quoted.len() - 1].to_string()
        };
        self.call = Some(CallTemplates {
            first_head,
            open: escaped(crate::tools::ARGS_OPEN),
            close: escaped(call.args_close()),
        });
        let mut token = Vec::new();
        self.splice(&mut token, TOKEN_TEXT, None);
        self.token = token;
        self
    }

    fn splice<B: BufMut>(&self, buf: &mut B, text: &str, finish: Option<&str>) {
        self.splice_with(buf, &self.head, "", text, "", finish);
    }

    fn splice_with<B: BufMut>(
        &self,
        buf: &mut B,
        head: &[u8],
        before: &str,
        text: &str,
        after: &str,
        finish: Option<&str>,
    ) {
        buf.put_slice(head);
        buf.put_slice(before.as_bytes());
        buf.put_slice(text.as_bytes());
        buf.put_slice(after.as_bytes());
        buf.put_slice(&self.mid);
        match finish {
            None => buf.put_slice(b"null"),
            Some(f) => {
                buf.put_u8(b'"');
                buf.put_slice(f.as_bytes());
                buf.put_u8(b'"');
            }
        }
        buf.put_slice(&self.tail);
    }

    /// Length of one token event, for sizing frame buffers.
    pub(crate) fn token_len(&self) -> usize {
        self.token.len()
    }

    /// Appends `n` non-final token chunks.
    pub fn put_tokens(&self, buf: &mut BytesMut, n: u32) {
        for _ in 0..n {
            buf.extend_from_slice(&self.token);
        }
    }

    /// Appends the last token chunk, carrying `finish_reason`.
    pub fn put_last_token(&self, buf: &mut BytesMut, finish_reason: &str) {
        let close = self.call.as_ref().map_or("", |c| c.close.as_str());
        self.splice_with(buf, &self.head, "", TOKEN_TEXT, close, Some(finish_reason));
    }

    /// Appends the first token chunk (a tool call's opens the call), the last one too when
    /// `finish_reason` is given.
    pub fn put_first_token(&self, buf: &mut BytesMut, finish_reason: Option<&str>) {
        match (&self.call, finish_reason) {
            (None, None) => self.put_tokens(buf, 1),
            (None, Some(f)) => self.put_last_token(buf, f),
            (Some(c), f) => {
                let close = if f.is_some() { c.close.as_str() } else { "" };
                self.splice_with(buf, &c.first_head, &c.open, TOKEN_TEXT, close, f);
            }
        }
    }

    /// Appends the role-only chunk (chat streams, before the first token).
    pub fn put_role(&self, buf: &mut BytesMut) {
        if let Some(r) = &self.role {
            buf.extend_from_slice(r);
        }
    }

    /// Appends the usage chunk (`"choices": []` plus `usage`).
    pub fn put_usage(&self, buf: &mut BytesMut, usage: Usage) {
        buf.extend_from_slice(&self.usage_head);
        buf.extend_from_slice(usage.json().to_string().as_bytes());
        buf.extend_from_slice(b"}\n\n");
    }
}

/// A `data: {"error": ...}` event (the `stream_error` fault), as vLLM sends when generation
/// fails mid-stream.
pub(crate) fn error_event(message: &str) -> Vec<u8> {
    format!(
        "data: {}\n\n",
        crate::openai::error_body(500, "InternalServerError", message, None)
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn events(buf: &[u8]) -> Vec<Value> {
        std::str::from_utf8(buf)
            .unwrap()
            .split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| serde_json::from_str(e.strip_prefix("data: ").unwrap()).unwrap())
            .collect()
    }

    #[test]
    fn completion_chunks_are_valid_json() {
        let t = ChunkTemplates::new(Endpoint::Completions, "r\"1", 7, "m");
        let mut b = BytesMut::new();
        t.put_tokens(&mut b, 2);
        t.put_last_token(&mut b, "length");
        t.put_usage(
            &mut b,
            Usage {
                prompt_tokens: 3,
                completion_tokens: 3,
                cached_tokens: Some(2),
            },
        );
        let ev = events(&b);
        assert_eq!(ev.len(), 4);
        assert_eq!(ev[0]["choices"][0]["text"], " tok");
        assert_eq!(ev[0]["id"], "cmpl-r\"1");
        assert!(ev[1]["choices"][0]["finish_reason"].is_null());
        assert_eq!(ev[2]["choices"][0]["finish_reason"], "length");
        assert_eq!(ev[3]["choices"].as_array().unwrap().len(), 0);
        assert_eq!(ev[3]["usage"]["total_tokens"], 6);
    }

    #[test]
    fn chat_chunks_are_valid_json() {
        let t = ChunkTemplates::new(Endpoint::Chat, "x", 7, "m");
        let mut b = BytesMut::new();
        t.put_role(&mut b);
        t.put_tokens(&mut b, 1);
        t.put_last_token(&mut b, "stop");
        let ev = events(&b);
        assert_eq!(ev[0]["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(ev[1]["choices"][0]["delta"]["content"], " tok");
        assert_eq!(ev[1]["object"], "chat.completion.chunk");
        assert_eq!(ev[2]["choices"][0]["finish_reason"], "stop");
    }

    #[test]
    fn a_tool_call_streams_its_arguments_as_vllm_streams_a_named_choice() {
        let call = |bad| crate::tools::ToolCall {
            id: "chatcmpl-tool-r1".into(),
            name: "get".into(),
            bad,
        };
        let args_of = |bad, tokens: u32| {
            let t = ChunkTemplates::new(Endpoint::Chat, "r1", 7, "m").tool_call(&call(bad));
            let mut b = BytesMut::new();
            t.put_role(&mut b);
            t.put_first_token(&mut b, (tokens == 1).then_some("stop"));
            if tokens > 1 {
                t.put_tokens(&mut b, tokens - 2);
                t.put_last_token(&mut b, "stop");
            }
            let ev = events(&b);
            assert_eq!(ev.len() as u32, tokens + 1);
            assert_eq!(ev[0]["choices"][0]["delta"]["role"], "assistant");
            let first = &ev[1]["choices"][0]["delta"]["tool_calls"][0];
            assert_eq!(first["id"], "chatcmpl-tool-r1");
            assert_eq!(first["type"], "function");
            assert_eq!(first["function"]["name"], "get");
            let later = &ev[ev.len() - 1]["choices"][0];
            assert_eq!(later["finish_reason"], "stop");
            if tokens > 1 {
                assert!(later["delta"]["tool_calls"][0].get("id").is_none());
                assert!(later["delta"]["tool_calls"][0]["function"]
                    .get("name")
                    .is_none());
            }
            (ev[1..].iter())
                .map(|e| {
                    e["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
                        .as_str()
                        .unwrap()
                        .to_string()
                })
                .collect::<String>()
        };
        assert_eq!(args_of(false, 3), r#"{"text":" tok tok tok"}"#);
        assert_eq!(args_of(false, 1), r#"{"text":" tok"}"#);
        let bad = args_of(true, 2);
        assert!(serde_json::from_str::<Value>(&bad).is_err(), "{bad}");
        assert_eq!(bad, r#"{"text":" tok tok</parameter></function>"#);
        // A whole response's call has the same arguments.
        let whole = |bad| {
            let mut v = crate::openai::full_response(
                Endpoint::Chat,
                "r1",
                7,
                "m",
                Usage {
                    prompt_tokens: 1,
                    completion_tokens: 2,
                    cached_tokens: None,
                },
                "stop",
                None,
            );
            crate::openai::put_tool_call(&mut v, &call(bad), 2);
            let c = &v["choices"][0]["message"]["tool_calls"][0];
            assert_eq!(
                (&c["id"], &c["function"]["name"]),
                (&json!("chatcmpl-tool-r1"), &json!("get"))
            );
            c["function"]["arguments"].as_str().unwrap().to_string()
        };
        assert_eq!(whole(false), args_of(false, 2));
        assert_eq!(whole(true), bad);
    }
}
