//! The `Preflight` RPC: the joined agents with their roles and freshly probed clock offsets and,
//! given a profile, one test request per load-generating agent over the same path a run's
//! preflight takes (stage 0 planned over the joined agents, request 0 of each shard). The
//! client judges the figures against what it expects.

use crate::hub::Hub;
use crate::redact::redact;
use fleetbench_model::clock::unix_ns;
use fleetbench_model::SOFTWARE_VERSION;
use fleetbench_profile::plan::plan_run;
use fleetbench_profile::LoadedProfile;
use fleetbench_proto::v1 as wire;
use std::sync::Arc;
use std::time::Duration;

/// Clock probes sent to every agent before its offset is read.
const FRESH_PROBES: u64 = 3;

/// How long the fresh probes' replies are waited for at most.
const PROBE_WAIT: Duration = Duration::from_millis(300);

/// Runs the fleet check; with `loaded`, the agents' test requests too.
pub(crate) async fn check(hub: &Arc<Hub>, loaded: Option<LoadedProfile>) -> wire::PreflightReply {
    reprobe_clocks(hub).await;
    let mut agents = hub.fleet.statuses();
    let mut reply = wire::PreflightReply {
        coordinator_version: SOFTWARE_VERSION.to_string(),
        ..Default::default()
    };
    let Some(loaded) = loaded else {
        reply.agents = agents;
        return reply;
    };
    let fleet_cfg = &loaded.profile.fleet;
    for a in &mut agents {
        if let Some(role) = fleet_cfg.assigned_role(&a.agent_id) {
            a.role = role.as_str().to_string();
        }
    }
    reply.agents = agents;
    match test_requests(hub, &loaded).await {
        Ok(answers) => reply.answers = answers,
        Err(why) => reply.skipped = why,
    }
    reply
}

/// A few clock probes to every connected agent, and their replies awaited (at most
/// [`PROBE_WAIT`]), so the offsets the check reports are current.
async fn reprobe_clocks(hub: &Arc<Hub>) {
    let ids: Vec<String> = hub
        .fleet
        .members()
        .into_iter()
        .map(|m| m.agent_id)
        .collect();
    crate::probe::probe_and_wait(&hub.fleet, &ids, FRESH_PROBES, PROBE_WAIT).await;
}

/// Stage 0 of the profile planned over the joined agents (roles as a run would give them);
/// each load-generating agent sends its test request. An error says why none was asked.
async fn test_requests(
    hub: &Arc<Hub>,
    loaded: &LoadedProfile,
) -> Result<Vec<wire::AgentAnswer>, String> {
    if hub.is_busy() {
        return Err("a run is in progress: no test requests are sent during it".into());
    }
    let mut members = hub.fleet.members();
    if members.is_empty() {
        return Err("no agent is joined to send them".into());
    }
    for m in &mut members {
        if let Some(role) = loaded.profile.fleet.assigned_role(&m.agent_id) {
            m.role = role;
        }
    }
    let check_id = format!("preflight-{}-{:04x}", unix_ns(), rand::random::<u16>());
    let seed = loaded.profile.load.base_seed.unwrap_or(0);
    let plan = plan_run(loaded, &members, &check_id, seed)
        .map_err(|e| format!("the profile does not plan over the joined agents: {e}"))?;
    let endpoints: std::collections::BTreeMap<String, String> = plan
        .stages
        .first()
        .map(|st| {
            plan.members
                .iter()
                .zip(&st.shards)
                .map(|(m, sh)| (m.agent_id.clone(), sh.endpoint.base_url.clone()))
                .collect()
        })
        .unwrap_or_default();
    let mut events = hub.open_check(&check_id);
    if let Some(pool) = &loaded.stored_media {
        if let Err(why) = crate::media::distribute(hub, &plan, pool, &mut events).await {
            hub.close_check(&check_id);
            return Err(why);
        }
    }
    let answers = crate::preflight::ask(hub, &plan, &mut events).await;
    hub.close_check(&check_id);
    Ok(answers
        .into_iter()
        .map(|(agent, answer)| {
            let endpoint = redact(&endpoints.get(&agent).cloned().unwrap_or_default());
            match answer {
                Ok(mut r) => {
                    r.body = redact(&r.body);
                    r.error = redact(&r.error);
                    wire::AgentAnswer {
                        agent_id: agent,
                        endpoint,
                        result: Some(r),
                        error: String::new(),
                    }
                }
                Err(line) => wire::AgentAnswer {
                    agent_id: agent,
                    endpoint,
                    result: None,
                    error: line,
                },
            }
        })
        .collect())
}
