//! Builds one stage's BenchmarkRun from the merged measurements, the plan and the fleet.

use super::benchmark_run::*;
use super::telemetry::{self, AgentTelemetry};
use fleetbench_model::hosts::{host_groups, AgentInfo, DeviceInfo, HostGroup};
use fleetbench_model::measure::{Measurements, Metric};
use fleetbench_model::spec::{RunPlan, StageLoad, StagePlan};
use fleetbench_profile::{EngineSpec, HostSpec, LoadedProfile, ParallelismSpec};
use serde_json::{json, Map, Value};

/// What the endpoint said about itself (from `/v1/models`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EndpointFacts {
    /// `owned_by` of the served model.
    pub owned_by: String,
}

impl EndpointFacts {
    /// The fleetbench simulator answers `owned_by: fleetbench-sim`.
    pub fn is_sim(&self) -> bool {
        self.owned_by == "fleetbench-sim"
    }
}

/// Everything a stage report is made of.
pub struct StageInput<'a> {
    /// The run's profile.
    pub profile: &'a LoadedProfile,
    /// The run's plan.
    pub plan: &'a RunPlan,
    /// The stage's plan.
    pub stage: &'a StagePlan,
    /// The joined agents.
    pub agents: &'a [AgentInfo],
    /// The stage's merged measurements.
    pub merged: &'a Measurements,
    /// Length of the measured window, seconds.
    pub duration_s: f64,
    /// When the measured window began, Unix seconds.
    pub start_unix_s: f64,
    /// When it ended, Unix seconds.
    pub stop_unix_s: f64,
    /// What the endpoint said about itself.
    pub endpoint: &'a EndpointFacts,
    /// Per-agent client figures and anything else for `metrics.metadata`.
    pub extra_metadata: Map<String, Value>,
    /// Each agent's telemetry samples inside the stage window.
    pub telemetry: &'a [AgentTelemetry],
    /// The profile as given (`profile.yaml` parsed), for `scenario.load.args`; `None` writes
    /// the parsed profile instead.
    pub profile_as_given: Option<&'a Value>,
}

/// The generator name reports carry.
pub(crate) const GENERATOR: &str = "fleetbench";

/// A stage's BenchmarkRun 0.1 report from its merged measurements.
pub fn build_stage_report(i: &StageInput<'_>) -> BenchmarkRun {
    let groups = host_groups(i.agents);
    let m = i.merged;
    let c = &m.counters;
    let duration = if i.duration_s > 0.0 {
        i.duration_s
    } else {
        0.0
    };
    let per_s = |v: u64| per_second(v, duration);
    let empty = c.ok == 0;
    // A non-streamed response arrives in one piece: its first token is its last, so TTFT is the
    // full response time and TPOT and ITL are 0, as inference-perf (llm-d's converters) have it.
    let one_piece =
        !i.profile.profile.api.streaming && m.histogram(Metric::Ttft).is_empty() && !empty;
    let resources = Resources {
        accelerator: groups
            .iter()
            .map(|g| telemetry::accelerator_metrics(g, i.telemetry))
            .collect(),
    };
    let metrics_meta = metrics_metadata(i, &groups, duration, one_piece);
    BenchmarkRun {
        version: "0.1".into(),
        scenario: scenario(i, &groups),
        metrics: Metrics {
            time: Time {
                duration: round3(duration),
                start: Some(round3(i.start_unix_s)),
                stop: Some(round3(i.stop_unix_s)),
            },
            requests: Requests {
                total: c.requests,
                failures: Some(c.failed()),
                incomplete: Some(c.incomplete),
                input_length: Statistics::from_counts(
                    m.histogram(Metric::InputTokens),
                    c.input_tokens,
                ),
                output_length: Statistics::from_counts(
                    m.histogram(Metric::OutputTokens),
                    c.output_tokens,
                ),
            },
            latency: latency(m, one_piece),
            throughput: Throughput {
                input_tokens_per_sec: Some(per_s(c.input_tokens)),
                output_tokens_per_sec: Some(per_s(c.output_tokens)),
                total_tokens_per_sec: per_s(c.input_tokens + c.output_tokens),
                requests_per_sec: Some(per_s(c.ok)),
            },
            service: telemetry::service(i.telemetry),
            resources: Some(resources),
            description: None,
            metadata: Some(Value::Object(metrics_meta)),
        },
        metadata: None,
    }
}

/// `v` per second of a `duration_s` window (0 for an empty window), to 3 decimals.
fn per_second(v: u64, duration_s: f64) -> f64 {
    if duration_s > 0.0 {
        round3(v as f64 / duration_s)
    } else {
        0.0
    }
}

/// The report's `scenario`: host groups and their accelerators, engines, model, the load as
/// given and as planned, the run's agents.
fn scenario(i: &StageInput<'_>, groups: &[HostGroup]) -> Scenario {
    let stage_plan = stage_plan_args(i.profile, i.stage);
    let as_given = match i.profile_as_given {
        Some(v) => v.clone(),
        None => serde_json::to_value(&i.profile.profile).unwrap_or(Value::Null),
    };
    let load_args = harness_config(&as_given, i.plan);

    let agents_meta: Vec<Value> = i
        .plan
        .members
        .iter()
        .zip(&i.plan.weights)
        .enumerate()
        .map(|(shard, (mem, w))| {
            json!({"id": mem.agent_id, "role": mem.role.as_str(), "host": mem.host_name,
                   "shard": shard, "weight": w})
        })
        .collect();
    Scenario {
        description: i.profile.profile.description.clone(),
        host: Host {
            kind: groups.iter().map(|g| g.kind.to_string()).collect(),
            accelerator: accelerators(i, groups),
            metadata: Some(json!({"groups": groups.iter().map(|g| json!({
                "type": g.kind,
                "agents": g.agents.iter().map(|a| json!({"id": a.agent_id, "host": a.host_name})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>()})),
        },
        platform: Platform {
            engine: engines(i, groups),
            metadata: None,
        },
        model: Model {
            name: i
                .stage
                .shards
                .first()
                .map(|s| s.endpoint.model.clone())
                .unwrap_or_default(),
            quantization: None,
            adapters: None,
            metadata: None,
        },
        load: Load {
            name: "inference-perf".into(),
            kind: Some(i.stage.load.kind_name().into()),
            args: Some(load_args),
            metadata: Some(json!({
                "generator": {"name": GENERATOR, "version": env!("CARGO_PKG_VERSION")},
                "profile": i.profile.name,
                "stage": i.stage.index,
                "stage_label": i.stage.label,
                "plan": stage_plan,
            })),
        },
        metadata: Some(json!({
            "run_id": i.plan.run_id,
            "seed": i.plan.seed,
            "agents": agents_meta,
        })),
    }
}

/// Each host group's accelerator, with its parallelism (1 where the profile is silent).
fn accelerators(i: &StageInput<'_>, groups: &[HostGroup]) -> Vec<Accelerator> {
    groups
        .iter()
        .map(|g| Accelerator {
            // Always filled (1 where the profile is silent): llm-d's explorer reads it.
            parallelism: Some(parallelism(
                host_spec(i.profile, g.kind)
                    .and_then(|h| h.parallelism)
                    .unwrap_or_default(),
            )),
            ..group_accelerator(g, i.endpoint)
        })
        .collect()
}

/// Each host group's engine: the sim, else the profile's engine name or server type.
fn engines(i: &StageInput<'_>, groups: &[HostGroup]) -> Vec<Engine> {
    groups
        .iter()
        .map(|g| {
            let spec = host_spec(i.profile, g.kind).and_then(|h| h.engine.as_ref());
            Engine {
                name: if i.endpoint.is_sim() {
                    "fleetbench-sim".into()
                } else {
                    spec.and_then(|e| e.name.clone())
                        .unwrap_or_else(|| i.profile.profile.server.kind.clone())
                },
                version: spec.and_then(|e| e.version.clone()),
                args: spec.map(engine_args).unwrap_or_default(),
                metadata: None,
            }
        })
        .collect()
}

/// The latency statistics (for a response that came in one piece: TTFT is its full time, TPOT
/// and ITL are 0).
fn latency(m: &Measurements, one_piece: bool) -> Latency {
    let h = |metric| m.histogram(metric);
    Latency {
        time_to_first_token: Statistics::from_histogram_or_empty(
            h(if one_piece { Metric::E2e } else { Metric::Ttft }),
            "ms",
            1e-3,
        ),
        normalized_time_per_output_token: Statistics::from_histogram(
            h(Metric::Ntpot),
            "ms/token",
            1e-3,
        ),
        time_per_output_token: Statistics::from_histogram(h(Metric::Tpot), "ms/token", 1e-3)
            .or_else(|| one_piece.then(|| Statistics::zero("ms/token"))),
        inter_token_latency: Statistics::from_histogram(h(Metric::Itl), "ms/token", 1e-3)
            .or_else(|| one_piece.then(|| Statistics::zero("ms/token"))),
        request_latency: Statistics::from_histogram(h(Metric::E2e), "ms", 1e-3),
    }
}

/// `metrics.metadata`: the coordinator's own facts, then failure classes, send lag, token
/// sources, connections, the client's prefix-cache view, goodput, pools and host groups.
fn metrics_metadata(
    i: &StageInput<'_>,
    groups: &[HostGroup],
    duration: f64,
    one_piece: bool,
) -> Map<String, Value> {
    let c = &i.merged.counters;
    let h = |metric| i.merged.histogram(metric);
    let per_s = |v: u64| per_second(v, duration);
    let empty = c.ok == 0;
    let mut metrics_meta = i.extra_metadata.clone();
    metrics_meta.insert("failures_by_class".into(), json!(c.failures));
    if let Some(s) = Statistics::from_histogram(h(Metric::SendLag), "ms", 1e-3) {
        metrics_meta.insert("send_lag".into(), json!(s));
    }
    metrics_meta.insert(
        "output_token_source".into(),
        json!({"usage": c.tokens_from_usage, "chunks": c.tokens_from_chunks,
               "tokenizer": c.tokens_from_tokenizer}),
    );
    metrics_meta.insert("held_back".into(), json!(c.held_back));
    if c.sessions_ok + c.sessions_failed > 0 {
        // Trace replay (docs/metrics.md): sessions whose calls all ended ok, sessions with a
        // failed call, and the calls those did not send because a call they depend on failed;
        // the recorded messages sent for malformed live tool calls, when there were any.
        let mut sessions = json!({"ok": c.sessions_ok, "failed": c.sessions_failed,
                                  "calls_not_sent": c.calls_not_sent});
        if c.recorded_substitutions > 0 {
            sessions["recorded_substitutions"] = json!(c.recorded_substitutions);
        }
        metrics_meta.insert("sessions".into(), sessions);
    }
    if let Some(e) = i
        .stage
        .shards
        .first()
        .map(|s| &s.endpoint)
        .filter(|e| e.request_retries > 0)
    {
        // `load.request_retries` (docs/metrics.md): attempts sent again after no response.
        metrics_meta.insert(
            "request_retries".into(),
            json!({"limit": e.request_retries, "backoff_s": e.retry_backoff_s,
                   "retries": c.request_retries, "retried_requests": c.retried_requests,
                   "recovered": c.retries_recovered}),
        );
    }
    metrics_meta.insert(
        "connections".into(),
        json!({"opened": c.conn_opened, "reused": c.conn_reused, "retries": c.retries,
               "server_closed": c.conn_server_closed, "idle_closed": c.conn_idle_closed}),
    );
    // The prefix-cache hit rate as the client saw it (`usage.prompt_tokens_details
    // .cached_tokens`), beside the engine's own counters under `host_groups[].engine`.
    metrics_meta.insert(
        "client_prefix_cache".into(),
        json!({"requests_reporting": c.cache_reported, "cached_tokens": c.cached_tokens,
               "prompt_tokens": c.cache_prompt_tokens,
               "hit_rate": (c.cache_prompt_tokens > 0)
                   .then(|| c.cached_tokens as f64 / c.cache_prompt_tokens as f64)}),
    );
    metrics_meta.insert("outside_window".into(), json!(c.outside_window));
    if let Some(p) = super::payload::payload(i.merged, per_s) {
        metrics_meta.insert("payload".into(), json!(p));
    }
    if let Some(g) = i.stage.shards.first().and_then(|s| s.goodput) {
        // Goodput (docs/metrics.md): ok requests meeting every `report.goodput` limit.
        metrics_meta.insert(
            "goodput".into(),
            json!({"constraints_s": g.constraints_s(), "good_requests": c.good,
                   "requests_per_sec": per_s(c.good), "tokens_per_sec": per_s(c.good_tokens),
                   "share_of_requests": (c.requests > 0).then(|| c.good as f64 / c.requests as f64)}),
        );
    }
    if empty {
        metrics_meta.insert("empty".into(), json!(true));
    }
    if one_piece {
        metrics_meta.insert(
            "non_streaming".into(),
            json!("time_to_first_token is the full response time; TPOT and ITL are 0"),
        );
    }
    let client_ttft_ms = Statistics::from_histogram(h(Metric::Ttft), "ms", 1e-3).map(|s| s.mean);
    metrics_meta.insert(
        "pools".into(),
        json!(super::pools::breakdown(groups, i.telemetry, client_ttft_ms)),
    );
    metrics_meta.insert(
        "host_groups".into(),
        json!(groups
            .iter()
            .map(|g| telemetry::group_metadata(g, i.telemetry, c.output_tokens))
            .collect::<Vec<_>>()),
    );

    metrics_meta
}

/// The stage as fleetbench planned it (`scenario.load.metadata.plan`): its load, the API,
/// streaming, the data and the planned request count.
fn stage_plan_args(profile: &LoadedProfile, stage: &StagePlan) -> Map<String, Value> {
    let mut args = Map::new();
    if let Ok(Value::Object(o)) = serde_json::to_value(&stage.load) {
        args.extend(o);
    }
    args.insert("api".into(), json!(profile.profile.api.kind));
    args.insert("streaming".into(), json!(profile.profile.api.streaming));
    args.insert(
        "data".into(),
        data_args(stage.shards.first().map(|s| &s.data)),
    );
    if let Some(n) = stage.planned_requests() {
        args.insert("planned_requests".into(), json!(n));
    }
    args
}

/// A shard's data as the report names it: a trace replay's graphs carry every prompt of every
/// trace (megabytes for long agentic traces), so the report lists the traces with their calls
/// and counts the sessions instead.
fn data_args(data: Option<&fleetbench_model::data::DataSpec>) -> Value {
    let mut v = json!(data);
    if let Some(o) = (v.as_object_mut()).filter(|o| o.get("kind") == Some(&json!("replay"))) {
        if let Some(Value::Array(graphs)) = o.remove("graphs") {
            let traces: Vec<Value> = (graphs.iter())
                .map(|g| {
                    let calls = g["events"].as_array().map_or(0, Vec::len);
                    json!({"source": g["source"], "calls": calls})
                })
                .collect();
            o.insert("traces".into(), Value::Array(traces));
        }
        if let Some(Value::Array(slots)) = o.remove("slots") {
            o.insert("sessions".into(), json!(slots.len()));
        }
    }
    v
}

/// The harness configuration as llm-d's converters put it in `scenario.load.args`: the profile
/// as given, with `load.stages` listing every stage of the run (one entry per plan stage, so
/// that `load.stages[metadata.stage]` is this stage) where the profile used a shorthand
/// (`rates`, `concurrencies`) or a trace gave none.
pub(crate) fn harness_config(as_given: &Value, plan: &RunPlan) -> Map<String, Value> {
    let mut cfg = match as_given {
        Value::Object(o) => o.clone(),
        _ => Map::new(),
    };
    // Credentials stay out of reports: a key or header value given in the clear is redacted (a
    // `REPLACE_ENV_` placeholder is kept, it names the variable and holds no secret).
    let redact = |v: &mut Value| {
        if v.as_str().is_some_and(|s| !s.starts_with("REPLACE_ENV_")) {
            *v = json!(fleetbench_profile::REDACTED);
        }
    };
    if let Some(k) = cfg.get_mut("server").and_then(|s| s.get_mut("api_key")) {
        redact(k);
    }
    if let Some(Value::Object(h)) = cfg.get_mut("api").and_then(|a| a.get_mut("headers")) {
        h.values_mut().for_each(redact);
    }
    let load = cfg
        .entry("load")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(load) = load {
        let given = load.get("stages").and_then(Value::as_array).map(Vec::len);
        if given != Some(plan.stages.len()) {
            let stages: Vec<Value> = plan.stages.iter().map(|s| stage_entry(&s.load)).collect();
            load.insert("stages".into(), Value::Array(stages));
        }
    }
    cfg
}

/// One plan stage in inference-perf's `load.stages` form.
fn stage_entry(load: &StageLoad) -> Value {
    let mut e = Map::new();
    let mut put = |k: &str, v: Value| {
        if !v.is_null() {
            e.insert(k.into(), v);
        }
    };
    match *load {
        StageLoad::Constant {
            rate,
            duration_s,
            total,
            ..
        } => {
            if rate.is_finite() {
                put("rate", json!(rate));
            }
            put("duration", json!(duration_s));
            if duration_s.is_none() || !rate.is_finite() {
                put("num_requests", json!(total));
            }
        }
        StageLoad::Poisson {
            rate,
            duration_s,
            max_requests,
            ..
        }
        | StageLoad::Gamma {
            rate,
            duration_s,
            max_requests,
            ..
        } => {
            put("rate", json!(rate));
            put("duration", json!(duration_s));
            put("num_requests", json!(max_requests));
        }
        StageLoad::Concurrent {
            users,
            num_requests,
            duration_s,
        } => {
            put("concurrency_level", json!(users));
            put("num_requests", json!(num_requests));
            put("duration", json!(duration_s));
        }
        StageLoad::Trace {
            duration_s, total, ..
        } => {
            put("duration", json!(duration_s));
            put("num_requests", json!(total));
        }
        StageLoad::Sessions {
            concurrent,
            session_rate,
            sessions,
            timeout_s,
            ..
        } => {
            put("concurrent_sessions", json!(concurrent));
            put("session_rate", json!(session_rate));
            put("num_sessions", json!(sessions));
            put("timeout", json!(timeout_s));
        }
    }
    Value::Object(e)
}

/// The profile's `fleet.hosts` entry for a host group: the one with its role, else one without
/// a role (it describes every group).
fn host_spec<'a>(profile: &'a LoadedProfile, kind: &str) -> Option<&'a HostSpec> {
    let hosts = profile.profile.fleet.hosts.as_deref()?;
    hosts
        .iter()
        .find(|h| h.role.as_deref() == Some(kind))
        .or_else(|| hosts.iter().find(|h| h.role.is_none()))
}

fn parallelism(p: ParallelismSpec) -> Parallelism {
    Parallelism {
        dp: p.dp.unwrap_or(1),
        tp: p.tp.unwrap_or(1),
        pp: p.pp.unwrap_or(1),
        ep: p.ep.unwrap_or(1),
    }
}

fn engine_args(e: &EngineSpec) -> Map<String, Value> {
    e.args
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap_or(Value::Null)))
        .collect()
}

/// The group's devices as one accelerator entry: the most common model, the total count.
fn group_accelerator(g: &HostGroup, endpoint: &EndpointFacts) -> Accelerator {
    let devices: Vec<&DeviceInfo> = g.agents.iter().flat_map(|a| &a.devices).collect();
    if devices.is_empty() {
        return Accelerator {
            model: if endpoint.is_sim() {
                "sim".into()
            } else {
                "unknown".into()
            },
            memory: None,
            count: 0,
            parallelism: None,
            metadata: Some(
                json!({"note": "no accelerator inventory: NVML unavailable on this group's agents"}),
            ),
        };
    }
    let mut models: Vec<(&str, usize)> = Vec::new();
    for d in &devices {
        match models.iter_mut().find(|(m, _)| *m == d.model) {
            Some((_, n)) => *n += 1,
            None => models.push((&d.model, 1)),
        }
    }
    models.sort_by_key(|m| std::cmp::Reverse(m.1));
    let model = models[0].0.to_string();
    let memory_gb = devices
        .iter()
        .find(|d| d.model == model)
        .map(|d| round3(d.memory_bytes as f64 / 1e9));
    Accelerator {
        model,
        memory: memory_gb,
        count: devices.len() as u64,
        parallelism: None,
        metadata: (models.len() > 1).then(|| json!({"models": models.iter().map(|(m, n)| json!({"model": m, "count": n})).collect::<Vec<_>>()})),
    }
}

/// How the summary's GPU column names a run's accelerators: `4xH100 prefill + 4xH100 decode`,
/// `sim` when simulated.
pub(crate) fn gpu_label(report: &BenchmarkRun) -> String {
    let host = &report.scenario.host;
    if host.accelerator.iter().all(|a| a.count == 0) {
        return if host.accelerator.iter().any(|a| a.model == "sim") {
            "sim".into()
        } else {
            "none".into()
        };
    }
    host.accelerator
        .iter()
        .zip(&host.kind)
        .map(|(a, kind)| {
            let name = a.model.trim_start_matches("NVIDIA ");
            if kind == "replica" {
                format!("{}x{}", a.count, name)
            } else {
                format!("{}x{} {}", a.count, name, kind)
            }
        })
        .collect::<Vec<_>>()
        .join(" + ")
}

fn round3(v: f64) -> f64 {
    if v.is_finite() {
        (v * 1000.0).round() / 1000.0
    } else {
        0.0
    }
}
