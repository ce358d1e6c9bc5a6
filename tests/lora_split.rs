//! inference-perf's `load.lora_traffic_split`, with real processes: every request names one of
//! the listed adapters, and the sim (which records the model that served each request in its
//! ground truth) sees them in the listed proportions.

use fleetbench_e2e::*;
use std::collections::BTreeMap;
use std::time::Duration;

#[test]
fn the_sim_sees_the_adapters_in_the_split_proportions() -> anyhow::Result<()> {
    let dir = scratch("lora_traffic_split");
    let truth = dir.join("truth.jsonl");
    let truth_arg = truth.display().to_string();
    let (_sim, sim) = start_sim(
        &dir,
        "sim",
        &[
            "--deterministic",
            "--lora",
            "lora-a",
            "--lora",
            "lora-b",
            "--ground-truth",
            &truth_arg,
        ],
    )?;
    let profile = write_profile(
        &dir,
        &sim,
        16,
        2,
        "load:\n\
         \x20 type: constant\n\
         \x20 stages: [{rate: inf, num_requests: 400}]\n\
         \x20 base_seed: 7\n\
         \x20 lora_traffic_split:\n\
         \x20   - {name: sim-model, split: 0.5}\n\
         \x20   - {name: lora-a, split: 0.3}\n\
         \x20   - {name: lora-b, split: 0.2}\n",
    );
    let (run, _) = run_with_two_agents(&dir, &profile, Duration::from_secs(60))?;
    let r = stage_report(&run, 0)?;
    check_benchmark_run(&r);
    assert_eq!(num(&r, "metrics.requests.total"), 400.0);
    assert_eq!(num(&r, "metrics.requests.failures"), 0.0);

    let mut seen: BTreeMap<String, f64> = BTreeMap::new();
    let text = std::fs::read_to_string(&truth)?;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let rec: serde_json::Value = serde_json::from_str(line)?;
        // Each agent's test request before the stage is not part of the mix.
        if rec["request_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("preflight-"))
        {
            continue;
        }
        let model = rec["model"].as_str().unwrap_or("(none)").to_string();
        *seen.entry(model).or_default() += 1.0;
    }
    let total: f64 = seen.values().sum();
    assert_eq!(total, 400.0, "{seen:?}");
    // 400 draws: a share's standard deviation is at most 0.025; allow 0.07.
    for (name, want) in [("sim-model", 0.5), ("lora-a", 0.3), ("lora-b", 0.2)] {
        let got = seen.get(name).copied().unwrap_or(0.0) / total;
        assert!(
            (got - want).abs() < 0.07,
            "{name}: {got:.3} of the requests, split {want} ({seen:?})"
        );
    }
    assert_eq!(seen.len(), 3, "{seen:?}");
    Ok(())
}
