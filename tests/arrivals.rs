//! Issue 5's arrival patterns beyond rates and concurrency, as multi-process runs against the
//! sim: trace replay at a time scale, closed-loop think time, and multi-turn sessions that stay
//! whole on one agent and wait for each answer. Every request's own record (`requests.jsonl`)
//! is the evidence.

use fleetbench_e2e::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// The lines of `requests.jsonl`.
fn requests(run: &Path) -> anyhow::Result<Vec<Value>> {
    let text = std::fs::read_to_string(run.join("requests.jsonl"))?;
    Ok(text
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?)
}

/// The request's index within its stage (`<stage>-<index>`).
fn index_of(r: &Value) -> u64 {
    r["id"]
        .as_str()
        .unwrap()
        .split('-')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap()
}

fn ns(r: &Value, key: &str) -> i64 {
    r[key].as_i64().unwrap_or_else(|| panic!("{key} in {r}"))
}

const PER_REQUEST: &str = "report: {request_lifecycle: {per_request: true}}";

/// `load.type: trace` with `time_scale: 0.5`: every record of the trace is sent once, at half
/// its timestamp's distance from the first, split over two agents, with the record's lengths.
#[test]
fn trace_replay_sends_every_record_at_its_scaled_time() -> anyhow::Result<()> {
    let dir = scratch("trace_replay");
    let (_sim, sim) = start_sim(
        &dir,
        "sim",
        &["--deterministic", "--ttft-ms", "5", "--itl-ms", "1"],
    )?;
    let stamps = [5_000u64, 5_200, 5_200, 5_700, 6_000, 6_900, 7_400, 8_000];
    let trace = dir.join("trace.jsonl");
    let lines: Vec<String> = stamps
        .iter()
        .enumerate()
        .map(|(i, t)| {
            format!(
                r#"{{"timestamp": {t}, "input_length": {}, "output_length": {}, "hash_ids": [{i}]}}"#,
                40 + 3 * i,
                4 + i
            )
        })
        .collect();
    std::fs::write(&trace, lines.join("\n"))?;
    let profile = dir.join("profile.yaml");
    std::fs::write(
        &profile,
        format!(
            "name: trace\n\
             server: {{type: vllm, model_name: sim-model, base_url: 'http://{sim}', ignore_eos: true}}\n\
             api: {{type: completion, streaming: true}}\n\
             data: {{type: mooncake_trace, path: '{}'}}\n\
             load: {{type: trace, time_scale: 0.5}}\n\
             {PER_REQUEST}\n",
            trace.display()
        ),
    )?;
    let (run, _) = run_with_two_agents(&dir, &profile, Duration::from_secs(60))?;
    let r = stage_report(&run, 0)?;
    check_benchmark_run(&r);
    assert_eq!(num(&r, "metrics.requests.total"), 8.0);
    assert_eq!(num(&r, "metrics.requests.failures"), 0.0);
    assert_eq!(at(&r, "scenario.load.type"), "trace");
    let mut reqs = requests(&run)?;
    assert_eq!(reqs.len(), 8);
    reqs.sort_by_key(index_of);
    let agents: std::collections::BTreeSet<&str> =
        reqs.iter().map(|r| r["agent"].as_str().unwrap()).collect();
    assert_eq!(agents.len(), 2, "the trace is striped over both agents");
    let t0 = ns(&reqs[0], "intended_unix_ns");
    for (j, r) in reqs.iter().enumerate() {
        assert_eq!(index_of(r), j as u64, "record {j} sent exactly once");
        let want_ms = (stamps[j] - stamps[0]) as f64 * 0.5;
        let got_ms = (ns(r, "intended_unix_ns") - t0) as f64 / 1e6;
        // Two agents' clocks on one machine, each stage start set in its own clock.
        assert!(
            (got_ms - want_ms).abs() < 3.0,
            "record {j}: intended at {got_ms} ms, trace says {want_ms} ms"
        );
        assert_eq!(r["input_tokens"], 40 + 3 * j as u64, "record {j}");
        assert_eq!(r["output_tokens"], 4 + j as u64, "record {j}");
    }
    Ok(())
}

/// Two closed-loop users with a 300 ms think time: each user's next request is intended (and
/// sent) 300 ms after its previous answer ended, never sooner. The coordinator re-probes the
/// agents' clocks every 200 ms meanwhile, within the stage.
#[test]
fn closed_loop_users_think_between_requests() -> anyhow::Result<()> {
    let dir = scratch("think_time");
    let (_sim, sim) = start_sim(
        &dir,
        "sim",
        &["--deterministic", "--ttft-ms", "10", "--itl-ms", "2"],
    )?;
    let profile = write_profile(
        &dir,
        &sim,
        16,
        8,
        &format!(
            "load: {{type: concurrent, think_time: 0.3, stages: [{{concurrency_level: 2, num_requests: 8}}]}}\n{PER_REQUEST}"
        ),
    );
    let (run, _) = run_with_two_agents_and(
        &dir,
        &profile,
        Duration::from_secs(60),
        &["--clock-reprobe", "0.2"],
    )?;
    let r = stage_report(&run, 0)?;
    assert_eq!(num(&r, "metrics.requests.total"), 8.0);
    // 8 probes at join and 5 at the stage start; the stage's ~1.3 s add bursts of 3.
    for a in at(&r, "metrics.metadata.agents").as_array().unwrap() {
        let probes = a["clock_probes"].as_u64().unwrap();
        assert!(probes >= 8 + 5 + 3, "{a}: {probes} clock probes");
    }
    let mut by_agent: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for q in requests(&run)? {
        by_agent
            .entry(q["agent"].as_str().unwrap().to_string())
            .or_default()
            .push(q);
    }
    assert_eq!(by_agent.len(), 2);
    for (agent, mut reqs) in by_agent {
        assert_eq!(reqs.len(), 4, "{agent}: one user, 4 requests");
        reqs.sort_by_key(|q| ns(q, "intended_unix_ns"));
        for w in reqs.windows(2) {
            let gap_ms = (ns(&w[1], "intended_unix_ns") - ns(&w[0], "end_unix_ns")) as f64 / 1e6;
            assert!(
                gap_ms >= 300.0,
                "{agent}: next request {gap_ms} ms after the answer"
            );
            assert!(
                gap_ms < 400.0,
                "{agent}: next request {gap_ms} ms after the answer"
            );
        }
    }
    Ok(())
}

/// Multi-turn chat: 4 sessions of 3 rounds started at once over two agents. Every round of a
/// session runs on the agent that started it, each round waits for the previous answer plus the
/// 100 ms think time, and each round's prompt carries the rounds before it.
#[test]
fn multi_turn_sessions_stay_whole_and_wait_for_each_answer() -> anyhow::Result<()> {
    let dir = scratch("sessions");
    let (_sim, sim) = start_sim(
        &dir,
        "sim",
        &["--deterministic", "--ttft-ms", "20", "--itl-ms", "2"],
    )?;
    let profile = write_chat_profile(
        &dir,
        &sim,
        &format!(
            "name: sessions\n\
             data: {{type: multi_turn, multi_turn: {{users: 16, rounds: 3, system_prompt_len: 30, question_len: 5, answer_len: 6}}}}\n\
             load: {{type: constant, think_time: 0.1, stages: [{{rate: inf, num_requests: 4}}]}}\n\
             {PER_REQUEST}\n"
        ),
    );
    let (run, _) = run_with_two_agents(&dir, &profile, Duration::from_secs(60))?;
    let r = stage_report(&run, 0)?;
    assert_eq!(
        num(&r, "metrics.requests.total"),
        12.0,
        "4 sessions × 3 rounds"
    );
    assert_eq!(num(&r, "metrics.requests.failures"), 0.0);
    assert_eq!(num(&r, "metrics.requests.output_length.mean"), 6.0);
    // With 16 users, request index = round · 16 + session.
    let mut sessions: BTreeMap<u64, Vec<(u64, Value)>> = BTreeMap::new();
    for q in requests(&run)? {
        let i = index_of(&q);
        sessions.entry(i % 16).or_default().push((i / 16, q));
    }
    assert_eq!(
        sessions.keys().copied().collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );
    let mut agents = std::collections::BTreeSet::new();
    for (s, mut rounds) in sessions {
        rounds.sort_by_key(|(round, _)| *round);
        assert_eq!(
            rounds.iter().map(|(r, _)| *r).collect::<Vec<_>>(),
            vec![0, 1, 2],
            "session {s}"
        );
        let agent = rounds[0].1["agent"].as_str().unwrap().to_string();
        for (round, q) in &rounds {
            assert_eq!(
                q["agent"].as_str().unwrap(),
                agent,
                "session {s} round {round} moved agents"
            );
        }
        agents.insert(agent);
        for w in rounds.windows(2) {
            let (prev, next) = (&w[0].1, &w[1].1);
            let gap_ms = (ns(next, "intended_unix_ns") - ns(prev, "end_unix_ns")) as f64 / 1e6;
            assert!(
                gap_ms >= 100.0,
                "session {s}: round sent {gap_ms} ms after the answer"
            );
            assert!(
                next["input_tokens"].as_u64() > prev["input_tokens"].as_u64(),
                "session {s}: the history grows: {prev} then {next}"
            );
        }
    }
    assert_eq!(agents.len(), 2, "sessions are split over both agents");
    Ok(())
}

/// A long trace travels whole in the shard spec (20,000 records with their hash ids: an Assign
/// of several MiB, over gRPC's default message limit) and a stage replays the part it asks for.
#[test]
fn a_long_trace_reaches_the_agents_and_replays_its_first_records() -> anyhow::Result<()> {
    let dir = scratch("long_trace");
    let (_sim, sim) = start_sim(
        &dir,
        "sim",
        &["--deterministic", "--ttft-ms", "2", "--itl-ms", "1"],
    )?;
    let trace = dir.join("trace.jsonl");
    let ids: Vec<String> = (0..24).map(|k| (1_000_000 + k).to_string()).collect();
    let lines: Vec<String> = (0..20_000u32)
        .map(|i| {
            format!(
                r#"{{"timestamp": {}, "input_length": 400, "output_length": 2, "hash_ids": [{}]}}"#,
                i * 10,
                ids.join(", ")
            )
        })
        .collect();
    std::fs::write(&trace, lines.join("\n"))?;
    let profile = dir.join("profile.yaml");
    std::fs::write(
        &profile,
        format!(
            "name: long-trace\n\
             server: {{type: vllm, model_name: sim-model, base_url: 'http://{sim}', ignore_eos: true}}\n\
             api: {{type: completion, streaming: true}}\n\
             data: {{type: mooncake_trace, path: '{}'}}\n\
             load: {{type: trace, stages: [{{num_requests: 30}}]}}\n",
            trace.display()
        ),
    )?;
    let (run, _) = run_with_two_agents(&dir, &profile, Duration::from_secs(60))?;
    let r = stage_report(&run, 0)?;
    assert_eq!(num(&r, "metrics.requests.total"), 30.0);
    assert_eq!(num(&r, "metrics.requests.failures"), 0.0);
    assert_eq!(num(&r, "metrics.requests.input_length.mean"), 400.0);
    Ok(())
}
