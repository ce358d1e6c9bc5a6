//! Issue 17: the reports llm-d's and vLLM's tools read. A P/D run against the sim's P/D mode
//! (a prefill and a decode sim behind `sim proxy`, one agent per host group scraping its
//! engine) gives a v0.2.1 report with one stack component per host group, their roles and
//! per-component observability; a non-streamed run made with the `rates` shorthand gives
//! TTFT = the full response time, the harness configuration with its stages in
//! `scenario.load.args`, llm-d's file names and vLLM's dashboard files.

use fleetbench_e2e::*;
use serde_json::{json, Value};
use std::time::Duration;

fn start_role_sim(dir: &std::path::Path, role: &str) -> anyhow::Result<(Proc, String)> {
    start_sim(
        dir,
        &format!("sim-{role}"),
        &[
            "--role",
            role,
            "--deterministic",
            "--ttft-ms",
            "5",
            "--itl-ms",
            "2",
        ],
    )
}

#[test]
fn a_pd_run_has_one_component_per_host_group_with_its_observability() -> anyhow::Result<()> {
    let dir = scratch("llmd_pd");
    let (_p_sim, p_addr) = start_role_sim(&dir, "prefill")?;
    let (_d_sim, d_addr) = start_role_sim(&dir, "decode")?;
    let mut proxy = Proc::spawn(
        "sim-proxy",
        &bin("sim"),
        &[
            "proxy".into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--prefill".into(),
            format!("http://{p_addr}"),
            "--decode".into(),
            format!("http://{d_addr}"),
        ],
        &dir,
    )?;
    let proxy_addr = proxy.listening_addr()?;
    let profile = write_profile(
        &dir,
        &proxy_addr,
        32,
        8,
        "load: {type: constant, stages: [{rate: 10, duration: 2}]}\n\
         fleet: {hosts: [{role: prefill, parallelism: {tp: 2}, engine: {name: vllm, version: '0.11', args: {max_model_len: 4096}}},\n\
                         {role: decode, engine: {name: vllm}}]}",
    );
    let (mut coord, addr) = start_coordinator_run(&dir, &profile, 2, &[])?;
    let gpu = "NVIDIA H100 80GB HBM3:80:400";
    let p_metrics = format!("http://{p_addr}/metrics");
    let d_metrics = format!("http://{d_addr}/metrics");
    let _p = start_agent(
        &dir,
        &addr,
        "p0",
        "prefill",
        &["--fake-gpu", gpu, "--engine-metrics", &p_metrics],
    )?;
    let _d = start_agent(
        &dir,
        &addr,
        "d0",
        "decode",
        &["--fake-gpu", gpu, "--engine-metrics", &d_metrics],
    )?;
    assert!(
        coord.wait(Duration::from_secs(60))?.success(),
        "coordinator failed"
    );
    let run = run_dir(&dir)?;
    let r01 = stage_report(&run, 0)?;
    check_benchmark_run(&r01);
    let r = check_stage_formats(&run, 0)?.expect("the run wrote report v0.2.1");
    assert_eq!(r["version"], "0.2.1");

    let stack = at(&r, "scenario.stack").as_array().unwrap();
    assert_eq!(stack.len(), 2, "one component per host group");
    let roles: Vec<&str> = stack
        .iter()
        .map(|c| c["standardized"]["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["prefill", "decode"]);
    for c in stack {
        assert_eq!(c["standardized"]["kind"], "inference_engine");
        assert_eq!(c["standardized"]["model"]["name"], "sim-model");
        assert_eq!(c["standardized"]["accelerator"]["count"], 1);
        assert_eq!(c["standardized"]["replicas"], 1);
        for d in ["tp", "dp", "pp", "ep"] {
            assert!(c["standardized"]["accelerator"]["parallelism"][d].is_u64());
        }
    }
    assert_eq!(
        at(
            &r,
            "scenario.stack.0.standardized.accelerator.parallelism.tp"
        ),
        2
    );
    assert_eq!(
        at(
            &r,
            "scenario.stack.1.standardized.accelerator.parallelism.tp"
        ),
        1
    );
    assert_eq!(at(&r, "scenario.stack.0.native.args.max_model_len"), 4096);

    // Observability per component: its own accelerators and its own engine.
    let comps = at(&r, "results.observability.components")
        .as_array()
        .unwrap();
    assert_eq!(comps.len(), 2);
    for (c, label) in comps.iter().zip(["prefill", "decode"]) {
        assert_eq!(c["component_label"], label);
        let a = &c["aggregate"];
        assert_eq!(a["power_consumption"]["units"], "Watts");
        assert_eq!(a["power_consumption"]["mean"], 400.0, "{label} power");
        assert_eq!(a["gpu_utilization"]["units"], "percent");
        assert_eq!(
            a["running_requests"]["units"], "count",
            "{label}: engine scraped"
        );
        assert_eq!(a["kv_cache_usage"]["units"], "percent");
        let ts = &c["time_series"]["power_consumption"]["series"];
        assert!(
            ts.as_array().is_some_and(|s| !s.is_empty()),
            "{label}: power per interval"
        );
        assert!(c["time_series"]["num_requests_running"]["series"].is_array());
    }
    // Health of the serving hosts: both agents stayed.
    let health = at(&r, "results.component_health").as_array().unwrap();
    assert_eq!(health.len(), 2);
    for h in health {
        assert_eq!(h["failed_replicas"], 0);
        assert_eq!(h["replica_health"][0]["healthy"], true);
    }
    // Request performance in seconds, aggregate and per interval.
    let agg = at(&r, "results.request_performance.aggregate");
    assert_eq!(agg["latency"]["time_to_first_token"]["units"], "s");
    let ttft_ms = num(&r01, "metrics.latency.time_to_first_token.mean");
    let ttft_s = num(agg, "latency.time_to_first_token.mean");
    assert!(
        (ttft_s * 1000.0 - ttft_ms).abs() < 1e-3,
        "{ttft_s} s vs {ttft_ms} ms"
    );
    assert_eq!(
        agg["requests"]["total"],
        r01["metrics"]["requests"]["total"]
    );
    let series = at(
        &r,
        "results.request_performance.time_series.throughput.output_token_rate.series",
    )
    .as_array()
    .unwrap();
    assert!(series.len() >= 2, "a point per snapshot interval");
    let total_out: f64 = series.iter().map(|p| p["value"].as_f64().unwrap()).sum();
    assert!(total_out > 0.0);
    assert_eq!(at(&r, "run.eid"), at(&r01, "scenario.metadata.run_id"));
    assert_eq!(at(&r, "scenario.load.standardized.rate_qps"), 10.0);
    assert_eq!(at(&r, "scenario.load.standardized.parallelism"), 2);
    Ok(())
}

#[test]
fn a_non_streamed_rates_run_loads_as_llm_d_and_vllm_read_it() -> anyhow::Result<()> {
    let dir = scratch("llmd_nonstream");
    let (_sim, sim_addr) = start_sim(
        &dir,
        "sim",
        &["--deterministic", "--ttft-ms", "20", "--itl-ms", "2"],
    )?;
    let path = write_profile(
        &dir,
        &sim_addr,
        16,
        8,
        "load: {type: constant, rates: [4, 8], stage_duration: 1}",
    );
    let text = std::fs::read_to_string(&path)?.replace("streaming: true", "streaming: false");
    std::fs::write(&path, text)?;
    let (run, _) = run_with_two_agents(&dir, &path, Duration::from_secs(60))?;
    for (k, rate) in [(0u32, 4.0), (1, 8.0)] {
        let r = stage_report(&run, k)?;
        check_benchmark_run(&r);
        // TTFT of a response that came in one piece is its full response time.
        let ttft = num(&r, "metrics.latency.time_to_first_token.p50");
        let e2e = num(&r, "metrics.latency.request_latency.p50");
        assert!(
            ttft > 20.0,
            "stage {k}: TTFT {ttft} ms is not the response time"
        );
        assert_eq!(ttft, e2e, "stage {k}");
        assert_eq!(num(&r, "metrics.latency.time_per_output_token.mean"), 0.0);
        // The harness configuration with its stages; the plan in metadata.
        let stages = at(&r, "scenario.load.args.load.stages").as_array().unwrap();
        assert_eq!(stages.len(), 2);
        assert_eq!(
            stages[at(&r, "scenario.load.metadata.stage").as_u64().unwrap() as usize]["rate"],
            rate
        );
        assert_eq!(at(&r, "scenario.load.args.api.streaming"), false);
        assert_eq!(at(&r, "scenario.load.metadata.plan.rate"), rate);
        assert_eq!(at(&r, "scenario.load.name"), "inference-perf");
        let v = check_stage_formats(&run, k)?.expect("report v0.2.1");
        assert_eq!(at(&v, "scenario.load.standardized.rate_qps"), rate);
        assert_eq!(at(&v, "scenario.load.standardized.stage"), k);
        assert_eq!(
            at(&v, "scenario.load.native.config.load.stages"),
            at(&r, "scenario.load.args.load.stages")
        );
        assert_eq!(
            at(&v, "scenario.load.standardized.input_seq_len"),
            &json!({"distribution": "fixed", "value": 16.0, "min": 16, "max": 16})
        );
        assert!(run
            .join(format!("benchmark_report,_stage_{k}.yaml"))
            .is_file());
        assert!(run
            .join(format!("benchmark_report_v0.2.1,_stage_{k}.yaml"))
            .is_file());
        // vLLM's dashboard script reads serving_<test>.json beside serving_<test>.commands.
        let label = at(&r, "scenario.load.metadata.stage_label")
            .as_str()
            .unwrap();
        let res: Value = serde_json::from_slice(&std::fs::read(
            run.join(format!("vllm/serving_e2e_{label}.json")),
        )?)?;
        assert!(run
            .join(format!("vllm/serving_e2e_{label}.commands"))
            .is_file());
        assert_eq!(res["model_id"], "sim-model");
        assert_eq!(res["input_len"], 16);
        assert_eq!(res["tp_size"], 1);
        assert!(res["std_ttft_ms"].is_number());
    }
    let md = std::fs::read_to_string(run.join("summary.md"))?;
    let header = md.lines().next().unwrap();
    for col in [
        "Test name",
        "Model",
        "Dataset Name",
        "Input Len",
        "Output Len",
        "TP Size",
        "PP Size",
        "# of req.",
        "qps",
        "Total Token Tput (tok/s)",
        "STD TTFT (ms)",
        "STD TPOT (ms)",
    ] {
        assert!(header.contains(&format!("| {col} |")), "{col} in {header}");
    }
    // `report render` rewrites either format from the run directory.
    let out = std::process::Command::new(bin("coordinator"))
        .args(["report", "render"])
        .arg(&run)
        .args(["--report-format", "v0.1"])
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!run.join("benchmark_report_v0.2.1,_stage_0.yaml").exists());
    assert!(run.join("benchmark_report,_stage_0.yaml").is_file());
    let out = std::process::Command::new(bin("coordinator"))
        .args(["report", "render"])
        .arg(&run)
        .args(["--report-format", "v0.2.1"])
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(run.join("benchmark_report_v0.2.1,_stage_1.yaml").is_file());
    assert!(!run.join("benchmark_report,_stage_1.yaml").exists());
    check_stage_formats(&run, 1)?.expect("re-rendered v0.2.1");
    Ok(())
}
