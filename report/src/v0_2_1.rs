//! llm-d's benchmark report, schema 0.2.1, as fleetbench's own serde types: `run` (who, when),
//! `scenario.stack` (one inference-engine component per host group), `scenario.load` (the
//! workload standardized, plus the profile in its native form) and `results` (request
//! performance as aggregate and time series, session performance, per-component observability
//! and health).
//!
//! The schema allows no free `metadata` keys; what fleetbench measures beyond it goes where the
//! schema leaves room: `scenario.stack[].native.config` (the group's agents and its telemetry
//! beyond the schema), `scenario.load.native.args` (the stage as planned) and the open
//! `results.observability` object (`fleetbench`: the client-side figures).

use super::benchmark_run::Statistics;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The schema version these types write.
pub const VERSION_0_2_1: &str = "0.2.1";

/// One stage's report in llm-d's schema 0.2.1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportV021 {
    /// `version`.
    pub version: String,
    /// `run`.
    pub run: RunInfo,
    /// `scenario`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub scenario: Option<ScenarioV2>,
    /// `results`.
    pub results: Results,
}

/// `run`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RunInfo {
    /// Unique per report.
    pub uid: String,
    /// Common to the reports of one run (fleetbench's run id).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub eid: Option<String>,
    /// `run.cid`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cid: Option<String>,
    /// The coordinator's host.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pid: Option<String>,
    /// `run.time`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub time: Option<RunTime>,
    /// `run.user`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub user: Option<String>,
    /// `run.description`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub description: Option<String>,
    /// `run.keywords`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub keywords: Option<Vec<String>>,
}

/// ISO-8601 instants (`2026-12-01T18:00:42.123Z`) and duration (`PT49.972S`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RunTime {
    /// `run.time.start`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub start: Option<String>,
    /// `run.time.end`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub end: Option<String>,
    /// `run.time.duration`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub duration: Option<String>,
}

/// `scenario`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ScenarioV2 {
    /// `scenario.stack`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub stack: Option<Vec<Component>>,
    /// `scenario.load`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub load: Option<LoadV2>,
}

/// `scenario.stack[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    /// `scenario.stack[].metadata`.
    pub metadata: ComponentMetadata,
    /// `scenario.stack[].standardized`.
    pub standardized: InferenceEngine,
    /// `scenario.stack[].native`.
    pub native: Native,
}

/// `scenario.stack[].metadata`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentMetadata {
    /// `scenario.stack[].metadata.schema_version`.
    pub schema_version: String,
    /// Unique in the report; `results.observability.components[].component_label` refers to it.
    pub label: String,
    /// A hash of the component's configuration.
    pub cfg_id: String,
    /// `scenario.stack[].metadata.description`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub description: Option<String>,
}

/// The standardized part of a component of kind `inference_engine`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InferenceEngine {
    /// Always `inference_engine`.
    pub kind: String,
    /// `scenario.stack[].standardized.tool`.
    pub tool: String,
    /// `scenario.stack[].standardized.tool_version`.
    pub tool_version: String,
    /// `replica`, `prefill` or `decode`.
    pub role: String,
    /// Hosts of the group (at least 1).
    pub replicas: u64,
    /// `scenario.stack[].standardized.model`.
    pub model: EngineModel,
    /// `scenario.stack[].standardized.accelerator`.
    pub accelerator: EngineAccelerator,
}

/// `scenario.stack[].standardized.model`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineModel {
    /// `scenario.stack[].standardized.model.name`.
    pub name: String,
}

/// `scenario.stack[].standardized.accelerator`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineAccelerator {
    /// `scenario.stack[].standardized.accelerator.model`.
    pub model: String,
    /// `scenario.stack[].standardized.accelerator.count`.
    pub count: u64,
    /// `scenario.stack[].standardized.accelerator.parallelism`.
    pub parallelism: EngineParallelism,
}

/// `scenario.stack[].standardized.accelerator.parallelism`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineParallelism {
    /// `scenario.stack[].standardized.accelerator.parallelism.tp`.
    pub tp: u32,
    /// `scenario.stack[].standardized.accelerator.parallelism.dp`.
    pub dp: u32,
    /// `scenario.stack[].standardized.accelerator.parallelism.dp_local`.
    pub dp_local: u32,
    /// `scenario.stack[].standardized.accelerator.parallelism.workers`.
    pub workers: u32,
    /// `scenario.stack[].standardized.accelerator.parallelism.ep`.
    pub ep: u32,
    /// `scenario.stack[].standardized.accelerator.parallelism.pp`.
    pub pp: u32,
}

/// A configuration in its native form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Native {
    /// `scenario.stack[].native.args`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub args: Option<Map<String, Value>>,
    /// `scenario.stack[].native.envars`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub envars: Option<Map<String, Value>>,
    /// `scenario.stack[].native.config`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub config: Option<Value>,
}

/// `scenario.load`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadV2 {
    /// `scenario.load.metadata`.
    pub metadata: LoadMetadata,
    /// `scenario.load.standardized`.
    pub standardized: LoadStandardized,
    /// `scenario.load.native`.
    pub native: Native,
}

/// `scenario.load.metadata`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadMetadata {
    /// `scenario.load.metadata.schema_version`.
    pub schema_version: String,
    /// `scenario.load.metadata.cfg_id`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cfg_id: Option<String>,
    /// `scenario.load.metadata.description`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub description: Option<String>,
}

/// `scenario.load.standardized`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadStandardized {
    /// `scenario.load.standardized.tool`.
    pub tool: String,
    /// `scenario.load.standardized.tool_version`.
    pub tool_version: String,
    /// Load generators (agents with load) working in parallel.
    pub parallelism: u32,
    /// `random`, `sampled` or `unknown`.
    pub source: String,
    /// `scenario.load.standardized.stage`.
    pub stage: u32,
    /// `scenario.load.standardized.input_seq_len`.
    pub input_seq_len: SequenceLength,
    /// `scenario.load.standardized.output_seq_len`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub output_seq_len: Option<SequenceLength>,
    /// `scenario.load.standardized.prefix`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub prefix: Option<LoadPrefix>,
    /// `scenario.load.standardized.multi_turn`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub multi_turn: Option<MultiTurn>,
    /// Requests per second of an open-loop stage with a finite rate.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub rate_qps: Option<f64>,
    /// Users of a closed-loop stage.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub concurrency: Option<u64>,
}

/// `scenario.load.standardized.input_seq_len`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SequenceLength {
    /// `fixed`, `gaussian`, `uniform` or `other`.
    pub distribution: String,
    /// `scenario.load.standardized.input_seq_len.value`.
    pub value: f64,
    /// `scenario.load.standardized.input_seq_len.std_dev`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub std_dev: Option<f64>,
    /// `scenario.load.standardized.input_seq_len.min`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub min: Option<u64>,
    /// `scenario.load.standardized.input_seq_len.max`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub max: Option<u64>,
}

/// `scenario.load.standardized.prefix`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadPrefix {
    /// `scenario.load.standardized.prefix.prefix_len`.
    pub prefix_len: SequenceLength,
    /// `scenario.load.standardized.prefix.num_groups`.
    pub num_groups: u64,
    /// `scenario.load.standardized.prefix.num_users_per_group`.
    pub num_users_per_group: u64,
    /// `scenario.load.standardized.prefix.num_prefixes`.
    pub num_prefixes: u64,
}

/// `scenario.load.standardized.multi_turn`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultiTurn {
    /// `scenario.load.standardized.multi_turn.enabled`.
    pub enabled: bool,
    /// `scenario.load.standardized.multi_turn.max_turns`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub max_turns: Option<SequenceLength>,
}

/// `results`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Results {
    /// `results.request_performance`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub request_performance: Option<RequestPerformance>,
    /// `results.session_performance`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub session_performance: Option<SessionPerformance>,
    /// `results.observability`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub observability: Option<Observability>,
    /// `results.component_health`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub component_health: Option<Vec<ComponentHealth>>,
}

/// `results.request_performance`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RequestPerformance {
    /// `results.request_performance.aggregate`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub aggregate: Option<Aggregate>,
    /// `results.request_performance.time_series`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub time_series: Option<TimeSeries>,
}

/// `results.request_performance.aggregate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Aggregate {
    /// `results.request_performance.aggregate.requests`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub requests: Option<AggregateRequests>,
    /// `results.request_performance.aggregate.latency`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub latency: Option<LatencySet<Statistics>>,
    /// `results.request_performance.aggregate.throughput`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub throughput: Option<ThroughputSet<Statistics>>,
}

/// `results.request_performance.aggregate.requests`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateRequests {
    /// `results.request_performance.aggregate.requests.total`.
    pub total: u64,
    /// `results.request_performance.aggregate.requests.failures`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub failures: Option<u64>,
    /// `results.request_performance.aggregate.requests.incomplete`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub incomplete: Option<u64>,
    /// `results.request_performance.aggregate.requests.input_length`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub input_length: Option<Statistics>,
    /// `results.request_performance.aggregate.requests.output_length`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub output_length: Option<Statistics>,
    /// `results.request_performance.aggregate.requests.request_size`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub request_size: Option<Statistics>,
    /// `results.request_performance.aggregate.requests.multimodal`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(crate) multimodal: Option<super::payload::Multimodal>,
}

/// The five latencies, as aggregate statistics (s, s/token) or as time series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencySet<T> {
    /// `results.request_performance.aggregate.latency.time_to_first_token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_to_first_token: Option<T>,
    /// `results.request_performance.aggregate.latency.normalized_time_per_output_token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub normalized_time_per_output_token: Option<T>,
    /// `results.request_performance.aggregate.latency.time_per_output_token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_per_output_token: Option<T>,
    /// `results.request_performance.aggregate.latency.inter_token_latency`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inter_token_latency: Option<T>,
    /// `results.request_performance.aggregate.latency.request_latency`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_latency: Option<T>,
}

/// Token and request rates (tokens/s, queries/s).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThroughputSet<T> {
    /// `results.request_performance.aggregate.throughput.input_token_rate`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_token_rate: Option<T>,
    /// `results.request_performance.aggregate.throughput.output_token_rate`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_token_rate: Option<T>,
    /// `results.request_performance.aggregate.throughput.total_token_rate`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_token_rate: Option<T>,
    /// `results.request_performance.aggregate.throughput.request_rate`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_rate: Option<T>,
    /// `results.request_performance.aggregate.throughput.image_rate` (aggregate only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_rate: Option<T>,
    /// `results.request_performance.aggregate.throughput.video_rate` (aggregate only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video_rate: Option<T>,
    /// `results.request_performance.aggregate.throughput.audio_rate` (aggregate only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audio_rate: Option<T>,
}

/// `results.request_performance.time_series`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeSeries {
    /// `results.request_performance.time_series.latency`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub latency: Option<LatencySet<TimeSeriesData>>,
    /// `results.request_performance.time_series.throughput`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub throughput: Option<TimeSeriesThroughput>,
}

/// `results.request_performance.time_series.throughput`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeSeriesThroughput {
    /// `tokens/s`.
    pub units: String,
    /// `results.request_performance.time_series.throughput.input_token_rate`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub input_token_rate: Option<TimeSeriesData>,
    /// `results.request_performance.time_series.throughput.output_token_rate`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub output_token_rate: Option<TimeSeriesData>,
    /// `results.request_performance.time_series.throughput.total_token_rate`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub total_token_rate: Option<TimeSeriesData>,
    /// `results.request_performance.time_series.throughput.request_rate`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub request_rate: Option<TimeSeriesData>,
}

/// `results.request_performance.time_series.latency`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeSeriesData {
    /// `results.request_performance.time_series.latency.units`.
    pub units: String,
    /// `results.request_performance.time_series.latency.series`.
    pub series: Vec<TimeSeriesPoint>,
}

/// One interval: a value (rates, gauges) or a distribution (latencies) at `ts`, the interval's
/// end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TimeSeriesPoint {
    /// `results.request_performance.time_series.latency.series[].ts`.
    pub ts: String,
    /// `results.request_performance.time_series.latency.series[].value`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub value: Option<f64>,
    /// `results.request_performance.time_series.latency.series[].mean`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mean: Option<f64>,
    /// `results.request_performance.time_series.latency.series[].min`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub min: Option<f64>,
    /// `results.request_performance.time_series.latency.series[].p50`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub p50: Option<f64>,
    /// `results.request_performance.time_series.latency.series[].p90`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub p90: Option<f64>,
    /// `results.request_performance.time_series.latency.series[].p99`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub p99: Option<f64>,
    /// `results.request_performance.time_series.latency.series[].max`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub max: Option<f64>,
}

/// `results.session_performance`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SessionPerformance {
    /// `results.session_performance.sessions`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sessions: Option<SessionRequests>,
}

/// `results.session_performance.sessions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SessionRequests {
    /// `results.session_performance.sessions.total`.
    pub total: u64,
    /// `results.session_performance.sessions.succeeded`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub succeeded: Option<u64>,
    /// `results.session_performance.sessions.failed`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub failed: Option<u64>,
    /// `results.session_performance.sessions.total_events`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub total_events: Option<u64>,
    /// `results.session_performance.sessions.total_events_completed`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub total_events_completed: Option<u64>,
    /// `results.session_performance.sessions.total_events_cancelled`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub total_events_cancelled: Option<u64>,
    /// `results.session_performance.sessions.session_rate`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub session_rate: Option<Statistics>,
    /// `results.session_performance.sessions.session_duration`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub session_duration: Option<Statistics>,
    /// `results.session_performance.sessions.events_per_session`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub events_per_session: Option<Statistics>,
    /// `results.session_performance.sessions.events_cancelled_per_session`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub events_cancelled_per_session: Option<Statistics>,
    /// `results.session_performance.sessions.input_tokens_per_session`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub input_tokens_per_session: Option<Statistics>,
    /// `results.session_performance.sessions.output_tokens_per_session`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub output_tokens_per_session: Option<Statistics>,
}

/// `results.observability`: the schema's per-component metrics, plus (the schema leaves this
/// object open) fleetbench's client-side figures under `fleetbench`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Observability {
    /// `results.observability.components`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub components: Option<Vec<ComponentObservability>>,
    /// `results.observability.fleetbench`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub fleetbench: Option<Value>,
}

/// `results.observability.components[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentObservability {
    /// `results.observability.components[].component_label`.
    pub component_label: String,
    /// `results.observability.components[].replica_id`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub replica_id: Option<String>,
    /// `results.observability.components[].aggregate`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub aggregate: Option<ResourceMetrics>,
    /// `results.observability.components[].time_series`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub time_series: Option<ResourceTimeSeries>,
}

/// `results.observability.components[].aggregate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ResourceMetrics {
    /// percent
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub kv_cache_usage: Option<Statistics>,
    /// percent
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cache_hit_rate: Option<Statistics>,
    /// GB
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub gpu_memory_usage: Option<Statistics>,
    /// GB
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cpu_memory_usage: Option<Statistics>,
    /// percent
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub gpu_utilization: Option<Statistics>,
    /// percent
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cpu_utilization: Option<Statistics>,
    /// Watts
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub power_consumption: Option<Statistics>,
    /// count
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub running_requests: Option<Statistics>,
    /// count
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub waiting_requests: Option<Statistics>,
    /// count
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub preemptions: Option<Statistics>,
}

/// `results.observability.components[].time_series`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ResourceTimeSeries {
    /// `results.observability.components[].time_series.kv_cache_usage`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub kv_cache_usage: Option<TimeSeriesData>,
    /// `results.observability.components[].time_series.gpu_memory_usage`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub gpu_memory_usage: Option<TimeSeriesData>,
    /// `results.observability.components[].time_series.cpu_memory_usage`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cpu_memory_usage: Option<TimeSeriesData>,
    /// `results.observability.components[].time_series.gpu_utilization`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub gpu_utilization: Option<TimeSeriesData>,
    /// `results.observability.components[].time_series.cpu_utilization`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cpu_utilization: Option<TimeSeriesData>,
    /// `results.observability.components[].time_series.power_consumption`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub power_consumption: Option<TimeSeriesData>,
    /// `results.observability.components[].time_series.num_requests_running`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub num_requests_running: Option<TimeSeriesData>,
    /// `results.observability.components[].time_series.num_requests_waiting`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub num_requests_waiting: Option<TimeSeriesData>,
}

/// `results.component_health[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentHealth {
    /// `results.component_health[].component_label`.
    pub component_label: String,
    /// `results.component_health[].total_restarts`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub total_restarts: Option<u64>,
    /// `results.component_health[].failed_replicas`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub failed_replicas: Option<u64>,
    /// `results.component_health[].replica_health`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub replica_health: Option<Vec<ReplicaHealth>>,
}

/// `results.component_health[].replica_health[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicaHealth {
    /// `results.component_health[].replica_health[].replica_id`.
    pub replica_id: String,
    /// `results.component_health[].replica_health[].restarts`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub restarts: Option<u64>,
    /// `results.component_health[].replica_health[].healthy`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub healthy: Option<bool>,
    /// `results.component_health[].replica_health[].logs`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub logs: Option<String>,
}
