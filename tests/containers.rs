//! Multi-host runs in containers (issue 18): the project's image, the compose deployment of
//! `deploy/compose/` (coordinator, prefill host, decode host, P/D proxy, client host, each with
//! its own address on a private network). Skipped with a message where no Docker Engine runs.

use anyhow::{ensure, Context, Result};
use fleetbench_e2e::docker::{build_image, docker_available, repo_root, Cluster};
use fleetbench_e2e::scratch;
use serde_json::Value;
use std::time::Duration;

const IMAGE: &str = "fleetbench:e2e";

/// The run directory the coordinator wrote under `results` (the only one there).
fn run_dir(results: &std::path::Path) -> Result<std::path::PathBuf> {
    let mut dirs: Vec<_> = std::fs::read_dir(results)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
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
