//! The measuring OpenAI client: sends one request, reads the streamed (SSE) or whole response,
//! timestamps every text-carrying chunk as it arrives and classifies the outcome.

mod body;
mod chunk;
mod cursor;
mod exchange;
mod get;
mod h1;
mod h2_clock;
mod pool;
mod reply;
mod scan;
mod session;
mod sse;
mod stamped;
mod tls;

use body::{read_capped, BodyEnd};
pub use chunk::Chunk;
pub use chunk::Usage;
use exchange::{Exchange, Step};
pub use get::GetError;
pub(crate) use pool::{ConnPool, ConnStats, ConnectError, ReuseHints, Target};
pub use scan::{Facts, Resume};
pub use sse::{Oversized, SseParser};
pub use tls::{EndpointTrust, TrustError};

use crate::request::{Failure, RequestData, RequestRecord, TokenSource};
use bytes::Bytes;
use fleetbench_model::settings::ApiType;
use fleetbench_model::spec::EndpointSpec;
use fleetbench_model::tokenize::count_words;
use http::{header, Request};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::time::timeout_at;

/// No byte for this long from a streaming response: `timeout_idle`.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// No response headers this long after a streamed request's send: `timeout_headers`. Streaming
/// servers send their headers when the request is admitted (vLLM, SGLang) or with the first
/// token (llama.cpp), so this also bounds the queueing a request may see. (A non-streamed
/// response's headers come with the whole answer: only the total timeout applies.)
pub(crate) const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(300);

/// The most of an error body that is read (the rest is discarded with the connection).
pub(crate) const MAX_ERROR_BODY: usize = 64 * 1024;

/// The largest non-streamed response body accepted (`oversized_event` beyond).
pub(crate) const MAX_BODY: usize = 16 << 20;

/// The client's timeouts: response headers, silence between chunks, and the whole request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Longest wait for the response headers after the send (`timeout_headers`).
    pub first_byte: Duration,
    /// Longest silence between two chunks of a stream (`timeout_idle`).
    pub idle: Duration,
    /// Longest a whole request may take (`timeout_total`).
    pub total: Duration,
}

impl Timeouts {
    /// The defaults with the given total (the profile's `load.request_timeout`).
    pub fn with_total(total: Duration) -> Timeouts {
        Timeouts {
            first_byte: FIRST_BYTE_TIMEOUT.min(total),
            idle: IDLE_TIMEOUT.min(total),
            total,
        }
    }
}

/// Why a client for an endpoint cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// The base URL is not `http(s)://HOST[:PORT][/PATH]`.
    #[error("base_url {0:?} is not http(s)://HOST[:PORT][/PATH]")]
    BadUrl(String),
    /// An HTTPS base URL whose host cannot be a certificate's name (`url`, `host`).
    #[error("base_url {url:?}: {host:?} is not a name a TLS certificate can carry")]
    BadServerName {
        /// The base URL.
        url: String,
        /// Its host.
        host: String,
    },
    /// The client certificate or the CA file cannot be used.
    #[error(transparent)]
    ClientCert(#[from] TrustError),
    /// The host name does not resolve.
    #[error("cannot resolve {host}: {source}")]
    Resolve {
        /// `HOST:PORT` that was looked up.
        host: String,
        /// The resolver's error.
        #[source]
        source: std::io::Error,
    },
}

/// A client for one endpoint; shared by all request tasks of an agent.
#[derive(Debug)]
pub struct EndpointClient {
    pool: ConnPool,
    /// `Host` of HTTP/1.1 requests.
    host: http::HeaderValue,
    /// The request path (HTTP/1.1's origin form).
    path: http::Uri,
    /// `scheme://authority/path`: HTTP/2's `:scheme`, `:authority` and `:path`.
    absolute: http::Uri,
    authorization: Option<String>,
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
    streaming: bool,
    ignore_eos: bool,
    timeouts: Timeouts,
    /// `load.request_retries` and the base backoff, seconds.
    retries: u32,
    retry_backoff_s: f64,
    /// `api.session_token_header_key`: the tokens the server assigned, per session.
    session_tokens: Option<session::SessionTokens>,
}

/// Why an attempt got no response: the failure, and whether another attempt may help (a
/// connection refused, reset or closed before any response byte; not a timeout, nor a TLS
/// handshake that fails the same way every time — inference-perf's rule).
struct NoResponse {
    failure: Failure,
    retryable: bool,
}

impl NoResponse {
    fn connect(e: &ConnectError) -> NoResponse {
        NoResponse {
            failure: Failure::Connect,
            retryable: !matches!(e, ConnectError::Tls { .. }),
        }
    }

    fn fatal(failure: Failure) -> NoResponse {
        NoResponse {
            failure,
            retryable: false,
        }
    }
}

impl EndpointClient {
    /// A client for `spec`'s `http://` or `https://` base URL (HTTPS trusting `trust`).
    pub async fn new(
        spec: &EndpointSpec,
        timeouts: Timeouts,
        trust: &EndpointTrust,
    ) -> Result<Self, EndpointError> {
        let bad = || EndpointError::BadUrl(spec.base_url.clone());
        let (https, rest) = match spec.base_url.split_once("://") {
            Some(("http", rest)) => (false, rest),
            Some(("https", rest)) => (true, rest),
            _ => return Err(bad()),
        };
        let (authority, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(bad());
        }
        let host = match authority.rsplit_once(':') {
            Some((h, p)) if p.parse::<u16>().is_ok() => h,
            _ => authority,
        };
        let with_port = if host.len() < authority.len() {
            authority.to_string()
        } else {
            format!("{authority}:{}", if https { 443 } else { 80 })
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
        let tls = if https {
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            let name = rustls::pki_types::ServerName::try_from(bare.to_string()).map_err(|_| {
                EndpointError::BadServerName {
                    url: spec.base_url.clone(),
                    host: bare.to_string(),
                }
            })?;
            Some(tls::TlsTarget {
                connector: trust.connector(spec.http_version, spec.client_cert.as_ref())?,
                name,
            })
        } else {
            None
        };
        let path = match spec.api {
            ApiType::Completion => format!("{prefix}/v1/completions"),
            ApiType::Chat => format!("{prefix}/v1/chat/completions"),
        };
        let scheme = if https { "https" } else { "http" };
        let absolute = format!("{scheme}://{authority}{path}")
            .parse()
            .map_err(|_| bad())?;
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
            pool: ConnPool::new(Target {
                addr,
                tls,
                version: spec.http_version,
            }),
            host: http::HeaderValue::from_str(authority).map_err(|_| bad())?,
            path: path.parse().map_err(|_| bad())?,
            absolute,
            authorization: spec.api_key.as_ref().map(|k| format!("Bearer {k}")),
            headers,
            streaming: spec.streaming,
            ignore_eos: spec.ignore_eos,
            timeouts,
            retries: spec.request_retries,
            retry_backoff_s: spec.retry_backoff_s,
            session_tokens: (spec.session_token_header.as_deref())
                .and_then(session::SessionTokens::new),
        })
    }

    /// Opens up to `n` keep-alive connections before `deadline`.
    pub async fn prewarm(&self, n: usize, deadline: std::time::Instant) {
        self.pool.prewarm(n, deadline).await;
    }

    /// Opens (or finds) a connection and keeps it for the next request: the preflight's check
    /// that names a refused connection or a failed TLS handshake.
    pub(crate) async fn check_connection(&self) -> Result<(), ConnectError> {
        let conn = self.pool.checkout().await?;
        self.pool.give_back(conn, ReuseHints::default());
        Ok(())
    }

    /// `GET` of `path` (`/health`, `/v1/models`) under the base URL's path, on one of this
    /// client's connections, within `limit`: the status and the body, at most `max_body` bytes.
    pub async fn get(
        &self,
        path: &str,
        max_body: usize,
        limit: Duration,
    ) -> Result<(http::StatusCode, Bytes), GetError> {
        let base = (self.path.path())
            .trim_end_matches("/v1/chat/completions")
            .trim_end_matches("/v1/completions");
        let scheme = self.absolute.scheme_str().unwrap_or("http");
        let authority = self.absolute.authority().map_or("", |a| a.as_str());
        let target = get::GetTarget {
            host: &self.host,
            origin_form: format!("{base}{path}"),
            absolute_form: format!("{scheme}://{authority}{base}{path}"),
        };
        get::get(&self.pool, target, max_body, limit).await
    }

    /// The connection pool (limits, idle sweeping, counts).
    pub(crate) fn pool(&self) -> &ConnPool {
        &self.pool
    }

    /// The server's `/v1/models`: the model ids and the first entry's `owned_by`.
    pub(crate) async fn models(&self) -> Option<(Vec<String>, String)> {
        let (status, body) = (self
            .get("/v1/models", MAX_BODY, Duration::from_secs(10))
            .await)
            .ok()?;
        if !status.is_success() {
            return None;
        }
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

    /// Sends the request on a pooled connection; when a reused connection fails before any
    /// response byte (the server closed it while it sat idle, or under the request being
    /// written), sends it once more on a fresh connection, as hyper's pool and browsers do.
    async fn send(
        &self,
        data: &RequestData,
        first_byte: tokio::time::Instant,
    ) -> Result<Exchange, NoResponse> {
        let mut conn = match self.pool.checkout().await {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!("request {}: {e}", data.index);
                return Err(NoResponse::connect(&e));
            }
        };
        loop {
            let req = (self.build(data, conn.sender.is_h2()))
                .ok_or(NoResponse::fatal(Failure::Connect))?;
            let reused = conn.reused;
            match timeout_at(first_byte, exchange::send(conn, req)).await {
                Err(_) => return Err(NoResponse::fatal(Failure::TimeoutHeaders)),
                Ok(Ok(ex)) => return Ok(ex),
                Ok(Err(e)) if reused && e.retryable() => {
                    tracing::debug!(
                        "request {}: reused connection failed before a response ({e}); retrying on a fresh one",
                        data.index
                    );
                    self.pool.count_retry();
                    conn = match timeout_at(first_byte, self.pool.fresh()).await {
                        Ok(Ok(c)) => c,
                        Ok(Err(e)) => {
                            tracing::debug!("request {}: {e}", data.index);
                            return Err(NoResponse::connect(&e));
                        }
                        Err(_) => return Err(NoResponse::fatal(Failure::TimeoutHeaders)),
                    };
                }
                Ok(Err(e)) => {
                    tracing::debug!("request {}: {e}", data.index);
                    return Err(NoResponse {
                        failure: Failure::Connect,
                        retryable: e.retryable(),
                    });
                }
            }
        }
    }

    /// [`Self::send`] with `load.request_retries`: an attempt that got no response for a
    /// retryable reason is sent again after `retry_backoff_s` · 2^k · (0.5 + U[0, 1)), k = 0,
    /// 1, ... (inference-perf's backoff with jitter), each attempt with the whole timeouts;
    /// `rec.retries` counts the attempts sent again. Returns the response and its deadline.
    async fn send_attempts(
        &self,
        data: &RequestData,
        rec: &mut RequestRecord,
    ) -> Result<(Exchange, tokio::time::Instant), Failure> {
        let t = self.timeouts;
        loop {
            let begun = Instant::now();
            let deadline = tokio::time::Instant::from_std(begun + t.total);
            // A non-streamed response's headers come with the whole answer: only the total
            // bounds it.
            let first_byte = if self.streaming {
                deadline.min(tokio::time::Instant::from_std(begun + t.first_byte))
            } else {
                deadline
            };
            match self.send(data, first_byte).await {
                Ok(ex) => return Ok((ex, deadline)),
                Err(e) if e.retryable && rec.retries < self.retries => {
                    let k = rec.retries.min(30);
                    let wait =
                        self.retry_backoff_s * f64::from(1u32 << k) * (0.5 + rand::random::<f64>());
                    rec.retries += 1;
                    tracing::debug!(
                        "request {}: no response ({}); attempt {} of {} in {wait:.3} s",
                        data.index,
                        e.failure.class(),
                        rec.retries + 1,
                        self.retries + 1
                    );
                    tokio::time::sleep(Duration::from_secs_f64(wait.min(3600.0))).await;
                }
                Err(e) => return Err(e.failure),
            }
        }
    }

    /// The request; HTTP/2 takes the absolute URI (its `:authority` instead of `Host`).
    fn build(&self, data: &RequestData, h2: bool) -> Option<Request<Bytes>> {
        let mut builder = if h2 {
            Request::post(self.absolute.clone())
        } else {
            Request::post(self.path.clone()).header(header::HOST, self.host.clone())
        };
        builder = builder
            .header(header::CONTENT_TYPE, "application/json")
            .header("x-request-id", data.id.as_str());
        if let Some(a) = &self.authorization {
            builder = builder.header(header::AUTHORIZATION, a);
        }
        for (k, v) in &self.headers {
            builder = builder.header(k, v);
        }
        for (k, v) in &data.headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let token = (self.session_tokens.as_ref()).zip(data.session.as_deref());
        if let Some((name, value)) = token.and_then(|(t, s)| t.for_session(s)) {
            builder = builder.header(name, value);
        }
        builder.body(data.body.clone()).ok()
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
            cached_tokens: None,
            outcome: Ok(()),
            http_status: 0,
            error_body: None,
            retries: 0,
            body_bytes: data.body.len() as u64,
            media: data.media.clone(),
            reply: None,
        };
        rec.t_sent = Instant::now();
        let (mut ex, deadline) = match self.send_attempts(data, &mut rec).await {
            Ok(x) => x,
            Err(f) => return finish(rec, f),
        };
        if let Some((tokens, session)) = (self.session_tokens.as_ref()).zip(data.session.as_deref())
        {
            tokens.remember(session, &ex.headers);
        }
        let status = ex.status;
        rec.http_status = status.as_u16();
        if !status.is_success() {
            // The server's error body, read up to MAX_ERROR_BODY (its start kept for the
            // console); the rest is discarded with the connection (kept only when read whole).
            let (error_body, _) = read_capped(&mut ex, MAX_ERROR_BODY, deadline).await;
            rec.error_body = Some(crate::request::error_excerpt(&error_body));
            ex.give_back(&self.pool);
            return finish(rec, Failure::Http(status.as_u16()));
        }
        if self.streaming {
            self.read_stream(rec, data, ex, deadline).await
        } else {
            self.read_complete(rec, data, ex, deadline).await
        }
    }

    /// A non-streamed response: the whole body, then its usage (or its words).
    async fn read_complete(
        &self,
        mut rec: RequestRecord,
        data: &RequestData,
        mut ex: Exchange,
        deadline: tokio::time::Instant,
    ) -> RequestRecord {
        let (bytes, end) = read_capped(&mut ex, MAX_BODY, deadline).await;
        match end {
            BodyEnd::Complete => {}
            BodyEnd::OverCap => return finish(rec, Failure::OversizedEvent),
            BodyEnd::Failed => return finish(rec, Failure::Truncated),
            BodyEnd::TimedOut => return finish(rec, Failure::TimeoutTotal),
        }
        rec.t_end = Instant::now();
        ex.give_back(&self.pool);
        match Chunk::parse(&bytes) {
            Err(_) => finish_at(rec, Failure::Malformed),
            Ok(c) if c.is_error() => finish_at(rec, Failure::StreamError),
            Ok(c) => {
                if data.capture_reply {
                    let mut reply = reply::Reply::default();
                    reply.on_message(&bytes);
                    rec.reply = reply.into_message();
                }
                take_usage(&mut rec, c.usage, || {
                    (count_words(&c.full_text()) as u64, TokenSource::Tokenizer)
                });
                self.check_length(rec, data)
            }
        }
    }

    /// A streamed response: every event timestamped as its bytes arrive, until `[DONE]`.
    async fn read_stream(
        &self,
        mut rec: RequestRecord,
        data: &RequestData,
        mut ex: Exchange,
        deadline: tokio::time::Instant,
    ) -> RequestRecord {
        let t = self.timeouts;
        let mut parser = SseParser::new();
        let mut st = StreamState {
            captured: data.capture_reply.then(reply::Reply::default),
            ..StreamState::default()
        };
        // One allocation for the gaps instead of a doubling series of reallocations (and copies)
        // per request; capped, as the stream may end long before `max_tokens`.
        st.itl_us
            .reserve((data.max_tokens as usize).saturating_sub(1).min(1024));
        // One timer for the whole stream, moved only when it fires early: a fresh timer per
        // read cost a timer-wheel insertion and removal (a lock) per event.
        let mut last_byte = tokio::time::Instant::now();
        let timer = tokio::time::sleep_until((last_byte + t.idle).min(deadline));
        tokio::pin!(timer);
        loop {
            // Every event the read brought, timestamped with the read's instant.
            let on_data = |bytes: &[u8], at: Instant| {
                let fed = parser.feed(bytes, |event| st.on_event(event, at));
                if st.done && st.t_end.is_none() {
                    st.t_end = Some(at);
                }
                fed.is_ok()
            };
            let step = tokio::select! {
                biased;
                s = ex.next(on_data) => s,
                _ = &mut timer => {
                    let now = tokio::time::Instant::now();
                    if now >= deadline {
                        return finish(rec, Failure::TimeoutTotal);
                    }
                    let idle = last_byte + t.idle;
                    if idle <= now {
                        return finish(rec, Failure::TimeoutIdle);
                    }
                    // Bytes came since the timer was set: wait for the rest of the idle time.
                    timer.as_mut().reset(idle.min(deadline));
                    continue;
                }
            };
            match step {
                Ok(Step::Data(at)) => last_byte = tokio::time::Instant::from_std(at),
                Ok(Step::End) => break,
                // The connection goes with the request: the rest of the stream is never read.
                Ok(Step::Stopped) => return finish(rec, Failure::OversizedEvent),
                Err(e) => {
                    tracing::debug!("request {}: {e}", data.index);
                    st.failure.get_or_insert(Failure::Truncated);
                    break;
                }
            }
        }
        let now = Instant::now();
        parser.finish(|event| st.on_event(event, now));
        rec.t_end = st.t_end.unwrap_or(now);
        rec.t_first = st.t_first;
        rec.itl_us = std::mem::take(&mut st.itl_us);
        rec.reply = st.captured.take().and_then(reply::Reply::into_message);
        if let Some(f) = st.failure.take() {
            return finish_at(rec, f);
        }
        if !st.done {
            return finish_at(rec, Failure::Truncated);
        }
        ex.give_back(&self.pool);
        take_usage(&mut rec, st.usage, || (st.text_chunks, TokenSource::Chunks));
        self.check_length(rec, data)
    }

    fn check_length(&self, mut rec: RequestRecord, data: &RequestData) -> RequestRecord {
        if self.ignore_eos && !data.stops_at_eos && rec.out_tokens < data.max_tokens as u64 {
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
    /// The reply so far, when the request captures it.
    captured: Option<reply::Reply>,
    /// Where the next chunk's read may start (the start the chunks of a stream share).
    resume: scan::Resume,
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
        match self.resume.facts(data) {
            Err(_) => self.failure = Some(Failure::Malformed),
            Ok(c) if c.error => self.failure = Some(Failure::StreamError),
            Ok(c) => {
                if c.usage.is_some() {
                    self.usage = c.usage;
                }
                if let Some(reply) = &mut self.captured {
                    reply.on_chunk(data);
                }
                if c.text {
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

/// Token counts from the server's usage when it sent one, else the client's own count.
fn take_usage(
    rec: &mut RequestRecord,
    usage: Option<Usage>,
    own: impl FnOnce() -> (u64, TokenSource),
) {
    match usage.and_then(|u| u.completion_tokens) {
        Some(n) => {
            rec.out_tokens = n;
            rec.token_source = TokenSource::Usage;
        }
        None => (rec.out_tokens, rec.token_source) = own(),
    }
    if let Some(p) = usage.and_then(|u| u.prompt_tokens) {
        rec.in_tokens = p;
    }
    rec.cached_tokens = usage.and_then(|u| u.cached_tokens);
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
