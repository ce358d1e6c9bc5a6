//! `sim serve`: configuration from the command line, the shared state of one instance, and
//! routing of `/v1/completions`, `/v1/chat/completions` (see [`crate::generate`]),
//! `/v1/models`, `/health` and `/metrics`.

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::cli::{Role, ServeArgs};
use crate::engine::card::EngineCard;
use crate::engine::EngineHandle;
use crate::faults::{Fault, FaultPlan};
use crate::ground_truth::{unix_us, GroundTruthLog};
use crate::http::{accept_loop_with, full, json, ConnPolicy, ResponseBody};
use crate::metrics::Metrics;
use crate::openai::Endpoint;
use crate::state::{AppState, Timing};

/// How tokens are timed.
#[derive(Debug, Clone)]
pub(crate) enum Mode {
    /// Fixed TTFT and inter-token gap.
    Deterministic { ttft: Duration, itl: Duration },
    /// The simulated engine described by a card.
    Engine(EngineCard),
}

/// Everything `serve` needs, resolved from the command line.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub(crate) listen: SocketAddr,
    pub(crate) model: String,
    pub(crate) loras: Vec<String>,
    pub(crate) role: Role,
    pub(crate) mode: Mode,
    pub(crate) ground_truth: Option<std::path::PathBuf>,
    pub(crate) fault: Option<Fault>,
    pub(crate) fault_rate: f64,
    pub(crate) seed: u64,
    /// Headers (lower-case name, value) every generation request must carry.
    pub(crate) required_headers: Vec<(String, String)>,
    /// Headers whose value is logged per request (`--log-header`).
    pub(crate) log_headers: Vec<String>,
    /// `--session-token-header`.
    pub(crate) session_token_header: Option<http::HeaderName>,
    pub(crate) close_after_response: bool,
    pub(crate) http_workers: usize,
    pub(crate) keep_alive_timeout: Duration,
    pub(crate) cached_tokens: bool,
    /// How streamed events are framed (`--framing`, resolved).
    pub(crate) framing: crate::sse_body::Framing,
    pub(crate) metric_names: crate::cli::MetricNames,
    /// HTTPS (`--tls-cert/--tls-key`), read at start-up.
    pub(crate) tls: Option<crate::tls::SimTls>,
}

/// A bad command line for `serve`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `--ttft-ms` or `--itl-ms` negative or not finite.
    #[error("--ttft-ms and --itl-ms must be finite and >= 0")]
    BadTiming,
    /// `--fault-rate` outside 0..=1.
    #[error("--fault-rate must be within 0..=1")]
    BadFaultRate,
    /// `--keep-alive-timeout` not positive.
    #[error("--keep-alive-timeout must be finite and > 0")]
    BadKeepAlive,
    /// `--session-token-header` not a header name.
    #[error("--session-token-header {0:?} is not a header name")]
    BadHeaderName(String),
    /// A bad `--fault`.
    #[error(transparent)]
    Fault(#[from] crate::faults::FaultParseError),
    /// An engine card that cannot be read.
    #[error(transparent)]
    Card(#[from] crate::engine::card::CardError),
    /// A certificate or key that cannot be read.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
}

impl ServeConfig {
    /// The configuration the flags of `sim serve` describe, checked.
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
        if !(a.keep_alive_timeout.is_finite() && a.keep_alive_timeout > 0.0) {
            return Err(ConfigError::BadKeepAlive);
        }
        Ok(ServeConfig {
            framing: resolve_framing(a.framing, &mode),
            listen: a.listen,
            model: a.model.clone(),
            loras: a.loras.clone(),
            role: a.role,
            mode,
            ground_truth: a.ground_truth.clone(),
            fault: a.fault.as_deref().map(str::parse).transpose()?,
            fault_rate: a.fault_rate,
            seed: a.seed,
            required_headers: a.require_headers.clone(),
            log_headers: a.log_headers.clone(),
            session_token_header: (a.session_token_header.as_deref())
                .map(|h| {
                    http::HeaderName::from_bytes(h.as_bytes())
                        .map_err(|_| ConfigError::BadHeaderName(h.to_string()))
                })
                .transpose()?,
            close_after_response: a.close_after_response,
            http_workers: a.http_workers,
            keep_alive_timeout: Duration::from_secs_f64(a.keep_alive_timeout.min(86_400.0)),
            cached_tokens: a.cached_tokens,
            metric_names: a.metric_names,
            tls: match (&a.tls_cert, &a.tls_key) {
                (Some(c), Some(k)) => {
                    Some(crate::tls::SimTls::load(c, k, a.tls_client_ca.as_deref())?)
                }
                _ => None,
            },
        })
    }
}

/// `--framing auto` is per-event whenever tokens are timed, batched at zero delay.
fn resolve_framing(arg: crate::cli::FramingArg, mode: &Mode) -> crate::sse_body::Framing {
    use crate::cli::FramingArg;
    use crate::sse_body::Framing;
    match (arg, mode) {
        (FramingArg::Batched, _) => Framing::Batched,
        (FramingArg::PerEvent, _) => Framing::PerEvent,
        (FramingArg::Auto, Mode::Deterministic { ttft, itl })
            if ttft.is_zero() && itl.is_zero() =>
        {
            Framing::Batched
        }
        (FramingArg::Auto, _) => Framing::PerEvent,
    }
}

/// Binds, prints `listening on ADDR` on stdout, and serves until the process ends.
pub async fn serve(cfg: ServeConfig) -> anyhow::Result<()> {
    let listener = crate::http::listen(cfg.listen)?;
    let addr = listener.local_addr()?;
    let metrics = Arc::new(Metrics::new(&cfg.model).with_names(cfg.metric_names));
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
        required_headers: cfg.required_headers.clone(),
        log_headers: cfg.log_headers.clone(),
        session_token_header: cfg.session_token_header.clone(),
        prefix_cache: cfg
            .cached_tokens
            .then(crate::prefix_cache::PrefixCache::default),
        framing: cfg.framing,
    });
    crate::announce(addr);
    tracing::info!(%addr, role = ?cfg.role, model = %cfg.model, "sim serving");
    let policy = ConnPolicy {
        close_after_response: cfg.close_after_response,
        workers: (cfg.http_workers > 0)
            .then(|| Arc::new(tokio::sync::Semaphore::new(cfg.http_workers))),
        keep_alive_timeout: cfg.keep_alive_timeout,
        tls: cfg.tls.clone(),
    };
    accept_loop_with(listener, move |req| handle(state.clone(), req), policy).await
}

async fn handle(state: Arc<AppState>, req: Request<Incoming>) -> Response<ResponseBody> {
    let path = req.uri().path();
    match (req.method(), path) {
        (&Method::POST, "/v1/completions") => {
            crate::generate::generate(state, req, Endpoint::Completions).await
        }
        (&Method::POST, "/v1/chat/completions") => {
            crate::generate::generate(state, req, Endpoint::Chat).await
        }
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
