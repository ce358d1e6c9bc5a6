//! Issue 19: P/D path verification and the per-pool breakdown against the sim's P/D mode (a
//! prefill and a decode sim behind `sim proxy`, an agent on each scraping its engine, a client
//! agent sending the load). A correct P/D run passes the path check and its per-pool figures
//! agree with each sim's ground truth within 5%; with the proxy's decode-only fallback fault the
//! check fails, names its numbers, and `coordinator run` exits 3; `coordinator submit
//! --no-require-pd` carries the choice to `serve`, whose run then reports the failed check
//! without failing the stage.

use anyhow::Context;
use fleetbench_e2e::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// 40 requests of 64 prompt tokens and 16 output tokens, 4 at a time; engines sampled every
/// 0.2 s; the profile declares prefill and decode hosts (so `--require-pd` is on).
const REQUESTS: u64 = 40;

struct PdRun {
    dir: PathBuf,
    exit: std::process::ExitStatus,
    prefill_truth: PathBuf,
    decode_truth: PathBuf,
}

fn role_sim(dir: &Path, role: &str) -> anyhow::Result<(Proc, String, PathBuf)> {
    let truth = dir.join(format!("truth-{role}.jsonl"));
    let (p, addr) = start_sim(
        dir,
        &format!("sim-{role}"),
        &[
            "--role",
            role,
            "--deterministic",
            "--ttft-ms",
            "30",
            "--itl-ms",
            "3",
            "--ground-truth",
            &truth.display().to_string(),
        ],
    )?;
    Ok((p, addr, truth))
}

/// How the run is started: `coordinator run`, or `coordinator serve` and `coordinator submit`
/// with these flags (the submitter's exit status is the run's).
enum Via<'a> {
    Run,
    Submit(&'a [&'a str]),
}

/// `goodput_ttft_s`: the profile's `report.goodput.constraints.ttft`.
fn pd_run(
    test: &str,
    proxy_flags: &[&str],
    goodput_ttft_s: f64,
    via: Via<'_>,
) -> anyhow::Result<PdRun> {
    let dir = scratch(test);
    let (_p_sim, p_addr, prefill_truth) = role_sim(&dir, "prefill")?;
    let (_d_sim, d_addr, decode_truth) = role_sim(&dir, "decode")?;
    let mut args: Vec<String> = [
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--kv-transfer-us-per-token",
        "100",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(["--prefill".into(), format!("http://{p_addr}")]);
    args.extend(["--decode".into(), format!("http://{d_addr}")]);
    args.extend(proxy_flags.iter().map(|s| s.to_string()));
    let mut proxy = Proc::spawn("sim-proxy", &bin("sim"), &args, &dir)?;
    let proxy_addr = proxy.listening_addr()?;
    let profile = write_profile(
        &dir,
        &proxy_addr,
        64,
        16,
        &format!(
            "load: {{type: concurrent, stages: [{{concurrency_level: 4, num_requests: {REQUESTS}}}]}}\n\
             telemetry: {{interval: 0.2}}\n\
             report: {{goodput: {{constraints: {{ttft: {goodput_ttft_s}, request_latency: 30}}}}}}\n\
             fleet: {{weights: {{prefill: 0, decode: 0}}, hosts: [{{role: prefill}}, {{role: decode}}]}}"
        ),
    );
    let (mut coord, addr) = match via {
        Via::Run => start_coordinator_run(&dir, &profile, 3, &[])?,
        Via::Submit(_) => {
            let args: Vec<String> = ["serve", "--listen", "127.0.0.1:0", "--insecure", "--out"]
                .iter()
                .map(|s| s.to_string())
                .chain([dir.join("results").display().to_string()])
                .collect();
            let mut p = Proc::spawn("coordinator", &bin("coordinator"), &args, &dir)?;
            let addr = p.listening_addr()?;
            (p, addr)
        }
    };
    let gpu = "NVIDIA H100 80GB HBM3:80:400";
    let (pm, dm) = (
        format!("http://{p_addr}/metrics"),
        format!("http://{d_addr}/metrics"),
    );
    let _p = start_agent(
        &dir,
        &addr,
        "p0",
        "prefill",
        &["--fake-gpu", gpu, "--engine-metrics", &pm],
    )?;
    let _d = start_agent(
        &dir,
        &addr,
        "d0",
        "decode",
        &["--fake-gpu", gpu, "--engine-metrics", &dm],
    )?;
    let _c = start_agent(&dir, &addr, "c0", "client", &[])?;
    let exit = match via {
        Via::Run => coord.wait(Duration::from_secs(90))?,
        Via::Submit(flags) => {
            let mut args: Vec<String> = ["submit", &profile.display().to_string()]
                .iter()
                .map(|s| s.to_string())
                .collect();
            args.extend(
                ["--coordinator", &addr, "--insecure", "--expect-agents", "3"]
                    .iter()
                    .chain(flags)
                    .map(|s| s.to_string()),
            );
            let mut submit = Proc::spawn("submit", &bin("coordinator"), &args, &dir)?;
            submit.wait(Duration::from_secs(90))?
        }
    };
    Ok(PdRun {
        dir,
        exit,
        prefill_truth,
        decode_truth,
    })
}

/// The stage's requests in a sim's ground truth (the preflight request left out: it precedes
/// the stage's telemetry).
fn truth(path: &Path) -> anyhow::Result<Vec<Value>> {
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    let mut out = Vec::new();
    for l in text.lines() {
        let v: Value = serde_json::from_str(l)?;
        if !v["request_id"]
            .as_str()
            .unwrap_or("")
            .starts_with("preflight")
        {
            out.push(v);
        }
    }
    Ok(out)
}

fn within_5pct(what: &str, measured: f64, truth: f64) {
    assert!(
        truth > 0.0 && (measured - truth).abs() <= 0.05 * truth,
        "{what}: per-pool figure {measured} vs ground truth {truth}"
    );
}

fn sum(rows: &[Value], f: impl Fn(&Value) -> f64) -> f64 {
    rows.iter().map(f).sum()
}

fn pool<'a>(r: &'a Value, kind: &str) -> &'a Value {
    at(r, "metrics.metadata.pools.pools")
        .as_array()
        .and_then(|p| p.iter().find(|p| p["kind"] == kind))
        .unwrap_or_else(|| panic!("no {kind} pool"))
}

#[test]
fn a_correct_pd_run_passes_and_its_pools_match_the_ground_truth() -> anyhow::Result<()> {
    let run = pd_run("pd_path_ok", &[], 5.0, Via::Run)?;
    assert!(run.exit.success(), "coordinator failed: {:?}", run.exit);
    let dir = run_dir(&run.dir)?;
    let r = stage_report(&dir, 0)?;
    check_benchmark_run(&r);
    assert_eq!(num(&r, "metrics.requests.total"), REQUESTS as f64);
    let pd = at(&r, "metrics.metadata.pd_path");
    assert_eq!(pd["status"], "pass", "{pd}");
    assert_eq!(pd["required"], true);
    // Goodput: every request met a 5 s TTFT and a 30 s latency limit.
    let g = at(&r, "metrics.metadata.goodput");
    assert_eq!(g["good_requests"], REQUESTS, "{g}");
    assert_eq!(g["constraints_s"]["ttft"], 5.0);
    assert_eq!(g["share_of_requests"], 1.0);

    let pre_truth = truth(&run.prefill_truth)?;
    let dec_truth = truth(&run.decode_truth)?;
    assert_eq!(pre_truth.len() as u64, REQUESTS);
    assert_eq!(dec_truth.len() as u64, REQUESTS);
    let (p, d) = (pool(&r, "prefill"), pool(&r, "decode"));
    // Requests and tokens per pool.
    within_5pct(
        "prefill requests",
        num(p, "requests"),
        pre_truth.len() as f64,
    );
    within_5pct(
        "decode requests",
        num(d, "requests"),
        dec_truth.len() as f64,
    );
    let prompt = sum(&pre_truth, |v| {
        v["computed_prompt_tokens"].as_f64().unwrap_or(0.0)
    });
    assert_eq!(prompt, (REQUESTS * 64) as f64);
    within_5pct(
        "prefill prompt tokens computed",
        num(p, "prompt_tokens_computed"),
        prompt,
    );
    within_5pct("prefill prompt tokens", num(p, "prompt_tokens"), prompt);
    let generated = sum(&dec_truth, |v| {
        v["completion_tokens"].as_f64().unwrap_or(0.0)
    });
    within_5pct(
        "decode generated tokens",
        num(d, "generation_tokens"),
        generated,
    );
    within_5pct(
        "decode KV received tokens",
        num(d, "kv_received_tokens"),
        prompt,
    );
    assert_eq!(
        num(d, "prompt_tokens_computed"),
        0.0,
        "decode recomputed nothing"
    );
    // Prefill time (arrival → prompt computed) on prefill; decode time (first → last token).
    let us = |v: &Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    let prefill_s = sum(&pre_truth, |v| {
        (us(v, "prefill_done_unix_us") - us(v, "arrival_unix_us")) / 1e6
    });
    within_5pct("prefill time", num(p, "prefill_time.total_s"), prefill_s);
    let decode_s = sum(&dec_truth, |v| {
        let t = v["token_unix_us"].as_array().cloned().unwrap_or_default();
        let f = |x: Option<&Value>| x.and_then(Value::as_f64).unwrap_or(0.0);
        (f(t.last()) - f(t.first())) / 1e6
    });
    within_5pct("decode time", num(d, "decode_time.total_s"), decode_s);
    // Prefill at 30 ms, KV transfer 64 × 100 µs: the TTFT split names both.
    let ttft = at(&r, "metrics.metadata.pools.ttft");
    assert!(
        (num(ttft, "prefill_compute_ms") - 30.0).abs() < 10.0,
        "{ttft}"
    );
    assert!((num(ttft, "kv_transfer_ms") - 6.4).abs() < 2.0, "{ttft}");
    assert!(
        num(ttft, "client_ttft_ms") >= num(ttft, "explained_ms") * 0.9,
        "{ttft}"
    );

    let summary = std::fs::read_to_string(dir.join("SUMMARY.txt"))?;
    assert!(summary.contains("P/D path check: PASS"), "{summary}");
    assert!(summary.contains("Goodput (req/s)"), "{summary}");
    // Goodput in summary.md/summary.json (vLLM's `request_goodput`) and in the 0.2.1 report.
    let rps = num(g, "requests_per_sec");
    let table: Value = serde_json::from_slice(&std::fs::read(dir.join("summary.json"))?)?;
    let cell = table["serving"]["Goodput (req/s)"]["0"].as_f64().unwrap();
    assert!(
        (cell - rps).abs() <= 0.006,
        "summary.json goodput {cell} vs {rps}"
    );
    let v021: Value =
        serde_json::from_slice(&std::fs::read(dir.join("stage-0/report_v0.2.1.json"))?)?;
    assert_eq!(
        v021["results"]["observability"]["fleetbench"]["goodput"], *g,
        "0.2.1 goodput"
    );
    let md = std::fs::read_to_string(dir.join("summary.md"))?;
    assert!(
        md.contains("## Per-pool breakdown") && md.contains("| prefill |"),
        "{md}"
    );
    let html = std::fs::read_to_string(dir.join("report.html"))?;
    assert!(html.contains("Per-pool breakdown") && html.contains("P/D path check: PASS"));
    Ok(())
}

#[test]
fn the_decode_only_fallback_fails_the_check_and_the_run() -> anyhow::Result<()> {
    // A TTFT limit of 1 ms no request meets: goodput 0 of 40.
    let run = pd_run("pd_path_fallback", &["--decode-only"], 0.001, Via::Run)?;
    assert_eq!(run.exit.code(), Some(3), "a failed P/D check exits 3");
    let dir = run_dir(&run.dir)?;
    let r = stage_report(&dir, 0)?;
    // The requests themselves succeeded: only the path is wrong.
    assert_eq!(num(&r, "metrics.requests.failures"), 0.0);
    assert_eq!(
        at(&r, "metrics.metadata.goodput.good_requests"),
        0,
        "1 ms TTFT limit"
    );
    let pd = at(&r, "metrics.metadata.pd_path");
    assert_eq!(pd["status"], "fail", "{pd}");
    let problems = pd["problems"].to_string();
    let computed = REQUESTS * 64;
    assert!(
        problems.contains(&format!(
            "the decode pool recomputed prompts: {computed} prompt tokens computed on decode against 0 on prefill"
        )),
        "{problems}"
    );
    assert!(
        problems.contains("the prefill pool computed 0 of"),
        "{problems}"
    );
    assert!(
        truth(&run.prefill_truth)?.is_empty(),
        "prefill got no request"
    );
    let verdict = at(&r, "metadata.verdict");
    assert_eq!(verdict["status"], "failed");
    assert!(verdict["reasons"]
        .to_string()
        .contains("P/D path check: FAIL"));
    let summary = std::fs::read_to_string(dir.join("SUMMARY.txt"))?;
    assert!(summary.contains("Verdict: FAILED"), "{summary}");
    assert!(summary.contains("recomputed prompts"), "{summary}");
    Ok(())
}

/// `coordinator submit --no-require-pd` to `serve`: the submit request carries the choice and
/// the run applies it — the decode-only fallback's failed check is reported, not required, so
/// the stage is not failed and the submitter exits 0 (with `coordinator run`'s default the
/// same fault exits 3, above).
#[test]
fn submit_carries_no_require_pd_to_serve() -> anyhow::Result<()> {
    let run = pd_run(
        "pd_path_submit",
        &["--decode-only"],
        5.0,
        Via::Submit(&["--no-require-pd"]),
    )?;
    assert!(run.exit.success(), "submit exited {:?}", run.exit);
    let dir = run_dir(&run.dir)?;
    let r = stage_report(&dir, 0)?;
    let pd = at(&r, "metrics.metadata.pd_path");
    assert_eq!(pd["status"], "fail", "{pd}");
    assert_eq!(pd["required"], false, "{pd}");
    assert_ne!(at(&r, "metadata.verdict")["status"], "failed");
    Ok(())
}
