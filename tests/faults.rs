//! Faults on both sides: a server that errors, resets or sends malformed SSE is counted and
//! classified; an agent that dies mid-stage fails the run (default) or, with
//! `fleet.on_agent_loss: continue`, leaves a degraded report that keeps what it had sent.

use fleetbench_e2e::*;
use std::time::Duration;

#[test]
fn server_faults_are_counted_by_class() -> anyhow::Result<()> {
    for (fault, class) in [
        ("http_503", "http_503"),
        ("reset:4", "truncated"),
        ("malformed", "malformed"),
        ("stream_error", "stream_error"),
    ] {
        let dir = scratch(&format!("fault_{}", class));
        let (_sim, sim_addr) = start_sim(
            &dir,
            "sim",
            &[
                "--deterministic",
                "--ttft-ms",
                "2",
                "--itl-ms",
                "1",
                "--fault",
                fault,
                "--fault-rate",
                "0.5",
                "--seed",
                "3",
            ],
        )?;
        let path = write_profile(
            &dir,
            &sim_addr,
            8,
            16,
            "load: {type: constant, stages: [{rate: 20, duration: 2}]}",
        );
        // About half of the requests fail by design: the stage is not judged failed for it,
        // and the test request before it could hit the fault too.
        let flags = ["--max-failure-rate", "1", "--no-preflight"];
        let (mut coord, addr) = start_coordinator_run(&dir, &path, 1, &flags)?;
        let mut a = start_agent(&dir, &addr, "a", "client", &[])?;
        assert!(
            coord.wait(Duration::from_secs(60))?.success(),
            "{fault}: coordinator failed"
        );
        assert!(
            a.wait(Duration::from_secs(10))?.success(),
            "{fault}: the agent survives"
        );
        let r = stage_report(&run_dir(&dir)?, 0)?;
        check_benchmark_run(&r);
        assert_eq!(
            num(&r, "metrics.requests.total"),
            40.0,
            "{fault}: every request is counted"
        );
        let failures = num(&r, "metrics.requests.failures");
        let by_class = at(&r, &format!("metrics.metadata.failures_by_class.{class}"))
            .as_f64()
            .unwrap_or(0.0);
        assert!(
            failures > 0.0 && failures < 40.0,
            "{fault}: about half fail, got {failures}"
        );
        assert_eq!(
            by_class,
            failures,
            "{fault}: every failure is classified {class}: {}",
            at(&r, "metrics.metadata.failures_by_class")
        );
        // Only ok requests enter the latency histograms.
        let ok = 40.0 - failures;
        assert_eq!(num(&r, "metrics.throughput.requests_per_sec"), ok / 2.0);
    }
    Ok(())
}

/// Two agents at 10 req/s for 8 s; agent `b` is killed after `kill_after`. Returns the scratch
/// dir and the coordinator's exit status.
fn run_losing_agent_b(
    test: &str,
    fleet: &str,
    kill_after: Duration,
) -> anyhow::Result<(std::path::PathBuf, std::process::ExitStatus)> {
    let dir = scratch(test);
    let (_sim, sim_addr) = start_sim(
        &dir,
        "sim",
        &["--deterministic", "--ttft-ms", "2", "--itl-ms", "1"],
    )?;
    let load = format!("load: {{type: constant, stages: [{{rate: 10, duration: 8}}]}}\n{fleet}");
    let path = write_profile(&dir, &sim_addr, 8, 16, &load);
    let (mut coord, addr) = start_coordinator_run(&dir, &path, 2, &["--agent-timeout", "1.5"])?;
    let _a = start_agent(&dir, &addr, "a", "client", &[])?;
    let b = start_agent(&dir, &addr, "b", "client", &[])?;
    std::thread::sleep(kill_after);
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &b.pid().to_string()])
        .status();
    assert!(killed.is_ok_and(|s| s.success()));
    let status = coord.wait(Duration::from_secs(60))?;
    Ok((dir, status))
}

#[test]
fn a_lost_agent_fails_the_run_by_default() -> anyhow::Result<()> {
    let (dir, status) = run_losing_agent_b("agent_lost_fail", "", Duration::from_secs(3))?;
    assert!(!status.success(), "the run fails when an agent is lost");
    let log = std::fs::read_to_string(dir.join("coordinator.log"))?;
    assert!(
        log.contains("agent b was lost"),
        "the error names the agent: {log}"
    );
    Ok(())
}

#[test]
fn with_on_agent_loss_continue_the_report_is_degraded_and_keeps_what_arrived() -> anyhow::Result<()>
{
    let fleet = "fleet: {on_agent_loss: continue}";
    let (dir, status) = run_losing_agent_b("agent_lost_continue", fleet, Duration::from_secs(4))?;
    assert_eq!(
        status.code(),
        Some(4),
        "the run completes without agent b, degraded (exit 4 without --allow-degraded)"
    );
    let run = run_dir(&dir)?;
    let r = stage_report(&run, 0)?;
    check_benchmark_run(&r);
    assert_eq!(at(&r, "metadata.verdict.status"), "degraded");
    let txt = std::fs::read_to_string(run.join("SUMMARY.txt"))?;
    assert!(txt.contains("Verdict: DEGRADED"), "{txt}");
    assert!(txt.contains("shard 1 (agent b) was lost"), "{txt}");
    let html = std::fs::read_to_string(run.join("report.html"))?;
    assert!(html.contains("<div class=\"banner degraded\""));
    assert!(html.contains("shard 1 (agent b) was lost"));
    assert_eq!(at(&r, "metrics.metadata.degraded"), true);
    let lost = at(&r, "metrics.metadata.lost_shards")
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(lost.len(), 1);
    assert_eq!(lost[0]["agent"], "b");
    let agents = at(&r, "metrics.metadata.agents")
        .as_array()
        .unwrap()
        .clone();
    let a = agents.iter().find(|x| x["id"] == "a").unwrap();
    let b = agents.iter().find(|x| x["id"] == "b").unwrap();
    assert_eq!(a["requests"], 40, "agent a's whole share");
    let b_requests = b["requests"].as_u64().unwrap();
    assert!(
        b_requests > 0 && b_requests < 40,
        "agent b's snapshots from before its death count: {b_requests}"
    );
    assert_eq!(num(&r, "metrics.requests.total"), 40.0 + b_requests as f64);
    Ok(())
}
