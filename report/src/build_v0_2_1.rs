//! One stage's report v0.2.1, from the same merged data as its v0.1 report: the v0.1 report
//! (aggregates, host groups, telemetry per group), the stage's snapshot intervals (request time
//! series) and its telemetry per host group and interval (observability time series).
//! Latencies are in seconds here (`s`, `s/token`), as llm-d's converters and analysis expect.

use super::benchmark_run::{BenchmarkRun, Statistics};
use super::build::GENERATOR;
use super::v0_2_1::*;
use crate::statistics::mean_of_finite as mean;
use fleetbench_model::measure::{Measurements, Metric};
use fleetbench_proto::v1 as wire;
use serde_json::{json, Map, Value};

/// What one snapshot interval of a stage measured, over all shards.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RequestInterval {
    /// The interval's index from the stage start.
    pub interval: u32,
    /// Requests that succeeded.
    pub ok: u64,
    /// Their prompt tokens.
    pub input_tokens: u64,
    /// Their output tokens.
    pub output_tokens: u64,
    /// TTFT, NTPOT, TPOT, ITL, E2E in seconds: (mean, p50, p90, p99), `None` without samples.
    pub latency: [Option<[f64; 4]>; 5],
}

const LATENCIES: [Metric; 5] = [
    Metric::Ttft,
    Metric::Ntpot,
    Metric::Tpot,
    Metric::Itl,
    Metric::E2e,
];

impl RequestInterval {
    /// The interval's figures from its merged measurements; `e2e_as_ttft`: a non-streamed
    /// response's first token is its last.
    pub fn of(interval: u32, m: &Measurements, e2e_as_ttft: bool) -> RequestInterval {
        let mut latency = [None; 5];
        for (slot, metric) in latency.iter_mut().zip(LATENCIES) {
            let metric = if metric == Metric::Ttft && e2e_as_ttft {
                Metric::E2e
            } else {
                metric
            };
            let h = m.histogram(metric);
            if !h.is_empty() {
                let s = |v: f64| round6(v * 1e-6);
                *slot = Some([
                    s(h.mean()),
                    s(h.value_at_quantile(0.5) as f64),
                    s(h.value_at_quantile(0.9) as f64),
                    s(h.value_at_quantile(0.99) as f64),
                ]);
            }
        }
        RequestInterval {
            interval,
            ok: m.counters.ok,
            input_tokens: m.counters.input_tokens,
            output_tokens: m.counters.output_tokens,
            latency,
        }
    }
}

/// One host group's telemetry in one interval: means over the interval's samples.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResourceInterval {
    /// The interval's index from the stage start.
    pub interval: u32,
    /// Mean accelerator utilization, percent.
    pub gpu_utilization_pct: Option<f64>,
    /// Summed over the group's devices.
    pub power_w: Option<f64>,
    /// Summed over the group's devices, GB.
    pub gpu_memory_gb: Option<f64>,
    /// Mean host CPU utilization, percent.
    pub cpu_utilization_pct: Option<f64>,
    /// Mean host memory in use, GB.
    pub cpu_memory_gb: Option<f64>,
    /// Mean KV-cache usage, percent.
    pub kv_cache_pct: Option<f64>,
    /// Summed over the group's engines.
    pub running: Option<f64>,
    /// Requests waiting in the engines' queues.
    pub waiting: Option<f64>,
}

impl ResourceInterval {
    /// From the samples of one interval, per agent of the group.
    pub fn of(interval: u32, per_agent: &[Vec<&wire::TelemetrySample>]) -> ResourceInterval {
        let mut r = ResourceInterval {
            interval,
            ..Default::default()
        };
        let add = |slot: &mut Option<f64>, v: Option<f64>| {
            if let Some(v) = v {
                *slot = Some(slot.unwrap_or(0.0) + v);
            }
        };
        let mut util = Vec::new();
        let mut cpu = Vec::new();
        let mut kv = Vec::new();
        let mut engines: std::collections::BTreeMap<&str, Vec<(f64, f64)>> = Default::default();
        for samples in per_agent {
            let dev_sum = |f: fn(&wire::DeviceSample) -> f64| {
                mean(samples.iter().map(|s| {
                    let v: Vec<f64> = s.devices.iter().map(f).filter(|x| x.is_finite()).collect();
                    if v.is_empty() {
                        f64::NAN
                    } else {
                        v.iter().sum()
                    }
                }))
            };
            add(&mut r.power_w, dev_sum(|d| d.power_w));
            add(&mut r.gpu_memory_gb, dev_sum(|d| d.memory_used_bytes / 1e9));
            add(
                &mut r.cpu_memory_gb,
                mean(
                    samples
                        .iter()
                        .filter_map(|s| s.host.as_ref())
                        .map(|h| h.mem_used_bytes / 1e9),
                ),
            );
            for s in samples {
                util.extend(s.devices.iter().map(|d| d.gpu_util_pct));
                cpu.extend(s.host.iter().map(|h| h.cpu_pct));
                for e in &s.engines {
                    kv.push(e.kv_cache_usage * 100.0);
                    engines
                        .entry(e.url.as_str())
                        .or_default()
                        .push((e.running, e.waiting));
                }
            }
        }
        r.gpu_utilization_pct = mean(util.into_iter());
        r.cpu_utilization_pct = mean(cpu.into_iter());
        r.kv_cache_pct = mean(kv.into_iter());
        for v in engines.values() {
            add(&mut r.running, mean(v.iter().map(|p| p.0)));
            add(&mut r.waiting, mean(v.iter().map(|p| p.1)));
        }
        r.power_w = r.power_w.map(round6);
        r.gpu_memory_gb = r.gpu_memory_gb.map(round6);
        r.cpu_memory_gb = r.cpu_memory_gb.map(round6);
        r
    }
}

/// Everything a stage's v0.2.1 report is made of besides its v0.1 report.
pub struct V021Input<'a> {
    /// The stage's v0.1 report.
    pub v01: &'a BenchmarkRun,
    /// The run's id (`run.eid`).
    pub run_id: &'a str,
    /// The stage's index.
    pub stage: u32,
    /// Unix seconds at which interval 0 began (the stage's start, before any warm-up).
    pub stage_start_unix_s: f64,
    /// Seconds per snapshot interval.
    pub interval_s: f64,
    /// The requests per interval.
    pub requests: &'a [RequestInterval],
    /// Per host group (in `scenario.host` order), its telemetry per interval.
    pub resources: &'a [Vec<ResourceInterval>],
    /// Where the coordinator ran (`run.pid`).
    pub coordinator_host: Option<String>,
}

/// The stage's report v0.2.1. Goodput (when the profile gives `report.goodput` constraints)
/// has no field in the published schema: it travels with the client-side figures under the
/// open `results.observability.fleetbench.goodput`, as in the v0.1 report's metadata.
pub fn build_v021(i: &V021Input<'_>) -> ReportV021 {
    let r = i.v01;
    let labels: Vec<String> = r.scenario.host.kind.clone();
    let (load, multi_turn) = load_of(r, i.stage);
    let meta = r.metrics.metadata.as_ref();
    let client = meta.and_then(Value::as_object).map(|m| {
        let mut m = m.clone();
        m.remove("host_groups");
        Value::Object(m)
    });
    let health = health_of(r, &labels);
    let time = &r.metrics.time;
    let model = &r.scenario.model.name;
    ReportV021 {
        version: VERSION_0_2_1.into(),
        run: RunInfo {
            uid: format!("{}-stage-{}", i.run_id, i.stage),
            eid: Some(i.run_id.to_string()),
            cid: None,
            pid: i.coordinator_host.clone(),
            time: Some(RunTime {
                start: time.start.map(iso8601),
                end: time.stop.map(iso8601),
                duration: Some(format!("PT{}S", round6(time.duration))),
            }),
            user: None,
            description: Some(format!("{model} [{}]", i.run_id)),
            keywords: None,
        },
        scenario: Some(ScenarioV2 {
            stack: Some(stack_of(r, &labels)),
            load: Some(load),
        }),
        results: Results {
            request_performance: Some(RequestPerformance {
                aggregate: Some(aggregate_of(r)),
                time_series: request_time_series(i),
            }),
            session_performance: session_performance(r, multi_turn.as_ref()),
            observability: Some(Observability {
                components: Some(
                    labels
                        .iter()
                        .enumerate()
                        .map(|(g, label)| component_of(i, g, label))
                        .collect(),
                ),
                fleetbench: client,
            }),
            component_health: (!health.is_empty()).then_some(health),
        },
    }
}

/// The groups of `scenario.host.metadata.groups` (each with its agents).
fn host_groups_meta(r: &BenchmarkRun) -> Vec<Value> {
    r.scenario
        .host
        .metadata
        .as_ref()
        .and_then(|m| m.get("groups"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// Host group `g`'s figures beyond the schema (`metrics.metadata.host_groups[g]`).
fn host_group_meta(r: &BenchmarkRun, g: usize) -> Option<&Value> {
    r.metrics
        .metadata
        .as_ref()
        .and_then(|m| m.get("host_groups"))
        .and_then(|h| h.get(g))
}

/// The end of interval `k` as an ISO 8601 instant.
fn interval_ts(i: &V021Input<'_>, k: u32) -> String {
    iso8601(i.stage_start_unix_s + f64::from(k + 1) * i.interval_s)
}

/// `scenario.stack`: one inference engine per host group.
fn stack_of(r: &BenchmarkRun, labels: &[String]) -> Vec<Component> {
    let groups = host_groups_meta(r);
    let mut stack = Vec::new();
    for (g, kind) in labels.iter().enumerate() {
        let acc = r.scenario.host.accelerator.get(g);
        let eng = r.scenario.platform.engine.get(g);
        let agents = groups
            .get(g)
            .and_then(|v| v.get("agents"))
            .cloned()
            .unwrap_or(Value::Array(vec![]));
        let replicas = agents.as_array().map_or(0, Vec::len).max(1) as u64;
        let p = acc.and_then(|a| a.parallelism.clone());
        let parallelism = EngineParallelism {
            tp: p.as_ref().map_or(1, |p| p.tp),
            dp: p.as_ref().map_or(1, |p| p.dp),
            dp_local: 1,
            workers: 1,
            ep: p.as_ref().map_or(1, |p| p.ep),
            pp: p.as_ref().map_or(1, |p| p.pp),
        };
        let standardized = InferenceEngine {
            kind: "inference_engine".into(),
            tool: eng.map_or_else(|| "unknown".into(), |e| e.name.clone()),
            tool_version: eng
                .and_then(|e| e.version.clone())
                .unwrap_or_else(|| "unknown".into()),
            role: kind.clone(),
            replicas,
            model: EngineModel {
                name: r.scenario.model.name.clone(),
            },
            accelerator: EngineAccelerator {
                model: acc.map_or_else(|| "unknown".into(), |a| a.model.clone()),
                count: acc.map_or(0, |a| a.count),
                parallelism,
            },
        };
        let args = eng.map(|e| e.args.clone()).filter(|a| !a.is_empty());
        let mut config = Map::new();
        config.insert("agents".into(), agents);
        if let Some(m) = acc.and_then(|a| a.memory) {
            config.insert("accelerator_memory_gb".into(), json!(m));
        }
        if let Some(hg) = host_group_meta(r, g) {
            config.insert("telemetry".into(), hg.clone());
        }
        let cfg_id = hash_hex(&json!({"standardized": &standardized, "args": &args}));
        stack.push(Component {
            metadata: ComponentMetadata {
                schema_version: "0.0.1".into(),
                label: kind.clone(),
                cfg_id,
                description: Some(format!("{kind} host group, measured by fleetbench agents")),
            },
            standardized,
            native: Native {
                args,
                envars: None,
                config: Some(Value::Object(config)),
            },
        });
    }
    stack
}

/// `scenario.load`, and its multi-turn description (also used for session performance).
fn load_of(r: &BenchmarkRun, stage: u32) -> (LoadV2, Option<MultiTurn>) {
    let harness = r.scenario.load.args.clone().map(Value::Object);
    let plan = r.stage_plan().cloned();
    let data = harness.as_ref().and_then(|h| h.get("data"));
    let agents_meta = r
        .scenario
        .metadata
        .as_ref()
        .and_then(|m| m.get("agents"))
        .and_then(Value::as_array);
    let generators = agents_meta
        .map(|a| {
            a.iter()
                .filter(|x| x["weight"].as_u64().unwrap_or(1) > 0)
                .count()
        })
        .unwrap_or(1)
        .max(1) as u32;
    let req = &r.metrics.requests;
    let plan_num = |k: &str| plan.as_ref().and_then(|p| p.get(k)).and_then(Value::as_f64);
    let rate_qps = plan_num("rate").filter(|r| r.is_finite() && *r > 0.0);
    let concurrency = plan_num("users").filter(|u| *u >= 1.0).map(|u| u as u64);
    let multi_turn = data.and_then(|d| d.get("multi_turn")).map(|m| MultiTurn {
        enabled: true,
        max_turns: m
            .get("rounds")
            .and_then(Value::as_f64)
            .map(|r| SequenceLength {
                distribution: "fixed".into(),
                value: r,
                std_dev: None,
                min: None,
                max: None,
            }),
    });
    let load = LoadV2 {
        metadata: LoadMetadata {
            schema_version: "0.0.1".into(),
            cfg_id: harness.as_ref().map(hash_hex),
            description: r.scenario.description.clone(),
        },
        standardized: LoadStandardized {
            tool: GENERATOR.into(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            parallelism: generators,
            source: source_of(data),
            stage,
            input_seq_len: seq_len(
                data.and_then(|d| d.get("input_distribution")),
                &req.input_length,
            ),
            output_seq_len: Some(seq_len(
                data.and_then(|d| d.get("output_distribution")),
                &req.output_length,
            )),
            prefix: data
                .and_then(|d| d.get("shared_prefix"))
                .and_then(prefix_of),
            multi_turn: multi_turn.clone(),
            rate_qps,
            concurrency,
        },
        native: Native {
            args: plan,
            envars: None,
            config: harness,
        },
    };
    (load, multi_turn)
}

/// `results.request_performance.aggregate`: the v0.1 figures in seconds.
fn aggregate_of(r: &BenchmarkRun) -> Aggregate {
    let req = &r.metrics.requests;
    let l = &r.metrics.latency;
    let t = &r.metrics.throughput;
    let rate = |v: f64, units: &str| Statistics {
        mean: v,
        ..Statistics::empty(units)
    };
    let payload = super::payload::of_report(r);
    let media_rates = payload.as_ref().and_then(|p| p.rates);
    let media_rate = |v: fn(&super::payload::MediaRates) -> f64, units: &str| {
        media_rates.as_ref().map(|m| rate(v(m), units))
    };
    Aggregate {
        requests: Some(AggregateRequests {
            total: req.total,
            failures: req.failures,
            incomplete: req.incomplete,
            input_length: Some(req.input_length.clone()),
            output_length: Some(req.output_length.clone()),
            request_size: payload.as_ref().and_then(|p| p.request_size.clone()),
            multimodal: payload.and_then(|p| p.multimodal),
        }),
        latency: Some(LatencySet {
            time_to_first_token: Some(seconds(&l.time_to_first_token, "s")),
            normalized_time_per_output_token: l
                .normalized_time_per_output_token
                .as_ref()
                .map(|s| seconds(s, "s/token")),
            time_per_output_token: l
                .time_per_output_token
                .as_ref()
                .map(|s| seconds(s, "s/token")),
            inter_token_latency: l
                .inter_token_latency
                .as_ref()
                .map(|s| seconds(s, "s/token")),
            request_latency: l.request_latency.as_ref().map(|s| seconds(s, "s")),
        }),
        throughput: Some(ThroughputSet {
            input_token_rate: t.input_tokens_per_sec.map(|v| rate(v, "tokens/s")),
            output_token_rate: t.output_tokens_per_sec.map(|v| rate(v, "tokens/s")),
            total_token_rate: Some(rate(t.total_tokens_per_sec, "tokens/s")),
            request_rate: t.requests_per_sec.map(|v| rate(v, "queries/s")),
            image_rate: media_rate(|m| m.images_per_s, "images/s"),
            video_rate: media_rate(|m| m.videos_per_s, "videos/s"),
            audio_rate: media_rate(|m| m.audios_per_s, "audios/s"),
        }),
    }
}

/// `results.request_performance.time_series`: latencies and rates per snapshot interval.
fn request_time_series(i: &V021Input<'_>) -> Option<TimeSeries> {
    let lat_series = |slot: usize, units: &str| -> Option<TimeSeriesData> {
        let series: Vec<TimeSeriesPoint> = i
            .requests
            .iter()
            .filter_map(|p| {
                p.latency[slot].map(|[mean, p50, p90, p99]| TimeSeriesPoint {
                    ts: interval_ts(i, p.interval),
                    mean: Some(mean),
                    p50: Some(p50),
                    p90: Some(p90),
                    p99: Some(p99),
                    ..Default::default()
                })
            })
            .collect();
        (!series.is_empty()).then(|| TimeSeriesData {
            units: units.into(),
            series,
        })
    };
    let per_s = |v: u64| round6(v as f64 / i.interval_s.max(1e-9));
    let rate_series =
        |f: &dyn Fn(&RequestInterval) -> u64, units: &str| -> Option<TimeSeriesData> {
            (!i.requests.is_empty()).then(|| TimeSeriesData {
                units: units.into(),
                series: i
                    .requests
                    .iter()
                    .map(|p| TimeSeriesPoint {
                        ts: interval_ts(i, p.interval),
                        value: Some(per_s(f(p))),
                        ..Default::default()
                    })
                    .collect(),
            })
        };
    (!i.requests.is_empty()).then(|| TimeSeries {
        latency: Some(LatencySet {
            time_to_first_token: lat_series(0, "s"),
            normalized_time_per_output_token: lat_series(1, "s/token"),
            time_per_output_token: lat_series(2, "s/token"),
            inter_token_latency: lat_series(3, "s/token"),
            request_latency: lat_series(4, "s"),
        }),
        throughput: Some(TimeSeriesThroughput {
            units: "tokens/s".into(),
            input_token_rate: rate_series(&|p| p.input_tokens, "tokens/s"),
            output_token_rate: rate_series(&|p| p.output_tokens, "tokens/s"),
            total_token_rate: rate_series(&|p| p.input_tokens + p.output_tokens, "tokens/s"),
            request_rate: rate_series(&|p| p.ok, "queries/s"),
        }),
    })
}

/// `results.session_performance`: multi-turn stages, from the stage's counts.
fn session_performance(
    r: &BenchmarkRun,
    multi_turn: Option<&MultiTurn>,
) -> Option<SessionPerformance> {
    let req = &r.metrics.requests;
    let rounds = multi_turn?.max_turns.as_ref()?.value.max(1.0);
    let started = ((req.total as f64) / rounds).ceil() as u64;
    let per_session = |total: f64| Statistics {
        mean: round6(total / started.max(1) as f64),
        ..Statistics::empty("count")
    };
    let ok = req.total - req.failures.unwrap_or(0);
    Some(SessionPerformance {
        sessions: Some(SessionRequests {
            total: started,
            total_events: Some(req.total),
            total_events_completed: Some(ok),
            total_events_cancelled: req.incomplete,
            session_rate: (r.metrics.time.duration > 0.0).then(|| Statistics {
                mean: round6(started as f64 / r.metrics.time.duration),
                ..Statistics::empty("queries/s")
            }),
            events_per_session: Some(per_session(req.total as f64)),
            input_tokens_per_session: Some(per_session(req.input_length.mean * ok as f64)),
            output_tokens_per_session: Some(per_session(req.output_length.mean * ok as f64)),
            ..Default::default()
        }),
    })
}

/// One host group's `results.observability.components` entry.
fn component_of(i: &V021Input<'_>, g: usize, label: &str) -> ComponentObservability {
    let aggregate = component_aggregate(i.v01, g);
    let res = i.resources.get(g).map(Vec::as_slice).unwrap_or(&[]);
    let series = |f: fn(&ResourceInterval) -> Option<f64>, units: &str| {
        let points: Vec<TimeSeriesPoint> = res
            .iter()
            .filter_map(|p| {
                f(p).map(|v| TimeSeriesPoint {
                    ts: interval_ts(i, p.interval),
                    value: Some(round6(v)),
                    ..Default::default()
                })
            })
            .collect();
        (!points.is_empty()).then(|| TimeSeriesData {
            units: units.into(),
            series: points,
        })
    };
    let time_series = ResourceTimeSeries {
        kv_cache_usage: series(|p| p.kv_cache_pct, "percent"),
        gpu_memory_usage: series(|p| p.gpu_memory_gb, "GB"),
        cpu_memory_usage: series(|p| p.cpu_memory_gb, "GB"),
        gpu_utilization: series(|p| p.gpu_utilization_pct, "percent"),
        cpu_utilization: series(|p| p.cpu_utilization_pct, "percent"),
        power_consumption: series(|p| p.power_w, "Watts"),
        num_requests_running: series(|p| p.running, "count"),
        num_requests_waiting: series(|p| p.waiting, "count"),
    };
    ComponentObservability {
        component_label: label.to_string(),
        replica_id: None,
        aggregate: (aggregate != ResourceMetrics::default()).then_some(aggregate),
        time_series: (time_series != ResourceTimeSeries::default()).then_some(time_series),
    }
}

/// Host group `g`'s aggregate resource figures, from its v0.1 figures.
fn component_aggregate(r: &BenchmarkRun, g: usize) -> ResourceMetrics {
    let acc = r
        .metrics
        .resources
        .as_ref()
        .and_then(|x| x.accelerator.get(g));
    let hg = host_group_meta(r, g);
    let stat = |path: &[&str], units: &str, scale: f64| -> Option<Statistics> {
        let mut v = hg?;
        for k in path {
            v = v.get(*k)?;
        }
        let mut s: Statistics = serde_json::from_value(v.clone()).ok()?;
        s = scaled(&s, scale);
        s.units = units.into();
        Some(s)
    };
    ResourceMetrics {
        kv_cache_usage: stat(&["engine", "kv_cache_usage_percent"], "percent", 1.0),
        cache_hit_rate: hg
            .and_then(|h| h["engine"]["prefix_cache_hit_rate"].as_f64())
            .map(|v| Statistics {
                mean: round6(v * 100.0),
                ..Statistics::empty("percent")
            }),
        gpu_memory_usage: acc
            .and_then(|a| a.memory.as_ref())
            .and_then(|m| m.consumption.clone()),
        cpu_memory_usage: stat(&["host", "memory_used_gb"], "GB", 1.0),
        gpu_utilization: acc
            .and_then(|a| a.compute.as_ref())
            .and_then(|c| c.utilization.clone()),
        cpu_utilization: stat(&["host", "cpu_percent"], "percent", 1.0),
        power_consumption: acc.and_then(|a| a.power.clone()),
        running_requests: stat(&["engine", "batch_size"], "count", 1.0),
        waiting_requests: stat(&["engine", "queue_size"], "count", 1.0),
        preemptions: hg
            .and_then(|h| h["engine"]["preemptions"].as_f64())
            .map(|v| Statistics {
                mean: v,
                ..Statistics::empty("count")
            }),
    }
}

/// `results.component_health`: the groups whose agents run on the serving hosts (prefill,
/// decode): a host whose agent was lost during the stage is unhealthy.
fn health_of(r: &BenchmarkRun, labels: &[String]) -> Vec<ComponentHealth> {
    let groups = host_groups_meta(r);
    let lost: Vec<String> = r
        .metrics
        .metadata
        .as_ref()
        .and_then(|m| m.get("lost_shards"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x["agent"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    labels
        .iter()
        .enumerate()
        .filter(|(_, k)| k.as_str() != "replica")
        .map(|(g, label)| {
            let replicas: Vec<ReplicaHealth> = groups
                .get(g)
                .and_then(|v| v["agents"].as_array())
                .map(|a| {
                    a.iter()
                        .map(|x| {
                            let id = x["id"].as_str().unwrap_or_default().to_string();
                            ReplicaHealth {
                                healthy: Some(!lost.contains(&id)),
                                replica_id: x["host"].as_str().map_or(id, str::to_string),
                                restarts: None,
                                logs: None,
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            ComponentHealth {
                component_label: label.clone(),
                total_restarts: None,
                failed_replicas: Some(
                    replicas.iter().filter(|h| h.healthy == Some(false)).count() as u64
                ),
                replica_health: Some(replicas),
            }
        })
        .collect()
}

/// A v0.1 statistic in ms (or ms/token) as seconds.
fn seconds(s: &Statistics, units: &str) -> Statistics {
    let factor = if s.units.starts_with("ms") { 1e-3 } else { 1.0 };
    let mut out = scaled(s, factor);
    out.units = units.into();
    out
}

fn scaled(s: &Statistics, f: f64) -> Statistics {
    let m = |v: Option<f64>| v.map(|v| round9(v * f));
    Statistics {
        units: s.units.clone(),
        mean: round9(s.mean * f),
        stddev: m(s.stddev),
        min: m(s.min),
        p0p1: m(s.p0p1),
        p1: m(s.p1),
        p5: m(s.p5),
        p10: m(s.p10),
        p25: m(s.p25),
        p50: m(s.p50),
        p75: m(s.p75),
        p90: m(s.p90),
        p95: m(s.p95),
        p99: m(s.p99),
        p99p9: m(s.p99p9),
        max: m(s.max),
    }
}

/// `random` for generated text, `sampled` for text from a dataset or trace.
fn source_of(data: Option<&Value>) -> String {
    let kind = data
        .and_then(|d| d.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("");
    match kind {
        "random" | "synthetic" | "shared_prefix" | "mock" | "multi_turn" => "random",
        "shareGPT" | "sharegpt" | "mooncake" | "mooncake_trace" | "trace" => "sampled",
        _ if data.is_some_and(|d| d.get("path").is_some_and(|p| !p.is_null())) => "sampled",
        _ => "unknown",
    }
    .into()
}

/// A length distribution of the profile (`{min, max, mean, std_dev}`), else the measured one.
fn seq_len(given: Option<&Value>, measured: &Statistics) -> SequenceLength {
    let f = |k: &str| given.and_then(|g| g.get(k)).and_then(Value::as_f64);
    let (min, max) = (f("min"), f("max"));
    let std = f("std_dev").or_else(|| f("std"));
    match f("mean").or_else(|| min.zip(max).map(|(a, b)| (a + b) / 2.0)) {
        Some(mean) => {
            let fixed = std == Some(0.0) || (min.is_some() && min == max);
            SequenceLength {
                distribution: if fixed { "fixed" } else { "gaussian" }.into(),
                value: mean.max(0.0),
                std_dev: std.filter(|s| *s >= 0.0 && !fixed),
                min: min.filter(|v| *v >= 0.0).map(|v| v as u64),
                max: max.filter(|v| *v >= 1.0).map(|v| v as u64),
            }
        }
        None => SequenceLength {
            distribution: "other".into(),
            value: measured.mean.max(0.0),
            std_dev: measured.stddev.filter(|s| *s >= 0.0),
            min: measured.min.filter(|v| *v >= 0.0).map(|v| v as u64),
            max: measured.max.filter(|v| *v >= 1.0).map(|v| v as u64),
        },
    }
}

fn prefix_of(sp: &Value) -> Option<LoadPrefix> {
    // inference-perf's names and its serialized ones; a length is tokens or a distribution.
    let n = |k: &str, alias: &str| sp.get(k).or_else(|| sp.get(alias)).and_then(Value::as_u64);
    let len = sp.get("system_prompt_len")?;
    let mean = len
        .as_f64()
        .or_else(|| len.get("mean").and_then(Value::as_f64))?;
    Some(LoadPrefix {
        prefix_len: SequenceLength {
            distribution: if len.is_number() { "fixed" } else { "normal" }.into(),
            value: mean,
            std_dev: None,
            min: None,
            max: None,
        },
        num_groups: n("num_groups", "num_unique_system_prompts")?.max(1),
        num_users_per_group: n("num_prompts_per_group", "num_users_per_system_prompt")?.max(1),
        num_prefixes: 1,
    })
}

/// 32 hex digits from two FNV-1a passes over the value's JSON (a configuration id).
fn hash_hex(v: &Value) -> String {
    let bytes = serde_json::to_vec(v).unwrap_or_default();
    let fnv = |seed: u64| {
        bytes.iter().fold(seed, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    format!(
        "{:016x}{:016x}",
        fnv(0xcbf2_9ce4_8422_2325),
        fnv(0x8422_2325_cbf2_9ce4)
    )
}

/// Unix seconds as an ISO-8601 UTC instant with milliseconds.
pub(crate) fn iso8601(unix_s: f64) -> String {
    let ms = (unix_s * 1000.0).round() as i64;
    let (secs, milli) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let t = fleetbench_model::clock::utc(secs);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{milli:03}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

fn round6(v: f64) -> f64 {
    if v.is_finite() {
        (v * 1e6).round() / 1e6
    } else {
        0.0
    }
}

fn round9(v: f64) -> f64 {
    if v.is_finite() {
        (v * 1e9).round() / 1e9
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_instants_and_lengths() {
        assert_eq!(iso8601(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_764_612_042.123_4), "2025-12-01T18:00:42.123Z");
        let measured = Statistics {
            mean: 100.0,
            ..Statistics::empty("count")
        };
        let fixed = seq_len(
            Some(&json!({"min": 128, "max": 128, "mean": 128, "std_dev": 0})),
            &measured,
        );
        assert_eq!((fixed.distribution.as_str(), fixed.value), ("fixed", 128.0));
        let other = seq_len(None, &measured);
        assert_eq!((other.distribution.as_str(), other.value), ("other", 100.0));
        assert_eq!(hash_hex(&json!({"a": 1})).len(), 32);
    }

    fn stat(units: &str, mean: f64) -> Value {
        json!({"units": units, "mean": mean, "min": mean, "p50": mean, "p99": mean, "max": mean})
    }

    /// A P/D stage: two components with their roles, observability per component, and a
    /// report that passes the 0.2.1 checks.
    #[test]
    fn a_pd_stage_becomes_two_checked_components() {
        let v01: BenchmarkRun = serde_json::from_value(json!({
            "version": "0.1",
            "scenario": {
                "host": {"type": ["prefill", "decode"],
                         "accelerator": [
                             {"model": "H100", "count": 2, "parallelism": {"dp": 1, "tp": 2, "pp": 1, "ep": 1}},
                             {"model": "H100", "count": 1, "parallelism": {"dp": 1, "tp": 1, "pp": 1, "ep": 1}}],
                         "metadata": {"groups": [
                             {"type": "prefill", "agents": [{"id": "p0", "host": "hp"}]},
                             {"type": "decode", "agents": [{"id": "d0", "host": "hd"}]}]}},
                "platform": {"engine": [{"name": "vllm", "args": {"max_model_len": 4096}},
                                        {"name": "vllm", "args": {}}]},
                "model": {"name": "m"},
                "load": {"name": "inference-perf", "type": "constant",
                         "args": {"data": {"type": "random",
                                           "input_distribution": {"min": 8, "max": 8, "mean": 8}},
                                  "load": {"stages": [{"rate": 5, "duration": 2}]}},
                         "metadata": {"stage": 0, "stage_label": "qps_05",
                                      "plan": {"type": "constant", "rate": 5.0}}},
                "metadata": {"run_id": "r1", "agents": [{"id": "p0", "weight": 1}, {"id": "d0", "weight": 1}]}
            },
            "metrics": {
                "time": {"duration": 2.0, "start": 1_764_612_042.0, "stop": 1_764_612_044.0},
                "requests": {"total": 10, "failures": 0, "incomplete": 0,
                             "input_length": stat("count", 8.0), "output_length": stat("count", 4.0)},
                "latency": {"time_to_first_token": stat("ms", 12.0),
                            "time_per_output_token": stat("ms/token", 2.0),
                            "request_latency": stat("ms", 20.0)},
                "throughput": {"total_tokens_per_sec": 60.0, "output_tokens_per_sec": 20.0,
                               "input_tokens_per_sec": 40.0, "requests_per_sec": 5.0},
                "resources": {"accelerator": [{"power": stat("Watts", 300.0)}, {"power": stat("Watts", 500.0)}]},
                "metadata": {"host_groups": [
                    {"engine": {"batch_size": stat("count", 3.0)}},
                    {"engine": {"batch_size": stat("count", 4.0)}}],
                    "failures_by_class": {}}
            }
        }))
        .unwrap();
        let requests = [RequestInterval {
            interval: 0,
            ok: 5,
            input_tokens: 40,
            output_tokens: 20,
            latency: [Some([0.012, 0.012, 0.012, 0.012]), None, None, None, None],
        }];
        let resources = vec![
            vec![ResourceInterval {
                interval: 0,
                power_w: Some(300.0),
                ..Default::default()
            }],
            vec![],
        ];
        let r = build_v021(&V021Input {
            v01: &v01,
            run_id: "r1",
            stage: 0,
            stage_start_unix_s: 1_764_612_042.0,
            interval_s: 1.0,
            requests: &requests,
            resources: &resources,
            coordinator_host: None,
        });
        let v = serde_json::to_value(&r).unwrap();
        if let Err(e) = crate::check_v0_2_1(&v) {
            panic!("{e:?}\n{v:#}");
        }
        assert_eq!(v["scenario"]["stack"][0]["standardized"]["role"], "prefill");
        assert_eq!(v["scenario"]["stack"][1]["standardized"]["role"], "decode");
        assert_eq!(
            v["scenario"]["stack"][0]["standardized"]["accelerator"]["parallelism"]["tp"],
            2
        );
        assert_eq!(
            v["scenario"]["stack"][0]["native"]["args"]["max_model_len"],
            4096
        );
        let comps = &v["results"]["observability"]["components"];
        assert_eq!(comps[1]["component_label"], "decode");
        assert_eq!(comps[1]["aggregate"]["power_consumption"]["mean"], 500.0);
        assert_eq!(comps[1]["aggregate"]["running_requests"]["mean"], 4.0);
        assert_eq!(
            comps[0]["time_series"]["power_consumption"]["series"][0]["ts"],
            "2025-12-01T18:00:43.000Z"
        );
        let agg = &v["results"]["request_performance"]["aggregate"];
        assert_eq!(agg["latency"]["time_to_first_token"]["units"], "s");
        assert_eq!(agg["latency"]["time_to_first_token"]["mean"], 0.012);
        assert_eq!(v["scenario"]["load"]["standardized"]["rate_qps"], 5.0);
        assert_eq!(v["scenario"]["load"]["standardized"]["parallelism"], 2);
        assert_eq!(v["results"]["component_health"][0]["failed_replicas"], 0);
        // Without goodput constraints no goodput figure (not 0).
        let client = &v["results"]["observability"]["fleetbench"];
        assert!(
            client.is_object() && client.get("goodput").is_none(),
            "{client}"
        );

        // With constraints: goodput under the open observability object, and still valid.
        let mut v01 = v01;
        let goodput = json!({"constraints_s": {"ttft": 0.2}, "good_requests": 8,
                             "requests_per_sec": 4.0, "tokens_per_sec": 16.0,
                             "share_of_requests": 0.8});
        v01.metrics
            .metadata
            .as_mut()
            .and_then(Value::as_object_mut)
            .unwrap()
            .insert("goodput".into(), goodput.clone());
        let r = build_v021(&V021Input {
            v01: &v01,
            run_id: "r1",
            stage: 0,
            stage_start_unix_s: 1_764_612_042.0,
            interval_s: 1.0,
            requests: &requests,
            resources: &resources,
            coordinator_host: None,
        });
        let v = serde_json::to_value(&r).unwrap();
        crate::check_v0_2_1(&v).unwrap();
        assert_eq!(
            v["results"]["observability"]["fleetbench"]["goodput"],
            goodput
        );
    }
}
