//! The endpoint preflight before a run's first stage: every load-generating agent sends one test
//! request (request 0 of its shard of stage 0, output capped) and answers with the outcome. If any
//! fails — an unknown model (404), a wrong URL, a refused connection — the run stops before any
//! load is sent, with each failing agent's status, failure class and the server's error body.

use crate::hub::{AgentEvent, Hub};
use fleetbench_model::spec::{RunPlan, ShardLoad};
use fleetbench_proto::v1 as wire;
use fleetbench_proto::v1::coordinator_message::Body as Down;
use fleetbench_report::printable;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long an agent may take to answer beyond its test request's own limit.
const ANSWER_SLACK: Duration = Duration::from_secs(5);

/// The agents' test requests did not all succeed: one line per failing agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreflightFailure {
    /// One line per agent that failed, naming it and what failed.
    pub lines: Vec<String>,
}

impl std::fmt::Display for PreflightFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "endpoint preflight failed, so no load was sent (--no-preflight skips the check): {}",
            self.lines.join("; ")
        )
    }
}

impl std::error::Error for PreflightFailure {}

/// One agent's failed answer as a line: `agent a: HTTP 404 (http_404) after 2.1 ms; the server
/// said: ...`.
pub fn describe(agent: &str, r: &wire::PreflightResult) -> String {
    let mut line = format!("agent {agent}: ");
    if !r.error.is_empty() {
        line.push_str(&r.error);
        return line;
    }
    if r.status > 0 {
        line.push_str(&format!("HTTP {} ({})", r.status, r.failure_class));
    } else {
        line.push_str(&format!("request failed ({})", r.failure_class));
    }
    line.push_str(&format!(" after {:.1} ms", r.latency_us as f64 / 1000.0));
    if !r.body.trim().is_empty() {
        line.push_str(&format!("; the server said: {}", printable(&r.body, 512)));
    }
    line
}

/// Asks each load-generating member of stage 0 for its test request and waits for every answer;
/// events of other kinds that arrive meanwhile are dropped (no stage runs yet).
pub(crate) async fn preflight(
    hub: &Arc<Hub>,
    plan: &RunPlan,
    events: &mut mpsc::UnboundedReceiver<AgentEvent>,
) -> Result<(), PreflightFailure> {
    let mut failed = Vec::new();
    for (agent, answer) in ask(hub, plan, events).await {
        match answer {
            Ok(r) if r.ok => {
                tracing::info!(agent = %agent, "preflight ok in {:.1} ms", r.latency_us as f64 / 1000.0)
            }
            Ok(r) => failed.push(describe(&agent, &r)),
            Err(line) => failed.push(line),
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(PreflightFailure { lines: failed })
    }
}

/// One agent's answer to its test request, or the line saying it gave none in time.
pub(crate) type Answer = Result<wire::PreflightResult, String>;

/// Sends each load-generating member of the plan's stage 0 its test request and collects the
/// answers, by agent; events of other kinds that arrive meanwhile are dropped.
pub(crate) async fn ask(
    hub: &Arc<Hub>,
    plan: &RunPlan,
    events: &mut mpsc::UnboundedReceiver<AgentEvent>,
) -> BTreeMap<String, Answer> {
    let mut answers = BTreeMap::new();
    let Some(stage) = plan.stages.first() else {
        return answers;
    };
    let mut waiting: BTreeMap<String, u32> = BTreeMap::new();
    let mut limit = Duration::ZERO;
    for (member, spec) in plan.members.iter().zip(&stage.shards) {
        if spec.load == ShardLoad::Idle {
            continue;
        }
        let ask = wire::Preflight {
            run_id: plan.run_id.clone(),
            id: u64::from(spec.shard),
            shard_spec_json: serde_json::to_vec(spec).unwrap_or_default(),
        };
        hub.fleet.send(&member.agent_id, Down::Preflight(ask)).await;
        waiting.insert(member.agent_id.clone(), spec.shard);
        limit =
            limit.max(Duration::from_millis(spec.request_timeout_ms).min(Duration::from_secs(30)));
    }
    let deadline = tokio::time::Instant::now() + limit + ANSWER_SLACK;
    while !waiting.is_empty() {
        let ev = match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(ev)) => ev,
            Ok(None) => break,
            Err(_) => break,
        };
        let AgentEvent::Preflight { agent_id, result } = ev else {
            continue;
        };
        if result.run_id != plan.run_id || waiting.get(&agent_id) != Some(&(result.id as u32)) {
            continue;
        }
        waiting.remove(&agent_id);
        answers.insert(agent_id, Ok(result));
    }
    for agent in waiting.into_keys() {
        let line = format!(
            "agent {agent}: no answer within {:?} (an agent of an older version?)",
            limit + ANSWER_SLACK
        );
        answers.insert(agent, Err(line));
    }
    answers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_answer_names_the_status_class_and_body() {
        let r = wire::PreflightResult {
            run_id: "r".into(),
            id: 0,
            ok: false,
            status: 404,
            failure_class: "http_404".into(),
            body: "{\"message\": \"The model `nope` does not exist.\"}\n".into(),
            latency_us: 2100,
            error: String::new(),
        };
        assert_eq!(
            describe("a", &r),
            "agent a: HTTP 404 (http_404) after 2.1 ms; the server said: {\"message\": \"The model `nope` does not exist.\"}"
        );
        let refused = wire::PreflightResult {
            status: 0,
            failure_class: "connect".into(),
            body: String::new(),
            ..r.clone()
        };
        assert_eq!(
            describe("b", &refused),
            "agent b: request failed (connect) after 2.1 ms"
        );
        let bad = wire::PreflightResult {
            error: "base_url \"x\" is not http://HOST:PORT[/PATH]".into(),
            ..r
        };
        assert!(describe("c", &bad).starts_with("agent c: base_url"));
    }
}
