//! Multi-host runs in containers (issue 18): the project's image, the compose deployment of
//! `deploy/compose/` (coordinator, prefill host, decode host, P/D proxy, client host, each with
//! its own address on a private network), and a P:D sweep over its shapes (issue 19). Skipped
//! with a message where no Docker Engine runs.

use anyhow::{ensure, Context, Result};
use fleetbench_e2e::docker::{build_image, docker_available, repo_root, Cluster, Network};
use fleetbench_e2e::{bin, scratch, Proc};
use serde_json::Value;
use std::time::Duration;

const IMAGE: &str = "fleetbench:e2e";

/// A free loopback port (bound and released: the deployment publishes its proxy there next).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The run directory the coordinator wrote under `results` (the only one there).
fn run_dir(results: &std::path::Path) -> Result<std::path::PathBuf> {
    let mut dirs: Vec<_> = std::fs::read_dir(results)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        // `.state` (a coordinator's --state-dir) is not a run.
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    ensure!(
        dirs.len() == 1,
        "expected one run directory in {results:?}, found {dirs:?}"
    );
    Ok(dirs.remove(0))
}

fn report(dir: &std::path::Path, stage: u32) -> Result<Value> {
    let path = dir.join(format!("stage-{stage}/report.json"));
    let text = std::fs::read_to_string(&path).with_context(|| format!("read {path:?}"))?;
    Ok(serde_json::from_str(&text)?)
}

/// (a) The compose deployment runs the two-stage P/D profile: each stage's report has one host
/// entry per group (prefill, decode) whose agents carry the containers' host names, and the
/// client host sent exactly the planned requests.
#[test]
fn compose_pd_deployment_runs_a_two_stage_profile() -> Result<()> {
    if !docker_available("compose_pd_deployment_runs_a_two_stage_profile") {
        return Ok(());
    }
    let dir = scratch("containers-pd");
    build_image(IMAGE)?;
    let results = dir.join("results");
    let profile = repo_root().join("deploy/compose/pd-profile.yaml");
    let cluster = Cluster::up(
        &format!("fbe2e-pd-{}", std::process::id()),
        IMAGE,
        &profile,
        &results,
    )?;
    let code = cluster.wait_exit("coordinator", Duration::from_secs(180))?;
    ensure!(
        code == 0,
        "coordinator exited {code}:\n{}",
        cluster.logs("coordinator")
    );
    let run = run_dir(&results)?;
    for (stage, planned) in [(0u32, 20u64), (1, 40)] {
        let r = report(&run, stage)?;
        let hosts = &r["scenario"]["host"];
        ensure!(
            hosts["type"] == serde_json::json!(["prefill", "decode"]),
            "host types {hosts}"
        );
        let groups = hosts["metadata"]["groups"].as_array().context("groups")?;
        let names: Vec<&str> = groups
            .iter()
            .map(|g| g["agents"][0]["host"].as_str().unwrap_or(""))
            .collect();
        ensure!(names == ["prefill-0", "decode-0"], "group hosts {names:?}");
        let agents = r["scenario"]["metadata"]["agents"]
            .as_array()
            .context("agents")?;
        let client = agents
            .iter()
            .find(|a| a["role"] == "client")
            .context("client agent")?;
        ensure!(client["host"] == "client-0", "client host {client}");
        let total = r["metrics"]["requests"]["total"]
            .as_u64()
            .context("total")?;
        ensure!(
            total == planned,
            "stage {stage}: {total} requests, planned {planned}"
        );
        ensure!(
            r["metrics"]["requests"]["failures"].as_u64() == Some(0),
            "failures in stage {stage}"
        );
    }
    drop(cluster);
    let left = std::process::Command::new("docker")
        .args([
            "ps",
            "-a",
            "-q",
            "--filter",
            &format!("name=fbe2e-pd-{}", std::process::id()),
        ])
        .output()?;
    ensure!(left.stdout.is_empty(), "containers left behind");
    Ok(())
}

/// A P/D profile through the proxy whose stages are long enough to fault a host mid-stage, with
/// `on_agent_loss: continue`.
fn loss_profile(dir: &std::path::Path, stages: &str) -> Result<std::path::PathBuf> {
    let base = std::fs::read_to_string(repo_root().join("deploy/compose/pd-profile.yaml"))?;
    let mut text = String::new();
    let mut skip = false;
    for line in base.lines() {
        if line.starts_with("load:") {
            skip = true;
            text.push_str(&format!(
                "load:\n  type: constant\n  stages: {stages}\n  base_seed: 7\n"
            ));
            continue;
        }
        if skip && line.starts_with("  ") {
            continue;
        }
        skip = false;
        text.push_str(line);
        text.push('\n');
        if line.starts_with("fleet:") {
            text.push_str("  on_agent_loss: continue\n");
        }
    }
    let path = dir.join("profile.yaml");
    std::fs::write(&path, text)?;
    Ok(path)
}

/// Waits until the run under `results` has started `stage`; the run directory.
fn wait_stage_started(results: &std::path::Path, stage: u32) -> Result<std::path::PathBuf> {
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(120) {
        if let Ok(dir) = run_dir(results) {
            let state = std::fs::read_to_string(dir.join("state.jsonl")).unwrap_or_default();
            let started = state.lines().any(|l| {
                serde_json::from_str::<Value>(l).is_ok_and(|v| {
                    v["event"] == "stage_started" && v["stage"].as_u64() == Some(u64::from(stage))
                })
            });
            if started {
                return Ok(dir);
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    anyhow::bail!("stage {stage} did not start")
}

fn lost_agents(r: &Value) -> Vec<String> {
    r["metrics"]["metadata"]["lost_shards"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|l| l["agent"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// (d) The decode host's agent is killed mid-stage with `on_agent_loss: continue`: the stage is
/// degraded and names the lost agent, the run goes on to its next stage without it, and the
/// coordinator's exit says the run was degraded.
#[test]
fn a_killed_agent_host_degrades_its_stage_and_the_run_goes_on() -> Result<()> {
    if !docker_available("a_killed_agent_host_degrades_its_stage_and_the_run_goes_on") {
        return Ok(());
    }
    let dir = scratch("containers-kill");
    build_image(IMAGE)?;
    let results = dir.join("results");
    let profile = loss_profile(&dir, "[{rate: 4, duration: 6}, {rate: 4, duration: 3}]")?;
    let cluster = Cluster::up_with(
        &format!("fbe2e-kill-{}", std::process::id()),
        IMAGE,
        &profile,
        &results,
        &[("FLEETBENCH_AGENT_TIMEOUT", "2")],
    )?;
    wait_stage_started(&results, 0)?;
    std::thread::sleep(Duration::from_secs(2));
    cluster.kill("decode-agent")?;
    let code = cluster.wait_exit("coordinator", Duration::from_secs(120))?;
    let run = run_dir(&results)?;
    let r0 = report(&run, 0)?;
    ensure!(
        r0["metrics"]["metadata"]["degraded"] == true && lost_agents(&r0) == ["decode-0"],
        "stage 0 metadata: {}",
        r0["metrics"]["metadata"]
    );
    // The load came from the client host: all of it was measured.
    ensure!(
        r0["metrics"]["requests"]["total"].as_u64() == Some(24),
        "stage 0 total"
    );
    let r1 = report(&run, 1)?;
    ensure!(
        r1["metrics"]["requests"]["total"].as_u64() == Some(12),
        "stage 1 total"
    );
    ensure!(
        code != 0,
        "a degraded run must not exit 0:\n{}",
        cluster.logs("coordinator")
    );
    Ok(())
}

/// (b) The client host is cut off the network for less than the loss timeout: nothing is lost;
/// then for longer than the loss timeout: that stage is degraded and names the agent.
#[test]
fn a_network_cut_costs_nothing_when_short_and_degrades_when_long() -> Result<()> {
    if !docker_available("a_network_cut_costs_nothing_when_short_and_degrades_when_long") {
        return Ok(());
    }
    let dir = scratch("containers-cut");
    build_image(IMAGE)?;
    let results = dir.join("results");
    let profile = loss_profile(&dir, "[{rate: 4, duration: 6}, {rate: 4, duration: 8}]")?;
    let cluster = Cluster::up_with(
        &format!("fbe2e-cut-{}", std::process::id()),
        IMAGE,
        &profile,
        &results,
        &[("FLEETBENCH_AGENT_TIMEOUT", "3")],
    )?;
    // Stage 0: a cut of ~0.5 s (the loss timeout is 3 s).
    wait_stage_started(&results, 0)?;
    std::thread::sleep(Duration::from_secs(2));
    cluster.network("client-0", false)?;
    std::thread::sleep(Duration::from_millis(500));
    cluster.network("client-0", true)?;
    // Stage 1: a cut of 5 s.
    wait_stage_started(&results, 1)?;
    std::thread::sleep(Duration::from_secs(1));
    cluster.network("client-0", false)?;
    std::thread::sleep(Duration::from_secs(5));
    cluster.network("client-0", true)?;
    let code = cluster.wait_exit("coordinator", Duration::from_secs(120))?;
    let run = run_dir(&results)?;
    let r0 = report(&run, 0)?;
    ensure!(
        lost_agents(&r0).is_empty() && r0["metrics"]["metadata"]["degraded"] != true,
        "a short cut must cost nothing: {}",
        r0["metrics"]["metadata"]
    );
    ensure!(
        r0["metrics"]["requests"]["total"].as_u64() == Some(24),
        "stage 0 total"
    );
    let r1 = report(&run, 1)?;
    ensure!(
        r1["metrics"]["metadata"]["degraded"] == true && lost_agents(&r1) == ["client-0"],
        "a long cut degrades the stage: {}",
        r1["metrics"]["metadata"]
    );
    ensure!(code != 0, "a degraded run must not exit 0");
    Ok(())
}

/// (c) `coordinator serve --state-dir` on the results volume is killed mid-run and its container
/// started again: it resumes the run, the agents reattach, and every stage ends with a report
/// that counts each planned request once (or is marked partial); nothing acknowledged is lost.
#[test]
fn a_restarted_coordinator_container_finishes_the_run() -> Result<()> {
    if !docker_available("a_restarted_coordinator_container_finishes_the_run") {
        return Ok(());
    }
    let dir = scratch("containers-restart");
    build_image(IMAGE)?;
    let results = dir.join("results");
    let profile = loss_profile(&dir, "[{rate: 4, duration: 8}, {rate: 4, duration: 3}]")?;
    // The coordinator serves (no one-shot run) with its state on the results volume; restarts
    // are the test's to make.
    let over = dir.join("serve.yaml");
    std::fs::write(
        &over,
        "services:\n  coordinator:\n    command: [coordinator, serve, --listen, \"0.0.0.0:7600\", \
         --insecure, --out, /results, --state-dir, /results/.state, --agent-timeout, \"6\"]\n",
    )?;
    let project = format!("fbe2e-restart-{}", std::process::id());
    let cluster = Cluster::up_full(&project, IMAGE, &profile, &results, &[], &[over])?;
    // The submitter: its own container on the deployment's network.
    let submit = std::process::Command::new("docker")
        .args(["run", "-d", "--rm", "--name", &format!("{project}-submit")])
        .args(["--network", &cluster.network_name()])
        .args(["-v", &format!("{}:/p.yaml:ro", profile.display())])
        .args([IMAGE, "coordinator", "submit", "/p.yaml", "--coordinator"])
        .args(["coordinator:7600", "--insecure", "--expect-agents", "3"])
        .output()?;
    ensure!(
        submit.status.success(),
        "submit: {}",
        String::from_utf8_lossy(&submit.stderr)
    );
    let run = wait_stage_started(&results, 0)?;
    std::thread::sleep(Duration::from_secs(3));
    cluster.kill("coordinator")?;
    std::thread::sleep(Duration::from_millis(500));
    cluster.start("coordinator")?;
    // The resumed run ends: both stages reported.
    let start = std::time::Instant::now();
    let finished = loop {
        let state = std::fs::read_to_string(run.join("state.jsonl")).unwrap_or_default();
        if state.lines().any(|l| l.contains("\"event\":\"finished\"")) {
            break true;
        }
        if start.elapsed() > Duration::from_secs(120) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    let _ = std::process::Command::new("docker")
        .args(["rm", "-f", &format!("{project}-submit")])
        .output();
    ensure!(
        finished,
        "the run did not finish:\n{}",
        cluster.logs("coordinator")
    );
    for (stage, planned) in [(0u32, 32u64), (1, 12)] {
        let r = report(&run, stage)?;
        let total = r["metrics"]["requests"]["total"]
            .as_u64()
            .context("total")?;
        let partial = r["metrics"]["metadata"]["partial"] == true;
        ensure!(
            total == planned || (partial && total <= planned),
            "stage {stage}: {total} requests of {planned} planned (partial {partial})"
        );
    }
    Ok(())
}

/// The agent hosts of each host group of a stage report, sorted (`[prefill, decode]` order).
fn group_hosts(r: &Value) -> Vec<Vec<String>> {
    r["scenario"]["host"]["metadata"]["groups"]
        .as_array()
        .map(|gs| {
            gs.iter()
                .map(|g| {
                    let mut h: Vec<String> = g["agents"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .map(|x| x["host"].as_str().unwrap_or("").to_string())
                                .collect()
                        })
                        .unwrap_or_default();
                    h.sort();
                    h
                })
                .collect()
        })
        .unwrap_or_default()
}

/// (e) The shipped P:D sweep (`deploy/compose/pd-sweep.yaml`) on the compose deployment: the
/// coordinator runs here and listens on the gateway of a network the test makes; for each
/// point its reconfigure command (`pd-shape.sh`, `docker-compose up`/`rm` of the prefill and
/// decode hosts) deploys 1P:1D, then 1P:2D, and the agents join from their containers with
/// their roles. Two stages per point give 4 stage reports whose host groups name the point's
/// containers, and the sweep summary's Pareto plot has both points.
#[test]
fn a_two_point_pd_sweep_runs_on_the_compose_deployment() -> Result<()> {
    if !docker_available("a_two_point_pd_sweep_runs_on_the_compose_deployment") {
        return Ok(());
    }
    let dir = scratch("containers-sweep");
    build_image(IMAGE)?;
    let project = format!("fbe2e-sweep-{}", std::process::id());
    let network = Network::create(&project)?;
    let gateway = network.gateway()?;
    // The shipped sweep, with absolute paths and a free port for the proxy.
    let compose = repo_root().join("deploy/compose");
    let proxy_port = free_port().to_string();
    let text = std::fs::read_to_string(compose.join("pd-sweep.yaml"))?
        .replace(
            "profile: pd-sweep-profile.yaml",
            &format!(
                "profile: {}",
                compose.join("pd-sweep-profile.yaml").display()
            ),
        )
        .replace(
            "command: deploy/compose/pd-shape.sh",
            &format!("command: {}", compose.join("pd-shape.sh").display()),
        )
        .replace("127.0.0.1:18000", &format!("127.0.0.1:{proxy_port}"));
    let file = dir.join("pd-sweep.yaml");
    std::fs::write(&file, text)?;
    let vars = [
        ("COMPOSE_PROJECT_NAME", project.as_str()),
        ("COMPOSE_PROFILES", "scale"),
        ("FLEETBENCH_IMAGE", IMAGE),
        ("FLEETBENCH_NETWORK", project.as_str()),
        ("FLEETBENCH_PROXY_PORT", proxy_port.as_str()),
        // What compose.yaml's coordinator service would need, were it started.
        ("FLEETBENCH_PROFILE", "/dev/null"),
        ("FLEETBENCH_COORDINATOR", "unused:7600"),
    ];
    let _cluster = Cluster::attach(&project, &vars, &[compose.join("compose.sweep.yaml")]);
    let results = dir.join("results");
    let args: Vec<String> = [
        "sweep".to_string(),
        file.display().to_string(),
        "--listen".into(),
        format!("{gateway}:0"),
        "--insecure".into(),
        "--out".into(),
        results.display().to_string(),
        "--agent-timeout".into(),
        "3".into(),
    ]
    .into();
    let env: Vec<(&str, &str)> = vars
        .iter()
        .copied()
        .filter(|(k, _)| *k != "FLEETBENCH_COORDINATOR")
        .collect();
    let mut coord = Proc::spawn_env("coordinator", &bin("coordinator"), &args, &env, &dir)?;
    coord.listening_addr()?;
    let status = coord.wait(Duration::from_secs(240))?;
    ensure!(
        status.success(),
        "the sweep exited {status}: see {}",
        dir.join("coordinator.log").display()
    );
    let sweep = run_dir(&results)?;
    for (point, decode) in [
        ("1p1d", vec!["decode-0"]),
        ("1p2d", vec!["decode-0", "decode-1"]),
    ] {
        for (stage, planned) in [(0u32, 12u64), (1, 24)] {
            let r = report(&sweep.join(point).join("stages"), stage)?;
            ensure!(
                r["scenario"]["host"]["type"] == serde_json::json!(["prefill", "decode"]),
                "{point} stage {stage}: host types {}",
                r["scenario"]["host"]["type"]
            );
            let hosts = group_hosts(&r);
            ensure!(
                hosts
                    == [
                        vec!["prefill-0".to_string()],
                        decode.iter().map(|s| s.to_string()).collect()
                    ],
                "{point} stage {stage}: group hosts {hosts:?}"
            );
            let agents = r["scenario"]["metadata"]["agents"]
                .as_array()
                .context("agents")?;
            let client = agents
                .iter()
                .find(|a| a["role"] == "client")
                .context("client agent")?;
            ensure!(
                client["host"] == "client-0",
                "{point}: client host {client}"
            );
            let req = &r["metrics"]["requests"];
            ensure!(
                req["total"].as_u64() == Some(planned) && req["failures"].as_u64() == Some(0),
                "{point} stage {stage}: {req} (planned {planned})"
            );
        }
    }
    let summary: Value = serde_json::from_slice(&std::fs::read(sweep.join("sweep.json"))?)?;
    let points = summary["points"].as_array().context("points")?;
    ensure!(
        points.len() == 2 && points.iter().all(|p| p["status"] == "ok"),
        "sweep points: {}",
        summary["points"]
    );
    let series = summary["pareto"]["series"].as_array().context("pareto")?;
    for name in ["1p1d", "1p2d"] {
        let s = series
            .iter()
            .find(|s| s["name"] == name)
            .with_context(|| format!("no Pareto series {name}: {series:?}"))?;
        ensure!(
            s["points"].as_array().map(Vec::len) == Some(2),
            "series {name}: {s}"
        );
    }
    ensure!(sweep.join("plots/pareto.png").exists(), "no Pareto plot");
    // The second point's reconfigure log shows the second decode host deployed.
    let log = std::fs::read_to_string(sweep.join("1p2d/reconfigure.log"))?;
    ensure!(log.contains("shape 1P:2D"), "1p2d reconfigure.log: {log}");
    Ok(())
}
