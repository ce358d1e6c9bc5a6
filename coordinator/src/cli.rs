//! The `coordinator` binary's command line: its subcommands and the flags they share (the
//! server's, the verdict's). `main.rs` dispatches on them.

use crate::dial_cli::DialArgs;
use crate::matrix_cli::MatrixSelect;
use crate::quick::QuickArgs;
use crate::remote_cli;
use clap::{Parser, Subcommand};
use fleetbench_coordinator::live;
use fleetbench_coordinator::run::RunOptions;
use fleetbench_report::render;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "coordinator",
    version,
    about = "fleetbench coordinator: plans a benchmark over the agents that joined, runs it in step and writes the report"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Serve the control plane until stopped; runs come from `coordinator submit`.
    Serve {
        #[command(flatten)]
        server: ServerArgs,
        /// Record each run's state transitions here; after a crash, a coordinator started on
        /// the same directory resumes the unfinished run (its agents reattach and finish the
        /// stage in progress) and writes partial reports for the others.
        #[arg(long)]
        state_dir: Option<PathBuf>,
    },
    /// One-shot: serve, start or wait for the agents, run PROFILE, write the report, exit
    /// (non-zero on failure). Without --expect-agents, a non-loopback --listen, TLS or the
    /// profile's fleet.hosts, the agents are started on this host (as many as the profile
    /// expects). Quick form without a profile: --url URL --model NAME [--rate R | --concurrency C].
    /// For a sweep matrix: its selected runs one after another, each its own results/<run-id>/.
    /// Exit status: 0 every stage ok, 1 the run could not be made (preflight included), 3 a stage
    /// failed, 4 a stage was degraded (unless --allow-degraded).
    Run {
        /// The workload profile (YAML), or a vLLM-style sweep matrix (`standalone_runs`).
        #[arg(required_unless_present = "url")]
        profile: Option<PathBuf>,
        /// Wait for this many agents to join from other hosts (default: the profile's
        /// fleet.expect_agents, else 1).
        #[arg(long, conflicts_with = "local_agents")]
        expect_agents: Option<u32>,
        /// Start this many agents on this host, joined over loopback with a fresh token
        /// (default when no --expect-agents: the profile's fleet.expect_agents, else 1).
        #[arg(long)]
        local_agents: Option<u32>,
        #[command(flatten)]
        quick: QuickArgs,
        /// Override a profile key: a full path (`load.stages.0.rate=4`) or a leaf that is unique
        /// in the file (`min=20,total_count=200`); repeatable.
        #[arg(short = 'o', long = "override", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        #[command(flatten)]
        select: MatrixSelect,
        #[command(flatten)]
        verdict: VerdictArgs,
        #[command(flatten)]
        server: ServerArgs,
        /// Progress display: tui (full-screen), plain (lines on stderr) or off; default tui
        /// when stdout is a terminal, plain otherwise.
        #[arg(long, value_enum)]
        progress: Option<live::ProgressMode>,
    },
    /// Sweep deployment points: for each point of FILE run its reconfigure command, wait for
    /// the endpoint and the expected agents, run the profile's stages (or, with `sla:` targets,
    /// bisect for the highest load that meets them); results in DIR/<sweep-id>/<point>/ and
    /// the comparison in sweep.{md,json,html} and plots/pareto.*. Exit status: 0 every point
    /// ok, 1 the sweep could not start, 3 a point failed (or was skipped after one), 4 a stage
    /// was degraded (unless --allow-degraded). See docs/sweep.md.
    Sweep {
        /// The sweep file (YAML).
        file: PathBuf,
        /// Agents to wait for when the sweep file's ready.agents is empty (default: the
        /// profile's fleet.expect_agents, else 1).
        #[arg(long)]
        expect_agents: Option<u32>,
        /// Override a profile key, as for `run` (after the sweep file's overrides); repeatable.
        #[arg(short = 'o', long = "override", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        /// Readiness checks of an https:// endpoint trust only the CAs of this PEM file
        /// (default: the built-in Mozilla roots), as the agent's --endpoint-ca.
        #[arg(long, env = "FLEETBENCH_ENDPOINT_CA", value_name = "PEM")]
        endpoint_ca: Option<PathBuf>,
        #[command(flatten)]
        verdict: VerdictArgs,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Parse, validate and expand PROFILE; print the effective plan (stages, planned requests,
    /// per-agent shares, data) without running anything; for a sweep matrix, of every run; for
    /// a sweep file (`coordinator sweep`), the file and every point's profile with its values.
    Validate {
        profile: PathBuf,
        /// Override a profile key, as for `run`; repeatable.
        #[arg(short = 'o', long = "override", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        #[command(flatten)]
        select: MatrixSelect,
        /// Plan for this many agents (all of role client, weight 1).
        #[arg(long, default_value_t = 1)]
        agents: u32,
        /// Print the plan as JSON (stages, shard specs with their data) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Expand a vLLM-style sweep matrix into one profile file per run (DIR/<run>.yaml).
    Expand {
        matrix: PathBuf,
        /// Where the profiles go.
        #[arg(long)]
        out: PathBuf,
        /// Override a matrix key, as for `run`; repeatable.
        #[arg(short = 'o', long = "override", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        #[command(flatten)]
        select: MatrixSelect,
    },
    /// Submit PROFILE to a running `coordinator serve` and follow it to the end (a sweep
    /// matrix: its selected runs one after another). Exit status as for `run`.
    Submit {
        profile: PathBuf,
        /// The coordinator's address, HOST:PORT.
        #[arg(long, env = "FLEETBENCH_COORDINATOR")]
        coordinator: String,
        #[arg(long, default_value_t = 0)]
        expect_agents: u32,
        /// Override a profile key, as for `run`; repeatable.
        #[arg(short = 'o', long = "override", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        #[command(flatten)]
        select: MatrixSelect,
        #[command(flatten)]
        verdict: VerdictArgs,
        #[command(flatten)]
        dial: DialArgs,
        /// Progress display: tui (full-screen), plain (lines on stderr) or off; default tui
        /// when stdout is a terminal, plain otherwise.
        #[arg(long, value_enum)]
        progress: Option<live::ProgressMode>,
    },
    /// Follow a run of a `coordinator serve` until it ends.
    Watch {
        run_id: String,
        /// The coordinator's address, HOST:PORT.
        #[arg(long, env = "FLEETBENCH_COORDINATOR")]
        coordinator: String,
        #[command(flatten)]
        dial: DialArgs,
        /// Progress display: tui (full-screen), plain (lines on stderr) or off; default tui
        /// when stdout is a terminal, plain otherwise.
        #[arg(long, value_enum)]
        progress: Option<live::ProgressMode>,
    },
    /// Check a running `coordinator serve` before a long run: it answers, the expected agents
    /// are joined with their roles, their clocks agree within a bound, and (given PROFILE) the
    /// endpoint answers a test request from every agent. One line per check; exit status 0
    /// only when all pass.
    Preflight(remote_cli::preflight::Args),
    /// List the runs of a running `coordinator serve` (id, profile, state, start, stages,
    /// verdict).
    Runs(remote_cli::Remote),
    /// Download a run's directory from a running `coordinator serve` into DIR/RUN_ID/.
    Fetch(remote_cli::fetch::Args),
    /// Issue a CA, the coordinator's certificate, agent and client certificates (CN = name,
    /// OU = role) and fresh tokens into DIR, for first-time users; keys and tokens mode 0600.
    Certs {
        /// Where the files go.
        #[arg(long)]
        out: PathBuf,
        /// DNS names and IP addresses of the coordinator, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "localhost,127.0.0.1")]
        hosts: Vec<String>,
        /// Agent names, comma-separated: one certificate each (the name they join with).
        #[arg(long, value_delimiter = ',')]
        agents: Vec<String>,
        /// Client (submitter) names, comma-separated: one certificate each.
        #[arg(long, value_delimiter = ',')]
        clients: Vec<String>,
        /// Days the certificates are valid (the CA: five times as long).
        #[arg(long, default_value_t = 365)]
        days: u32,
    },
    /// Print a shell completion script for bash, zsh, fish, elvish or powershell
    /// (e.g. `coordinator completions bash > ~/.local/share/bash-completion/completions/coordinator`).
    Completions { shell: clap_complete::Shell },
    /// Outputs of finished runs, from their run directories.
    Report {
        #[command(subcommand)]
        command: ReportCommand,
    },
}

#[derive(Subcommand)]
pub(crate) enum ReportCommand {
    /// Rebuild every output (llm-d reports, summary files, SUMMARY.txt, plots, report.html)
    /// from the stored files.
    Render {
        run_dir: PathBuf,
        /// llm-d report versions to write: v0.1, v0.2.1 or both.
        #[arg(long, default_value = "both")]
        report_format: render::ReportFormat,
    },
    /// Runs side by side (the first is the baseline): stages paired by load, every metric with
    /// its difference (markdown on stdout), and a comparison page with overlaid plots.
    Compare {
        /// Run directories (results/<run-id>), two or more.
        #[arg(required = true, num_args = 2..)]
        runs: Vec<PathBuf>,
        /// Where the comparison page goes.
        #[arg(long, default_value = "compare.html")]
        html: PathBuf,
    },
}

/// How stages are judged and what the exit status makes of it.
#[derive(clap::Args, Clone, Copy)]
pub(crate) struct VerdictArgs {
    /// A stage fails when more than this fraction of its requests failed (0 to 1).
    #[arg(long, default_value_t = fleetbench_report::DEFAULT_MAX_FAILURE_RATE, value_parser = parse_fraction)]
    pub(crate) max_failure_rate: f64,
    /// Exit 0 also when a stage is degraded (a lost agent, a count that differs from the plan).
    #[arg(long)]
    pub(crate) allow_degraded: bool,
    /// Skip the test request each agent sends to the endpoint before stage 0.
    #[arg(long)]
    pub(crate) no_preflight: bool,
    /// A failed P/D path check (the prefill pool did not compute the prompts, or the decode
    /// pool recomputed them) fails the stage. Default: on when the profile declares prefill
    /// and decode hosts.
    #[arg(long, overrides_with = "no_require_pd")]
    pub(crate) require_pd: bool,
    /// The P/D path check is reported but never fails a stage.
    #[arg(long, overrides_with = "require_pd")]
    pub(crate) no_require_pd: bool,
}

impl VerdictArgs {
    pub(crate) fn options(self) -> RunOptions {
        RunOptions {
            max_failure_rate: self.max_failure_rate,
            preflight: !self.no_preflight,
            require_pd: match (self.require_pd, self.no_require_pd) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            },
        }
    }
}

pub(crate) fn parse_fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("expected a fraction from 0 to 1, got {s:?}")),
    }
}

#[derive(clap::Args, Clone)]
pub(crate) struct ServerArgs {
    /// Where to listen for agents and clients (port 0: any free port, printed on stdout).
    #[arg(long, default_value = "127.0.0.1:7600")]
    pub(crate) listen: SocketAddr,
    /// Serve plaintext gRPC without TLS (loopback unless --listen names another address, then
    /// with a loud warning). Tokens, if given, are still checked.
    #[arg(long)]
    pub(crate) insecure: bool,
    /// The coordinator's TLS certificate (PEM), e.g. server.pem from `coordinator certs`.
    #[arg(long)]
    pub(crate) tls_cert: Option<PathBuf>,
    /// The key of --tls-cert (PEM).
    #[arg(long)]
    pub(crate) tls_key: Option<PathBuf>,
    /// Mutual TLS: agents and clients must present a certificate signed by this CA (PEM); its
    /// subject names them (CN) and their role (OU agent or client).
    #[arg(long)]
    pub(crate) client_ca: Option<PathBuf>,
    /// Tokens (`agent:SECRET` and `client:SECRET`, one a line); default: FLEETBENCH_TOKEN.
    #[arg(long, env = "FLEETBENCH_TOKEN_FILE")]
    pub(crate) token_file: Option<PathBuf>,
    /// Results go to DIR/<run-id>/ (default: the profile's storage.local_storage.path, else results).
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// Seconds of silence after which an agent is lost.
    #[arg(long, default_value_t = 5.0)]
    pub(crate) agent_timeout: f64,
    /// Seconds between assigning a stage and its start.
    #[arg(long, default_value_t = 1.0)]
    pub(crate) start_lead: f64,
    /// Seconds a run waits for its expected agents.
    #[arg(long, default_value_t = 120.0)]
    pub(crate) join_timeout: f64,
    /// Seconds between clock probes of every connected agent, also within a long stage (each
    /// stage start probes too).
    #[arg(long, default_value_t = 10.0)]
    pub(crate) clock_reprobe: f64,
    /// llm-d report versions each run writes besides stage-<k>/report.{yaml,json}: v0.1
    /// (benchmark_report,_stage_<k>.yaml), v0.2.1 (stage-<k>/report_v0.2.1.* and
    /// benchmark_report_v0.2.1,_stage_<k>.yaml) or both.
    #[arg(long, default_value = "both")]
    pub(crate) report_format: render::ReportFormat,
    /// A bucket that profiles submitted to `serve` may upload their runs to
    /// (storage.google_cloud_storage / simple_storage_service), with this coordinator's
    /// credentials; repeat for more. Without it a submitted profile that names a bucket is
    /// refused. `run` uploads wherever its own profile says.
    #[arg(long = "storage-bucket", value_name = "NAME")]
    pub(crate) storage_buckets: Vec<String>,
    /// Profiles submitted to `serve` may read Google Cloud Managed Prometheus
    /// (metrics.prometheus.google_managed) with this coordinator's Google credentials and
    /// project. Without it such a submitted profile is refused. `run` reads it where its own
    /// profile says.
    #[arg(long)]
    pub(crate) allow_managed_prometheus: bool,
}
