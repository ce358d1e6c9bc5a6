//! `sim-bench`: how many streamed tokens (SSE chunks) per second one sim core sustains.
//!
//! Starts `sim serve --deterministic --ttft-ms 0 --itl-ms 0 --threads 1` pinned to one core
//! (`taskset`), re-runs itself pinned to another core as the client, and drives the sim with a
//! lean raw HTTP/1.1 client: `--connections` keep-alive connections, each sending streamed
//! completion requests of `--max-tokens` tokens back to back for `--seconds`. Every response is
//! checked to carry exactly `--max-tokens` chunks. Prints chunks/s over wall time and per sim
//! CPU-second (from /proc), i.e. per sim core.
//!
//! `cargo run --release -p fleetbench-sim --bin sim-bench -- --seconds 5`

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Measures the sim's streamed tokens per second per core.
#[derive(Debug, Parser)]
#[command(name = "sim-bench", about, long_about)]
struct Args {
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Tokens (SSE chunks) per request.
    #[arg(long, default_value_t = 256)]
    max_tokens: u32,
    /// Measurement time in seconds (after a 1 s warm-up).
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// CPU core the sim is pinned to.
    #[arg(long, default_value_t = 0)]
    sim_core: usize,
    /// CPU core the client is pinned to.
    #[arg(long, default_value_t = 1)]
    client_core: usize,
    /// Path of the sim binary (default: `sim` next to this binary).
    #[arg(long)]
    sim: Option<PathBuf>,
    /// Drive an already running sim at this address instead of starting one (its CPU time is
    /// read from /proc when --pid is given).
    #[arg(long)]
    addr: Option<String>,
    /// Process id of the sim given by --addr.
    #[arg(long)]
    pid: Option<u32>,
    /// Chat completions instead of completions.
    #[arg(long)]
    chat: bool,
}

const PINNED_ENV: &str = "SIM_BENCH_PINNED";

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if std::env::var_os(PINNED_ENV).is_none() {
        // Re-run pinned to the client core.
        let exe = std::env::current_exe()?;
        let status = Command::new("taskset")
            .arg("-c")
            .arg(args.client_core.to_string())
            .arg(&exe)
            .args(std::env::args_os().skip(1))
            .env(PINNED_ENV, "1")
            .status()
            .context("run taskset (util-linux) to pin the client")?;
        std::process::exit(status.code().unwrap_or(1));
    }
    if let Some(addr) = &args.addr {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        return rt.block_on(drive(&args, addr, args.pid));
    }
    let sim = match &args.sim {
        Some(p) => p.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("binary directory")?
            .join("sim"),
    };
    let mut child = Command::new("taskset")
        .arg("-c")
        .arg(args.sim_core.to_string())
        .arg(&sim)
        .args(["serve", "--listen", "127.0.0.1:0", "--deterministic"])
        .args(["--ttft-ms", "0", "--itl-ms", "0", "--threads", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("start {}", sim.display()))?;
    let result = run(&args, &mut child);
    let _ = child.kill();
    let _ = child.wait();
    result
}

fn run(args: &Args, child: &mut std::process::Child) -> anyhow::Result<()> {
    use std::io::BufRead;
    let stdout = child.stdout.take().context("sim stdout")?;
    let mut line = String::new();
    std::io::BufReader::new(stdout).read_line(&mut line)?;
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .with_context(|| format!("unexpected sim output {line:?}"))?
        .to_string();
    let pid = child.id();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(drive(args, &addr, Some(pid)))
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: Option<u32>) -> anyhow::Result<f64> {
    let Some(pid) = pid else {
        return Ok(0.0);
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = stat.rsplit_once(')').context("stat format")?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 =
        f.get(11).context("utime")?.parse::<f64>()? + f.get(12).context("stime")?.parse::<f64>()?;
    Ok(ticks / 100.0)
}

async fn drive(args: &Args, addr: &str, pid: Option<u32>) -> anyhow::Result<()> {
    let counting = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let chunks = Arc::new(AtomicU64::new(0));
    let requests = Arc::new(AtomicU64::new(0));
    let (path, body) = if args.chat {
        (
            "/v1/chat/completions",
            format!(
                r#"{{"model":"sim-model","messages":[{{"role":"user","content":"hello world"}}],"max_tokens":{},"ignore_eos":true,"stream":true}}"#,
                args.max_tokens
            ),
        )
    } else {
        (
            "/v1/completions",
            format!(
                r#"{{"model":"sim-model","prompt":"hello world","max_tokens":{},"ignore_eos":true,"stream":true}}"#,
                args.max_tokens
            ),
        )
    };
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut tasks = Vec::new();
    for _ in 0..args.connections {
        let (counting, stop, chunks, requests) = (
            counting.clone(),
            stop.clone(),
            chunks.clone(),
            requests.clone(),
        );
        let request = request.clone().into_bytes();
        let addr = addr.to_string();
        // Chat streams carry one extra role chunk.
        let expect = args.max_tokens as u64 + u64::from(args.chat);
        let tokens = args.max_tokens as u64;
        tasks.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(&addr).await?;
            s.set_nodelay(true)?;
            let mut buf = vec![0u8; 1 << 20];
            while !stop.load(Relaxed) {
                s.write_all(&request).await?;
                let mut len = 0;
                loop {
                    if len == buf.len() {
                        buf.resize(buf.len() * 2, 0);
                    }
                    let n = s.read(&mut buf[len..]).await?;
                    if n == 0 {
                        bail!("sim closed the connection");
                    }
                    len += n;
                    if buf[..len].ends_with(b"data: [DONE]\n\n\r\n0\r\n\r\n") {
                        break;
                    }
                }
                let events = count_events(&buf[..len]) - 1;
                if events != expect {
                    bail!("response carried {events} chunks, expected {expect}");
                }
                if counting.load(Relaxed) {
                    chunks.fetch_add(tokens, Relaxed);
                    requests.fetch_add(1, Relaxed);
                }
            }
            Ok(())
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let cpu0 = cpu_seconds(pid)?;
    let t0 = Instant::now();
    counting.store(true, Relaxed);
    tokio::time::sleep(Duration::from_secs_f64(args.seconds)).await;
    counting.store(false, Relaxed);
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid)? - cpu0;
    stop.store(true, Relaxed);
    for t in tasks {
        t.await??;
    }
    let n = chunks.load(Relaxed) as f64;
    println!(
        "sim-bench: {} connections, {} tokens/request{}, {:.1} s: {} requests, {:.0} chunks/s wall, sim CPU {:.2} s ({:.0}% of one core) => {:.0} chunks/s per sim core",
        args.connections,
        args.max_tokens,
        if args.chat { " (chat)" } else { "" },
        wall,
        requests.load(Relaxed),
        n / wall,
        cpu,
        100.0 * cpu / wall,
        if cpu > 0.0 { n / cpu } else { 0.0 }
    );
    Ok(())
}

/// SSE events in a response (each ends with a blank line).
fn count_events(buf: &[u8]) -> u64 {
    let mut n = 0;
    let mut prev = 0u8;
    for &b in buf {
        if b == b'\n' && prev == b'\n' {
            n += 1;
        }
        prev = b;
    }
    n
}
