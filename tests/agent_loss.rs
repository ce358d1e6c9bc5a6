//! Agent loss with `fleet.on_agent_loss: continue`, against the sim's ground truth: a killed
//! agent's shard keeps exactly its applied snapshots; a frozen agent (SIGSTOP) is declared lost,
//! nothing it sends after the loss is merged, and when it resumes it sends no burst and stops.

use fleetbench_e2e::chaos::*;
use fleetbench_e2e::*;
use serde_json::Value;
use std::time::Duration;

fn agent_entry(r: &Value, id: &str) -> Value {
    at(r, "metrics.metadata.agents")
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == id)
        .unwrap_or_else(|| panic!("agent {id} in the report"))
        .clone()
}

fn lost_entry(r: &Value) -> Value {
    let lost = at(r, "metrics.metadata.lost_shards")
        .as_array()
        .unwrap_or_else(|| panic!("lost_shards in {}", at(r, "metrics.metadata")))
        .clone();
    assert_eq!(lost.len(), 1, "one lost shard: {lost:?}");
    lost[0].clone()
}

/// (b) kill -9 one of three agents: the report counts exactly what the sim served for the two
/// survivors plus what the lost shard's applied snapshots held, and names the lost agent.
#[test]
fn a_killed_agent_keeps_exactly_its_applied_snapshots() -> anyhow::Result<()> {
    let dir = scratch("loss_kill");
    let (_sim, sim_addr, truth) = sim_with_truth(&dir)?;
    let path = write_profile(
        &dir,
        &sim_addr,
        8,
        8,
        "load: {type: constant, stages: [{rate: 15, duration: 5}]}\nfleet: {on_agent_loss: continue}",
    );
    let (mut coord, addr) = start_coordinator_run(&dir, &path, 3, &["--agent-timeout", "1.5"])?;
    let _a = start_agent(&dir, &addr, "a", "client", &[])?;
    let b = start_agent(&dir, &addr, "b", "client", &[])?;
    let _c = start_agent(&dir, &addr, "c", "client", &[])?;
    let run = wait_for_stage(&dir, 0, Duration::from_secs(30))?;
    std::thread::sleep(Duration::from_millis(1200));
    signal(b.pid(), "KILL")?;
    // Exit status: the verdict (degraded) decides it; the report is what is checked here.
    let _ = coord.wait(Duration::from_secs(60))?;
    let r = stage_report(&run, 0)?;
    check_benchmark_run(&r);
    assert_eq!(at(&r, "metrics.metadata.degraded"), true);
    let lost = lost_entry(&r);
    assert_eq!(lost["agent"], "b");
    assert_eq!(lost["shard"], 1);
    assert_eq!(
        at(&r, "metrics.metadata.late_data_policy"),
        "exclude_after_loss"
    );
    assert!(
        lost["lost_from_s"].as_f64().unwrap() <= lost["detected_after_s"].as_f64().unwrap(),
        "the lost window starts at the last applied snapshot, before the detection: {lost}"
    );
    let served = ground_truth(&truth)?;
    let served_by = |shard: u64| served.iter().filter(|s| s.index % 3 == shard).count() as u64;
    assert_eq!(served_by(0), 25, "agent a's whole share");
    assert_eq!(served_by(2), 25, "agent c's whole share");
    let b_counted = agent_entry(&r, "b")["requests"].as_u64().unwrap();
    assert_eq!(lost["requests_counted"].as_u64().unwrap(), b_counted);
    assert!(
        b_counted > 0 && b_counted <= served_by(1),
        "b's applied snapshots: {b_counted}, the sim served {} of b's",
        served_by(1)
    );
    assert_eq!(
        num(&r, "metrics.requests.total") as u64,
        served_by(0) + served_by(2) + b_counted,
        "survivors' ground truth + the lost shard's applied snapshots"
    );
    Ok(())
}

/// (c) SIGSTOP agent b for longer than the loss timeout: it is declared lost and cancelled;
/// after SIGCONT what it sends is excluded, it sends no burst of overdue requests, and it stops.
#[test]
fn a_frozen_agent_is_lost_excluded_and_sends_no_burst() -> anyhow::Result<()> {
    let dir = scratch("loss_stop");
    let (_sim, sim_addr, truth) = sim_with_truth(&dir)?;
    let path = write_profile(
        &dir,
        &sim_addr,
        8,
        8,
        "load: {type: constant, stages: [{rate: 20, duration: 7}]}\nfleet: {on_agent_loss: continue}",
    );
    let (mut coord, addr) = start_coordinator_run(&dir, &path, 2, &["--agent-timeout", "1.5"])?;
    let _a = start_agent(&dir, &addr, "a", "client", &[])?;
    // b's share is 10 req/s: at most ~2 of its overdue requests are within 0.2 s of due.
    let b_flags = ["--max-send-lag", "0.2", "--orphan-timeout", "2"];
    let mut b = start_agent(&dir, &addr, "b", "client", &b_flags)?;
    let run = wait_for_stage(&dir, 0, Duration::from_secs(30))?;
    std::thread::sleep(Duration::from_millis(1000));
    signal(b.pid(), "STOP")?;
    let stopped_at = now_unix_us();
    std::thread::sleep(Duration::from_millis(3500));
    let resumed_at = now_unix_us();
    signal(b.pid(), "CONT")?;
    let _ = coord.wait(Duration::from_secs(60))?;
    assert!(
        b.wait(Duration::from_secs(10)).is_ok(),
        "the frozen agent exits at the run's end"
    );
    let r = stage_report(&run, 0)?;
    check_benchmark_run(&r);
    let lost = lost_entry(&r);
    assert_eq!(lost["agent"], "b");
    let served = ground_truth(&truth)?;
    let b_served: Vec<_> = served.iter().filter(|s| s.index % 2 == 1).collect();
    let before_stop = b_served
        .iter()
        .filter(|s| s.arrival_unix_us < stopped_at)
        .count() as u64;
    let b_counted = agent_entry(&r, "b")["requests"].as_u64().unwrap();
    assert!(
        b_counted <= before_stop,
        "nothing b sends after the loss is merged: counted {b_counted}, served before the stop {before_stop}"
    );
    assert!(
        lost["excluded_snapshots"].as_u64().unwrap() >= 1,
        "b's snapshots after SIGCONT were excluded: {lost}"
    );
    assert!(run.join("snapshots/excluded/stage-0.pb").is_file());
    let after_resume: Vec<i64> = b_served
        .iter()
        .filter(|s| s.arrival_unix_us >= resumed_at - 200_000)
        .map(|s| s.arrival_unix_us - resumed_at)
        .collect();
    assert!(
        after_resume.len() <= 5,
        "no burst after SIGCONT (35 of b's requests were overdue): {after_resume:?} µs after resuming"
    );
    assert!(
        after_resume.iter().all(|&t| t < 2_000_000),
        "b stops within its orphan timeout of resuming: {after_resume:?}"
    );
    let a_served = served.iter().filter(|s| s.index % 2 == 0).count() as u64;
    assert_eq!(a_served, 70, "agent a's whole share");
    assert_eq!(
        num(&r, "metrics.requests.total") as u64,
        a_served + b_counted,
        "a's ground truth + b's applied snapshots"
    );
    Ok(())
}
