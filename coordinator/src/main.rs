//! `coordinator`: the fleetbench control plane binary. See the crate docs of
//! `fleetbench_coordinator`.

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use fleetbench_common::profile::load_profile;
use fleetbench_coordinator::hub::{CoordinatorConfig, Hub, Progress};
use fleetbench_coordinator::run::{start_run, RunRequest};
use fleetbench_proto::v1 as wire;
use fleetbench_proto::v1::control_client::ControlClient;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "coordinator",
    version,
    about = "fleetbench coordinator: plans a benchmark over the agents that joined, runs it in step and writes the report"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the control plane until stopped; runs come from `coordinator submit`.
    Serve {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// One-shot: serve, wait for the agents, run PROFILE, write the report, exit (non-zero on failure).
    Run {
        /// The workload profile (YAML).
        profile: PathBuf,
        /// Wait for this many agents (default: the profile's fleet.expect_agents, else 1).
        #[arg(long)]
        expect_agents: Option<u32>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Submit PROFILE to a running `coordinator serve` and follow it to the end.
    Submit {
        profile: PathBuf,
        /// The coordinator's address, HOST:PORT.
        #[arg(long, env = "FLEETBENCH_COORDINATOR")]
        coordinator: String,
        #[arg(long, default_value_t = 0)]
        expect_agents: u32,
        /// Plaintext to the coordinator (required for now: TLS is not implemented yet).
        #[arg(long)]
        insecure: bool,
    },
}

#[derive(clap::Args, Clone)]
struct ServerArgs {
    /// Where to listen for agents and clients (port 0: any free port, printed on stdout).
    #[arg(long, default_value = "127.0.0.1:7600")]
    listen: SocketAddr,
    /// Serve plaintext gRPC (required for now: TLS is not implemented yet).
    #[arg(long)]
    insecure: bool,
    /// Results go to DIR/<run-id>/ (default: the profile's storage.local_storage.path, else results).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Seconds of silence after which an agent is lost.
    #[arg(long, default_value_t = 5.0)]
    agent_timeout: f64,
    /// Seconds between assigning a stage and its start.
    #[arg(long, default_value_t = 1.0)]
    start_lead: f64,
    /// Seconds a run waits for its expected agents.
    #[arg(long, default_value_t = 120.0)]
    join_timeout: f64,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve { server } => serve(server).await,
            Command::Run {
                profile,
                expect_agents,
                server,
            } => run(profile, expect_agents, server).await,
            Command::Submit {
                profile,
                coordinator,
                expect_agents,
                insecure,
            } => submit(profile, coordinator, expect_agents, insecure).await,
        }
    })
}

async fn listen(args: &ServerArgs, results: PathBuf) -> anyhow::Result<Arc<Hub>> {
    if !args.insecure {
        bail!("TLS is not implemented yet: pass --insecure to serve plaintext gRPC");
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    println!("listening on {addr}");
    std::io::stdout().flush().ok();
    let hub = Arc::new(Hub::new(CoordinatorConfig {
        results_dir: results,
        agent_timeout: Duration::from_secs_f64(args.agent_timeout),
        start_lead: Duration::from_secs_f64(args.start_lead),
        join_timeout: Duration::from_secs_f64(args.join_timeout),
    }));
    let h = hub.clone();
    tokio::spawn(async move {
        if let Err(e) = fleetbench_coordinator::serve(listener, h).await {
            tracing::error!("control plane stopped: {e}");
        }
    });
    Ok(hub)
}

async fn serve(args: ServerArgs) -> anyhow::Result<()> {
    let results = args.out.clone().unwrap_or_else(|| PathBuf::from("results"));
    let _hub = listen(&args, results).await?;
    tokio::signal::ctrl_c().await.context("wait for ctrl-c")?;
    Ok(())
}

async fn run(profile: PathBuf, expect_agents: Option<u32>, args: ServerArgs) -> anyhow::Result<()> {
    let loaded = load_profile(&profile)?;
    let text =
        std::fs::read_to_string(&profile).with_context(|| format!("read {}", profile.display()))?;
    let expect = expect_agents
        .or(loaded.profile.fleet.expect_agents)
        .unwrap_or(1);
    let results = args.out.clone().unwrap_or_else(|| {
        loaded
            .profile
            .storage
            .as_ref()
            .and_then(|s| s.local_storage.as_ref())
            .and_then(|l| l.path.clone())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("results"))
    });
    let hub = listen(&args, results).await?;
    let handle = start_run(
        hub,
        RunRequest {
            loaded,
            profile_text: text,
            expect_agents: expect,
        },
    );
    let printer = tokio::spawn(print_progress(handle.progress.clone()));
    let outcome = handle.task.await.context("the run task panicked")?;
    printer.abort();
    let outcome = outcome?;
    println!("{}", outcome.summary_markdown);
    println!("report: {}", outcome.dir.display());
    // Give agents a moment to receive RunEnd before the process exits.
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok(())
}

/// One progress line per second on stderr.
async fn print_progress(mut rx: tokio::sync::watch::Receiver<Progress>) {
    let mut last = String::new();
    loop {
        let line = {
            let p = rx.borrow_and_update();
            progress_line(&p)
        };
        if line != last {
            eprintln!("{line}");
            last = line;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        if rx.has_changed().is_err() {
            return;
        }
    }
}

fn progress_line(p: &Progress) -> String {
    let planned = if p.requests_planned > 0 {
        format!("/{}", p.requests_planned)
    } else {
        String::new()
    };
    format!(
        "[{}] stage {}/{} {}: {}{} requests, {} failures, {} agents",
        p.run_id,
        p.stage + 1,
        p.stages.max(1),
        p.message,
        p.requests_done,
        planned,
        p.failures,
        p.agents
    )
}

async fn submit(
    profile: PathBuf,
    coordinator: String,
    expect_agents: u32,
    insecure: bool,
) -> anyhow::Result<()> {
    if !insecure {
        bail!("TLS is not implemented yet: pass --insecure to use plaintext gRPC");
    }
    let text =
        std::fs::read_to_string(&profile).with_context(|| format!("read {}", profile.display()))?;
    let url = if coordinator.contains("://") {
        coordinator.clone()
    } else {
        format!("http://{coordinator}")
    };
    let mut client = ControlClient::connect(url.clone())
        .await
        .with_context(|| format!("connect to {url}"))?;
    let reply = client
        .submit(wire::SubmitRequest {
            profile_yaml: text,
            profile_name: profile.display().to_string(),
            expect_agents,
        })
        .await
        .map_err(|s| anyhow::anyhow!("{}", s.message()))?
        .into_inner();
    eprintln!("run {} submitted", reply.run_id);
    let mut events = client
        .watch(wire::WatchRequest {
            run_id: reply.run_id.clone(),
        })
        .await
        .map_err(|s| anyhow::anyhow!("{}", s.message()))?
        .into_inner();
    while let Some(ev) = events.message().await? {
        eprintln!(
            "[{}] stage {}/{} {}: {}/{} requests, {} failures, {} agents",
            ev.run_id,
            ev.stage + 1,
            ev.stages.max(1),
            ev.message,
            ev.requests_done,
            ev.requests_planned,
            ev.failures,
            ev.agents
        );
        if ev.finished {
            if !ev.error.is_empty() {
                bail!("run {} failed: {}", ev.run_id, ev.error);
            }
            break;
        }
    }
    let report = client
        .get_report(wire::GetReportRequest {
            run_id: reply.run_id,
        })
        .await
        .map_err(|s| anyhow::anyhow!("{}", s.message()))?
        .into_inner();
    println!("{}", report.summary_markdown);
    println!("report: {}", report.results_dir);
    Ok(())
}
