//! inference-perf's OTel trace replay against the sim's ground truth: two traces of
//! `tests/data/otel/` (a chain of three calls; a fan-out of two calls after a first one, a
//! fan-in after both, then one more) duplicated to four sessions and replayed by two agents.
//! Per session the sim saw each call once, no call before its predecessors' last tokens plus
//! their recorded gap (capped by `max_wait_ms`), each call's recorded completion tokens
//! (`max_tokens`, the server ignoring EOS), and prompts as inference-perf's output-aware replay
//! builds them: a shared prefix as its ancestor sent it, an ancestor's output as the sim
//! generated it (`" tok"` per token), the rest as recorded (one more word per unique message
//! in a duplicate: the injected session string); the report counts every call.

use fleetbench_e2e::docker::repo_root;
use fleetbench_e2e::replay::{calls_at_sim, check_replayed_call, start_engine_sim, ExpectedCall};
use fleetbench_e2e::*;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// A trace fixture's calls: (recorded start s, words of each input message, completion tokens).
fn trace(name: &str) -> anyhow::Result<Vec<(f64, Vec<u64>, u64)>> {
    let path = repo_root().join("tests/data/otel").join(name);
    let t: Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    let mut calls = Vec::new();
    for s in t["spans"].as_array().expect("spans") {
        let a = &s["attributes"];
        if a["gen_ai.operation.name"] != "chat" {
            continue;
        }
        let msgs: Value = serde_json::from_str(a["gen_ai.input.messages"].as_str().unwrap())?;
        let words = (msgs.as_array().unwrap().iter())
            .map(|m| {
                m["content"]
                    .as_str()
                    .unwrap_or("")
                    .split_whitespace()
                    .count() as u64
            })
            .collect();
        let sec: f64 = s["start_time"].as_str().unwrap()[17..26].parse()?;
        calls.push((
            sec,
            words,
            a["gen_ai.usage.completion_tokens"].as_u64().unwrap(),
        ));
    }
    calls.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(calls)
}

/// inference-perf's graph of a fixture (its golden file), call by call.
fn golden(name: &str) -> anyhow::Result<Vec<Value>> {
    let path = repo_root().join("tests/data/otel/inference_perf_graphs.golden");
    let g: Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    Ok(g[name].as_array().expect("the trace's graph").clone())
}

/// The two traces of `tests/data/otel/` duplicated to four sessions, two at a time, against
/// the sim at `sim`.
fn replay_profile(dir: &Path, sim: &str) -> anyhow::Result<std::path::PathBuf> {
    let traces = repo_root().join("tests/data/otel");
    let source = format!("trace_files: ['{}/*.json']", traces.display());
    otel_profile(
        dir,
        sim,
        &source,
        "duplicate_sessions_target: 4, max_wait_ms: 150",
        2,
    )
}

/// An OTel replay of the traces `source` names (with the keys `more`) against the sim at `sim`,
/// `concurrent` sessions at a time.
fn otel_profile(
    dir: &Path,
    sim: &str,
    source: &str,
    more: &str,
    concurrent: u32,
) -> anyhow::Result<std::path::PathBuf> {
    Ok(write_chat_profile(
        dir,
        sim,
        &format!(
            "data:\n\
             \x20 type: otel_trace_replay\n\
             \x20 otel_trace_replay: {{{source}, use_static_model: true, static_model_name: sim-model, {more}}}\n\
             load: {{type: trace_session_replay, stages: [{{concurrent_sessions: {concurrent}}}]}}\n"
        ),
    ))
}

#[test]
fn traced_sessions_replay_as_graphs_of_calls_on_two_agents() -> anyhow::Result<()> {
    let dir = scratch("otel_replay");
    let truth = dir.join("truth.jsonl");
    let truth_arg = truth.display().to_string();
    let flags = [
        "--deterministic",
        "--ttft-ms",
        "20",
        "--itl-ms",
        "20",
        "--ground-truth",
        &truth_arg,
    ];
    let (_sim, sim) = start_sim(&dir, "sim", &flags)?;
    let profile = replay_profile(&dir, &sim)?;
    let (run, _) = run_with_two_agents(&dir, &profile, Duration::from_secs(120))?;
    let r = stage_report(&run, 0)?;
    check_benchmark_run(&r);
    assert_eq!(
        num(&r, "metrics.requests.total"),
        16.0,
        "3 + 5 calls, twice"
    );
    assert_eq!(num(&r, "metrics.requests.failures"), 0.0);
    assert_eq!(
        at(&r, "metrics.metadata.sessions"),
        &serde_json::json!({"ok": 4, "failed": 0, "calls_not_sent": 0})
    );
    let seen = calls_at_sim(&truth)?;
    assert_eq!(seen.keys().copied().collect::<Vec<_>>(), [0, 1, 2, 3]);
    // Sorted file names: session 0 chain.json, 1 fanout.json, then their duplicates.
    for (session, name) in [
        (0, "chain.json"),
        (1, "fanout.json"),
        (2, "chain.json"),
        (3, "fanout.json"),
    ] {
        let (calls, graph) = (trace(name)?, golden(name)?);
        let got = &seen[&session];
        assert_eq!(
            got.len(),
            calls.len(),
            "session {session} ({name}): {got:?}"
        );
        let dup = session >= 2;
        // Words of each message call k sent, built as inference-perf substitutes.
        let mut sent: Vec<Vec<u64>> = Vec::new();
        for (k, ((_, words, completion), event)) in calls.iter().zip(&graph).enumerate() {
            let s = got[&(k as u64)];
            assert_eq!(
                s.completion, *completion,
                "session {session} call {k}: recorded completion tokens"
            );
            let words = words.iter().map(|w| w + u64::from(dup)).collect();
            let want = ExpectedCall::from_golden(event, words);
            sent.push(check_replayed_call(
                session, k as u64, &want, got, &sent, 150,
            ));
        }
    }
    // The fan-out ran in parallel: calls 1 and 2 of a fan-out session overlap at the sim.
    let f = &seen[&1];
    assert!(
        f[&2].arrival_us < f[&1].end_us,
        "the branches overlap: {f:?}"
    );
    Ok(())
}

/// Every call fails at the sim (HTTP 500): each session's first call fails and the calls that
/// depend on it are not sent; the report counts the four failed calls as failed requests and
/// says which sessions failed and how many calls they did not send, and the run fails.
#[test]
fn a_failed_call_fails_its_session_and_the_report_counts_the_calls_not_sent() -> anyhow::Result<()>
{
    let dir = scratch("otel_replay_failed");
    let truth = dir.join("truth.jsonl");
    let truth_arg = truth.display().to_string();
    let flags = [
        "--deterministic",
        "--fault",
        "http_500",
        "--fault-rate",
        "1",
        "--ground-truth",
        &truth_arg,
    ];
    let (_sim, sim) = start_sim(&dir, "sim", &flags)?;
    let profile = replay_profile(&dir, &sim)?;
    let (mut coord, addr) = start_coordinator_run(&dir, &profile, 2, &["--no-preflight"])?;
    let _a = start_agent(&dir, &addr, "agent-a", "client", &[])?;
    let _b = start_agent(&dir, &addr, "agent-b", "client", &[])?;
    let status = coord.wait(Duration::from_secs(120))?;
    assert_eq!(
        status.code(),
        Some(3),
        "no call ok: the stage's verdict fails the run"
    );
    let r = stage_report(&run_dir(&dir)?, 0)?;
    check_benchmark_run(&r);
    // Every session's first call (chain: 1 of 3; fan-out: 1 of 5) and nothing after it.
    assert_eq!(num(&r, "metrics.requests.total"), 4.0);
    assert_eq!(num(&r, "metrics.requests.failures"), 4.0);
    assert_eq!(
        at(&r, "metrics.metadata.sessions"),
        &serde_json::json!({"ok": 0, "failed": 4, "calls_not_sent": 2 + 4 + 2 + 4})
    );
    // What a person reads at the console: the stage's sessions beside its failures.
    let log = std::fs::read_to_string(dir.join("coordinator.log"))?;
    assert!(
        log.contains("4 requests, 4 failures, sessions 0 ok, 4 failed (12 calls not sent)"),
        "{log}"
    );
    let seen = calls_at_sim(&truth)?;
    let firsts: Vec<_> = seen
        .values()
        .map(|calls| calls.keys().copied().collect::<Vec<_>>())
        .collect();
    assert_eq!(
        firsts,
        vec![vec![0u64]; 4],
        "only each session's first call was sent"
    );
    Ok(())
}

/// The sim's ground-truth lines of the replay's calls, by call index.
fn tool_calls_seen(truth: &Path) -> anyhow::Result<std::collections::BTreeMap<u64, Value>> {
    let mut seen = std::collections::BTreeMap::new();
    for line in std::fs::read_to_string(truth)?.lines() {
        let rec: Value = serde_json::from_str(line)?;
        let id = rec["request_id"].as_str().unwrap_or("");
        if let Some((_, index)) = id.split_once('-').filter(|_| !id.starts_with("preflight-")) {
            seen.insert(index.parse::<u64>()? & 0xFFFF, rec);
        }
    }
    Ok(seen)
}

/// `tests/data/otel-tools/` as an OTel replay profile against `sim`, with the keys `more`.
fn tools_profile(dir: &Path, sim: &str, more: &str) -> anyhow::Result<std::path::PathBuf> {
    let traces = repo_root().join("tests/data/otel-tools");
    let source = format!("trace_directory: '{}'", traces.display());
    otel_profile(dir, sim, &source, &format!("max_wait_ms: 50{more}"), 1)
}

/// A call's `tool_results` at the sim.
fn results(call: &Value) -> Vec<&str> {
    (call["tool_results"].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .collect()
}

/// A trace whose calls carry tools (`tests/data/otel-tools/`) replayed against the sim in engine
/// mode, which checks `tools` and `tool_choice` as vLLM does and, without `ignore_eos`, stops a
/// call at a drawn length: every call reaches the sim with the tools in OpenAI's nested form and
/// the `tool_choice` inference-perf sends (its golden file); the calls with tools ask to stop at
/// their end of sequence, so their short outputs are no failures, while the call without tools
/// gets its `max_tokens` exactly. A call whose `tool_choice` names a function, or is
/// `"required"`, gets a live tool call from the sim; the successors send that call where the
/// recorded one was, and their tool results answer it: the recorded results of the function the
/// live call made carry its id, the others keep theirs (inference-perf's pairing by name).
#[test]
fn replayed_tool_calls_are_sent_with_tools_and_tool_choice_as_inference_perf_sends_them(
) -> anyhow::Result<()> {
    let dir = scratch("otel_replay_tools");
    let (_sim, sim, truth) = start_engine_sim(&dir, &[])?;
    let profile = tools_profile(&dir, &sim, "")?;
    let text =
        std::fs::read_to_string(&profile)? + "report: {request_lifecycle: {per_request: true}}\n";
    std::fs::write(&profile, text)?;
    let (run, _) = run_with_two_agents(&dir, &profile, Duration::from_secs(120))?;
    let r = stage_report(&run, 0)?;
    check_benchmark_run(&r);
    assert_eq!(num(&r, "metrics.requests.total"), 6.0);
    assert_eq!(
        num(&r, "metrics.requests.failures"),
        0.0,
        "outputs shorter than max_tokens on calls with tools are no failures"
    );
    let golden: Value = serde_json::from_str(&std::fs::read_to_string(
        repo_root().join("tests/data/otel-tools/inference_perf_graphs.golden"),
    )?)?;
    let want = golden["tools.json"].as_array().expect("the trace's graph");
    let seen = tool_calls_seen(&truth)?;
    assert_eq!(seen.len(), want.len(), "{seen:?}");
    for (k, w) in want.iter().enumerate() {
        let got = &seen[&(k as u64)];
        let tools = w["tools"].as_array().map_or(0, Vec::len);
        assert_eq!(got["tools"].as_u64().unwrap_or(0), tools as u64, "call {k}");
        assert_eq!(got["tool_choice"], w["tool_choice"], "call {k}");
        let (completion, max) = (got["completion_tokens"].as_u64(), w["max_tokens"].as_u64());
        if tools == 0 {
            assert_eq!(completion, max, "call {k}: ignore_eos, so max_tokens");
        } else {
            assert!(completion <= max, "call {k}: {completion:?} of {max:?}");
        }
        let forced = w["tool_choice"].is_object() || w["tool_choice"] == "required";
        assert_eq!(got["tool_call"].is_string(), forced, "call {k}: {got}");
    }
    // A reply that is all tool call is generated tokens too: it has its first token's time.
    let records = json_lines(&run.join("requests.jsonl"))?;
    let first_token: std::collections::HashMap<&str, bool> = records
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap_or(""),
                r["first_token_unix_ns"].is_u64(),
            )
        })
        .collect();
    let tool_replies: Vec<_> = seen
        .values()
        .filter(|t| t["tool_call"].is_string())
        .collect();
    assert!(tool_replies.len() >= 2, "{seen:?}");
    for t in tool_replies {
        let id = t["request_id"].as_str().unwrap_or("");
        assert_eq!(first_token.get(id), Some(&true), "{id}: {records:?}");
    }
    // Call 0 called get_weather (named), call 1 get_weather (required: the first tool) where
    // the trace recorded search then get_weather.
    let live = |k: u64| seen[&k]["tool_call"].as_str().unwrap_or("none");
    assert_eq!(
        results(&seen[&1]),
        [live(0)],
        "call_1 answers call 0's live call"
    );
    assert_eq!(
        results(&seen[&2]),
        [live(0), "call_2", live(1)],
        "the history as call 1 sent it; call_2 (search) has no live search to answer"
    );
    Ok(())
}

/// The sim's tool calls all have arguments that are not JSON (`bad_tool_args`), and like vLLM
/// it refuses a request whose history carries such a call (400). With inference-perf's default
/// (`bad_tool_call_handling: none`) the second call is sent with call 0's live call and fails,
/// failing its session; with `use_recorded` the recorded calls go instead, every call is sent
/// and ok, and the tool results keep the recorded ids.
#[test]
fn malformed_live_tool_calls_fail_the_session_unless_the_recorded_ones_are_sent(
) -> anyhow::Result<()> {
    for handling in ["none", "use_recorded"] {
        let dir = scratch(&format!("otel_replay_bad_tools_{handling}"));
        let faults = ["--fault", "bad_tool_args", "--fault-rate", "1"];
        let (_sim, sim, truth) = start_engine_sim(&dir, &faults)?;
        let more = format!(", bad_tool_call_handling: {handling}");
        let profile = tools_profile(&dir, &sim, &more)?;
        let (mut coord, addr) = start_coordinator_run(&dir, &profile, 2, &["--no-preflight"])?;
        let _a = start_agent(&dir, &addr, "agent-a", "client", &[])?;
        let _b = start_agent(&dir, &addr, "agent-b", "client", &[])?;
        let status = coord.wait(Duration::from_secs(120))?;
        let r = stage_report(&run_dir(&dir)?, 0)?;
        check_benchmark_run(&r);
        let seen = tool_calls_seen(&truth)?;
        let sessions = at(&r, "metrics.metadata.sessions");
        if handling == "none" {
            assert_eq!(status.code(), Some(3), "{handling}: no session completed");
            assert_eq!(num(&r, "metrics.requests.total"), 2.0);
            assert_eq!(num(&r, "metrics.requests.failures"), 1.0);
            assert_eq!(
                sessions,
                &serde_json::json!({"ok": 0, "failed": 1, "calls_not_sent": 4})
            );
            assert_eq!(seen.len(), 2, "{seen:?}");
            assert_eq!(seen[&1]["completion_tokens"], 0, "refused: {}", seen[&1]);
            let log = std::fs::read_to_string(dir.join("coordinator.log"))?;
            assert!(
                log.contains("no session completed: 1 failed (4 calls not sent)"),
                "{log}"
            );
        } else {
            assert_eq!(status.code(), Some(0), "{handling}");
            assert_eq!(num(&r, "metrics.requests.total"), 6.0);
            assert_eq!(num(&r, "metrics.requests.failures"), 0.0);
            assert_eq!(
                sessions,
                &serde_json::json!({"ok": 1, "failed": 0, "calls_not_sent": 0, "recorded_substitutions": 3})
            );
            assert_eq!(results(&seen[&1]), ["call_1"]);
            assert_eq!(results(&seen[&2]), ["call_1", "call_2", "call_3"]);
            let console = std::fs::read_to_string(dir.join("coordinator.log"))?;
            assert!(
                console.contains("(0 calls not sent, 3 recorded substitutions)"),
                "{console}"
            );
            let log = std::fs::read_to_string(dir.join("agent-a.log"))?
                + &std::fs::read_to_string(dir.join("agent-b.log"))?;
            assert!(
                log.contains("their successors sent the recorded messages"),
                "{log}"
            );
        }
    }
    Ok(())
}
