//! The generation request path of `sim serve`: parse, model check, fault choice, output
//! length, then a token source (fixed schedule or engine) feeding a streamed or a complete
//! response.

#![allow(clippy::result_large_err)] // see `Reply`

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use rand::SeedableRng;
use rand_distr::Distribution;
use tokio::time::Instant;

use crate::cli::Role;
use crate::engine::kv_cache::block_hashes;
use crate::faults::{Fault, FAULT_HEADER};
use crate::ground_truth::unix_us;
use crate::http::{error, json, ResponseBody};
use crate::openai::{full_response, Endpoint, GenRequest, Usage};
use crate::sse::ChunkTemplates;
use crate::sse_body::{RequestLog, SseBody, SseShape};
use crate::state::{AppState, Timing};
use crate::token_source::{FixedSchedule, TokenSource};

/// Default `max_tokens` when a request sets none (vLLM's completions default; chat requests in
/// engine mode default to the rest of the context window instead).
const DEFAULT_MAX_TOKENS: u32 = 16;

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

/// One response: the error that refused the request, or what it generated. A refusal is
/// returned as is (once per request), so its size in a `Result` costs nothing worth a box.
type Reply = Response<ResponseBody>;

fn bad_request(msg: &str, param: Option<&str>) -> Reply {
    error(StatusCode::BAD_REQUEST, "BadRequestError", msg, param)
}

fn internal_error(msg: &str) -> Reply {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalServerError",
        msg,
        None,
    )
}

/// What is known about a request when it arrives.
struct Arrival {
    at: Instant,
    unix_us: u64,
    seq: u64,
    request_id: String,
}

/// The response a request gets once its output is planned.
struct Planned {
    gen: GenRequest,
    model: String,
    fault: Option<Fault>,
    /// When its token schedule starts (the arrival, or after held headers).
    base: Instant,
    /// Tokens it generates, and the finish reason that gives.
    target: u32,
    finish_reason: &'static str,
    created: u64,
}

pub(crate) async fn generate(
    state: Arc<AppState>,
    req: Request<Incoming>,
    endpoint: Endpoint,
) -> Reply {
    let at = Instant::now();
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
    let log = RequestLog::new(
        request_id.clone(),
        at,
        arrival_unix_us,
        state.metrics.clone(),
        state.ground_truth.clone(),
        matches!(state.timing, Timing::Deterministic { .. }),
    );
    let token = (state.session_token_header.as_ref()).map(|name| {
        let sent = req.headers().get(name).cloned();
        let token = sent.or_else(|| HeaderValue::from_str(&format!("tok-{request_id}")).ok());
        (name.clone(), token)
    });
    let arrival = Arrival {
        at,
        unix_us: arrival_unix_us,
        seq,
        request_id,
    };
    let mut reply = match respond(&state, req, endpoint, &arrival, log).await {
        Ok(r) | Err(r) => r,
    };
    // A router's session token: the one the request sent back, else a new one.
    if let Some((name, Some(value))) = token {
        reply.headers_mut().insert(name, value);
    }
    reply
}

async fn respond(
    state: &AppState,
    req: Request<Incoming>,
    endpoint: Endpoint,
    arrival: &Arrival,
    mut log: RequestLog,
) -> Result<Reply, Reply> {
    let plan = plan(state, req, endpoint, arrival, &mut log).await?;
    count_prefix_cache(state, &plan.gen, &mut log);
    log.accept();
    let skip_prefill = state.role == Role::Decode && plan.gen.has_remote_prefill();
    if skip_prefill {
        log.kv_received = Some((plan.gen.prompt_tokens, plan.gen.kv_transfer_time()));
    } else {
        log.computed_prompt_tokens = plan
            .gen
            .prompt_tokens
            .saturating_sub(log.cached_tokens.unwrap_or(0));
    }
    if state.role == Role::Prefill {
        return Ok(prefill_response(state, endpoint, arrival, &plan, log).await);
    }
    let src = match &state.timing {
        Timing::Deterministic { ttft, itl } => {
            // A decode instance with transferred KV pays no prefill: first token after one gap.
            let first = if skip_prefill { *itl } else { *ttft };
            TokenSource::Fixed(FixedSchedule::new(plan.base, first, *itl, plan.target))
        }
        Timing::Engine(h) => TokenSource::Engine(h.submit(
            plan.gen.prompt_tokens,
            block_hashes(&plan.gen.prompt_token_ids, h.card().block_size),
            plan.target,
            skip_prefill,
        )),
    };
    if plan.gen.stream {
        return Ok(stream_response(state, endpoint, arrival, plan, src, log));
    }
    complete_response(endpoint, arrival, &plan, src, log).await
}

/// The largest request body read (64 MiB: a few dozen 1080p PNGs or minutes of WAV, base64);
/// a larger one is answered 413 without being read to the end.
pub(crate) const MAX_BODY_BYTES: usize = 64 << 20;

/// Checks the request (headers, body, model, lengths) and plans its output.
async fn plan(
    state: &AppState,
    req: Request<Incoming>,
    endpoint: Endpoint,
    arrival: &Arrival,
    log: &mut RequestLog,
) -> Result<Planned, Reply> {
    for name in &state.log_headers {
        if let Some(v) = req.headers().get(name.as_str()) {
            tracing::info!(
                "header {name}={} request {}",
                v.to_str().unwrap_or("?"),
                arrival.request_id
            );
        }
    }
    for (name, value) in &state.required_headers {
        if req.headers().get(name.as_str()).map(|v| v.as_bytes()) != Some(value.as_bytes()) {
            // The expected value is a credential: name the header only.
            return Err(error(
                StatusCode::UNAUTHORIZED,
                "AuthenticationError",
                &format!("missing or wrong header {name}"),
                None,
            ));
        }
    }
    let fault = match req.headers().get(FAULT_HEADER).map(|v| v.to_str()) {
        Some(Ok(spec)) => Some(
            spec.parse::<Fault>()
                .map_err(|e| bad_request(&e.to_string(), Some(FAULT_HEADER)))?,
        ),
        Some(Err(_)) => return Err(bad_request("fault header is not ASCII", Some(FAULT_HEADER))),
        None => state.faults.for_request(arrival.seq),
    };
    let limited = http_body_util::Limited::new(req.into_body(), MAX_BODY_BYTES);
    let body = match limited.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return Err(error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "BadRequestError",
                &format!("request body over {MAX_BODY_BYTES} bytes"),
                None,
            ))
        }
        Err(e) => return Err(bad_request(&format!("cannot read body: {e}"), None)),
    };
    let engine = match &state.timing {
        Timing::Engine(h) => Some(h),
        Timing::Deterministic { .. } => None,
    };
    let gen = GenRequest::parse(
        endpoint,
        &body,
        engine.is_some() || state.prefix_cache.is_some(),
    )
    .map_err(|e| bad_request(&e.to_string(), None))?;
    log.set_prompt_tokens(gen.prompt_tokens);
    log.set_media(gen.media);
    log.set_tools(gen.tool_use.clone());
    let model = match &gen.model {
        None => state.model.clone(),
        Some(m) if *m == state.model || state.loras.contains(m) => m.clone(),
        Some(m) => {
            return Err(error(
                StatusCode::NOT_FOUND,
                "NotFoundError",
                &format!("The model `{m}` does not exist."),
                Some("model"),
            ))
        }
    };
    log.model = Some(model.clone());
    if let Some(Fault::Status(code)) = fault {
        return Err(status_fault_response(code));
    }
    if let Some(Fault::Drop) = fault {
        return Err(Response::new(ResponseBody::Drop));
    }
    let mut base = arrival.at;
    if let Some(Fault::SlowHeaders(d)) = fault {
        tokio::time::sleep(d).await;
        base = Instant::now();
    }
    let (target, finish_reason) = output_length(state, endpoint, &gen, arrival.seq)?;
    Ok(Planned {
        gen,
        model,
        fault,
        base,
        target,
        finish_reason,
        created: arrival.unix_us / 1_000_000,
    })
}

/// The tokens a request generates and its finish reason: `max_tokens` (checked against the
/// context window in engine mode), or in engine mode without `ignore_eos` a drawn length.
fn output_length(
    state: &AppState,
    endpoint: Endpoint,
    gen: &GenRequest,
    seq: u64,
) -> Result<(u32, &'static str), Reply> {
    let engine = match &state.timing {
        Timing::Engine(h) => Some(h),
        Timing::Deterministic { .. } => None,
    };
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
        return Err(bad_request(
            "min_tokens must be less than or equal to max_tokens",
            Some("min_tokens"),
        ));
    }
    if let Some(len) = max_model_len {
        let want = gen.prompt_tokens as u64 + max_tokens as u64;
        if want > len as u64 {
            return Err(bad_request(
                &format!(
                    "This model's maximum context length is {len} tokens. However, you requested {want} tokens ({} in the messages, {max_tokens} in the completion). Please reduce the length of the messages or completion.",
                    gen.prompt_tokens
                ),
                None,
            ));
        }
    }
    let target = match engine {
        Some(e) if !gen.ignore_eos => {
            let mean = e.card().output_len_mean;
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(
                state.seed ^ seq.wrapping_mul(0x9e37_79b9_7f4a_7c15),
            );
            let draw = rand_distr::Exp::new(1.0 / mean)
                .map(|d| d.sample(&mut rng).ceil() as u64)
                .unwrap_or(max_tokens as u64);
            (draw.min(u32::MAX as u64) as u32).clamp(gen.min_tokens.max(1), max_tokens)
        }
        _ => max_tokens,
    };
    let finish_reason = if target >= max_tokens {
        "length"
    } else {
        "stop"
    };
    Ok((target, finish_reason))
}

/// With `--cached-tokens`: the prompt's blocks found in the prefix cache, for the usage (and,
/// in deterministic mode, the prefix-cache counters; the engine counts its own).
fn count_prefix_cache(state: &AppState, gen: &GenRequest, log: &mut RequestLog) {
    let Some(cache) = &state.prefix_cache else {
        return;
    };
    let bs = match &state.timing {
        Timing::Engine(h) => h.card().block_size,
        Timing::Deterministic { .. } => 16,
    };
    let hashes = block_hashes(&gen.prompt_token_ids, bs);
    let cached = cache.lookup_and_insert(&hashes, bs, gen.prompt_tokens);
    log.cached_tokens = Some(cached);
    if let Timing::Deterministic { .. } = state.timing {
        state
            .metrics
            .prefix_queries
            .fetch_add(gen.prompt_tokens as u64, Relaxed);
        state.metrics.prefix_hits.fetch_add(cached as u64, Relaxed);
    }
}

/// P/D prefill role: compute the prompt, answer with a KV handle and no tokens.
async fn prefill_response(
    state: &AppState,
    endpoint: Endpoint,
    arrival: &Arrival,
    plan: &Planned,
    mut log: RequestLog,
) -> Reply {
    let gen = &plan.gen;
    let mut src = match &state.timing {
        Timing::Deterministic { ttft, itl } => {
            TokenSource::Fixed(FixedSchedule::new(plan.base, *ttft, *itl, 0))
        }
        Timing::Engine(h) => TokenSource::Engine(h.submit(
            gen.prompt_tokens,
            block_hashes(&gen.prompt_token_ids, h.card().block_size),
            0,
            false,
        )),
    };
    src.wait_prefill().await;
    log.prefill_done();
    log.finish("length");
    let handle = serde_json::json!({
        "do_remote_prefill": true,
        "remote_engine_id": state.instance_id,
        "remote_request_id": arrival.request_id,
        "remote_host": state.instance_id,
        "num_prompt_tokens": gen.prompt_tokens,
    });
    let usage = Usage {
        prompt_tokens: gen.prompt_tokens,
        completion_tokens: 0,
        cached_tokens: log.cached_tokens,
    };
    let body = full_response(
        endpoint,
        &arrival.request_id,
        plan.created,
        &plan.model,
        usage,
        "length",
        Some(handle),
    );
    with_request_id(json(StatusCode::OK, body.to_string()), &arrival.request_id)
}

/// A streamed response: the SSE body sends the tokens as the source makes them ready.
fn stream_response(
    state: &AppState,
    endpoint: Endpoint,
    arrival: &Arrival,
    plan: Planned,
    src: TokenSource,
    log: RequestLog,
) -> Reply {
    let mut tpl = ChunkTemplates::new(endpoint, &arrival.request_id, plan.created, &plan.model);
    if let Some(call) = tool_call(&plan, arrival) {
        tpl = tpl.tool_call(&call);
    }
    let shape = SseShape {
        total: plan.target,
        finish_reason: plan.finish_reason,
        include_usage: plan.gen.include_usage,
        framing: state.framing,
    };
    let body = SseBody::new(src, tpl, shape, plan.fault, log);
    let mut r = Response::new(ResponseBody::Sse(Box::new(body)));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    with_request_id(r, &arrival.request_id)
}

/// Not streamed: wait for every token, then one JSON body.
async fn complete_response(
    endpoint: Endpoint,
    arrival: &Arrival,
    plan: &Planned,
    mut src: TokenSource,
    mut log: RequestLog,
) -> Result<Reply, Reply> {
    let got = src.wait_all(plan.target).await;
    match plan.fault {
        Some(Fault::Stall(d)) => tokio::time::sleep(d).await,
        Some(Fault::Reset { .. }) => return Err(Response::new(ResponseBody::Reset)),
        Some(Fault::StreamError) => return Err(internal_error("injected fault: stream_error")),
        _ => {}
    }
    if got < plan.target {
        return Err(internal_error("request aborted by the engine"));
    }
    log.tokens_sent(got);
    log.finish(plan.finish_reason);
    if let Some(Fault::Malformed) = plan.fault {
        return Ok(json(StatusCode::OK, "{\"id\":\"malformed\",\"choices\":["));
    }
    let usage = Usage {
        prompt_tokens: plan.gen.prompt_tokens,
        completion_tokens: got,
        cached_tokens: log.cached_tokens,
    };
    let mut body = full_response(
        endpoint,
        &arrival.request_id,
        plan.created,
        &plan.model,
        usage,
        plan.finish_reason,
        None,
    );
    if let Some(call) = tool_call(plan, arrival) {
        crate::openai::put_tool_call(&mut body, &call, usage.completion_tokens);
    }
    Ok(with_request_id(
        json(StatusCode::OK, body.to_string()),
        &arrival.request_id,
    ))
}

/// The tool call the request's output makes (a named or required `tool_choice`).
fn tool_call(plan: &Planned, arrival: &Arrival) -> Option<crate::tools::ToolCall> {
    let bad = plan.fault == Some(Fault::BadToolArgs);
    plan.gen.tool_use.call(&arrival.request_id, bad)
}

fn with_request_id(mut r: Response<ResponseBody>, id: &str) -> Response<ResponseBody> {
    if let Ok(v) = HeaderValue::from_str(id) {
        r.headers_mut().insert("x-request-id", v);
    }
    r
}
