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
    /// `data: {"id":...,"model":...,"choices":[],"usage":` prefix of the usage chunk.
    usage_head: Vec<u8>,
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
            usage_head: format!("{common}\"choices\":[],\"usage\":").into_bytes(),
        };
        let mut token = Vec::new();
        t.splice(&mut token, TOKEN_TEXT, None);
        t.token = token;
        t
    }

    fn splice<B: BufMut>(&self, buf: &mut B, text: &str, finish: Option<&str>) {
        buf.put_slice(&self.head);
        buf.put_slice(text.as_bytes());
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
        self.splice(buf, TOKEN_TEXT, Some(finish_reason));
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
    use serde_json::Value;

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
}
