//! What one agent runs of one stage: the [`ShardSpec`] that travels as JSON inside `Assign`, its
//! endpoint and its part of the stage's load.

use super::rate::rate_or_inf;
use super::window::Window;
use crate::breaker::CircuitBreakerConfig;
use crate::data::DataSpec;
use crate::measure::goodput::GoodputSlo;
use crate::settings::{ApiType, ClientCert, HttpVersion, TelemetrySection};
use crate::tokenize::splitmix64;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where and how to send requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointSpec {
    /// The endpoint's base URL, without a trailing `/`.
    pub base_url: String,
    /// The model requests name.
    pub model: String,
    /// Completions or chat completions.
    pub api: ApiType,
    /// Ask for a streamed (SSE) response.
    pub streaming: bool,
    /// Send `ignore_eos` so the output reaches `max_tokens`.
    pub ignore_eos: bool,
    /// The bearer token, if any.
    pub api_key: Option<String>,
    /// Extra headers on every request.
    pub headers: BTreeMap<String, String>,
    /// `api.response_format`: the body's `response_format`, as given (structured output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<serde_json::Value>,
    /// `api.http_version`.
    #[serde(default)]
    pub http_version: HttpVersion,
    /// `server.cert_path`/`key_path`: the client certificate for mutual TLS, files on each
    /// agent's host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<ClientCert>,
    /// `api.session_id_header_key`: the header that carries a session's id on every request of
    /// a multi-turn session (see [`crate::data::DataSource::session_of`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id_header: Option<String>,
    /// `load.request_retries`: more attempts for a request whose attempt failed before any
    /// response, each after `retry_backoff_s` · 2^k with jitter (k = 0, 1, ...).
    #[serde(default)]
    pub request_retries: u32,
    /// `load.request_retry_backoff_sec`: the first retry's wait, seconds.
    #[serde(default)]
    pub retry_backoff_s: f64,
    /// `api.session_token_header_key`: the response header carrying a server-assigned session
    /// token, sent back on the session's later requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token_header: Option<String>,
}

/// A Prometheus query API this agent reads the engines' series from, each telemetry interval
/// (`metrics.prometheus.google_managed`: Google Cloud Managed Service for Prometheus, which has
/// no `/federate`): `GET <base_url>/api/v1/query?query=<selector>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromQuery {
    /// The API's base URL (`https://monitoring.googleapis.com/v1/projects/P/location/global/prometheus`);
    /// filled by the coordinator when the stage starts, empty in the plan.
    pub base_url: String,
    /// The PromQL selector of the engines' series.
    pub selector: String,
    /// The `Authorization: Bearer` token, filled by the coordinator when the stage starts
    /// (never in `plan.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer: Option<String>,
}

/// One shard's part of a stage's load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ShardLoad {
    /// Request j of the global constant schedule (`0..total`) belongs to this shard when
    /// `stripe_cycle(weights)[j % Σw] == shard`.
    Constant {
        /// Requests/s.
        #[serde(with = "rate_or_inf")]
        rate: f64,
        /// The rate at the end, ramped linearly from `rate`.
        ramp_to: Option<f64>,
        /// Seconds the load lasts, where bounded.
        duration_s: Option<f64>,
        /// Requests (or trace records) of the whole stage.
        total: u64,
        /// Every shard's load weight, in shard order.
        weights: Vec<u32>,
    },
    /// An independent Poisson process at this shard's share of the rate (ramped when
    /// `ramp_to`), at most `max_requests`.
    Poisson {
        /// Requests/s.
        rate: f64,
        /// The rate at the end, ramped linearly from `rate`.
        ramp_to: Option<f64>,
        /// Seconds the load lasts.
        duration_s: f64,
        /// At most this many requests.
        max_requests: Option<u64>,
    },
    /// Gamma-distributed gaps (shape `burstiness`) at this shard's share of the rate.
    Gamma {
        /// Requests/s.
        rate: f64,
        /// The gamma shape.
        burstiness: f64,
        /// Seconds the load lasts.
        duration_s: f64,
        /// At most this many requests.
        max_requests: Option<u64>,
    },
    /// `users` closed-loop users sharing `num_requests` (if bounded) until `duration_s` (if
    /// bounded). They are users `first_user..first_user + users` of the stage's `total_users`
    /// (multi-turn: user g runs sessions g, g + total_users, ...).
    Concurrent {
        /// This shard's users.
        users: u32,
        /// Requests this shard's users send together, where bounded.
        num_requests: Option<u64>,
        /// Seconds the load lasts, where bounded.
        duration_s: Option<f64>,
        /// The stage-wide index of this shard's first user.
        #[serde(default)]
        first_user: u32,
        /// The stage's users over all shards.
        #[serde(default)]
        total_users: u32,
    },
    /// Record j of the data's trace (`0..total`) at its scaled timestamp, when
    /// `stripe_cycle(weights)[j % Σw] == shard` (as constant).
    Trace {
        /// Factor on the trace's timestamps.
        time_scale: f64,
        /// Requests (or trace records) of the whole stage.
        total: u64,
        /// Every shard's load weight, in shard order.
        weights: Vec<u32>,
    },
    /// Sessions `first_session..first_session + sessions` of the stage's (each whole, on this
    /// agent), at most `concurrent` at once (0: all), at most `session_rate` started per second
    /// (this shard's share); at `timeout_s` from the stage start the running ones are cancelled.
    Sessions {
        /// This shard's sessions at once (0: all).
        concurrent: u32,
        /// This shard's sessions started per second, at most.
        session_rate: Option<f64>,
        /// The data's first session of this shard.
        first_session: u64,
        /// Sessions this shard runs.
        sessions: u64,
        /// Seconds after the stage start at which running sessions are cancelled.
        timeout_s: Option<f64>,
    },
    /// A telemetry-only shard: no load.
    Idle,
}

impl ShardLoad {
    /// Seconds after the stage start at which the load stops sending, where it has such an end.
    pub fn duration_s(&self) -> Option<f64> {
        match *self {
            ShardLoad::Constant { duration_s, .. } | ShardLoad::Concurrent { duration_s, .. } => {
                duration_s
            }
            ShardLoad::Poisson { duration_s, .. } | ShardLoad::Gamma { duration_s, .. } => {
                Some(duration_s)
            }
            ShardLoad::Trace { .. } | ShardLoad::Sessions { .. } | ShardLoad::Idle => None,
        }
    }
}

/// Everything an agent needs to run its shard of one stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardSpec {
    /// The run's id.
    pub run_id: String,
    /// The stage's index.
    pub stage: u32,
    /// The stage's label (`qps_04`, `c16`).
    pub stage_label: String,
    /// This shard's index (the member's in the plan).
    pub shard: u32,
    /// Shards of the stage.
    pub shards: u32,
    /// Where and how to send.
    pub endpoint: EndpointSpec,
    /// What each request sends.
    pub data: DataSpec,
    /// This shard's part of the load.
    pub load: ShardLoad,
    /// The stage's measured window (requests intended in it are measured).
    pub window: Window,
    /// Milliseconds between snapshots.
    pub snapshot_interval_ms: u64,
    /// A request's whole-response timeout.
    pub request_timeout_ms: u64,
    /// How long requests in flight at the stage end may finish.
    pub grace_period_ms: u64,
    /// Seed of the stage; request data derives from it and the request's global index.
    pub seed: u64,
    /// Send one record per request with the snapshots (`requests.jsonl`).
    #[serde(default)]
    pub per_request: bool,
    /// What a user waits after an answer before its next request (closed loop, session rounds).
    #[serde(default)]
    pub think_time_ms: u64,
    /// The profile's `telemetry` section (empty: the agent's own settings).
    #[serde(default)]
    pub telemetry: TelemetrySection,
    /// Engine `/metrics` endpoints this agent scrapes for its host group (`fleet.hosts[]
    /// .engine_metrics`), besides its own `--engine-metrics`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub engine_metrics: Vec<String>,
    /// `metrics.prometheus.google_managed`: the query API this agent (the run's first) reads
    /// the engines' series from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus_query: Option<PromQuery>,
    /// `load.first_byte_timeout` and `load.idle_timeout` (None: the agent's defaults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_byte_timeout_ms: Option<u64>,
    /// The longest gap between chunks (None: the agent's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout_ms: Option<u64>,
    /// `load.warmup_connections`: connections to open just before the stage (0: none).
    #[serde(default)]
    pub warmup_connections: u32,
    /// `report.goodput.constraints`: the agent counts the requests that meet them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goodput: Option<GoodputSlo>,
    /// The circuit breakers `load.circuit_breakers` enables: the agent watches its own requests
    /// with them and stops the shard when one trips.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub circuit_breakers: Vec<CircuitBreakerConfig>,
}

impl ShardSpec {
    /// Rounds of each session when the load starts multi-turn sessions rather than requests.
    pub fn session_rounds(&self) -> Option<u32> {
        self.data.source.session_rounds()
    }

    /// The seed of this shard's own random streams (Poisson arrivals).
    pub fn shard_seed(&self) -> u64 {
        splitmix64(self.seed ^ (u64::from(self.shard) << 32 | 0x5EED))
    }
}
