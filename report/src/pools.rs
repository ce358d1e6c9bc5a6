//! The per-pool breakdown of a stage (`metrics.metadata.pools`): for each host group (prefill,
//! decode or replica pool) what its engines' `/metrics` counted over the stage window —
//! requests, prompt tokens (processed and really computed), generated tokens, KV received from
//! another instance, queue / prefill / decode / KV-transfer time where the engine exports them —
//! its batch, queue and KV-cache gauges, its accelerators' power, utilization and energy, and
//! tokens per joule; plus the "where did TTFT go" estimate beside the client's measured TTFT.
//! Counters are increases between the first and the last sample of the window (docs/metrics.md).

use super::telemetry::{engines, group_energy_j, increase, of_group, AgentTelemetry};
use fleetbench_model::hosts::HostGroup;
use fleetbench_proto::v1 as wire;
use serde::{Deserialize, Serialize};

/// A time an engine exports as a histogram: its increase of sum and count over the window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PoolTime {
    /// Increase of the histogram's sum, seconds.
    pub total_s: f64,
    /// Increase of its count.
    pub count: f64,
    /// total / count, in ms (absent for no observations).
    pub mean_ms: Option<f64>,
}

/// One pool's figures over a stage window; `None` where its engines do not export it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Pool {
    /// `prefill`, `decode` or `replica`.
    pub kind: String,
    /// The pool's agents.
    pub agents: Vec<String>,
    /// Engine endpoints scraped.
    pub engines: usize,
    /// Requests the pool's engines finished.
    pub requests: Option<f64>,
    /// Prompt tokens the pool processed (`vllm:prompt_tokens_total`).
    pub prompt_tokens: Option<f64>,
    /// Prompt tokens it computed: not from its prefix cache, not received from another
    /// instance (`vllm:request_prefill_kv_computed_tokens`).
    pub prompt_tokens_computed: Option<f64>,
    /// Tokens it generated.
    pub generation_tokens: Option<f64>,
    /// Prompt tokens whose KV came from another instance (`vllm:external_prefix_cache_hits`).
    pub kv_received_tokens: Option<f64>,
    /// Time requests waited to be scheduled.
    pub queue_time: Option<PoolTime>,
    /// Prefill time.
    pub prefill_time: Option<PoolTime>,
    /// Decode time.
    pub decode_time: Option<PoolTime>,
    /// KV transfer time.
    pub kv_transfer_time: Option<PoolTime>,
    /// Mean running requests.
    pub batch_size_mean: Option<f64>,
    /// Most running requests.
    pub batch_size_max: Option<f64>,
    /// Mean waiting requests.
    pub queue_size_mean: Option<f64>,
    /// Most waiting requests.
    pub queue_size_max: Option<f64>,
    /// Mean KV-cache usage, percent.
    pub kv_cache_usage_percent_mean: Option<f64>,
    /// Highest KV-cache usage, percent.
    pub kv_cache_usage_percent_max: Option<f64>,
    /// Mean accelerator power, W (summed over devices).
    pub power_w_mean: Option<f64>,
    /// Mean accelerator utilization, percent.
    pub gpu_utilization_percent_mean: Option<f64>,
    /// Accelerator energy over the window, J.
    pub energy_j: Option<f64>,
    /// (prompt tokens computed, else processed, + generated tokens) / energy.
    pub tokens_per_joule: Option<f64>,
}

/// Where the client's TTFT went, from the pools' means (ms); `None` parts are not exported.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TtftSplit {
    /// Mean TTFT the clients measured.
    pub client_ttft_ms: Option<f64>,
    /// Prefill pool: waiting before being scheduled.
    pub prefill_queue_ms: Option<f64>,
    /// Prefill pool: prefill time (includes queueing where the engine exports no queue time).
    pub prefill_compute_ms: Option<f64>,
    /// Decode pool: KV transfer time.
    pub kv_transfer_ms: Option<f64>,
    /// Decode pool: its own time to the first token (its prefill phase with received KV).
    pub first_decode_step_ms: Option<f64>,
    /// Sum of the parts present.
    pub explained_ms: f64,
    /// Client TTFT less the parts: network, proxy, routing and what no engine exports.
    pub unexplained_ms: Option<f64>,
}

/// The stage's per-pool breakdown.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PoolBreakdown {
    /// One entry per host group, in `scenario.host` order.
    pub pools: Vec<Pool>,
    /// Only for a P/D deployment (a prefill and a decode pool).
    pub ttft: Option<TtftSplit>,
}

fn mean(v: impl Iterator<Item = f64>) -> Option<f64> {
    let (mut sum, mut n) = (0.0, 0usize);
    for x in v.filter(|x| x.is_finite()) {
        sum += x;
        n += 1;
    }
    (n > 0).then(|| sum / n as f64)
}

fn max(v: impl Iterator<Item = f64>) -> Option<f64> {
    v.filter(|x| x.is_finite()).reduce(f64::max)
}

fn time(
    e: &[&wire::EngineSample],
    sum: fn(&wire::EngineSample) -> f64,
    count: fn(&wire::EngineSample) -> f64,
) -> Option<PoolTime> {
    let total_s = increase(e, sum)?;
    let count = increase(e, count)?;
    Some(PoolTime {
        total_s,
        count,
        mean_ms: (count > 0.0).then(|| total_s / count * 1e3),
    })
}

/// One group's pool figures.
pub(crate) fn pool(g: &HostGroup, t: &[AgentTelemetry]) -> Pool {
    let samples: Vec<&wire::TelemetrySample> = of_group(g, t).collect();
    let e = engines(samples.iter().copied());
    let devices: Vec<&wire::DeviceSample> = samples.iter().flat_map(|s| &s.devices).collect();
    let mut urls: Vec<&str> = e.iter().map(|s| s.url.as_str()).collect();
    urls.sort_unstable();
    urls.dedup();
    let prompt_tokens = increase(&e, |s| s.prompt_tokens);
    let prompt_tokens_computed = increase(&e, |s| s.prompt_tokens_computed);
    let generation_tokens = increase(&e, |s| s.generation_tokens);
    let energy_j = group_energy_j(g, t);
    let tokens =
        prompt_tokens_computed.or(prompt_tokens).unwrap_or(0.0) + generation_tokens.unwrap_or(0.0);
    Pool {
        kind: g.kind.to_string(),
        agents: g.agents.iter().map(|a| a.agent_id.clone()).collect(),
        engines: urls.len(),
        requests: increase(&e, |s| s.requests_finished),
        prompt_tokens,
        prompt_tokens_computed,
        generation_tokens,
        kv_received_tokens: increase(&e, |s| s.kv_received_tokens),
        queue_time: time(&e, |s| s.queue_time_s_sum, |s| s.queue_time_count),
        prefill_time: time(&e, |s| s.prefill_time_s_sum, |s| s.prefill_time_count),
        decode_time: time(&e, |s| s.decode_time_s_sum, |s| s.decode_time_count),
        kv_transfer_time: time(&e, |s| s.kv_transfer_time_s_sum, |s| s.kv_transfer_count),
        batch_size_mean: mean(e.iter().map(|s| s.running)),
        batch_size_max: max(e.iter().map(|s| s.running)),
        queue_size_mean: mean(e.iter().map(|s| s.waiting)),
        queue_size_max: max(e.iter().map(|s| s.waiting)),
        kv_cache_usage_percent_mean: mean(e.iter().map(|s| s.kv_cache_usage * 100.0)),
        kv_cache_usage_percent_max: max(e.iter().map(|s| s.kv_cache_usage * 100.0)),
        power_w_mean: mean(devices.iter().map(|d| d.power_w)),
        gpu_utilization_percent_mean: mean(devices.iter().map(|d| d.gpu_util_pct)),
        energy_j,
        tokens_per_joule: energy_j.filter(|j| *j > 0.0).map(|j| tokens / j),
    }
}

/// The breakdown of every group; the TTFT split when there is a prefill and a decode pool.
pub(crate) fn breakdown(
    groups: &[HostGroup],
    t: &[AgentTelemetry],
    client_ttft_ms: Option<f64>,
) -> PoolBreakdown {
    let pools: Vec<Pool> = groups.iter().map(|g| pool(g, t)).collect();
    let find = |k: &str| pools.iter().find(|p| p.kind == k);
    let ttft = match (find("prefill"), find("decode")) {
        (Some(p), Some(d)) => {
            let mean_of = |t: Option<PoolTime>| t.and_then(|t| t.mean_ms);
            let parts = [
                mean_of(p.queue_time),
                mean_of(p.prefill_time),
                mean_of(d.kv_transfer_time),
                mean_of(d.prefill_time),
            ];
            let explained_ms: f64 = parts.iter().flatten().sum();
            Some(TtftSplit {
                client_ttft_ms,
                prefill_queue_ms: parts[0],
                prefill_compute_ms: parts[1],
                kv_transfer_ms: parts[2],
                first_decode_step_ms: parts[3],
                explained_ms,
                unexplained_ms: client_ttft_ms.map(|c| c - explained_ms),
            })
        }
        _ => None,
    };
    PoolBreakdown { pools, ttft }
}

/// The breakdown stored in a stage report (`metrics.metadata.pools`), if any.
pub(crate) fn stored(report: &super::benchmark_run::BenchmarkRun) -> Option<PoolBreakdown> {
    let v = report.metrics.metadata.as_ref()?.get("pools")?;
    serde_json::from_value(v.clone()).ok()
}

fn cell(v: Option<f64>, digits: usize) -> String {
    v.filter(|x| x.is_finite())
        .map_or("—".into(), |x| format!("{x:.digits$}"))
}

/// The columns of the per-pool table (`summary.md`, `report.html`).
pub const POOL_COLUMNS: [&str; 16] = [
    "stage",
    "pool",
    "requests",
    "prompt tokens",
    "prompt tokens computed",
    "generated tokens",
    "KV received tokens",
    "queue ms",
    "prefill ms",
    "decode ms",
    "KV transfer ms",
    "batch size",
    "queue size",
    "KV cache %",
    "power W",
    "tokens/J",
];

/// One row per stage and pool, as text cells in [`POOL_COLUMNS`] order.
pub fn pool_rows(reports: &[super::benchmark_run::BenchmarkRun]) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for r in reports {
        let label = r
            .scenario
            .load
            .metadata
            .as_ref()
            .and_then(|m| m.get("stage_label"))
            .and_then(serde_json::Value::as_str)
            .unwrap_or("stage")
            .to_string();
        for p in stored(r).map(|b| b.pools).unwrap_or_default() {
            let ms = |t: Option<PoolTime>| cell(t.and_then(|t| t.mean_ms), 1);
            rows.push(vec![
                label.clone(),
                p.kind.clone(),
                cell(p.requests, 0),
                cell(p.prompt_tokens, 0),
                cell(p.prompt_tokens_computed, 0),
                cell(p.generation_tokens, 0),
                cell(p.kv_received_tokens, 0),
                ms(p.queue_time),
                ms(p.prefill_time),
                ms(p.decode_time),
                ms(p.kv_transfer_time),
                cell(p.batch_size_mean, 1),
                cell(p.queue_size_mean, 1),
                cell(p.kv_cache_usage_percent_mean, 1),
                cell(p.power_w_mean, 0),
                cell(p.tokens_per_joule, 2),
            ]);
        }
    }
    rows
}

/// "Where did TTFT go" for one stage, one line (`None` without a prefill and a decode pool).
pub(crate) fn ttft_line(b: &PoolBreakdown) -> Option<String> {
    let t = b.ttft.as_ref()?;
    let part = |v: Option<f64>| cell(v, 1);
    Some(format!(
        "TTFT {} ms (client mean) ≈ prefill queue {} + prefill {} + KV transfer {} + first decode step {} = {:.1} ms; unexplained (network, proxy) {} ms",
        part(t.client_ttft_ms),
        part(t.prefill_queue_ms),
        part(t.prefill_compute_ms),
        part(t.kv_transfer_ms),
        part(t.first_decode_step_ms),
        t.explained_ms,
        part(t.unexplained_ms),
    ))
}
