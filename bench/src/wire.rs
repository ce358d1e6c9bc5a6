//! The wire as the independent clock (`--only wire`): the product path (`coordinator run` + one
//! `agent join` on one core, a sim writing one TCP segment per SSE event on the other) while
//! `tcpdump` captures the loopback traffic to the sim's port with kernel timestamps. The
//! capture is read back (`pcap.rs`), its connections reassembled and parsed (`tcpflow.rs`), and
//! every request matched by its `x-request-id` with the agent's record (`requests.jsonl`) and
//! the sim's ground truth. Per request: the agent's send-side error (its recorded send instant
//! vs the request's first byte on the wire), its receive-side error (its first-token instant vs
//! the first content event on the wire), its TTFT vs the wire's (from the request's first byte,
//! or from the client's SYN where the request opened its connection, since the agent's send
//! instant comes before its connect), and the sim's TTFT vs the
//! wire's; and the agent's TTFT split into client send lag, server and client receive lag.
//!
//! Clocks: the capture's timestamps are the kernel's CLOCK_REALTIME, taken as each segment
//! passes the loopback device (so one instant for "sent" and "arrived"). The agent's records are
//! its monotonic instants mapped to Unix time through one (monotonic, CLOCK_REALTIME) pair read
//! at the stage's start (`agent/src/stage.rs`, `new_recorder`); the sim's ground truth reads
//! CLOCK_REALTIME per event. All three are the same host clock: no offset is estimated.

use crate::pcap::PcapReader;
use crate::procs::{load_average, start_sim};
use crate::product::{launch, profile_text, report_ttft_p50, Launch};
use crate::tcpflow::{Exchange, Flows};
use anyhow::{bail, Context};
use fleetbench_bench::quantile;
use std::collections::HashMap;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What the wire runs measure.
pub(crate) struct Wire {
    pub(crate) streams: Vec<u32>,
    /// Milliseconds to the first token and between tokens of the sim.
    pub(crate) delay_ms: f64,
    pub(crate) seconds: f64,
    pub(crate) tokens: u32,
    pub(crate) sim_core: usize,
    pub(crate) agent_core: usize,
    pub(crate) agent_bin: PathBuf,
}

pub(crate) fn wire(w: &Wire) -> anyhow::Result<()> {
    println!(
        "\n## The wire as the clock (tcpdump on lo, kernel timestamps; `coordinator run` + one `agent join` on core {}, per-event sim and tcpdump on core {}; {}-token completions, {} ms to the first token and between tokens, closed loop, {} s)\n",
        w.agent_core, w.sim_core, w.tokens, w.delay_ms, w.seconds
    );
    let Some(tcpdump) = find_program("tcpdump") else {
        println!("SKIPPED: no tcpdump on PATH (Debian: apt-get install -y tcpdump)");
        return Ok(());
    };
    for &streams in &w.streams {
        if !case(w, &tcpdump, streams)? {
            break;
        }
    }
    Ok(())
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// tcpdump writing a pcap file, stopped with SIGINT so that it flushes.
struct Capture {
    child: Child,
    log: PathBuf,
}

impl Capture {
    /// Starts capturing TCP to and from `port` on lo; waits until tcpdump says it listens.
    fn start(
        tcpdump: &Path,
        core: usize,
        port: u16,
        out: &Path,
        log: &Path,
    ) -> anyhow::Result<Self> {
        let child = Command::new("taskset")
            .arg("-c")
            .arg(core.to_string())
            .arg(tcpdump)
            .args(["-i", "lo", "-n", "-s", "0", "-B", "131072"])
            .args(["--time-stamp-precision=nano", "-Z", "root", "-w"])
            .arg(out)
            .arg(format!("tcp port {port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log)?)
            .spawn()
            .context("start tcpdump")?;
        let mut c = Capture {
            child,
            log: log.to_path_buf(),
        };
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(10) {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            if text.contains("listening on") {
                return Ok(c);
            }
            if c.child.try_wait()?.is_some() {
                bail!("tcpdump cannot capture on lo: {}", text.trim());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("tcpdump did not start listening within 10 s")
    }

    /// Stops the capture; tcpdump's own statistics (captured, dropped by the kernel).
    fn stop(mut self) -> anyhow::Result<String> {
        // SAFETY: kill(2) on the pid of a child not yet reaped.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
        let t0 = Instant::now();
        while self.child.try_wait()?.is_none() {
            if t0.elapsed() > Duration::from_secs(20) {
                bail!("tcpdump did not stop within 20 s of SIGINT");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let text = std::fs::read_to_string(&self.log)?;
        Ok((text.lines())
            .filter(|l| l.contains("packets"))
            .collect::<Vec<_>>()
            .join(", "))
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One run at `streams`; false when the capture could not start (the rest is skipped too).
fn case(w: &Wire, tcpdump: &Path, streams: u32) -> anyhow::Result<bool> {
    let load_start = load_average();
    let dir = std::env::temp_dir().join(format!(
        "fleetbench-bench-wire-{}-{streams}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir)?;
    let truth = dir.join("truth.jsonl");
    let d = w.delay_ms.to_string();
    let truth_flag = truth.display().to_string();
    let sim = start_sim(
        w.sim_core,
        &["--ttft-ms", &d, "--itl-ms", &d, "--framing", "per-event"]
            .into_iter()
            .chain(["--ground-truth", &truth_flag])
            .collect::<Vec<_>>(),
    )?;
    let port: u16 = (sim.addr.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .with_context(|| format!("the sim's address {}", sim.addr))?;
    let pcap = dir.join("wire.pcap");
    let capture = match Capture::start(tcpdump, w.sim_core, port, &pcap, &dir.join("tcpdump.log")) {
        Ok(c) => c,
        Err(e) => {
            println!("SKIPPED: {e:#}");
            return Ok(false);
        }
    };
    let profile = dir.join("profile.yaml");
    let text = profile_text(&sim.addr, streams, w.tokens, w.seconds)
        + "report: {request_lifecycle: {per_request: true}}\n";
    std::fs::write(&profile, text)?;
    let l = Launch {
        core: w.agent_core,
        agent_bin: &w.agent_bin,
        profile: &profile,
        dir: &dir,
        limit: Duration::from_secs_f64(w.seconds + 90.0),
    };
    launch(&l, |_, _| {})?;
    let stats = capture.stop()?;
    drop(sim);
    let load_end = load_average();
    let results = dir.join("results");
    let agent = agent_records(&results)?;
    let truth = truth_records(&truth)?;
    let Captured {
        exchanges,
        broken,
        segments: packets,
    } = read_capture(&pcap, port)?;
    println!(
        "### {streams} streams (load average {load_start:.2} → {load_end:.2})\n\ntcpdump: {stats}; {packets} TCP segments read, {} exchanges parsed, {} connections not parseable{}\n",
        exchanges.len(),
        broken.len(),
        broken
            .first()
            .map(|(port, why)| format!(" (first: client port {port}: {why})"))
            .unwrap_or_default()
    );
    let f = compare(&exchanges, &agent, &truth);
    print_figures(f, report_ttft_p50(&results));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(true)
}

/// What a capture held: every exchange with the sim, the connections given up on (client port,
/// why) and the TCP segments read.
struct Captured {
    exchanges: Vec<Exchange>,
    broken: Vec<(u16, String)>,
    segments: u64,
}

/// The capture of the traffic with the sim on `port`.
fn read_capture(pcap: &Path, port: u16) -> anyhow::Result<Captured> {
    let file = std::fs::File::open(pcap).with_context(|| format!("open {}", pcap.display()))?;
    let mut reader = PcapReader::new(
        BufReader::with_capacity(1 << 20, file),
        &pcap.display().to_string(),
    )?;
    let mut flows = Flows::new(([127, 0, 0, 1], port));
    let mut segments = 0u64;
    while let Some(s) = reader.next_segment()? {
        segments += 1;
        flows.push(&s);
    }
    let (exchanges, broken) = flows.finish();
    Ok(Captured {
        exchanges,
        broken,
        segments,
    })
}

/// One request as the agent recorded it (Unix ns, the agent's CLOCK_REALTIME).
struct AgentRequest {
    intended: i64,
    sent: i64,
    first: Option<i64>,
    itl_us: Vec<u64>,
    ok: bool,
}

fn agent_records(results: &Path) -> anyhow::Result<HashMap<String, AgentRequest>> {
    let run = std::fs::read_dir(results)
        .with_context(|| format!("read {}", results.display()))?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.join("requests.jsonl").is_file())
        .with_context(|| format!("no requests.jsonl under {}", results.display()))?;
    let path = run.join("requests.jsonl");
    let text = std::fs::read_to_string(&path)?;
    let mut out = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line)
            .with_context(|| format!("{} line {}", path.display(), i + 1))?;
        let ns = |k: &str| v[k].as_i64();
        let (Some(id), Some(intended), Some(sent)) =
            (v["id"].as_str(), ns("intended_unix_ns"), ns("sent_unix_ns"))
        else {
            bail!(
                "{} line {}: no id, intended or sent time",
                path.display(),
                i + 1
            );
        };
        let itl_us = (v["itl_us"].as_array().into_iter().flatten())
            .filter_map(|g| g.as_u64())
            .collect();
        out.insert(
            id.to_string(),
            AgentRequest {
                intended,
                sent,
                first: ns("first_token_unix_ns"),
                itl_us,
                ok: v["status"] == "ok",
            },
        );
    }
    Ok(out)
}

/// The sim's ground truth: (arrival, first token written), Unix ns (from µs).
fn truth_records(path: &Path) -> anyhow::Result<HashMap<String, (i64, Option<i64>)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let mut out = HashMap::new();
    for line in text.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("{}: {line:?}", path.display()))?;
        if let (Some(id), Some(arrival)) = (v["request_id"].as_str(), v["arrival_unix_us"].as_i64())
        {
            let first = v["first_token_unix_us"].as_i64().map(|us| us * 1000);
            out.insert(id.to_string(), (arrival * 1000, first));
        }
    }
    Ok(out)
}

/// Per matched request, in ms.
#[derive(Default)]
struct Figures {
    requests: usize,
    matched: usize,
    truth_matched: usize,
    send: Vec<f64>,
    send_new_connection: Vec<f64>,
    receive: Vec<f64>,
    receive_every_event: Vec<f64>,
    ttft_error: Vec<f64>,
    ttft_error_reused: Vec<f64>,
    ttft_error_new_connection: Vec<f64>,
    intended_to_wire: Vec<f64>,
    wire_ttft: Vec<f64>,
    agent_ttft: Vec<f64>,
    sim_read: Vec<f64>,
    sim_write: Vec<f64>,
    sim_ttft_error: Vec<f64>,
}

fn ms(ns: i64) -> f64 {
    ns as f64 / 1e6
}

fn compare(
    exchanges: &[Exchange],
    agent: &HashMap<String, AgentRequest>,
    truth: &HashMap<String, (i64, Option<i64>)>,
) -> Figures {
    let mut f = Figures {
        requests: agent.len(),
        ..Figures::default()
    };
    for x in exchanges {
        let Some(id) = x.request_id.as_deref() else {
            continue;
        };
        let (Some(a), Some(&wire_first)) = (agent.get(id), x.content_ns.first()) else {
            continue;
        };
        let Some(first) = a.first.filter(|_| a.ok && x.status == 200) else {
            continue;
        };
        f.matched += 1;
        let wire_ttft = wire_first - x.request_first_ns;
        // Where the request starts on the wire: its SYN on a new connection (the agent's sent
        // instant comes before its connect), its first byte on a reused one.
        let wire_start = x.connect_ns.unwrap_or(x.request_first_ns);
        let error = ms((first - a.sent) - (wire_first - wire_start)).abs();
        f.ttft_error.push(error);
        if x.connect_ns.is_some() {
            f.send_new_connection.push(ms(wire_start - a.sent));
            f.ttft_error_new_connection.push(error);
        } else {
            f.send.push(ms(x.request_first_ns - a.sent));
            f.ttft_error_reused.push(error);
        }
        f.receive.push(ms(first - wire_first));
        f.intended_to_wire.push(ms(x.request_first_ns - a.intended));
        f.wire_ttft.push(ms(wire_ttft));
        f.agent_ttft.push(ms(first - a.intended));
        if a.itl_us.len() + 1 == x.content_ns.len() {
            // The agent's event instants: its first token plus its gaps (µs).
            let mut t = first;
            for (k, &wire_t) in x.content_ns.iter().enumerate() {
                if k > 0 {
                    t += a.itl_us[k - 1] as i64 * 1000;
                }
                f.receive_every_event.push(ms(t - wire_t));
            }
        }
        if let Some(&(arrival, Some(sim_first))) = truth.get(id) {
            f.truth_matched += 1;
            f.sim_read.push(ms(arrival - x.request_first_ns));
            f.sim_write.push(ms(wire_first - sim_first));
            f.sim_ttft_error
                .push(ms((sim_first - arrival) - wire_ttft).abs());
        }
    }
    f
}

fn print_figures(f: Figures, report_p50: Option<f64>) {
    println!(
        "matched {} of the agent's {} requests with the wire by x-request-id ({} also with the sim's ground truth); the report's TTFT p50: {}\n",
        f.matched,
        f.requests,
        f.truth_matched,
        report_p50.map_or("–".into(), |v| format!("{v:.3} ms"))
    );
    println!("| figure (ms) | n | p1 | p50 | p99 |");
    println!("|---|---:|---:|---:|---:|");
    for (figure, mut v) in [
        (
            "send side, reused connection: agent's sent instant → request's first byte on the wire",
            f.send,
        ),
        (
            "send side, new connection: agent's sent instant → its SYN on the wire",
            f.send_new_connection,
        ),
        (
            "receive side: first content event on the wire → agent's first token",
            f.receive,
        ),
        (
            "receive side, every content event (agent's first token + its gaps)",
            f.receive_every_event,
        ),
        (
            "agent's TTFT error against the wire, |(first − sent) − (first event − request's start)|; start: its first byte, or the SYN of a new connection",
            f.ttft_error,
        ),
        (
            "… of which on reused connections",
            f.ttft_error_reused,
        ),
        (
            "… of which on new connections (from the SYN)",
            f.ttft_error_new_connection,
        ),
        (
            "TTFT part 1, client send lag: intended → request on the wire",
            f.intended_to_wire,
        ),
        (
            "TTFT part 2, server: request on the wire → first event on the wire (wire TTFT)",
            f.wire_ttft,
        ),
        (
            "agent's TTFT as reported (intended → first token)",
            f.agent_ttft,
        ),
        (
            "sim: request on the wire → sim's arrival instant",
            f.sim_read,
        ),
        (
            "sim: sim's first-token instant → first event on the wire",
            f.sim_write,
        ),
        (
            "sim's TTFT error against the wire, |sim TTFT − wire TTFT|",
            f.sim_ttft_error,
        ),
    ] {
        let n = v.len();
        let (p1, p50, p99) = (
            quantile(&mut v, 0.01),
            quantile(&mut v, 0.5),
            quantile(&mut v, 0.99),
        );
        println!("| {figure} | {n} | {p1:.3} | {p50:.3} | {p99:.3} |");
    }
    println!("\n(TTFT part 3, client receive lag, is the receive side above: part 1 + part 2 + part 3 = the agent's TTFT)");
}
