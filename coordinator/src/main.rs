//! `coordinator`: the fleetbench control plane binary. See the crate docs of
//! `fleetbench_coordinator`.

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use fleetbench_common::profile::{env_values, load_profile_with, LoadedProfile};
use fleetbench_common::report::{StageVerdict, Verdict};
use fleetbench_common::token::{Access, Tokens};
use fleetbench_coordinator::certs::{write_certs, CertsRequest};
use fleetbench_coordinator::hub::{CoordinatorConfig, Hub};
use fleetbench_coordinator::redact::{redact, register as register_secrets, RedactingWriter};
use fleetbench_coordinator::render::{self, live};
use fleetbench_coordinator::run::{start_run, RunOptions, RunRequest, STOP_GRACE};
use fleetbench_coordinator::tls::{self, Client, DialSecurity, ListenSecurity};
use fleetbench_proto::v1 as wire;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

mod matrix_cli;
use matrix_cli::MatrixSelect;

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
        /// Record each run's state transitions here; after a crash, a coordinator started on
        /// the same directory resumes the unfinished run (its agents reattach and finish the
        /// stage in progress) and writes partial reports for the others.
        #[arg(long)]
        state_dir: Option<PathBuf>,
    },
    /// One-shot: serve, wait for the agents, run PROFILE, write the report, exit (non-zero on failure).
    /// For a sweep matrix: its selected runs one after another, each its own results/<run-id>/.
    /// Exit status: 0 every stage ok, 1 the run could not be made (preflight included), 3 a stage
    /// failed, 4 a stage was degraded (unless --allow-degraded).
    Run {
        /// The workload profile (YAML), or a vLLM-style sweep matrix (`standalone_runs`).
        profile: PathBuf,
        /// Wait for this many agents (default: the profile's fleet.expect_agents, else 1).
        #[arg(long)]
        expect_agents: Option<u32>,
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
    },
    /// Parse, validate and expand PROFILE; print the effective plan (stages, planned requests,
    /// per-agent shares, data) without running anything; for a sweep matrix, of every run.
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
    },
    /// Follow a run of a `coordinator serve` until it ends.
    Watch {
        run_id: String,
        /// The coordinator's address, HOST:PORT.
        #[arg(long, env = "FLEETBENCH_COORDINATOR")]
        coordinator: String,
        #[command(flatten)]
        dial: DialArgs,
    },
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
    /// Outputs of finished runs, from their run directories.
    Report {
        #[command(subcommand)]
        command: ReportCommand,
    },
}

#[derive(Subcommand)]
enum ReportCommand {
    /// Rebuild every output (llm-d reports, summary files, SUMMARY.txt, plots, report.html)
    /// from the stored files.
    Render {
        run_dir: PathBuf,
        /// llm-d report versions to write: v0.1, v0.2.1 or both.
        #[arg(long, default_value = "both")]
        report_format: render::ReportFormat,
    },
    /// Side-by-side table of two runs per stage and metric with relative differences (markdown).
    Compare { run_a: PathBuf, run_b: PathBuf },
}

/// How stages are judged and what the exit status makes of it.
#[derive(clap::Args, Clone, Copy)]
struct VerdictArgs {
    /// A stage fails when more than this fraction of its requests failed (0 to 1).
    #[arg(long, default_value_t = fleetbench_common::report::DEFAULT_MAX_FAILURE_RATE, value_parser = parse_fraction)]
    max_failure_rate: f64,
    /// Exit 0 also when a stage is degraded (a lost agent, a count that differs from the plan).
    #[arg(long)]
    allow_degraded: bool,
    /// Skip the test request each agent sends to the endpoint before stage 0.
    #[arg(long)]
    no_preflight: bool,
}

impl VerdictArgs {
    fn options(self) -> RunOptions {
        RunOptions {
            max_failure_rate: self.max_failure_rate,
            preflight: !self.no_preflight,
        }
    }
}

fn parse_fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("expected a fraction from 0 to 1, got {s:?}")),
    }
}

/// Ends the process with the status the runs' verdicts call for: 3 when a stage failed, 4 when
/// one was degraded (unless allowed); returns when every stage is ok (or allowed).
fn exit_for_verdicts(verdicts: &[StageVerdict], allow_degraded: bool) {
    let worst = fleetbench_common::report::worst(verdicts);
    let code = match worst {
        Verdict::Failed => 3,
        Verdict::Degraded if !allow_degraded => 4,
        _ => return,
    };
    let named: Vec<String> = verdicts
        .iter()
        .filter(|v| v.verdict == worst)
        .map(|v| format!("stage {} ({})", v.stage, v.label))
        .collect();
    eprintln!(
        "verdict: {} ({}); exit status {code}{}",
        worst.as_str().to_uppercase(),
        named.join(", "),
        if worst == Verdict::Degraded {
            " (--allow-degraded accepts a degraded run)"
        } else {
            ""
        }
    );
    std::io::stdout().flush().ok();
    std::process::exit(code);
}

/// How `submit` and `watch` reach the coordinator.
#[derive(clap::Args, Clone)]
struct DialArgs {
    /// Plaintext to the coordinator, without TLS.
    #[arg(long)]
    insecure: bool,
    /// The CA that signed the coordinator's certificate (PEM), e.g. ca.pem of `coordinator certs`.
    #[arg(long, env = "FLEETBENCH_CA_CERT")]
    ca_cert: Option<PathBuf>,
    /// This client's certificate (PEM), for a coordinator with --client-ca.
    #[arg(long)]
    cert: Option<PathBuf>,
    /// The key of --cert (PEM).
    #[arg(long)]
    key: Option<PathBuf>,
    /// The name the coordinator's certificate carries (default: the host of --coordinator).
    #[arg(long)]
    tls_server_name: Option<String>,
    /// A file with the client token (`client:SECRET`); default: FLEETBENCH_TOKEN.
    #[arg(long, env = "FLEETBENCH_TOKEN_FILE")]
    token_file: Option<PathBuf>,
}

impl DialArgs {
    fn security(&self) -> anyhow::Result<DialSecurity> {
        let tokens = Tokens::from_file_or_env(self.token_file.as_deref())?;
        let token = match &tokens {
            Some(t) => Some(
                t.require(
                    Access::Client,
                    "the client's token (--token-file or FLEETBENCH_TOKEN)",
                )?
                .to_string(),
            ),
            None => None,
        };
        Ok(DialSecurity {
            insecure: self.insecure,
            ca_cert: self.ca_cert.clone(),
            cert: self.cert.clone(),
            key: self.key.clone(),
            server_name: self.tls_server_name.clone(),
            token,
        })
    }
}

#[derive(clap::Args, Clone)]
struct ServerArgs {
    /// Where to listen for agents and clients (port 0: any free port, printed on stdout).
    #[arg(long, default_value = "127.0.0.1:7600")]
    listen: SocketAddr,
    /// Serve plaintext gRPC without TLS (loopback unless --listen names another address, then
    /// with a loud warning). Tokens, if given, are still checked.
    #[arg(long)]
    insecure: bool,
    /// The coordinator's TLS certificate (PEM), e.g. server.pem from `coordinator certs`.
    #[arg(long)]
    tls_cert: Option<PathBuf>,
    /// The key of --tls-cert (PEM).
    #[arg(long)]
    tls_key: Option<PathBuf>,
    /// Mutual TLS: agents and clients must present a certificate signed by this CA (PEM); its
    /// subject names them (CN) and their role (OU agent or client).
    #[arg(long)]
    client_ca: Option<PathBuf>,
    /// Tokens (`agent:SECRET` and `client:SECRET`, one a line); default: FLEETBENCH_TOKEN.
    #[arg(long, env = "FLEETBENCH_TOKEN_FILE")]
    token_file: Option<PathBuf>,
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
    /// Seconds between clock probes of every connected agent, also within a long stage (each
    /// stage start probes too).
    #[arg(long, default_value_t = 10.0)]
    clock_reprobe: f64,
    /// llm-d report versions each run writes besides stage-<k>/report.{yaml,json}: v0.1
    /// (benchmark_report,_stage_<k>.yaml), v0.2.1 (stage-<k>/report_v0.2.1.* and
    /// benchmark_report_v0.2.1,_stage_<k>.yaml) or both.
    #[arg(long, default_value = "both")]
    report_format: render::ReportFormat,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(RedactingWriter(live::LogWriter))
        .init();
    let cli = Cli::parse();
    tls::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve { server, state_dir } => serve(server, state_dir).await,
            Command::Run {
                profile,
                expect_agents,
                overrides,
                select,
                verdict,
                server,
            } => run(profile, expect_agents, &overrides, &select, verdict, server).await,
            Command::Validate {
                profile,
                overrides,
                select,
                agents,
                json,
            } => validate(&profile, &overrides, &select, agents, json),
            Command::Expand {
                matrix,
                out,
                overrides,
                select,
            } => {
                for f in matrix_cli::expand(&matrix, &overrides, &select, &out)? {
                    println!("{}", f.display());
                }
                Ok(())
            }
            Command::Submit {
                profile,
                coordinator,
                expect_agents,
                overrides,
                select,
                verdict,
                dial,
            } => {
                submit(
                    profile,
                    coordinator,
                    expect_agents,
                    &overrides,
                    &select,
                    verdict,
                    dial.security()?,
                )
                .await
            }
            Command::Watch {
                run_id,
                coordinator,
                dial,
            } => watch(run_id, coordinator, dial.security()?).await,
            Command::Certs {
                out,
                hosts,
                agents,
                clients,
                days,
            } => {
                let req = CertsRequest {
                    hosts,
                    agents,
                    clients,
                    days,
                };
                for f in write_certs(&out, &req)? {
                    println!("{}", f.display());
                }
                Ok(())
            }
            Command::Report { command } => report(command),
        }
    })
}

async fn listen(
    args: &ServerArgs,
    results: PathBuf,
    state_dir: Option<PathBuf>,
) -> anyhow::Result<Arc<Hub>> {
    let security = ListenSecurity {
        insecure: args.insecure,
        tls_cert: args.tls_cert.clone(),
        tls_key: args.tls_key.clone(),
        client_ca: args.client_ca.clone(),
        tokens: Tokens::from_file_or_env(args.token_file.as_deref())?,
    }
    .prepare(args.listen)?;
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
        clock_reprobe: Duration::from_secs_f64(args.clock_reprobe.max(0.05)),
        report_format: args.report_format,
    }));
    if let Some(dir) = state_dir {
        // Before the first agent can reattach: its resent snapshots must find their run.
        if let Some(run) = fleetbench_coordinator::resume::resume_unfinished(&hub, &dir) {
            eprintln!("resuming run {run} (unfinished when the coordinator stopped)");
        }
        hub.set_state_dir(dir);
    }
    let h = hub.clone();
    tokio::spawn(async move {
        if let Err(e) = fleetbench_coordinator::serve(listener, h, security).await {
            tracing::error!("control plane stopped: {e}");
        }
    });
    Ok(hub)
}

async fn serve(args: ServerArgs, state_dir: Option<PathBuf>) -> anyhow::Result<()> {
    let results = args.out.clone().unwrap_or_else(|| PathBuf::from("results"));
    let hub = listen(&args, results, state_dir).await?;
    wait_for_signal().await;
    if hub.is_busy() {
        eprintln!("stopping: cancelling the run's stage and writing a partial report (again to quit at once)");
        hub.request_stop();
        let until = tokio::time::Instant::now() + STOP_GRACE + Duration::from_secs(30);
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                _ = wait_for_signal() => break,
            }
            if !hub.is_busy() || tokio::time::Instant::now() >= until {
                break;
            }
        }
        // Let the agents receive RunEnd.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    std::process::exit(EXIT_INTERRUPTED);
}

/// The exit status after SIGINT or SIGTERM (as a shell reports a SIGINT).
const EXIT_INTERRUPTED: i32 = 130;

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

async fn run(
    profile: PathBuf,
    expect_agents: Option<u32>,
    overrides: &[String],
    select: &MatrixSelect,
    verdict: VerdictArgs,
    args: ServerArgs,
) -> anyhow::Result<()> {
    // One profile, or the selected runs of a sweep matrix (one after another, same agents).
    let runs = matrix_cli::profiles_to_run(&profile, overrides, select)?;
    let Some((first, _)) = runs.first() else {
        bail!("{}: nothing to run", profile.display());
    };
    let expect = expect_agents
        .or(first.profile.fleet.expect_agents)
        .unwrap_or(1);
    let results = args.out.clone().unwrap_or_else(|| {
        first
            .profile
            .storage
            .as_ref()
            .and_then(|s| s.local_storage.as_ref())
            .and_then(|l| l.path.clone())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("results"))
    });
    let hub = listen(&args, results, None).await?;
    let count = runs.len();
    let mut verdicts = Vec::new();
    for (k, (loaded, text)) in runs.into_iter().enumerate() {
        if count > 1 {
            eprintln!("run {} of {count}: {}", k + 1, loaded.name);
        }
        register_secrets(&loaded.secrets);
        let handle = start_run(
            hub.clone(),
            RunRequest {
                loaded,
                profile_text: text,
                expect_agents: expect,
                options: verdict.options(),
            },
        );
        let printer = tokio::spawn(live::follow(handle.progress.clone()));
        let mut task = handle.task;
        let outcome = tokio::select! {
            r = &mut task => r,
            _ = wait_for_signal() => {
                eprintln!("stopping: cancelling the stage and writing a partial report (again to quit at once)");
                hub.request_stop();
                tokio::select! {
                    r = &mut task => r,
                    _ = wait_for_signal() => std::process::exit(EXIT_INTERRUPTED),
                    _ = tokio::time::sleep(STOP_GRACE + Duration::from_secs(30)) => std::process::exit(EXIT_INTERRUPTED),
                }
            }
        }
        .context("the run task panicked")?;
        // The run task marked the progress finished; the view closes its bar and returns.
        let _ = printer.await;
        if hub.stop_requested() {
            if let Ok(o) = &outcome {
                println!("{}", redact(&o.summary_markdown));
                println!("report (partial): {}", o.dir.display());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            std::process::exit(EXIT_INTERRUPTED);
        }
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                // Give agents a moment to receive RunEnd before the process exits.
                tokio::time::sleep(Duration::from_millis(200)).await;
                return Err(e.into());
            }
        };
        println!("{}", redact(&outcome.summary_markdown));
        println!("report: {}", outcome.dir.display());
        verdicts.extend(outcome.verdicts);
    }
    // Give agents a moment to receive RunEnd before the process exits.
    tokio::time::sleep(Duration::from_millis(200)).await;
    exit_for_verdicts(&verdicts, verdict.allow_degraded);
    Ok(())
}

async fn submit(
    profile: PathBuf,
    coordinator: String,
    expect_agents: u32,
    overrides: &[String],
    select: &MatrixSelect,
    verdict: VerdictArgs,
    dial: DialSecurity,
) -> anyhow::Result<()> {
    // Check here first (with this machine's environment), then send the overridden text (of
    // each selected run of a sweep matrix, one after another).
    let runs = matrix_cli::profiles_to_run(&profile, overrides, select)?;
    let matrix = runs.len() > 1 || fleetbench_common::profile::is_matrix_file(&profile)?;
    // REPLACE_ENV_ placeholders are filled with this machine's values, never the coordinator's:
    // they travel with the text (over TLS) and the coordinator redacts them everywhere.
    let file_text =
        std::fs::read_to_string(&profile).with_context(|| format!("read {}", profile.display()))?;
    let mut client = connect(&coordinator, &dial).await?;
    let mut verdicts = Vec::new();
    for (loaded, text) in runs {
        let mut env = env_values(&file_text);
        env.extend(env_values(&text));
        let name = if matrix {
            format!("{} (run {})", profile.display(), loaded.name)
        } else {
            profile.display().to_string()
        };
        verdicts.extend(submit_one(&mut client, text, env, name, expect_agents, verdict).await?);
    }
    exit_for_verdicts(&verdicts, verdict.allow_degraded);
    Ok(())
}

/// Submits one profile's text and follows its run to the end; its stages' verdicts.
async fn submit_one(
    client: &mut Client,
    text: String,
    env: std::collections::BTreeMap<String, String>,
    profile_name: String,
    expect_agents: u32,
    verdict: VerdictArgs,
) -> anyhow::Result<Vec<StageVerdict>> {
    let reply = client
        .submit(wire::SubmitRequest {
            profile_yaml: text,
            profile_name,
            expect_agents,
            max_failure_rate: Some(verdict.max_failure_rate),
            no_preflight: verdict.no_preflight,
            env: env.into_iter().collect(),
        })
        .await
        .map_err(|s| anyhow::anyhow!("{}", s.message()))?
        .into_inner();
    eprintln!("run {} submitted", reply.run_id);
    follow_events(client, &reply.run_id).await?;
    let report = client
        .get_report(wire::GetReportRequest {
            run_id: reply.run_id,
        })
        .await
        .map_err(|s| anyhow::anyhow!("{}", s.message()))?
        .into_inner();
    println!("{}", report.summary_markdown);
    println!("report: {}", report.results_dir);
    if report.verdicts_json.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_slice(&report.verdicts_json)
        .context("the coordinator's verdicts do not parse (a different version?)")
}

/// `coordinator validate`: the effective plan for `agents` client agents, on stdout; for a sweep
/// matrix, of each selected run.
fn validate(
    profile: &std::path::Path,
    overrides: &[String],
    select: &MatrixSelect,
    agents: u32,
    json: bool,
) -> anyhow::Result<()> {
    if json {
        let loaded = load_profile_with(profile, overrides)?;
        let plan = fleetbench_common::plan::plan_run(
            &loaded,
            &validate_members(agents),
            "validate",
            loaded.profile.load.base_seed.unwrap_or(0),
        )?;
        println!("{}", serde_json::to_string_pretty(&plan)?);
        return Ok(());
    }
    if let Some(runs) = matrix_cli::matrix_runs(profile, overrides, select)? {
        println!("matrix {}: {} runs", profile.display(), runs.len());
        for r in &runs {
            println!();
            println!("{}", matrix_cli::describe(r));
            print_plan(&r.loaded, agents)?;
        }
        return Ok(());
    }
    print_plan(&load_profile_with(profile, overrides)?, agents)
}

/// `agents` (at least one) client agents of weight 1, as `validate` plans for.
fn validate_members(agents: u32) -> Vec<fleetbench_common::plan::Member> {
    (0..agents.max(1))
        .map(|i| fleetbench_common::plan::Member {
            agent_id: format!("agent-{i}"),
            role: fleetbench_common::role::Role::Client,
            host_name: format!("host-{i}"),
        })
        .collect()
}

/// The effective plan of a loaded profile for `agents` client agents, on stdout.
fn print_plan(loaded: &LoadedProfile, agents: u32) -> anyhow::Result<()> {
    use fleetbench_common::plan::{plan_run, ShardLoad};
    let members = validate_members(agents);
    let seed = loaded.profile.load.base_seed.unwrap_or(0);
    let plan = plan_run(loaded, &members, "validate", seed)?;
    let p = &loaded.profile;
    println!("profile {}: valid", loaded.name);
    println!(
        "endpoint: {} model {} api {:?} streaming {}",
        p.server.base_url,
        p.server.model_name.as_deref().unwrap_or("default"),
        p.api.kind,
        p.api.streaming
    );
    if let Some(first) = plan.stages.first().and_then(|s| s.shards.first()) {
        println!("data: {}", first.data.describe());
        if let Some(rounds) = first.session_rounds() {
            println!(
                "sessions: each arrival (or closed-loop user) runs whole sessions of {rounds} rounds on one agent; a round is sent when the previous answer ended + think time {} s; no round starts after a stage's duration",
                first.think_time_ms as f64 / 1000.0
            );
        }
    }
    println!("agents: {} (weights {:?})", members.len(), plan.weights);
    if plan.stage_interval_s > 0.0 {
        println!(
            "between stages: {} s (load.interval)",
            plan.stage_interval_s
        );
    }
    for st in &plan.stages {
        let planned = st
            .planned_requests()
            .map_or("open (by time)".to_string(), |n| n.to_string());
        println!(
            "stage {} {}: {} load, planned requests {planned}, measured window {}..{} s",
            st.index,
            st.label,
            st.load.kind_name(),
            st.window.start_s,
            st.window.end_s.map_or("end".to_string(), |e| e.to_string())
        );
        for (m, sh) in members.iter().zip(&st.shards) {
            let share = match &sh.load {
                ShardLoad::Constant { total, weights, .. } => {
                    let cycle = fleetbench_common::plan::stripe_cycle(weights);
                    let mine = fleetbench_common::plan::stripe_share(*total, &cycle, sh.shard);
                    format!("{mine} of {total} requests (striped)")
                }
                ShardLoad::Poisson {
                    rate, max_requests, ..
                } => format!("poisson {rate:.3} req/s, cap {max_requests:?}"),
                ShardLoad::Gamma {
                    rate,
                    burstiness,
                    max_requests,
                    ..
                } => format!("gamma {rate:.3} req/s burstiness {burstiness}, cap {max_requests:?}"),
                ShardLoad::Concurrent {
                    users,
                    num_requests,
                    duration_s,
                    ..
                } => format!("{users} users, requests {num_requests:?}, duration {duration_s:?} s"),
                ShardLoad::Trace {
                    time_scale,
                    total,
                    weights,
                } => {
                    let cycle = fleetbench_common::plan::stripe_cycle(weights);
                    let mine = fleetbench_common::plan::stripe_share(*total, &cycle, sh.shard);
                    format!("{mine} of {total} trace records (striped), time scale {time_scale}")
                }
                ShardLoad::Idle => "idle (weight 0)".to_string(),
            };
            println!("  {}: {share}", m.agent_id);
        }
    }
    Ok(())
}

async fn connect(coordinator: &str, dial: &DialSecurity) -> anyhow::Result<Client> {
    dial.connect(coordinator)
        .await
        .with_context(|| format!("connect to the coordinator at {coordinator}"))
}

/// Shows a run's `Watch` events until it ends; an error if the run failed.
async fn follow_events(client: &mut Client, run_id: &str) -> anyhow::Result<()> {
    let mut events = client
        .watch(wire::WatchRequest {
            run_id: run_id.to_string(),
        })
        .await
        .map_err(|s| anyhow::anyhow!("{}", s.message()))?
        .into_inner();
    let mut view = live::LiveView::new();
    while let Some(ev) = events.message().await? {
        let p = live::progress_from_wire(&ev);
        if ev.finished {
            view.finish(&p);
            if !ev.error.is_empty() {
                bail!("run {} failed: {}", ev.run_id, ev.error);
            }
            return Ok(());
        }
        view.update(&p);
    }
    bail!("the coordinator closed the watch of run {run_id} before it finished")
}

async fn watch(run_id: String, coordinator: String, dial: DialSecurity) -> anyhow::Result<()> {
    let mut client = connect(&coordinator, &dial).await?;
    follow_events(&mut client, &run_id).await?;
    let report = client
        .get_report(wire::GetReportRequest { run_id })
        .await
        .map_err(|s| anyhow::anyhow!("{}", s.message()))?
        .into_inner();
    println!("{}", report.summary_markdown);
    println!("report: {}", report.results_dir);
    Ok(())
}

fn report(command: ReportCommand) -> anyhow::Result<()> {
    match command {
        ReportCommand::Render {
            run_dir,
            report_format,
        } => {
            // Stages that never finished (Ctrl-C, a crash) get a partial report first.
            match fleetbench_coordinator::recover::report_unfinished_stages(&run_dir) {
                Ok(k) if !k.is_empty() => {
                    eprintln!(
                        "stages {k:?} never finished: partial reports rebuilt from their snapshots"
                    )
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("cannot rebuild unfinished stages: {e}"),
            }
            render::write_llm_d_reports(&run_dir, report_format)
                .with_context(|| format!("llm-d reports of {}", run_dir.display()))?;
            let r = render::render_run(&run_dir)
                .with_context(|| format!("render {}", run_dir.display()))?;
            for w in &r.warnings {
                tracing::warn!("{w}");
            }
            for l in fleetbench_common::report::verdict_lines(&r.verdicts) {
                println!("{l}");
            }
            for l in &r.headline {
                println!("{l}");
            }
            println!();
            println!("{}", r.summary_markdown);
            println!(
                "wrote {} files; open {}",
                r.files.len(),
                r.dir.join("report.html").display()
            );
            Ok(())
        }
        ReportCommand::Compare { run_a, run_b } => {
            print!("{}", render::compare_runs(&run_a, &run_b)?);
            Ok(())
        }
    }
}
