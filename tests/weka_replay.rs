//! inference-perf's Weka trace replay against the sim's ground truth: the two traces of
//! `tests/data/weka/traces/` (a parent of four turns with a subagent whose three requests run
//! as two streams; a parent of two turns), prompts rebuilt by the coordinator with
//! `tests/data/weka/tokenizer/` and the bundled corpus, replayed by two agents. Per session the
//! sim saw each call once, in inference-perf's session order, no call before its predecessors'
//! last tokens plus their recorded gap (capped by `max_wait_ms`), each call's recorded output
//! tokens (`max_tokens`, the server ignoring EOS; `default_max_tokens` for a recorded 0), and
//! prompts as inference-perf's sessions carry them (`inference_perf_sessions.golden`), an
//! ancestor's output replaced by what the sim generated for it.

use fleetbench_e2e::docker::repo_root;
use fleetbench_e2e::replay::{calls_at_sim, check_replayed_call, ExpectedCall};
use fleetbench_e2e::*;
use serde_json::Value;
use std::time::Duration;

#[test]
fn weka_traces_replay_as_rebuilt_sessions_on_two_agents() -> anyhow::Result<()> {
    let dir = scratch("weka_replay");
    let truth = dir.join("truth.jsonl");
    let truth_arg = truth.display().to_string();
    let flags = [
        "--deterministic",
        "--ttft-ms",
        "10",
        "--itl-ms",
        "5",
        "--ground-truth",
        &truth_arg,
    ];
    let (_sim, sim) = start_sim(&dir, "sim", &flags)?;
    let data = repo_root().join("tests/data/weka");
    let profile = write_chat_profile(
        &dir,
        &sim,
        &format!(
            "tokenizer: {{pretrained_model_name_or_path: {}}}\n\
             data:\n\
             \x20 type: weka_trace_replay\n\
             \x20 weka_trace_replay:\n\
             \x20   trace_directory: {}\n\
             \x20   trace_idle_gap_cap_seconds: 5.0\n\
             \x20   use_static_model: true\n\
             \x20   static_model_name: sim-model\n\
             \x20   default_max_tokens: 6\n\
             \x20   max_wait_ms: 100\n\
             load: {{type: trace_session_replay, stages: [{{concurrent_sessions: 2}}]}}\n",
            data.join("tokenizer").display(),
            data.join("traces").display()
        ),
    );
    let (run, _) = run_with_two_agents(&dir, &profile, Duration::from_secs(120))?;
    let r = stage_report(&run, 0)?;
    check_benchmark_run(&r);
    assert_eq!(num(&r, "metrics.requests.total"), 9.0, "2 + 7 calls");
    assert_eq!(num(&r, "metrics.requests.failures"), 0.0);
    assert_eq!(
        at(&r, "metrics.metadata.sessions"),
        &serde_json::json!({"ok": 2, "failed": 0, "calls_not_sent": 0})
    );
    // The report names the traces and counts the sessions; their prompts stay in plan.json.
    let planned = at(&r, "scenario.load.metadata.plan.data");
    assert_eq!(planned["sessions"], 2, "{planned}");
    assert_eq!(
        planned["traces"],
        serde_json::json!([
            {"source": "weka_trace_agent-b", "calls": 2},
            {"source": "weka_trace_agent-a", "calls": 7}
        ])
    );
    assert!(planned.get("graphs").is_none());
    let golden: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(
        data.join("inference_perf_sessions.golden"),
    )?)?;
    let seen = calls_at_sim(&truth)?;
    assert_eq!(seen.len(), golden.len());
    for (session, g) in golden.iter().enumerate() {
        let got = &seen[&(session as u64)];
        let events = g["events"].as_array().expect("events");
        assert_eq!(got.len(), events.len(), "session {session}: {got:?}");
        // Words of each message call k sent, built as inference-perf substitutes.
        let mut sent: Vec<Vec<u64>> = Vec::new();
        for (k, e) in events.iter().enumerate() {
            let s = got[&(k as u64)];
            let want_completion = match e["max_tokens"].as_u64().unwrap() {
                0 => 6,
                n => n,
            };
            assert_eq!(s.completion, want_completion, "session {session} call {k}");
            let words: Vec<u64> = (e["messages"].as_array().unwrap().iter())
                .map(|m| m[1].as_str().unwrap().split_whitespace().count() as u64)
                .collect();
            let want = ExpectedCall::from_golden(e, words);
            sent.push(check_replayed_call(
                session as u64,
                k as u64,
                &want,
                got,
                &sent,
                100,
            ));
        }
    }
    // The subagent's two streams ran in parallel: calls 2 and 3 of the long session overlap.
    let a = &seen[&1];
    assert!(
        a[&3].arrival_us < a[&2].end_us,
        "the streams overlap: {a:?}"
    );
    Ok(())
}
