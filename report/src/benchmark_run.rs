//! The llm-d BenchmarkRun report, schema 0.1 (`docs/report-0.1.md`), as serde types.
//! Only fields of the schema appear here; everything else fleetbench measures goes under a
//! `metadata` value.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One stage's report in BenchmarkRun schema 0.1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchmarkRun {
    /// `version`.
    pub version: String,
    /// `scenario`.
    pub scenario: Scenario,
    /// `metrics`.
    pub metrics: Metrics,
    /// `metadata`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub metadata: Option<Value>,
}

/// `scenario`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scenario {
    /// `scenario.description`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub description: Option<String>,
    /// `scenario.host`.
    pub host: Host,
    /// `scenario.platform`.
    pub platform: Platform,
    /// `scenario.model`.
    pub model: Model,
    /// `scenario.load`.
    pub load: Load,
    /// `scenario.metadata`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub metadata: Option<Value>,
}

/// `scenario.host`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Host {
    /// `scenario.host.type`.
    #[serde(rename = "type")]
    pub kind: Vec<String>,
    /// `scenario.host.accelerator`.
    pub accelerator: Vec<Accelerator>,
    /// `scenario.host.metadata`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub metadata: Option<Value>,
}

/// `scenario.host.accelerator[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Accelerator {
    /// `scenario.host.accelerator[].model`.
    pub model: String,
    /// GB per device.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub memory: Option<f64>,
    /// `scenario.host.accelerator[].count`.
    pub count: u64,
    /// `scenario.host.accelerator[].parallelism`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub parallelism: Option<Parallelism>,
    /// `scenario.host.accelerator[].metadata`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub metadata: Option<Value>,
}

/// `scenario.host.accelerator[].parallelism`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parallelism {
    /// `scenario.host.accelerator[].parallelism.dp`.
    pub dp: u32,
    /// `scenario.host.accelerator[].parallelism.tp`.
    pub tp: u32,
    /// `scenario.host.accelerator[].parallelism.pp`.
    pub pp: u32,
    /// `scenario.host.accelerator[].parallelism.ep`.
    pub ep: u32,
}

/// `scenario.platform`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Platform {
    /// `scenario.platform.engine`.
    pub engine: Vec<Engine>,
    /// `scenario.platform.metadata`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub metadata: Option<Value>,
}

/// `scenario.platform.engine[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Engine {
    /// `scenario.platform.engine[].name`.
    pub name: String,
    /// `scenario.platform.engine[].version`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub version: Option<String>,
    /// `scenario.platform.engine[].args`.
    #[serde(default)]
    pub args: serde_json::Map<String, Value>,
    /// `scenario.platform.engine[].metadata`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub metadata: Option<Value>,
}

/// `scenario.model`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// `scenario.model.name`.
    pub name: String,
    /// `scenario.model.quantization`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub quantization: Option<String>,
    /// `scenario.model.adapters`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub adapters: Option<Vec<std::collections::BTreeMap<String, String>>>,
    /// `scenario.model.metadata`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub metadata: Option<Value>,
}

/// `scenario.load`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Load {
    /// `scenario.load.name`.
    pub name: String,
    /// `scenario.load.type`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none", default)]
    pub kind: Option<String>,
    /// `scenario.load.args`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub args: Option<serde_json::Map<String, Value>>,
    /// `scenario.load.metadata`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub metadata: Option<Value>,
}

/// `metrics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// `metrics.time`.
    pub time: Time,
    /// `metrics.requests`.
    pub requests: Requests,
    /// `metrics.latency`.
    pub latency: Latency,
    /// `metrics.throughput`.
    pub throughput: Throughput,
    /// `metrics.service`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub service: Option<Service>,
    /// `metrics.resources`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub resources: Option<Resources>,
    /// `metrics.description`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub description: Option<String>,
    /// `metrics.metadata`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub metadata: Option<Value>,
}

/// `metrics.time`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Time {
    /// Seconds.
    pub duration: f64,
    /// Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub start: Option<f64>,
    /// `metrics.time.stop`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub stop: Option<f64>,
}

/// `metrics.requests`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Requests {
    /// `metrics.requests.total`.
    pub total: u64,
    /// `metrics.requests.failures`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub failures: Option<u64>,
    /// `metrics.requests.incomplete`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub incomplete: Option<u64>,
    /// `metrics.requests.input_length`.
    pub input_length: Statistics,
    /// `metrics.requests.output_length`.
    pub output_length: Statistics,
}

/// `metrics.latency`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// `metrics.latency.time_to_first_token`.
    pub time_to_first_token: Statistics,
    /// `metrics.latency.normalized_time_per_output_token`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub normalized_time_per_output_token: Option<Statistics>,
    /// `metrics.latency.time_per_output_token`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub time_per_output_token: Option<Statistics>,
    /// `metrics.latency.inter_token_latency`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub inter_token_latency: Option<Statistics>,
    /// `metrics.latency.request_latency`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub request_latency: Option<Statistics>,
}

/// `metrics.throughput`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    /// `metrics.throughput.input_tokens_per_sec`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub input_tokens_per_sec: Option<f64>,
    /// `metrics.throughput.output_tokens_per_sec`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub output_tokens_per_sec: Option<f64>,
    /// `metrics.throughput.total_tokens_per_sec`.
    pub total_tokens_per_sec: f64,
    /// `metrics.throughput.requests_per_sec`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub requests_per_sec: Option<f64>,
}

/// `metrics.service`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    /// `metrics.service.batch_size`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub batch_size: Option<Statistics>,
    /// `metrics.service.queue_size`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub queue_size: Option<Statistics>,
    /// `metrics.service.kv_cache_size`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub kv_cache_size: Option<Statistics>,
}

/// `metrics.resources`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    /// `metrics.resources.accelerator`.
    pub accelerator: Vec<AcceleratorMetrics>,
}

/// `metrics.resources.accelerator[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct AcceleratorMetrics {
    /// `metrics.resources.accelerator[].memory`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub memory: Option<MemoryMetrics>,
    /// `metrics.resources.accelerator[].compute`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub compute: Option<ComputeMetrics>,
    /// `metrics.resources.accelerator[].power`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub power: Option<Statistics>,
}

/// `metrics.resources.accelerator[].memory`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct MemoryMetrics {
    /// `metrics.resources.accelerator[].memory.consumption`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub consumption: Option<Statistics>,
    /// `metrics.resources.accelerator[].memory.utilization`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub utilization: Option<Statistics>,
    /// `metrics.resources.accelerator[].memory.bandwidth`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bandwidth: Option<Statistics>,
}

/// `metrics.resources.accelerator[].compute`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ComputeMetrics {
    /// `metrics.resources.accelerator[].compute.utilization`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub utilization: Option<Statistics>,
}

/// A distribution in the schema's shape. `mode` is never filled (spec: "all of them except mode").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statistics {
    /// `metrics.requests.input_length.units`.
    pub units: String,
    /// `metrics.requests.input_length.mean`.
    pub mean: f64,
    /// `metrics.requests.input_length.stddev`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub stddev: Option<f64>,
    /// `metrics.requests.input_length.min`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub min: Option<f64>,
    /// `metrics.requests.input_length.p0p1`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub p0p1: Option<f64>,
    /// `metrics.requests.input_length.p1`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub p1: Option<f64>,
    /// `metrics.requests.input_length.p5`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub p5: Option<f64>,
    /// `metrics.requests.input_length.p10`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub p10: Option<f64>,
    /// `metrics.requests.input_length.p25`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub p25: Option<f64>,
    /// `metrics.requests.input_length.p50`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub p50: Option<f64>,
    /// `metrics.requests.input_length.p75`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub p75: Option<f64>,
    /// `metrics.requests.input_length.p90`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub p90: Option<f64>,
    /// `metrics.requests.input_length.p95`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub p95: Option<f64>,
    /// `metrics.requests.input_length.p99`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub p99: Option<f64>,
    /// `metrics.requests.input_length.p99p9`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub p99p9: Option<f64>,
    /// `metrics.requests.input_length.max`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub max: Option<f64>,
}

impl BenchmarkRun {
    /// The stage as fleetbench planned it (type, rate or users, data, planned requests):
    /// `scenario.load.metadata.plan`, or `scenario.load.args` in runs written before the
    /// harness configuration moved there.
    pub fn stage_plan(&self) -> Option<&serde_json::Map<String, Value>> {
        let load = &self.scenario.load;
        load.metadata
            .as_ref()
            .and_then(|m| m.get("plan"))
            .and_then(Value::as_object)
            .or(load.args.as_ref())
    }
}
