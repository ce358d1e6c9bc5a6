//! From a profile and the agents that joined to one [`ShardSpec`] per agent per stage
//! (docs/design.md, "Splitting a profile into shards").
//!
//! - constant arrivals: one global schedule (request j at j/rate); request j belongs to the shard
//!   at `stripe_cycle(weights)[j % Σw]`, so the shards' union is exactly the global schedule;
//! - Poisson arrivals at rate R: shard i runs an independent Poisson process at R·wᵢ/Σw with a
//!   seed derived from the run seed, the stage and the shard;
//! - trace replay: one global schedule (record j at its scaled timestamp), striped as constant;
//! - concurrency N: users split by largest remainder over the weights, and the stage's request
//!   count split by largest remainder over the users;
//! - multi-turn sessions (`data.type: multi_turn`): the load's arrivals (or closed-loop users)
//!   start whole sessions, so every round of a session runs on the agent that started it.

mod count;
mod schedule;
mod split;
mod stages;

pub use count::{stripe_share, PlannedCount};

pub use stages::{stage_defs, StageDef, Window};

pub use schedule::{
    constant_arrivals, gamma_arrivals, poisson_arrivals, trace_arrivals, Arrival, Ramp,
};
pub use split::{largest_remainder, stripe_cycle};

use crate::profile::{ApiType, LoadedProfile};
use crate::role::Role;
use crate::tokenize::splitmix64;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An agent as the planner sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub agent_id: String,
    pub role: Role,
    pub host_name: String,
}

/// The load of one whole stage, before splitting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StageLoad {
    /// Evenly spaced: request j at the time the (ramped) rate's integral reaches j; `rate` may be
    /// infinite (all `total` requests at once).
    Constant {
        #[serde(with = "rate_or_inf")]
        rate: f64,
        ramp_to: Option<f64>,
        duration_s: Option<f64>,
        total: u64,
    },
    Poisson {
        rate: f64,
        ramp_to: Option<f64>,
        duration_s: f64,
        max_requests: Option<u64>,
    },
    Gamma {
        rate: f64,
        burstiness: f64,
        duration_s: f64,
        max_requests: Option<u64>,
    },
    Concurrent {
        users: u32,
        num_requests: Option<u64>,
        duration_s: Option<f64>,
    },
    /// The data's trace replayed in order: record j at (timestamp_j − timestamp_0) · time_scale,
    /// the first `total` records (those before `duration_s`, at most the stage's num_requests).
    Trace {
        time_scale: f64,
        duration_s: Option<f64>,
        total: u64,
    },
}

impl StageLoad {
    /// The requests this stage will send, where the plan fixes it.
    pub fn planned_requests(&self) -> Option<u64> {
        match *self {
            StageLoad::Constant { total, .. } | StageLoad::Trace { total, .. } => Some(total),
            StageLoad::Poisson { .. } | StageLoad::Gamma { .. } => None,
            StageLoad::Concurrent {
                num_requests,
                duration_s,
                ..
            } => {
                if duration_s.is_none() {
                    num_requests
                } else {
                    None
                }
            }
        }
    }

    /// The stage's label in test names: `qps_04`, `qps_0.5`, `qps_inf`, `qps_1-10`, `c16`.
    pub fn label(&self) -> String {
        let q = |r: f64| {
            if r.is_infinite() {
                "inf".to_string()
            } else if r.fract() == 0.0 && r < 100.0 {
                format!("{:02}", r as u64)
            } else {
                format!("{r}")
            }
        };
        match *self {
            StageLoad::Constant { rate, ramp_to, .. }
            | StageLoad::Poisson { rate, ramp_to, .. } => match ramp_to {
                Some(to) => format!("qps_{}-{}", q(rate), q(to)),
                None => format!("qps_{}", q(rate)),
            },
            StageLoad::Gamma { rate, .. } => format!("qps_{}", q(rate)),
            StageLoad::Concurrent { users, .. } => format!("c{users}"),
            StageLoad::Trace {
                time_scale: 1.0, ..
            } => "trace".to_string(),
            StageLoad::Trace { time_scale, .. } => format!("trace_x{time_scale}"),
        }
    }

    pub fn kind_name(&self) -> &'static str {
        match self {
            StageLoad::Constant { .. } => "constant",
            StageLoad::Poisson { .. } => "poisson",
            StageLoad::Gamma { .. } => "gamma",
            StageLoad::Concurrent { .. } => "concurrency",
            StageLoad::Trace { .. } => "trace",
        }
    }
}

/// A rate on the wire and in reports: a number, or the string `inf` (JSON has no infinity).
mod rate_or_inf {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(rate: &f64, s: S) -> Result<S::Ok, S::Error> {
        if rate.is_infinite() {
            s.serialize_str("inf")
        } else {
            s.serialize_f64(*rate)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        crate::profile::Rate::deserialize(d).map(|r| r.0)
    }
}

/// Requests of a constant stage of `duration_s` whose rate ramps from `rate` to `ramp_to`: every
/// j ≥ 0 whose time is before the end, i.e. j < ∫rate.
pub fn constant_count(rate: f64, ramp_to: Option<f64>, duration_s: f64) -> u64 {
    let integral = duration_s * (rate + ramp_to.unwrap_or(rate)) / 2.0;
    (integral - 1e-9).ceil().max(0.0) as u64
}

/// Where and how to send requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointSpec {
    pub base_url: String,
    pub model: String,
    pub api: ApiType,
    pub streaming: bool,
    pub ignore_eos: bool,
    pub api_key: Option<String>,
    pub headers: BTreeMap<String, String>,
    /// `api.response_format`: the body's `response_format`, as given (structured output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<serde_json::Value>,
    /// `api.http_version`.
    #[serde(default)]
    pub http_version: crate::profile::HttpVersion,
    /// `server.cert_path`/`key_path`: the client certificate for mutual TLS, files on each
    /// agent's host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<crate::profile::ClientCert>,
    /// `api.session_id_header_key`: the header that carries a session's id on every request of
    /// a multi-turn session (see [`crate::data::DataSource::session_of`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id_header: Option<String>,
    /// `load.request_retries`: more attempts for a request whose attempt failed before any
    /// response, each after `retry_backoff_s` · 2^k with jitter (k = 0, 1, ...).
    #[serde(default)]
    pub request_retries: u32,
    #[serde(default)]
    pub retry_backoff_s: f64,
    /// `api.session_token_header_key`: the response header carrying a server-assigned session
    /// token, sent back on the session's later requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token_header: Option<String>,
}

pub use crate::data::{DataSpec, LengthDist, LengthSpec};

/// One shard's part of a stage's load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ShardLoad {
    /// Request j of the global constant schedule (`0..total`) belongs to this shard when
    /// `stripe_cycle(weights)[j % Σw] == shard`.
    Constant {
        #[serde(with = "rate_or_inf")]
        rate: f64,
        ramp_to: Option<f64>,
        duration_s: Option<f64>,
        total: u64,
        weights: Vec<u32>,
    },
    /// An independent Poisson process at this shard's share of the rate (ramped when
    /// `ramp_to`), at most `max_requests`.
    Poisson {
        rate: f64,
        ramp_to: Option<f64>,
        duration_s: f64,
        max_requests: Option<u64>,
    },
    /// Gamma-distributed gaps (shape `burstiness`) at this shard's share of the rate.
    Gamma {
        rate: f64,
        burstiness: f64,
        duration_s: f64,
        max_requests: Option<u64>,
    },
    /// `users` closed-loop users sharing `num_requests` (if bounded) until `duration_s` (if
    /// bounded). They are users `first_user..first_user + users` of the stage's `total_users`
    /// (multi-turn: user g runs sessions g, g + total_users, ...).
    Concurrent {
        users: u32,
        num_requests: Option<u64>,
        duration_s: Option<f64>,
        #[serde(default)]
        first_user: u32,
        #[serde(default)]
        total_users: u32,
    },
    /// Record j of the data's trace (`0..total`) at its scaled timestamp, when
    /// `stripe_cycle(weights)[j % Σw] == shard` (as constant).
    Trace {
        time_scale: f64,
        total: u64,
        weights: Vec<u32>,
    },
    /// A telemetry-only shard: no load.
    Idle,
}

impl ShardLoad {
    /// Seconds after the stage start at which the load stops sending, where it has such an end.
    pub fn duration_s(&self) -> Option<f64> {
        match *self {
            ShardLoad::Constant { duration_s, .. } | ShardLoad::Concurrent { duration_s, .. } => {
                duration_s
            }
            ShardLoad::Poisson { duration_s, .. } | ShardLoad::Gamma { duration_s, .. } => {
                Some(duration_s)
            }
            ShardLoad::Trace { .. } | ShardLoad::Idle => None,
        }
    }
}

/// Everything an agent needs to run its shard of one stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardSpec {
    pub run_id: String,
    pub stage: u32,
    pub stage_label: String,
    pub shard: u32,
    pub shards: u32,
    pub endpoint: EndpointSpec,
    pub data: DataSpec,
    pub load: ShardLoad,
    /// The stage's measured window (requests intended in it are measured).
    pub window: Window,
    pub snapshot_interval_ms: u64,
    pub request_timeout_ms: u64,
    pub grace_period_ms: u64,
    /// Seed of the stage; request data derives from it and the request's global index.
    pub seed: u64,
    /// Send one record per request with the snapshots (`requests.jsonl`).
    #[serde(default)]
    pub per_request: bool,
    /// What a user waits after an answer before its next request (closed loop, session rounds).
    #[serde(default)]
    pub think_time_ms: u64,
    /// The profile's `telemetry` section (empty: the agent's own settings).
    #[serde(default)]
    pub telemetry: crate::profile::TelemetrySection,
    /// Engine `/metrics` endpoints this agent scrapes for its host group (`fleet.hosts[]
    /// .engine_metrics`), besides its own `--engine-metrics`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub engine_metrics: Vec<String>,
    /// `load.first_byte_timeout` and `load.idle_timeout` (None: the agent's defaults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_byte_timeout_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout_ms: Option<u64>,
    /// `load.warmup_connections`: connections to open just before the stage (0: none).
    #[serde(default)]
    pub warmup_connections: u32,
    /// `report.goodput.constraints`: the agent counts the requests that meet them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goodput: Option<crate::measure::goodput::GoodputSlo>,
    /// The circuit breakers `load.circuit_breakers` enables: the agent watches its own requests
    /// with them and stops the shard when one trips.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub circuit_breakers: Vec<crate::profile::CircuitBreakerConfig>,
}

impl ShardSpec {
    /// Rounds of each session when the load starts multi-turn sessions rather than requests.
    pub fn session_rounds(&self) -> Option<u32> {
        self.data.source.session_rounds()
    }

    /// The seed of this shard's own random streams (Poisson arrivals).
    pub fn shard_seed(&self) -> u64 {
        splitmix64(self.seed ^ (u64::from(self.shard) << 32 | 0x5EED))
    }
}

/// The whole plan of a run: the stages, and per stage one shard per member (same order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunPlan {
    pub run_id: String,
    pub profile_name: String,
    pub seed: u64,
    pub members: Vec<Member>,
    pub weights: Vec<u32>,
    pub stages: Vec<StagePlan>,
    /// `load.interval`: seconds between one stage's end and the next one's start (default 1,
    /// inference-perf's).
    #[serde(default)]
    pub stage_interval_s: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StagePlan {
    pub index: u32,
    pub label: String,
    pub load: StageLoad,
    pub window: Window,
    pub shards: Vec<ShardSpec>,
}

impl StagePlan {
    /// The requests this stage will send, where the plan fixes it: the load's count, times the
    /// rounds of each session when it starts multi-turn sessions that no stage end can cut.
    pub fn planned_requests(&self) -> Option<u64> {
        let n = self.load.planned_requests()?;
        match self.shards.first().and_then(|s| s.session_rounds()) {
            None => Some(n),
            Some(rounds) => match self.load {
                StageLoad::Constant {
                    duration_s: None, ..
                } => Some(n * u64::from(rounds)),
                // Closed loop by count counts requests (rounds) already; a duration may cut
                // sessions short.
                StageLoad::Concurrent {
                    duration_s: None, ..
                } => Some(n),
                _ => None,
            },
        }
    }
}

/// The load weight of an agent: its name's weight, else its role's, else 1.
pub fn weight_of(weights: &BTreeMap<String, u32>, member: &Member) -> u32 {
    weights
        .get(&member.agent_id)
        .or_else(|| weights.get(member.role.as_str()))
        .copied()
        .unwrap_or(1)
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Profile(#[from] crate::profile::ProfileError),
    #[error("no agents to plan for")]
    NoAgents,
    #[error("every agent has load weight 0 (fleet.weights): nobody would send requests")]
    NoLoad,
    #[error("{file}: {message}")]
    Trace { file: String, message: String },
}

/// Where and how every shard sends its requests: the profile's `server` and `api` sections.
fn endpoint_spec(p: &crate::profile::Profile) -> EndpointSpec {
    EndpointSpec {
        base_url: p.server.base_url.trim_end_matches('/').to_string(),
        model: p
            .server
            .model_name
            .clone()
            .unwrap_or_else(|| "default".to_string()),
        api: p.api.kind,
        streaming: p.api.streaming,
        ignore_eos: p.server.ignore_eos,
        api_key: p.server.api_key.clone().filter(|k| !k.is_empty()),
        headers: p.api.headers.clone(),
        response_format: p.api.response_format.as_ref().map(|r| r.to_api_format()),
        http_version: p.api.http_version,
        // Validated when the profile was loaded.
        client_cert: crate::profile::client_cert(p, std::path::Path::new("profile"))
            .ok()
            .flatten(),
        session_id_header: p.api.session_id_header_key.clone(),
        request_retries: p.load.request_retries.unwrap_or(0),
        retry_backoff_s: p
            .load
            .request_retry_backoff_sec
            .unwrap_or(crate::profile::DEFAULT_RETRY_BACKOFF_S),
        session_token_header: p.api.session_token_header_key.clone(),
    }
}

/// The goodput objectives of `report.goodput`, with the TTFT and TPOT objectives of the SLO
/// headers (`api.slo_*`) taking their place, as inference-perf's goodput takes a request's
/// header SLO first; none when nothing is set. Validated with the profile: a bad constraint or
/// header never gets here.
fn goodput_slo(p: &crate::profile::Profile) -> Option<crate::measure::goodput::GoodputSlo> {
    let mut slo = (p.report.as_ref())
        .and_then(|r| r.goodput.as_ref())
        .and_then(|g| crate::measure::goodput::GoodputSlo::from_constraints(&g.constraints).ok())
        .unwrap_or_default();
    let headers = p.api.header_slos().unwrap_or_default();
    let us = |s: f64| (s * 1e6).round() as u64;
    slo.ttft_us = headers.ttft_s.map(us).or(slo.ttft_us);
    slo.tpot_us = headers.tpot_s.map(us).or(slo.tpot_us);
    Some(slo).filter(|g| *g != Default::default())
}

/// The `circuit_breakers` entries `load.circuit_breakers` names, in that order (validated: each
/// name is defined).
fn enabled_breakers(p: &crate::profile::Profile) -> Vec<crate::profile::CircuitBreakerConfig> {
    let defined = p.circuit_breakers.as_deref().unwrap_or_default();
    (p.load.circuit_breakers.iter().flatten())
        .filter_map(|name| defined.iter().find(|b| &b.name == name).cloned())
        .collect()
}

/// Splits a validated profile over `members` (ordered; shard i is member i).
pub fn plan_run(
    loaded: &LoadedProfile,
    members: &[Member],
    run_id: &str,
    seed: u64,
) -> Result<RunPlan, PlanError> {
    if members.is_empty() {
        return Err(PlanError::NoAgents);
    }
    let p = &loaded.profile;
    let weights: Vec<u32> = members
        .iter()
        .map(|m| weight_of(&p.fleet.weights, m))
        .collect();
    if weights.iter().all(|&w| w == 0) {
        return Err(PlanError::NoLoad);
    }
    let endpoint = endpoint_spec(p);
    let data = crate::data::plan_data(loaded, seed);
    let per_request = (p.report.as_ref())
        .and_then(|r| r.request_lifecycle.as_ref())
        .and_then(|l| l.per_request)
        .unwrap_or(false);
    let total_weight: u64 = weights.iter().map(|&w| w as u64).sum();
    let snapshot_interval_ms = (p.fleet.snapshot_interval.unwrap_or(1.0) * 1000.0).round() as u64;
    let request_timeout_ms = (p.load.request_timeout.unwrap_or(600.0) * 1000.0).round() as u64;
    let grace_period_ms = (p.load.grace_period.unwrap_or(30.0) * 1000.0).round() as u64;
    let think_time_ms = (p.load.think_time.unwrap_or(0.0) * 1000.0).round() as u64;
    let ms = |s: Option<f64>| s.map(|s| (s * 1000.0).round() as u64);
    let (first_byte_timeout_ms, idle_timeout_ms) =
        (ms(p.load.first_byte_timeout), ms(p.load.idle_timeout));
    let warmup_connections = p.load.warmup_connections.unwrap_or(0);
    let goodput = goodput_slo(p);
    let circuit_breakers = enabled_breakers(p);

    let scrapes = engine_scrapes(p, members);
    let defs = stage_defs(p, std::path::Path::new(&loaded.name))?;
    let mut stages = Vec::with_capacity(defs.len());
    for (index, StageDef { mut load, window }) in defs.into_iter().enumerate() {
        if let StageLoad::Trace { .. } = load {
            let full_len = loaded.dataset.as_ref().map_or(0, |d| d.len());
            fit_trace(
                &mut load,
                &data.source,
                full_len,
                index,
                p.load
                    .trace
                    .as_ref()
                    .map(|t| t.file.as_str())
                    .or(p.data.path.as_deref()),
            )?;
        }
        let stage_seed = splitmix64(seed ^ ((index as u64) << 48));
        let label = load.label();
        let split = split_stage(&load, &weights, total_weight);
        check_agent_share(loaded, index, &split, members)?;
        let shards = split
            .into_iter()
            .enumerate()
            .map(|(shard, shard_load)| ShardSpec {
                run_id: run_id.to_string(),
                stage: index as u32,
                stage_label: label.clone(),
                shard: shard as u32,
                shards: members.len() as u32,
                endpoint: endpoint.clone(),
                data: data.clone(),
                load: shard_load,
                window,
                snapshot_interval_ms,
                request_timeout_ms,
                grace_period_ms,
                per_request,
                think_time_ms,
                telemetry: p.telemetry.unwrap_or_default(),
                engine_metrics: scrapes[shard].clone(),
                first_byte_timeout_ms,
                idle_timeout_ms,
                warmup_connections,
                goodput,
                circuit_breakers: circuit_breakers.clone(),
                seed: stage_seed,
            })
            .collect();
        stages.push(StagePlan {
            index: index as u32,
            label,
            load,
            window,
            shards,
        });
    }
    Ok(RunPlan {
        run_id: run_id.to_string(),
        profile_name: loaded.name.clone(),
        seed,
        members: members.to_vec(),
        weights,
        stages,
        stage_interval_s: p
            .load
            .interval
            .unwrap_or(crate::profile::DEFAULT_STAGE_INTERVAL_S),
    })
}

/// What one agent is asked to carry in a stage: its share of the rate at most
/// [`MAX_AGENT_RATE`](crate::profile::limits::MAX_AGENT_RATE) requests/s, its users at most
/// [`MAX_AGENT_USERS`](crate::profile::limits::MAX_AGENT_USERS).
fn check_agent_share(
    loaded: &LoadedProfile,
    stage: usize,
    split: &[ShardLoad],
    members: &[Member],
) -> Result<(), PlanError> {
    use crate::profile::limits::{above, MAX_AGENT_RATE, MAX_AGENT_USERS};
    let l = &loaded.profile.load;
    let key = |field: &str, shorthand: bool| {
        if shorthand {
            format!("load.{field}")
        } else {
            format!("load.stages.{stage}.{field}")
        }
    };
    let invalid = |key: String, message: String| {
        PlanError::Profile(crate::profile::ProfileError::Invalid {
            file: std::path::PathBuf::from(&loaded.name),
            key,
            message,
        })
    };
    for (i, (load, m)) in split.iter().zip(members).enumerate() {
        let rate = match *load {
            ShardLoad::Constant {
                rate,
                ramp_to,
                ref weights,
                ..
            } => {
                let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
                let w = weights.get(i).copied().unwrap_or(0);
                rate.max(ramp_to.unwrap_or(0.0)) * f64::from(w) / total.max(1) as f64
            }
            ShardLoad::Poisson { rate, ramp_to, .. } => rate.max(ramp_to.unwrap_or(0.0)),
            ShardLoad::Gamma { rate, .. } => rate,
            ShardLoad::Concurrent { users, .. } => {
                if u64::from(users) > MAX_AGENT_USERS {
                    return Err(invalid(
                        key("concurrency_level", l.concurrencies.is_some()),
                        format!(
                            "{users} users on agent `{}`: {}; add agents or lower the concurrency",
                            m.agent_id,
                            above(users, MAX_AGENT_USERS, "users per agent (one connection each; a host's ephemeral ports towards one address)")
                        ),
                    ));
                }
                continue;
            }
            ShardLoad::Trace { .. } | ShardLoad::Idle => continue,
        };
        if rate.is_finite() && rate > MAX_AGENT_RATE {
            return Err(invalid(
                key("rate", l.rates.is_some()),
                format!(
                    "{}; add agents or lower the rate",
                    above(
                        format!("{rate:.0} requests/s asked of agent `{}`", m.agent_id),
                        MAX_AGENT_RATE,
                        "requests/s per agent (about 9,000 per core)"
                    )
                ),
            ));
        }
    }
    Ok(())
}

/// Per member, the `fleet.hosts[].engine_metrics` it scrapes: each host group's endpoints go to
/// the group's first agent only, so every engine is sampled once.
fn engine_scrapes(p: &crate::profile::Profile, members: &[Member]) -> Vec<Vec<String>> {
    let mut out = vec![Vec::new(); members.len()];
    let hosts = p.fleet.hosts.as_deref().unwrap_or_default();
    let infos: Vec<crate::report::AgentInfo> = members
        .iter()
        .map(|m| crate::report::AgentInfo {
            agent_id: m.agent_id.clone(),
            role: m.role,
            host_name: m.host_name.clone(),
            devices: Vec::new(),
        })
        .collect();
    for g in crate::report::host_groups(&infos) {
        let Some(first) = g.agents.first() else {
            continue;
        };
        let Some(i) = members.iter().position(|m| m.agent_id == first.agent_id) else {
            continue;
        };
        for h in hosts
            .iter()
            .filter(|h| h.role.as_deref().is_none_or(|r| r == g.kind))
        {
            out[i].extend(h.engine_metrics.iter().flatten().cloned());
        }
    }
    // `metrics.prometheus`: one agent reads the engines' series from the Prometheus server.
    let prom = p.metrics.as_ref().and_then(|m| m.prometheus.as_ref());
    if let (Some(prom), Some(first)) = (prom, out.first_mut()) {
        if let Some(url) = &prom.url {
            first.push(crate::profile::federate_url(url, &prom.filters));
        }
    }
    out
}

/// Cuts a trace stage to the records the plan carries: those whose scaled time is before the
/// stage's duration, at most its request count; the trace must be in time order.
fn fit_trace(
    load: &mut StageLoad,
    source: &crate::data::DataSource,
    full_len: usize,
    stage: usize,
    path: Option<&str>,
) -> Result<(), PlanError> {
    let StageLoad::Trace {
        time_scale,
        duration_s,
        total,
    } = load
    else {
        return Ok(());
    };
    let file = path.unwrap_or("data.path").to_string();
    let crate::data::DataSource::Trace { records } = source else {
        return Err(PlanError::Trace {
            file,
            message: "load type trace_replay replays the timestamps of load.trace or of data type mooncake_trace".into(),
        });
    };
    if let Some(i) = records
        .windows(2)
        .position(|w| w[1].timestamp_ms < w[0].timestamp_ms)
    {
        return Err(PlanError::Trace {
            file,
            message: format!(
                "record {} (timestamp {} ms) is earlier than the record before it ({} ms): load type trace replays a trace in time order",
                i + 2,
                records[i + 1].timestamp_ms,
                records[i].timestamp_ms
            ),
        });
    }
    let in_time = schedule::trace_times(records, *time_scale)
        .take_while(|&t| duration_s.is_none_or(|d| t < d))
        .count() as u64;
    if *total > in_time && in_time == records.len() as u64 && full_len > records.len() {
        return Err(PlanError::Trace {
            file,
            message: format!(
                "stage {stage} would replay more than the {} records a run carries: give the stage a duration or num_requests",
                crate::data::MAX_TRACE_RECORDS
            ),
        });
    }
    *total = (*total).min(in_time);
    Ok(())
}

fn split_stage(load: &StageLoad, weights: &[u32], total_weight: u64) -> Vec<ShardLoad> {
    let w: Vec<u64> = weights.iter().map(|&w| w as u64).collect();
    // Closed loop: users by weight, then requests by users; open loop: request caps by weight.
    let users = match *load {
        StageLoad::Concurrent { users, .. } => Some(largest_remainder(users as u64, &w)),
        _ => None,
    };
    let caps = match (load, &users) {
        (StageLoad::Concurrent { num_requests, .. }, Some(u)) => {
            num_requests.map(|n| largest_remainder(n, u))
        }
        (StageLoad::Poisson { max_requests, .. } | StageLoad::Gamma { max_requests, .. }, _) => {
            max_requests.map(|n| largest_remainder(n, &w))
        }
        _ => None,
    };
    let users_before: Vec<u64> = users
        .as_ref()
        .map(|u| {
            u.iter()
                .scan(0u64, |acc, &n| {
                    let before = *acc;
                    *acc += n;
                    Some(before)
                })
                .collect()
        })
        .unwrap_or_else(|| vec![0; weights.len()]);
    (0..weights.len())
        .map(|i| {
            let share = |r: f64| r * weights[i] as f64 / total_weight as f64;
            let cap = caps.as_ref().map(|c| c[i]);
            let mine = users.as_ref().map_or(weights[i] as u64, |u| u[i]);
            if mine == 0 {
                return ShardLoad::Idle;
            }
            match *load {
                StageLoad::Constant {
                    rate,
                    ramp_to,
                    duration_s,
                    total,
                } => ShardLoad::Constant {
                    rate,
                    ramp_to,
                    duration_s,
                    total,
                    weights: weights.to_vec(),
                },
                StageLoad::Poisson {
                    rate,
                    ramp_to,
                    duration_s,
                    ..
                } => ShardLoad::Poisson {
                    rate: share(rate),
                    ramp_to: ramp_to.map(share),
                    duration_s,
                    max_requests: cap,
                },
                StageLoad::Gamma {
                    rate,
                    burstiness,
                    duration_s,
                    ..
                } => ShardLoad::Gamma {
                    rate: share(rate),
                    burstiness,
                    duration_s,
                    max_requests: cap,
                },
                StageLoad::Concurrent {
                    duration_s, users, ..
                } => ShardLoad::Concurrent {
                    users: mine as u32,
                    num_requests: cap,
                    duration_s,
                    first_user: users_before[i] as u32,
                    total_users: users,
                },
                StageLoad::Trace {
                    time_scale, total, ..
                } => ShardLoad::Trace {
                    time_scale,
                    total,
                    weights: weights.to_vec(),
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
