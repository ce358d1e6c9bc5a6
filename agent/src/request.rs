//! One request: its data (derived from the stage seed and its global index, so every agent would
//! build the same request j), its body, and what happened to it.

pub use crate::media::MediaSent;
use bytes::Bytes;
use fleetbench_model::settings::ApiType;
use fleetbench_model::spec::ShardSpec;
use std::sync::Arc;
use std::time::Instant;

/// What to send for one request.
#[derive(Debug, Clone)]
pub struct RequestData {
    /// The request's index in the stage (over all agents).
    pub index: u64,
    /// `<stage>-<index>`, sent as `x-request-id` (the sim's ground truth keys on it).
    pub id: String,
    /// Prompt tokens as built (the server's usage is what gets recorded).
    pub input_tokens: u32,
    /// `max_tokens` sent.
    pub max_tokens: u32,
    /// The JSON body, encoded once before the stage starts.
    pub body: Bytes,
    /// Headers of this request alone (`api.session_id_header_key` with its session's id).
    pub headers: Vec<(String, String)>,
    /// The id of the session the request belongs to, `<stage>-session-<n>`, when the profile
    /// names a session header (`api.session_id_header_key`, `api.session_token_header_key`).
    pub session: Option<String>,
    /// The media it sends, in a stage with `data.multimodal` (also when it drew none).
    pub media: Option<Arc<MediaSent>>,
    /// Keep the reply, the assistant message the server made, in the record (an OTel replay's
    /// call whose output a successor carries); off on the hot path of every other load.
    pub capture_reply: bool,
    /// The body asks the server to stop at its end of sequence whatever the endpoint's
    /// `ignore_eos` (a replayed call with tools), so a shorter output is no failure.
    pub stops_at_eos: bool,
}

impl RequestData {
    /// Request `index` of the shard's stage: its prompt and lengths from the shard's data source
    /// (`fleetbench_model::data`), the body for the endpoint's API.
    pub fn build(spec: &ShardSpec, index: u64) -> RequestData {
        let endpoint = &spec.endpoint;
        let content = spec.data.request(spec.seed, index);
        let (prompt, input_tokens, max_tokens) =
            (&content.prompt, content.input_tokens, content.max_tokens);
        // A LoRA mix names an adapter per request; else the endpoint's model.
        let model = content.model.as_deref().unwrap_or(&endpoint.model);
        let with_media = matches!(endpoint.api, ApiType::Chat)
            && (spec.data.media.is_some()
                || spec.data.prefix_media.is_some()
                || spec.data.stored_media.is_some());
        let (media_parts, media) = match with_media {
            true if !content.media.is_empty() => {
                let (parts, sent) = crate::media::content_parts(prompt, &content.media);
                (Some(parts), Some(Arc::new(sent)))
            }
            true => (None, Some(Arc::default())),
            false => (None, None),
        };
        let body = match endpoint.api {
            ApiType::Completion => serde_json::json!({
                "model": model,
                "prompt": prompt,
                "max_tokens": max_tokens,
                "ignore_eos": endpoint.ignore_eos,
                "stream": endpoint.streaming,
                "stream_options": endpoint.streaming.then(|| serde_json::json!({"include_usage": true})),
            }),
            ApiType::Chat => serde_json::json!({
                "model": model,
                "messages": match &content.messages {
                    _ if !content.media.is_empty() => vec![serde_json::json!({
                        "role": "user",
                        "content": media_parts,
                    })],
                    Some(turns) => turns
                        .iter()
                        .map(|(role, text)| serde_json::json!({"role": role, "content": text}))
                        .collect::<Vec<_>>(),
                    None => vec![serde_json::json!({"role": "user", "content": prompt})],
                },
                "max_tokens": max_tokens,
                "ignore_eos": endpoint.ignore_eos,
                "stream": endpoint.streaming,
                "stream_options": endpoint.streaming.then(|| serde_json::json!({"include_usage": true})),
            }),
        };
        let session = session_id(spec, index);
        let mut body = body;
        if let Some(o) = body.as_object_mut() {
            o.retain(|_, v| !v.is_null());
            if let Some(rf) = &endpoint.response_format {
                o.insert("response_format".into(), rf.clone());
            }
            // A prompt in the chat template carries its special tokens (BOS among them): the
            // server must add none, or its prompt count exceeds the configured length.
            if spec.data.chat_wrap.is_some() && matches!(endpoint.api, ApiType::Completion) {
                o.insert("add_special_tokens".into(), serde_json::Value::Bool(false));
            }
        }
        RequestData {
            index,
            id: format!("{}-{index}", spec.stage),
            input_tokens,
            max_tokens,
            // A json! value always serializes.
            body: Bytes::from(serde_json::to_vec(&body).unwrap_or_default()),
            headers: (spec.endpoint.session_id_header.clone())
                .zip(session.clone())
                .into_iter()
                .collect(),
            session,
            media,
            capture_reply: false,
            stops_at_eos: false,
        }
    }
}

/// The id of the session request `index` belongs to, `<stage>-session-<n>` (the same on every
/// round of the session, on every agent), when a session header asks for it; none for data
/// without sessions, as inference-perf sends session headers only where a request has one.
fn session_id(spec: &ShardSpec, index: u64) -> Option<String> {
    let e = &spec.endpoint;
    if e.session_id_header.is_none() && e.session_token_header.is_none() {
        return None;
    }
    let session = spec.data.source.session_of(index)?;
    Some(format!("{}-session-{session}", spec.stage))
}

/// A request's failure class (`docs/metrics.md`, "A request's outcome").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The server answered with this non-2xx status.
    Http(u16),
    /// No connection (refused, reset, TLS failed) before any response byte.
    Connect,
    /// No response headers within `timeout_headers`.
    TimeoutHeaders,
    /// A streamed response was silent longer than `timeout_idle`.
    TimeoutIdle,
    /// The request took longer than `timeout_total`.
    TimeoutTotal,
    /// The stream (or body) carried an error object.
    StreamError,
    /// An unparseable chunk or body.
    Malformed,
    /// The body ended, or its connection broke, before `[DONE]`.
    Truncated,
    /// Fewer output tokens than `max_tokens` while `ignore_eos` was asked.
    ShortOutput,
    /// Still in flight when the stage's grace period ended: abandoned.
    Incomplete,
    /// Not sent: due more than the agent's `--max-send-lag` ago (the agent had stalled).
    ClientLate,
    /// An SSE line or event, or a whole non-streamed body, beyond the client's caps.
    OversizedEvent,
    /// A session's round cancelled (or not started) by its stage's `timeout`.
    SessionTimeout,
}

impl Failure {
    pub(crate) fn class(&self) -> String {
        match self {
            Failure::Http(s) => format!("http_{s}"),
            Failure::Connect => "connect".into(),
            Failure::TimeoutHeaders => "timeout_headers".into(),
            Failure::TimeoutIdle => "timeout_idle".into(),
            Failure::TimeoutTotal => "timeout_total".into(),
            Failure::StreamError => "stream_error".into(),
            Failure::Malformed => "malformed".into(),
            Failure::Truncated => "truncated".into(),
            Failure::ShortOutput => "short_output".into(),
            Failure::Incomplete => "incomplete".into(),
            Failure::ClientLate => "client_late".into(),
            Failure::OversizedEvent => "oversized_event".into(),
            Failure::SessionTimeout => "session_timeout".into(),
        }
    }
}

/// Where an ok request's output token count came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// `usage.completion_tokens` from the server.
    Usage,
    /// The number of text-carrying chunks (one token per chunk).
    Chunks,
    /// The tokenizer's count of the generated text.
    Tokenizer,
}

/// Everything measured about one request, in the agent's monotonic clock.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    /// The request's `x-request-id`.
    pub id: String,
    /// When it was due (latency counts from here).
    pub t_intended: Instant,
    /// When its bytes were handed to the connection.
    pub t_sent: Instant,
    /// When the first text-carrying chunk arrived.
    pub t_first: Option<Instant>,
    /// When the response ended (or the request failed).
    pub t_end: Instant,
    /// Gaps between consecutive text-carrying chunks, µs.
    pub itl_us: Vec<u64>,
    /// Prompt tokens (see `token_source`).
    pub in_tokens: u64,
    /// Output tokens (see `token_source`).
    pub out_tokens: u64,
    /// Where the token counts came from.
    pub token_source: TokenSource,
    /// `usage.prompt_tokens_details.cached_tokens`: prompt tokens the server took from its
    /// prefix cache, when it said.
    pub cached_tokens: Option<u64>,
    /// Success, or the failure class.
    pub outcome: Result<(), Failure>,
    /// The response's HTTP status code; 0 when no response arrived.
    pub http_status: u16,
    /// The start of the body of a non-2xx response ([`error_excerpt`]).
    pub error_body: Option<String>,
    /// Attempts sent again under `load.request_retries` (the measurements still count from the
    /// intended time, the first attempt's wait and the backoff included).
    pub retries: u32,
    /// Bytes of the request's body.
    pub body_bytes: u64,
    /// The media it sent, in a stage with `data.multimodal`.
    pub media: Option<Arc<MediaSent>>,
    /// The assistant message the server made, when the request asked for it
    /// ([`RequestData::capture_reply`]; none when it was over [`MAX_CAPTURED_TEXT`] bytes).
    pub reply: Option<serde_json::Value>,
}

/// Bytes of reply (text, reasoning, tool calls) a request keeps when it captures it.
pub(crate) const MAX_CAPTURED_TEXT: usize = 4 << 20;

/// Bytes of an error body that travel to the coordinator (per failure class, the first one).
pub(crate) const ERROR_BODY_KEEP: usize = 512;

/// The first [`ERROR_BODY_KEEP`] bytes of an error body as text: cut at a character boundary,
/// invalid UTF-8 replaced.
pub(crate) fn error_excerpt(body: &[u8]) -> String {
    let head = &body[..body.len().min(ERROR_BODY_KEEP)];
    match std::str::from_utf8(head) {
        Ok(s) => s.to_string(),
        // A character cut by the limit is dropped; anything else invalid is replaced.
        Err(e) if e.error_len().is_none() => {
            String::from_utf8_lossy(&head[..e.valid_up_to()]).into_owned()
        }
        Err(_) => {
            let mut s = String::from_utf8_lossy(head).into_owned();
            while s.len() > ERROR_BODY_KEEP {
                s.pop();
            }
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_format_is_sent_as_given() {
        use crate::test_spec::{one_request, shard_spec};
        use fleetbench_model::data::DataSource;
        use fleetbench_model::settings::ApiType;
        // `api: {type: chat, response_format: {type: json_schema, name: n, json_schema: {type:
        // object}}}` with `data: {type: mock}`: the plan puts the body's value in the spec.
        let mut spec = shard_spec(
            ApiType::Chat,
            DataSource::Mock { chat: true },
            one_request(),
        );
        spec.endpoint.response_format = Some(serde_json::json!(
            {"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "object"}}}
        ));
        let body: serde_json::Value =
            serde_json::from_slice(&RequestData::build(&spec, 2).body).unwrap();
        assert_eq!(
            body["response_format"],
            serde_json::json!({"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "object"}}})
        );
        assert_eq!(body["messages"][0]["content"], "mock prompt 3");
        assert_eq!(body["max_tokens"], 30);
    }

    #[test]
    fn a_templated_prompt_asks_the_server_to_add_no_special_tokens() {
        use crate::test_spec::{one_request, shard_spec};
        use fleetbench_model::data::{ChatWrap, DataSource, LengthSpec};
        let source = DataSource::Synthetic {
            input: LengthSpec::fixed(10),
            output: LengthSpec::fixed(4),
        };
        let mut spec = shard_spec(ApiType::Completion, source, one_request());
        let plain: serde_json::Value =
            serde_json::from_slice(&RequestData::build(&spec, 0).body).unwrap();
        assert!(plain.get("add_special_tokens").is_none(), "{plain}");
        spec.data.chat_wrap = Some(ChatWrap {
            prefix: "<s> <|user|> ".into(),
            suffix: " <|assistant|> ".into(),
            tokens: 3,
        });
        let body: serde_json::Value =
            serde_json::from_slice(&RequestData::build(&spec, 0).body).unwrap();
        assert_eq!(body["add_special_tokens"], false);
        let prompt = body["prompt"].as_str().unwrap();
        assert!(prompt.starts_with("<s> <|user|> ") && prompt.ends_with(" <|assistant|> "));
        // 10 tokens: the template's 3 and 7 words.
        assert_eq!(prompt.split_whitespace().count(), 10);
    }

    #[test]
    fn an_error_excerpt_is_at_most_the_limit_and_valid_utf8() {
        assert_eq!(
            error_excerpt(b"{\"error\": \"nope\"}"),
            "{\"error\": \"nope\"}"
        );
        let long = "é".repeat(400); // 800 bytes
        let e = error_excerpt(long.as_bytes());
        assert_eq!(e.len(), 512);
        assert!(e.chars().all(|c| c == 'é'));
        let odd = [b'a'; 511]
            .iter()
            .copied()
            .chain([0xE2, 0x82, 0xAC])
            .collect::<Vec<u8>>();
        assert_eq!(error_excerpt(&odd), "a".repeat(511));
        let bad = error_excerpt(&[b'x', 0xFF, b'y']);
        assert_eq!(bad, "x\u{FFFD}y");
        assert!(error_excerpt(&vec![0xFF; 600]).len() <= 512);
    }
}
