//! `coordinator`: the fleetbench control plane binary. See the crate docs of
//! `fleetbench_coordinator`.

use anyhow::{bail, Context};
use clap::Parser;
use fleetbench_coordinator::certs::{write_certs, CertsRequest};
use fleetbench_coordinator::hub::{CoordinatorConfig, Hub};
use fleetbench_coordinator::live;
use fleetbench_coordinator::redact::{redact, register as register_secrets, RedactingWriter};
use fleetbench_coordinator::run::{start_run, RunRequest, STOP_GRACE};
use fleetbench_coordinator::tls::{self, Client, DialSecurity, ListenSecurity};
use fleetbench_model::token::Tokens;
use fleetbench_profile::{env_values, load_profile_with, LoadedProfile};
use fleetbench_proto::v1 as wire;
use fleetbench_report::render;
use fleetbench_report::{StageVerdict, Verdict};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

mod cli;
mod local;
mod matrix_cli;
mod quick;
use local::{AgentChoice, Agents, LocalAgents};
mod dial_cli;
mod remote_cli;
use cli::{Cli, Command, ReportCommand, ServerArgs, VerdictArgs};
use dial_cli::{connect, DialArgs};
use matrix_cli::MatrixSelect;

/// Ends the process with the status the runs' verdicts call for: 3 when a stage failed, 4 when
/// one was degraded (unless allowed); returns when every stage is ok (or allowed).
fn exit_for_verdicts(verdicts: &[StageVerdict], allow_degraded: bool) {
    let worst = fleetbench_report::worst(verdicts);
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

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(RedactingWriter(live::LogWriter))
        .init();
    let cli = Cli::parse();
    if let Command::Completions { shell } = cli.command {
        use clap::CommandFactory;
        clap_complete::generate(
            shell,
            &mut Cli::command(),
            "coordinator",
            &mut std::io::stdout(),
        );
        return Ok(());
    }
    tls::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    runtime.block_on(dispatch(cli.command))
}

/// Runs one command of the command line on the async runtime.
async fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve { server, state_dir } => serve(server, state_dir).await,
        Command::Run {
            profile,
            expect_agents,
            local_agents,
            quick,
            overrides,
            select,
            verdict,
            server,
            progress,
        } => {
            live::configure(progress);
            let runs = match &profile {
                Some(p) => matrix_cli::profiles_to_run(p, &overrides, &select)?,
                None => vec![quick.load()?],
            };
            let name =
                profile.map_or_else(|| "the quick form".to_string(), |p| p.display().to_string());
            run(&name, runs, (expect_agents, local_agents), verdict, server).await
        }
        Command::Sweep {
            file,
            expect_agents,
            overrides,
            endpoint_ca,
            verdict,
            server,
        } => {
            let cli = SweepCli {
                file,
                expect_agents,
                overrides,
                endpoint_ca,
            };
            sweep(cli, verdict, server).await
        }
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
            progress,
        } => {
            live::configure(progress);
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
            progress,
        } => {
            live::configure(progress);
            watch(run_id, coordinator, dial).await
        }
        Command::Preflight(args) => remote_cli::preflight::run(args).await,
        Command::Runs(remote) => remote_cli::runs::run(remote).await,
        Command::Fetch(args) => remote_cli::fetch::run(args).await,
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
        Command::Completions { .. } => Ok(()),
    }
}

/// Serves the control plane as `args` say; with `local` tokens (local agents), plaintext on
/// loopback guarded by those tokens. The hub and the address it listens on.
async fn listen(
    args: &ServerArgs,
    results: PathBuf,
    state_dir: Option<PathBuf>,
    local: Option<Tokens>,
) -> anyhow::Result<(Arc<Hub>, SocketAddr)> {
    let security = match local {
        Some(tokens) => ListenSecurity {
            insecure: true,
            tokens: Some(tokens),
            ..ListenSecurity::default()
        },
        None => ListenSecurity {
            insecure: args.insecure,
            tls_cert: args.tls_cert.clone(),
            tls_key: args.tls_key.clone(),
            client_ca: args.client_ca.clone(),
            tokens: Tokens::from_file_or_env(args.token_file.as_deref())?,
        },
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
        storage_buckets: args.storage_buckets.clone(),
        allow_managed_prometheus: args.allow_managed_prometheus,
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
    Ok((hub, addr))
}

async fn serve(args: ServerArgs, state_dir: Option<PathBuf>) -> anyhow::Result<()> {
    let results = args.out.clone().unwrap_or_else(|| PathBuf::from("results"));
    let (hub, _) = listen(&args, results, state_dir, None).await?;
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

/// Exits with [`EXIT_INTERRUPTED`], the terminal restored first.
fn exit_interrupted() -> ! {
    live::restore_terminal();
    std::process::exit(EXIT_INTERRUPTED)
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
                    _ = live::interrupted() => {}
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

/// `coordinator run`: `runs` (one profile, or the selected runs of a sweep matrix, one after
/// another with the same agents) over the agents `agents` (--expect-agents, --local-agents)
/// calls for.
async fn run(
    name: &str,
    runs: Vec<(LoadedProfile, String)>,
    agents: (Option<u32>, Option<u32>),
    verdict: VerdictArgs,
    args: ServerArgs,
) -> anyhow::Result<()> {
    let Some((first, _)) = runs.first() else {
        bail!("{name}: nothing to run");
    };
    let agents = AgentChoice {
        expect_agents: agents.0,
        local_agents: agents.1,
        listen: args.listen,
        tls: args.tls_cert.is_some(),
        profile: &first.profile,
    }
    .decide()?;
    let (expect, local_tokens) = match agents {
        Agents::Remote(n) => (n, None),
        Agents::Local(n) => (
            n,
            Some(local::tokens(Tokens::from_file_or_env(
                args.token_file.as_deref(),
            )?)),
        ),
    };
    let results = args
        .out
        .clone()
        .unwrap_or_else(|| local_results_dir(&first.profile));
    let mut args = args;
    if local_tokens.is_some() {
        // Local agents learn the address from this process: any free port, so that two runs on
        // one machine never collide on the default one.
        args.listen.set_port(0);
    }
    let (hub, addr) = listen(&args, results, None, local_tokens.clone()).await?;
    let mut locals = match &local_tokens {
        Some(tokens) => {
            let dir =
                std::env::temp_dir().join(format!("fleetbench-agents-{}", std::process::id()));
            let l = LocalAgents::start(expect, addr, tokens, &dir)?;
            eprintln!(
                "started {} local agents on {addr} (logs: {}); --expect-agents N waits for agents started elsewhere instead",
                l.count(),
                l.log_dir.display()
            );
            Some(l)
        }
        None => None,
    };
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
                tracing::warn!("stopping: cancelling the stage and writing a partial report (again to quit at once)");
                hub.request_stop();
                tokio::select! {
                    r = &mut task => r,
                    _ = wait_for_signal() => stop_and_exit(&mut locals, EXIT_INTERRUPTED),
                    _ = tokio::time::sleep(STOP_GRACE + Duration::from_secs(30)) => stop_and_exit(&mut locals, EXIT_INTERRUPTED),
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
            stop_and_exit(&mut locals, EXIT_INTERRUPTED);
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
        for line in &outcome.uploaded {
            println!("uploaded: {line}");
        }
        verdicts.extend(outcome.verdicts);
    }
    // Give agents a moment to receive RunEnd before the process exits.
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(locals);
    exit_for_verdicts(&verdicts, verdict.allow_degraded);
    Ok(())
}

/// `storage.local_storage.path` (`{timestamp}` filled with now), else `results`.
fn local_results_dir(profile: &fleetbench_profile::Profile) -> PathBuf {
    let path = (profile.storage.as_ref())
        .and_then(|s| s.local_storage.as_ref())
        .and_then(|l| l.path.as_deref());
    match path {
        Some(p) => {
            let now = fleetbench_model::clock::unix_s();
            PathBuf::from(fleetbench_profile::fill_timestamp(p, now))
        }
        None => PathBuf::from("results"),
    }
}

/// What `coordinator sweep` was given besides the server and verdict flags.
struct SweepCli {
    file: PathBuf,
    expect_agents: Option<u32>,
    overrides: Vec<String>,
    endpoint_ca: Option<PathBuf>,
}

/// `coordinator sweep`: serve, run every point of the sweep file, exit with its status.
async fn sweep(cli: SweepCli, verdict: VerdictArgs, args: ServerArgs) -> anyhow::Result<()> {
    use fleetbench_coordinator::sweep;
    let spec = sweep::load_sweep(&cli.file)?;
    let trust = match &cli.endpoint_ca {
        Some(p) => fleetbench_agent::client::EndpointTrust::from_ca_file(p)?,
        None => Default::default(),
    };
    let root = args.out.clone().unwrap_or_else(|| PathBuf::from("results"));
    let dir = root.join(sweep::sweep_id(&spec.name));
    let (hub, addr) = listen(&args, dir.clone(), None, None).await?;
    let h = hub.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        eprintln!("stopping: cancelling the stage in progress; later points are skipped (again to quit at once)");
        h.request_stop();
        wait_for_signal().await;
        std::process::exit(EXIT_INTERRUPTED);
    });
    let request = sweep::SweepRequest {
        sweep: &spec,
        overrides: &cli.overrides,
        options: verdict.options(),
        expect_agents: cli.expect_agents,
        coordinator: addr.to_string(),
        trust,
    };
    let summary = sweep::run_sweep(&hub, request).await?;
    println!("{}", redact(&summary.markdown()));
    println!("sweep: {}", dir.display());
    // Give agents a moment to receive RunEnd before the process exits.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let code = summary.exit_code(verdict.allow_degraded);
    if code != 0 {
        eprintln!("sweep {}: exit status {code} (see sweep.md)", spec.name);
        std::io::stdout().flush().ok();
        std::process::exit(code);
    }
    Ok(())
}

/// Stops the local agents (if any) and ends the process with `code`.
fn stop_and_exit(locals: &mut Option<LocalAgents>, code: i32) -> ! {
    if let Some(l) = locals.as_mut() {
        l.stop();
    }
    live::restore_terminal();
    std::process::exit(code)
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
    let matrix = runs.len() > 1 || fleetbench_profile::is_matrix_file(&profile)?;
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
            require_pd: verdict.options().require_pd,
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
    if fleetbench_coordinator::sweep::validate::is_sweep_file(profile) {
        return validate_sweep(profile, overrides, agents);
    }
    if json {
        let loaded = load_profile_with(profile, overrides)?;
        let plan = fleetbench_profile::plan::plan_run(
            &loaded,
            &validate_members(agents),
            "validate",
            loaded.profile.load.base_seed.unwrap_or(0),
        )?;
        let mut value = serde_json::to_value(&plan)?;
        if let Some(sweep) = &loaded.profile.load.sweep {
            // The stages after the probe come from the saturation rate it finds.
            value["sweep"] = serde_json::to_value(sweep)?;
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
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

/// `coordinator validate` of a sweep file: each point as it would run, then its plan.
fn validate_sweep(file: &std::path::Path, overrides: &[String], agents: u32) -> anyhow::Result<()> {
    use fleetbench_coordinator::sweep::{load_sweep, validate};
    let sweep = load_sweep(file)?;
    let checked = validate::checked_points(&sweep, overrides)?;
    println!(
        "sweep {} ({}): valid, {} points",
        sweep.name,
        file.display(),
        sweep.points.len()
    );
    for c in &checked {
        println!();
        println!("{}", validate::describe(&sweep, c));
        let clients = c.point.agents.get("client").copied().unwrap_or(agents);
        print_plan(&c.profile, clients.max(1))?;
    }
    Ok(())
}

/// `agents` (at least one) client agents of weight 1, as `validate` plans for.
fn validate_members(agents: u32) -> Vec<fleetbench_model::spec::Member> {
    (0..agents.max(1))
        .map(|i| fleetbench_model::spec::Member {
            agent_id: format!("agent-{i}"),
            role: fleetbench_model::role::Role::Client,
            host_name: format!("host-{i}"),
        })
        .collect()
}

/// The effective plan of a loaded profile for `agents` client agents, on stdout.
fn print_plan(loaded: &LoadedProfile, agents: u32) -> anyhow::Result<()> {
    use fleetbench_model::spec::ShardLoad;
    use fleetbench_profile::plan::plan_run;
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
            let up_to = if first.data.source.fixed_rounds() {
                ""
            } else {
                "up to "
            };
            println!(
                "sessions: each arrival (or closed-loop user) runs whole sessions of {up_to}{rounds} rounds on one agent; a round is sent when the previous answer ended + think time {} s (+ a conversation's tool call); no round starts after a stage's duration",
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
                    let cycle = fleetbench_model::spec::stripe_cycle(weights);
                    let mine = fleetbench_model::spec::stripe_share(*total, &cycle, sh.shard);
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
                    let cycle = fleetbench_model::spec::stripe_cycle(weights);
                    let mine = fleetbench_model::spec::stripe_share(*total, &cycle, sh.shard);
                    format!("{mine} of {total} trace records (striped), time scale {time_scale}")
                }
                ShardLoad::Sessions {
                    concurrent,
                    session_rate,
                    first_session,
                    sessions,
                    timeout_s,
                } => format!(
                    "sessions {first_session}..{} ({sessions}), {} at once, {}, timeout {}",
                    first_session + sessions,
                    if *concurrent == 0 {
                        "all".to_string()
                    } else {
                        concurrent.to_string()
                    },
                    session_rate
                        .map_or("no start rate".to_string(), |r| format!("{r:.3} started/s")),
                    timeout_s.map_or("none".to_string(), |t| format!("{t} s"))
                ),
                ShardLoad::Idle => "idle (weight 0)".to_string(),
            };
            println!("  {}: {share}", m.agent_id);
        }
    }
    if let Some(s) = &p.load.sweep {
        println!(
            "then {} {} stages of {} s up to the saturation rate: the {}th percentile of the probe's burn-down rates (docs/saturation.md)",
            s.num_stages,
            match s.kind {
                fleetbench_profile::SweepType::Geometric => "geometric",
                fleetbench_profile::SweepType::Linear => "linear",
            },
            s.stage_duration,
            s.saturation_percentile
        );
    }
    Ok(())
}

/// Shows a run's `Watch` events until it ends; an error if the run failed. Ctrl-C in the
/// full-screen view stops following (exit status 130); the run goes on at the coordinator.
async fn follow_events(client: &mut Client, run_id: &str) -> anyhow::Result<()> {
    let mut events = client
        .watch(wire::WatchRequest {
            run_id: run_id.to_string(),
        })
        .await
        .map_err(|s| anyhow::anyhow!("{}", s.message()))?
        .into_inner();
    match live::follow_events(&mut events).await? {
        live::Followed::Finished(p) if !p.error.is_empty() => {
            bail!("run {} failed: {}", p.run_id, p.error)
        }
        live::Followed::Finished(_) => Ok(()),
        live::Followed::Closed => {
            bail!("the coordinator closed the watch of run {run_id} before it finished")
        }
        live::Followed::Interrupted => {
            eprintln!("stopped following run {run_id}; it goes on at the coordinator");
            exit_interrupted()
        }
    }
}

async fn watch(run_id: String, coordinator: String, dial: DialArgs) -> anyhow::Result<()> {
    let fetch = remote_cli::fetch_command(&run_id, &coordinator, &dial);
    let mut client = connect(&coordinator, &dial.security()?).await?;
    follow_events(&mut client, &run_id).await?;
    let report = client
        .get_report(wire::GetReportRequest { run_id })
        .await
        .map_err(|s| anyhow::anyhow!("{}", s.message()))?
        .into_inner();
    println!("{}", report.summary_markdown);
    println!("report: {} (on the coordinator's host)", report.results_dir);
    println!("fetch: {fetch}");
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
            let r = render::write_outputs(&run_dir, report_format)
                .with_context(|| format!("render {}", run_dir.display()))?;
            for w in &r.warnings {
                tracing::warn!("{w}");
            }
            for l in fleetbench_report::verdict_lines(&r.verdicts) {
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
        ReportCommand::Compare { runs, html } => {
            let c = render::compare_runs(&runs)?;
            print!("{}", c.markdown);
            std::fs::write(&html, c.html).with_context(|| format!("write {}", html.display()))?;
            eprintln!("comparison page: {}", html.display());
            Ok(())
        }
    }
}
