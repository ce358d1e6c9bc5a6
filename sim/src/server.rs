//! The HTTP server of `sim serve`: hyper 1 (HTTP/1.1, keep-alive), TCP_NODELAY on every
//! accepted socket, routing of the OpenAI endpoints plus `/v1/models`, `/health`, `/metrics`,
//! and the request path: parse, model check, fault choice, output length, token source, body.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rand::SeedableRng;
use rand_distr::Distribution;
use tokio::net::TcpListener;
use tokio::time::Instant;

use crate::cli::{Role, ServeArgs};
use crate::engine::card::EngineCard;
use crate::engine::kv_cache::block_hashes;
use crate::engine::EngineHandle;
use crate::faults::{Fault, FaultPlan, FAULT_HEADER};
use crate::ground_truth::{unix_us, GroundTruthLog};
use crate::metrics::Metrics;
use crate::openai::{error_body, full_response, Endpoint, GenRequest, Usage};
use crate::sse::ChunkTemplates;
use crate::sse_body::{RequestLog, SseBody};
use crate::token_source::{FixedSchedule, TokenSource};

/// Default `max_tokens` when a request sets none (vLLM's completions default; chat requests in
/// engine mode default to the rest of the context window instead).
const DEFAULT_MAX_TOKENS: u32 = 16;

/// How tokens are timed.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Fixed TTFT and inter-token gap.
    Deterministic { ttft: Duration, itl: Duration },
    /// The simulated engine described by a card.
    Engine(EngineCard),
}

/// Everything `serve` needs, resolved from the command line.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub model: String,
    pub loras: Vec<String>,
    pub role: Role,
    pub mode: Mode,
    pub ground_truth: Option<std::path::PathBuf>,
    pub fault: Option<Fault>,
    pub fault_rate: f64,
    pub seed: u64,
}

/// A bad command line for `serve`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("--ttft-ms and --itl-ms must be finite and >= 0")]
    BadTiming,
    #[error("--fault-rate must be within 0..=1")]
    BadFaultRate,
    #[error(transparent)]
    Fault(#[from] crate::faults::FaultParseError),
    #[error(transparent)]
    Card(#[from] crate::engine::card::CardError),
}

impl ServeConfig {
    pub fn from_args(a: &ServeArgs) -> Result<ServeConfig, ConfigError> {
        let mode = if a.deterministic {
            let ok = |v: f64| v.is_finite() && v >= 0.0;
            if !ok(a.ttft_ms) || !ok(a.itl_ms) {
                return Err(ConfigError::BadTiming);
            }
            Mode::Deterministic {
                ttft: Duration::from_secs_f64(a.ttft_ms / 1e3),
                itl: Duration::from_secs_f64(a.itl_ms / 1e3),
            }
        } else {
            Mode::Engine(match &a.card {
                Some(p) => EngineCard::load(p)?,
                None => EngineCard::builtin(),
            })
        };
        if !(0.0..=1.0).contains(&a.fault_rate) {
            return Err(ConfigError::BadFaultRate);
        }
        Ok(ServeConfig {
            listen: a.listen,
            model: a.model.clone(),
            loras: a.loras.clone(),
            role: a.role,
            mode,
            ground_truth: a.ground_truth.clone(),
            fault: a.fault.as_deref().map(str::parse).transpose()?,
            fault_rate: a.fault_rate,
            seed: a.seed,
        })
    }
}

enum Timing {
    Deterministic { ttft: Duration, itl: Duration },
    Engine(EngineHandle),
}

struct AppState {
    model: String,
    loras: Vec<String>,
    role: Role,
    timing: Timing,
    metrics: Arc<Metrics>,
    ground_truth: Option<Arc<GroundTruthLog>>,
    faults: FaultPlan,
    seq: AtomicU64,
    seed: u64,
    models_body: Bytes,
    instance_id: String,
}

/// Response body: a complete buffer or an SSE stream.
pub enum ResponseBody {
    Full(Option<Bytes>),
    Sse(Box<SseBody>),
    /// Fails on first poll: the connection is dropped (the `reset` fault on a non-streamed
    /// request).
    Reset,
    /// An upstream response streamed through (the P/D proxy).
    Upstream(crate::proxy::UpstreamBody),
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.get_mut() {
            ResponseBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            ResponseBody::Sse(s) => Pin::new(s.as_mut()).poll_frame(cx),
            ResponseBody::Reset => Poll::Ready(Some(Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "injected fault: reset",
            )))),
            ResponseBody::Upstream(b) => Pin::new(b).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ResponseBody::Full(b) => b.is_none(),
            ResponseBody::Sse(s) => s.is_end_stream(),
            ResponseBody::Reset => false,
            ResponseBody::Upstream(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ResponseBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            ResponseBody::Full(None) => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}

fn full(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<ResponseBody> {
    let mut r = Response::new(ResponseBody::Full(Some(body.into())));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn json(status: StatusCode, body: impl Into<Bytes>) -> Response<ResponseBody> {
    full(status, "application/json", body)
}

fn error(
    status: StatusCode,
    kind: &str,
    message: &str,
    param: Option<&str>,
) -> Response<ResponseBody> {
    json(status, error_body(status.as_u16(), kind, message, param))
}

/// Binds, prints `listening on ADDR` on stdout, and serves until the process ends.
pub async fn serve(cfg: ServeConfig) -> anyhow::Result<()> {
    let listener = TcpListener::bind(cfg.listen).await?;
    let addr = listener.local_addr()?;
    let metrics = Arc::new(Metrics::new(&cfg.model));
    let timing = match &cfg.mode {
        Mode::Deterministic { ttft, itl } => Timing::Deterministic {
            ttft: *ttft,
            itl: *itl,
        },
        Mode::Engine(card) => Timing::Engine(EngineHandle::spawn(card.clone(), metrics.clone())),
    };
    let ground_truth = match &cfg.ground_truth {
        Some(p) => Some(Arc::new(GroundTruthLog::create(p).map_err(|e| {
            anyhow::anyhow!("cannot create ground truth file {}: {e}", p.display())
        })?)),
        None => None,
    };
    let created = unix_us() / 1_000_000;
    let mut names = vec![cfg.model.clone()];
    names.extend(cfg.loras.iter().cloned());
    let data: Vec<_> = names
        .iter()
        .map(|n| {
            serde_json::json!({
                "id": n, "object": "model", "created": created, "owned_by": "fleetbench-sim",
                "root": cfg.model, "parent": if *n == cfg.model { serde_json::Value::Null } else { cfg.model.clone().into() },
                "max_model_len": match &cfg.mode { Mode::Engine(c) => Some(c.max_model_len), _ => None },
            })
        })
        .collect();
    let models_body = serde_json::json!({"object": "list", "data": data}).to_string();
    let state = Arc::new(AppState {
        model: cfg.model.clone(),
        loras: cfg.loras.clone(),
        role: cfg.role,
        timing,
        metrics,
        ground_truth,
        faults: FaultPlan::new(cfg.fault, cfg.fault_rate, cfg.seed),
        seq: AtomicU64::new(0),
        seed: cfg.seed,
        models_body: Bytes::from(models_body),
        instance_id: format!("sim-{addr}"),
    });
    crate::announce(addr);
    tracing::info!(%addr, role = ?cfg.role, model = %cfg.model, "sim serving");
    accept_loop(listener, move |req| handle(state.clone(), req)).await
}

/// Accepts connections forever, serving each with `handler` on its own task.
pub async fn accept_loop<F, Fut>(listener: TcpListener, handler: F) -> anyhow::Result<()>
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response<ResponseBody>> + Send + 'static,
{
    loop {
        let (stream, _peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::warn!("TCP_NODELAY not set: {e}");
        }
        let handler = handler.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let h = handler.clone();
                async move { Ok::<_, Infallible>(h(req).await) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), svc)
                .await
            {
                tracing::debug!("connection ended: {e}");
            }
        });
    }
}

async fn handle(state: Arc<AppState>, req: Request<Incoming>) -> Response<ResponseBody> {
    let path = req.uri().path();
    match (req.method(), path) {
        (&Method::POST, "/v1/completions") => generate(state, req, Endpoint::Completions).await,
        (&Method::POST, "/v1/chat/completions") => generate(state, req, Endpoint::Chat).await,
        (&Method::GET, "/v1/models") => json(StatusCode::OK, state.models_body.clone()),
        (&Method::GET, "/health") => full(StatusCode::OK, "text/plain", Bytes::new()),
        (&Method::GET, "/metrics") => full(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            state.metrics.render(),
        ),
        _ => json(StatusCode::NOT_FOUND, r#"{"detail":"Not Found"}"#),
    }
}

fn status_fault_response(code: u16) -> Response<ResponseBody> {
    let (status, kind, msg) = match code {
        429 => (
            StatusCode::TOO_MANY_REQUESTS,
            "RateLimitError",
            "injected fault: too many requests",
        ),
        503 => (
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailableError",
            "injected fault: service unavailable",
        ),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "injected fault: internal server error",
        ),
    };
    error(status, kind, msg, None)
}

async fn generate(
    state: Arc<AppState>,
    req: Request<Incoming>,
    endpoint: Endpoint,
) -> Response<ResponseBody> {
    let arrival = Instant::now();
    let arrival_unix_us = unix_us();
    let seq = state.seq.fetch_add(1, Relaxed);
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| format!("sim-{seq}"));
    // Every request gets a ground-truth line, refused ones too (no tokens); only accepted ones
    // count in the request metrics.
    let mut log = RequestLog::new(
        request_id.clone(),
        arrival,
        arrival_unix_us,
        state.metrics.clone(),
        state.ground_truth.clone(),
        matches!(state.timing, Timing::Deterministic { .. }),
    );
    let fault = match req.headers().get(FAULT_HEADER).map(|v| v.to_str()) {
        Some(Ok(spec)) => match spec.parse::<Fault>() {
            Ok(f) => Some(f),
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "BadRequestError",
                    &e.to_string(),
                    Some(FAULT_HEADER),
                )
            }
        },
        Some(Err(_)) => {
            return error(
                StatusCode::BAD_REQUEST,
                "BadRequestError",
                "fault header is not ASCII",
                Some(FAULT_HEADER),
            )
        }
        None => state.faults.for_request(seq),
    };
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "BadRequestError",
                &format!("cannot read body: {e}"),
                None,
            )
        }
    };
    let engine = match &state.timing {
        Timing::Engine(h) => Some(h),
        Timing::Deterministic { .. } => None,
    };
    let gen = match GenRequest::parse(endpoint, &body, engine.is_some()) {
        Ok(g) => {
            log.set_prompt_tokens(g.prompt_tokens);
            g
        }
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "BadRequestError",
                &e.to_string(),
                None,
            )
        }
    };
    let model = match &gen.model {
        None => state.model.clone(),
        Some(m) if *m == state.model || state.loras.contains(m) => m.clone(),
        Some(m) => {
            return error(
                StatusCode::NOT_FOUND,
                "NotFoundError",
                &format!("The model `{m}` does not exist."),
                Some("model"),
            )
        }
    };
    if let Some(Fault::Status(code)) = fault {
        return status_fault_response(code);
    }
    let mut base = arrival;
    if let Some(Fault::SlowHeaders(d)) = fault {
        tokio::time::sleep(d).await;
        base = Instant::now();
    }

    // Output length.
    // A sequence must fit the KV cache on its own, or it could never finish.
    let max_model_len = engine.map(|e| {
        let c = e.card();
        c.max_model_len
            .min(c.num_gpu_blocks.saturating_mul(c.block_size))
    });
    let max_tokens = match (gen.max_tokens, endpoint, max_model_len) {
        (Some(m), _, _) => m,
        (None, Endpoint::Chat, Some(len)) => len.saturating_sub(gen.prompt_tokens).max(1),
        (None, _, _) => DEFAULT_MAX_TOKENS,
    };
    if gen.min_tokens > max_tokens {
        return error(
            StatusCode::BAD_REQUEST,
            "BadRequestError",
            "min_tokens must be less than or equal to max_tokens",
            Some("min_tokens"),
        );
    }
    if let Some(len) = max_model_len {
        let want = gen.prompt_tokens as u64 + max_tokens as u64;
        if want > len as u64 {
            return error(
                StatusCode::BAD_REQUEST,
                "BadRequestError",
                &format!(
                    "This model's maximum context length is {len} tokens. However, you requested {want} tokens ({} in the messages, {max_tokens} in the completion). Please reduce the length of the messages or completion.",
                    gen.prompt_tokens
                ),
                None,
            );
        }
    }
    let target = if engine.is_none() || gen.ignore_eos {
        max_tokens
    } else {
        let mean = engine.map(|e| e.card().output_len_mean).unwrap_or(256.0);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(
            state.seed ^ seq.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        );
        let draw = rand_distr::Exp::new(1.0 / mean)
            .map(|d| d.sample(&mut rng).ceil() as u64)
            .unwrap_or(max_tokens as u64);
        (draw.min(u32::MAX as u64) as u32).clamp(gen.min_tokens.max(1), max_tokens)
    };
    let finish_reason: &'static str = if target >= max_tokens {
        "length"
    } else {
        "stop"
    };
    let created = arrival_unix_us / 1_000_000;
    log.set_prompt_tokens(gen.prompt_tokens);
    log.accept();

    // P/D prefill role: compute the prompt, answer with a KV handle and no tokens.
    if state.role == Role::Prefill {
        let mut src = match &state.timing {
            Timing::Deterministic { ttft, itl } => {
                TokenSource::Fixed(FixedSchedule::new(base, *ttft, *itl, 0))
            }
            Timing::Engine(h) => TokenSource::Engine(h.submit(
                gen.prompt_tokens,
                block_hashes(&gen.prompt_token_ids, h.card().block_size),
                0,
                false,
            )),
        };
        src.wait_prefill().await;
        log.finish("length");
        let handle = serde_json::json!({
            "do_remote_prefill": true,
            "remote_engine_id": state.instance_id,
            "remote_request_id": request_id,
            "remote_host": state.instance_id,
            "num_prompt_tokens": gen.prompt_tokens,
        });
        let usage = Usage {
            prompt_tokens: gen.prompt_tokens,
            completion_tokens: 0,
        };
        return with_request_id(
            json(
                StatusCode::OK,
                full_response(
                    endpoint,
                    &request_id,
                    created,
                    &model,
                    usage,
                    "length",
                    Some(handle),
                ),
            ),
            &request_id,
        );
    }

    let skip_prefill = state.role == Role::Decode && gen.has_remote_prefill();
    let src = match &state.timing {
        Timing::Deterministic { ttft, itl } => {
            // A decode instance with transferred KV pays no prefill: first token after one gap.
            let first = if skip_prefill { *itl } else { *ttft };
            TokenSource::Fixed(FixedSchedule::new(base, first, *itl, target))
        }
        Timing::Engine(h) => TokenSource::Engine(h.submit(
            gen.prompt_tokens,
            block_hashes(&gen.prompt_token_ids, h.card().block_size),
            target,
            skip_prefill,
        )),
    };

    if gen.stream {
        let tpl = ChunkTemplates::new(endpoint, &request_id, created, &model);
        let body = SseBody::new(
            src,
            tpl,
            target,
            finish_reason,
            gen.include_usage,
            fault,
            log,
        );
        let mut r = Response::new(ResponseBody::Sse(Box::new(body)));
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream; charset=utf-8"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        return with_request_id(r, &request_id);
    }

    // Not streamed: wait for every token, then one JSON body.
    let mut src = src;
    let got = src.wait_all(target).await;
    match fault {
        Some(Fault::Stall(d)) => tokio::time::sleep(d).await,
        Some(Fault::Reset { .. }) => return Response::new(ResponseBody::Reset),
        Some(Fault::StreamError) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                "injected fault: stream_error",
                None,
            )
        }
        _ => {}
    }
    if got < target {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "request aborted by the engine",
            None,
        );
    }
    log.tokens_sent(got);
    log.finish(finish_reason);
    if let Some(Fault::Malformed) = fault {
        return json(StatusCode::OK, "{\"id\":\"malformed\",\"choices\":[");
    }
    let usage = Usage {
        prompt_tokens: gen.prompt_tokens,
        completion_tokens: got,
    };
    with_request_id(
        json(
            StatusCode::OK,
            full_response(
                endpoint,
                &request_id,
                created,
                &model,
                usage,
                finish_reason,
                None,
            ),
        ),
        &request_id,
    )
}

fn with_request_id(mut r: Response<ResponseBody>, id: &str) -> Response<ResponseBody> {
    if let Ok(v) = HeaderValue::from_str(id) {
        r.headers_mut().insert("x-request-id", v);
    }
    r
}
