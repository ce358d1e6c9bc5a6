//! inference-perf's load and api keys that change how requests are sent, run against the sim
//! and checked against its ground truth: a circuit breaker that stops a stage (and the run's
//! later stages) when the server fails every request; request retries after dropped
//! connections, every attempt seen by the sim; the SLO headers sent and read as the goodput
//! objectives; a server-assigned session token sent back on a session's later rounds.

use fleetbench_e2e::chaos::ground_truth;
use fleetbench_e2e::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// `header NAME=VALUE request ID` lines of the sim's log: request id → value.
fn logged_header(dir: &Path, name: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let log = std::fs::read_to_string(dir.join("sim.log"))?;
    let mut out = BTreeMap::new();
    for line in log.lines() {
        let Some(rest) = line.split(&format!("header {name}=")).nth(1) else {
            continue;
        };
        let (value, id) = rest.split_once(" request ").expect("header line");
        out.insert(id.trim().to_string(), value.to_string());
    }
    Ok(out)
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write a test file");
    path
}

#[test]
fn a_circuit_breaker_stops_the_stage_and_the_run() -> anyhow::Result<()> {
    let dir = scratch("ip_circuit_breaker");
    let truth = dir.join("truth.jsonl");
    let truth_arg = truth.display().to_string();
    // Every request gets a 503.
    let (_sim, sim) = start_sim(
        &dir,
        "sim",
        &[
            "--deterministic",
            "--ttft-ms",
            "2",
            "--itl-ms",
            "1",
            "--fault",
            "http_503",
            "--fault-rate",
            "1",
            "--ground-truth",
            &truth_arg,
        ],
    )?;
    // 600 requests planned in stage 0, 50 in stage 1.
    let profile = write(
        &dir,
        "profile.yaml",
        &format!(
            "server: {{type: vllm, model_name: sim-model, base_url: 'http://{sim}', ignore_eos: true}}\n\
             api: {{type: completion, streaming: true}}\n\
             data: {{type: mock}}\n\
             circuit_breakers:\n\
             \x20 - name: unavailable\n\
             \x20   metrics: {{matches: [\"error.error_type == 'HTTP Error 503'\"]}}\n\
             \x20   triggers: [{{type: consecutive, threshold: 4}}]\n\
             \x20 - name: never\n\
             \x20   metrics: {{matches: [\"error.error_type == 'TimeoutError'\"]}}\n\
             \x20   triggers: [{{type: consecutive, threshold: 1}}]\n\
             load: {{type: constant, circuit_breakers: [never, unavailable], stages: [{{rate: 10, duration: 60}}, {{rate: 10, duration: 5}}]}}\n"
        ),
    );
    let (mut coord, addr) = start_coordinator_run(&dir, &profile, 2, &["--no-preflight"])?;
    let mut a = start_agent(&dir, &addr, "agent-a", "client", &[])?;
    let mut b = start_agent(&dir, &addr, "agent-b", "client", &[])?;
    let status = coord.wait(Duration::from_secs(90))?;
    assert_eq!(
        status.code(),
        Some(3),
        "the stage failed: see {}",
        dir.display()
    );
    assert!(a.wait(Duration::from_secs(10))?.success());
    assert!(b.wait(Duration::from_secs(10))?.success());
    let run = run_dir(&dir)?;
    let r = stage_report(&run, 0)?;
    check_benchmark_run(&r);
    let trip = at(&r, "metrics.metadata.circuit_breaker");
    assert_eq!(trip["name"], "unavailable", "{trip}");
    assert_eq!(trip["trigger"], "consecutive", "{trip}");
    assert!(
        ["agent-a", "agent-b"].contains(&trip["agent"].as_str().unwrap_or("")),
        "{trip}"
    );
    assert!(
        trip["reason"]
            .as_str()
            .is_some_and(|s| s.contains("4 watched requests in a row")),
        "{trip}"
    );
    assert_eq!(at(&r, "metadata.verdict.status"), "failed");
    let reasons = at(&r, "metadata.verdict.reasons").to_string();
    assert!(
        reasons.contains("circuit breaker unavailable tripped on agent"),
        "{reasons}"
    );
    // Every request the sim saw was counted, and the stage stopped far before its 600.
    let served = ground_truth(&truth)?;
    let total = num(&r, "metrics.requests.total");
    assert_eq!(total, served.len() as f64, "sent vs the sim's ground truth");
    assert!(
        (4.0..300.0).contains(&total),
        "{total} requests: the breaker stopped the stage"
    );
    assert_eq!(num(&r, "metrics.requests.failures"), total);
    // The open breaker ends the run: stage 1 never started.
    assert!(
        served.iter().all(|s| s.stage == 0),
        "a stage-1 request was sent"
    );
    assert!(!run.join("stage-1").exists(), "stage 1 has a report");
    Ok(())
}

#[test]
fn requests_without_a_response_are_retried_and_every_attempt_is_counted() -> anyhow::Result<()> {
    let dir = scratch("ip_request_retries");
    let truth = dir.join("truth.jsonl");
    let truth_arg = truth.display().to_string();
    // Half of the attempts: the connection is closed before any response byte.
    let (_sim, sim) = start_sim(
        &dir,
        "sim",
        &[
            "--deterministic",
            "--ttft-ms",
            "2",
            "--itl-ms",
            "1",
            "--fault",
            "drop",
            "--fault-rate",
            "0.5",
            "--seed",
            "7",
            "--ground-truth",
            &truth_arg,
        ],
    )?;
    let profile = write(
        &dir,
        "profile.yaml",
        &format!(
            "server: {{type: vllm, model_name: sim-model, base_url: 'http://{sim}', ignore_eos: true}}\n\
             api: {{type: completion, streaming: true}}\n\
             data: {{type: mock}}\n\
             load: {{type: constant, request_retries: 4, request_retry_backoff_sec: 0.01, stages: [{{rate: 10, duration: 3}}]}}\n"
        ),
    );
    let (run, _) = run_with_two_agents_and(
        &dir,
        &profile,
        Duration::from_secs(90),
        &["--no-preflight", "--max-failure-rate", "1"],
    )?;
    let r = stage_report(&run, 0)?;
    check_benchmark_run(&r);
    assert_eq!(num(&r, "metrics.requests.total"), 30.0);
    let retries = num(&r, "metrics.metadata.request_retries.retries");
    let retried = num(&r, "metrics.metadata.request_retries.retried_requests");
    let recovered = num(&r, "metrics.metadata.request_retries.recovered");
    let resent = num(&r, "metrics.metadata.connections.retries");
    assert_eq!(num(&r, "metrics.metadata.request_retries.limit"), 4.0);
    // The sim saw every attempt: one per request, one per retry, one per resend of a request
    // whose kept-alive connection was closed under it.
    let served = ground_truth(&truth)?;
    assert_eq!(
        served.len() as f64,
        30.0 + retries + resent,
        "attempts vs the sim's ground truth"
    );
    let mut attempts: BTreeMap<u64, u32> = BTreeMap::new();
    for s in &served {
        *attempts.entry(s.index).or_default() += 1;
    }
    assert_eq!(attempts.len(), 30, "every request reached the sim");
    assert!(
        retries >= 1.0 && retried >= 1.0,
        "retries {retries}, retried {retried}"
    );
    assert!(
        recovered >= 1.0 && recovered <= retried,
        "recovered {recovered} of {retried}"
    );
    // A request is ok or failed by its last attempt; the recovered ones are ok.
    let ok = 30.0 - num(&r, "metrics.requests.failures");
    assert!(ok >= recovered, "ok {ok}, recovered {recovered}");
    Ok(())
}

#[test]
fn slo_headers_are_sent_and_are_the_goodput_objectives() -> anyhow::Result<()> {
    let dir = scratch("ip_slo_headers");
    let (_sim, sim) = start_sim(
        &dir,
        "sim",
        &[
            "--deterministic",
            "--ttft-ms",
            "2",
            "--itl-ms",
            "1",
            "--log-header",
            "x-ttft-objective",
            "--log-header",
            "x-slo-tpot-s",
        ],
    )?;
    // TTFT within 30 s (every request meets it), TPOT within 1 µs (none does).
    let profile = write(
        &dir,
        "profile.yaml",
        &format!(
            "server: {{type: vllm, model_name: sim-model, base_url: 'http://{sim}', ignore_eos: true}}\n\
             api: {{type: completion, streaming: true, slo_unit: s, slo_ttft_header: x-ttft-objective,\n\
             \x20      headers: {{x-ttft-objective: '30', x-slo-tpot-s: '0.000001'}}}}\n\
             data: {{type: mock}}\n\
             load: {{type: constant, stages: [{{rate: 10, duration: 1}}]}}\n"
        ),
    );
    let (run, _) = run_with_two_agents(&dir, &profile, Duration::from_secs(60))?;
    let r = stage_report(&run, 0)?;
    assert_eq!(num(&r, "metrics.requests.total"), 10.0);
    assert_eq!(num(&r, "metrics.requests.failures"), 0.0);
    let ttft = logged_header(&dir, "x-ttft-objective")?;
    let tpot = logged_header(&dir, "x-slo-tpot-s")?;
    let ids: Vec<String> = (0..10).map(|j| format!("0-{j}")).collect();
    for id in &ids {
        assert_eq!(ttft.get(id).map(String::as_str), Some("30"), "{id}");
        assert_eq!(tpot.get(id).map(String::as_str), Some("0.000001"), "{id}");
    }
    assert_eq!(num(&r, "metrics.metadata.goodput.constraints_s.ttft"), 30.0);
    assert_eq!(
        num(&r, "metrics.metadata.goodput.constraints_s.tpot"),
        0.000001
    );
    assert_eq!(
        num(&r, "metrics.metadata.goodput.good_requests"),
        0.0,
        "TPOT 1 µs: none"
    );
    Ok(())
}

#[test]
fn a_server_assigned_session_token_is_sent_back_on_the_later_rounds() -> anyhow::Result<()> {
    let dir = scratch("ip_session_token");
    let truth = dir.join("truth.jsonl");
    let truth_arg = truth.display().to_string();
    let (_sim, sim) = start_sim(
        &dir,
        "sim",
        &[
            "--deterministic",
            "--ttft-ms",
            "2",
            "--itl-ms",
            "1",
            "--session-token-header",
            "x-session-token",
            "--log-header",
            "x-session-token",
            "--log-header",
            "x-session-id",
            "--ground-truth",
            &truth_arg,
        ],
    )?;
    let profile = write(
        &dir,
        "profile.yaml",
        &format!(
            "server: {{type: vllm, model_name: sim-model, base_url: 'http://{sim}', ignore_eos: true}}\n\
             api: {{type: completion, streaming: true, session_id_header_key: x-session-id, session_token_header_key: x-session-token}}\n\
             data:\n\
             \x20 type: shared_prefix\n\
             \x20 shared_prefix: {{num_groups: 3, num_prompts_per_group: 4, system_prompt_len: 20, question_len: 5, output_len: 6, enable_multi_turn_chat: true}}\n\
             load: {{type: constant, stages: [{{rate: 1.5, duration: 2}}]}}\n"
        ),
    );
    let (run, _) = run_with_two_agents(&dir, &profile, Duration::from_secs(60))?;
    let r = stage_report(&run, 0)?;
    assert_eq!(num(&r, "metrics.requests.total"), 12.0);
    assert_eq!(num(&r, "metrics.requests.failures"), 0.0);
    let session_of = logged_header(&dir, "x-session-id")?;
    let token_of = logged_header(&dir, "x-session-token")?;
    // Per session: its rounds' request ids by prompt length (round k: 20 + 11k + 5 tokens).
    let mut rounds: BTreeMap<String, BTreeMap<u64, String>> = BTreeMap::new();
    for line in std::fs::read_to_string(&truth)?.lines() {
        let rec: serde_json::Value = serde_json::from_str(line)?;
        let id = rec["request_id"].as_str().unwrap_or("").to_string();
        if id.starts_with("preflight-") {
            continue;
        }
        let session = session_of.get(&id).cloned().unwrap_or_default();
        let prompt = rec["prompt_tokens"].as_u64().unwrap_or(0);
        rounds.entry(session).or_default().insert(prompt, id);
    }
    assert_eq!(rounds.len(), 3, "{rounds:?}");
    for (session, by_prompt) in &rounds {
        let ids: Vec<&String> = by_prompt.values().collect();
        assert_eq!(ids.len(), 4, "session {session}: {by_prompt:?}");
        // Round 0 had no token; the sim gave it tok-<its id>; every later round sent that back.
        assert!(
            !token_of.contains_key(ids[0]),
            "session {session}: round 0 sent a token"
        );
        for later in &ids[1..] {
            assert_eq!(
                token_of.get(*later),
                Some(&format!("tok-{}", ids[0])),
                "session {session}, request {later}"
            );
        }
    }
    Ok(())
}
