//! The workload profile as data: inference-perf's configuration sections plus fleetbench's own
//! (`name`, `description`, `fleet`). Every struct rejects unknown keys; inference-perf keys that
//! fleetbench does not implement yet are captured as raw values so that validation can say
//! "not supported" by name instead of ignoring them.

use serde::{Deserialize, Serialize};
use serde_norway::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Default: the file stem.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub api: ApiConfig,
    pub data: DataConfig,
    pub load: LoadConfig,
    pub server: ServerConfig,
    #[serde(default)]
    pub tokenizer: Option<TokenizerConfig>,
    #[serde(default)]
    pub metrics: Option<MetricsConfig>,
    #[serde(default)]
    pub report: Option<ReportConfig>,
    #[serde(default)]
    pub storage: Option<StorageConfig>,
    #[serde(default)]
    pub fleet: FleetConfig,
    /// Service-level objectives: metric (`ttft_ms`, `tpot_ms`, `itl_ms`, `ntpot_ms`, `e2e_ms`)
    /// → statistic (`mean`, `p50`, `p90`, `p95`, `p99`, `p99p9`) → upper bound in ms. The
    /// summary's headline names the highest stage that met each.
    #[serde(default)]
    pub slo: BTreeMap<String, BTreeMap<String, f64>>,
    /// fleetbench's own section: how agents sample their hosts during this run (their
    /// `--telemetry-interval` and `--nvml` apply where it is silent).
    #[serde(default)]
    pub telemetry: Option<TelemetrySection>,
    /// inference-perf's circuit breakers, enabled by name in `load.circuit_breakers`.
    #[serde(default)]
    pub circuit_breakers: Option<Vec<super::breaker::CircuitBreakerConfig>>,
}

/// `telemetry: {interval: 0.2, nvml: auto}`.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySection {
    /// Seconds between samples.
    #[serde(default)]
    pub interval: Option<f64>,
    #[serde(default)]
    pub nvml: Option<NvmlSetting>,
}

/// Accelerator telemetry for a run: `auto` (where the agent has it), `on` (an agent without it
/// fails its shard), `off` (no accelerator samples).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum NvmlSetting {
    Auto,
    On,
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ApiType {
    #[default]
    Completion,
    Chat,
}

/// `api.http_version`: the HTTP version the agents speak to the endpoint. `auto` (the
/// default): HTTP/2 when a TLS server picks `h2` by ALPN, else HTTP/1.1; `1.1`: always HTTP/1.1;
/// `2`: always HTTP/2 (h2c by prior knowledge over `http://`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub enum HttpVersion {
    #[default]
    #[serde(rename = "auto")]
    Auto,
    #[serde(rename = "1.1")]
    Http1,
    #[serde(rename = "2")]
    Http2,
}

impl<'de> Deserialize<'de> for HttpVersion {
    /// `auto`, `1.1` or `2`, written as a string or a YAML number.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Number(f64),
        }
        let text = match Raw::deserialize(d)? {
            Raw::Text(t) => t,
            Raw::Number(n) => n.to_string(),
        };
        match text.as_str() {
            "auto" => Ok(HttpVersion::Auto),
            "1.1" => Ok(HttpVersion::Http1),
            "2" | "2.0" => Ok(HttpVersion::Http2),
            _ => Err(serde::de::Error::custom(format!(
                "api.http_version must be auto, 1.1 or 2, got {text:?}"
            ))),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    #[serde(rename = "type", default)]
    pub kind: ApiType,
    #[serde(default)]
    pub streaming: bool,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// HTTP/1.1 or HTTP/2 to the endpoint (see [`HttpVersion`]).
    #[serde(default)]
    pub http_version: HttpVersion,
    /// The unit of the SLO header values: s, ms (default) or us (see `slo_headers.rs`).
    #[serde(default)]
    pub slo_unit: Option<String>,
    /// The request header carrying a request's TPOT objective (default `x-slo-tpot-<unit>`).
    #[serde(default)]
    pub slo_tpot_header: Option<String>,
    /// The request header carrying a request's TTFT objective (default `x-slo-ttft-<unit>`).
    #[serde(default)]
    pub slo_ttft_header: Option<String>,
    /// Structured output: sent as the request body's `response_format`.
    #[serde(default)]
    pub response_format: Option<ResponseFormat>,
    /// A header that carries the session's id on every request of a multi-turn session.
    #[serde(default)]
    pub session_id_header_key: Option<String>,
    /// A response header carrying a server-assigned session token, sent back on the later
    /// requests of the same session (router session affinity).
    #[serde(default)]
    pub session_token_header_key: Option<String>,
}

/// inference-perf's `api.response_format`: `json_schema` (with `name` and `json_schema`) or
/// `json_object`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ResponseFormat {
    #[serde(rename = "type", default)]
    pub kind: ResponseFormatType,
    #[serde(default = "default_schema_name")]
    pub name: String,
    #[serde(default)]
    pub json_schema: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ResponseFormatType {
    #[default]
    JsonSchema,
    JsonObject,
}

fn default_schema_name() -> String {
    "structured_output".into()
}

impl ResponseFormat {
    /// The request body's `response_format` value, as inference-perf sends it.
    pub fn to_api_format(&self) -> serde_json::Value {
        match self.kind {
            ResponseFormatType::JsonObject => serde_json::json!({"type": "json_object"}),
            ResponseFormatType::JsonSchema => serde_json::json!({
                "type": "json_schema",
                "json_schema": {"name": self.name, "schema": self.json_schema},
            }),
        }
    }
}

impl ApiConfig {
    /// The TTFT and TPOT objectives of the SLO headers (`slo_headers.rs`); the error names the
    /// key and says what is allowed.
    pub fn header_slos(&self) -> Result<super::HeaderSlos, (String, String)> {
        super::slo_headers::header_slos(super::slo_headers::SloKeys {
            unit: self.slo_unit.as_deref(),
            ttft_header: self.slo_ttft_header.as_deref(),
            tpot_header: self.slo_tpot_header.as_deref(),
            streaming: self.streaming,
            headers: &self.headers,
        })
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            kind: ApiType::Completion,
            streaming: false,
            headers: BTreeMap::new(),
            http_version: HttpVersion::Auto,
            slo_unit: None,
            slo_tpot_header: None,
            slo_ttft_header: None,
            response_format: None,
            session_id_header_key: None,
            session_token_header_key: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum DataType {
    #[serde(rename = "random")]
    Random,
    #[serde(rename = "synthetic")]
    Synthetic,
    #[serde(rename = "mock")]
    Mock,
    #[serde(rename = "shared_prefix")]
    SharedPrefix,
    #[serde(rename = "shareGPT")]
    ShareGpt,
    #[serde(rename = "cnn_dailymail")]
    CnnDailymail,
    #[serde(rename = "billsum_conversations")]
    BillsumConversations,
    #[serde(rename = "infinity_instruct")]
    InfinityInstruct,
    #[serde(rename = "otel_trace_replay")]
    OtelTraceReplay,
    #[serde(rename = "visionarena")]
    Visionarena,
    #[serde(rename = "weka_trace_replay")]
    WekaTraceReplay,
    #[serde(rename = "conversation_replay")]
    ConversationReplay,
    /// fleetbench's addition: a Mooncake-style trace (JSONL) from `data.path`.
    #[serde(rename = "mooncake_trace")]
    MooncakeTrace,
    /// fleetbench's addition: chat sessions from `data.multi_turn`.
    #[serde(rename = "multi_turn")]
    MultiTurn,
}

impl DataType {
    /// The name a profile spells it with.
    pub fn name(self) -> &'static str {
        match self {
            DataType::Random => "random",
            DataType::Synthetic => "synthetic",
            DataType::Mock => "mock",
            DataType::SharedPrefix => "shared_prefix",
            DataType::ShareGpt => "shareGPT",
            DataType::CnnDailymail => "cnn_dailymail",
            DataType::BillsumConversations => "billsum_conversations",
            DataType::InfinityInstruct => "infinity_instruct",
            DataType::OtelTraceReplay => "otel_trace_replay",
            DataType::Visionarena => "visionarena",
            DataType::WekaTraceReplay => "weka_trace_replay",
            DataType::ConversationReplay => "conversation_replay",
            DataType::MooncakeTrace => "mooncake_trace",
            DataType::MultiTurn => "multi_turn",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    #[serde(rename = "type")]
    pub kind: DataType,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub input_distribution: Option<Distribution>,
    #[serde(default)]
    pub output_distribution: Option<Distribution>,
    #[serde(default)]
    pub shared_prefix: Option<SharedPrefixConfig>,
    /// fleetbench's chat sessions (data type multi_turn).
    #[serde(default)]
    pub multi_turn: Option<MultiTurnConfig>,
    /// fleetbench's LoRA adapter mix: adapter (or model) name → weight; each request names one.
    #[serde(default)]
    pub lora_mix: Option<BTreeMap<String, f64>>,
    #[serde(default)]
    pub multimodal: Option<Value>,
    #[serde(default)]
    pub use_chat_template: Option<Value>,
    #[serde(default)]
    pub otel_trace_replay: Option<Value>,
    #[serde(default)]
    pub weka_trace_replay: Option<Value>,
    #[serde(default)]
    pub conversation_replay: Option<Value>,
    #[serde(default)]
    pub visionarena: Option<Value>,
    #[serde(default)]
    pub corpus_file_path: Option<Value>,
    /// inference-perf's `data.trace` (data type random): request lengths from a trace file.
    #[serde(default)]
    pub trace: Option<TraceFile>,
}

/// inference-perf's trace file: `{file, format: AzurePublicDataset}`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TraceFile {
    pub file: String,
    #[serde(default)]
    pub format: TraceFormat,
}

/// The trace formats inference-perf reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
pub enum TraceFormat {
    /// CSV with `TIMESTAMP,ContextTokens,GeneratedTokens` (Azure LLM inference traces).
    #[default]
    AzurePublicDataset,
}

/// inference-perf's length distribution (`Distribution` of its `config/common.py`): a normal
/// distribution clamped to `[min, max]`, or with `type` fixed (`mean`, min and max unused),
/// uniform (min..=max), lognormal (mean and std_dev of the lognormal itself), skew_normal or
/// poisson. An omitted key takes inference-perf's default: min 10, max 1024, mean 512,
/// std_dev 200, type normal (see [`Distribution::lo`] and the other accessors).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Distribution {
    #[serde(rename = "type", default)]
    pub kind: Option<crate::data::LengthDist>,
    #[serde(default)]
    pub min: Option<u32>,
    #[serde(default)]
    pub max: Option<u32>,
    #[serde(default)]
    pub mean: Option<f64>,
    #[serde(default, alias = "std")]
    pub std_dev: Option<f64>,
    #[serde(default)]
    pub total_count: Option<u64>,
    /// inference-perf's alternative to `std_dev` (std_dev = √variance; with `std_dev: 0`, since
    /// std_dev's default 200 and a variance are "both" to inference-perf).
    #[serde(default)]
    pub variance: Option<f64>,
    /// Skewness of type `skew_normal` (other types ignore it, as inference-perf does).
    #[serde(default)]
    pub skew: Option<f64>,
}

/// `load.interval` when omitted: inference-perf's default wait between stages, in seconds.
pub const DEFAULT_STAGE_INTERVAL_S: f64 = 1.0;

/// inference-perf's defaults for a distribution's omitted keys.
pub const DIST_DEFAULT_MIN: u32 = 10;
pub const DIST_DEFAULT_MAX: u32 = 1024;
pub const DIST_DEFAULT_MEAN: f64 = 512.0;
pub const DIST_DEFAULT_STD_DEV: f64 = 200.0;

impl Distribution {
    /// The shape (`type`, default normal).
    pub fn shape(&self) -> crate::data::LengthDist {
        self.kind.unwrap_or_default()
    }

    /// `min`, default 10.
    pub fn lo(&self) -> u32 {
        self.min.unwrap_or(DIST_DEFAULT_MIN)
    }

    /// `max`, default 1024.
    pub fn hi(&self) -> u32 {
        self.max.unwrap_or(DIST_DEFAULT_MAX)
    }

    /// `mean`, default 512.
    pub fn center(&self) -> f64 {
        self.mean.unwrap_or(DIST_DEFAULT_MEAN)
    }

    /// `std_dev` as given, else inference-perf's default 200.
    pub fn std_dev_or_default(&self) -> f64 {
        self.std_dev.unwrap_or(DIST_DEFAULT_STD_DEV)
    }

    /// The standard deviation: √`variance` when that is given, else `std_dev` (default 200).
    pub fn spread(&self) -> f64 {
        match self.variance {
            Some(v) => v.max(0.0).sqrt(),
            None => self.std_dev_or_default(),
        }
    }
}

/// A length given as a number of tokens or as a distribution (inference-perf's
/// `Union[int, Distribution]`).
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
#[serde(untagged)]
pub enum LenOrDist {
    Tokens(u32),
    Dist(Distribution),
}

impl<'de> Deserialize<'de> for LenOrDist {
    /// A number, else a distribution with the distribution's own errors (unknown keys named).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match Value::deserialize(d)? {
            Value::Number(n) => n
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .map(LenOrDist::Tokens)
                .ok_or_else(|| {
                    D::Error::custom(format!(
                        "a length is a whole number of tokens or a distribution, got {n}"
                    ))
                }),
            other => serde_norway::from_value(other)
                .map(LenOrDist::Dist)
                .map_err(D::Error::custom),
        }
    }
}

impl LenOrDist {
    pub fn tokens(&self) -> Option<u32> {
        match self {
            LenOrDist::Tokens(n) => Some(*n),
            LenOrDist::Dist(_) => None,
        }
    }

    pub fn dist(&self) -> Option<&Distribution> {
        match self {
            LenOrDist::Tokens(_) => None,
            LenOrDist::Dist(d) => Some(d),
        }
    }
}

/// inference-perf's `data.shared_prefix`: `num_groups` groups of `num_prompts_per_group` prompts;
/// the prompts of a group start with the same system prompt. Lengths are a number of tokens or a
/// distribution (a group's system prompt length is drawn once per group). Defaults are
/// inference-perf's: 10 groups of 10 prompts, system prompt 100, question 50, output 50.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SharedPrefixConfig {
    #[serde(default = "ten", alias = "num_unique_system_prompts")]
    pub num_groups: u32,
    #[serde(default = "ten", alias = "num_users_per_system_prompt")]
    pub num_prompts_per_group: u32,
    #[serde(default = "hundred")]
    pub system_prompt_len: LenOrDist,
    /// Tokens of each question; with a number, a legacy `question_distribution` wins over it
    /// (as in inference-perf).
    #[serde(default = "fifty")]
    pub question_len: LenOrDist,
    #[serde(default = "fifty")]
    pub output_len: LenOrDist,
    /// The seed of the prompts (default: the run's seed).
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub question_distribution: Option<Distribution>,
    #[serde(default)]
    pub output_distribution: Option<Distribution>,
    /// Each group's prompts are the consecutive rounds of one chat session.
    #[serde(default)]
    pub enable_multi_turn_chat: bool,
    #[serde(default)]
    pub multimodal: Option<Value>,
}

fn ten() -> u32 {
    10
}

fn hundred() -> LenOrDist {
    LenOrDist::Tokens(100)
}

fn fifty() -> LenOrDist {
    LenOrDist::Tokens(50)
}

/// Whether a round's prompt carries the session's earlier questions and answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum History {
    #[default]
    Carry,
    None,
}

/// fleetbench's `data.multi_turn`: `users` chat sessions of `rounds` rounds each.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct MultiTurnConfig {
    pub users: u32,
    pub rounds: u32,
    #[serde(default)]
    pub system_prompt_len: u32,
    /// Tokens of each round's question (default 64).
    #[serde(default)]
    pub question_len: Option<u32>,
    /// Tokens of each answer (default 128): the round's max_tokens, and the synthesized answer
    /// carried into later rounds.
    #[serde(default)]
    pub answer_len: Option<u32>,
    #[serde(default)]
    pub history: History,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadType {
    Constant,
    Poisson,
    /// Gamma-distributed gaps with `load.burstiness` (1.0 = Poisson), as `vllm bench serve`.
    Gamma,
    Concurrent,
    /// inference-perf's `trace_replay` (alias `trace`): timestamps from `load.trace` or the
    /// data's trace (`data.type: mooncake_trace`), scaled by `load.time_scale`.
    #[serde(rename = "trace_replay", alias = "trace")]
    Trace,
    TraceSessionReplay,
}

/// A request rate: a positive number of requests/s, or `inf` (every request at once).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rate(pub f64);

impl Rate {
    pub fn is_infinite(self) -> bool {
        self.0.is_infinite()
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(n) => Ok(Rate(n)),
            Raw::Text(t) if matches!(t.as_str(), "inf" | "infinity" | ".inf" | "Infinity") => {
                Ok(Rate(f64::INFINITY))
            }
            Raw::Text(t) => Err(serde::de::Error::custom(format!(
                "rate {t:?}: expected a number of requests/s or `inf`"
            ))),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LoadConfig {
    #[serde(rename = "type")]
    pub kind: LoadType,
    #[serde(default)]
    pub stages: Vec<LoadStage>,
    /// Sweep shorthand: one stage per rate (with `stage_duration` and/or `stage_requests`).
    #[serde(default)]
    pub rates: Option<Vec<Rate>>,
    /// Sweep shorthand: one closed-loop stage per concurrency (load type concurrent).
    #[serde(default)]
    pub concurrencies: Option<Vec<u32>>,
    /// Seconds of each shorthand stage.
    #[serde(default)]
    pub stage_duration: Option<f64>,
    /// Requests of each shorthand stage.
    #[serde(default)]
    pub stage_requests: Option<u64>,
    /// Gamma arrivals: shape of the gaps (1.0 = Poisson; lower is burstier).
    #[serde(default)]
    pub burstiness: Option<f64>,
    /// Trace replay: the factor applied to the trace's time axis (2 = half the rate, 0.5 =
    /// twice as fast; default 1).
    #[serde(default)]
    pub time_scale: Option<f64>,
    /// Closed loop and multi-turn sessions: seconds a user waits after an answer before sending
    /// its next request (default 0).
    #[serde(default)]
    pub think_time: Option<f64>,
    /// inference-perf's wait between stages: seconds from one stage's end to the next one's
    /// start (default [`DEFAULT_STAGE_INTERVAL_S`], inference-perf's).
    #[serde(default)]
    pub interval: Option<f64>,
    #[serde(default)]
    pub base_seed: Option<u64>,
    /// Per-request timeout in seconds (default 600).
    #[serde(default)]
    pub request_timeout: Option<f64>,
    /// Seconds a streamed request may wait for the response headers (default 300, at most
    /// `request_timeout`): `timeout_headers`.
    #[serde(default)]
    pub first_byte_timeout: Option<f64>,
    /// Seconds a streamed response may stay silent between chunks (default 60): `timeout_idle`.
    #[serde(default)]
    pub idle_timeout: Option<f64>,
    /// Connections each agent opens just before every stage starts, at most as many as the
    /// stage has in flight at once on that agent (default 0: none; connections open as
    /// requests need them). Pre-warmed connections keep connection setup out of the first
    /// requests' latency, but each idle one may hold one of the server's HTTP threads.
    #[serde(default)]
    pub warmup_connections: Option<u32>,
    /// Seconds that requests still in flight at a stage's end may take to finish (default 30).
    #[serde(default)]
    pub grace_period: Option<f64>,
    // inference-perf's Python tuning knobs: accepted, no meaning for an agent.
    #[serde(default)]
    pub num_workers: Option<Value>,
    #[serde(default)]
    pub worker_max_concurrency: Option<Value>,
    #[serde(default)]
    pub worker_max_tcp_connections: Option<Value>,
    // Known to inference-perf, not implemented by fleetbench yet (but lora_traffic_split).
    #[serde(default)]
    pub sweep: Option<Value>,
    /// inference-perf's LoRA traffic split: `[{name, split}]`; the same mix as `data.lora_mix`.
    #[serde(default)]
    pub lora_traffic_split: Option<Vec<LoraSplit>>,
    /// inference-perf's retries of a request whose attempt failed before any response (a
    /// connection refused, reset or closed): at most this many more attempts (default 0).
    #[serde(default)]
    pub request_retries: Option<u32>,
    /// The wait before the first retry, seconds (default 0.5); doubled before each further
    /// one, with jitter.
    #[serde(default)]
    pub request_retry_backoff_sec: Option<f64>,
    /// inference-perf's `load.trace`: the request times (and lengths) of a `trace_replay` load.
    #[serde(default)]
    pub trace: Option<TraceFile>,
    /// Names of the `circuit_breakers` entries that watch this run.
    #[serde(default)]
    pub circuit_breakers: Option<Vec<String>>,
}

/// One adapter of `load.lora_traffic_split` and its share of the requests.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LoraSplit {
    pub name: String,
    pub split: f64,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LoadStage {
    /// Requests per second (constant, poisson and gamma loads), or `inf`.
    #[serde(default)]
    pub rate: Option<Rate>,
    /// Rate at the stage's end: the rate ramps linearly from `rate` (constant and poisson).
    #[serde(default)]
    pub ramp_to: Option<f64>,
    /// Seconds at the start of the stage whose requests are sent but not measured.
    #[serde(default)]
    pub warmup: Option<f64>,
    /// Seconds at the end of the stage whose requests are sent but not measured.
    #[serde(default)]
    pub cooldown: Option<f64>,
    /// Seconds (constant and poisson loads; optional bound for concurrent loads).
    #[serde(default)]
    pub duration: Option<f64>,
    /// Users in a closed loop (concurrent loads).
    #[serde(default)]
    pub concurrency_level: Option<u32>,
    /// Requests of the stage (concurrent loads; a cap on rate stages; required at rate `inf`).
    #[serde(default)]
    pub num_requests: Option<u64>,
    /// inference-perf's session stages (`trace_session_replay`): sessions at once, sessions
    /// started per second, sessions of the stage, wall-clock limit.
    #[serde(default)]
    pub concurrent_sessions: Option<u32>,
    #[serde(default)]
    pub session_rate: Option<f64>,
    #[serde(default)]
    pub num_sessions: Option<u64>,
    #[serde(default)]
    pub timeout: Option<f64>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    #[serde(rename = "type", default = "default_server_type")]
    pub kind: String,
    #[serde(default)]
    pub model_name: Option<String>,
    pub base_url: String,
    #[serde(default = "default_true")]
    pub ignore_eos: bool,
    #[serde(default)]
    pub api_key: Option<String>,
    #[serde(default)]
    pub cert_path: Option<Value>,
    #[serde(default)]
    pub key_path: Option<Value>,
}

fn default_server_type() -> String {
    "vllm".to_string()
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TokenizerConfig {
    #[serde(default)]
    pub pretrained_model_name_or_path: Option<String>,
    #[serde(default)]
    pub trust_remote_code: Option<bool>,
    #[serde(default)]
    pub token: Option<Value>,
    #[serde(default)]
    pub load_timeout: Option<Value>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// `prometheus` or `default` (no server metrics beyond `fleet.hosts[].engine_metrics`).
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub prometheus: Option<PrometheusConfig>,
}

/// `metrics.prometheus`: the Prometheus server that holds the engines' series. The first agent
/// reads their latest values through the server's `/federate` endpoint, filtered by `filters`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusConfig {
    /// How often the server scrapes the engines (seconds): its samples are this old at most.
    #[serde(default)]
    pub scrape_interval: Option<u32>,
    #[serde(default)]
    pub url: Option<String>,
    /// PromQL label matchers (`namespace="default"`) that select the engines' series.
    #[serde(default)]
    pub filters: Vec<String>,
    #[serde(default)]
    pub google_managed: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReportConfig {
    #[serde(default)]
    pub request_lifecycle: Option<RequestLifecycleReport>,
    #[serde(default)]
    pub prometheus: Option<Value>,
    #[serde(default)]
    pub session_lifecycle: Option<Value>,
    /// inference-perf's goodput: per-request limits in seconds (`measure::goodput`).
    #[serde(default)]
    pub goodput: Option<GoodputConfig>,
}

/// `report.goodput` as inference-perf has it: the SLOs a request must meet to count as good
/// (metric → seconds).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GoodputConfig {
    #[serde(default)]
    pub constraints: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RequestLifecycleReport {
    #[serde(default)]
    pub summary: Option<bool>,
    #[serde(default)]
    pub per_stage: Option<bool>,
    #[serde(default)]
    pub per_request: Option<bool>,
    #[serde(default)]
    pub percentiles: Option<Vec<f64>>,
    #[serde(default)]
    pub per_request_fields: Option<Value>,
    #[serde(default)]
    pub per_adapter: Option<Value>,
    #[serde(default)]
    pub per_adapter_stage: Option<Value>,
    #[serde(default)]
    pub use_server_output_tokens: Option<Value>,
    #[serde(default)]
    pub max_error_messages: Option<Value>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    #[serde(default)]
    pub local_storage: Option<LocalStorage>,
    #[serde(default)]
    pub google_cloud_storage: Option<Value>,
    #[serde(default)]
    pub simple_storage_service: Option<Value>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LocalStorage {
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub report_file_prefix: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OnAgentLoss {
    #[default]
    Fail,
    Continue,
}

/// fleetbench's own section: how the fleet of agents is used.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FleetConfig {
    /// One-shot runs wait for this many agents.
    #[serde(default)]
    pub expect_agents: Option<u32>,
    #[serde(default)]
    pub on_agent_loss: OnAgentLoss,
    /// Seconds between snapshots (default 1).
    #[serde(default)]
    pub snapshot_interval: Option<f64>,
    /// Load weight per role (`client`, `prefill`, `decode`, `other`) or per agent name; an agent
    /// name wins over its role. Default 1; 0 makes an agent telemetry-only.
    #[serde(default)]
    pub weights: BTreeMap<String, u32>,
    /// Host groups' facts for the report (`scenario.host`, `platform.engine`).
    #[serde(default)]
    pub hosts: Option<Vec<HostSpec>>,
}

impl FleetConfig {
    /// The role `fleet.hosts[].agents` gives the agent named `agent_id` (a prefill or decode
    /// entry that lists it), over the role it joined with.
    pub fn assigned_role(&self, agent_id: &str) -> Option<crate::role::Role> {
        self.hosts
            .iter()
            .flatten()
            .find(|h| h.agents.iter().flatten().any(|a| a == agent_id))
            .and_then(|h| match h.role.as_deref() {
                Some("prefill") => Some(crate::role::Role::Prefill),
                Some("decode") => Some(crate::role::Role::Decode),
                _ => None,
            })
    }
}

/// One `fleet.hosts` entry: what the report says about a host group that fleetbench cannot
/// see from the agents (parallelism, engine and its arguments).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    /// The group it describes: `replica`, `prefill` or `decode`; absent: every group.
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub parallelism: Option<ParallelismSpec>,
    #[serde(default)]
    pub engine: Option<EngineSpec>,
    /// The agents (by name) that form this prefill or decode group, whatever role they joined
    /// with.
    #[serde(default)]
    pub agents: Option<Vec<String>>,
    /// Prometheus endpoints of the group's engines (`http://host:port/metrics`), scraped by the
    /// group's first agent along with its own `--engine-metrics`.
    #[serde(default)]
    pub engine_metrics: Option<Vec<String>>,
}

/// A host group's parallelism; an absent degree is 1.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct ParallelismSpec {
    #[serde(default)]
    pub dp: Option<u32>,
    #[serde(default)]
    pub tp: Option<u32>,
    #[serde(default)]
    pub pp: Option<u32>,
    #[serde(default)]
    pub ep: Option<u32>,
}

/// The engine a host group runs, as the report's `platform.engine` entry names it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct EngineSpec {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub args: BTreeMap<String, Value>,
}
