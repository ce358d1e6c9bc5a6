//! The measuring OpenAI client: sends one request, reads the streamed (SSE) or whole response,
//! timestamps every text-carrying chunk as it arrives and classifies the outcome.

mod chunk;
mod pool;
mod sse;

pub use chunk::{Chunk, Usage};
pub use pool::{ConnPool, ConnectError};
pub use sse::SseParser;

use crate::request::{Failure, RequestData, RequestRecord, TokenSource};
use bytes::Bytes;
use fleetbench_common::plan::EndpointSpec;
use fleetbench_common::profile::ApiType;
use fleetbench_common::tokenize::count_words;
use http::{header, Request};
use http_body_util::{BodyExt, Full};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::time::timeout_at;

/// No byte for this long from a streaming response: `timeout_idle`.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("base_url {0:?} is not http://HOST:PORT[/PATH]")]
    BadUrl(String),
    #[error("cannot resolve {host}: {source}")]
    Resolve {
        host: String,
        #[source]
        source: std::io::Error,
    },
}

/// A client for one endpoint; shared by all request tasks of an agent.
#[derive(Debug)]
pub struct EndpointClient {
    pool: ConnPool,
    authority: String,
    path: String,
    authorization: Option<String>,
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
    streaming: bool,
    ignore_eos: bool,
    request_timeout: Duration,
}

impl EndpointClient {
    pub async fn new(
        spec: &EndpointSpec,
        request_timeout: Duration,
    ) -> Result<Self, EndpointError> {
        let rest = spec
            .base_url
            .strip_prefix("http://")
            .ok_or_else(|| EndpointError::BadUrl(spec.base_url.clone()))?;
        let (authority, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(EndpointError::BadUrl(spec.base_url.clone()));
        }
        let with_port = if authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        let addr: SocketAddr = tokio::net::lookup_host(&with_port)
            .await
            .map_err(|source| EndpointError::Resolve {
                host: with_port.clone(),
                source,
            })?
            .next()
            .ok_or_else(|| EndpointError::Resolve {
                host: with_port.clone(),
                source: std::io::Error::other("no address"),
            })?;
        let path = match spec.api {
            ApiType::Completion => format!("{prefix}/v1/completions"),
            ApiType::Chat => format!("{prefix}/v1/chat/completions"),
        };
        let headers = spec
            .headers
            .iter()
            .filter_map(|(k, v)| {
                Some((
                    http::HeaderName::from_bytes(k.as_bytes()).ok()?,
                    http::HeaderValue::from_str(v).ok()?,
                ))
            })
            .collect();
        Ok(EndpointClient {
            pool: ConnPool::new(addr),
            authority: authority.to_string(),
            path,
            authorization: spec.api_key.as_ref().map(|k| format!("Bearer {k}")),
            headers,
            streaming: spec.streaming,
            ignore_eos: spec.ignore_eos,
            request_timeout,
        })
    }

    /// Opens up to `n` keep-alive connections before `deadline`.
    pub async fn prewarm(&self, n: usize, deadline: std::time::Instant) {
        self.pool.prewarm(n, deadline).await;
    }

    /// The server's `/v1/models`: the model ids and the first entry's `owned_by`.
    pub async fn models(&self) -> Option<(Vec<String>, String)> {
        let mut sender = self.pool.checkout().await.ok()?;
        let prefix = self
            .path
            .trim_end_matches("/chat/completions")
            .trim_end_matches("/completions");
        let req = Request::get(format!("{prefix}/models"))
            .header(header::HOST, &self.authority)
            .body(Full::new(Bytes::new()))
            .ok()?;
        let resp = tokio::time::timeout(Duration::from_secs(10), sender.send_request(req))
            .await
            .ok()?
            .ok()?;
        let body = tokio::time::timeout(Duration::from_secs(10), resp.into_body().collect())
            .await
            .ok()?
            .ok()?
            .to_bytes();
        self.pool.give_back(sender);
        let v: serde_json::Value = serde_json::from_slice(&body).ok()?;
        let data = v.get("data")?.as_array()?;
        let ids = data
            .iter()
            .filter_map(|m| m.get("id")?.as_str().map(String::from))
            .collect();
        let owned_by = data
            .first()
            .and_then(|m| m.get("owned_by"))
            .and_then(|o| o.as_str())
            .unwrap_or_default()
            .to_string();
        Some((ids, owned_by))
    }

    /// Sends one request intended at `t_intended` and measures it.
    pub async fn execute(&self, data: &RequestData, t_intended: Instant) -> RequestRecord {
        let mut rec = RequestRecord {
            id: data.id.clone(),
            t_intended,
            t_sent: Instant::now(),
            t_first: None,
            t_end: Instant::now(),
            itl_us: Vec::new(),
            in_tokens: data.input_tokens as u64,
            out_tokens: 0,
            token_source: TokenSource::Chunks,
            outcome: Ok(()),
            error_body: None,
        };
        let mut sender = match self.pool.checkout().await {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!("request {}: {e}", data.index);
                rec.t_end = Instant::now();
                rec.outcome = Err(Failure::Connect);
                return rec;
            }
        };
        let mut builder = Request::post(self.path.as_str())
            .header(header::HOST, &self.authority)
            .header(header::CONTENT_TYPE, "application/json")
            .header("x-request-id", data.id.as_str());
        if let Some(a) = &self.authorization {
            builder = builder.header(header::AUTHORIZATION, a);
        }
        for (k, v) in &self.headers {
            builder = builder.header(k, v);
        }
        let req = match builder.body(Full::new(data.body.clone())) {
            Ok(r) => r,
            Err(_) => {
                rec.outcome = Err(Failure::Connect);
                return rec;
            }
        };
        rec.t_sent = Instant::now();
        let deadline = tokio::time::Instant::from_std(rec.t_sent + self.request_timeout);
        let resp = match timeout_at(deadline, sender.send_request(req)).await {
            Err(_) => return finish(rec, Failure::TimeoutHeaders),
            Ok(Err(e)) => {
                tracing::debug!("request {}: {e}", data.index);
                return finish(rec, Failure::Connect);
            }
            Ok(Ok(r)) => r,
        };
        let status = resp.status();
        let mut body = resp.into_body();
        if !status.is_success() {
            // Drain the error body so the connection can be reused; keep its start.
            if let Ok(Ok(b)) = timeout_at(deadline, body.collect()).await {
                rec.error_body = Some(crate::request::error_excerpt(&b.to_bytes()));
                self.pool.give_back(sender);
            }
            return finish(rec, Failure::Http(status.as_u16()));
        }
        if !self.streaming {
            let bytes = match timeout_at(deadline, body.collect()).await {
                Err(_) => return finish(rec, Failure::TimeoutTotal),
                Ok(Err(_)) => return finish(rec, Failure::Truncated),
                Ok(Ok(b)) => b.to_bytes(),
            };
            rec.t_end = Instant::now();
            self.pool.give_back(sender);
            return match Chunk::parse(&bytes) {
                Err(_) => finish_at(rec, Failure::Malformed),
                Ok(c) if c.is_error() => finish_at(rec, Failure::StreamError),
                Ok(c) => {
                    match c.usage.and_then(|u| u.completion_tokens) {
                        Some(n) => {
                            rec.out_tokens = n;
                            rec.token_source = TokenSource::Usage;
                        }
                        None => {
                            rec.out_tokens = count_words(&c.full_text()) as u64;
                            rec.token_source = TokenSource::Tokenizer;
                        }
                    }
                    if let Some(p) = c.usage.and_then(|u| u.prompt_tokens) {
                        rec.in_tokens = p;
                    }
                    self.check_length(rec, data)
                }
            };
        }

        let mut parser = SseParser::new();
        let mut st = StreamState::default();
        // One allocation for the gaps instead of a doubling series of reallocations (and copies)
        // per request; capped, as the stream may end long before `max_tokens`.
        st.itl_us
            .reserve((data.max_tokens as usize).saturating_sub(1).min(1024));
        loop {
            let idle = tokio::time::Instant::now() + IDLE_TIMEOUT;
            let frame = tokio::select! {
                f = body.frame() => f,
                _ = tokio::time::sleep_until(idle.min(deadline)) => {
                    let class = if idle < deadline { Failure::TimeoutIdle } else { Failure::TimeoutTotal };
                    return finish(rec, class);
                }
            };
            match frame {
                None => break,
                Some(Err(e)) => {
                    tracing::debug!("request {}: body: {e}", data.index);
                    st.failure.get_or_insert(Failure::Truncated);
                    break;
                }
                Some(Ok(frame)) => {
                    let Some(bytes) = frame.data_ref() else {
                        continue;
                    };
                    let now = Instant::now();
                    parser.feed(bytes, |event| st.on_event(event, now));
                    if st.done {
                        st.t_end = Some(now);
                    }
                }
            }
        }
        let now = Instant::now();
        parser.finish(|event| st.on_event(event, now));
        rec.t_end = st.t_end.unwrap_or(now);
        rec.t_first = st.t_first;
        rec.itl_us = std::mem::take(&mut st.itl_us);
        if let Some(f) = st.failure.take() {
            return finish_at(rec, f);
        }
        if !st.done {
            return finish_at(rec, Failure::Truncated);
        }
        self.pool.give_back(sender);
        match st.usage.and_then(|u| u.completion_tokens) {
            Some(n) => {
                rec.out_tokens = n;
                rec.token_source = TokenSource::Usage;
            }
            None => {
                rec.out_tokens = st.text_chunks;
                rec.token_source = TokenSource::Chunks;
            }
        }
        if let Some(p) = st.usage.and_then(|u| u.prompt_tokens) {
            rec.in_tokens = p;
        }
        self.check_length(rec, data)
    }

    fn check_length(&self, mut rec: RequestRecord, data: &RequestData) -> RequestRecord {
        if self.ignore_eos && rec.out_tokens < data.max_tokens as u64 {
            rec.outcome = Err(Failure::ShortOutput);
        }
        rec
    }
}

/// What the stream said so far.
#[derive(Default)]
struct StreamState {
    t_first: Option<Instant>,
    last_chunk: Option<Instant>,
    t_end: Option<Instant>,
    itl_us: Vec<u64>,
    text_chunks: u64,
    usage: Option<Usage>,
    done: bool,
    failure: Option<Failure>,
}

impl StreamState {
    fn on_event(&mut self, data: &[u8], now: Instant) {
        if self.done || self.failure.is_some() {
            return;
        }
        if data == b"[DONE]" {
            self.done = true;
            return;
        }
        match Chunk::parse(data) {
            Err(_) => self.failure = Some(Failure::Malformed),
            Ok(c) if c.is_error() => self.failure = Some(Failure::StreamError),
            Ok(c) => {
                if c.usage.is_some() {
                    self.usage = c.usage;
                }
                if c.carries_text() {
                    self.text_chunks += 1;
                    if self.t_first.is_none() {
                        self.t_first = Some(now);
                    }
                    if let Some(prev) = self.last_chunk {
                        self.itl_us
                            .push(now.duration_since(prev).as_micros() as u64);
                    }
                    self.last_chunk = Some(now);
                }
            }
        }
    }
}

fn finish(mut rec: RequestRecord, f: Failure) -> RequestRecord {
    rec.t_end = Instant::now();
    rec.outcome = Err(f);
    rec
}

fn finish_at(mut rec: RequestRecord, f: Failure) -> RequestRecord {
    rec.outcome = Err(f);
    rec
}
