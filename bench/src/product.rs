//! The product path in the per-event regime: a sim writing every SSE event as its own HTTP chunk
//! and TCP segment (`--framing per-event`) pinned to one core; `coordinator run` and one `agent
//! join` process pinned to the other, closed-loop streams of fixed-length completions. The
//! agent's whole-process CPU (utime + stime from /proc) over the steady part of the run, per
//! 1,000 chunks (the sim's `vllm:generation_tokens_total`), the median of several runs, each
//! with the load average at its start and end.

use crate::procs::{
    load_average, proc_context_switches, proc_cpu_seconds, proc_rss_mb, sibling, start_sim,
};
use anyhow::{bail, Context};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The points and runs of a benchmark against a per-event sim: the product path's, the I/O
/// models'.
pub(crate) struct Points {
    pub(crate) streams: Vec<u32>,
    /// Milliseconds between tokens (and to the first token) of the sim.
    pub(crate) delays_ms: Vec<f64>,
    pub(crate) seconds: f64,
    pub(crate) runs: usize,
    pub(crate) tokens: u32,
    pub(crate) sim_core: usize,
    /// The measured client's core (the agent's, `io-probe`'s).
    pub(crate) client_core: usize,
}

/// What the product runs measure.
pub(crate) struct Product {
    pub(crate) points: Points,
    /// Another `agent` binary than the one next to this (before/after comparisons); with
    /// several, each point's runs alternate between them.
    pub(crate) agent_bins: Vec<PathBuf>,
}

/// A child process killed (and reaped) when dropped.
pub(crate) struct Guard(pub(crate) Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One reading every 250 ms.
pub(crate) struct Sample {
    pub(crate) t: f64,
    pub(crate) agent_cpu: f64,
    pub(crate) agent_switches: u64,
    pub(crate) coordinator_cpu: f64,
    pub(crate) sim_cpu: f64,
    pub(crate) tokens: u64,
    pub(crate) requests: u64,
}

/// One run's figures over its steady window (1 s after the first token to 1 s before the
/// last).
pub(crate) struct Figures {
    pub(crate) wall: f64,
    pub(crate) chunks: f64,
    pub(crate) requests: f64,
    pub(crate) agent_cpu: f64,
    /// The agent's context switches (all its threads).
    pub(crate) agent_switches: f64,
    coordinator_cpu: f64,
    pub(crate) sim_cpu: f64,
    pub(crate) peak_rss_mb: f64,
    pub(crate) load: (f64, f64),
    ttft_p50_ms: Option<f64>,
}

impl Figures {
    pub(crate) fn agent_per_1k(&self) -> f64 {
        self.agent_cpu * 1e3 / self.chunks.max(1.0)
    }
}

pub(crate) fn product(p: &Product) -> anyhow::Result<()> {
    let bins = if p.agent_bins.is_empty() {
        vec![sibling("agent")?]
    } else {
        p.agent_bins.clone()
    };
    println!(
        "\n## Product path, per-event framing (`coordinator run` + one `agent join` on core {}, sim on core {}; {}-token completions, closed loop, {} s per run, median of {})\n",
        p.points.client_core, p.points.sim_core, p.points.tokens, p.points.seconds, p.points.runs
    );
    for (i, b) in bins.iter().enumerate() {
        println!("agent {}: {}", i + 1, b.display());
    }
    println!("\n| streams | ms between tokens | agent | run | requests/s | chunks/s | agent CPU-s per 1k chunks | agent CPU busy | agent context switches per 1k chunks | coordinator CPU-s per 1k chunks | sim CPU busy | agent peak RSS MB | TTFT p50 ms (report) | load average start → end |");
    println!("|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for &streams in &p.points.streams {
        for &delay in &p.points.delays_ms {
            point(p, &bins, streams, delay)?;
        }
    }
    Ok(())
}

/// One point's runs, alternating between the agent binaries; each binary's median, and its
/// ratio to the first binary's.
fn point(p: &Product, bins: &[PathBuf], streams: u32, delay: f64) -> anyhow::Result<()> {
    let mut all: Vec<Vec<Figures>> = bins.iter().map(|_| Vec::new()).collect();
    for k in 0..p.points.runs {
        for (i, bin) in bins.iter().enumerate() {
            let f = run_once(p, bin, streams, delay, k)?;
            print_row(streams, delay, i + 1, &(k + 1).to_string(), &f);
            all[i].push(f);
        }
    }
    let mut medians = Vec::new();
    for (i, runs) in all.iter_mut().enumerate() {
        if let Some(m) = median_by(runs, Figures::agent_per_1k) {
            print_row(streams, delay, i + 1, "**median**", m);
            medians.push(m.agent_per_1k());
        }
    }
    if medians.len() > 1 {
        let ratios: Vec<String> = medians[1..]
            .iter()
            .map(|m| format!("×{:.2}", m / medians[0]))
            .collect();
        println!(
            "| {streams} | {delay} | 2.. vs 1 | median agent CPU per chunk {} |",
            ratios.join(", ")
        );
    }
    Ok(())
}

/// The median of `runs` by `key` (the upper one of an even count); sorts `runs`.
pub(crate) fn median_by<T>(runs: &mut [T], key: impl Fn(&T) -> f64) -> Option<&T> {
    runs.sort_by(|a, b| key(a).total_cmp(&key(b)));
    runs.get(runs.len() / 2)
}

fn print_row(streams: u32, delay: f64, agent: usize, run: &str, f: &Figures) {
    println!(
        "| {streams} | {delay} | {agent} | {run} | {:.0} | {:.0} | {:.5} | {:.0}% | {:.0} | {:.5} | {:.0}% | {:.0} | {} | {:.2} → {:.2} |",
        f.requests / f.wall,
        f.chunks / f.wall,
        f.agent_per_1k(),
        100.0 * f.agent_cpu / f.wall,
        f.agent_switches * 1e3 / f.chunks.max(1.0),
        f.coordinator_cpu * 1e3 / f.chunks.max(1.0),
        100.0 * f.sim_cpu / f.wall,
        f.peak_rss_mb,
        f.ttft_p50_ms
            .map(|t| format!("{t:.2}"))
            .unwrap_or_else(|| "–".into()),
        f.load.0,
        f.load.1,
    );
}

pub(crate) fn profile_text(addr: &str, streams: u32, tokens: u32, seconds: f64) -> String {
    format!(
        "name: bench-product\n\
         server: {{type: vllm, model_name: sim-model, base_url: 'http://{addr}', ignore_eos: true}}\n\
         api: {{type: completion, streaming: true}}\n\
         data:\n  type: random\n\
         \x20 input_distribution: {{min: 128, max: 128, mean: 128, std_dev: 0}}\n\
         \x20 output_distribution: {{min: {tokens}, max: {tokens}, mean: {tokens}, std_dev: 0}}\n\
         load:\n  type: concurrent\n\
         \x20 stages: [{{concurrency_level: {streams}, duration: {seconds}}}]\n"
    )
}

pub(crate) fn pinned(core: usize, binary: &Path) -> Command {
    let mut c = Command::new("taskset");
    c.arg("-c").arg(core.to_string()).arg(binary);
    c
}

/// The two processes of one product-path run.
pub(crate) struct Launch<'a> {
    pub(crate) core: usize,
    pub(crate) agent_bin: &'a Path,
    pub(crate) profile: &'a Path,
    /// Where the logs and the `results/` go.
    pub(crate) dir: &'a Path,
    /// How long the agent may run.
    pub(crate) limit: Duration,
}

/// Runs `coordinator run <profile>` and one `agent join --once`, both pinned to `l.core`, until
/// the agent exits (the coordinator is then given 30 s to write its results); `tick` gets the
/// agent's and the coordinator's pids every 250 ms meanwhile.
pub(crate) fn launch(l: &Launch, mut tick: impl FnMut(&str, &str)) -> anyhow::Result<()> {
    let dir = l.dir;
    let mut coordinator = Guard(
        pinned(l.core, &sibling("coordinator")?)
            .arg("run")
            .arg(l.profile)
            .args([
                "--insecure",
                "--expect-agents",
                "1",
                "--listen",
                "127.0.0.1:0",
            ])
            .args(["--progress", "off", "--out"])
            .arg(dir.join("results"))
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("coordinator.log"))?)
            .spawn()
            .context("start the coordinator")?,
    );
    let mut line = String::new();
    BufReader::new(coordinator.0.stdout.take().context("coordinator stdout")?)
        .read_line(&mut line)?;
    let Some(caddr) = line.trim().strip_prefix("listening on ") else {
        bail!(
            "coordinator's first line was {line:?} (log in {})",
            dir.display()
        );
    };
    let mut agent = Guard(
        pinned(l.core, l.agent_bin)
            .args(["join", "--coordinator", caddr, "--insecure", "--once"])
            .args(["--name", "bench", "--nvml", "off"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("agent.log"))?)
            .spawn()
            .context("start the agent")?,
    );
    let pids = [agent.0.id(), coordinator.0.id()].map(|p| p.to_string());
    let t0 = Instant::now();
    while agent.0.try_wait()?.is_none() {
        if t0.elapsed() > l.limit {
            bail!(
                "the agent ran past {:?} (logs in {})",
                l.limit,
                dir.display()
            );
        }
        tick(&pids[0], &pids[1]);
        std::thread::sleep(Duration::from_millis(250));
    }
    wait_or_kill(&mut coordinator.0, Duration::from_secs(30));
    Ok(())
}

fn run_once(
    p: &Product,
    agent_bin: &Path,
    streams: u32,
    delay: f64,
    k: usize,
) -> anyhow::Result<Figures> {
    let load_start = load_average();
    let d = delay.to_string();
    let sim = start_sim(
        p.points.sim_core,
        &["--ttft-ms", &d, "--itl-ms", &d, "--framing", "per-event"],
    )?;
    let dir = std::env::temp_dir().join(format!(
        "fleetbench-bench-product-{}-{streams}-{d}-{k}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir)?;
    let profile = dir.join("profile.yaml");
    std::fs::write(
        &profile,
        profile_text(&sim.addr, streams, p.points.tokens, p.points.seconds),
    )?;
    let sim_pid = sim.child.id().to_string();
    let t0 = Instant::now();
    let (mut samples, mut peak_rss_mb) = (Vec::new(), 0.0f64);
    let l = Launch {
        core: p.points.client_core,
        agent_bin,
        profile: &profile,
        dir: &dir,
        limit: Duration::from_secs_f64(p.points.seconds + 90.0),
    };
    launch(&l, |agent, coordinator| {
        // A sample without the sim's counters (its /metrics did not answer) is left out: with
        // zeros the steady window's differences would wrap.
        let rss = proc_rss_mb(agent);
        if rss.is_finite() {
            peak_rss_mb = peak_rss_mb.max(rss);
        }
        let Some((tokens, requests)) = sim_counters(&sim.addr) else {
            return;
        };
        samples.push(Sample {
            t: t0.elapsed().as_secs_f64(),
            agent_cpu: proc_cpu_seconds(agent),
            agent_switches: proc_context_switches(agent),
            coordinator_cpu: proc_cpu_seconds(coordinator),
            sim_cpu: proc_cpu_seconds(&sim_pid),
            tokens,
            requests,
        });
    })?;
    let mut f = steady(&samples)
        .with_context(|| format!("too few samples with tokens (logs in {})", dir.display()))?;
    f.peak_rss_mb = peak_rss_mb;
    f.load = (load_start, load_average());
    f.ttft_p50_ms = report_ttft_p50(&dir.join("results"));
    drop(sim);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(f)
}

fn wait_or_kill(child: &mut Child, within: Duration) {
    let t0 = Instant::now();
    while t0.elapsed() < within {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
}

/// The figures between the first sample 1 s after the first token and the last sample 1 s
/// before the tokens stopped.
pub(crate) fn steady(samples: &[Sample]) -> Option<Figures> {
    let first = samples.iter().find(|s| s.tokens > 0)?.t;
    let total = samples.iter().map(|s| s.tokens).max()?;
    let last = samples.iter().find(|s| s.tokens == total)?.t;
    let inside: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.t >= first + 1.0 && s.t <= last - 1.0)
        .collect();
    let (a, b) = (inside.first()?, inside.last()?);
    if b.t - a.t < 0.5 {
        return None;
    }
    Some(Figures {
        wall: b.t - a.t,
        chunks: b.tokens.saturating_sub(a.tokens) as f64,
        requests: b.requests.saturating_sub(a.requests) as f64,
        agent_cpu: b.agent_cpu - a.agent_cpu,
        agent_switches: b.agent_switches.saturating_sub(a.agent_switches) as f64,
        coordinator_cpu: b.coordinator_cpu - a.coordinator_cpu,
        sim_cpu: b.sim_cpu - a.sim_cpu,
        peak_rss_mb: 0.0,
        load: (0.0, 0.0),
        ttft_p50_ms: None,
    })
}

/// (generation tokens, requests finished) from the sim's /metrics; None when it does not
/// answer.
pub(crate) fn sim_counters(addr: &str) -> Option<(u64, u64)> {
    let body = fetch_metrics(addr).ok()?;
    let value = |l: &str| -> u64 {
        l.split_whitespace()
            .last()
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0) as u64
    };
    let (mut tokens, mut requests) = (0, 0);
    for l in body.lines() {
        if l.starts_with("vllm:generation_tokens_total") {
            tokens = value(l);
        } else if l.starts_with("vllm:request_success_total") {
            requests += value(l);
        }
    }
    Some((tokens, requests))
}

/// The sim's /metrics text (HTTP/1.1, one connection per fetch).
fn fetch_metrics(addr: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    // The sim's /metrics is a few KB; 1 MB bounds a misbehaving answer.
    let mut body = String::new();
    s.take(1 << 20).read_to_string(&mut body)?;
    Ok(body)
}

/// The stage's TTFT p50 (ms) from the run's `report.json`.
pub(crate) fn report_ttft_p50(results: &Path) -> Option<f64> {
    let run = std::fs::read_dir(results).ok()?.flatten().next()?.path();
    let text = std::fs::read_to_string(run.join("stage-0").join("report.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["metrics"]["latency"]["time_to_first_token"]["p50"].as_f64()
}
