//! Helpers of the security tests: certificates and tokens from `coordinator certs`, a
//! coordinator started with any flags and environment, waiting for a process's log line, and
//! searching a directory for a secret.

use super::{bin, Proc};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// `coordinator certs` into `dir/NAME`: a CA, a server certificate for localhost and
/// 127.0.0.1, the agents' and clients' certificates, and the tokens.
pub fn make_certs(dir: &Path, name: &str, agents: &[&str], clients: &[&str]) -> Result<PathBuf> {
    let out = dir.join(name);
    let mut args = vec![
        "certs".to_string(),
        "--out".into(),
        out.display().to_string(),
        "--hosts".into(),
        "localhost,127.0.0.1".into(),
    ];
    if !agents.is_empty() {
        args.extend(["--agents".into(), agents.join(",")]);
    }
    if !clients.is_empty() {
        args.extend(["--clients".into(), clients.join(",")]);
    }
    let status = std::process::Command::new(bin("coordinator"))
        .args(&args)
        .stdout(std::process::Stdio::null())
        .status()?;
    if !status.success() {
        bail!("coordinator certs failed");
    }
    Ok(out)
}

/// A path as a flag value.
pub fn arg(p: &Path) -> String {
    p.display().to_string()
}

/// `coordinator ARGS...` (`serve` or `run`) with `--listen 127.0.0.1:0`; returns it and the
/// address it printed.
pub fn start_coordinator(
    dir: &Path,
    args: &[String],
    env: &[(&str, &str)],
) -> Result<(Proc, String)> {
    let mut all = args.to_vec();
    all.extend(["--listen".to_string(), "127.0.0.1:0".into()]);
    let mut p = Proc::spawn_env("coordinator", &bin("coordinator"), &all, env, dir)?;
    let addr = p.listening_addr()?;
    Ok((p, addr))
}

/// The text of `dir/NAME.log` (empty if it does not exist).
pub fn log(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default()
}

/// Waits until `dir/NAME.log` contains `needle`.
pub fn wait_for_log(dir: &Path, name: &str, needle: &str, limit: Duration) -> Result<()> {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if log(dir, name).contains(needle) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!(
        "{name}.log has no {needle:?} after {limit:?}:\n{}",
        log(dir, name)
    )
}

/// Runs a process to its end (at most `limit`); returns whether it succeeded and its log.
pub fn run_to_end(
    dir: &Path,
    name: &str,
    program: &str,
    args: &[String],
    env: &[(&str, &str)],
    limit: Duration,
) -> Result<(bool, String)> {
    let mut p = Proc::spawn_env(name, &bin(program), args, env, dir)?;
    let status = p
        .wait(limit)
        .with_context(|| format!("{name} did not end"))?;
    Ok((status.success(), log(dir, name)))
}

/// Every file under `root` whose bytes contain `needle`.
pub fn files_containing(root: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if std::fs::read(&p)
                .is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
            {
                found.push(p);
            }
        }
    }
    found
}

/// Peak resident memory of a process (VmHWM), in bytes.
pub fn peak_rss_bytes(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .context("no VmHWM line")?;
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .context("VmHWM value")?
        .parse()?;
    Ok(kb * 1024)
}
