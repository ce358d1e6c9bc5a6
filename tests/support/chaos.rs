//! Fault injection for the end-to-end tests: a TCP proxy whose link can be cut (and which keeps
//! what clients sent), signals to
//! processes, waiting for a file, a coordinator that can be killed and started again on its
//! address and state, and the sim's ground truth per shard.

use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A loopback TCP proxy to `upstream`. [`LinkProxy::cut`] closes every connection through it
/// and refuses new ones (accepts and closes them) for a while.
pub struct LinkProxy {
    /// Where to connect instead of `upstream` (`127.0.0.1:PORT`).
    pub addr: String,
    down: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
    /// What clients sent through it, per connection (at most [`TAP_BYTES`] each).
    sent: Arc<Mutex<Vec<Tap>>>,
}

/// What one client sent on one connection.
type Tap = Arc<Mutex<Vec<u8>>>;

/// Most bytes a [`LinkProxy`] keeps of what a client sent on one connection.
pub const TAP_BYTES: usize = 4 << 20;

impl LinkProxy {
    /// Starts a proxy to `upstream` on a free loopback port.
    pub fn start(upstream: &str) -> Result<LinkProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?.to_string();
        let down = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let sent: Arc<Mutex<Vec<Tap>>> = Arc::default();
        let upstream = upstream.to_string();
        let (d, o, tap) = (down.clone(), open.clone(), sent.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(client) = conn else { continue };
                if d.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                if let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) {
                    let mut list = o.lock().unwrap();
                    list.push(c2);
                    list.push(s2);
                }
                let conn_tap = Tap::default();
                tap.lock().unwrap().push(conn_tap.clone());
                pipe(&client, &server, Some(conn_tap));
                pipe(&server, &client, None);
            }
        });
        Ok(LinkProxy {
            addr,
            down,
            open,
            sent,
        })
    }

    /// What clients have sent through it so far: each connection's bytes.
    pub fn sent(&self) -> Vec<Vec<u8>> {
        let taps = self.sent.lock().unwrap();
        taps.iter().map(|t| t.lock().unwrap().clone()).collect()
    }

    /// Closes every connection and refuses new ones for `d`.
    pub fn cut(&self, d: Duration) {
        self.down.store(true, Ordering::SeqCst);
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
        std::thread::sleep(d);
        self.down.store(false, Ordering::SeqCst);
    }
}

/// Copies `from` to `to` on a thread until either side closes, keeping a copy in `tap`.
fn pipe(from: &TcpStream, to: &TcpStream, tap: Option<Tap>) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if let Some(tap) = &tap {
                        let mut kept = tap.lock().unwrap();
                        let room = TAP_BYTES.saturating_sub(kept.len());
                        kept.extend_from_slice(&buf[..n.min(room)]);
                    }
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}

/// `kill -SIG pid`.
pub fn signal(pid: u32, sig: &str) -> Result<()> {
    let st = std::process::Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status()?;
    if !st.success() {
        bail!("kill -{sig} {pid} failed");
    }
    Ok(())
}

/// Waits until `path` exists and is not empty.
pub fn wait_for_file(path: &Path, limit: Duration) -> Result<()> {
    let until = Instant::now() + limit;
    while std::fs::metadata(path).map_or(true, |m| m.len() == 0) {
        if Instant::now() > until {
            bail!("{} did not appear within {limit:?}", path.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// The one run directory under `dir/results`, once it exists.
pub fn wait_for_run_dir(dir: &Path, limit: Duration) -> Result<PathBuf> {
    let until = Instant::now() + limit;
    loop {
        if let Ok(mut rd) = std::fs::read_dir(dir.join("results")) {
            if let Some(Ok(e)) = rd.next() {
                return Ok(e.path());
            }
        }
        if Instant::now() > until {
            bail!("no run directory under {} within {limit:?}", dir.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A free loopback port (bound, then released) for a process that must come back on the same
/// address.
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `coordinator serve` on `listen` with its results under `dir/results` and its state in
/// `dir/state` (so that a second one started there resumes what the first left), a 0.5 s start
/// lead and a 3 s agent timeout; the process and its address.
pub fn start_serve(dir: &Path, name: &str, listen: &str) -> Result<(crate::Proc, String)> {
    let (results, state) = (dir.join("results"), dir.join("state"));
    let args: Vec<String> = [
        "serve",
        "--listen",
        listen,
        "--insecure",
        "--out",
        &results.display().to_string(),
        "--state-dir",
        &state.display().to_string(),
        "--start-lead",
        "0.5",
        "--agent-timeout",
        "3",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut p = crate::Proc::spawn(name, &crate::bin("coordinator"), &args, dir)?;
    let addr = p.listening_addr()?;
    Ok((p, addr))
}

/// Runs `profile` on a [`start_serve`] coordinator with `--state-dir` and two agents `a` and
/// `b`, kills the coordinator with SIGKILL `after` stage 0 stored its first snapshot, and starts
/// `coordinator-2` on the same address and state; then waits for agent `a` (up to `finish`) and
/// `b` to finish the run and checks that `coordinator-2` resumed it. Returns the run directory
/// and the processes still held (the second coordinator and the submitter), to drop last.
pub fn run_restarted_during_stage_0(
    dir: &Path,
    profile: &Path,
    after: Duration,
    finish: Duration,
) -> Result<(PathBuf, [crate::Proc; 2])> {
    let listen = format!("127.0.0.1:{}", free_port()?);
    let (coord, addr) = start_serve(dir, "coordinator", &listen)?;
    let mut a = crate::start_agent(dir, &addr, "a", "client", &[])?;
    let mut b = crate::start_agent(dir, &addr, "b", "client", &[])?;
    let submit: Vec<String> = [
        "submit",
        &profile.display().to_string(),
        "--coordinator",
        &addr,
        "--insecure",
        "--expect-agents",
        "2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let submitter = crate::Proc::spawn("submit", &crate::bin("coordinator"), &submit, dir)?;
    let run = wait_for_stage(dir, 0, Duration::from_secs(30))?;
    std::thread::sleep(after);
    signal(coord.pid(), "KILL")?;
    drop(coord);
    std::thread::sleep(Duration::from_millis(300));
    let (coord2, _) = start_serve(dir, "coordinator-2", &listen)?;
    if !a.wait(finish)?.success() {
        bail!("agent a did not finish the resumed run");
    }
    if !b.wait(Duration::from_secs(10))?.success() {
        bail!("agent b did not finish the resumed run");
    }
    let log = std::fs::read_to_string(dir.join("coordinator-2.log"))?;
    if !log.contains("resuming run") {
        bail!("the restarted coordinator did not resume the run: {log}");
    }
    Ok((run, [coord2, submitter]))
}

/// Waits until stage `stage` of the (only) run under `dir/results` has stored a snapshot: the
/// stage is under way. Returns the run directory.
pub fn wait_for_stage(dir: &Path, stage: u32, limit: Duration) -> Result<PathBuf> {
    let run = wait_for_run_dir(dir, limit)?;
    wait_for_file(&run.join(format!("snapshots/stage-{stage}.pb")), limit)?;
    Ok(run)
}

/// One request the sim served (its ground truth).
#[derive(Debug, Clone)]
pub struct Served {
    /// The stage of its request id.
    pub stage: u32,
    /// The request index within the stage.
    pub index: u64,
    /// When the sim received it (µs since the Unix epoch).
    pub arrival_unix_us: i64,
}

/// The sim's ground-truth file: every request with an `x-request-id` of `<stage>-<index>`.
pub fn ground_truth(path: &Path) -> Result<Vec<Served>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let mut out = Vec::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        let id = v["request_id"].as_str().unwrap_or("");
        let Some((stage, index)) = id.split_once('-') else {
            continue;
        };
        let (Ok(stage), Ok(index)) = (stage.parse(), index.parse()) else {
            continue;
        };
        out.push(Served {
            stage,
            index,
            arrival_unix_us: v["arrival_unix_us"].as_i64().unwrap_or(0),
        });
    }
    Ok(out)
}

/// Microseconds since the Unix epoch, now.
pub fn now_unix_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// A deterministic sim (TTFT 2 ms, ITL 1 ms) that logs its ground truth: the process, its
/// address and the ground-truth file.
pub fn sim_with_truth(
    dir: &std::path::Path,
) -> anyhow::Result<(crate::Proc, String, std::path::PathBuf)> {
    let truth = dir.join("truth.jsonl");
    let (sim, addr) = crate::start_sim(
        dir,
        "sim",
        &[
            "--deterministic",
            "--ttft-ms",
            "2",
            "--itl-ms",
            "1",
            "--ground-truth",
            &truth.display().to_string(),
        ],
    )?;
    Ok((sim, addr, truth))
}
