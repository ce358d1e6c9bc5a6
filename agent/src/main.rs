//! `agent`: the fleetbench agent binary. See the crate docs of `fleetbench_agent`.

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use fleetbench_agent::link::{run, AgentConfig};
use fleetbench_agent::stage::AgentLimits;
use fleetbench_agent::telemetry::gpu::FakeGpu;
use fleetbench_agent::telemetry::{NvmlMode, Telemetry, TelemetryConfig};
use fleetbench_common::role::Role;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "agent",
    version,
    about = "fleetbench agent: generates and measures one shard of the load on this host"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Join a coordinator and run the shards it assigns.
    Join(JoinArgs),
}

#[derive(clap::Args)]
struct JoinArgs {
    /// The coordinator's address, HOST:PORT.
    #[arg(long, env = "FLEETBENCH_COORDINATOR")]
    coordinator: String,
    /// What this host is: prefill, decode, client or other.
    #[arg(long, default_value = "client", value_parser = parse_role)]
    role: Role,
    /// This agent's name (unique in the fleet); default: the host name and process id.
    #[arg(long)]
    name: Option<String>,
    /// Labels for the report, KEY=VALUE, repeatable.
    #[arg(long = "label", value_parser = parse_label)]
    labels: Vec<(String, String)>,
    /// Talk to the coordinator without TLS. Required for now: TLS is not implemented yet.
    #[arg(long)]
    insecure: bool,
    /// At most this many requests in flight; arrivals beyond it wait and are counted as held back.
    #[arg(long, default_value_t = 100_000)]
    max_in_flight: usize,
    /// Exit after the first run ends.
    #[arg(long)]
    once: bool,
    /// Give up after the coordinator has been unreachable this many seconds.
    #[arg(long, default_value_t = 60.0)]
    reconnect_timeout: f64,
    /// Seconds between telemetry samples (accelerators, host, engine metrics).
    #[arg(long, default_value_t = 0.2)]
    telemetry_interval: f64,
    /// Accelerator telemetry through NVML.
    #[arg(long, value_enum, default_value = "auto")]
    nvml: NvmlMode,
    /// Sample only these GPU indices (default: CUDA_VISIBLE_DEVICES, else all).
    #[arg(long, value_delimiter = ',')]
    gpus: Option<Vec<u32>>,
    /// The engine's Prometheus metrics on this host (repeatable), e.g. http://127.0.0.1:8000/metrics.
    #[arg(long = "engine-metrics")]
    engine_metrics: Vec<String>,
    /// Testing and demos without a GPU: a scripted device MODEL:MEMORY_GB:POWER_W (repeatable).
    #[arg(long = "fake-gpu")]
    fake_gpus: Vec<FakeGpu>,
    /// Testing only: pretend this host's clock is off by this many milliseconds.
    #[arg(
        long,
        hide = true,
        default_value_t = 0.0,
        allow_negative_numbers = true
    )]
    fake_clock_offset_ms: f64,
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

fn parse_label(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("label {s:?} is not KEY=VALUE"))
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Join(args) => join(args),
    }
}

fn join(args: JoinArgs) -> anyhow::Result<()> {
    if !args.insecure {
        bail!("TLS to the coordinator is not implemented yet: pass --insecure to use plaintext");
    }
    let host_name = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "localhost".to_string());
    let agent_id = args
        .name
        .unwrap_or_else(|| format!("{host_name}-{}", std::process::id()));
    let coordinator = if args.coordinator.contains("://") {
        args.coordinator.clone()
    } else {
        format!("http://{}", args.coordinator)
    };
    let telemetry = Telemetry::open(&TelemetryConfig {
        interval: Duration::from_secs_f64(args.telemetry_interval.max(0.01)),
        nvml: args.nvml,
        gpus: args.gpus,
        fake_gpus: args.fake_gpus,
        engine_urls: args.engine_metrics,
    })?;
    let cfg = AgentConfig {
        coordinator,
        agent_id,
        role: args.role,
        host_name,
        labels: args.labels.into_iter().collect::<HashMap<_, _>>(),
        clock_offset_ns: (args.fake_clock_offset_ms * 1e6) as i64,
        limits: AgentLimits {
            max_in_flight: args.max_in_flight,
        },
        once: args.once,
        reconnect_timeout: Duration::from_secs_f64(args.reconnect_timeout),
        telemetry: Arc::new(tokio::sync::Mutex::new(telemetry)),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    runtime.block_on(run(cfg))
}
