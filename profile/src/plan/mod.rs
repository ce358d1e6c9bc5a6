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

pub(crate) mod stages;

use crate::load::LoadedProfile;
use fleetbench_model::breaker::CircuitBreakerConfig;
use fleetbench_model::data::{DataSource, MAX_TRACE_RECORDS};
use fleetbench_model::hosts::{host_groups, AgentInfo};
use fleetbench_model::measure::goodput::GoodputSlo;
use fleetbench_model::spec::{
    largest_remainder, EndpointSpec, Member, RunPlan, ShardLoad, ShardSpec, StageLoad, StagePlan,
};
use fleetbench_model::tokenize::splitmix64;
use stages::{stage_defs, StageDef};
use std::collections::BTreeMap;

/// The load weight of an agent: its name's weight, else its role's, else 1.
pub(crate) fn weight_of(weights: &BTreeMap<String, u32>, member: &Member) -> u32 {
    weights
        .get(&member.agent_id)
        .or_else(|| weights.get(member.role.as_str()))
        .copied()
        .unwrap_or(1)
}

/// Why a profile cannot be planned over the joined agents.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// A profile rule that only the plan can check.
    #[error(transparent)]
    Profile(#[from] crate::error::ProfileError),
    /// No agent joined.
    #[error("no agents to plan for")]
    NoAgents,
    /// Every agent has load weight 0.
    #[error("every agent has load weight 0 (fleet.weights): nobody would send requests")]
    NoLoad,
    /// A trace that cannot be replayed as the stage asks.
    #[error("{file}: {message}")]
    Trace {
        /// The trace file.
        file: String,
        /// What is wrong.
        message: String,
    },
}

/// Where and how every shard sends its requests: the profile's `server` and `api` sections.
fn endpoint_spec(p: &crate::model::Profile) -> EndpointSpec {
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
        client_cert: crate::client_cert::client_cert(p, std::path::Path::new("profile"))
            .ok()
            .flatten(),
        session_id_header: p.api.session_id_header_key.clone(),
        request_retries: p.load.request_retries.unwrap_or(0),
        retry_backoff_s: p
            .load
            .request_retry_backoff_sec
            .unwrap_or(crate::DEFAULT_RETRY_BACKOFF_S),
        session_token_header: p.api.session_token_header_key.clone(),
    }
}

/// The goodput objectives of `report.goodput`, with the TTFT and TPOT objectives of the SLO
/// headers (`api.slo_*`) taking their place, as inference-perf's goodput takes a request's
/// header SLO first; none when nothing is set. Validated with the profile: a bad constraint or
/// header never gets here.
fn goodput_slo(p: &crate::model::Profile) -> Option<GoodputSlo> {
    let mut slo = (p.report.as_ref())
        .and_then(|r| r.goodput.as_ref())
        .and_then(|g| GoodputSlo::from_constraints(&g.constraints).ok())
        .unwrap_or_default();
    let headers = p.api.header_slos().unwrap_or_default();
    let us = |s: f64| (s * 1e6).round() as u64;
    slo.ttft_us = headers.ttft_s.map(us).or(slo.ttft_us);
    slo.tpot_us = headers.tpot_s.map(us).or(slo.tpot_us);
    Some(slo).filter(|g| *g != Default::default())
}

/// The `circuit_breakers` entries `load.circuit_breakers` names, in that order (validated: each
/// name is defined).
fn enabled_breakers(p: &crate::model::Profile) -> Vec<CircuitBreakerConfig> {
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
    let data = crate::data::plan::plan_data(loaded, seed);
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
    let traced = loaded.replay.as_ref().map(|r| r.slots.len() as u64);
    let defs = stage_defs(p, std::path::Path::new(&loaded.name), traced)?;
    // `load.sweep`: the one stage is the saturation probe.
    let probe = p.load.sweep.as_ref();
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
        let label = match probe {
            Some(_) => crate::saturation::PROBE_LABEL.to_string(),
            None => load.label(),
        };
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
                // The probe's requests may finish until its timeout; their send and end
                // times are what the coordinator samples.
                grace_period_ms: probe.map_or(grace_period_ms, crate::saturation::probe_grace_ms),
                per_request: per_request || probe.is_some(),
                think_time_ms,
                telemetry: p.telemetry.unwrap_or_default(),
                engine_metrics: scrapes[shard].clone(),
                prometheus_query: (shard == 0)
                    .then(|| crate::inference_perf::managed_prometheus_query(p))
                    .flatten(),
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
            .unwrap_or(crate::model::DEFAULT_STAGE_INTERVAL_S),
    })
}

/// What one agent is asked to carry in a stage: its share of the rate at most
/// [`MAX_AGENT_RATE`](crate::limits::MAX_AGENT_RATE) requests/s, its users at most
/// [`MAX_AGENT_USERS`](crate::limits::MAX_AGENT_USERS).
fn check_agent_share(
    loaded: &LoadedProfile,
    stage: usize,
    split: &[ShardLoad],
    members: &[Member],
) -> Result<(), PlanError> {
    use crate::limits::{above, MAX_AGENT_RATE, MAX_AGENT_USERS};
    let l = &loaded.profile.load;
    let key = |field: &str, shorthand: bool| {
        if shorthand {
            format!("load.{field}")
        } else {
            format!("load.stages.{stage}.{field}")
        }
    };
    let invalid = |key: String, message: String| {
        PlanError::Profile(crate::error::ProfileError::Invalid {
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
            ShardLoad::Trace { .. } | ShardLoad::Sessions { .. } | ShardLoad::Idle => continue,
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
fn engine_scrapes(p: &crate::model::Profile, members: &[Member]) -> Vec<Vec<String>> {
    let mut out = vec![Vec::new(); members.len()];
    let hosts = p.fleet.hosts.as_deref().unwrap_or_default();
    let infos: Vec<AgentInfo> = members
        .iter()
        .map(|m| AgentInfo {
            agent_id: m.agent_id.clone(),
            role: m.role,
            host_name: m.host_name.clone(),
            devices: Vec::new(),
        })
        .collect();
    for g in host_groups(&infos) {
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
            first.push(crate::inference_perf::federate_url(url, &prom.filters));
        }
    }
    out
}

/// Cuts a trace stage to the records the plan carries: those whose scaled time is before the
/// stage's duration, at most its request count; the trace must be in time order.
fn fit_trace(
    load: &mut StageLoad,
    source: &DataSource,
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
    let DataSource::Trace { records } = source else {
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
    let in_time = fleetbench_model::spec::trace_times(records, *time_scale)
        .take_while(|&t| duration_s.is_none_or(|d| t < d))
        .count() as u64;
    if *total > in_time && in_time == records.len() as u64 && full_len > records.len() {
        return Err(PlanError::Trace {
            file,
            message: format!(
                "stage {stage} would replay more than the {} records a run carries: give the stage a duration or num_requests",
                MAX_TRACE_RECORDS
            ),
        });
    }
    *total = (*total).min(in_time);
    Ok(())
}

fn split_stage(load: &StageLoad, weights: &[u32], total_weight: u64) -> Vec<ShardLoad> {
    let w: Vec<u64> = weights.iter().map(|&w| w as u64).collect();
    if let StageLoad::Sessions { .. } = load {
        return split_sessions(load, &w);
    }
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
                StageLoad::Sessions { .. } => ShardLoad::Idle,
            }
        })
        .collect()
}

/// A session stage over weighted shards: the cap of sessions at once split by largest
/// remainder over the weights (as closed-loop users), the sessions over the shares of the cap
/// (over the weights when all run at once), each shard a contiguous range of them (a session
/// never spans agents), the session rate in proportion to the sessions.
fn split_sessions(load: &StageLoad, w: &[u64]) -> Vec<ShardLoad> {
    let StageLoad::Sessions {
        concurrent,
        session_rate,
        first_session,
        sessions,
        timeout_s,
    } = *load
    else {
        return vec![ShardLoad::Idle; w.len()];
    };
    let caps = if concurrent > 0 {
        largest_remainder(u64::from(concurrent), w)
    } else {
        vec![0; w.len()]
    };
    let counts = largest_remainder(sessions, if concurrent > 0 { &caps[..] } else { w });
    let mut next = first_session;
    caps.iter()
        .zip(counts)
        .map(|(&cap, n)| {
            if n == 0 {
                return ShardLoad::Idle;
            }
            let first = next;
            next += n;
            ShardLoad::Sessions {
                concurrent: cap as u32,
                session_rate: session_rate.map(|r| r * n as f64 / sessions as f64),
                first_session: first,
                sessions: n,
                timeout_s,
            }
        })
        .collect()
}

/// The generated stages planned over `members`, after the probe (stage 0): the profile with
/// `load.stages` set to one stage per rate of `load.sweep.stage_duration` seconds, planned as
/// any profile (the same data and run seed), numbered from 1.
pub fn plan_sweep_stages(
    loaded: &LoadedProfile,
    rates: &[f64],
    members: &[Member],
    run_id: &str,
    seed: u64,
) -> Result<Vec<StagePlan>, PlanError> {
    let mut generated = loaded.clone();
    let load = &mut generated.profile.load;
    let duration = load.sweep.take().map_or(0.0, |s| s.stage_duration as f64);
    load.stages = (rates.iter())
        .map(|&r| crate::model::LoadStage {
            rate: Some(fleetbench_model::spec::Rate(r)),
            duration: Some(duration),
            ..stages::empty_stage()
        })
        .collect();
    let plan = plan_run(&generated, members, run_id, seed)?;
    Ok(plan
        .stages
        .into_iter()
        .map(|mut st| {
            st.index += 1;
            // The seed plan_run gives the stage at this index.
            let stage_seed = splitmix64(seed ^ (u64::from(st.index) << 48));
            for shard in &mut st.shards {
                shard.stage = st.index;
                shard.seed = stage_seed;
            }
            st
        })
        .collect())
}

#[cfg(test)]
mod sessions_tests;
#[cfg(test)]
mod tests;
