//! Issue 7: telemetry per host group in the report. A prefill agent and a decode agent with
//! scripted accelerators (the fake NVML backend), and engine metrics scraped from the sim's
//! `/metrics` under a load above its capacity.

use fleetbench_e2e::*;
use std::time::Duration;

#[test]
fn prefill_and_decode_groups_carry_their_own_accelerators() -> anyhow::Result<()> {
    let dir = scratch("telemetry_groups");
    let (_sim, sim_addr) = start_sim(
        &dir,
        "sim",
        &["--deterministic", "--ttft-ms", "5", "--itl-ms", "2"],
    )?;
    let profile = write_profile(
        &dir,
        &sim_addr,
        32,
        8,
        "load: {type: constant, stages: [{rate: 10, duration: 2}]}",
    );
    let (mut coord, addr) = start_coordinator_run(&dir, &profile, 2, &[])?;
    let h100 = |w: u32| format!("NVIDIA H100 80GB HBM3:80:{w}");
    let (p300, d500) = (h100(300), h100(500));
    let _p = start_agent(
        &dir,
        &addr,
        "p0",
        "prefill",
        &["--fake-gpu", &p300, "--fake-gpu", &p300],
    )?;
    let _d = start_agent(
        &dir,
        &addr,
        "d0",
        "decode",
        &["--fake-gpu", &d500, "--fake-gpu", &d500],
    )?;
    assert!(
        coord.wait(Duration::from_secs(60))?.success(),
        "coordinator failed"
    );
    let r = stage_report(&run_dir(&dir)?, 0)?;
    check_benchmark_run(&r);
    assert_eq!(
        at(&r, "scenario.host.type"),
        &serde_json::json!(["prefill", "decode"])
    );
    for g in 0..2 {
        let a = at(&r, &format!("scenario.host.accelerator.{g}"));
        assert_eq!(a["model"], "NVIDIA H100 80GB HBM3");
        assert_eq!(a["count"], 2);
        assert_eq!(a["memory"], 80.0);
    }
    assert_eq!(
        at(&r, "metrics.resources.accelerator")
            .as_array()
            .unwrap()
            .len(),
        2
    );
    for (g, watts) in [(0, 300.0), (1, 500.0)] {
        let p = format!("metrics.resources.accelerator.{g}.power");
        assert_eq!(at(&r, &format!("{p}.units")), "Watts");
        for k in ["mean", "min", "p50", "max"] {
            assert_eq!(num(&r, &format!("{p}.{k}")), watts, "group {g} power {k}");
        }
        assert_eq!(
            num(
                &r,
                &format!("metrics.resources.accelerator.{g}.memory.consumption.mean")
            ),
            48.0
        );
        let jpt = num(
            &r,
            &format!("metrics.metadata.host_groups.{g}.accelerator.joules_per_output_token"),
        );
        assert!(jpt > 0.0, "energy per output token for group {g}");
        let cpu = at(
            &r,
            &format!("metrics.metadata.host_groups.{g}.host.agent_cpu_percent_of_core.mean"),
        );
        assert!(cpu.is_number(), "the agent's own CPU is reported");
    }
    // P/D power sits 1:1 with the host entries: the decode pool draws more per device.
    assert!(
        num(&r, "metrics.resources.accelerator.1.power.mean")
            > num(&r, "metrics.resources.accelerator.0.power.mean")
    );
    Ok(())
}

#[test]
fn engine_metrics_show_batching_and_a_queue_above_capacity() -> anyhow::Result<()> {
    let dir = scratch("telemetry_engine");
    let card = dir.join("small.yaml");
    std::fs::write(
        &card,
        "name: small\nmax_num_seqs: 4\nmax_num_batched_tokens: 2048\nmax_model_len: 4096\n\
         block_size: 16\nnum_gpu_blocks: 2000\nenable_prefix_caching: true\n\
         step: {base_us: 5000, prefill_us_per_token: 10, decode_us_per_seq: 500}\n",
    )?;
    let card_arg = card.display().to_string();
    let (_sim, sim_addr) = start_sim(&dir, "sim", &["--card", &card_arg])?;
    let profile = write_profile(
        &dir,
        &sim_addr,
        32,
        32,
        "load: {type: constant, stages: [{rate: 40, duration: 3}]}",
    );
    let (mut coord, addr) = start_coordinator_run(&dir, &profile, 1, &[])?;
    let metrics = format!("http://{sim_addr}/metrics");
    let _a = start_agent(
        &dir,
        &addr,
        "a",
        "client",
        &["--engine-metrics", &metrics, "--telemetry-interval", "0.1"],
    )?;
    assert!(
        coord.wait(Duration::from_secs(90))?.success(),
        "coordinator failed"
    );
    let r = stage_report(&run_dir(&dir)?, 0)?;
    check_benchmark_run(&r);
    assert_eq!(num(&r, "metrics.requests.total"), 120.0);
    assert_eq!(at(&r, "metrics.service.batch_size.units"), "count");
    let batch = num(&r, "metrics.service.batch_size.max");
    let queue = num(&r, "metrics.service.queue_size.max");
    assert!(batch > 1.0, "continuous batching: batch size max {batch}");
    assert!(
        batch <= 4.0,
        "the card's max_num_seqs bounds the batch: {batch}"
    );
    assert!(
        queue > 0.0,
        "a rate above capacity queues: queue size max {queue}"
    );
    Ok(())
}

/// A decode host with load weight 0 generates no requests but still samples its host, also in a
/// closed-loop stage that has no fixed end (the coordinator ends it when the load is done).
#[test]
fn a_telemetry_only_agent_samples_until_the_load_is_done() -> anyhow::Result<()> {
    let dir = scratch("telemetry_only");
    let (_sim, sim_addr) = start_sim(
        &dir,
        "sim",
        &["--deterministic", "--ttft-ms", "5", "--itl-ms", "2"],
    )?;
    let path = write_profile(&dir, &sim_addr, 32,
        8,
        "load: {type: concurrent, stages: [{concurrency_level: 2, num_requests: 20}]}\nfleet: {weights: {decode: 0}}",
    );
    let (mut coord, addr) = start_coordinator_run(&dir, &path, 2, &[])?;
    let _c = start_agent(&dir, &addr, "c0", "client", &[])?;
    let _d = start_agent(
        &dir,
        &addr,
        "d0",
        "decode",
        &["--fake-gpu", "NVIDIA H200:141:650"],
    )?;
    assert!(
        coord.wait(Duration::from_secs(60))?.success(),
        "coordinator failed"
    );
    let r = stage_report(&run_dir(&dir)?, 0)?;
    check_benchmark_run(&r);
    assert_eq!(num(&r, "metrics.requests.total"), 20.0);
    assert_eq!(at(&r, "scenario.host.type"), &serde_json::json!(["decode"]));
    assert_eq!(at(&r, "scenario.host.accelerator.0.model"), "NVIDIA H200");
    assert_eq!(num(&r, "metrics.resources.accelerator.0.power.mean"), 650.0);
    let agents = at(&r, "metrics.metadata.agents")
        .as_array()
        .unwrap()
        .clone();
    let d0 = agents.iter().find(|a| a["id"] == "d0").unwrap();
    assert_eq!(d0["requests"], 0, "weight 0: no load from the decode host");
    Ok(())
}

/// The profile's `telemetry` section: `interval` sets how often agents sample, `nvml: off`
/// leaves accelerators out, and `nvml: on` fails an agent that has none, naming the key. And
/// `fleet.hosts[].engine_metrics`: the group's agent scrapes the engine without any flag.
#[test]
fn the_profile_telemetry_section_rules_the_agents_sampling() -> anyhow::Result<()> {
    let run = |name: &str, telemetry: &str, agent_flags: &[&str]| -> anyhow::Result<_> {
        let dir = scratch(name);
        let (_sim, sim_addr) = start_sim(
            &dir,
            "sim",
            &["--deterministic", "--ttft-ms", "5", "--itl-ms", "2"],
        )?;
        let path = write_profile(
            &dir,
            &sim_addr,
            16,
            4,
            &format!("load: {{type: constant, stages: [{{rate: 10, duration: 2}}]}}\ntelemetry: {telemetry}")
                .replace("SIM", &sim_addr),
        );
        let (mut coord, addr) = start_coordinator_run(&dir, &path, 1, &[])?;
        let _a = start_agent(&dir, &addr, "a0", "client", agent_flags)?;
        let ok = coord.wait(Duration::from_secs(60))?.success();
        Ok((dir, ok))
    };
    let gpu = ["--fake-gpu", "NVIDIA H100 80GB HBM3:80:400"];
    let samples = |dir: &std::path::Path| -> anyhow::Result<f64> {
        let r = stage_report(&run_dir(dir)?, 0)?;
        check_benchmark_run(&r);
        Ok(num(
            &r,
            "metrics.metadata.host_groups.0.accelerator.samples",
        ))
    };
    // Every 50 ms over a 2 s window: about 40 samples of the one device (the default is 0.2 s).
    // fleet.hosts names the engine's /metrics: the agent scrapes it with no flag of its own.
    let (dir, ok) = run(
        "telemetry_interval",
        "{interval: 0.05}\nfleet: {hosts: [{engine_metrics: ['http://SIM/metrics']}]}",
        &gpu,
    )?;
    assert!(ok, "coordinator failed: {}", dir.display());
    let n = samples(&dir)?;
    assert!(
        (30.0..=45.0).contains(&n),
        "{n} accelerator samples at 50 ms"
    );
    let r = stage_report(&run_dir(&dir)?, 0)?;
    assert_eq!(at(&r, "metrics.service.batch_size.units"), "count");
    assert!(num(&r, "metrics.service.batch_size.max") >= 1.0);
    // nvml: off: the host is sampled, its accelerator is not.
    let (dir, ok) = run("telemetry_off", "{nvml: off}", &gpu)?;
    assert!(ok, "coordinator failed: {}", dir.display());
    assert_eq!(samples(&dir)?, 0.0);
    // nvml: on, and the agent samples no accelerators: its shard fails and says why.
    let (dir, ok) = run("telemetry_on", "{nvml: on}", &["--nvml", "off"])?;
    assert!(!ok, "a run that needs NVML passed without it");
    let log = std::fs::read_to_string(dir.join("coordinator.log"))?
        + &std::fs::read_to_string(dir.join("a0.log"))?;
    assert!(log.contains("telemetry.nvml is on"), "{log}");
    Ok(())
}

/// `fleet.hosts[].agents` forms the host groups from agent names: two agents that joined as
/// clients become the prefill and the decode group, each with its own accelerators.
#[test]
fn fleet_hosts_agents_name_the_members_of_each_group() -> anyhow::Result<()> {
    let dir = scratch("telemetry_named_groups");
    let (_sim, sim_addr) = start_sim(
        &dir,
        "sim",
        &["--deterministic", "--ttft-ms", "5", "--itl-ms", "2"],
    )?;
    let profile = write_profile(
        &dir,
        &sim_addr,
        16,
        4,
        "load: {type: constant, stages: [{rate: 10, duration: 1}]}\n\
         fleet: {hosts: [{role: prefill, agents: [p0], parallelism: {tp: 2}}, {role: decode, agents: [d0]}]}",
    );
    let (mut coord, addr) = start_coordinator_run(&dir, &profile, 2, &[])?;
    let _p = start_agent(
        &dir,
        &addr,
        "p0",
        "client",
        &["--fake-gpu", "NVIDIA H100 80GB HBM3:80:300"],
    )?;
    let _d = start_agent(
        &dir,
        &addr,
        "d0",
        "client",
        &["--fake-gpu", "NVIDIA H200:141:500"],
    )?;
    assert!(
        coord.wait(Duration::from_secs(60))?.success(),
        "coordinator failed"
    );
    let r = stage_report(&run_dir(&dir)?, 0)?;
    check_benchmark_run(&r);
    assert_eq!(
        at(&r, "scenario.host.type"),
        &serde_json::json!(["prefill", "decode"])
    );
    assert_eq!(
        at(&r, "scenario.host.accelerator.0.model"),
        "NVIDIA H100 80GB HBM3"
    );
    assert_eq!(num(&r, "scenario.host.accelerator.0.parallelism.tp"), 2.0);
    assert_eq!(at(&r, "scenario.host.accelerator.1.model"), "NVIDIA H200");
    assert_eq!(num(&r, "metrics.resources.accelerator.0.power.mean"), 300.0);
    assert_eq!(num(&r, "metrics.resources.accelerator.1.power.mean"), 500.0);
    Ok(())
}
