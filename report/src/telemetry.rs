//! Telemetry in the report: per host group, the accelerators' power, memory and utilization
//! (`metrics.resources.accelerator[i]`), the engine's batch and queue sizes (`metrics.service`),
//! and what the schema has no field for (energy, clocks, temperatures, host and agent CPU,
//! prefix-cache hit rate, preemptions) under `metrics.metadata`.

use super::benchmark_run::*;
use fleetbench_model::hosts::HostGroup;
use fleetbench_proto::v1 as wire;
use serde_json::{json, Value};

/// One agent's samples inside the stage window.
#[derive(Debug, Clone, Default)]
pub struct AgentTelemetry {
    /// The agent's name.
    pub agent_id: String,
    /// Its samples, in time order.
    pub samples: Vec<wire::TelemetrySample>,
}

pub(crate) fn of_group<'a>(
    g: &'a HostGroup,
    t: &'a [AgentTelemetry],
) -> impl Iterator<Item = &'a wire::TelemetrySample> {
    t.iter()
        .filter(move |a| g.agents.iter().any(|m| m.agent_id == a.agent_id))
        .flat_map(|a| &a.samples)
}

/// `metrics.resources.accelerator[i]` for group `g`.
pub(crate) fn accelerator_metrics(g: &HostGroup, t: &[AgentTelemetry]) -> AcceleratorMetrics {
    let devices: Vec<&wire::DeviceSample> = of_group(g, t).flat_map(|s| &s.devices).collect();
    let stat = |f: fn(&wire::DeviceSample) -> f64, units: &str| {
        Statistics::from_values(devices.iter().map(|d| f(d)), units)
    };
    let consumption = stat(|d| d.memory_used_bytes / 1e9, "GB");
    let utilization = stat(|d| d.memory_util_pct, "percent");
    let compute = stat(|d| d.gpu_util_pct, "percent");
    AcceleratorMetrics {
        memory: (consumption.is_some() || utilization.is_some()).then_some(MemoryMetrics {
            consumption,
            utilization,
            // Never invented: NVML gives no bandwidth (docs/metrics.md, "Telemetry").
            bandwidth: None,
        }),
        compute: compute.map(|c| ComputeMetrics {
            utilization: Some(c),
        }),
        power: stat(|d| d.power_w, "Watts"),
    }
}

pub(crate) fn engines<'a>(
    samples: impl Iterator<Item = &'a wire::TelemetrySample>,
) -> Vec<&'a wire::EngineSample> {
    samples.flat_map(|s| &s.engines).collect()
}

/// `metrics.service` over every engine sample of the stage; `None` when nobody scraped.
pub fn service(t: &[AgentTelemetry]) -> Option<Service> {
    let e = engines(t.iter().flat_map(|a| &a.samples));
    if e.is_empty() {
        return None;
    }
    // The schema wants a count: KV-cache blocks in use, where the engine says its capacity.
    let kv_blocks = Statistics::from_values(
        e.iter().map(|s| s.kv_cache_usage * s.kv_cache_blocks),
        "count",
    );
    Some(Service {
        batch_size: Statistics::from_values(e.iter().map(|s| s.running), "count"),
        queue_size: Statistics::from_values(e.iter().map(|s| s.waiting), "count"),
        kv_cache_size: kv_blocks,
    })
}

/// Counter increase over the window, per scraped URL, summed.
pub(crate) fn increase(
    e: &[&wire::EngineSample],
    f: fn(&wire::EngineSample) -> f64,
) -> Option<f64> {
    let mut urls: Vec<&str> = e.iter().map(|s| s.url.as_str()).collect();
    urls.sort();
    urls.dedup();
    let mut total = None;
    for u in urls {
        let vals: Vec<f64> = e
            .iter()
            .filter(|s| s.url == u)
            .map(|s| f(s))
            .filter(|v| v.is_finite())
            .collect();
        if let (Some(first), Some(last)) = (vals.first(), vals.last()) {
            *total.get_or_insert(0.0) += (last - first).max(0.0);
        }
    }
    total
}

fn stats_json(values: impl IntoIterator<Item = f64>, units: &str) -> Value {
    Statistics::from_values(values, units)
        .map(|s| json!(s))
        .unwrap_or(Value::Null)
}

/// The group's accelerator energy over the window: the increase of each device's counter.
pub(crate) fn group_energy_j(g: &HostGroup, t: &[AgentTelemetry]) -> Option<f64> {
    let mut energy_j: Option<f64> = None;
    let mut by_device: std::collections::BTreeMap<(String, u32), (f64, f64)> = Default::default();
    for a in t
        .iter()
        .filter(|a| g.agents.iter().any(|m| m.agent_id == a.agent_id))
    {
        for s in &a.samples {
            for d in s.devices.iter().filter(|d| d.energy_mj.is_finite()) {
                let e = by_device
                    .entry((a.agent_id.clone(), d.index))
                    .or_insert((d.energy_mj, d.energy_mj));
                e.1 = d.energy_mj;
            }
        }
    }
    for (first, last) in by_device.values() {
        *energy_j.get_or_insert(0.0) += (last - first).max(0.0) / 1000.0;
    }
    energy_j
}

/// The per-group figures beyond the schema, for `metrics.metadata.host_groups`.
pub(crate) fn group_metadata(g: &HostGroup, t: &[AgentTelemetry], output_tokens: u64) -> Value {
    let samples: Vec<&wire::TelemetrySample> = of_group(g, t).collect();
    let devices: Vec<&wire::DeviceSample> = samples.iter().flat_map(|s| &s.devices).collect();
    let energy_j = group_energy_j(g, t);
    let hosts: Vec<&wire::HostSample> = samples.iter().filter_map(|s| s.host.as_ref()).collect();
    let e = engines(samples.iter().copied());
    let queries = increase(&e, |s| s.prefix_cache_queries);
    let hits = increase(&e, |s| s.prefix_cache_hits);
    // The engine family per scraped endpoint, and a warning for each endpoint that exported
    // none of the known names (naming what it did export).
    let mut families = serde_json::Map::new();
    let mut warnings = Vec::new();
    for s in &e {
        if families.contains_key(&s.url) {
            continue;
        }
        families.insert(s.url.clone(), json!(s.family));
        if s.family.is_empty() {
            warnings.push(format!(
                "{} exports none of the known engine metric names; it exports: {}",
                s.url,
                if s.unknown_names.is_empty() {
                    "nothing parseable".to_string()
                } else {
                    s.unknown_names.join(", ")
                }
            ));
        }
    }
    json!({
        "type": g.kind,
        "agents": g.agents.iter().map(|a| a.agent_id.clone()).collect::<Vec<_>>(),
        "accelerator": {
            "samples": devices.len(),
            "energy_j": energy_j,
            "joules_per_output_token": energy_j.filter(|_| output_tokens > 0).map(|j| j / output_tokens as f64),
            "sm_clock_mhz": stats_json(devices.iter().map(|d| d.sm_clock_mhz), "MHz"),
            "temperature_c": stats_json(devices.iter().map(|d| d.temperature_c), "C"),
        },
        "host": {
            "cpu_percent": stats_json(hosts.iter().map(|h| h.cpu_pct), "percent"),
            "memory_used_gb": stats_json(hosts.iter().map(|h| h.mem_used_bytes / 1e9), "GB"),
            "agent_cpu_percent_of_core": stats_json(hosts.iter().map(|h| h.agent_cpu_pct), "percent"),
            "agent_rss_mb": stats_json(hosts.iter().map(|h| h.agent_rss_bytes / 1e6), "MB"),
            "net_rx_mb_per_s": stats_json(hosts.iter().map(|h| h.net_rx_bytes_per_s / 1e6), "MB/s"),
            "net_tx_mb_per_s": stats_json(hosts.iter().map(|h| h.net_tx_bytes_per_s / 1e6), "MB/s"),
        },
        "engine": {
            "batch_size": stats_json(e.iter().map(|s| s.running), "count"),
            "queue_size": stats_json(e.iter().map(|s| s.waiting), "count"),
            "kv_cache_usage_percent": stats_json(e.iter().map(|s| s.kv_cache_usage * 100.0), "percent"),
            "prefix_cache_queries": queries,
            "prefix_cache_hits": hits,
            "prefix_cache_hit_rate": match (queries, hits) { (Some(q), Some(h)) if q > 0.0 => Some(h / q), _ => None },
            "preemptions": increase(&e, |s| s.preemptions),
            "families": families,
            "warnings": warnings,
        },
    })
}
