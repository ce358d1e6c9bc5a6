//! io_uring against epoll, per event (`--only iomodel`): the minimal client of
//! `fleetbench_bench::ioprobe` (the `io-probe` binary) in both I/O models, interleaved, against
//! a sim writing one HTTP chunk and TCP segment per event, pinned as the product path is. The
//! client's whole-process CPU (utime + stime from /proc) per 1,000 chunks over the steady part
//! of each run, the median of the runs and the ratio of io_uring's to epoll's. The ratio is
//! what io_uring would save the agent per event; the share they have in common is the
//! kernel's receive path, which neither can save.

use crate::procs::{load_average, proc_context_switches, proc_cpu_seconds, sibling, start_sim};
use crate::product::{median_by, pinned, sim_counters, steady, Figures, Guard, Points, Sample};
use anyhow::{bail, Context};
use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// What the I/O-model runs measure.
pub(crate) struct IoModel {
    pub(crate) points: Points,
    /// Wakeup coalescing windows, µs (the agent's `--coalesce-us`); each is run with both
    /// models.
    pub(crate) coalesce_us: Vec<u64>,
}

const MODELS: [&str; 2] = ["epoll", "uring"];

/// One run: the figures over its steady window and what the probe counted.
struct Run {
    f: Figures,
    /// Reads per SSE event over the whole run, and the share of reads without a timestamp.
    reads_per_event: f64,
    unstamped: f64,
}

pub(crate) fn iomodel(m: &IoModel) -> anyhow::Result<()> {
    println!(
        "\n## I/O model: epoll against io_uring (`io-probe` on core {}, sim on core {}; per-event framing, {}-token completions, closed loop, {} s per run, median of {})\n",
        m.points.client_core, m.points.sim_core, m.points.tokens, m.points.seconds, m.points.runs
    );
    println!("| streams | ms between tokens | window µs | I/O | run | chunks/s | client CPU-s per 1k chunks | client CPU busy | context switches per 1k chunks | reads per event | unstamped reads | sim CPU busy | load average start → end |");
    println!("|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---|");
    for &streams in &m.points.streams {
        for &delay in &m.points.delays_ms {
            for &window in &m.coalesce_us {
                point(
                    m,
                    Point {
                        streams,
                        delay,
                        window,
                    },
                )?;
            }
        }
    }
    Ok(())
}

/// One point of the table.
#[derive(Clone, Copy)]
struct Point {
    streams: u32,
    /// Milliseconds between tokens.
    delay: f64,
    /// Coalescing window, µs.
    window: u64,
}

fn point(m: &IoModel, at: Point) -> anyhow::Result<()> {
    let Point {
        streams,
        delay,
        window,
    } = at;
    let mut runs: Vec<Vec<Run>> = MODELS.iter().map(|_| Vec::new()).collect();
    let mut skipped = [false; MODELS.len()];
    for k in 0..m.points.runs {
        for (i, io) in MODELS.iter().enumerate() {
            if skipped[i] {
                continue;
            }
            match run_once(m, io, at)? {
                Ok(r) => {
                    print_row(at, io, &(k + 1).to_string(), &r);
                    runs[i].push(r);
                }
                Err(why) => {
                    println!("| {streams} | {delay} | {window} | {io} | skipped: {why} |");
                    skipped[i] = true;
                }
            }
        }
    }
    let mut medians = Vec::new();
    for (i, rs) in runs.iter_mut().enumerate() {
        if let Some(r) = median_by(rs, |r| r.f.agent_per_1k()) {
            print_row(at, MODELS[i], "**median**", r);
            medians.push(r.f.agent_per_1k());
        }
    }
    if let [epoll, uring] = medians[..] {
        println!(
            "| {streams} | {delay} | {window} | uring vs epoll | median client CPU per chunk ×{:.2} |",
            uring / epoll
        );
    }
    Ok(())
}

fn print_row(at: Point, io: &str, run: &str, r: &Run) {
    let (
        f,
        Point {
            streams,
            delay,
            window,
        },
    ) = (&r.f, at);
    println!(
        "| {streams} | {delay} | {window} | {io} | {run} | {:.0} | {:.5} | {:.0}% | {:.0} | {:.2} | {:.1}% | {:.0}% | {:.2} → {:.2} |",
        f.chunks / f.wall,
        f.agent_per_1k(),
        100.0 * f.agent_cpu / f.wall,
        f.agent_switches * 1e3 / f.chunks.max(1.0),
        r.reads_per_event,
        100.0 * r.unstamped,
        100.0 * f.sim_cpu / f.wall,
        f.load.0,
        f.load.1,
    );
}

/// One run of `io-probe --io IO`; the inner error says why the model was skipped (io_uring
/// unavailable here).
fn run_once(m: &IoModel, io: &str, at: Point) -> anyhow::Result<Result<Run, String>> {
    let load_start = load_average();
    let d = at.delay.to_string();
    let sim = start_sim(
        m.points.sim_core,
        &["--ttft-ms", &d, "--itl-ms", &d, "--framing", "per-event"],
    )?;
    let mut probe = Guard(
        pinned(m.points.client_core, &sibling("io-probe")?)
            .args(["--io", io, "--addr", &sim.addr])
            .args(["--streams", &at.streams.to_string()])
            .args(["--coalesce-us", &at.window.to_string()])
            .args(["--tokens", &m.points.tokens.to_string()])
            .args(["--seconds", &m.points.seconds.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("start io-probe")?,
    );
    let (pid, sim_pid) = (probe.0.id().to_string(), sim.child.id().to_string());
    let t0 = Instant::now();
    let mut samples = Vec::new();
    let status = loop {
        if let Some(status) = probe.0.try_wait()? {
            break status;
        }
        if t0.elapsed() > Duration::from_secs_f64(m.points.seconds + 60.0) {
            bail!("io-probe --io {io} ran past {} s", m.points.seconds + 60.0);
        }
        if let Some((tokens, requests)) = sim_counters(&sim.addr) {
            samples.push(Sample {
                t: t0.elapsed().as_secs_f64(),
                agent_cpu: proc_cpu_seconds(&pid),
                agent_switches: proc_context_switches(&pid),
                coordinator_cpu: 0.0,
                sim_cpu: proc_cpu_seconds(&sim_pid),
                tokens,
                requests,
            });
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    let (mut out, mut err) = (String::new(), String::new());
    if let Some(mut o) = probe.0.stdout.take() {
        o.read_to_string(&mut out)?;
    }
    if let Some(mut e) = probe.0.stderr.take() {
        e.read_to_string(&mut err)?;
    }
    match status.code() {
        Some(0) => {}
        Some(3) => return Ok(Err(err.trim().to_string())),
        _ => bail!("io-probe --io {io} failed ({status}): {}", err.trim()),
    }
    let mut f = steady(&samples).context("too few samples with tokens")?;
    f.load = (load_start, load_average());
    let tally: serde_json::Value =
        serde_json::from_str(out.trim()).with_context(|| format!("io-probe's output {out:?}"))?;
    let count = |k: &str| tally[k].as_f64().unwrap_or(0.0);
    Ok(Ok(Run {
        f,
        reads_per_event: count("reads") / count("events").max(1.0),
        unstamped: count("unstamped") / count("reads").max(1.0),
    }))
}
