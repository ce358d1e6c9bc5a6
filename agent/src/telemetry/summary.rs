//! `agent probe`'s summary of its samples: per device, for the host and per scraped engine, the
//! minimum, mean and maximum of each figure (values that were not reported, NaN, left out), and
//! each device's energy over the probe. The coordinator's reports compute their own figures per
//! host group from the same samples.

use fleetbench_proto::v1 as wire;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// `{min, mean, max, count}` of the finite values; `null` when there are none.
fn stats(values: impl IntoIterator<Item = f64>) -> Value {
    let v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return Value::Null;
    }
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    json!({"min": min, "mean": mean, "max": max, "count": v.len()})
}

/// The figures of one device's samples, with its energy counter's increase in joules.
fn device(index: u32, d: &[&wire::DeviceSample]) -> Value {
    let energy: Vec<f64> = d
        .iter()
        .map(|s| s.energy_mj)
        .filter(|e| e.is_finite())
        .collect();
    let energy_j = match (energy.first(), energy.last()) {
        (Some(first), Some(last)) => json!((last - first).max(0.0) / 1000.0),
        _ => Value::Null,
    };
    json!({
        "index": index,
        "power_w": stats(d.iter().map(|s| s.power_w)),
        "memory_used_gb": stats(d.iter().map(|s| s.memory_used_bytes / 1e9)),
        "memory_util_pct": stats(d.iter().map(|s| s.memory_util_pct)),
        "gpu_util_pct": stats(d.iter().map(|s| s.gpu_util_pct)),
        "sm_clock_mhz": stats(d.iter().map(|s| s.sm_clock_mhz)),
        "temperature_c": stats(d.iter().map(|s| s.temperature_c)),
        "energy_j": energy_j,
    })
}

/// The summary of a probe's samples: `devices`, `host` and `engines`.
pub fn summarize(samples: &[wire::TelemetrySample]) -> Value {
    let mut by_device: BTreeMap<u32, Vec<&wire::DeviceSample>> = BTreeMap::new();
    for d in samples.iter().flat_map(|s| &s.devices) {
        by_device.entry(d.index).or_default().push(d);
    }
    let hosts: Vec<&wire::HostSample> = samples.iter().filter_map(|s| s.host.as_ref()).collect();
    let mut by_engine: BTreeMap<&str, Vec<&wire::EngineSample>> = BTreeMap::new();
    for e in samples.iter().flat_map(|s| &s.engines) {
        by_engine.entry(e.url.as_str()).or_default().push(e);
    }
    json!({
        "devices": by_device.iter().map(|(i, d)| device(*i, d)).collect::<Vec<_>>(),
        "host": {
            "cpu_pct": stats(hosts.iter().map(|h| h.cpu_pct)),
            "mem_used_gb": stats(hosts.iter().map(|h| h.mem_used_bytes / 1e9)),
            "agent_cpu_pct": stats(hosts.iter().map(|h| h.agent_cpu_pct)),
            "agent_rss_mb": stats(hosts.iter().map(|h| h.agent_rss_bytes / 1e6)),
        },
        "engines": by_engine.iter().map(|(url, e)| json!({
            "url": url,
            "running": stats(e.iter().map(|s| s.running)),
            "waiting": stats(e.iter().map(|s| s.waiting)),
            "kv_cache_usage": stats(e.iter().map(|s| s.kv_cache_usage)),
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_are_summarized_per_index_and_missing_values_left_out() {
        let sample = |power: f64, energy: f64| wire::TelemetrySample {
            devices: vec![
                wire::DeviceSample {
                    index: 0,
                    power_w: power,
                    energy_mj: energy,
                    temperature_c: f64::NAN,
                    ..Default::default()
                },
                wire::DeviceSample {
                    index: 1,
                    power_w: 2.0 * power,
                    energy_mj: f64::NAN,
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let s = summarize(&[sample(100.0, 1_000.0), sample(300.0, 5_000.0)]);
        let d0 = &s["devices"][0];
        assert_eq!(d0["power_w"]["mean"], 200.0);
        assert_eq!(d0["power_w"]["min"], 100.0);
        assert_eq!(d0["power_w"]["count"], 2);
        assert_eq!(d0["energy_j"], 4.0);
        assert_eq!(d0["temperature_c"], Value::Null);
        assert_eq!(s["devices"][1]["power_w"]["max"], 600.0);
        assert_eq!(s["devices"][1]["energy_j"], Value::Null);
        assert_eq!(s["host"]["cpu_pct"], Value::Null);
        assert_eq!(s["engines"].as_array().map(Vec::len), Some(0));
    }
}
