//! The agent's host and the agent process itself, read from Linux's /proc: CPU busy share,
//! memory, network bytes/s, and the agent's own CPU and RSS (the agent's CPU is how a run shows
//! that the client was not the bottleneck). Rates are deltas between consecutive samples.

use fleetbench_proto::v1 as wire;
use std::time::Instant;

#[derive(Debug, Default)]
pub struct HostReader {
    last: Option<Reading>,
}

#[derive(Debug, Clone, Copy)]
struct Reading {
    at: Instant,
    cpu_busy: u64,
    cpu_total: u64,
    proc_ticks: u64,
    net_rx: u64,
    net_tx: u64,
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// (busy, total) jiffies of all CPUs from the `cpu` line of /proc/stat.
fn cpu_jiffies() -> Option<(u64, u64)> {
    let stat = read("/proc/stat")?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    Some((total.saturating_sub(idle), total))
}

/// utime + stime of this process, in clock ticks.
fn proc_ticks() -> Option<u64> {
    let stat = read("/proc/self/stat")?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn net_bytes() -> (u64, u64) {
    let Some(dev) = read("/proc/net/dev") else {
        return (0, 0);
    };
    dev.lines()
        .skip(2)
        .filter_map(|l| {
            let (name, rest) = l.split_once(':')?;
            if name.trim() == "lo" {
                return None;
            }
            let v: Vec<u64> = rest
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            Some((*v.first()?, *v.get(8)?))
        })
        .fold((0, 0), |(r, t), (a, b)| (r + a, t + b))
}

fn meminfo() -> (f64, f64) {
    let Some(m) = read("/proc/meminfo") else {
        return (f64::NAN, f64::NAN);
    };
    let kb = |key: &str| -> Option<f64> {
        m.lines()
            .find(|l| l.starts_with(key))?
            .split_whitespace()
            .nth(1)?
            .parse::<f64>()
            .ok()
            .map(|v| v * 1024.0)
    };
    match (kb("MemTotal:"), kb("MemAvailable:")) {
        (Some(t), Some(a)) => (t - a, t),
        _ => (f64::NAN, f64::NAN),
    }
}

fn rss_bytes() -> f64 {
    read("/proc/self/statm")
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map(|pages| pages * 4096.0)
        .unwrap_or(f64::NAN)
}

/// Clock ticks per second of /proc's CPU counters (USER_HZ, 100 on Linux).
const TICKS_PER_S: f64 = 100.0;

impl HostReader {
    pub fn sample(&mut self) -> wire::HostSample {
        let (cpu_busy, cpu_total) = cpu_jiffies().unwrap_or((0, 0));
        let (net_rx, net_tx) = net_bytes();
        let now = Reading {
            at: Instant::now(),
            cpu_busy,
            cpu_total,
            proc_ticks: proc_ticks().unwrap_or(0),
            net_rx,
            net_tx,
        };
        let (mem_used, mem_total) = meminfo();
        let mut s = wire::HostSample {
            cpu_pct: f64::NAN,
            mem_used_bytes: mem_used,
            mem_total_bytes: mem_total,
            agent_cpu_pct: f64::NAN,
            agent_rss_bytes: rss_bytes(),
            net_rx_bytes_per_s: f64::NAN,
            net_tx_bytes_per_s: f64::NAN,
        };
        if let Some(last) = self.last {
            let dt = now.at.duration_since(last.at).as_secs_f64();
            let total = now.cpu_total.saturating_sub(last.cpu_total);
            if total > 0 {
                s.cpu_pct =
                    100.0 * now.cpu_busy.saturating_sub(last.cpu_busy) as f64 / total as f64;
            }
            if dt > 0.0 {
                // Percent of one core, as `top` shows a process.
                s.agent_cpu_pct = 100.0 * now.proc_ticks.saturating_sub(last.proc_ticks) as f64
                    / TICKS_PER_S
                    / dt;
                s.net_rx_bytes_per_s = now.net_rx.saturating_sub(last.net_rx) as f64 / dt;
                s.net_tx_bytes_per_s = now.net_tx.saturating_sub(last.net_tx) as f64 / dt;
            }
        }
        self.last = Some(now);
        s
    }
}
