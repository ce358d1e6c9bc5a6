//! `io-probe`: the minimal streaming client of `fleetbench-bench --only iomodel`
//! (`fleetbench_bench::ioprobe`) in one I/O model, closed loop against one server; prints what
//! it counted as one JSON line. Exit status 3 when io_uring is unavailable (this build, this
//! kernel, or a seccomp profile that refuses it), 1 on any other failure.

use clap::Parser;
use fleetbench_bench::ioprobe::{run, Io, Probe, ProbeError};
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "io-probe",
    about = "A minimal streaming client on epoll or io_uring"
)]
struct Args {
    /// epoll or uring.
    #[arg(long)]
    io: Io,
    /// The server, host:port.
    #[arg(long)]
    addr: String,
    /// Connections, one request in flight on each.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=30_000))]
    streams: u32,
    /// max_tokens of every request.
    #[arg(long, default_value_t = 128)]
    tokens: u32,
    /// Seconds to run.
    #[arg(long, default_value_t = 10.0, value_parser = seconds)]
    seconds: f64,
    /// Stop after this many responses.
    #[arg(long)]
    requests: Option<u64>,
    /// The agent's wakeup coalescing window, µs (`agent join --coalesce-us`; 0: none).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(0..=5000))]
    coalesce_us: u64,
}

fn seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=3600.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?}: seconds from 0 to 3600")),
    }
}

fn main() {
    let a = Args::parse();
    let probe = Probe {
        addr: a.addr,
        streams: a.streams,
        tokens: a.tokens,
        limit: Duration::from_secs_f64(a.seconds),
        requests: a.requests,
        coalesce: Duration::from_micros(a.coalesce_us),
    };
    match run(&probe, a.io) {
        Ok(t) => println!(
            "{{\"requests\":{},\"events\":{},\"reads\":{},\"unstamped\":{},\"gap_ns\":{}}}",
            t.requests, t.events, t.reads, t.unstamped, t.gap_ns
        ),
        Err(e) => {
            eprintln!("io-probe: {e}");
            std::process::exit(if matches!(e, ProbeError::Unavailable(_)) {
                3
            } else {
                1
            });
        }
    }
}
