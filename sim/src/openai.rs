//! OpenAI request and response shapes as vLLM speaks them: parsing of completion and chat
//! requests into a [`GenRequest`], the non-streamed response bodies, and error bodies.

use serde::Deserialize;
use serde_json::Value;

/// Which endpoint a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /v1/completions`
    Completions,
    /// `POST /v1/chat/completions`
    Chat,
}

/// Why a request body was refused (becomes a 400 with vLLM's error body).
#[derive(Debug, thiserror::Error)]
pub(crate) enum RequestError {
    #[error("invalid JSON body: {0}")]
    Json(#[from] serde_json::Error),
    #[error("field `{0}` is required")]
    Missing(&'static str),
    #[error("messages[].content: {0}")]
    Media(#[from] crate::media::MediaError),
    #[error("{0}")]
    Tools(String),
    #[error("field `{field}` must be {expected}")]
    Invalid {
        field: &'static str,
        expected: &'static str,
    },
}

#[derive(Debug, Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

#[derive(Debug, Deserialize)]
struct RawRequest {
    model: Option<String>,
    prompt: Option<Value>,
    messages: Option<Vec<RawMessage>>,
    #[serde(default)]
    stream: bool,
    stream_options: Option<StreamOptions>,
    max_tokens: Option<i64>,
    max_completion_tokens: Option<i64>,
    min_tokens: Option<i64>,
    #[serde(default)]
    ignore_eos: bool,
    kv_transfer_params: Option<Value>,
    tools: Option<Value>,
    tool_choice: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct RawMessage {
    #[serde(default)]
    content: Value,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    tool_call_id: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<Value>>,
}

/// The key of a KV handle in which `sim proxy` passes the transfer time it waited (µs).
pub(crate) const KV_TRANSFER_US: &str = "sim_kv_transfer_us";

/// A parsed generation request: what the sim needs, no more.
#[derive(Debug, Clone)]
pub(crate) struct GenRequest {
    /// Requested model name (None: the served model).
    pub(crate) model: Option<String>,
    pub(crate) stream: bool,
    pub(crate) include_usage: bool,
    pub(crate) max_tokens: Option<u32>,
    pub(crate) min_tokens: u32,
    pub(crate) ignore_eos: bool,
    /// Prompt tokens: the number of whitespace-separated words of the prompt(s) or of all
    /// messages' content.
    pub(crate) prompt_tokens: u32,
    /// One 64-bit id per prompt token (hash of the word), for prefix-cache block hashes.
    pub(crate) prompt_token_ids: Vec<u64>,
    /// P/D handle: present when a decode instance receives a request prefilled elsewhere.
    pub(crate) kv_transfer_params: Option<Value>,
    /// The media parts of a chat request and the prompt tokens charged for them (included in
    /// `prompt_tokens`).
    pub(crate) media: MediaCounts,
    /// A chat request's tools and `tool_choice` (`crate::tools`).
    pub(crate) tool_use: crate::tools::ToolUse,
}

/// A request's media parts by kind and their prompt tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct MediaCounts {
    /// `image_url` parts.
    pub(crate) images: u32,
    /// `input_audio` parts.
    pub(crate) audios: u32,
    /// `video_url` parts.
    pub(crate) videos: u32,
    /// Prompt tokens charged for them (`crate::media`'s rule).
    pub(crate) tokens: u32,
}

impl GenRequest {
    /// Parses a request body for `endpoint`. Prompt token ids are only computed when
    /// `want_token_ids` (engine mode needs them, deterministic mode does not).
    pub(crate) fn parse(
        endpoint: Endpoint,
        body: &[u8],
        want_token_ids: bool,
    ) -> Result<GenRequest, RequestError> {
        let raw: RawRequest = serde_json::from_slice(body)?;
        let mut words = WordCounter::new(want_token_ids);
        let mut tool_use = crate::tools::ToolUse::default();
        match endpoint {
            Endpoint::Completions => {
                let prompt = raw.prompt.ok_or(RequestError::Missing("prompt"))?;
                if !words.add_prompt(&prompt, 0) {
                    return Err(RequestError::Invalid {
                        field: "prompt",
                        expected: "a string, an array of strings, or token ids",
                    });
                }
            }
            Endpoint::Chat => {
                let messages = raw.messages.ok_or(RequestError::Missing("messages"))?;
                tool_use = crate::tools::check(raw.tools.as_ref(), raw.tool_choice.as_ref())
                    .map_err(RequestError::Tools)?;
                crate::tools::check_history_calls(
                    messages.iter().filter_map(|m| m.tool_calls.as_deref()),
                )
                .map_err(RequestError::Tools)?;
                tool_use.results = (messages.iter())
                    .filter(|m| m.role.as_deref() == Some("tool"))
                    .filter_map(|m| m.tool_call_id.clone())
                    .collect();
                for m in &messages {
                    match &m.content {
                        Value::String(s) => words.add(s),
                        Value::Array(parts) => {
                            for p in parts {
                                match crate::media::part(p)? {
                                    Some((m, hash)) => words.add_media(m, hash),
                                    None => {
                                        if let Some(t) = p.get("text").and_then(Value::as_str) {
                                            words.add(t);
                                        }
                                    }
                                }
                            }
                        }
                        Value::Null => {}
                        _ => {
                            return Err(RequestError::Invalid {
                                field: "messages[].content",
                                expected: "a string or an array of content parts",
                            })
                        }
                    }
                }
            }
        }
        let max_tokens = match endpoint {
            Endpoint::Chat => raw.max_completion_tokens.or(raw.max_tokens),
            Endpoint::Completions => raw.max_tokens,
        };
        let max_tokens = match max_tokens {
            None => None,
            Some(n) if (1..=u32::MAX as i64).contains(&n) => Some(n as u32),
            Some(_) => {
                return Err(RequestError::Invalid {
                    field: "max_tokens",
                    expected: "a positive integer",
                })
            }
        };
        let min_tokens = match raw.min_tokens {
            None => 0,
            Some(n) if (0..=u32::MAX as i64).contains(&n) => n as u32,
            Some(_) => {
                return Err(RequestError::Invalid {
                    field: "min_tokens",
                    expected: "a non-negative integer",
                })
            }
        };
        Ok(GenRequest {
            model: raw.model,
            stream: raw.stream,
            include_usage: raw.stream_options.is_some_and(|o| o.include_usage),
            max_tokens,
            min_tokens,
            ignore_eos: raw.ignore_eos,
            prompt_tokens: words.count,
            prompt_token_ids: words.ids,
            kv_transfer_params: raw.kv_transfer_params,
            media: words.media,
            tool_use,
        })
    }

    /// The KV transfer time `sim proxy` waited for this request (`sim_kv_transfer_us` in its
    /// KV handle; zero without one).
    pub(crate) fn kv_transfer_time(&self) -> std::time::Duration {
        let us = self
            .kv_transfer_params
            .as_ref()
            .and_then(|p| p.get(KV_TRANSFER_US))
            .and_then(Value::as_f64)
            .filter(|v| v.is_finite() && *v >= 0.0)
            .unwrap_or(0.0);
        std::time::Duration::from_secs_f64(us.min(3.6e9) / 1e6)
    }

    /// True when this request carries a KV handle from a prefill instance.
    pub(crate) fn has_remote_prefill(&self) -> bool {
        self.kv_transfer_params
            .as_ref()
            .and_then(|p| p.get("do_remote_prefill"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }
}

/// Counts whitespace-separated words and optionally hashes each into a token id.
struct WordCounter {
    count: u32,
    ids: Vec<u64>,
    want_ids: bool,
    media: MediaCounts,
}

impl WordCounter {
    fn new(want_ids: bool) -> Self {
        WordCounter {
            count: 0,
            ids: Vec::new(),
            want_ids,
            media: MediaCounts::default(),
        }
    }

    /// Adds a media part: its tokens, each with an id from its bytes' hash and its position
    /// (the same media at the same place hit the prefix cache).
    fn add_media(&mut self, m: crate::media::Media, hash: u64) {
        let n = m.tokens();
        match m {
            crate::media::Media::Image { .. } => self.media.images += 1,
            crate::media::Media::Audio { .. } => self.media.audios += 1,
            crate::media::Media::Video { .. } => self.media.videos += 1,
        }
        self.media.tokens = self.media.tokens.saturating_add(n);
        self.count = self.count.saturating_add(n);
        if self.want_ids {
            self.ids
                .extend((0..u64::from(n)).map(|i| hash ^ i.wrapping_mul(0x9E37_79B9)));
        }
    }

    /// Adds a completions prompt: a string, token ids, or an array of either (one level of
    /// nesting). Returns false for any other shape.
    fn add_prompt(&mut self, v: &Value, depth: u32) -> bool {
        match v {
            Value::String(s) => {
                self.add(s);
                true
            }
            Value::Number(n) if depth > 0 => match n.as_u64() {
                Some(id) => {
                    self.count = self.count.saturating_add(1);
                    if self.want_ids {
                        self.ids.push(id);
                    }
                    true
                }
                None => false,
            },
            Value::Array(items) if depth < 2 => items.iter().all(|i| self.add_prompt(i, depth + 1)),
            _ => false,
        }
    }

    fn add(&mut self, text: &str) {
        for w in text.split_whitespace() {
            self.count = self.count.saturating_add(1);
            if self.want_ids {
                self.ids.push(word_id(w));
            }
        }
    }
}

/// FNV-1a of a word: a stable token id for the fallback whitespace tokenizer.
pub(crate) fn word_id(word: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in word.as_bytes() {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// JSON string literal (with quotes) of `s`.
pub(crate) fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
}

/// vLLM/OpenAI error body: `{"error": {"message", "type", "param", "code"}}`.
pub(crate) fn error_body(status: u16, kind: &str, message: &str, param: Option<&str>) -> String {
    serde_json::json!({
        "error": {
            "message": message,
            "type": kind,
            "param": param,
            "code": status,
        }
    })
    .to_string()
}

/// Token usage as reported in `usage`.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    /// `prompt_tokens`.
    pub prompt_tokens: u32,
    /// `completion_tokens`.
    pub completion_tokens: u32,
    /// `prompt_tokens_details.cached_tokens` (with `--cached-tokens`).
    pub cached_tokens: Option<u32>,
}

impl Usage {
    /// The `usage` object of a response.
    pub(crate) fn json(&self) -> Value {
        let mut v = serde_json::json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens as u64 + self.completion_tokens as u64,
        });
        if let (Some(c), Some(o)) = (self.cached_tokens, v.as_object_mut()) {
            o.insert(
                "prompt_tokens_details".into(),
                serde_json::json!({"cached_tokens": c}),
            );
        }
        v
    }
}

/// The text of one output token: every token is the word " tok".
pub(crate) const TOKEN_TEXT: &str = " tok";

/// Text of `n` output tokens.
pub(crate) fn output_text(n: u32) -> String {
    TOKEN_TEXT.repeat(n as usize)
}

/// The non-streamed response body for a finished request.
pub(crate) fn full_response(
    endpoint: Endpoint,
    id: &str,
    created: u64,
    model: &str,
    usage: Usage,
    finish_reason: &str,
    kv_transfer_params: Option<Value>,
) -> Value {
    let text = output_text(usage.completion_tokens);
    let mut v = match endpoint {
        Endpoint::Completions => serde_json::json!({
            "id": format!("cmpl-{id}"),
            "object": "text_completion",
            "created": created,
            "model": model,
            "choices": [{
                "index": 0,
                "text": text,
                "logprobs": null,
                "finish_reason": finish_reason,
                "stop_reason": null,
            }],
            "usage": usage.json(),
        }),
        Endpoint::Chat => serde_json::json!({
            "id": format!("chatcmpl-{id}"),
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "logprobs": null,
                "finish_reason": finish_reason,
                "stop_reason": null,
            }],
            "usage": usage.json(),
        }),
    };
    if let (Some(p), Some(obj)) = (kv_transfer_params, v.as_object_mut()) {
        obj.insert("kv_transfer_params".to_string(), p);
    }
    v
}

/// Makes a whole chat response's message a call of `call.name` instead of text, its arguments
/// those of `tokens` tokens (`ToolCall::arguments`), as vLLM answers a named tool choice.
pub(crate) fn put_tool_call(response: &mut Value, call: &crate::tools::ToolCall, tokens: u32) {
    response["choices"][0]["message"] = serde_json::json!({
        "role": "assistant",
        "content": "",
        "tool_calls": [{"id": call.id, "type": "function",
            "function": {"name": call.name, "arguments": call.arguments(&output_text(tokens))}}],
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_words_of_all_prompts_and_messages() {
        let r = GenRequest::parse(
            Endpoint::Completions,
            br#"{"prompt":["a b  c","d\te"],"max_tokens":5,"stream":true,"stream_options":{"include_usage":true}}"#,
            true,
        )
        .unwrap();
        assert_eq!(r.prompt_tokens, 5);
        assert_eq!(r.prompt_token_ids.len(), 5);
        assert_eq!(r.max_tokens, Some(5));
        assert!(r.include_usage && r.stream);
        let c = GenRequest::parse(
            Endpoint::Chat,
            br#"{"messages":[{"role":"system","content":"x y"},{"role":"user","content":[{"type":"text","text":"z"}]}],"max_completion_tokens":3,"max_tokens":9}"#,
            false,
        )
        .unwrap();
        assert_eq!(c.prompt_tokens, 3);
        assert_eq!(c.max_tokens, Some(3));
        let ids =
            GenRequest::parse(Endpoint::Completions, br#"{"prompt":[[1,2,3],[4]]}"#, true).unwrap();
        assert_eq!(ids.prompt_tokens, 4);
        assert_eq!(ids.prompt_token_ids, vec![1, 2, 3, 4]);
    }

    #[test]
    fn refuses_bad_input() {
        assert!(GenRequest::parse(Endpoint::Completions, b"{", false).is_err());
        assert!(GenRequest::parse(Endpoint::Completions, b"{}", false).is_err());
        assert!(GenRequest::parse(
            Endpoint::Completions,
            br#"{"prompt":"a","max_tokens":0}"#,
            false
        )
        .is_err());
        assert!(GenRequest::parse(Endpoint::Chat, br#"{"prompt":"a"}"#, false).is_err());
        assert!(GenRequest::parse(Endpoint::Completions, br#"{"prompt":5}"#, false).is_err());
        assert!(GenRequest::parse(Endpoint::Completions, br#"{"prompt":[[[1]]]}"#, false).is_err());
    }
}
