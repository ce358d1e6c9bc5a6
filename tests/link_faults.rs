//! Faults of the control link and of the coordinator: a short break of an agent's link costs
//! nothing; Ctrl-C on `coordinator run` stops the load and leaves a partial report; agents whose
//! coordinator died stop sending load within their orphan timeout. Counts are checked against
//! the sim's ground truth.

use fleetbench_e2e::chaos::*;
use fleetbench_e2e::*;
use std::time::Duration;

/// (d) Agent `b` reaches the coordinator through a proxy that cuts the link for 300 ms in the
/// middle of the stage: the agent reconnects at once, resends what was not acknowledged, and
/// the run passes with every request counted once.
#[test]
fn a_short_link_break_mid_stage_costs_nothing() -> anyhow::Result<()> {
    let dir = scratch("link_break");
    let (_sim, sim_addr, truth) = sim_with_truth(&dir)?;
    let path = write_profile(
        &dir,
        &sim_addr,
        8,
        8,
        "load: {type: constant, stages: [{rate: 20, duration: 6}]}",
    );
    // Loss timeout well below the rest of the stage: an agent that could not rejoin before
    // its stage ended (as when its Hello waited on the telemetry lock) would be lost.
    let (mut coord, addr) = start_coordinator_run(&dir, &path, 2, &["--agent-timeout", "2.5"])?;
    let proxy = LinkProxy::start(&addr)?;
    let mut a = start_agent(&dir, &addr, "a", "client", &[])?;
    let mut b = start_agent(&dir, &proxy.addr, "b", "client", &[])?;
    wait_for_stage(&dir, 0, Duration::from_secs(30))?;
    std::thread::sleep(Duration::from_millis(800));
    proxy.cut(Duration::from_millis(300));
    assert!(
        coord.wait(Duration::from_secs(60))?.success(),
        "the run passes: see {}",
        dir.join("coordinator.log").display()
    );
    assert!(a.wait(Duration::from_secs(10))?.success());
    assert!(
        b.wait(Duration::from_secs(10))?.success(),
        "agent b ends well"
    );
    let b_log = std::fs::read_to_string(dir.join("b.log"))?;
    assert!(
        b_log.contains("reconnecting"),
        "agent b saw its link break: {b_log}"
    );
    let r = stage_report(&run_dir(&dir)?, 0)?;
    assert!(at(&r, "metrics.metadata.lost_shards").is_null());
    assert_eq!(num(&r, "metrics.requests.total"), 120.0, "the plan's 120");
    assert_eq!(num(&r, "metrics.requests.failures"), 0.0);
    let served = ground_truth(&truth)?;
    assert_eq!(served.len(), 120, "the sim served each request once");
    let agents = at(&r, "metrics.metadata.agents")
        .as_array()
        .unwrap()
        .clone();
    for (shard, x) in agents.iter().enumerate() {
        let truth_n = served
            .iter()
            .filter(|s| s.index % 2 == shard as u64)
            .count();
        assert_eq!(
            x["requests"].as_u64().unwrap() as usize,
            truth_n,
            "agent {}: counted = served",
            x["id"]
        );
    }
    Ok(())
}

/// (f) SIGINT on `coordinator run` in the middle of a stage: exit 130, the stage's report is
/// written and marked partial, and the agents send nothing more.
#[test]
fn ctrl_c_mid_stage_writes_a_partial_report_and_stops_the_load() -> anyhow::Result<()> {
    let dir = scratch("interrupt_run");
    let (_sim, sim_addr, truth) = sim_with_truth(&dir)?;
    let path = write_profile(
        &dir,
        &sim_addr,
        8,
        8,
        "load: {type: constant, stages: [{rate: 20, duration: 30}, {rate: 20, duration: 5}]}",
    );
    let (mut coord, addr) = start_coordinator_run(&dir, &path, 2, &[])?;
    let mut a = start_agent(&dir, &addr, "a", "client", &[])?;
    let mut b = start_agent(&dir, &addr, "b", "client", &[])?;
    let run = wait_for_stage(&dir, 0, Duration::from_secs(30))?;
    std::thread::sleep(Duration::from_millis(1500));
    signal(coord.pid(), "INT")?;
    let stopped_at = now_unix_us();
    let status = coord.wait(Duration::from_secs(30))?;
    assert_eq!(status.code(), Some(130), "exit status after SIGINT");
    assert!(a.wait(Duration::from_secs(10))?.success(), "agent a exits");
    assert!(b.wait(Duration::from_secs(10))?.success(), "agent b exits");
    let r = stage_report(&run, 0)?;
    check_benchmark_run(&r);
    assert_eq!(at(&r, "metrics.metadata.partial"), true);
    assert!(
        !run.join("stage-1").exists(),
        "no stage starts after the stop"
    );
    // Everything the sim served was counted (the agents flushed their last snapshots).
    std::thread::sleep(Duration::from_secs(2));
    let served = ground_truth(&truth)?;
    assert_eq!(
        num(&r, "metrics.requests.total") as usize,
        served.len(),
        "counted = served"
    );
    let late: Vec<_> = served
        .iter()
        .filter(|s| s.arrival_unix_us > stopped_at + 1_000_000)
        .collect();
    assert!(late.is_empty(), "requests after the stop: {late:?}");
    Ok(())
}

/// Agents whose coordinator is killed mid-stage stop sending load within their orphan timeout.
#[test]
fn orphaned_agents_stop_sending_load() -> anyhow::Result<()> {
    let dir = scratch("orphaned");
    let (_sim, sim_addr, truth) = sim_with_truth(&dir)?;
    let path = write_profile(
        &dir,
        &sim_addr,
        8,
        8,
        "load: {type: constant, stages: [{rate: 20, duration: 30}]}",
    );
    let (coord, addr) = start_coordinator_run(&dir, &path, 1, &[])?;
    let mut a = start_agent(&dir, &addr, "a", "client", &["--orphan-timeout", "1"])?;
    wait_for_stage(&dir, 0, Duration::from_secs(30))?;
    std::thread::sleep(Duration::from_millis(500));
    signal(coord.pid(), "KILL")?;
    let killed_at = now_unix_us();
    drop(coord);
    // Orphan timeout 1 s, a reconnect attempt every 250 ms, the stop's drain 1 s.
    std::thread::sleep(Duration::from_secs(4));
    let served = ground_truth(&truth)?;
    let late: Vec<_> = served
        .iter()
        .filter(|s| s.arrival_unix_us > killed_at + 2_000_000)
        .collect();
    assert!(
        late.is_empty(),
        "{} requests more than 2 s after the coordinator died",
        late.len()
    );
    assert!(
        served.iter().any(|s| s.arrival_unix_us > killed_at),
        "the agent kept loading until its orphan timeout"
    );
    let log = std::fs::read_to_string(dir.join("a.log"))?;
    assert!(log.contains("orphaned"), "the agent says why it stopped");
    signal(a.pid(), "TERM")?;
    assert!(a.wait(Duration::from_secs(10)).is_ok(), "exits on SIGTERM");
    Ok(())
}

/// (e) kill -9 `coordinator serve --state-dir` mid-stage and start it again on the same state
/// dir: the agents reattach, resend what was not acknowledged, the stage finishes, the next
/// stage runs, and every request the sim served is counted exactly once.
#[test]
fn a_restarted_coordinator_finishes_the_stage_counting_each_request_once() -> anyhow::Result<()> {
    let dir = scratch("restart");
    let (_sim, sim_addr, truth) = sim_with_truth(&dir)?;
    let path = write_profile(
        &dir,
        &sim_addr,
        8,
        8,
        "load: {type: constant, stages: [{rate: 20, duration: 4}, {rate: 20, duration: 2}]}",
    );
    let (run, _procs) = run_restarted_during_stage_0(
        &dir,
        &path,
        Duration::from_millis(1200),
        Duration::from_secs(30),
    )?;
    let r = stage_report(&run, 0)?;
    check_benchmark_run(&r);
    assert_eq!(at(&r, "metrics.metadata.recovered_after_restart"), true);
    assert!(
        at(&r, "metrics.metadata.partial").is_null(),
        "every shard came back and finished"
    );
    let served = ground_truth(&truth)?;
    let served_in = |k: u32| served.iter().filter(|s| s.stage == k).count();
    assert_eq!(served_in(0), 80, "the sim served stage 0's plan");
    assert_eq!(
        num(&r, "metrics.requests.total") as usize,
        served_in(0),
        "each request counted once"
    );
    let r1 = stage_report(&run, 1)?;
    assert_eq!(served_in(1), 40, "the next stage ran after the restart");
    assert_eq!(num(&r1, "metrics.requests.total") as usize, served_in(1));
    let state = std::fs::read_to_string(run.join("state.jsonl"))?;
    assert!(
        state.contains("\"finished\""),
        "the state log closes the run"
    );
    Ok(())
}

/// `report render` of a run directory whose stage never finished (the coordinator was killed):
/// a partial report built from the stored snapshots.
#[test]
fn report_render_builds_unfinished_stages_from_their_snapshots() -> anyhow::Result<()> {
    let dir = scratch("render_unfinished");
    let (_sim, sim_addr, _truth) = sim_with_truth(&dir)?;
    let path = write_profile(
        &dir,
        &sim_addr,
        8,
        8,
        "load: {type: constant, stages: [{rate: 20, duration: 20}]}",
    );
    let (coord, addr) = start_coordinator_run(&dir, &path, 1, &[])?;
    let _a = start_agent(&dir, &addr, "a", "client", &["--orphan-timeout", "1"])?;
    let run = wait_for_stage(&dir, 0, Duration::from_secs(30))?;
    std::thread::sleep(Duration::from_millis(1500));
    signal(coord.pid(), "KILL")?;
    drop(coord);
    assert!(!run.join("stage-0/report.json").exists());
    let out = std::process::Command::new(bin("coordinator"))
        .args(["report", "render", &run.display().to_string()])
        .output()?;
    assert!(
        out.status.success(),
        "report render: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = stage_report(&run, 0)?;
    check_benchmark_run(&r);
    assert_eq!(at(&r, "metrics.metadata.partial"), true);
    assert!(
        num(&r, "metrics.requests.total") >= 20.0,
        "about 2 s of load at 20 req/s"
    );
    assert!(run.join("report.html").is_file());
    Ok(())
}

/// SIGTERM on an agent mid-stage: it stops sending, flushes its last snapshot and exits; every
/// request the sim served for it is counted.
#[test]
fn a_terminated_agent_flushes_its_last_snapshot_and_exits() -> anyhow::Result<()> {
    let dir = scratch("agent_term");
    let (_sim, sim_addr, truth) = sim_with_truth(&dir)?;
    let path = write_profile(
        &dir,
        &sim_addr,
        8,
        8,
        "load: {type: constant, stages: [{rate: 20, duration: 4}]}\nfleet: {on_agent_loss: continue}",
    );
    let (mut coord, addr) = start_coordinator_run(&dir, &path, 2, &[])?;
    let _a = start_agent(&dir, &addr, "a", "client", &[])?;
    let mut b = start_agent(&dir, &addr, "b", "client", &[])?;
    let run = wait_for_stage(&dir, 0, Duration::from_secs(30))?;
    std::thread::sleep(Duration::from_millis(700));
    signal(b.pid(), "TERM")?;
    let termed_at = now_unix_us();
    assert!(
        b.wait(Duration::from_secs(8))?.success(),
        "the agent exits cleanly on SIGTERM"
    );
    let _ = coord.wait(Duration::from_secs(60))?;
    let r = stage_report(&run, 0)?;
    let served = ground_truth(&truth)?;
    let b_served = served.iter().filter(|s| s.index % 2 == 1).count() as u64;
    assert!(
        served
            .iter()
            .filter(|s| s.index % 2 == 1)
            .all(|s| s.arrival_unix_us < termed_at + 500_000),
        "b sent nothing after SIGTERM"
    );
    assert!(b_served < 40, "b stopped before its share ended");
    let agents = at(&r, "metrics.metadata.agents")
        .as_array()
        .unwrap()
        .clone();
    let b_counted = agents.iter().find(|x| x["id"] == "b").unwrap()["requests"]
        .as_u64()
        .unwrap();
    assert_eq!(
        b_counted, b_served,
        "b's last snapshot arrived: counted = served"
    );
    Ok(())
}
