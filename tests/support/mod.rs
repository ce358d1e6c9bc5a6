//! Shared by the end-to-end tests: start the real `sim`, `coordinator` and `agent` binaries on
//! loopback, read the address each prints on its first stdout line, and kill whatever is left
//! when a test ends. Also the report checks that several tests make.

#![warn(missing_docs)]

pub mod chaos;
pub mod docker;
pub mod replay;
pub mod security;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A binary of this workspace, next to the test executable's `deps/` folder.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target profile dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace first (`cargo build --workspace`, as `make test` does)",
        path.display()
    );
    path
}

/// A fresh scratch directory for one test.
pub fn scratch(test: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target profile dir")
        .join("e2e-scratch")
        .join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// A child process that is killed when dropped. Its stdout lines are collected.
pub struct Proc {
    /// The name its log file and messages carry.
    pub name: String,
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    first_line: Option<mpsc::Receiver<String>>,
}

impl Proc {
    /// Starts `program ARGS`, its stderr logged to `log_dir/NAME.log` and its stdout collected.
    pub fn spawn(name: &str, program: &Path, args: &[String], log_dir: &Path) -> Result<Proc> {
        Proc::spawn_env(name, program, args, &[], log_dir)
    }

    /// [`Proc::spawn`] with extra environment variables.
    pub fn spawn_env(
        name: &str,
        program: &Path,
        args: &[String],
        env: &[(&str, &str)],
        log_dir: &Path,
    ) -> Result<Proc> {
        let stderr = std::fs::File::create(log_dir.join(format!("{name}.log")))?;
        let mut child = Command::new(program)
            .args(args)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("start {}", program.display()))?;
        let out = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let keep = lines.clone();
        std::thread::spawn(move || {
            for (i, line) in BufReader::new(out)
                .lines()
                .map_while(Result::ok)
                .enumerate()
            {
                if i == 0 {
                    let _ = tx.send(line.clone());
                }
                keep.lock().unwrap().push(line);
            }
        });
        Ok(Proc {
            name: name.to_string(),
            child,
            stdout: lines,
            first_line: Some(rx),
        })
    }

    /// The address from a first stdout line `listening on ADDR`.
    pub fn listening_addr(&mut self) -> Result<String> {
        let rx = self
            .first_line
            .take()
            .ok_or_else(|| anyhow!("first line already read"))?;
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .with_context(|| format!("{} printed no first line", self.name))?;
        line.strip_prefix("listening on ")
            .map(|s| s.trim().to_string())
            .ok_or_else(|| anyhow!("{}: unexpected first line {line:?}", self.name))
    }

    /// Waits up to `limit` for the process to exit; past it, kills it and returns an error.
    pub fn wait(&mut self, limit: Duration) -> Result<ExitStatus> {
        let until = Instant::now() + limit;
        loop {
            if let Some(s) = self.child.try_wait()? {
                // Let the reader thread take the last lines.
                std::thread::sleep(Duration::from_millis(50));
                return Ok(s);
            }
            if Instant::now() > until {
                let _ = self.child.kill();
                bail!("{} still running after {limit:?}", self.name);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The stdout lines collected so far.
    pub fn stdout(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `sim serve` on a free loopback port, with extra flags.
pub fn start_sim(dir: &Path, name: &str, flags: &[&str]) -> Result<(Proc, String)> {
    let mut args = vec!["serve".to_string(), "--listen".into(), "127.0.0.1:0".into()];
    args.extend(flags.iter().map(|s| s.to_string()));
    let mut p = Proc::spawn(name, &bin("sim"), &args, dir)?;
    let addr = p.listening_addr()?;
    Ok((p, addr))
}

/// `coordinator run PROFILE` on a free loopback port.
pub fn start_coordinator_run(
    dir: &Path,
    profile: &Path,
    expect: u32,
    flags: &[&str],
) -> Result<(Proc, String)> {
    start_coordinator_run_env(dir, profile, expect, flags, &[])
}

/// [`start_coordinator_run`] with extra environment variables.
pub fn start_coordinator_run_env(
    dir: &Path,
    profile: &Path,
    expect: u32,
    flags: &[&str],
    env: &[(&str, &str)],
) -> Result<(Proc, String)> {
    let mut args = vec![
        "run".to_string(),
        profile.display().to_string(),
        "--expect-agents".into(),
        expect.to_string(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--insecure".into(),
        "--out".into(),
        dir.join("results").display().to_string(),
        "--start-lead".into(),
        "0.5".into(),
        "--join-timeout".into(),
        "30".into(),
    ];
    args.extend(flags.iter().map(|s| s.to_string()));
    let mut p = Proc::spawn_env("coordinator", &bin("coordinator"), &args, env, dir)?;
    let addr = p.listening_addr()?;
    Ok((p, addr))
}

/// `agent join --once` as NAME with ROLE.
pub fn start_agent(
    dir: &Path,
    coordinator: &str,
    name: &str,
    role: &str,
    flags: &[&str],
) -> Result<Proc> {
    let mut args = vec![
        "join".to_string(),
        "--coordinator".into(),
        coordinator.to_string(),
        "--insecure".into(),
        "--once".into(),
        "--name".into(),
        name.into(),
        "--role".into(),
        role.into(),
    ];
    args.extend(flags.iter().map(|s| s.to_string()));
    Proc::spawn(name, &bin("agent"), &args, dir)
}

/// Writes `dir/profile.yaml`: streamed completions against the sim at `sim` with fixed
/// lengths, plus `rest` (the `load` section and anything else).
pub fn write_profile(
    dir: &Path,
    sim: &str,
    input_tokens: u32,
    output_tokens: u32,
    rest: &str,
) -> PathBuf {
    let path = dir.join("profile.yaml");
    let text = format!(
        "name: e2e\n\
         server: {{type: vllm, model_name: sim-model, base_url: 'http://{sim}', ignore_eos: true}}\n\
         api: {{type: completion, streaming: true}}\n\
         data: {{type: random,\n\
                 input_distribution: {{min: {input_tokens}, max: {input_tokens}, mean: {input_tokens}}},\n\
                 output_distribution: {{min: {output_tokens}, max: {output_tokens}, mean: {output_tokens}}}}}\n\
         {rest}\n"
    );
    std::fs::write(&path, text).expect("write the profile");
    path
}

/// Writes `dir/profile.yaml`: streamed chat against the sim at `sim` (`ignore_eos`), plus
/// `rest` (the data and load sections and anything else).
pub fn write_chat_profile(dir: &Path, sim: &str, rest: &str) -> PathBuf {
    let path = dir.join("profile.yaml");
    let text = format!(
        "server: {{type: vllm, model_name: sim-model, base_url: 'http://{sim}', ignore_eos: true}}\n\
         api: {{type: chat, streaming: true}}\n\
         {rest}"
    );
    std::fs::write(&path, text).expect("write the profile");
    path
}

/// `coordinator run PROFILE` with two client agents (`agent-a`, `agent-b`): waits up to `limit`
/// for the run, checks that all three exited successfully, and returns the run directory and
/// what the coordinator printed on stdout.
pub fn run_with_two_agents(
    dir: &Path,
    profile: &Path,
    limit: Duration,
) -> Result<(PathBuf, Vec<String>)> {
    run_with_two_agents_and(dir, profile, limit, &[])
}

/// [`run_with_two_agents`] with extra `coordinator run` flags.
pub fn run_with_two_agents_and(
    dir: &Path,
    profile: &Path,
    limit: Duration,
    coordinator_flags: &[&str],
) -> Result<(PathBuf, Vec<String>)> {
    run_with_two_agents_flags(dir, profile, limit, coordinator_flags, &[])
}

/// [`run_with_two_agents`] with extra `coordinator run` and `agent join` flags.
pub fn run_with_two_agents_flags(
    dir: &Path,
    profile: &Path,
    limit: Duration,
    coordinator_flags: &[&str],
    agent_flags: &[&str],
) -> Result<(PathBuf, Vec<String>)> {
    let (mut coord, addr) = start_coordinator_run(dir, profile, 2, coordinator_flags)?;
    let mut a = start_agent(dir, &addr, "agent-a", "client", agent_flags)?;
    let mut b = start_agent(dir, &addr, "agent-b", "client", agent_flags)?;
    if !coord.wait(limit)?.success() {
        bail!(
            "coordinator failed: see {}",
            dir.join("coordinator.log").display()
        );
    }
    for agent in [&mut a, &mut b] {
        if !agent.wait(Duration::from_secs(10))?.success() {
            bail!(
                "{} failed: see {}",
                agent.name,
                dir.join(format!("{}.log", agent.name)).display()
            );
        }
    }
    Ok((run_dir(dir)?, coord.stdout()))
}

/// The one run directory under `dir/results`.
pub fn run_dir(dir: &Path) -> Result<PathBuf> {
    let mut runs: Vec<PathBuf> = std::fs::read_dir(dir.join("results"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    if runs.len() != 1 {
        bail!("expected one run directory, found {runs:?}");
    }
    Ok(runs.remove(0))
}

/// Reads `stage-K/report.json` and checks that `report.yaml` holds the same report; checks the
/// stage's reports in every format the run wrote ([`check_stage_formats`]).
pub fn stage_report(run: &Path, stage: u32) -> Result<Value> {
    let json: Value = serde_json::from_slice(&std::fs::read(
        run.join(format!("stage-{stage}/report.json")),
    )?)?;
    let yaml: Value = serde_norway::from_str(&std::fs::read_to_string(
        run.join(format!("stage-{stage}/report.yaml")),
    )?)?;
    if !same_numbers(&json, &yaml) {
        bail!("report.yaml and report.json of stage {stage} differ");
    }
    check_stage_formats(run, stage)?;
    Ok(json)
}

fn read_yaml(path: &Path) -> Result<Value> {
    serde_norway::from_str(&std::fs::read_to_string(path)?)
        .with_context(|| format!("{}", path.display()))
}

/// Every report of stage K that the run wrote, checked by the project's checker of its format
/// (`fleetbench_report::check_v0_1` / `check_v0_2_1`: required fields, units, enums as
/// llm-d's published schemas state them); the copies under llm-d's names hold the same report.
/// Returns the v0.2.1 report when the run wrote one.
pub fn check_stage_formats(run: &Path, stage: u32) -> Result<Option<Value>> {
    use fleetbench_report::{check_v0_1, check_v0_2_1};
    let v01: Value = serde_json::from_slice(&std::fs::read(
        run.join(format!("stage-{stage}/report.json")),
    )?)?;
    if let Err(e) = check_v0_1(&v01) {
        bail!("stage {stage} report v0.1: {}", e.join("; "));
    }
    let top01 = run.join(format!("benchmark_report,_stage_{stage}.yaml"));
    if top01.is_file() && !same_numbers(&read_yaml(&top01)?, &v01) {
        bail!("{} differs from stage-{stage}/report.json", top01.display());
    }
    let j = run.join(format!("stage-{stage}/report_v0.2.1.json"));
    if !j.is_file() {
        return Ok(None);
    }
    let v021: Value = serde_json::from_slice(&std::fs::read(&j)?)?;
    if let Err(e) = check_v0_2_1(&v021) {
        bail!("stage {stage} report v0.2.1: {}", e.join("; "));
    }
    for other in [
        run.join(format!("stage-{stage}/report_v0.2.1.yaml")),
        run.join(format!("benchmark_report_v0.2.1,_stage_{stage}.yaml")),
    ] {
        if !same_numbers(&read_yaml(&other)?, &v021) {
            bail!("{} differs from {}", other.display(), j.display());
        }
    }
    Ok(Some(v021))
}

fn same_numbers(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            (x.as_f64().unwrap() - y.as_f64().unwrap()).abs() < 1e-9
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_numbers(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same_numbers(v, w))
        }
        _ => a == b,
    }
}

/// The lines of a JSON-lines file (lines that are not JSON left out).
pub fn json_lines(path: &Path) -> Result<Vec<Value>> {
    Ok(std::fs::read_to_string(path)?
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

/// A value at a dotted path (`metrics.latency.time_to_first_token.p50`).
pub fn at<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |v, k| match k.parse::<usize>() {
        Ok(i) if v.is_array() => &v[i],
        _ => &v[k],
    })
}

/// The number at a dotted path; panics, naming the path, if it is not one.
pub fn num(v: &Value, path: &str) -> f64 {
    at(v, path)
        .as_f64()
        .unwrap_or_else(|| panic!("{path} is not a number: {}", at(v, path)))
}

/// The rules of `docs/report-0.1.md` that a report must meet: required fields, units
/// from the allowed sets, equal list lengths, load.name from the five generators, host types.
pub fn check_benchmark_run(r: &Value) {
    if let Err(e) = fleetbench_report::check_v0_1(r) {
        panic!("report v0.1 fails its format check: {}", e.join("; "));
    }
    assert_eq!(r["version"], "0.1");
    for path in [
        "scenario.model.name",
        "scenario.load.name",
        "scenario.host.type",
        "scenario.host.accelerator",
        "scenario.platform.engine",
        "metrics.time.duration",
        "metrics.requests.total",
        "metrics.requests.input_length.units",
        "metrics.requests.input_length.mean",
        "metrics.requests.output_length.mean",
        "metrics.latency.time_to_first_token.units",
        "metrics.latency.time_to_first_token.mean",
        "metrics.throughput.total_tokens_per_sec",
    ] {
        assert!(!at(r, path).is_null(), "required field {path} is missing");
    }
    let generators = [
        "guidellm",
        "inferencemax",
        "inference-perf",
        "vllm-benchmark",
        "nop",
    ];
    assert!(generators.contains(&at(r, "scenario.load.name").as_str().unwrap()));
    let types = at(r, "scenario.host.type").as_array().unwrap();
    assert!(types
        .iter()
        .all(|t| ["replica", "prefill", "decode"].contains(&t.as_str().unwrap())));
    let n = types.len();
    assert_eq!(
        at(r, "scenario.host.accelerator").as_array().unwrap().len(),
        n
    );
    assert_eq!(
        at(r, "scenario.platform.engine").as_array().unwrap().len(),
        n
    );
    if let Some(res) = at(r, "metrics.resources.accelerator").as_array() {
        assert_eq!(res.len(), n);
    }
    for a in at(r, "scenario.host.accelerator").as_array().unwrap() {
        assert!(
            a["model"].is_string() && a["count"].is_u64(),
            "accelerator {a}"
        );
    }
    let units = |path: &str, allowed: &[&str]| {
        let s = at(r, path);
        if !s.is_null() {
            let u = s["units"]
                .as_str()
                .unwrap_or_else(|| panic!("{path}.units missing"));
            assert!(allowed.contains(&u), "{path}.units {u} not in {allowed:?}");
            let keys = [
                "min", "p0p1", "p1", "p5", "p10", "p25", "p50", "p75", "p90", "p95", "p99",
                "p99p9", "max",
            ];
            let vals: Vec<f64> = keys.iter().filter_map(|k| s[*k].as_f64()).collect();
            assert!(
                vals.windows(2).all(|w| w[0] <= w[1] + 1e-9),
                "{path} percentiles not monotone"
            );
        }
    };
    units("metrics.requests.input_length", &["count"]);
    units("metrics.requests.output_length", &["count"]);
    units("metrics.latency.time_to_first_token", &["ms", "s"]);
    units("metrics.latency.request_latency", &["ms", "s"]);
    for p in [
        "time_per_output_token",
        "normalized_time_per_output_token",
        "inter_token_latency",
    ] {
        units(&format!("metrics.latency.{p}"), &["ms/token", "s/token"]);
    }
}
