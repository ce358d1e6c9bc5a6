//! `sim`: see the `fleetbench_sim` crate docs. Parses flags and runs a server or the proxy.

use anyhow::Context;
use clap::Parser;
use fleetbench_sim::cli::{Cli, Command};
use fleetbench_sim::server::{serve, ServeConfig};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let threads = match &cli.command {
        Command::Serve(a) => a.threads,
        Command::Proxy(a) => a.threads,
    };
    let serve_cfg = match &cli.command {
        Command::Serve(a) => {
            if a.deterministic && a.card.is_some() {
                tracing::warn!("--card is ignored in --deterministic mode");
            }
            if !a.deterministic && (a.ttft_ms != 0.0 || a.itl_ms != 0.0) {
                tracing::warn!("--ttft-ms and --itl-ms only apply with --deterministic");
            }
            Some(ServeConfig::from_args(a).context("invalid sim serve flags")?)
        }
        Command::Proxy(_) => None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    // Run everything on the worker threads (block_on would run the accept loop on this
    // thread, one more thread than --threads).
    rt.block_on(async move {
        tokio::spawn(async move {
            match (cli.command, serve_cfg) {
                (_, Some(cfg)) => serve(cfg).await,
                (Command::Proxy(a), None) => fleetbench_sim::proxy::run_proxy(a).await,
                (Command::Serve(_), None) => unreachable!("serve config is parsed above"),
            }
        })
        .await
        .context("sim task failed")?
    })
}
