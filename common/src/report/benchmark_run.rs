//! The llm-d BenchmarkRun report, schema 0.1 (`docs/report-0.1.md`), as serde types.
//! Only fields of the schema appear here; everything else fleetbench measures goes under a
//! `metadata` value.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchmarkRun {
    pub version: String,
    pub scenario: Scenario,
    pub metrics: Metrics,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub metadata: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scenario {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub description: Option<String>,
    pub host: Host,
    pub platform: Platform,
    pub model: Model,
    pub load: Load,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub metadata: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Host {
    #[serde(rename = "type")]
    pub kind: Vec<String>,
    pub accelerator: Vec<Accelerator>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub metadata: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Accelerator {
    pub model: String,
    /// GB per device.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub memory: Option<f64>,
    pub count: u64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub parallelism: Option<Parallelism>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub metadata: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parallelism {
    pub dp: u32,
    pub tp: u32,
    pub pp: u32,
    pub ep: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Platform {
    pub engine: Vec<Engine>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub metadata: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Engine {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub version: Option<String>,
    #[serde(default)]
    pub args: serde_json::Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub metadata: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub quantization: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub adapters: Option<Vec<std::collections::BTreeMap<String, String>>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub metadata: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Load {
    pub name: String,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none", default)]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub args: Option<serde_json::Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub metadata: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub time: Time,
    pub requests: Requests,
    pub latency: Latency,
    pub throughput: Throughput,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub service: Option<Service>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub resources: Option<Resources>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub metadata: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Time {
    /// Seconds.
    pub duration: f64,
    /// Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub start: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub stop: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Requests {
    pub total: u64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub failures: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub incomplete: Option<u64>,
    pub input_length: Statistics,
    pub output_length: Statistics,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub time_to_first_token: Statistics,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub normalized_time_per_output_token: Option<Statistics>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub time_per_output_token: Option<Statistics>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub inter_token_latency: Option<Statistics>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub request_latency: Option<Statistics>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub input_tokens_per_sec: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub output_tokens_per_sec: Option<f64>,
    pub total_tokens_per_sec: f64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub requests_per_sec: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub batch_size: Option<Statistics>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub queue_size: Option<Statistics>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub kv_cache_size: Option<Statistics>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    pub accelerator: Vec<AcceleratorMetrics>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct AcceleratorMetrics {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub memory: Option<MemoryMetrics>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub compute: Option<ComputeMetrics>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub power: Option<Statistics>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct MemoryMetrics {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub consumption: Option<Statistics>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub utilization: Option<Statistics>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bandwidth: Option<Statistics>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ComputeMetrics {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub utilization: Option<Statistics>,
}

/// A distribution in the schema's shape. `mode` is never filled (spec: "all of them except mode").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statistics {
    pub units: String,
    pub mean: f64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub stddev: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub p0p1: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub p1: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub p5: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub p10: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub p25: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub p50: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub p75: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub p90: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub p95: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub p99: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub p99p9: Option<f64>,
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
