//! Issue 19's deployment-shape sweeps and SLA search, with real processes: `coordinator sweep`
//! reconfigures a simulated P/D deployment (`scripts/sim-pd.sh`: 1 prefill + 1 decode, then 2
//! prefill + 1 decode, each instance with its own agent) between points and runs two rates on
//! each, giving four stage reports whose host entries match the point and a sweep summary whose
//! Pareto plot has both points; and its SLA search finds the capacity knee of a sim whose knee
//! is known from its settings.

use fleetbench_e2e::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A free loopback port (bound and released: the sweep's processes bind it next).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/sim-pd.sh")
}

/// Stops what `sim-pd.sh start --state DIR` left running when the test ends.
struct Deployment(PathBuf);

impl Drop for Deployment {
    fn drop(&mut self) {
        let _ = std::process::Command::new("bash")
            .arg(script())
            .args(["stop", "--state"])
            .arg(&self.0)
            .output();
    }
}

/// `coordinator sweep FILE` on `port` with one client agent that stays for every point.
fn run_sweep(
    dir: &Path,
    file: &Path,
    port: u16,
    limit: Duration,
) -> anyhow::Result<(bool, PathBuf)> {
    let addr = format!("127.0.0.1:{port}");
    let args: Vec<String> = [
        "sweep",
        &file.display().to_string(),
        "--listen",
        &addr,
        "--insecure",
        "--out",
        &dir.join("results").display().to_string(),
        "--start-lead",
        "0.5",
        "--join-timeout",
        "30",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut coord = Proc::spawn("coordinator", &bin("coordinator"), &args, dir)?;
    coord.listening_addr()?;
    let agent_args: Vec<String> = [
        "join",
        "--coordinator",
        &addr,
        "--insecure",
        "--name",
        "client-0",
        "--role",
        "client",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let _client = Proc::spawn("client-0", &bin("agent"), &agent_args, dir)?;
    let ok = coord.wait(limit)?.success();
    Ok((ok, run_dir(dir)?))
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(
        &std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn a_two_point_pd_sweep_gives_four_stage_reports_and_a_pareto_of_both_points() -> anyhow::Result<()>
{
    let dir = scratch("sweep_two_points");
    let (coord_port, proxy_port) = (free_port(), free_port());
    let state = dir.join("deployment");
    let _deployment = Deployment(state.clone());
    let bin_dir = bin("sim").parent().unwrap().to_path_buf();
    write_profile(
        &dir,
        &format!("127.0.0.1:{proxy_port}"),
        16,
        8,
        "load: {type: constant, stages: [{rate: 4, duration: 2}, {rate: 8, duration: 2}]}\n\
         fleet: {weights: {client: 1, prefill: 0, decode: 0}}",
    );
    let file = dir.join("sweep.yaml");
    std::fs::write(
        &file,
        format!(
            "name: e2e-pd\n\
             profile: profile.yaml\n\
             points:\n\
             \x20 - {{name: 1p1d, prefill: 1, decode: 1}}\n\
             \x20 - {{name: 2p1d, prefill: 2, decode: 1}}\n\
             reconfigure:\n\
             \x20 command: \"bash {script} start --state {state} --port {proxy_port} --prefill {{prefill}} --decode {{decode}} --coordinator {{coordinator}} --agent-args '--insecure --fake-gpu H100:80:700' --bin {bin} -- --deterministic --ttft-ms 5 --itl-ms 2\"\n\
             \x20 timeout: 60\n\
             ready: {{timeout: 60, agents: {{client: 1, prefill: '{{prefill}}', decode: '{{decode}}'}}}}\n",
            script = script().display(),
            state = state.display(),
            bin = bin_dir.display(),
        ),
    )?;
    let (ok, sweep) = run_sweep(&dir, &file, coord_port, Duration::from_secs(120))?;
    assert!(
        ok,
        "the sweep failed: see {}",
        dir.join("coordinator.log").display()
    );

    // Four stage reports, each naming the point's pools: prefill and decode groups with one
    // agent (and one fake GPU) per instance.
    for (point, prefill, decode) in [("1p1d", 1, 1), ("2p1d", 2, 1)] {
        for stage in 0..2 {
            let r = stage_report(&sweep.join(point).join("stages"), stage)?;
            assert_eq!(
                at(&r, "scenario.host.type"),
                &serde_json::json!(["prefill", "decode"]),
                "{point} stage {stage}"
            );
            let counts: Vec<u64> = at(&r, "scenario.host.accelerator")
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["count"].as_u64().unwrap())
                .collect();
            assert_eq!(counts, [prefill, decode], "{point} stage {stage}");
            assert!(num(&r, "metrics.requests.total") > 0.0);
            assert_eq!(
                num(&r, "metrics.requests.failures"),
                0.0,
                "{point} stage {stage}"
            );
        }
        assert!(sweep.join(point).join("reconfigure.log").exists());
    }
    // The summary: both points ok, and the Pareto plot has a series for each.
    let summary = read_json(&sweep.join("sweep.json"));
    let points = summary["points"].as_array().unwrap();
    assert_eq!(points.len(), 2);
    for p in points {
        assert_eq!(p["status"], "ok", "{p}");
        assert_eq!(p["stages"].as_array().unwrap().len(), 2, "{p}");
    }
    let series: Vec<&str> = summary["pareto"]["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(
        series.contains(&"1p1d") && series.contains(&"2p1d"),
        "{series:?}"
    );
    for s in summary["pareto"]["series"].as_array().unwrap() {
        if s["name"] != "Pareto front" {
            assert_eq!(s["points"].as_array().unwrap().len(), 2, "{s}");
        }
    }
    for f in [
        "sweep.md",
        "sweep.html",
        "plots/pareto.png",
        "plots/pareto.svg",
    ] {
        assert!(sweep.join(f).exists(), "{f} missing");
    }
    let html = std::fs::read_to_string(sweep.join("sweep.html"))?;
    assert!(html.contains("<svg") && html.contains("1p1d") && html.contains("2p1d"));
    Ok(())
}

/// A sim with a known knee: 4 HTTP workers, each held by one request from its headers to its
/// end (the connection closes after every response), and every request of 10 output tokens
/// lasting 20 ms + 9 × 20 ms = 200 ms on absolute deadlines: at most 4 / 0.2 = 20 requests per
/// second; above that, requests queue for a worker and their TTFT grows.
const KNEE_FLAGS: [&str; 8] = [
    "--deterministic",
    "--ttft-ms",
    "20",
    "--itl-ms",
    "20",
    "--http-workers",
    "4",
    "--close-after-response",
];
const KNEE_RPS: f64 = 20.0;

#[test]
fn the_sla_search_finds_a_known_capacity_knee_within_ten_percent_in_at_most_eight_probes(
) -> anyhow::Result<()> {
    let dir = scratch("sweep_sla_knee");
    let (_sim, sim) = start_sim(&dir, "sim", &KNEE_FLAGS)?;
    write_profile(
        &dir,
        &sim,
        8,
        10,
        "load: {type: constant, stages: [{rate: 1, duration: 1}]}",
    );
    let file = dir.join("sweep.yaml");
    std::fs::write(
        &file,
        "name: e2e-knee\n\
         profile: profile.yaml\n\
         points: [{name: knee}]\n\
         ready: {timeout: 30, agents: {client: 1}}\n\
         sla: {ttft_ms: {p99: 150}}\n\
         search: {over: rate, lo: 4, hi: 40, max_probes: 8, precision: 0.05, probe_duration: 3}\n",
    )?;
    let (ok, sweep) = run_sweep(&dir, &file, free_port(), Duration::from_secs(150))?;
    assert!(
        ok,
        "the sweep failed: see {}",
        dir.join("coordinator.log").display()
    );
    let summary = read_json(&sweep.join("sweep.json"));
    let sla = &summary["points"][0]["sla"];
    let probes = sla["probes"].as_array().unwrap();
    assert!(!probes.is_empty() && probes.len() <= 8, "{sla}");
    let found = sla["found"]
        .as_f64()
        .unwrap_or_else(|| panic!("no rate met the SLA: {sla}"));
    assert!(
        (found - KNEE_RPS).abs() <= 0.1 * KNEE_RPS,
        "found {found} req/s, the knee is {KNEE_RPS}: {sla}"
    );
    let upper = sla["upper"]
        .as_f64()
        .expect("a probe above the knee missed the SLA");
    assert!(upper > found && upper / found <= 1.05 + 1e-9, "{sla}");
    // Every probe is a run of its own under the point, with its stage report.
    for p in probes {
        let k = p["k"].as_u64().unwrap();
        let r = stage_report(&sweep.join(format!("knee/probe-{k}")), 0)?;
        assert!(num(&r, "metrics.requests.total") > 0.0);
    }
    Ok(())
}
