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

pub const VERSION_0_2_1: &str = "0.2.1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportV021 {
    pub version: String,
    pub run: RunInfo,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub scenario: Option<ScenarioV2>,
    pub results: Results,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RunInfo {
    /// Unique per report.
    pub uid: String,
    /// Common to the reports of one run (fleetbench's run id).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub eid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cid: Option<String>,
    /// The coordinator's host.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub time: Option<RunTime>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub keywords: Option<Vec<String>>,
}

/// ISO-8601 instants (`2026-12-01T18:00:42.123Z`) and duration (`PT49.972S`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RunTime {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub start: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub end: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub duration: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ScenarioV2 {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub stack: Option<Vec<Component>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub load: Option<LoadV2>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    pub metadata: ComponentMetadata,
    pub standardized: InferenceEngine,
    pub native: Native,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentMetadata {
    pub schema_version: String,
    /// Unique in the report; `results.observability.components[].component_label` refers to it.
    pub label: String,
    /// A hash of the component's configuration.
    pub cfg_id: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub description: Option<String>,
}

/// The standardized part of a component of kind `inference_engine`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InferenceEngine {
    /// Always `inference_engine`.
    pub kind: String,
    pub tool: String,
    pub tool_version: String,
    /// `replica`, `prefill` or `decode`.
    pub role: String,
    /// Hosts of the group (at least 1).
    pub replicas: u64,
    pub model: EngineModel,
    pub accelerator: EngineAccelerator,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineModel {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineAccelerator {
    pub model: String,
    pub count: u64,
    pub parallelism: EngineParallelism,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineParallelism {
    pub tp: u32,
    pub dp: u32,
    pub dp_local: u32,
    pub workers: u32,
    pub ep: u32,
    pub pp: u32,
}

/// A configuration in its native form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Native {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub args: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub envars: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub config: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadV2 {
    pub metadata: LoadMetadata,
    pub standardized: LoadStandardized,
    pub native: Native,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadMetadata {
    pub schema_version: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cfg_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadStandardized {
    pub tool: String,
    pub tool_version: String,
    /// Load generators (agents with load) working in parallel.
    pub parallelism: u32,
    /// `random`, `sampled` or `unknown`.
    pub source: String,
    pub stage: u32,
    pub input_seq_len: SequenceLength,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub output_seq_len: Option<SequenceLength>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub prefix: Option<LoadPrefix>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub multi_turn: Option<MultiTurn>,
    /// Requests per second of an open-loop stage with a finite rate.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub rate_qps: Option<f64>,
    /// Users of a closed-loop stage.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub concurrency: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SequenceLength {
    /// `fixed`, `gaussian`, `uniform` or `other`.
    pub distribution: String,
    pub value: f64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub std_dev: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub min: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub max: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadPrefix {
    pub prefix_len: SequenceLength,
    pub num_groups: u64,
    pub num_users_per_group: u64,
    pub num_prefixes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultiTurn {
    pub enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub max_turns: Option<SequenceLength>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Results {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub request_performance: Option<RequestPerformance>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub session_performance: Option<SessionPerformance>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub observability: Option<Observability>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub component_health: Option<Vec<ComponentHealth>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RequestPerformance {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub aggregate: Option<Aggregate>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub time_series: Option<TimeSeries>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Aggregate {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub requests: Option<AggregateRequests>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub latency: Option<LatencySet<Statistics>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub throughput: Option<ThroughputSet<Statistics>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateRequests {
    pub total: u64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub failures: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub incomplete: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub input_length: Option<Statistics>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub output_length: Option<Statistics>,
}

/// The five latencies, as aggregate statistics (s, s/token) or as time series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencySet<T> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_to_first_token: Option<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub normalized_time_per_output_token: Option<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_per_output_token: Option<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inter_token_latency: Option<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_latency: Option<T>,
}

/// Token and request rates (tokens/s, queries/s).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThroughputSet<T> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_token_rate: Option<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_token_rate: Option<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_token_rate: Option<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_rate: Option<T>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeSeries {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub latency: Option<LatencySet<TimeSeriesData>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub throughput: Option<TimeSeriesThroughput>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeSeriesThroughput {
    /// `tokens/s`.
    pub units: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub input_token_rate: Option<TimeSeriesData>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub output_token_rate: Option<TimeSeriesData>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub total_token_rate: Option<TimeSeriesData>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub request_rate: Option<TimeSeriesData>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeSeriesData {
    pub units: String,
    pub series: Vec<TimeSeriesPoint>,
}

/// One interval: a value (rates, gauges) or a distribution (latencies) at `ts`, the interval's
/// end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TimeSeriesPoint {
    pub ts: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mean: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub p50: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub p90: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub p99: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub max: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SessionPerformance {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sessions: Option<SessionRequests>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SessionRequests {
    pub total: u64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub succeeded: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub failed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub total_events: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub total_events_completed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub total_events_cancelled: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub session_rate: Option<Statistics>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub session_duration: Option<Statistics>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub events_per_session: Option<Statistics>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub events_cancelled_per_session: Option<Statistics>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub input_tokens_per_session: Option<Statistics>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub output_tokens_per_session: Option<Statistics>,
}

/// `results.observability`: the schema's per-component metrics, plus (the schema leaves this
/// object open) fleetbench's client-side figures under `fleetbench`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Observability {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub components: Option<Vec<ComponentObservability>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub fleetbench: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentObservability {
    pub component_label: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub replica_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub aggregate: Option<ResourceMetrics>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub time_series: Option<ResourceTimeSeries>,
}

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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ResourceTimeSeries {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub kv_cache_usage: Option<TimeSeriesData>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub gpu_memory_usage: Option<TimeSeriesData>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cpu_memory_usage: Option<TimeSeriesData>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub gpu_utilization: Option<TimeSeriesData>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cpu_utilization: Option<TimeSeriesData>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub power_consumption: Option<TimeSeriesData>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub num_requests_running: Option<TimeSeriesData>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub num_requests_waiting: Option<TimeSeriesData>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentHealth {
    pub component_label: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub total_restarts: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub failed_replicas: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub replica_health: Option<Vec<ReplicaHealth>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicaHealth {
    pub replica_id: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub restarts: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub healthy: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub logs: Option<String>,
}
