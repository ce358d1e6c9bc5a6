//! The generation request path of `sim serve`: parse, model check, fault choice, output
//! length, then a token source (fixed schedule or engine) feeding a streamed or a complete
//! response.

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
use crate::server::{AppState, Timing};
use crate::sse::ChunkTemplates;
use crate::sse_body::{RequestLog, SseBody};
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

pub(crate) async fn generate(
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
    for name in &state.log_headers {
        if let Some(v) = req.headers().get(name.as_str()) {
            tracing::info!(
                "header {name}={} request {request_id}",
                v.to_str().unwrap_or("?")
            );
        }
    }
    for (name, value) in &state.required_headers {
        if req.headers().get(name.as_str()).map(|v| v.as_bytes()) != Some(value.as_bytes()) {
            // The expected value is a credential: name the header only.
            return error(
                StatusCode::UNAUTHORIZED,
                "AuthenticationError",
                &format!("missing or wrong header {name}"),
                None,
            );
        }
    }
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
    let gen = match GenRequest::parse(
        endpoint,
        &body,
        engine.is_some() || state.prefix_cache.is_some(),
    ) {
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
    log.model = Some(model.clone());
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
    if let Some(cache) = &state.prefix_cache {
        let bs = match &state.timing {
            Timing::Engine(h) => h.card().block_size,
            Timing::Deterministic { .. } => 16,
        };
        let hashes = block_hashes(&gen.prompt_token_ids, bs);
        let cached = cache.lookup_and_insert(&hashes, bs, gen.prompt_tokens);
        log.cached_tokens = Some(cached);
        if let Timing::Deterministic { .. } = state.timing {
            // The engine counts its own; deterministic mode counts what the usage says.
            state.metrics.prefix_queries.fetch_add(
                gen.prompt_tokens as u64,
                std::sync::atomic::Ordering::Relaxed,
            );
            state
                .metrics
                .prefix_hits
                .fetch_add(cached as u64, std::sync::atomic::Ordering::Relaxed);
        }
    }
    log.accept();
    let skip_prefill = state.role == Role::Decode && gen.has_remote_prefill();
    if skip_prefill {
        log.kv_received = Some((gen.prompt_tokens, gen.kv_transfer_time()));
    } else {
        log.computed_prompt_tokens = gen
            .prompt_tokens
            .saturating_sub(log.cached_tokens.unwrap_or(0));
    }

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
        log.prefill_done();
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
            cached_tokens: log.cached_tokens,
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
        cached_tokens: log.cached_tokens,
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
