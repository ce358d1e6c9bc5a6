//! Issue 21's live view: `coordinator run` in a pseudo-terminal (a tmux pane of 160×48) shows
//! the full-screen view with the stage, its elapsed time and a live TTFT while the stage runs,
//! and gives the terminal back when the run ends; with stdout not a terminal the progress is
//! plain lines whose final counts are the report's.

use anyhow::{bail, Context, Result};
use fleetbench_e2e::chaos::free_port;
use fleetbench_e2e::*;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// tmux on its own server socket (so a person's tmux is never touched).
struct Tmux {
    socket: String,
}

impl Tmux {
    fn available() -> bool {
        Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success())
    }

    fn cmd(&self, args: &[&str]) -> Result<Output> {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .context("run tmux")?;
        if !out.status.success() {
            bail!(
                "tmux {args:?}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(out)
    }

    /// The pane's text (`-e`: with its colours as escape sequences).
    fn capture(&self, escapes: bool) -> Result<String> {
        let mut args = vec!["capture-pane", "-p", "-t", "live"];
        if escapes {
            args.push("-e");
        }
        Ok(String::from_utf8_lossy(&self.cmd(&args)?.stdout).into_owned())
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

fn wait_for_port(port: u16, limit: Duration) -> Result<()> {
    let until = Instant::now() + limit;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > until {
            bail!("nothing listens on port {port} after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// The sim (TTFT 50 ms, 10 ms between tokens) and a profile of one Poisson stage.
fn sim_and_profile(dir: &Path, rate: u32, duration_s: u32) -> Result<(Proc, String, String)> {
    let (sim, sim_addr) = start_sim(
        dir,
        "sim",
        &["--deterministic", "--ttft-ms", "50", "--itl-ms", "10"],
    )?;
    let profile = write_profile(
        dir,
        &sim_addr,
        32,
        32,
        &format!(
            "load: {{type: poisson, stages: [{{rate: {rate}, duration: {duration_s}}}], base_seed: 3}}"
        ),
    );
    Ok((sim, sim_addr, profile.display().to_string()))
}

#[test]
fn the_full_screen_view_shows_stage_elapsed_and_live_ttft_in_a_terminal() -> Result<()> {
    if !Tmux::available() {
        eprintln!("SKIPPED: tmux is not installed; the full-screen view needs a pseudo-terminal (apt-get install tmux)");
        return Ok(());
    }
    let dir = scratch("live_view_tui");
    let (_sim, sim_addr, profile) = sim_and_profile(&dir, 5, 12)?;
    let port = free_port()?;
    let results = dir.join("results");
    let status = dir.join("exit-status");
    let script = format!(
        "cd {dir} && RUST_LOG=info {coord} run {profile} --expect-agents 1 --listen 127.0.0.1:{port} \
         --insecure --out {results} --start-lead 0.5 --join-timeout 30; echo $? > {status}; sleep 60",
        dir = dir.display(),
        coord = bin("coordinator").display(),
        results = results.display(),
        status = status.display(),
    );
    let tmux = Tmux {
        socket: format!("fleetbench-live-{}", std::process::id()),
    };
    tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "live",
        "-x",
        "160",
        "-y",
        "48",
        "sh",
        "-c",
        &script,
    ])?;
    wait_for_port(port, Duration::from_secs(20))?;
    let metrics = format!("http://{sim_addr}/metrics");
    let mut agent = start_agent(
        &dir,
        &format!("127.0.0.1:{port}"),
        "agent-a",
        "client",
        &[
            "--fake-gpu",
            "NVIDIA H200:141:650",
            "--engine-metrics",
            &metrics,
            "--telemetry-interval",
            "0.5",
        ],
    )?;

    // While the stage runs: its name, elapsed time and a TTFT median on screen.
    let until = Instant::now() + Duration::from_secs(40);
    let screen = loop {
        let screen = tmux.capture(false)?;
        let ttft_live = screen
            .lines()
            .any(|l| l.contains("TTFT") && l.contains("p50") && l.contains(" ms"));
        if screen.contains("stage 0 of 0..0 qps_05")
            && screen.contains("elapsed ")
            && screen.contains("s left)")
            && ttft_live
        {
            break screen;
        }
        if Instant::now() > until || status.exists() {
            bail!(
                "the view never showed the stage, elapsed time and a TTFT; last screen:\n{screen}"
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    std::fs::write(dir.join("screen.txt"), &screen)?;
    std::fs::write(dir.join("screen.ansi"), tmux.capture(true)?)?;
    for needle in ["agent-a", "connected", "offered 5.0 req/s"] {
        assert!(screen.contains(needle), "no {needle:?} on\n{screen}");
    }
    assert!(
        screen
            .lines()
            .any(|l| l.contains("client") && l.contains(" W")),
        "the host group's GPU power is shown:\n{screen}"
    );

    // The run ends: exit status 0, the terminal given back (the summary and the report path
    // on the normal screen, the stage's final line above them).
    let until = Instant::now() + Duration::from_secs(60);
    while !status.exists() {
        if Instant::now() > until {
            bail!("the run did not end; screen:\n{}", tmux.capture(false)?);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(std::fs::read_to_string(&status)?.trim(), "0");
    let after = tmux.capture(false)?;
    assert!(
        after.contains("report: "),
        "no report line after the view:\n{after}"
    );
    assert!(
        after.contains("stage 0 of 0..0 qps_05 ended"),
        "no final stage line after the view:\n{after}"
    );
    assert!(
        !after.contains("host groups"),
        "the view's frame is still on screen:\n{after}"
    );
    assert!(agent.wait(Duration::from_secs(10))?.success());
    Ok(())
}

#[test]
fn without_a_terminal_the_progress_is_plain_lines_with_final_counts() -> Result<()> {
    let dir = scratch("live_view_plain");
    let (_sim, _sim_addr, profile) = sim_and_profile(&dir, 10, 4)?;
    let (run, _stdout) = run_with_two_agents(&dir, Path::new(&profile), Duration::from_secs(60))?;
    let log = std::fs::read_to_string(dir.join("coordinator.log"))?;
    assert!(
        !log.contains("\u{1b}[?1049h"),
        "no full-screen view without a terminal"
    );
    let progress: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("] stage 0 of 0..0 qps_10: "))
        .collect();
    assert!(
        progress.len() >= 2,
        "a progress line per second of the 4 s stage:\n{log}"
    );
    assert!(
        progress.iter().all(|l| l.contains(" s of 4 s (")
            && l.contains("s left)")
            && l.contains("offered 10.0 req/s")),
        "{progress:#?}"
    );
    let r = stage_report(&run, 0)?;
    let total = num(&r, "metrics.requests.total") as u64;
    let ended: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("] stage 0 of 0..0 qps_10 ended"))
        .collect();
    assert_eq!(ended.len(), 1, "{log}");
    assert!(
        ended[0].contains(&format!(": {total} requests, 0 failures")),
        "the final line has the report's count {total}: {}",
        ended[0]
    );
    Ok(())
}
