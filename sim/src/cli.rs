//! Command-line interface of the `sim` binary (clap derive). `main.rs` parses these and calls
//! [`crate::server::serve`] or [`crate::proxy::run_proxy`].

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Simulated LLM inference engine: an OpenAI-compatible server that behaves like vLLM
/// (continuous batching, KV cache with prefix caching and preemption, P/D disaggregation,
/// LoRA names, vLLM's /metrics, fault injection) or, in deterministic mode, streams tokens
/// at exactly known times.
///
/// On start the first line printed on stdout is `listening on ADDR` (the bound address, so
/// `--listen 127.0.0.1:0` can be used). Logs go to stderr (RUST_LOG respected).
#[derive(Debug, Parser)]
#[command(name = "sim", version, about, long_about)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// `sim serve` or `sim proxy`.
#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum Command {
    /// Serve the OpenAI API (/v1/completions, /v1/chat/completions, /v1/models, /health,
    /// /metrics).
    Serve(ServeArgs),
    /// P/D disaggregation proxy: each request goes to a prefill instance (round robin), waits a
    /// KV-transfer delay proportional to its prompt tokens, then is forwarded to a decode
    /// instance (round robin) whose response bytes are streamed back.
    Proxy(ProxyArgs),
}

/// Role of a serving instance in prefill/decode disaggregation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Role {
    /// Prefill and decode in one instance (the usual vLLM server).
    #[default]
    Both,
    /// Compute the prompt only; answer with usage (completion_tokens 0) and a
    /// `kv_transfer_params` handle, no output tokens.
    Prefill,
    /// Decode requests that carry a `kv_transfer_params` handle without paying prefill cost
    /// (requests without a handle are prefilled locally).
    Decode,
}

/// The flags of `sim serve`.
#[derive(Debug, Args, Clone)]
pub struct ServeArgs {
    /// Address to listen on, e.g. 127.0.0.1:8000 (port 0 picks a free port; the bound address
    /// is printed as `listening on ADDR` on the first stdout line).
    #[arg(long)]
    pub listen: SocketAddr,

    /// Served model name (requests naming another model, and not a --lora adapter, get vLLM's
    /// 404 error).
    #[arg(long, default_value = "sim-model")]
    pub model: String,

    /// LoRA adapter name also served (repeat the flag for several adapters); listed by
    /// /v1/models.
    #[arg(long = "lora", value_name = "NAME")]
    pub loras: Vec<String>,

    /// Role in P/D disaggregation: both, prefill or decode.
    #[arg(long, value_enum, default_value_t = Role::Both)]
    pub role: Role,

    /// Deterministic mode: no engine model; the first token is sent exactly --ttft-ms after
    /// the request arrives and token k at arrival + ttft + k * itl (absolute deadlines). Output
    /// length is always max_tokens. `--ttft-ms 0 --itl-ms 0` sends as fast as possible.
    #[arg(long)]
    pub deterministic: bool,

    /// Deterministic mode: time to first token in milliseconds, from request arrival.
    #[arg(long, default_value_t = 0.0, value_name = "F")]
    pub ttft_ms: f64,

    /// Deterministic mode: gap between consecutive tokens in milliseconds.
    #[arg(long, default_value_t = 0.0, value_name = "F")]
    pub itl_ms: f64,

    /// Engine card YAML (engine mode, the default without --deterministic): step-time model,
    /// batching limits and KV cache size. Without it the built-in 8B-on-one-H100 card is used.
    /// The format is documented in sim/README.md.
    #[arg(long, value_name = "PATH")]
    pub card: Option<PathBuf>,

    /// Write one JSON line per request when it ends: request_id, arrival_unix_us,
    /// first_token_unix_us, token_unix_us (every token's send time), prompt_tokens,
    /// completion_tokens, model (the model or LoRA adapter that served it).
    #[arg(long, value_name = "PATH")]
    pub ground_truth: Option<PathBuf>,

    /// Fault injected into a --fault-rate fraction of requests (seeded by --seed). KIND is one
    /// of: http_429, http_500, http_503 (error status with an OpenAI/vLLM JSON error body);
    /// reset or reset:N (close the connection mid-stream after N tokens, default half of them);
    /// stall:SECS (stop sending for SECS mid-stream, then continue); malformed (one chunk of
    /// invalid JSON mid-stream); slow_headers:SECS (hold the response headers for SECS);
    /// stream_error (a `data: {"error": {...}}` event mid-stream, then `data: [DONE]`); drop
    /// (close the connection before any response byte); bad_tool_args (a tool call's
    /// arguments end in leaked parser markup, so they are not JSON). A request can also ask for
    /// a fault itself with the header `x-fleetbench-fault: KIND[:PARAM]`.
    #[arg(long, value_name = "KIND")]
    pub fault: Option<String>,

    /// Fraction (0..=1) of requests that get --fault.
    #[arg(long, default_value_t = 1.0, value_name = "F")]
    pub(crate) fault_rate: f64,

    /// Seed for fault selection and for output lengths drawn in engine mode.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub seed: u64,

    /// Worker threads of the tokio runtime.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub threads: usize,

    /// How streamed events are framed: per-event (every SSE event its own HTTP chunk and TCP
    /// segment, as real engines write them), batched (every token that is ready in one chunk:
    /// at zero delay a whole response is one write), or auto (per-event whenever tokens are
    /// timed — engine mode, or a non-zero --ttft-ms/--itl-ms — batched otherwise).
    #[arg(long, value_enum, default_value_t = FramingArg::Auto)]
    pub framing: FramingArg,

    /// Close the connection after each response although the response advertises keep-alive
    /// (`Connection: keep-alive`, `Keep-Alive: timeout=5, max=100`), as llama.cpp's
    /// `llama-server` does after a streamed response.
    #[arg(long)]
    pub(crate) close_after_response: bool,

    /// A fixed number of HTTP worker threads, as llama.cpp's server has (n_parallel + 4): each
    /// connection holds one from accept until it closes, idle keep-alive included; further
    /// connections wait, their requests unread, until one is free. 0: no limit.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub(crate) http_workers: usize,

    /// With --http-workers: seconds after which an idle keep-alive connection is closed
    /// (llama.cpp: 5).
    #[arg(long, default_value_t = 5.0, value_name = "SECS")]
    pub(crate) keep_alive_timeout: f64,

    /// Report `usage.prompt_tokens_details.cached_tokens`: the prompt tokens found in the
    /// prefix cache (whole blocks of a prompt prefix seen before), as vLLM with
    /// `--enable-prompt-tokens-details` and llama.cpp do.
    #[arg(long)]
    pub cached_tokens: bool,

    /// The names /metrics exports: vllm (default), llamacpp (`llamacpp:*`, as llama-server
    /// --metrics) or tgi (`tgi_*`, as text-generation-inference).
    #[arg(long, value_enum, default_value_t = MetricNames::Vllm)]
    pub(crate) metric_names: MetricNames,

    /// Serve HTTPS with this certificate chain (PEM), offering HTTP/2 and HTTP/1.1 by ALPN
    /// (needs --tls-key). Cleartext connections speak HTTP/1.1 or, by prior knowledge, HTTP/2.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,

    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,

    /// With --tls-cert: require every client to present a certificate signed by a CA of this
    /// PEM file (mutual TLS); a client without one fails the handshake.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub(crate) tls_client_ca: Option<std::path::PathBuf>,

    /// Refuse every generation request (401, like an API gateway) that lacks the header NAME
    /// with exactly VALUE (repeatable; e.g. `authorization=Bearer sk-...`). The value is never
    /// logged: tests use it to prove that a secret reached the engine.
    #[arg(long = "require-header", value_name = "NAME=VALUE", value_parser = parse_header)]
    pub(crate) require_headers: Vec<(String, String)>,

    /// Log the header NAME of every generation request that carries it, with the request's id
    /// (`header NAME=VALUE request ID`, info level; repeatable): tests read which session id
    /// each request carried.
    #[arg(long = "log-header", value_name = "NAME")]
    pub(crate) log_headers: Vec<String>,

    /// A router's session affinity: every generation response carries the header NAME, with
    /// the token the request sent in it, else a new one, `tok-<request id>`.
    #[arg(long = "session-token-header", value_name = "NAME")]
    pub(crate) session_token_header: Option<String>,
}

/// `--framing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum FramingArg {
    /// Per-event whenever tokens are timed (engine mode, or a non-zero delay), else batched.
    #[default]
    Auto,
    /// Every token that is ready in one HTTP chunk.
    Batched,
    /// Every SSE event its own HTTP chunk and TCP segment, as real engines write them.
    PerEvent,
}

/// Which engine's metric names `/metrics` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum MetricNames {
    /// vLLM's `vllm:` names.
    #[default]
    Vllm,
    /// llama.cpp server's `llamacpp:` names.
    Llamacpp,
    /// Text Generation Inference's `tgi_` names.
    Tgi,
}

fn parse_header(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.to_string()))
        .ok_or_else(|| "expected NAME=VALUE".to_string())
}

/// The flags of `sim proxy`.
#[derive(Debug, Args, Clone)]
pub struct ProxyArgs {
    /// Address to listen on (port 0 picks one; printed as `listening on ADDR`).
    #[arg(long)]
    pub listen: SocketAddr,

    /// Base URL of a prefill instance, e.g. http://127.0.0.1:8100 (repeat or give several).
    #[arg(long, value_name = "URL", num_args = 1.., required = true)]
    pub prefill: Vec<String>,

    /// Base URL of a decode instance, e.g. http://127.0.0.1:8200 (repeat or give several).
    #[arg(long, value_name = "URL", num_args = 1.., required = true)]
    pub decode: Vec<String>,

    /// Simulated KV-cache transfer time per prompt token, in microseconds, waited between the
    /// prefill response and the decode request.
    #[arg(long, default_value_t = 2.0, value_name = "F")]
    pub(crate) kv_transfer_us_per_token: f64,

    /// Fault: the decode-only fallback. Every request goes straight to a decode instance
    /// without a KV handle, so the decode instance computes the prompt itself and the prefill
    /// instances get nothing (what a P/D router does when it falls back to decode-only).
    #[arg(long)]
    pub(crate) decode_only: bool,

    /// Worker threads of the tokio runtime.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub threads: usize,
}
