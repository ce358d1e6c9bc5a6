//! Issue 21's first run on one machine: `coordinator run` starts its agents itself (child
//! `agent` processes over loopback, no TLS flags), the quick form `--url --model --rate` writes
//! a full run directory whose `profile.yaml` repeats the run, `profiles/quickstart.yaml` runs
//! alone, the local agents are gone once the coordinator ends (also after SIGTERM), `report
//! compare` pairs stages by load and shows failed stages as failed, and both binaries print
//! shell completions.

use anyhow::{bail, Result};
use fleetbench_e2e::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// `coordinator run ARGS` with local agents on a free loopback port, results under
/// `dir/results`; the process and its address.
fn start_run(
    dir: &Path,
    name: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<(Proc, String)> {
    let mut all: Vec<String> = vec!["run".into()];
    all.extend(args.iter().map(|s| s.to_string()));
    all.extend(
        [
            "--listen",
            "127.0.0.1:0",
            "--out",
            &dir.join("results").display().to_string(),
            "--start-lead",
            "0.5",
            "--join-timeout",
            "30",
        ]
        .map(String::from),
    );
    let mut p = Proc::spawn_env(name, &bin("coordinator"), &all, env, dir)?;
    let addr = p.listening_addr()?;
    Ok((p, addr))
}

/// Processes whose command line names `addr` (the local agents of that coordinator).
fn agents_of(addr: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmd
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).to_string())
            .collect();
        if args.iter().any(|a| a == "join") && args.iter().any(|a| a == addr) {
            out.push(args.join(" "));
        }
    }
    out
}

fn run_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("results"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    v.sort();
    Ok(v)
}

fn no_agents_left(addr: &str) {
    // The coordinator reaps its children before it exits.
    let left = agents_of(addr);
    assert!(left.is_empty(), "agents left running: {left:?}");
}

#[test]
fn the_quick_form_writes_a_full_run_directory_whose_profile_repeats_it() -> Result<()> {
    let dir = scratch("first_run_quick");
    let (_sim, sim) = start_sim(
        &dir,
        "sim",
        &["--deterministic", "--ttft-ms", "20", "--itl-ms", "5"],
    )?;
    let url = format!("http://{sim}");
    let (mut coord, addr) = start_run(
        &dir,
        "coordinator",
        &[
            "--url",
            &url,
            "--model",
            "sim-model",
            "--rate",
            "5",
            "--duration",
            "5",
            "--input-len",
            "32",
            "--output-len",
            "16",
        ],
        &[],
    )?;
    let status = coord.wait(Duration::from_secs(90))?;
    let log = std::fs::read_to_string(dir.join("coordinator.log"))?;
    assert!(status.success(), "coordinator failed: {log}");
    assert!(log.contains("started 1 local agents"), "{log}");
    no_agents_left(&addr);
    let run = run_dir(&dir)?;
    for f in [
        "profile.yaml",
        "plan.json",
        "agents.json",
        "stage-0/report.json",
        "stage-0/report_v0.2.1.json",
        "summary.json",
        "summary.md",
        "summary.csv",
        "SUMMARY.txt",
        "report.html",
        "plots/ttft_cdf.png",
    ] {
        assert!(run.join(f).is_file(), "{f} missing in {}", run.display());
    }
    let r = stage_report(&run, 0)?;
    check_benchmark_run(&r);
    assert_eq!(num(&r, "metrics.requests.total"), 25.0, "5 req/s for 5 s");
    assert_eq!(num(&r, "metrics.requests.failures"), 0.0);
    let agents: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("agents.json"))?)?;
    assert_eq!(agents[0]["id"], "local-1", "{agents}");
    let profile = std::fs::read_to_string(run.join("profile.yaml"))?;
    assert!(profile.contains("{rate: 5, duration: 5}"), "{profile}");
    assert!(profile.contains(&url), "{profile}");

    // The stored profile repeats the run exactly: same plan, same count.
    let again = run.join("profile.yaml").display().to_string();
    let (mut coord, addr) = start_run(&dir, "coordinator-again", &[&again], &[])?;
    assert!(coord.wait(Duration::from_secs(90))?.success());
    no_agents_left(&addr);
    let runs = run_dirs(&dir)?;
    assert_eq!(runs.len(), 2, "{runs:?}");
    let second = runs.iter().find(|p| **p != run).expect("a second run");
    assert_eq!(
        std::fs::read_to_string(second.join("profile.yaml"))?,
        profile
    );
    let r2 = stage_report(second, 0)?;
    assert_eq!(num(&r2, "metrics.requests.total"), 25.0);
    Ok(())
}

#[test]
fn quickstart_alone_runs_with_the_agents_it_expects_started_here() -> Result<()> {
    let dir = scratch("first_run_quickstart");
    let (_sim, sim) = start_sim(&dir, "sim", &[])?;
    let profile = workspace_root().join("profiles/quickstart.yaml");
    let endpoint = format!("http://{sim}");
    let (mut coord, addr) = start_run(
        &dir,
        "coordinator",
        &[&profile.display().to_string()],
        &[("FLEETBENCH_ENDPOINT", &endpoint)],
    )?;
    let status = coord.wait(Duration::from_secs(120))?;
    let log = std::fs::read_to_string(dir.join("coordinator.log"))?;
    assert!(status.success(), "coordinator failed: {log}");
    assert!(log.contains("started 2 local agents"), "{log}");
    no_agents_left(&addr);
    let run = run_dir(&dir)?;
    let agents: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("agents.json"))?)?;
    let mut ids: Vec<&str> = agents
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["id"].as_str())
        .collect();
    ids.sort();
    assert_eq!(ids, ["local-1", "local-2"]);
    let total: f64 = (0..2)
        .map(|k| stage_report(&run, k).map(|r| num(&r, "metrics.requests.total")))
        .sum::<Result<f64>>()?;
    assert_eq!(total, 150.0, "10 req/s and 20 req/s for 5 s each");
    Ok(())
}

#[test]
fn sigterm_stops_the_run_and_leaves_no_local_agent() -> Result<()> {
    let dir = scratch("first_run_sigterm");
    let (_sim, sim) = start_sim(&dir, "sim", &[])?;
    let url = format!("http://{sim}");
    let (mut coord, addr) = start_run(
        &dir,
        "coordinator",
        &[
            "--url",
            &url,
            "--model",
            "sim-model",
            "--concurrency",
            "2",
            "--duration",
            "60",
            "--local-agents",
            "2",
        ],
        &[],
    )?;
    // Wait until both agents are up, then into the stage.
    let until = std::time::Instant::now() + Duration::from_secs(30);
    while agents_of(&addr).len() < 2 {
        if std::time::Instant::now() > until {
            bail!("the local agents did not start: {:?}", agents_of(&addr));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(4));
    Command::new("kill")
        .args(["-TERM", &coord.pid().to_string()])
        .status()?;
    let status = coord.wait(Duration::from_secs(60))?;
    assert_eq!(status.code(), Some(130), "exit status after SIGTERM");
    no_agents_left(&addr);
    Ok(())
}

/// `coordinator run` of the quick form into `dir`, its exit status.
fn quick_run(
    dir: &Path,
    name: &str,
    url: &str,
    rates: &str,
    extra: &[&str],
) -> Result<Option<i32>> {
    let mut args = vec![
        "--url",
        url,
        "--model",
        "sim-model",
        "--rate",
        rates,
        "--duration",
        "2",
        "--input-len",
        "16",
        "--output-len",
        "8",
    ];
    args.extend_from_slice(extra);
    let (mut coord, addr) = start_run(dir, name, &args, &[])?;
    let status = coord.wait(Duration::from_secs(90))?;
    no_agents_left(&addr);
    Ok(status.code())
}

#[test]
fn compare_pairs_stages_by_load_and_shows_failed_stages_as_failed() -> Result<()> {
    let dir = scratch("first_run_compare");
    let (_sim, sim) = start_sim(
        &dir,
        "sim",
        &["--deterministic", "--ttft-ms", "10", "--itl-ms", "2"],
    )?;
    let url = format!("http://{sim}");
    let a_dir = dir.join("a");
    let b_dir = dir.join("b");
    let c_dir = dir.join("c");
    for d in [&a_dir, &b_dir, &c_dir] {
        std::fs::create_dir_all(d)?;
    }
    assert_eq!(quick_run(&a_dir, "coordinator", &url, "2,4", &[])?, Some(0));
    assert_eq!(quick_run(&b_dir, "coordinator", &url, "4,8", &[])?, Some(0));
    // Nothing listens there: every request fails, the stage is failed (exit 3).
    let dead = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let dead_url = format!("http://{dead}");
    assert_eq!(
        quick_run(&c_dir, "coordinator", &dead_url, "2", &["--no-preflight"])?,
        Some(3)
    );
    let (a, b, c) = (run_dir(&a_dir)?, run_dir(&b_dir)?, run_dir(&c_dir)?);

    let html = dir.join("compare.html");
    let out = Command::new(bin("coordinator"))
        .args(["report", "compare"])
        .args([&a, &b, &c])
        .arg("--html")
        .arg(&html)
        .output()?;
    let md = String::from_utf8(out.stdout)?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // 4 req/s of A pairs with B's stage 0, not with B's stage 1 (8 req/s).
    let tput: Vec<&str> = md
        .lines()
        .filter(|l| l.starts_with("| 4 req/s |") && l.contains("| # of req. |"))
        .collect();
    assert_eq!(tput.len(), 1, "{md}");
    assert!(
        tput[0].contains("| 1 / 0 / – |"),
        "stage 1 of A, stage 0 of B: {}",
        tput[0]
    );
    assert!(md.contains("load 8 req/s: B stage 1"), "{md}");
    assert!(md.contains("has no partner in A, C"), "{md}");
    // C's failed stage at 2 req/s: failed, never a percentage like -100.00%.
    let two: Vec<&str> = md
        .lines()
        .filter(|l| l.starts_with("| 2 req/s |"))
        .collect();
    assert!(!two.is_empty(), "{md}");
    for l in &two {
        assert!(l.contains("| failed |") && l.contains("C failed"), "{l}");
    }
    assert!(!md.contains("-100.00%"), "{md}");
    let page = std::fs::read_to_string(&html)?;
    assert!(
        page.contains("<svg") && page.contains("Output throughput vs load"),
        "plots inline"
    );
    assert!(page.contains("Stages without a partner"));
    assert!(
        !page.contains("src=\"http") && !page.contains("href=\"http"),
        "nothing fetched"
    );

    // The failed run's own page says so in a banner, and its files are links.
    let failed_page = std::fs::read_to_string(c.join("report.html"))?;
    assert!(failed_page.contains("banner failed"), "failed banner");
    assert!(
        failed_page.contains("<a href=\"SUMMARY.txt\">"),
        "files are links"
    );
    Ok(())
}

#[test]
fn both_binaries_print_shell_completions() -> Result<()> {
    for b in ["coordinator", "agent"] {
        let out = Command::new(bin(b))
            .args(["completions", "bash"])
            .output()?;
        assert!(out.status.success(), "{b}");
        let text = String::from_utf8(out.stdout)?;
        assert!(text.contains(&format!("complete -F _{b}")), "{b}: {text}");
        let out = Command::new(bin(b)).args(["completions", "zsh"]).output()?;
        assert!(out.status.success() && !out.stdout.is_empty(), "{b} zsh");
    }
    Ok(())
}
