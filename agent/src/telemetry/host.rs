//! The agent's host and the agent process itself, through `sysinfo` (Linux, macOS, Windows): CPU
//! busy share, memory, network bytes/s, and the agent's own CPU and RSS (the agent's CPU is how a
//! run shows that the client was not the bottleneck). Rates are deltas between consecutive
//! samples; the first sample of a reader has none (NaN).

use fleetbench_proto::v1 as wire;
use std::time::Instant;
use sysinfo::{Networks, Pid, ProcessRefreshKind, ProcessesToUpdate, System};

/// Reads the host between samples. Where `sysinfo` cannot start (an unsupported system), every
/// figure is NaN rather than invented.
pub(crate) struct HostReader {
    sys: Option<System>,
    networks: Option<Networks>,
    pid: Option<Pid>,
    last: Option<Instant>,
}

impl Default for HostReader {
    fn default() -> Self {
        HostReader {
            sys: System::new().ok(),
            networks: Networks::new_with_refreshed_list().ok(),
            pid: sysinfo::get_current_pid().ok(),
            last: None,
        }
    }
}

impl std::fmt::Debug for HostReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostReader")
            .field("pid", &self.pid)
            .field("last", &self.last)
            .finish_non_exhaustive()
    }
}

/// Bytes received and sent on every interface but loopback since the previous refresh.
fn net_delta(networks: &mut Networks) -> (u64, u64) {
    networks.refresh(true);
    networks
        .iter()
        .filter(|(name, _)| {
            let name = name.to_string_lossy();
            name != "lo" && name != "lo0"
        })
        .fold((0, 0), |(r, t), (_, n)| {
            (r + n.received(), t + n.transmitted())
        })
}

impl HostReader {
    pub(crate) fn sample(&mut self) -> wire::HostSample {
        let now = Instant::now();
        let dt = self.last.map(|l| now.duration_since(l).as_secs_f64());
        let mut s = wire::HostSample {
            cpu_pct: f64::NAN,
            mem_used_bytes: f64::NAN,
            mem_total_bytes: f64::NAN,
            agent_cpu_pct: f64::NAN,
            agent_rss_bytes: f64::NAN,
            net_rx_bytes_per_s: f64::NAN,
            net_tx_bytes_per_s: f64::NAN,
        };
        if let Some(sys) = self.sys.as_mut() {
            sys.refresh_cpu_usage();
            sys.refresh_memory();
            let total = sys.total_memory() as f64;
            s.mem_total_bytes = total;
            s.mem_used_bytes = total - sys.available_memory() as f64;
            if let Some(pid) = self.pid {
                sys.refresh_processes_specifics(
                    ProcessesToUpdate::Some(&[pid]),
                    false,
                    ProcessRefreshKind::nothing().with_cpu().with_memory(),
                );
                if let Some(p) = sys.process(pid) {
                    s.agent_rss_bytes = p.memory() as f64;
                    if dt.is_some() {
                        // Percent of one core, as `top` shows a process.
                        s.agent_cpu_pct = f64::from(p.cpu_usage());
                    }
                }
            }
            if dt.is_some() {
                s.cpu_pct = f64::from(sys.global_cpu_usage());
            }
        }
        if let Some(networks) = self.networks.as_mut() {
            let (rx, tx) = net_delta(networks);
            if let Some(dt) = dt.filter(|dt| *dt > 0.0) {
                s.net_rx_bytes_per_s = rx as f64 / dt;
                s.net_tx_bytes_per_s = tx as f64 / dt;
            }
        }
        self.last = Some(now);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::HostReader;

    /// The second sample has every figure, within physical bounds; the first has no rates.
    #[test]
    fn samples_the_host_and_this_process() {
        let mut r = HostReader::default();
        let first = r.sample();
        assert!(first.cpu_pct.is_nan() && first.net_rx_bytes_per_s.is_nan());
        assert!(first.mem_total_bytes > 0.0 && first.agent_rss_bytes > 0.0);
        // Some work between the samples so the process's CPU has something to show.
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        std::thread::sleep(std::time::Duration::from_millis(250));
        let second = r.sample();
        assert!((0.0..=100.0).contains(&second.cpu_pct), "{second:?}");
        assert!(second.mem_used_bytes > 0.0 && second.mem_used_bytes <= second.mem_total_bytes);
        assert!(second.agent_cpu_pct >= 0.0, "{second:?}");
        assert!(second.net_rx_bytes_per_s >= 0.0 && second.net_tx_bytes_per_s >= 0.0);
    }
}
