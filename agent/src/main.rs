//! `agent`: the fleetbench agent binary. See the crate docs of `fleetbench_agent`.

use anyhow::Context;
use clap::{Parser, Subcommand};
use fleetbench_agent::dial::{DialConfig, Dialer};
use fleetbench_agent::link::{run, AgentConfig};
use fleetbench_agent::stage::AgentLimits;
use fleetbench_agent::telemetry::gpu::FakeGpu;
use fleetbench_agent::telemetry::{NvmlMode, Telemetry, TelemetryConfig};
use fleetbench_model::role::Role;
use fleetbench_model::token::{Access, Tokens};
use std::collections::HashMap;
use std::path::PathBuf;
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
    Join(Box<JoinArgs>),
    /// Sample this host's telemetry for a while without a coordinator and print the
    /// accelerator inventory and the statistics (JSON; without accelerators, `no_accelerators`
    /// says why): a check that NVML and the engine metrics work here.
    Probe(ProbeArgs),
    /// Print a shell completion script for bash, zsh, fish, elvish or powershell
    /// (e.g. `agent completions bash > ~/.local/share/bash-completion/completions/agent`).
    Completions { shell: clap_complete::Shell },
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
    /// Talk to the coordinator without TLS (plaintext).
    #[arg(long)]
    insecure: bool,
    /// The CA that signed the coordinator's certificate (PEM), e.g. ca.pem of `coordinator certs`.
    #[arg(long, env = "FLEETBENCH_CA_CERT")]
    ca_cert: Option<PathBuf>,
    /// This agent's certificate (PEM) for a coordinator with --client-ca; its CN must be --name.
    #[arg(long)]
    cert: Option<PathBuf>,
    /// The key of --cert (PEM).
    #[arg(long)]
    key: Option<PathBuf>,
    /// The name the coordinator's certificate carries (default: the host of --coordinator).
    #[arg(long)]
    tls_server_name: Option<String>,
    /// A file with the agent token (`agent:SECRET`); default: FLEETBENCH_TOKEN.
    #[arg(long, env = "FLEETBENCH_TOKEN_FILE")]
    token_file: Option<PathBuf>,
    /// At most this many requests in flight; arrivals beyond it wait and are counted as held back.
    #[arg(long, default_value_t = 100_000)]
    max_in_flight: usize,
    /// Exit after the first run ends.
    #[arg(long)]
    once: bool,
    /// Give up after the coordinator has been unreachable this many seconds.
    #[arg(long, default_value_t = 60.0)]
    reconnect_timeout: f64,
    /// Stop sending a stage's load after the coordinator has been unreachable this many seconds
    /// (its snapshots are kept for when it is back).
    #[arg(long, default_value_t = 10.0)]
    orphan_timeout: f64,
    /// An open-loop request due more than this many seconds ago is not sent but counted as
    /// `client_late` (after a stall of this host, no burst).
    #[arg(long, default_value_t = 1.0)]
    max_send_lag: f64,
    /// The CA certificates (PEM) that HTTPS endpoints' certificates must chain to, instead of
    /// the built-in Mozilla roots (a private CA, a gateway's self-signed certificate).
    #[arg(long, env = "FLEETBENCH_ENDPOINT_CA", value_name = "PEM")]
    endpoint_ca: Option<PathBuf>,
    /// Threads of the async runtime that sends and reads the requests: 0, one per core this
    /// process may run on; 1, a single-threaded runtime (every task, timer and socket on the
    /// thread that runs the link: no hand-off between threads).
    #[arg(long, default_value_t = 0)]
    worker_threads: usize,
    /// Microseconds a worker that was woken within that time of going to sleep waits before
    /// it sleeps again, so that one wakeup handles many events (0: never). Events keep the
    /// kernel's receive instants; requests due meanwhile go out up to this late.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(0..=5000))]
    coalesce_us: u64,
    #[command(flatten)]
    telemetry: TelemetryArgs,
    /// Testing only: pretend this host's clock is off by this many milliseconds.
    #[arg(
        long,
        hide = true,
        default_value_t = 0.0,
        allow_negative_numbers = true
    )]
    fake_clock_offset_ms: f64,
}

/// What to sample on this host.
#[derive(clap::Args)]
struct TelemetryArgs {
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
}

impl TelemetryArgs {
    fn open(self) -> anyhow::Result<Telemetry> {
        Ok(Telemetry::open(&TelemetryConfig {
            interval: Duration::from_secs_f64(self.telemetry_interval.max(0.01)),
            nvml: self.nvml,
            gpus: self.gpus,
            fake_gpus: self.fake_gpus,
            engine_urls: self.engine_metrics,
        })?)
    }
}

#[derive(clap::Args)]
struct ProbeArgs {
    /// How long to sample.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    #[command(flatten)]
    telemetry: TelemetryArgs,
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
    let _ = rustls::crypto::ring::default_provider().install_default();
    match cli.command {
        Command::Join(args) => join(*args),
        Command::Probe(args) => probe(args),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "agent", &mut std::io::stdout());
            Ok(())
        }
    }
}

fn join(args: JoinArgs) -> anyhow::Result<()> {
    let tokens = Tokens::from_file_or_env(args.token_file.as_deref())?;
    let token = match &tokens {
        Some(t) => Some(
            t.require(
                Access::Agent,
                "the agent's token (--token-file or FLEETBENCH_TOKEN)",
            )?
            .to_string(),
        ),
        None => None,
    };
    let dialer = Dialer::new(
        &args.coordinator,
        &DialConfig {
            insecure: args.insecure,
            ca_cert: args.ca_cert.clone(),
            cert: args.cert.clone(),
            key: args.key.clone(),
            server_name: args.tls_server_name.clone(),
            token,
        },
    )?;
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
    let endpoint_trust = match &args.endpoint_ca {
        Some(path) => fleetbench_agent::client::EndpointTrust::from_ca_file(path)?,
        None => fleetbench_agent::client::EndpointTrust::default(),
    };
    let telemetry = args.telemetry.open()?;
    let runtime = fleetbench_agent::runtime::build(
        args.worker_threads,
        Duration::from_micros(args.coalesce_us),
    )
    .context("start the async runtime")?;
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let cfg = AgentConfig {
        coordinator: args.coordinator.clone(),
        dialer,
        agent_id,
        role: args.role,
        host_name,
        labels: args.labels.into_iter().collect::<HashMap<_, _>>(),
        clock_offset_ns: (args.fake_clock_offset_ms * 1e6) as i64,
        limits: AgentLimits {
            max_in_flight: args.max_in_flight,
            max_send_lag: Duration::from_secs_f64(args.max_send_lag.max(0.0)),
        },
        once: args.once,
        reconnect_timeout: Duration::from_secs_f64(args.reconnect_timeout),
        orphan_timeout: Duration::from_secs_f64(args.orphan_timeout.max(0.0)),
        telemetry: Arc::new(tokio::sync::Mutex::new(telemetry)),
        endpoint_trust,
        shutdown: shutdown_rx,
    };
    runtime.block_on(async move {
        // SIGINT or SIGTERM: stop the stage, flush its last snapshot, exit.
        tokio::spawn(async move {
            wait_for_signal().await;
            let _ = shutdown_tx.send(true);
            // Keep the sender: a dropped one would read as "never".
            std::future::pending::<()>().await;
        });
        run(cfg).await
    })
}

/// SIGINT or SIGTERM.
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn probe(args: ProbeArgs) -> anyhow::Result<()> {
    let mut telemetry = args.telemetry.open()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    let samples = runtime.block_on(async {
        let until = std::time::Instant::now() + Duration::from_secs_f64(args.seconds);
        let mut tick = tokio::time::interval(telemetry.interval);
        let mut samples = Vec::new();
        while std::time::Instant::now() < until {
            tick.tick().await;
            samples.push(
                telemetry
                    .sample(fleetbench_model::clock::unix_ns(), true, &[], None)
                    .await,
            );
        }
        samples
    });
    let inventory: Vec<serde_json::Value> = telemetry
        .inventory()
        .iter()
        .map(|a| {
            serde_json::json!({"index": a.index, "model": a.model, "memory_gb": a.memory_bytes as f64 / 1e9,
                "pci_bus_id": a.pci_bus_id, "uuid": a.uuid, "driver": a.driver_version, "cuda": a.cuda_version})
        })
        .collect();
    let mut out = serde_json::json!({"inventory": inventory, "samples": samples.len()});
    if let Some(why) = telemetry.no_accelerators() {
        out["no_accelerators"] = why.into();
    }
    let summary = fleetbench_agent::telemetry::summary::summarize(&samples);
    if let (Some(o), serde_json::Value::Object(summary)) = (out.as_object_mut(), summary) {
        o.extend(summary);
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
