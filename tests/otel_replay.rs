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
use fleetbench_e2e::replay::calls_at_sim;
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

/// A segment of inference-perf's graph: kind, messages, source call.
type Seg = (String, usize, Option<u64>);

/// One call of inference-perf's graph: its predecessors, recorded wait and segments.
type GoldenCall = (Vec<u64>, u64, Vec<Seg>);

/// inference-perf's graph of a fixture (its golden file), call by call.
fn golden(name: &str) -> anyhow::Result<Vec<GoldenCall>> {
    let path = repo_root().join("tests/data/otel/inference_perf_graphs.golden");
    let g: Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    Ok((g[name].as_array().expect("the trace's graph").iter())
        .map(|e| {
            let preds = e["preds"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_u64().unwrap())
                .collect();
            let segs = (e["segments"].as_array().unwrap().iter())
                .map(|s| {
                    (
                        s[0].as_str().unwrap().to_string(),
                        s[1].as_u64().unwrap() as usize,
                        s[3].as_u64(),
                    )
                })
                .collect();
            (preds, e["wait_ms"].as_u64().unwrap(), segs)
        })
        .collect())
}

/// The two traces of `tests/data/otel/` duplicated to four sessions, two at a time, against
/// the sim at `sim`.
fn replay_profile(dir: &Path, sim: &str) -> anyhow::Result<std::path::PathBuf> {
    let traces = repo_root().join("tests/data/otel");
    let profile = dir.join("profile.yaml");
    std::fs::write(
        &profile,
        format!(
            "server: {{type: vllm, model_name: sim-model, base_url: 'http://{sim}', ignore_eos: true}}\n\
             api: {{type: chat, streaming: true}}\n\
             data:\n\
             \x20 type: otel_trace_replay\n\
             \x20 otel_trace_replay:\n\
             \x20   trace_files: ['{}/*.json']\n\
             \x20   use_static_model: true\n\
             \x20   static_model_name: sim-model\n\
             \x20   duplicate_sessions_target: 4\n\
             \x20   max_wait_ms: 150\n\
             load: {{type: trace_session_replay, stages: [{{concurrent_sessions: 2}}]}}\n",
            traces.display()
        ),
    )?;
    Ok(profile)
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
        for (k, ((_, words, completion), (preds, wait_ms, segs))) in
            calls.iter().zip(&graph).enumerate()
        {
            let s = got[&(k as u64)];
            assert_eq!(
                s.completion, *completion,
                "session {session} call {k}: recorded completion tokens"
            );
            let mut mine: Vec<u64> = Vec::new();
            for (kind, n, source) in segs {
                let at = mine.len();
                match (kind.as_str(), source) {
                    ("shared", Some(src)) => mine.extend_from_slice(&sent[*src as usize][..*n]),
                    ("output", Some(src)) => mine.push(got[src].completion),
                    _ => mine.extend(words[at..at + n].iter().map(|w| w + u64::from(dup))),
                }
            }
            assert_eq!(
                s.prompt,
                mine.iter().sum::<u64>(),
                "session {session} call {k}: the words it sent, {mine:?}"
            );
            sent.push(mine);
            for p in preds {
                let before = got[p];
                let gap_us = s.arrival_us as i64 - before.end_us as i64;
                let want_us = (*wait_ms).min(150) as i64 * 1000;
                assert!(
                    gap_us >= want_us - 2_000,
                    "session {session}: call {k} arrived {gap_us} µs after predecessor {p}'s last token; its wait is {want_us} µs"
                );
            }
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
