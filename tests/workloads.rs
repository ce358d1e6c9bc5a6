//! Issue 6's checks of the profile library and the data sources, with real processes:
//! every profile in `profiles/` passes `coordinator validate`; short variants of representative
//! profiles (the file unchanged, `-o` overrides scaling durations and counts down) run against a
//! deterministic sim and their reports show the lengths the profiles define; an inference-perf
//! config in llm-d-benchmark's form runs unchanged; a LoRA mix names only served adapters;
//! shared-prefix and multi-turn profiles get more prefix-cache hits on the engine-mode sim than
//! their non-shared twin.

use fleetbench_e2e::*;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn profiles_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../profiles")
}

/// The environment the library's placeholders name (a dummy endpoint: runs override it).
fn set_profile_env(endpoint: &str) {
    for (k, v) in [
        ("FLEETBENCH_ENDPOINT", endpoint),
        ("LLMDBENCH_DEPLOY_CURRENT_MODEL", "sim-model"),
        ("LLMDBENCH_HARNESS_STACK_ENDPOINT_URL", endpoint),
    ] {
        std::env::set_var(k, v);
    }
    // The tokenizer the project ships for tests (a tiny BPE): prompts of single-token words.
    let tok = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/tokenizer");
    std::env::set_var("LLMDBENCH_DEPLOY_CURRENT_TOKENIZER", tok);
}

#[test]
fn every_profile_in_the_library_validates() -> anyhow::Result<()> {
    set_profile_env("http://127.0.0.1:9");
    let mut files: Vec<PathBuf> = std::fs::read_dir(profiles_dir())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 24,
        "the library has {} profiles",
        files.len()
    );
    let readme = std::fs::read_to_string(profiles_dir().join("README.md"))?;
    for f in &files {
        let out = Command::new(bin("coordinator"))
            .arg("validate")
            .arg(f)
            .args(["--agents", "3"])
            .output()?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains(": valid") && stdout.contains("stage 0"),
            "{} does not validate:\n{stdout}\n{}",
            f.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let stem = f.file_stem().unwrap().to_string_lossy();
        assert!(
            readme.contains(&format!("`{stem}.yaml`")),
            "profiles/README.md does not list {stem}.yaml"
        );
    }
    // A broken override is refused with the path and what is allowed.
    let out = Command::new(bin("coordinator"))
        .arg("validate")
        .arg(profiles_dir().join("llmd_sanity_random.yaml"))
        .args(["-o", "min=5"])
        .output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("llmd_sanity_random.yaml")
            && err.contains("data.input_distribution.min")
            && err.contains("data.output_distribution.min"),
        "{err}"
    );
    Ok(())
}

/// Runs PROFILE from the library with OVERRIDES against the sim at SIM with AGENTS agents; the
/// stage-0 report.
fn run_profile(
    name: &str,
    sim: &str,
    overrides: &[&str],
    agents: u32,
    stages: u32,
) -> anyhow::Result<Vec<serde_json::Value>> {
    let dir = scratch(&format!("workloads_{name}"));
    let profile = profiles_dir().join(format!("{name}.yaml"));
    let mut flags: Vec<String> = vec!["-o".into(), format!("server.base_url=http://{sim}")];
    for o in overrides {
        flags.push("-o".into());
        flags.push(o.to_string());
    }
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let (mut coord, addr) = start_coordinator_run(&dir, &profile, agents, &flags)?;
    let mut procs = Vec::new();
    for i in 0..agents {
        procs.push(start_agent(
            &dir,
            &addr,
            &format!("agent-{i}"),
            "client",
            &[],
        )?);
    }
    let status = coord.wait(Duration::from_secs(90))?;
    assert!(
        status.success(),
        "{name}: coordinator failed: see {}",
        dir.join("coordinator.log").display()
    );
    for mut p in procs {
        assert!(p.wait(Duration::from_secs(10))?.success(), "{name}: agent");
    }
    let run = run_dir(&dir)?;
    (0..stages)
        .map(|k| {
            let r = stage_report(&run, k)?;
            check_benchmark_run(&r);
            assert_eq!(num(&r, "metrics.requests.failures"), 0.0, "{name}");
            Ok(r)
        })
        .collect()
}

fn assert_mean(r: &serde_json::Value, what: &str, want: f64, tolerance: f64, name: &str) {
    let got = num(r, &format!("metrics.requests.{what}.mean"));
    assert!(
        (got - want).abs() <= want * tolerance,
        "{name}: {what} mean {got}, the profile defines {want} (±{}%)",
        tolerance * 100.0
    );
}

/// A fixed length: min, mean and max exact, up to the report's histogram resolution (3
/// significant digits: values from 2048 up sit in buckets 2 wide and read as the bucket's upper
/// value, e.g. 2048 as 2049).
fn assert_fixed(r: &serde_json::Value, what: &str, want: f64, name: &str) {
    let resolution = if want >= 2048.0 { want / 1024.0 } else { 0.0 };
    for k in ["min", "mean", "max"] {
        let got = num(r, &format!("metrics.requests.{what}.{k}"));
        assert!(
            (got - want).abs() <= resolution,
            "{name}: {what} {k} is {got}, the profile fixes {want}"
        );
    }
}

/// Word counts of the sample ShareGPT file: (mean first-human-turn words, mean answer words).
fn sharegpt_means() -> (f64, f64) {
    let v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(profiles_dir().join("data/sharegpt_sample.json")).unwrap(),
    )
    .unwrap();
    let (mut i, mut o, mut n) = (0usize, 0usize, 0usize);
    for c in v.as_array().unwrap() {
        let turns = c["conversations"].as_array().unwrap();
        let Some(q) = turns.iter().position(|t| t["from"] == "human") else {
            continue;
        };
        let Some(a) = turns.get(q + 1) else { continue };
        i += turns[q]["value"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .count();
        o += a["value"].as_str().unwrap().split_whitespace().count();
        n += 1;
    }
    (i as f64 / n as f64, o as f64 / n as f64)
}

#[test]
fn short_variants_report_the_lengths_their_profiles_define() -> anyhow::Result<()> {
    set_profile_env("http://127.0.0.1:9");
    let dir = scratch("workloads_sim");
    let (_sim, sim) = start_sim(
        &dir,
        "sim",
        &[
            "--deterministic",
            "--ttft-ms",
            "1",
            "--itl-ms",
            "0",
            "--lora",
            "lora-a",
            "--lora",
            "lora-b",
        ],
    )?;
    // llm-d-benchmark's inference-perf config runs as it is (30 s at 1 req/s), alongside the
    // others; its placeholders are llm-d-benchmark's own variables.
    set_profile_env(&format!("http://{sim}"));
    let unchanged = {
        let dir = scratch("workloads_inference_perf_unchanged");
        let profile = profiles_dir().join("inference_perf_llmd_sanity_random.yaml");
        let (coord, addr) = start_coordinator_run(&dir, &profile, 1, &[])?;
        let agent = start_agent(&dir, &addr, "agent-0", "client", &[])?;
        (dir, coord, agent)
    };

    // Fixed lengths: exact.
    let r = run_profile(
        "vllm_summarization",
        &sim,
        &["load.rates=[20]", "load.stage_duration=2"],
        2,
        1,
    )?;
    assert_fixed(&r[0], "input_length", 2048.0, "vllm_summarization");
    assert_fixed(&r[0], "output_length", 256.0, "vllm_summarization");
    assert_eq!(num(&r[0], "metrics.requests.total"), 40.0);

    let r = run_profile(
        "dynamo_concurrency_sweep",
        &sim,
        &["load.stages=[{concurrency_level: 2, num_requests: 10}, {concurrency_level: 5, num_requests: 20}]"],
        1,
        2,
    )?;
    for s in &r {
        assert_fixed(s, "input_length", 2000.0, "dynamo_concurrency_sweep");
        assert_fixed(s, "output_length", 256.0, "dynamo_concurrency_sweep");
    }

    let r = run_profile(
        "llmd_shared_prefix_synthetic",
        &sim,
        &["load.rates=[20]", "load.stage_duration=2"],
        2,
        1,
    )?;
    assert_fixed(
        &r[0],
        "input_length",
        2304.0,
        "llmd_shared_prefix_synthetic",
    );
    assert_fixed(
        &r[0],
        "output_length",
        256.0,
        "llmd_shared_prefix_synthetic",
    );

    // Synthetic lengths: mean within 2% (normal 50±10 clamped to [10, 100]; 1600 requests).
    let r = run_profile(
        "llmd_sanity_random",
        &sim,
        &["load.stages.0={rate: 400, duration: 4}", "load.base_seed=7"],
        2,
        1,
    )?;
    assert_eq!(num(&r[0], "metrics.requests.total"), 1600.0);
    assert_mean(&r[0], "input_length", 50.0, 0.02, "llmd_sanity_random");
    assert_mean(&r[0], "output_length", 50.0, 0.02, "llmd_sanity_random");
    assert!(num(&r[0], "metrics.requests.input_length.min") >= 10.0);
    assert!(num(&r[0], "metrics.requests.input_length.max") <= 100.0);

    // ShareGPT: 100 prompts cycle twice through the 50 sampled conversations, so the means are
    // the dataset's. (The profile sends all at once, rate inf; the short variant sends them at
    // 200 req/s: a shard spec with rate inf does not cross the wire yet, see the issue notes.)
    let (want_in, want_out) = sharegpt_means();
    let r = run_profile(
        "vllm_dashboard_throughput",
        &sim,
        &["load.stages.0={rate: 200, duration: 0.5}"],
        2,
        1,
    )?;
    assert_eq!(num(&r[0], "metrics.requests.total"), 100.0);
    assert_mean(
        &r[0],
        "input_length",
        want_in,
        0.005,
        "vllm_dashboard_throughput",
    );
    assert_mean(
        &r[0],
        "output_length",
        want_out,
        0.005,
        "vllm_dashboard_throughput",
    );

    // Mooncake trace: its 40 records replayed at their timestamps, 10 s of trace in 2 s.
    let r = run_profile("mooncake_trace", &sim, &["load.time_scale=0.2"], 1, 1)?;
    assert_eq!(num(&r[0], "metrics.requests.total"), 40.0);
    let text = std::fs::read_to_string(profiles_dir().join("data/mooncake_sample.jsonl"))?;
    let recs: Vec<serde_json::Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mean =
        |k: &str| recs.iter().map(|r| r[k].as_f64().unwrap()).sum::<f64>() / recs.len() as f64;
    assert_mean(
        &r[0],
        "input_length",
        mean("input_length"),
        0.005,
        "mooncake_trace",
    );
    assert_mean(
        &r[0],
        "output_length",
        mean("output_length"),
        0.005,
        "mooncake_trace",
    );

    // A LoRA mix: every request names the base model or one of the sim's two adapters (a name
    // the sim does not serve would fail with 404).
    let r = run_profile(
        "lora_mix",
        &sim,
        &["load.stages.0={rate: 40, duration: 1.5}"],
        2,
        1,
    )?;
    assert!(num(&r[0], "metrics.requests.total") >= 20.0);
    assert_fixed(&r[0], "input_length", 512.0, "lora_mix");
    assert_fixed(&r[0], "output_length", 128.0, "lora_mix");

    // The unchanged inference-perf config: 30 requests of 1024 in / 128 out, its prompts made of
    // words that are one token each for its tokenizer (tests/data/tokenizer).
    let (udir, mut coord, mut agent) = unchanged;
    assert!(
        coord.wait(Duration::from_secs(90))?.success(),
        "the unchanged inference-perf config failed: see {}",
        udir.join("coordinator.log").display()
    );
    assert!(agent.wait(Duration::from_secs(10))?.success());
    let r = stage_report(&run_dir(&udir)?, 0)?;
    check_benchmark_run(&r);
    assert_eq!(num(&r, "metrics.requests.total"), 30.0);
    let log = std::fs::read_to_string(udir.join("coordinator.log"))?;
    assert!(!log.contains(" ERROR "), "{log}");
    assert_fixed(
        &r,
        "input_length",
        1024.0,
        "inference_perf_llmd_sanity_random",
    );
    assert_fixed(
        &r,
        "output_length",
        128.0,
        "inference_perf_llmd_sanity_random",
    );
    Ok(())
}

/// `vllm:prefix_cache_hits_total / vllm:prefix_cache_queries_total` from the sim's `/metrics`.
fn prefix_hit_rate(addr: &str) -> anyhow::Result<f64> {
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut body = String::new();
    s.read_to_string(&mut body)?;
    let value = |name: &str| -> f64 {
        body.lines()
            .filter(|l| l.starts_with(name) && !l.starts_with('#'))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let q = value("vllm:prefix_cache_queries_total");
    anyhow::ensure!(q > 0.0, "no prefix cache queries in /metrics:\n{body}");
    Ok(value("vllm:prefix_cache_hits_total") / q)
}

#[test]
fn shared_prefix_and_multi_turn_profiles_hit_the_prefix_cache_more_than_their_twin(
) -> anyhow::Result<()> {
    set_profile_env("http://127.0.0.1:9");
    // Both scaled down alike: 576 input tokens (512 shared + 64 own, or 576 own), 8 output.
    let dir = scratch("workloads_engine");
    let (_shared_sim, shared_addr) = start_sim(&dir, "sim-shared", &[])?;
    let (_twin_sim, twin_addr) = start_sim(&dir, "sim-twin", &[])?;
    let load = ["load.rates=[10]", "load.stage_duration=3"];
    let mut o: Vec<&str> = vec![
        "data.shared_prefix={num_groups: 4, num_prompts_per_group: 8, system_prompt_len: 512, question_len: 64, output_len: 8}",
    ];
    o.extend(load);
    let shared = run_profile("llmd_shared_prefix_synthetic", &shared_addr, &o, 1, 1)?;
    let mut o: Vec<&str> = vec![
        "data.input_distribution={min: 576, max: 576, mean: 576}",
        "data.output_distribution={min: 8, max: 8, mean: 8}",
    ];
    o.extend(load);
    let twin = run_profile("shared_prefix_control", &twin_addr, &o, 1, 1)?;
    for r in [&shared[0], &twin[0]] {
        assert_fixed(r, "input_length", 576.0, "engine runs");
        assert_eq!(num(r, "metrics.requests.total"), 30.0);
    }
    // Multi-turn sessions: each round's prompt extends the round before; 8 whole sessions of 4
    // rounds are two passes over 4 users, so the input mean is 64 + 16 + 1.5 × (16 + 8) = 116.
    let (_mt_sim, mt_addr) = start_sim(&dir, "sim-multi-turn", &[])?;
    let mt = run_profile(
        "multi_turn_chat",
        &mt_addr,
        &[
            "data.multi_turn={users: 4, rounds: 4, system_prompt_len: 64, question_len: 16, answer_len: 8}",
            "load.type=constant",
            "load.think_time=0",
            "load.stages.0={rate: inf, num_requests: 8}",
        ],
        1,
        1,
    )?;
    assert_eq!(num(&mt[0], "metrics.requests.total"), 32.0);
    assert_eq!(num(&mt[0], "metrics.requests.input_length.mean"), 116.0);
    assert_eq!(num(&mt[0], "metrics.requests.input_length.min"), 80.0);
    assert_eq!(num(&mt[0], "metrics.requests.input_length.max"), 152.0);
    assert_fixed(&mt[0], "output_length", 8.0, "multi_turn_chat");
    let hm = prefix_hit_rate(&mt_addr)?;

    let (hs, ht) = (prefix_hit_rate(&shared_addr)?, prefix_hit_rate(&twin_addr)?);
    assert!(hm > ht + 0.3, "multi-turn hit rate {hm} vs non-shared {ht}");
    // 4 groups × 32 shared blocks of 36: every request after its group's first hits 32 blocks.
    assert!(hs > 0.6, "shared-prefix hit rate {hs}");
    assert!(ht < 0.1, "non-shared twin hit rate {ht}");
    assert!(hs > ht + 0.5, "shared {hs} vs twin {ht}");
    Ok(())
}
