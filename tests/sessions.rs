//! Session workloads of inference-perf against the sim's ground truth: a conversation replay
//! (`data.type: conversation_replay`), each turn carrying the earlier turns with the answers'
//! lengths the server produced, the tool-call wait between turns, every request of a
//! conversation carrying its session id (`api.session_id_header_key`, logged by the sim); session
//! stages (`load.type: trace_session_replay`) taking the next sessions stage after stage, at
//! most `concurrent_sessions` at once over both agents, and a stage `timeout` that cancels the
//! running sessions and fails the stage.

use fleetbench_e2e::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A sim that logs `x-session-id` and writes its ground truth to `truth.jsonl`.
fn sim_with_sessions(dir: &Path) -> anyhow::Result<(Proc, String, PathBuf)> {
    let truth = dir.join("truth.jsonl");
    let truth_arg = truth.display().to_string();
    let flags = [
        "--deterministic",
        "--ttft-ms",
        "2",
        "--itl-ms",
        "1",
        "--log-header",
        "x-session-id",
        "--ground-truth",
        &truth_arg,
    ];
    let (sim, addr) = start_sim(dir, "sim", &flags)?;
    Ok((sim, addr, truth))
}

fn write(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("profile.yaml");
    std::fs::write(&path, text).expect("write the profile");
    path
}

/// One request as the sim saw it.
#[derive(Debug, Clone)]
struct Seen {
    arrival_us: u64,
    /// The last token's time (the arrival when none was sent).
    end_us: u64,
    prompt: u64,
    completion: u64,
}

/// The run's requests at the sim grouped by the session id they carried, each session's in
/// arrival order; a request without the header fails the test.
fn sessions_at_sim(dir: &Path, truth: &Path) -> anyhow::Result<BTreeMap<String, Vec<Seen>>> {
    let log = std::fs::read_to_string(dir.join("sim.log"))?;
    let mut session_of: BTreeMap<String, String> = BTreeMap::new();
    for line in log.lines() {
        let Some(rest) = line.split("header x-session-id=").nth(1) else {
            continue;
        };
        let (value, id) = rest.split_once(" request ").expect("header line");
        session_of.insert(id.trim().to_string(), value.to_string());
    }
    let mut out: BTreeMap<String, Vec<Seen>> = BTreeMap::new();
    for line in std::fs::read_to_string(truth)?
        .lines()
        .filter(|l| !l.trim().is_empty())
    {
        let rec: serde_json::Value = serde_json::from_str(line)?;
        let id = rec["request_id"].as_str().unwrap_or("").to_string();
        if id.starts_with("preflight-") {
            continue;
        }
        let session = session_of
            .get(&id)
            .unwrap_or_else(|| panic!("request {id} reached the sim without x-session-id"));
        let n = |k: &str| rec[k].as_u64().unwrap_or(u64::MAX);
        let last_token = rec["token_unix_us"]
            .as_array()
            .and_then(|t| t.last()?.as_u64());
        out.entry(session.clone()).or_default().push(Seen {
            arrival_us: n("arrival_unix_us"),
            end_us: last_token.unwrap_or(n("arrival_unix_us")),
            prompt: n("prompt_tokens"),
            completion: n("completion_tokens"),
        });
    }
    for turns in out.values_mut() {
        turns.sort_by_key(|s| s.arrival_us);
    }
    Ok(out)
}

/// Turn k of a conversation whose system prompt has `system` tokens and whose turns have
/// `input` tokens: the system prompt, the earlier turns with the answers the server gave, then
/// its own message.
fn check_history(session: &str, turns: &[Seen], system: u64, input: u64) {
    let mut want = system + input;
    for (k, t) in turns.iter().enumerate() {
        assert_eq!(t.prompt, want, "session {session} turn {k}: {turns:?}");
        want += t.completion + input;
    }
}

#[test]
fn a_conversation_replay_runs_each_conversation_as_a_session_of_turns() -> anyhow::Result<()> {
    let dir = scratch("sessions_conversation_replay");
    let (_sim, sim, truth) = sim_with_sessions(&dir)?;
    let profile = write(
        &dir,
        &format!(
            "server: {{type: vllm, model_name: sim-model, base_url: 'http://{sim}', ignore_eos: true}}\n\
             api: {{type: completion, streaming: true, session_id_header_key: x-session-id}}\n\
             data:\n\
             \x20 type: conversation_replay\n\
             \x20 conversation_replay:\n\
             \x20   seed: 11\n\
             \x20   num_conversations: 3\n\
             \x20   shared_system_prompt_len: 12\n\
             \x20   dynamic_system_prompt_len: {{type: fixed, mean: 4}}\n\
             \x20   turns_per_conversation: {{type: fixed, mean: 3}}\n\
             \x20   input_tokens_per_turn: {{type: fixed, mean: 5}}\n\
             \x20   output_tokens_per_turn: {{type: uniform, min: 3, max: 9}}\n\
             \x20   tool_call_latency_sec: {{type: fixed, mean: 1}}\n\
             load: {{type: concurrent, stages: [{{concurrency_level: 3, num_requests: 9}}]}}\n"
        ),
    );
    let (run, _) = run_with_two_agents(&dir, &profile, Duration::from_secs(90))?;
    let r = stage_report(&run, 0)?;
    check_benchmark_run(&r);
    assert_eq!(num(&r, "metrics.requests.total"), 9.0);
    assert_eq!(num(&r, "metrics.requests.failures"), 0.0);
    let sessions = sessions_at_sim(&dir, &truth)?;
    // Three users, each running one conversation of three turns.
    let ids: Vec<&String> = sessions.keys().collect();
    assert_eq!(ids, ["0-session-0", "0-session-1", "0-session-2"]);
    let mut outputs = Vec::new();
    for (id, turns) in &sessions {
        assert_eq!(turns.len(), 3, "{id}: {turns:?}");
        // System prompt 12 shared + 4 own tokens; every turn's message 5 tokens.
        check_history(id, turns, 16, 5);
        for pair in turns.windows(2) {
            let gap_s = (pair[1].arrival_us - pair[0].arrival_us) as f64 / 1e6;
            assert!(
                gap_s >= 1.0,
                "{id}: next turn {gap_s:.3} s after the previous one; the tool call takes 1 s"
            );
        }
        outputs.extend(turns.iter().map(|t| t.completion));
    }
    // The answers' lengths are the turns' draws from uniform [3, 9], not all alike.
    assert!(outputs.iter().all(|o| (3..=9).contains(o)), "{outputs:?}");
    assert!(outputs.iter().any(|&o| o != outputs[0]), "{outputs:?}");
    Ok(())
}

/// The most sessions the sim served at once: a session runs from its first request's arrival
/// to its last token.
fn most_at_once(sessions: &BTreeMap<String, Vec<Seen>>) -> usize {
    let mut events: Vec<(u64, i32)> = Vec::new();
    for turns in sessions.values() {
        let start = turns.iter().map(|t| t.arrival_us).min().unwrap_or(0);
        let end = turns.iter().map(|t| t.end_us).max().unwrap_or(0);
        events.push((start, 1));
        events.push((end, -1));
    }
    // An end before a start at the same instant.
    events.sort();
    let (mut now, mut most) = (0i32, 0i32);
    for (_, d) in events {
        now += d;
        most = most.max(now);
    }
    most as usize
}

fn conversations(turns: u32, tool_wait_s: u32) -> String {
    format!(
        "data:\n\
         \x20 type: conversation_replay\n\
         \x20 conversation_replay:\n\
         \x20   seed: 5\n\
         \x20   num_conversations: 6\n\
         \x20   shared_system_prompt_len: 10\n\
         \x20   dynamic_system_prompt_len: {{type: fixed, mean: 2}}\n\
         \x20   turns_per_conversation: {{type: fixed, mean: {turns}}}\n\
         \x20   input_tokens_per_turn: {{type: fixed, mean: 4}}\n\
         \x20   output_tokens_per_turn: {{type: uniform, min: 20, max: 40}}\n\
         \x20   tool_call_latency_sec: {{type: fixed, mean: {tool_wait_s}}}\n"
    )
}

#[test]
fn session_stages_take_the_next_sessions_with_at_most_concurrent_sessions_at_once(
) -> anyhow::Result<()> {
    let dir = scratch("sessions_stages");
    let (_sim, sim, truth) = sim_with_sessions(&dir)?;
    let profile = write(
        &dir,
        &format!(
            "server: {{type: vllm, model_name: sim-model, base_url: 'http://{sim}', ignore_eos: true}}\n\
             api: {{type: completion, streaming: true, session_id_header_key: x-session-id}}\n\
             {}\
             load: {{type: trace_session_replay, stages: [{{concurrent_sessions: 2, num_sessions: 4}}, {{concurrent_sessions: 0}}]}}\n",
            conversations(3, 0)
        ),
    );
    let (run, _) = run_with_two_agents(&dir, &profile, Duration::from_secs(90))?;
    let sessions = sessions_at_sim(&dir, &truth)?;
    // Stage 0: sessions 0..4, one at a time per agent; stage 1: the two left, all at once.
    let ids: Vec<&str> = sessions.keys().map(String::as_str).collect();
    assert_eq!(
        ids,
        [
            "0-session-0",
            "0-session-1",
            "0-session-2",
            "0-session-3",
            "1-session-4",
            "1-session-5"
        ]
    );
    for (id, turns) in &sessions {
        assert_eq!(turns.len(), 3, "{id}: {turns:?}");
        check_history(id, turns, 12, 4);
    }
    let stage = |k: &str| -> BTreeMap<String, Vec<Seen>> {
        sessions
            .iter()
            .filter(|(id, _)| id.starts_with(k))
            .map(|(id, t)| (id.clone(), t.clone()))
            .collect()
    };
    let at_once = most_at_once(&stage("0-"));
    assert!(
        at_once <= 2,
        "{at_once} sessions at once; concurrent_sessions is 2"
    );
    for (k, want) in [(0, 12.0), (1, 6.0)] {
        let r = stage_report(&run, k)?;
        check_benchmark_run(&r);
        assert_eq!(num(&r, "metrics.requests.total"), want, "stage {k}");
        assert_eq!(num(&r, "metrics.requests.failures"), 0.0, "stage {k}");
        assert_eq!(at(&r, "metadata.verdict.status"), "ok", "stage {k}");
    }
    Ok(())
}

#[test]
fn a_session_stage_timeout_cancels_the_running_sessions_and_fails_the_stage() -> anyhow::Result<()>
{
    let dir = scratch("sessions_timeout");
    let (_sim, sim, truth) = sim_with_sessions(&dir)?;
    // Each conversation waits 5 s after every answer; the stage's timeout is 2 s.
    let profile = write(
        &dir,
        &format!(
            "server: {{type: vllm, model_name: sim-model, base_url: 'http://{sim}', ignore_eos: true}}\n\
             api: {{type: completion, streaming: true, session_id_header_key: x-session-id}}\n\
             {}\
             load: {{type: trace_session_replay, stages: [{{concurrent_sessions: 2, num_sessions: 6, timeout: 2}}]}}\n",
            conversations(3, 5)
        ),
    );
    let (mut coord, addr) = start_coordinator_run(&dir, &profile, 2, &[])?;
    let mut a = start_agent(&dir, &addr, "agent-a", "client", &[])?;
    let mut b = start_agent(&dir, &addr, "agent-b", "client", &[])?;
    let status = coord.wait(Duration::from_secs(60))?;
    assert_eq!(status.code(), Some(3), "a failed stage exits 3");
    for agent in [&mut a, &mut b] {
        assert!(agent.wait(Duration::from_secs(10))?.success());
    }
    // Two sessions ran their first turn, then waited; nothing else reached the sim.
    let sessions = sessions_at_sim(&dir, &truth)?;
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    assert!(sessions.values().all(|t| t.len() == 1), "{sessions:?}");
    let r = stage_report(&run_dir(&dir)?, 0)?;
    assert_eq!(at(&r, "metadata.verdict.status"), "failed");
    // The two running sessions and the four never started: one session_timeout each.
    assert_eq!(
        at(&r, "metrics.metadata.failures_by_class.session_timeout"),
        6
    );
    assert_eq!(num(&r, "metrics.requests.total"), 8.0);
    let reasons = at(&r, "metadata.verdict.reasons").to_string();
    assert!(reasons.contains("timeout"), "{reasons}");
    Ok(())
}
