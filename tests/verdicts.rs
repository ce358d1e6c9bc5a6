//! Verdicts and exit statuses with real processes against the sim: a model name the sim does not
//! know stops the run at the endpoint preflight (nothing else reaches the server), and without
//! the preflight every request fails, which fails the stage loudly — in the console, SUMMARY.txt,
//! summary.md/json, report.html and the report's metadata, each naming `http_404` and the
//! server's message — for `coordinator run` and `coordinator submit` alike; `report render`
//! judges the stored run the same way.

use fleetbench_e2e::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

const SERVER_SAYS: &str = "The model `no-such-model` does not exist.";

/// A sim that writes its ground truth, and a profile that names a model it does not serve.
fn unknown_model_setup(test: &str) -> anyhow::Result<(PathBuf, Proc, PathBuf, PathBuf)> {
    let dir = scratch(test);
    let truth = dir.join("truth.jsonl");
    let truth_arg = truth.display().to_string();
    let (sim, sim_addr) = start_sim(
        &dir,
        "sim",
        &[
            "--deterministic",
            "--ttft-ms",
            "2",
            "--itl-ms",
            "1",
            "--ground-truth",
            &truth_arg,
        ],
    )?;
    let path = write_profile(
        &dir,
        &sim_addr,
        8,
        4,
        "load: {type: constant, stages: [{rate: 10, duration: 1}]}",
    );
    let text = std::fs::read_to_string(&path)?.replace("sim-model", "no-such-model");
    std::fs::write(&path, text)?;
    Ok((dir, sim, path, truth))
}

/// The request ids in the sim's ground truth.
fn ids_seen(truth: &Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(truth).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l)?;
            Ok(v["request_id"].as_str().unwrap_or("").to_string())
        })
        .collect()
}

fn console(dir: &Path, stdout: &[String]) -> String {
    let log = std::fs::read_to_string(dir.join("coordinator.log")).unwrap_or_default();
    format!("{}\n{log}", stdout.join("\n"))
}

#[test]
fn an_unknown_model_stops_the_run_at_the_preflight() -> anyhow::Result<()> {
    let (dir, _sim, profile, truth) = unknown_model_setup("verdict_preflight")?;
    let (mut coord, addr) = start_coordinator_run(&dir, &profile, 2, &[])?;
    let mut a = start_agent(&dir, &addr, "agent-a", "client", &[])?;
    let mut b = start_agent(&dir, &addr, "agent-b", "client", &[])?;
    let status = coord.wait(Duration::from_secs(60))?;
    let out = console(&dir, &coord.stdout());
    assert_eq!(status.code(), Some(1), "the run stops: {out}");
    assert!(out.contains("endpoint preflight failed"), "{out}");
    assert!(out.contains("HTTP 404 (http_404)"), "{out}");
    assert!(out.contains(SERVER_SAYS), "the server's message: {out}");
    for agent in [&mut a, &mut b] {
        assert!(agent.wait(Duration::from_secs(10))?.success());
    }
    // One test request per agent reached the server, and nothing else.
    std::thread::sleep(Duration::from_millis(300));
    let mut ids = ids_seen(&truth)?;
    ids.sort();
    assert_eq!(
        ids,
        ["preflight-0", "preflight-1"],
        "the sim's ground truth"
    );
    assert!(
        !dir.join("results").exists() || run_dir(&dir).is_err(),
        "no run directory for a run that never started"
    );
    Ok(())
}

/// The checks of a failed 404 stage, on a run directory and the console.
fn assert_failed_404(run: &Path, out: &str) -> anyhow::Result<()> {
    assert!(
        out.contains("stage 0 (qps_10): **failed** — failure rate 100% (10 of 10 requests) is above the limit 50% (--max-failure-rate); no successful requests"),
        "{out}"
    );
    assert!(
        out.contains("http_404: 10 requests — server said: "),
        "{out}"
    );
    assert!(out.contains(SERVER_SAYS), "{out}");

    let r = stage_report(run, 0)?;
    check_benchmark_run(&r);
    assert_eq!(at(&r, "metadata.verdict.status"), "failed");
    assert_eq!(
        at(&r, "metadata.verdict.failure_classes.0.class"),
        "http_404"
    );
    assert!(
        at(&r, "metadata.verdict.failure_classes.0.first_error_body")
            .as_str()
            .unwrap()
            .contains(SERVER_SAYS)
    );
    assert_eq!(at(&r, "metadata.verdict.shards.0.planned.exact"), 10);
    assert_eq!(at(&r, "metadata.verdict.shards.0.counted"), 10);

    let txt = std::fs::read_to_string(run.join("SUMMARY.txt"))?;
    assert!(txt.contains("Verdict: FAILED"), "{txt}");
    assert!(
        txt.contains("stage 0 (qps_10): FAILED — failure rate 100%"),
        "{txt}"
    );
    assert!(txt.contains(SERVER_SAYS), "{txt}");
    let md = std::fs::read_to_string(run.join("summary.md"))?;
    assert!(
        md.contains("## Verdicts") && md.contains("**failed**"),
        "{md}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("summary.json"))?)?;
    assert_eq!(json["verdicts"][0]["verdict"], "failed");
    assert_eq!(json["verdicts"][0]["top_failures"][0]["class"], "http_404");
    let html = std::fs::read_to_string(run.join("report.html"))?;
    assert!(html.contains("<div class=\"banner failed\" id=\"verdict\"><h2>Verdict: FAILED</h2>"));
    assert!(
        html.contains("does not exist."),
        "the error body on the page"
    );
    Ok(())
}

#[test]
fn every_request_failing_fails_the_stage_and_the_run_exits_3() -> anyhow::Result<()> {
    let (dir, _sim, profile, truth) = unknown_model_setup("verdict_all_404")?;
    let (mut coord, addr) = start_coordinator_run(&dir, &profile, 1, &["--no-preflight"])?;
    let mut a = start_agent(&dir, &addr, "agent-a", "client", &[])?;
    let status = coord.wait(Duration::from_secs(60))?;
    let out = console(&dir, &coord.stdout());
    assert_eq!(status.code(), Some(3), "a failed stage: {out}");
    assert!(
        out.contains("verdict: FAILED (stage 0 (qps_10)); exit status 3"),
        "{out}"
    );
    assert!(a.wait(Duration::from_secs(10))?.success());
    let run = run_dir(&dir)?;
    assert_failed_404(&run, &out)?;
    assert_eq!(ids_seen(&truth)?.len(), 10, "no preflight request");

    // `report render` judges the stored reports again: the same verdict.
    let before = std::fs::read_to_string(run.join("SUMMARY.txt"))?;
    std::fs::remove_file(run.join("SUMMARY.txt"))?;
    let render = std::process::Command::new(bin("coordinator"))
        .args(["report", "render"])
        .arg(&run)
        .output()?;
    assert!(render.status.success());
    let printed = String::from_utf8_lossy(&render.stdout);
    assert!(
        printed.contains("stage 0 (qps_10): FAILED — failure rate 100%"),
        "{printed}"
    );
    assert_eq!(std::fs::read_to_string(run.join("SUMMARY.txt"))?, before);
    Ok(())
}

#[test]
fn submit_exits_non_zero_for_a_failed_stage_and_for_a_failed_preflight() -> anyhow::Result<()> {
    let (dir, _sim, profile, truth) = unknown_model_setup("verdict_submit")?;
    let results = dir.join("results").display().to_string();
    let mut serve = Proc::spawn(
        "coordinator",
        &bin("coordinator"),
        &[
            "serve".into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--insecure".into(),
            "--out".into(),
            results,
            "--start-lead".into(),
            "0.5".into(),
        ],
        &dir,
    )?;
    let addr = serve.listening_addr()?;
    let _agent = Proc::spawn(
        "agent-a",
        &bin("agent"),
        &[
            "join".into(),
            "--coordinator".into(),
            addr.clone(),
            "--insecure".into(),
            "--name".into(),
            "agent-a".into(),
        ],
        &dir,
    )?;
    let submit = |flags: &[&str]| {
        std::process::Command::new(bin("coordinator"))
            .arg("submit")
            .arg(&profile)
            .args(["--coordinator", &addr, "--insecure", "--expect-agents", "1"])
            .args(flags)
            .output()
    };
    let failed = submit(&["--no-preflight"])?;
    let out = format!(
        "{}\n{}",
        String::from_utf8_lossy(&failed.stdout),
        String::from_utf8_lossy(&failed.stderr)
    );
    assert_eq!(failed.status.code(), Some(3), "{out}");
    assert_failed_404(&run_dir(&dir)?, &out)?;

    let stopped = submit(&[])?;
    let err = String::from_utf8_lossy(&stopped.stderr);
    assert_eq!(stopped.status.code(), Some(1), "{err}");
    assert!(err.contains("endpoint preflight failed"), "{err}");
    assert!(
        err.contains("HTTP 404 (http_404)") && err.contains(SERVER_SAYS),
        "{err}"
    );
    let ids = ids_seen(&truth)?;
    assert_eq!(
        ids.len(),
        11,
        "10 requests of the first run, one preflight: {ids:?}"
    );
    assert_eq!(
        ids.iter().filter(|i| i.starts_with("preflight-")).count(),
        1
    );
    drop(serve);
    Ok(())
}

#[test]
fn allow_degraded_accepts_a_run_that_lost_an_agent() -> anyhow::Result<()> {
    let dir = scratch("verdict_allow_degraded");
    let (_sim, sim_addr) = start_sim(
        &dir,
        "sim",
        &["--deterministic", "--ttft-ms", "2", "--itl-ms", "1"],
    )?;
    let load = "load: {type: constant, stages: [{rate: 10, duration: 3}]}\n\
                fleet: {on_agent_loss: continue}";
    let path = write_profile(&dir, &sim_addr, 8, 4, load);
    let flags = ["--agent-timeout", "1", "--allow-degraded"];
    let (mut coord, addr) = start_coordinator_run(&dir, &path, 2, &flags)?;
    let _a = start_agent(&dir, &addr, "a", "client", &[])?;
    let b = start_agent(&dir, &addr, "b", "client", &[])?;
    // After the preflight the stage starts within ~1 s (clock probes, start lead); b dies in it.
    let log = dir.join("coordinator.log");
    let planned = std::time::Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&log)?.contains("run planned")
        && std::time::Instant::now() < planned
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &b.pid().to_string()])
        .status()?;
    assert!(killed.success());
    let status = coord.wait(Duration::from_secs(60))?;
    let out = console(&dir, &coord.stdout());
    assert!(status.success(), "--allow-degraded: exit 0: {out}");
    assert!(
        out.contains("**degraded**") && out.contains("(agent b) was lost"),
        "{out}"
    );
    let r = stage_report(&run_dir(&dir)?, 0)?;
    assert_eq!(at(&r, "metadata.verdict.status"), "degraded");
    assert_eq!(at(&r, "metadata.verdict.shards.1.lost"), true);
    Ok(())
}
