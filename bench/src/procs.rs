//! The processes a benchmark starts (sims pinned with `taskset`) and what /proc says about them.

use anyhow::{bail, Context};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

pub(crate) struct Sim {
    pub(crate) child: Child,
    pub(crate) addr: String,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The binary `name` next to this one (the release build's directory).
pub(crate) fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let path = std::env::current_exe()?
        .parent()
        .context("binary dir")?
        .join(name);
    if !path.exists() {
        bail!(
            "{} is missing: build the workspace (cargo build --release --workspace --bins)",
            path.display()
        );
    }
    Ok(path)
}

pub(crate) fn start_sim(core: usize, flags: &[&str]) -> anyhow::Result<Sim> {
    let sim = sibling("sim")?;
    let mut child = Command::new("taskset")
        .arg("-c")
        .arg(core.to_string())
        .arg(&sim)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--threads",
            "1",
            "--deterministic",
        ])
        .args(flags)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("start the sim")?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().context("sim stdout")?).read_line(&mut line)?;
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .context("sim's first line")?
        .to_string();
    Ok(Sim { child, addr })
}

/// Raises the soft limit of open files to the hard limit (10,000 streams need 10,000 sockets).
pub(crate) fn raise_open_files_limit() {
    // SAFETY: getrlimit/setrlimit with a valid resource and a pointer to a live rlimit.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// The soft limit of open files of this process.
pub(crate) fn open_files_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit with a valid resource and a pointer to a live rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        lim.rlim_cur
    } else {
        0
    }
}

/// utime + stime of this process, seconds.
pub(crate) fn cpu_seconds() -> f64 {
    proc_cpu_seconds("self")
}

/// utime + stime of process `pid` ("self" for this one), seconds.
pub(crate) fn proc_cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rfind(')').map(|i| &stat[i + 2..]).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| f.get(i)?.parse::<f64>().ok())
        .sum();
    ticks / 100.0
}

/// Context switches (voluntary and not) of every thread of process `pid` so far, from
/// `/proc/{pid}/task/*/status` (0 when it is gone). A voluntary one is a thread going to sleep,
/// in the agent nearly always `epoll_wait` with nothing ready.
pub(crate) fn proc_context_switches(pid: &str) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    let mut n = 0;
    for t in tasks.flatten() {
        let status = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
        n += status
            .lines()
            .filter(|l| {
                l.starts_with("voluntary_ctxt_switches:")
                    || l.starts_with("nonvoluntary_ctxt_switches:")
            })
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum::<u64>();
    }
    n
}

/// Resident set size of this process, MB.
pub(crate) fn rss_mb() -> f64 {
    proc_rss_mb("self")
}

/// Resident set size of process `pid`, MB (NaN when it is gone).
pub(crate) fn proc_rss_mb(pid: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// Cores of the machine (not of this pinned process).
pub(crate) fn num_cpus() -> usize {
    std::fs::read_to_string("/proc/cpuinfo")
        .map(|c| c.lines().filter(|l| l.starts_with("processor")).count())
        .unwrap_or(0)
}

pub(crate) fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// The 1-minute load average (/proc/loadavg).
pub(crate) fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}
