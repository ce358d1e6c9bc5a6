//! Issue 5's multi-process checks of the load engine: open-loop timing under a server stall,
//! a rate sweep over four agents with skewed clocks, and the concurrency sweep shorthand.

use fleetbench_e2e::*;
use std::time::Duration;

/// The sim stops (SIGSTOP) for 1 s in the middle of a constant-rate stage: requests intended
/// during the stall carry it in their latency, and the agents keep sending on time.
#[test]
fn a_server_stall_shows_in_latency_not_in_send_lag() -> anyhow::Result<()> {
    let dir = scratch("stall");
    let (sim, sim_addr) = start_sim(
        &dir,
        "sim",
        &["--deterministic", "--ttft-ms", "20", "--itl-ms", "5"],
    )?;
    let profile = write_profile(
        &dir,
        &sim_addr,
        16,
        16,
        "load: {type: constant, stages: [{rate: 20, duration: 6}]}",
    );
    let (mut coord, addr) = start_coordinator_run(&dir, &profile, 2, &[])?;
    let _a = start_agent(&dir, &addr, "a", "client", &[])?;
    let _b = start_agent(&dir, &addr, "b", "client", &[])?;
    // Agents join within a second and the stage starts 0.5 s later: stop the server mid-stage.
    std::thread::sleep(Duration::from_millis(3000));
    signal(sim.pid(), "STOP");
    std::thread::sleep(Duration::from_millis(1000));
    signal(sim.pid(), "CONT");
    assert!(
        coord.wait(Duration::from_secs(60))?.success(),
        "coordinator failed"
    );

    let r = stage_report(&run_dir(&dir)?, 0)?;
    assert_eq!(num(&r, "metrics.requests.total"), 120.0);
    assert_eq!(num(&r, "metrics.requests.failures"), 0.0);
    let ttft_max = num(&r, "metrics.latency.time_to_first_token.max");
    let ttft_p50 = num(&r, "metrics.latency.time_to_first_token.p50");
    assert!(
        ttft_max >= 800.0,
        "the request intended at the stall's start waited ~1 s: max TTFT {ttft_max} ms"
    );
    assert!(
        ttft_p50 < 100.0,
        "most requests were not stalled: p50 TTFT {ttft_p50} ms"
    );
    // ~20 requests were intended during the stall: their TTFT is far above the 20 ms truth.
    let p75 = num(&r, "metrics.latency.time_to_first_token.p75");
    let p90 = num(&r, "metrics.latency.time_to_first_token.p90");
    assert!(
        p90 > 200.0 && p75 < p90,
        "stalled requests form the tail: p75 {p75}, p90 {p90}"
    );
    let lag_p99 = num(&r, "metrics.metadata.send_lag.p99");
    assert!(
        lag_p99 < 50.0,
        "sends stayed on schedule during the stall: send lag p99 {lag_p99} ms"
    );
    Ok(())
}

fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status();
    assert!(ok.is_ok_and(|s| s.success()), "kill -{sig} {pid}");
}

/// How far apart four agents on one loaded 2-core machine may start a stage.
const MAX_START_SPREAD_MS: f64 = 20.0;

/// Coordinator + 4 agents, a sweep of 3 rates; two agents' clocks are off by +250 ms and
/// −400 ms. Counts equal the plan, offsets are estimated within 2 ms, stages start together
/// (within [`MAX_START_SPREAD_MS`] of OS wake-up).
#[test]
fn four_agents_with_skewed_clocks_run_a_rate_sweep_in_step() -> anyhow::Result<()> {
    let dir = scratch("sweep4");
    let (_sim, sim_addr) = start_sim(
        &dir,
        "sim",
        &["--deterministic", "--ttft-ms", "10", "--itl-ms", "2"],
    )?;
    let profile = write_profile(
        &dir,
        &sim_addr,
        16,
        8,
        "load: {type: constant, rates: [4, 8, 16], stage_duration: 2}",
    );
    let (mut coord, addr) = start_coordinator_run(&dir, &profile, 4, &[])?;
    let offsets = [("a0", 0.0), ("a1", 250.0), ("a2", -400.0), ("a3", 0.0)];
    let _agents: Vec<Proc> = offsets
        .iter()
        .map(|(name, off)| {
            let off = off.to_string();
            start_agent(
                &dir,
                &addr,
                name,
                "client",
                &["--fake-clock-offset-ms", &off],
            )
            .unwrap()
        })
        .collect();
    assert!(
        coord.wait(Duration::from_secs(90))?.success(),
        "coordinator failed"
    );
    let run = run_dir(&dir)?;
    for (stage, expected) in [(0, 8.0), (1, 16.0), (2, 32.0)] {
        let r = stage_report(&run, stage)?;
        check_benchmark_run(&r);
        assert_eq!(num(&r, "metrics.requests.total"), expected, "stage {stage}");
        assert_eq!(num(&r, "metrics.requests.failures"), 0.0);
        let agents = at(&r, "metrics.metadata.agents")
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(agents.len(), 4);
        let mut true_starts = Vec::new();
        let mut offset_errors = Vec::new();
        for a in &agents {
            let id = a["id"].as_str().unwrap();
            let injected = offsets.iter().find(|(n, _)| *n == id).unwrap().1;
            let estimated = a["clock_offset_ms"].as_f64().unwrap();
            assert!(
                (estimated - injected).abs() <= 2.0,
                "{id}: offset {estimated} ms, injected {injected} ms"
            );
            offset_errors.push(estimated - injected);
            let started = a["started_unix_ns"].as_i64().unwrap() as f64 / 1e6 - injected;
            true_starts.push(started);
            assert_eq!(
                a["requests"].as_f64().unwrap(),
                expected / 4.0,
                "{id} share in stage {stage}"
            );
        }
        let first = true_starts.iter().cloned().fold(f64::MAX, f64::min);
        let after_first: Vec<f64> = true_starts.iter().map(|t| t - first).collect();
        let spread = after_first.iter().cloned().fold(f64::MIN, f64::max);
        // The starts are OS wake-ups of four agents sharing the test machine's cores with the
        // sim and the coordinator: under CI's load they have started 5.7 ms apart, and 8.4 ms
        // in a clean-clone CI run of the thirteenth session. The clocks' part of being in step
        // is the offset estimates, checked above to 2 ms; this bound stays far below the
        // smallest injected skew (250 ms), so a start scheduled without the offset still fails.
        assert!(
            spread <= MAX_START_SPREAD_MS,
            "stage {stage}: agents started {spread} ms apart (starts after the first {after_first:?} ms; \
             offset estimate errors {offset_errors:?} ms)"
        );
    }
    Ok(())
}

/// `concurrencies: [1, 3]`: one stage per level, and the sim's ground truth shows exactly that
/// many requests in flight at the busiest moment of each stage.
#[test]
fn concurrency_sweep_keeps_exactly_n_users_busy() -> anyhow::Result<()> {
    let dir = scratch("concurrency");
    let truth = dir.join("truth.jsonl");
    let truth_arg = truth.display().to_string();
    let (_sim, sim_addr) = start_sim(
        &dir,
        "sim",
        &[
            "--deterministic",
            "--ttft-ms",
            "20",
            "--itl-ms",
            "5",
            "--ground-truth",
            &truth_arg,
        ],
    )?;
    let profile = write_profile(
        &dir,
        &sim_addr,
        16,
        10,
        "load: {type: concurrent, concurrencies: [1, 3], stage_requests: 12}",
    );
    let (mut coord, addr) = start_coordinator_run(&dir, &profile, 2, &[])?;
    let _a = start_agent(&dir, &addr, "a", "client", &[])?;
    let _b = start_agent(&dir, &addr, "b", "client", &[])?;
    assert!(
        coord.wait(Duration::from_secs(60))?.success(),
        "coordinator failed"
    );
    let run = run_dir(&dir)?;
    for (stage, users) in [(0u32, 1usize), (1, 3)] {
        let r = stage_report(&run, stage)?;
        assert_eq!(num(&r, "metrics.requests.total"), 12.0);
        assert_eq!(at(&r, "scenario.load.metadata.plan.users"), users);
        // Busy intervals of this stage's requests, from the server's side.
        let mut events = Vec::new();
        for line in std::fs::read_to_string(&truth)?.lines() {
            let v: serde_json::Value = serde_json::from_str(line)?;
            if !v["request_id"]
                .as_str()
                .unwrap_or("")
                .starts_with(&format!("{stage}-"))
            {
                continue;
            }
            let start = v["arrival_unix_us"].as_i64().unwrap();
            let end = v["token_unix_us"]
                .as_array()
                .unwrap()
                .last()
                .unwrap()
                .as_i64()
                .unwrap();
            events.push((start, 1i32));
            events.push((end + 1, -1));
        }
        assert_eq!(
            events.len(),
            24,
            "stage {stage}: 12 requests in the ground truth"
        );
        events.sort();
        let (mut now, mut peak) = (0i32, 0i32);
        for (_, d) in events {
            now += d;
            peak = peak.max(now);
        }
        assert_eq!(
            peak as usize, users,
            "stage {stage}: peak requests in flight"
        );
    }
    Ok(())
}
