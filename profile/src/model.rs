//! The workload profile as data: inference-perf's configuration sections plus fleetbench's own
//! (`name`, `description`, `fleet`). Every struct rejects unknown keys; inference-perf keys that
//! fleetbench does not implement yet are captured as raw values so that validation can say
//! "not supported" by name instead of ignoring them.

use fleetbench_model::settings::{ApiType, HttpVersion, TelemetrySection};
use fleetbench_model::spec::Rate;
use serde::{Deserialize, Serialize};
use serde_norway::Value;
use std::collections::BTreeMap;

/// A workload profile: inference-perf's sections plus fleetbench's `name`, `description`, `fleet`, `slo`, `telemetry`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Default: the file stem.
    #[serde(default)]
    pub name: Option<String>,
    /// `description`.
    #[serde(default)]
    pub description: Option<String>,
    /// `api`.
    #[serde(default)]
    pub api: ApiConfig,
    /// `data`.
    pub data: DataConfig,
    /// `load`.
    pub load: LoadConfig,
    /// `server`.
    pub server: ServerConfig,
    /// `tokenizer`.
    #[serde(default)]
    pub tokenizer: Option<TokenizerConfig>,
    /// `metrics`.
    #[serde(default)]
    pub metrics: Option<MetricsConfig>,
    /// `report`.
    #[serde(default)]
    pub report: Option<ReportConfig>,
    /// `storage`.
    #[serde(default)]
    pub storage: Option<StorageConfig>,
    /// `fleet`.
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
    pub circuit_breakers: Option<Vec<fleetbench_model::breaker::CircuitBreakerConfig>>,
}

/// `api`: the API the requests use and how.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// `api.type`.
    #[serde(rename = "type", default)]
    pub kind: ApiType,
    /// `api.streaming`.
    #[serde(default)]
    pub streaming: bool,
    /// `api.headers`.
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
    /// `api.response_format.type`.
    #[serde(rename = "type", default)]
    pub kind: ResponseFormatType,
    /// `api.response_format.name`.
    #[serde(default = "default_schema_name")]
    pub name: String,
    /// `api.response_format.json_schema`.
    #[serde(default)]
    pub json_schema: Option<serde_json::Value>,
}

/// `api.response_format.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ResponseFormatType {
    /// `json_schema`: output that follows a JSON schema.
    #[default]
    JsonSchema,
    /// `json_object`: any JSON object.
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
    pub fn header_slos(&self) -> Result<crate::slo_headers::HeaderSlos, (String, String)> {
        crate::slo_headers::header_slos(crate::slo_headers::SloKeys {
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

/// `data.type`: where the request data comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum DataType {
    /// `random`: synthesized prompts of drawn lengths.
    #[serde(rename = "random")]
    Random,
    /// `synthetic`: as random.
    #[serde(rename = "synthetic")]
    Synthetic,
    /// `mock`: inference-perf's fixed mock prompts.
    #[serde(rename = "mock")]
    Mock,
    /// `shared_prefix`: groups sharing a system prompt.
    #[serde(rename = "shared_prefix")]
    SharedPrefix,
    /// `shareGPT`: ShareGPT conversations.
    #[serde(rename = "shareGPT")]
    ShareGpt,
    /// `cnn_dailymail`: articles and their highlights from `data.path` (completion API).
    #[serde(rename = "cnn_dailymail")]
    CnnDailymail,
    /// `billsum_conversations`: recorded conversations from `data.path`.
    #[serde(rename = "billsum_conversations")]
    BillsumConversations,
    /// `infinity_instruct`: recorded instruction conversations from `data.path`.
    #[serde(rename = "infinity_instruct")]
    InfinityInstruct,
    /// `otel_trace_replay`: inference-perf's OTel traces replayed as graphs of calls.
    #[serde(rename = "otel_trace_replay")]
    OtelTraceReplay,
    /// `visionarena`: a Hub dataset's images with their first user turns.
    #[serde(rename = "visionarena")]
    Visionarena,
    /// `weka_trace_replay`: Weka KV-cache traces, prompts rebuilt from block hash ids.
    #[serde(rename = "weka_trace_replay")]
    WekaTraceReplay,
    /// `conversation_replay`: synthetic multi-turn conversations.
    #[serde(rename = "conversation_replay")]
    ConversationReplay,
    /// `synthetic_agentic`: procedural agentic sessions, generated by the coordinator.
    #[serde(rename = "synthetic_agentic")]
    SyntheticAgentic,
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
            DataType::SyntheticAgentic => "synthetic_agentic",
            DataType::MooncakeTrace => "mooncake_trace",
            DataType::MultiTurn => "multi_turn",
        }
    }
}

/// `data`: the request data.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// `data.type`.
    #[serde(rename = "type")]
    pub kind: DataType,
    /// `data.path`.
    #[serde(default)]
    pub path: Option<String>,
    /// `data.input_distribution`.
    #[serde(default)]
    pub input_distribution: Option<Distribution>,
    /// `data.output_distribution`.
    #[serde(default)]
    pub output_distribution: Option<Distribution>,
    /// `data.shared_prefix`.
    #[serde(default)]
    pub shared_prefix: Option<SharedPrefixConfig>,
    /// fleetbench's chat sessions (data type multi_turn).
    #[serde(default)]
    pub multi_turn: Option<MultiTurnConfig>,
    /// fleetbench's LoRA adapter mix: adapter (or model) name → weight; each request names one.
    #[serde(default)]
    pub lora_mix: Option<BTreeMap<String, f64>>,
    /// `data.multimodal`: synthetic media for each request (inference-perf's).
    #[serde(default)]
    pub multimodal: Option<crate::multimodal::MultimodalConfig<Distribution>>,
    /// `data.use_chat_template`: inference-perf's key, kept as given so that validation can name it.
    #[serde(default)]
    pub use_chat_template: Option<Value>,
    /// `data.otel_trace_replay`: inference-perf's OTel trace replay.
    #[serde(default)]
    pub otel_trace_replay: Option<crate::otel::OtelTraceReplayConfig>,
    /// `data.weka_trace_replay`: inference-perf's Weka trace replay.
    #[serde(default)]
    pub weka_trace_replay: Option<crate::weka::WekaTraceReplayConfig>,
    /// inference-perf's synthetic conversations (data type conversation_replay).
    #[serde(default)]
    pub conversation_replay: Option<ConversationReplayConfig>,
    /// `data.visionarena`: the VisionArena-Chat dataset's images and prompts.
    #[serde(default)]
    pub visionarena: Option<crate::visionarena::VisionArenaConfig<Distribution>>,
    /// `data.synthetic_agentic`: inference-perf's procedural agentic sessions.
    #[serde(default)]
    pub synthetic_agentic: Option<crate::synthetic_agentic::SyntheticAgenticConfig<Distribution>>,
    /// `data.corpus_file_path`: the text synthetic prompts are cut from (inference-perf's).
    #[serde(default)]
    pub corpus_file_path: Option<String>,
    /// inference-perf's `data.trace` (data type random): request lengths from a trace file.
    #[serde(default)]
    pub trace: Option<TraceFile>,
}

/// inference-perf's trace file: `{file, format: AzurePublicDataset}`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TraceFile {
    /// `data.trace.file`.
    pub file: String,
    /// `data.trace.format`.
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
    /// `type`: the shape (default normal).
    #[serde(rename = "type", default)]
    pub kind: Option<fleetbench_model::data::LengthDist>,
    /// `min`: the shortest length (default 10).
    #[serde(default)]
    pub min: Option<u32>,
    /// `max`: the longest length (default 1024).
    #[serde(default)]
    pub max: Option<u32>,
    /// `mean` (default 512).
    #[serde(default)]
    pub mean: Option<f64>,
    /// `std_dev` (default 200; `std` is refused, as inference-perf refuses it).
    #[serde(default)]
    pub std_dev: Option<f64>,
    /// `total_count`: inference-perf's count of lengths to draw.
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
/// `max` when omitted.
pub const DIST_DEFAULT_MAX: u32 = 1024;
/// `mean` when omitted.
pub const DIST_DEFAULT_MEAN: f64 = 512.0;
/// `std_dev` when omitted.
pub const DIST_DEFAULT_STD_DEV: f64 = 200.0;

impl Distribution {
    /// The shape (`type`, default normal).
    pub fn shape(&self) -> fleetbench_model::data::LengthDist {
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
    /// A number of tokens.
    Tokens(u32),
    /// A distribution.
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
    /// The number of tokens, when given as one.
    pub fn tokens(&self) -> Option<u32> {
        match self {
            LenOrDist::Tokens(n) => Some(*n),
            LenOrDist::Dist(_) => None,
        }
    }

    /// The distribution, when given as one.
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
    /// `data.shared_prefix.num_groups`.
    #[serde(default = "ten", alias = "num_unique_system_prompts")]
    pub num_groups: u32,
    /// `data.shared_prefix.num_prompts_per_group`.
    #[serde(default = "ten", alias = "num_users_per_system_prompt")]
    pub num_prompts_per_group: u32,
    /// `data.shared_prefix.system_prompt_len`.
    #[serde(default = "hundred")]
    pub system_prompt_len: LenOrDist,
    /// Tokens of each question; with a number, a legacy `question_distribution` wins over it
    /// (as in inference-perf).
    #[serde(default = "fifty")]
    pub question_len: LenOrDist,
    /// `data.shared_prefix.output_len`.
    #[serde(default = "fifty")]
    pub output_len: LenOrDist,
    /// The seed of the prompts (default: the run's seed).
    #[serde(default)]
    pub seed: Option<u64>,
    /// `data.shared_prefix.question_distribution`.
    #[serde(default)]
    pub question_distribution: Option<Distribution>,
    /// `data.shared_prefix.output_distribution`.
    #[serde(default)]
    pub output_distribution: Option<Distribution>,
    /// Each group's prompts are the consecutive rounds of one chat session.
    #[serde(default)]
    pub enable_multi_turn_chat: bool,
    /// `data.shared_prefix.multimodal`: synthetic media of each group's shared prefix.
    #[serde(default)]
    pub multimodal: Option<crate::multimodal::MultimodalConfig<Distribution>>,
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
    /// Each round sends the earlier questions and answers.
    #[default]
    Carry,
    /// Each round sends its own question only.
    None,
}

/// fleetbench's `data.multi_turn`: `users` chat sessions of `rounds` rounds each.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct MultiTurnConfig {
    /// `data.multi_turn.users`.
    pub users: u32,
    /// `data.multi_turn.rounds`.
    pub rounds: u32,
    /// `data.multi_turn.system_prompt_len`.
    #[serde(default)]
    pub system_prompt_len: u32,
    /// Tokens of each round's question (default 64).
    #[serde(default)]
    pub question_len: Option<u32>,
    /// Tokens of each answer (default 128): the round's max_tokens, and the synthesized answer
    /// carried into later rounds.
    #[serde(default)]
    pub answer_len: Option<u32>,
    /// `data.multi_turn.history`.
    #[serde(default)]
    pub history: History,
}

/// Most turns of all conversations together: the coordinator draws every turn's lengths and
/// they travel in each shard spec.
pub const MAX_CONVERSATION_TURNS: u64 = 50_000;

/// `data.conversation_replay` (inference-perf's `ConversationReplayConfig`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConversationReplayConfig {
    /// Seed of the conversations' lengths and prompts (inference-perf's default 42).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Conversations generated (each is one session; default 200).
    #[serde(default = "default_conversations")]
    pub num_conversations: u32,
    /// Tokens of the system prompt every conversation starts with (default 8359).
    #[serde(default = "default_shared_len")]
    pub shared_system_prompt_len: u32,
    /// Tokens of each conversation's own system prompt, after the shared one (default 0).
    #[serde(default)]
    pub dynamic_system_prompt_len: Option<Distribution>,
    /// Turns of each conversation (default 10).
    #[serde(default)]
    pub turns_per_conversation: Option<Distribution>,
    /// Tokens of each turn's user message (default 512).
    #[serde(default)]
    pub input_tokens_per_turn: Option<Distribution>,
    /// `max_tokens` of each turn (default 256).
    #[serde(default)]
    pub output_tokens_per_turn: Option<Distribution>,
    /// Seconds a conversation waits after an answer before its next turn (whole seconds, as
    /// inference-perf samples them; default none).
    #[serde(default)]
    pub tool_call_latency_sec: Option<Distribution>,
    /// The model's context: the oldest turns leave a request that would not fit (default
    /// 225000, inference-perf's).
    #[serde(default)]
    pub max_model_len: Option<u32>,
}

fn default_seed() -> u64 {
    42
}

fn default_conversations() -> u32 {
    200
}

fn default_shared_len() -> u32 {
    8359
}

/// Prompt and output tokens of synthetic data where the profile gives no distribution.
pub const DEFAULT_LENGTH: u32 = 128;
/// inference-perf's default turns per conversation.
pub const DEFAULT_TURNS: u32 = 10;
/// inference-perf's default tokens of a turn's user message.
pub const DEFAULT_TURN_INPUT: u32 = 512;
/// inference-perf's default `max_tokens` of a turn.
pub const DEFAULT_TURN_OUTPUT: u32 = 256;
/// inference-perf's `max_model_len` when none is given.
pub const DEFAULT_MAX_MODEL_LEN: u32 = 225_000;

/// `load.type`: how requests arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadType {
    /// Evenly spaced arrivals.
    Constant,
    /// Poisson arrivals.
    Poisson,
    /// Gamma-distributed gaps with `load.burstiness` (1.0 = Poisson), as `vllm bench serve`.
    Gamma,
    /// A closed loop of users.
    Concurrent,
    /// inference-perf's `trace_replay` (alias `trace`): timestamps from `load.trace` or the
    /// data's trace (`data.type: mooncake_trace`), scaled by `load.time_scale`.
    #[serde(rename = "trace_replay", alias = "trace")]
    Trace,
    /// `trace_session_replay` (refused: not supported).
    TraceSessionReplay,
}

/// `load`: the stages and how requests are sent.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LoadConfig {
    /// `load.type`.
    #[serde(rename = "type")]
    pub kind: LoadType,
    /// `load.stages`.
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
    /// `load.base_seed`.
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
    /// `load.num_workers`: inference-perf's key, kept as given so that validation can name it.
    #[serde(default)]
    pub num_workers: Option<Value>,
    /// `load.worker_max_concurrency`: inference-perf's key, kept as given so that validation can name it.
    #[serde(default)]
    pub worker_max_concurrency: Option<Value>,
    /// `load.worker_max_tcp_connections`: inference-perf's key, kept as given so that validation can name it.
    #[serde(default)]
    pub worker_max_tcp_connections: Option<Value>,
    /// inference-perf's automatic saturation sweep: a probe stage finds the saturation rate,
    /// then the stages are generated up to it (`docs/saturation.md`).
    #[serde(default)]
    pub sweep: Option<crate::saturation::SweepConfig>,
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
    /// `load.lora_traffic_split[].name`.
    pub name: String,
    /// `load.lora_traffic_split[].split`.
    pub split: f64,
}

/// One entry of `load.stages`.
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
    /// `load.stages[].session_rate`.
    #[serde(default)]
    pub session_rate: Option<f64>,
    /// `load.stages[].num_sessions`.
    #[serde(default)]
    pub num_sessions: Option<u64>,
    /// `load.stages[].timeout`.
    #[serde(default)]
    pub timeout: Option<f64>,
}

/// `server`: the endpoint under test.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// `server.type`.
    #[serde(rename = "type", default = "default_server_type")]
    pub kind: String,
    /// `server.model_name`.
    #[serde(default)]
    pub model_name: Option<String>,
    /// `server.base_url`.
    pub base_url: String,
    /// `server.ignore_eos`.
    #[serde(default = "default_true")]
    pub ignore_eos: bool,
    /// `server.api_key`.
    #[serde(default)]
    pub api_key: Option<String>,
    /// `server.cert_path`: inference-perf's key, kept as given so that validation can name it.
    #[serde(default)]
    pub cert_path: Option<Value>,
    /// `server.key_path`: inference-perf's key, kept as given so that validation can name it.
    #[serde(default)]
    pub key_path: Option<Value>,
}

fn default_server_type() -> String {
    "vllm".to_string()
}

fn default_true() -> bool {
    true
}

/// `tokenizer`: the tokenizer prompts are counted with.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TokenizerConfig {
    /// `tokenizer.pretrained_model_name_or_path`.
    #[serde(default)]
    pub pretrained_model_name_or_path: Option<String>,
    /// `tokenizer.trust_remote_code`.
    #[serde(default)]
    pub trust_remote_code: Option<bool>,
    /// `tokenizer.token`: inference-perf's key, kept as given so that validation can name it.
    #[serde(default)]
    pub token: Option<Value>,
    /// `tokenizer.load_timeout`: inference-perf's key, kept as given so that validation can name it.
    #[serde(default)]
    pub load_timeout: Option<Value>,
}

/// `metrics`: where the engines' metrics are read.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// `prometheus` or `default` (no server metrics beyond `fleet.hosts[].engine_metrics`).
    #[serde(rename = "type")]
    pub kind: String,
    /// `metrics.prometheus`.
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
    /// `metrics.prometheus.url`.
    #[serde(default)]
    pub url: Option<String>,
    /// PromQL label matchers (`namespace="default"`) that select the engines' series.
    #[serde(default)]
    pub filters: Vec<String>,
    /// `metrics.prometheus.google_managed`.
    #[serde(default)]
    pub google_managed: bool,
}

/// `report`: what the reports contain.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReportConfig {
    /// `report.request_lifecycle`.
    #[serde(default)]
    pub request_lifecycle: Option<RequestLifecycleReport>,
    /// `report.prometheus`: inference-perf's key, kept as given so that validation can name it.
    #[serde(default)]
    pub prometheus: Option<Value>,
    /// `report.session_lifecycle`: inference-perf's key, kept as given so that validation can name it.
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
    /// Objective (`ttft`, `tpot`, `itl`, `ntpot`, `request_latency`) → its limit in seconds.
    #[serde(default)]
    pub constraints: BTreeMap<String, f64>,
}

/// `report.request_lifecycle`: per-request records and summaries.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RequestLifecycleReport {
    /// `report.request_lifecycle.summary`.
    #[serde(default)]
    pub summary: Option<bool>,
    /// `report.request_lifecycle.per_stage`.
    #[serde(default)]
    pub per_stage: Option<bool>,
    /// `report.request_lifecycle.per_request`.
    #[serde(default)]
    pub per_request: Option<bool>,
    /// `report.request_lifecycle.percentiles`.
    #[serde(default)]
    pub percentiles: Option<Vec<f64>>,
    /// `report.request_lifecycle.per_request_fields`: inference-perf's key, kept as given so that validation can name it.
    #[serde(default)]
    pub per_request_fields: Option<Value>,
    /// `report.request_lifecycle.per_adapter`: inference-perf's key, kept as given so that validation can name it.
    #[serde(default)]
    pub per_adapter: Option<Value>,
    /// `report.request_lifecycle.per_adapter_stage`: inference-perf's key, kept as given so that validation can name it.
    #[serde(default)]
    pub per_adapter_stage: Option<Value>,
    /// `report.request_lifecycle.use_server_output_tokens`: inference-perf's key, kept as given so that validation can name it.
    #[serde(default)]
    pub use_server_output_tokens: Option<Value>,
    /// `report.request_lifecycle.max_error_messages`: inference-perf's key, kept as given so that validation can name it.
    #[serde(default)]
    pub max_error_messages: Option<Value>,
}

/// `storage`: where reports go.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// `storage.local_storage`.
    #[serde(default)]
    pub local_storage: Option<LocalStorage>,
    /// `storage.google_cloud_storage`: the run directory is also uploaded to a GCS bucket.
    #[serde(default)]
    pub google_cloud_storage: Option<BucketStorage>,
    /// `storage.simple_storage_service`: the run directory is also uploaded to an S3 bucket.
    #[serde(default)]
    pub simple_storage_service: Option<S3Storage>,
}

/// `storage.local_storage`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LocalStorage {
    /// `storage.local_storage.path`: the folder that holds the run directories (`{timestamp}`
    /// is replaced with the run's start time).
    #[serde(default)]
    pub path: Option<String>,
    /// `storage.local_storage.report_file_prefix`: put before the run's id, which names the
    /// run directory.
    #[serde(default)]
    pub report_file_prefix: Option<String>,
}

/// `storage.google_cloud_storage`: a bucket, and where in it the run directory goes.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BucketStorage {
    /// `bucket_name`.
    pub bucket_name: String,
    /// `path`: the object key prefix (`{timestamp}` is replaced with the run's start time);
    /// inference-perf's default `reports-<start time>` when not given.
    #[serde(default)]
    pub path: Option<String>,
    /// `report_file_prefix`: put before the run's id in every object key.
    #[serde(default)]
    pub report_file_prefix: Option<String>,
}

/// `storage.simple_storage_service`: an S3 (or S3-compatible) bucket.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct S3Storage {
    /// `bucket_name`.
    pub bucket_name: String,
    /// `path`: the object key prefix, as for Google Cloud Storage.
    #[serde(default)]
    pub path: Option<String>,
    /// `report_file_prefix`: put before the run's id in every object key.
    #[serde(default)]
    pub report_file_prefix: Option<String>,
    /// `endpoint_url`: an S3-compatible store's URL (else `AWS_ENDPOINT_URL_S3`,
    /// `AWS_ENDPOINT_URL`, then AWS's regional endpoint).
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// `region_name` (else `AWS_REGION`, `AWS_DEFAULT_REGION`, then `us-east-1`).
    #[serde(default)]
    pub region_name: Option<String>,
    /// `addressing_style`: `auto`, `virtual` (bucket in the host name) or `path`.
    #[serde(default)]
    pub addressing_style: Option<AddressingStyle>,
}

/// `storage.simple_storage_service.addressing_style`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AddressingStyle {
    /// Virtual-hosted on AWS's own endpoints (for a bucket name that is a host label), path
    /// style on an `endpoint_url`.
    Auto,
    /// `https://<bucket>.<host>/<key>`.
    Virtual,
    /// `https://<host>/<bucket>/<key>`.
    Path,
}

/// `fleet.on_agent_loss`: what a run does when an agent is lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OnAgentLoss {
    /// The stage fails.
    #[default]
    Fail,
    /// The stage goes on; the lost agent's part after its loss is excluded.
    Continue,
}

/// fleetbench's own section: how the fleet of agents is used.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FleetConfig {
    /// One-shot runs wait for this many agents.
    #[serde(default)]
    pub expect_agents: Option<u32>,
    /// `fleet.on_agent_loss`.
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
    pub fn assigned_role(&self, agent_id: &str) -> Option<fleetbench_model::role::Role> {
        self.hosts
            .iter()
            .flatten()
            .find(|h| h.agents.iter().flatten().any(|a| a == agent_id))
            .and_then(|h| match h.role.as_deref() {
                Some("prefill") => Some(fleetbench_model::role::Role::Prefill),
                Some("decode") => Some(fleetbench_model::role::Role::Decode),
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
    /// `fleet.hosts[].parallelism`.
    #[serde(default)]
    pub parallelism: Option<ParallelismSpec>,
    /// `fleet.hosts[].engine`.
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
    /// `fleet.hosts[].parallelism.dp`.
    #[serde(default)]
    pub dp: Option<u32>,
    /// `fleet.hosts[].parallelism.tp`.
    #[serde(default)]
    pub tp: Option<u32>,
    /// `fleet.hosts[].parallelism.pp`.
    #[serde(default)]
    pub pp: Option<u32>,
    /// `fleet.hosts[].parallelism.ep`.
    #[serde(default)]
    pub ep: Option<u32>,
}

/// The engine a host group runs, as the report's `platform.engine` entry names it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct EngineSpec {
    /// `fleet.hosts[].engine.name`.
    #[serde(default)]
    pub name: Option<String>,
    /// `fleet.hosts[].engine.version`.
    #[serde(default)]
    pub version: Option<String>,
    /// `fleet.hosts[].engine.args`.
    #[serde(default)]
    pub args: BTreeMap<String, Value>,
}
