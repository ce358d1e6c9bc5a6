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
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    rt.block_on(async move {
        match cli.command {
            Command::Serve(a) => {
                let cfg = ServeConfig::from_args(&a).context("invalid sim serve flags")?;
                serve(cfg).await
            }
            Command::Proxy(a) => fleetbench_sim::proxy::run_proxy(a).await,
        }
    })
}
