//! `load.sweep`, inference-perf's saturation sweep, across two agents against a sim of known
//! capacity (8 sequences at once, one 20 ms step per token: about 20 requests/s at 20 output
//! tokens): the probe runs as stage 0, the saturation rate it finds is the sim's throughput
//! within a tolerance, and the generated stages run at inference-perf's rates, every request
//! seen by the sim. Too small a probe fails the run with inference-perf's advice.

use fleetbench_e2e::*;
use serde_json::Value;
use std::time::Duration;

/// The sim's card: 8 sequences at once, every step 20 ms whatever it holds.
const CARD: &str = "name: saturation\nmax_num_seqs: 8\nmax_num_batched_tokens: 4096\n\
max_model_len: 4096\nblock_size: 16\nnum_gpu_blocks: 4000\nenable_prefix_caching: false\n\
step: {base_us: 20000, prefill_us_per_token: 0, decode_us_per_seq: 0}\n";

/// One line of the sim's ground truth: the request id and when its last token left, µs.
fn served(truth: &std::path::Path) -> anyhow::Result<Vec<(u32, u64)>> {
    let mut out = Vec::new();
    for line in std::fs::read_to_string(truth)?.lines() {
        let v: Value = serde_json::from_str(line)?;
        let id = v["request_id"].as_str().unwrap_or("");
        // `<stage>-<index>`; the preflight's `preflight-<shard>` is not a stage's.
        let Some(Ok(stage)) = id.split_once('-').map(|(s, _)| s.parse()) else {
            continue;
        };
        let end = (v["token_unix_us"].as_array())
            .and_then(|t| t.last())
            .and_then(Value::as_u64)
            .unwrap_or(0);
        out.push((stage, end));
    }
    Ok(out)
}

/// A sim with [`CARD`] writing its ground truth: the process, its address, the truth file.
fn sim_of_known_capacity(
    dir: &std::path::Path,
) -> anyhow::Result<(Proc, String, std::path::PathBuf)> {
    let card = dir.join("card.yaml");
    std::fs::write(&card, CARD)?;
    let truth = dir.join("truth.jsonl");
    let (card_arg, truth_arg) = (card.display().to_string(), truth.display().to_string());
    let (sim, addr) = start_sim(
        dir,
        "sim",
        &["--card", &card_arg, "--ground-truth", &truth_arg],
    )?;
    Ok((sim, addr, truth))
}

fn round2(x: f64) -> f64 {
    format!("{x:.2}").parse().unwrap()
}

#[test]
fn the_probe_finds_the_sims_capacity_and_the_generated_stages_run() -> anyhow::Result<()> {
    let dir = scratch("saturation_sweep");
    let (_sim, sim, truth) = sim_of_known_capacity(&dir)?;
    let profile = dir.join("profile.yaml");
    std::fs::write(
        &profile,
        format!(
            "server: {{type: vllm, model_name: sim-model, base_url: 'http://{sim}', ignore_eos: true}}\n\
             api: {{type: completion, streaming: true}}\n\
             data: {{type: random, input_distribution: {{min: 8, max: 8, mean: 8}},\n\
             \x20 output_distribution: {{min: 10, max: 30, mean: 20, std_dev: 6}}}}\n\
             load: {{type: constant, interval: 0.5,\n\
             \x20 sweep: {{type: linear, num_requests: 200, timeout: 30, num_stages: 3, stage_duration: 2, saturation_percentile: 50}}}}\n"
        ),
    )?;
    let (run, _) = run_with_two_agents(&dir, &profile, Duration::from_secs(150))?;

    // The probe: stage 0, 200 requests, every one seen by the sim.
    let sat: Value = serde_json::from_slice(&std::fs::read(run.join("saturation.json"))?)?;
    let plan: Value = serde_json::from_slice(&std::fs::read(run.join("plan.json"))?)?;
    let stages = plan["stages"].as_array().expect("plan stages");
    assert_eq!(stages.len(), 4, "the probe and 3 generated stages");
    assert_eq!(stages[0]["label"], "sweep-probe");
    assert_eq!(stages[0]["load"]["rate"], 40.0);
    let probe = stage_report(&run, 0)?;
    check_benchmark_run(&probe);
    assert_eq!(num(&probe, "metrics.requests.total"), 200.0);
    assert_eq!(num(&probe, "metrics.requests.failures"), 0.0);
    assert_eq!(sat["requests_sent"], 200);
    let records = std::fs::read_to_string(run.join("requests.jsonl"))?;
    assert_eq!(
        records
            .lines()
            .filter(|l| l.contains("\"stage\":0"))
            .count(),
        200,
        "the probe's per-request records"
    );
    let served = served(&truth)?;
    let probe_ends: Vec<u64> = (served.iter())
        .filter(|(s, _)| *s == 0)
        .map(|(_, e)| *e)
        .collect();
    assert_eq!(probe_ends.len(), 200, "the sim served the probe");

    // The saturation rate: the sim's throughput while the probe kept it busy (its completions
    // over the span between the first and the last).
    let (first, last) = (
        *probe_ends.iter().min().unwrap(),
        *probe_ends.iter().max().unwrap(),
    );
    let truth_rate = (probe_ends.len() - 1) as f64 / ((last - first) as f64 / 1e6);
    let rate = sat["saturation_rate"].as_f64().expect("a saturation rate");
    // The probe's own report says the same.
    let said = at(&probe, "metrics.metadata.saturation");
    assert_eq!(said["saturation_rate"], sat["saturation_rate"]);
    assert_eq!(said["stage_rates"], sat["stage_rates"]);
    assert_eq!(said["requests_sent"], 200);
    assert!(
        (rate - truth_rate).abs() <= 0.3 * truth_rate,
        "saturation rate {rate} vs the sim's {truth_rate:.2} requests/s"
    );
    // It is the median (saturation_percentile 50) of the recorded burn-down rates, which come
    // from the recorded samples.
    let mut rates: Vec<f64> = (sat["burn_down_rates"].as_array().unwrap().iter())
        .map(|r| r.as_f64().unwrap())
        .collect();
    assert!(rates.len() >= 2, "{rates:?}");
    rates.sort_by(f64::total_cmp);
    let mid = (rates.len() - 1) as f64 / 2.0;
    let median = (rates[mid.floor() as usize] + rates[mid.ceil() as usize]) / 2.0;
    assert!((rate - median).abs() < 1e-9, "{rate} vs {median}");
    let samples = sat["samples"].as_array().unwrap();
    let falls = (samples.windows(2))
        .filter(|w| w[1]["in_flight"].as_u64() < w[0]["in_flight"].as_u64())
        .count();
    assert_eq!(falls, rates.len());
    assert!(
        samples.iter().any(|s| s["in_flight"].as_u64() > Some(50)),
        "the probe queued at the sim"
    );

    // The generated stages: linear, 3 of 2 s, at inference-perf's rates, each sent in full.
    let want = [1.0, round2(1.0 + (rate - 1.0) / 2.0), round2(rate)];
    let stage_rates: Vec<f64> = (sat["stage_rates"].as_array().unwrap().iter())
        .map(|r| r.as_f64().unwrap())
        .collect();
    assert_eq!(stage_rates, want);
    for (k, want_rate) in want.iter().enumerate() {
        let index = k as u32 + 1;
        let st = &stages[k + 1];
        assert_eq!(st["load"]["type"], "constant");
        assert_eq!(st["load"]["rate"].as_f64(), Some(*want_rate));
        assert_eq!(st["load"]["duration_s"].as_f64(), Some(2.0));
        let r = stage_report(&run, index)?;
        check_benchmark_run(&r);
        let planned = (want_rate * 2.0 - 1e-9).ceil();
        let total = num(&r, "metrics.requests.total");
        assert_eq!(total, planned, "stage {index} at {want_rate} requests/s");
        let seen = served.iter().filter(|(s, _)| *s == index).count();
        assert_eq!(
            seen as f64, total,
            "stage {index}: sent vs the sim's ground truth"
        );
    }
    assert_eq!(
        served.len() as f64,
        200.0 + want.iter().map(|r| (r * 2.0 - 1e-9).ceil()).sum::<f64>()
    );
    Ok(())
}

#[test]
fn too_small_a_probe_fails_the_run_with_inference_perfs_advice() -> anyhow::Result<()> {
    let dir = scratch("saturation_sweep_too_small");
    let (_sim, sim) = start_sim(&dir, "sim", &["--deterministic", "--ttft-ms", "5"])?;
    let profile = write_profile(
        &dir,
        &sim,
        8,
        4,
        "load: {type: constant, sweep: {type: geometric, num_requests: 1, timeout: 6}}",
    );
    let (mut coord, addr) = start_coordinator_run(&dir, &profile, 1, &["--no-preflight"])?;
    let mut agent = start_agent(&dir, &addr, "agent-a", "client", &[])?;
    let status = coord.wait(Duration::from_secs(60))?;
    agent.wait(Duration::from_secs(10))?;
    assert_eq!(status.code(), Some(1), "see {}", dir.display());
    let log = std::fs::read_to_string(dir.join("coordinator.log"))?;
    assert!(
        log.contains("not enough samples to determine saturation")
            && log.contains("load.sweep.num_requests"),
        "{log}"
    );
    let run = run_dir(&dir)?;
    let sat: Value = serde_json::from_slice(&std::fs::read(run.join("saturation.json"))?)?;
    assert_eq!(sat["requests_sent"], 1);
    assert!(sat["saturation_rate"].is_null());
    assert!(!run.join("stage-1").exists(), "no stage was generated");
    Ok(())
}

/// `coordinator serve --state-dir` killed during the probe and started again on its address
/// and state: the resumed probe finishes, the saturation rate is measured from all its
/// records, and the generated stages run — each request of the probe counted once.
#[test]
fn a_coordinator_restarted_during_the_probe_still_generates_and_runs_the_stages(
) -> anyhow::Result<()> {
    use fleetbench_e2e::chaos::run_restarted_during_stage_0;
    let dir = scratch("saturation_sweep_restart");
    let (_sim, sim, truth) = sim_of_known_capacity(&dir)?;
    let profile = write_profile(
        &dir,
        &sim,
        8,
        20,
        "load: {type: constant, sweep: {type: linear, num_requests: 200, timeout: 30, num_stages: 2, stage_duration: 2, saturation_percentile: 50}}",
    );
    let (run, _procs) = run_restarted_during_stage_0(
        &dir,
        &profile,
        Duration::from_millis(1500),
        Duration::from_secs(90),
    )?;

    let sat: Value = serde_json::from_slice(&std::fs::read(run.join("saturation.json"))?)?;
    assert_eq!(sat["requests_sent"], 200, "every probe record, once");
    let rate = sat["saturation_rate"].as_f64().expect("a saturation rate");
    let probe = stage_report(&run, 0)?;
    assert_eq!(num(&probe, "metrics.requests.total"), 200.0);
    assert_eq!(at(&probe, "metrics.metadata.recovered_after_restart"), true);
    assert_eq!(
        at(&probe, "metrics.metadata.saturation.saturation_rate"),
        &sat["saturation_rate"]
    );
    let want = [1.0, round2(rate)];
    let served = served(&truth)?;
    for (k, want_rate) in want.iter().enumerate() {
        let index = k as u32 + 1;
        let r = stage_report(&run, index)?;
        check_benchmark_run(&r);
        let total = num(&r, "metrics.requests.total");
        assert_eq!(total, (want_rate * 2.0 - 1e-9).ceil(), "stage {index}");
        let seen = served.iter().filter(|(s, _)| *s == index).count();
        assert_eq!(seen as f64, total, "stage {index} vs the sim");
    }
    let state = std::fs::read_to_string(run.join("state.jsonl"))?;
    assert!(state.contains("\"saturation\"") && state.contains("\"finished\""));
    Ok(())
}
