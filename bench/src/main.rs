//! `fleetbench-bench`: the figures of `BENCHMARKS.md`, measured in one run.
//!
//! 0. Product path (`product.rs`): `coordinator run` and one `agent join` process pinned to one
//!    core, a sim writing one HTTP chunk and TCP segment per SSE event on the other, 256 and
//!    4,096 closed-loop streams at 0 and 5 ms between tokens: the agent's whole-process CPU per
//!    1,000 chunks from /proc, median of three runs, each with its load average.
//! 1. Agent ceiling: a sim in zero-delay deterministic mode pinned to one core, the agent's own
//!    client and recorder (the code `agent join` runs) pinned to the other, closed-loop users at
//!    several concurrencies: requests/s, chunks/s, agent CPU-µs per chunk and per request (from
//!    /proc, so independent of which side is the bottleneck), RSS per 1,000 streams. Above
//!    `--streams-per-sim` streams the load is spread over several sim processes (all on the sim's
//!    core), and the sims' CPU is shown so that it is clear which side was the bottleneck.
//! 2. Timing fidelity: a sim with a fixed TTFT and inter-token gap and a ground-truth log, an
//!    open-loop schedule that keeps ~N streams in flight; per request |measured − true| TTFT and
//!    per gap |measured − true| ITL (median, p99), and the send lag.
//! 3. Coordinator merge: snapshots as 1,000 agents would send them, applied by the coordinator's
//!    `StageCollector`: snapshots/s and CPU-µs per snapshot.
//! 4. The wire as the clock (`wire.rs`): the product path under a loopback packet capture
//!    (tcpdump), the agent's send and receive instants and TTFT against the wire's and the
//!    sim's; skipped, saying so, where tcpdump is missing or cannot capture.
//! 5. I/O model (`iomodel.rs`): the minimal client of `ioprobe` (`io-probe`) on epoll and on
//!    io_uring, interleaved, in the product path's regime: what io_uring would save per event.
//!
//! The ceiling runs once per `--framing`: sims writing a whole zero-delay response as one HTTP
//! chunk (batched), and one chunk and TCP segment per SSE event (per-event), as real engines
//! stream. `make bench` (release build) runs all of them with the defaults.

mod iomodel;
mod pcap;
mod procs;
mod product;
mod tcpflow;
mod wire;

use anyhow::Context;
use clap::Parser;
use fleetbench_agent::client::{EndpointClient, EndpointTrust, Timeouts};
use fleetbench_agent::record::Recorder;
use fleetbench_agent::request::{RequestData, RequestRecord};
use fleetbench_agent::schedule::{pace, Due};
use fleetbench_bench::quantile;
use fleetbench_coordinator::collect::StageCollector;
use fleetbench_model::role::Role;
use fleetbench_model::spec::{Arrival, Member, ShardSpec, Window};
use fleetbench_profile::parse_profile;
use fleetbench_profile::plan::plan_run;
use fleetbench_proto::v1 as proto;
use procs::{
    cpu_model, cpu_seconds, num_cpus, open_files_limit, proc_cpu_seconds, raise_open_files_limit,
    rss_mb, start_sim, Sim,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Parser)]
#[command(
    name = "fleetbench-bench",
    about = "Agent ceiling, timing fidelity and coordinator merge rate"
)]
struct Args {
    /// How the sims frame their streams in the ceiling runs (sim `--framing`): batched (a
    /// whole zero-delay response in one HTTP chunk, the regime of the first headline) and
    /// per-event (one chunk and one TCP segment per SSE event, as real engines stream).
    #[arg(long, value_delimiter = ',', default_value = "batched,per-event")]
    framing: Vec<String>,
    /// Concurrencies of the ceiling runs.
    #[arg(long, value_delimiter = ',', default_value = "64,256,1024,4096,10000")]
    concurrency: Vec<u32>,
    /// Most streams one sim process serves in the ceiling runs; more streams start more sims
    /// (round-robin, all pinned to the sim's core).
    #[arg(long, default_value_t = 4096)]
    streams_per_sim: u32,
    /// Seconds of each ceiling run.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Milliseconds to the first token and between tokens of the ceiling runs' sims (0: as fast
    /// as they can). With a delay and per-event framing every event is its own read, as in a
    /// product run at that delay: the regime to profile the per-event cost in (under callgrind,
    /// with few enough streams that the slowed agent keeps up).
    #[arg(long, default_value_t = 0.0)]
    ceiling_delay_ms: f64,
    /// Output tokens (SSE chunks) per request in the ceiling runs.
    #[arg(long, default_value_t = 128)]
    tokens: u32,
    /// Streams in flight in the fidelity runs.
    #[arg(long, value_delimiter = ',', default_value = "256,1000")]
    fidelity_streams: Vec<u32>,
    /// Sim TTFT and inter-token gap (ms) of the fidelity run.
    #[arg(long, default_value_t = 50.0)]
    ttft_ms: f64,
    #[arg(long, default_value_t = 5.0)]
    itl_ms: f64,
    /// Simulated agents in the merge run.
    #[arg(long, default_value_t = 1000)]
    agents: u32,
    /// Streams of the product-path runs (`coordinator run` + one `agent join`, per-event
    /// framing).
    #[arg(long, value_delimiter = ',', default_value = "256,4096")]
    product_streams: Vec<u32>,
    /// Milliseconds between tokens (and to the first token) of the product-path runs.
    #[arg(long, value_delimiter = ',', default_value = "0,5")]
    product_delay_ms: Vec<f64>,
    /// Seconds of each product-path run (its stage's duration).
    #[arg(long, default_value_t = 8.0)]
    product_seconds: f64,
    /// Runs per product-path point (the table gives each and their median).
    #[arg(long, default_value_t = 3)]
    product_runs: usize,
    /// `agent` binaries of the product-path runs instead of the one next to this binary; with
    /// several, every point runs each of them in turn, `--product-runs` times (before/after
    /// comparisons in one sequence).
    #[arg(long, value_delimiter = ',')]
    agent_bin: Vec<PathBuf>,
    /// Streams of the wire-clock runs (`--only wire`: the product path under tcpdump).
    #[arg(long, value_delimiter = ',', default_value = "32,256")]
    wire_streams: Vec<u32>,
    /// Milliseconds to the first token and between tokens of the wire-clock runs.
    #[arg(long, default_value_t = 5.0)]
    wire_delay_ms: f64,
    /// Streams of the I/O-model runs (`--only iomodel`: the `io-probe` client on epoll and on
    /// io_uring, at each `--product-delay-ms`, `--product-runs` times, `--product-seconds` each).
    #[arg(long, value_delimiter = ',', default_value = "256")]
    iomodel_streams: Vec<u32>,
    /// Wakeup coalescing windows (µs) of the I/O-model runs: the agent's `--coalesce-us`,
    /// which both models mirror.
    #[arg(long, value_delimiter = ',', default_value = "100")]
    iomodel_coalesce_us: Vec<u64>,
    /// Which parts to run.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "product,iomodel,ceiling,fidelity,merge,wire"
    )]
    only: Vec<String>,
    /// Core of the sim; the benchmark pins itself to the other.
    #[arg(long, default_value_t = 0)]
    sim_core: usize,
    #[arg(long, default_value_t = 1)]
    agent_core: usize,
    /// Run everything in a network namespace of its own (`unshare --net`, its loopback brought
    /// up with `ip`; needs root or CAP_SYS_ADMIN): loopback without the host's firewall rules.
    /// Where Docker (or any firewall) has installed iptables rules, every loopback packet of
    /// the host's namespace, each ACK included, goes through netfilter and conntrack inside
    /// the agent's own system calls; a namespace of its own shows the agent's cost without
    /// them (BENCHMARKS.md gives both).
    #[arg(long)]
    netns: bool,
}

const PINNED_ENV: &str = "FLEETBENCH_BENCH_PINNED";

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if std::env::var_os(PINNED_ENV).is_none() {
        // Before re-executing: the pinned child and the sims inherit the raised limit.
        raise_open_files_limit();
        let exe = std::env::current_exe()?;
        // `taskset -c CORE EXE ARGS...`, with --netns behind
        // `unshare --net -- sh -c 'ip link set lo up && exec "$@"' sh`.
        let mut pinned = if args.netns {
            let mut c = Command::new("unshare");
            c.args([
                "--net",
                "--",
                "sh",
                "-c",
                "ip link set lo up && exec \"$@\"",
                "sh",
            ])
            .arg("taskset");
            c
        } else {
            Command::new("taskset")
        };
        pinned.arg("-c").arg(args.agent_core.to_string()).arg(&exe);
        let status = pinned
            .args(std::env::args_os().skip(1))
            .env(PINNED_ENV, "1")
            .status()
            .context(if args.netns {
                "run unshare and ip (util-linux, iproute2; as root) for --netns, and taskset to pin the benchmark"
            } else {
                "run taskset (util-linux) to pin the benchmark"
            })?;
        std::process::exit(status.code().unwrap_or(1));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    println!(
        "fleetbench-bench: agent on core {}, sim on core {}",
        args.agent_core, args.sim_core
    );
    println!("machine: {} cores, {}", num_cpus(), cpu_model());
    println!(
        "network: {}",
        if args.netns {
            "a namespace of its own (--netns): loopback without firewall rules"
        } else {
            "the host's namespace (its firewall rules, if any, see every loopback packet)"
        }
    );
    println!(
        "open files limit: {} (each stream holds one socket here and one in a sim)",
        open_files_limit()
    );
    if args.only.iter().any(|o| o == "product") {
        product::product(&product::Product {
            points: points(&args, &args.product_streams),
            agent_bins: args.agent_bin.clone(),
        })?;
    }
    if args.only.iter().any(|o| o == "iomodel") {
        iomodel::iomodel(&iomodel::IoModel {
            points: points(&args, &args.iomodel_streams),
            coalesce_us: args.iomodel_coalesce_us.clone(),
        })?;
    }
    if args.only.iter().any(|o| o == "ceiling") {
        rt.block_on(ceiling(&args))?;
    }
    if args.only.iter().any(|o| o == "fidelity") {
        for &streams in &args.fidelity_streams {
            rt.block_on(fidelity(&args, streams))?;
        }
    }
    if args.only.iter().any(|o| o == "merge") {
        merge(&args)?;
    }
    if args.only.iter().any(|o| o == "wire") {
        wire::wire(&wire::Wire {
            streams: args.wire_streams.clone(),
            delay_ms: args.wire_delay_ms,
            seconds: args.product_seconds,
            tokens: args.tokens,
            sim_core: args.sim_core,
            agent_core: args.agent_core,
            agent_bin: match args.agent_bin.first() {
                Some(b) => b.clone(),
                None => procs::sibling("agent")?,
            },
        })?;
    }
    Ok(())
}

/// The product path's points and runs (`--product-*`) at `streams`.
fn points(args: &Args, streams: &[u32]) -> product::Points {
    product::Points {
        streams: streams.to_vec(),
        delays_ms: args.product_delay_ms.clone(),
        seconds: args.product_seconds,
        runs: args.product_runs.max(1),
        tokens: args.tokens,
        sim_core: args.sim_core,
        client_core: args.agent_core,
    }
}

/// The shard spec of a one-agent plan of `load` against `addr`.
fn shard(addr: &str, tokens: u32, load: &str) -> anyhow::Result<ShardSpec> {
    let text = format!(
        "server: {{model_name: sim-model, base_url: 'http://{addr}', ignore_eos: true}}\n\
         api: {{type: completion, streaming: true}}\n\
         data: {{type: random, input_distribution: {{min: 16, max: 16, mean: 16}},\n\
                 output_distribution: {{min: {tokens}, max: {tokens}, mean: {tokens}}}}}\n\
         {load}\n"
    );
    let loaded = parse_profile(&text, Path::new("bench"), "bench")?;
    let me = Member {
        agent_id: "bench".into(),
        role: Role::Client,
        host_name: "bench".into(),
    };
    let plan = plan_run(&loaded, &[me], "bench", 1)?;
    Ok(plan.stages[0].shards[0].clone())
}

// ---------------------------------------------------------------- 1. ceiling

async fn ceiling(args: &Args) -> anyhow::Result<()> {
    for framing in &args.framing {
        ceiling_framed(args, framing).await?;
    }
    Ok(())
}

/// `n` sims of the ceiling runs, pinned to the sim core.
fn ceiling_sims(args: &Args, framing: &str, n: usize) -> anyhow::Result<Vec<Sim>> {
    let delay = args.ceiling_delay_ms.max(0.0).to_string();
    (0..n)
        .map(|_| {
            start_sim(
                args.sim_core,
                &[
                    "--ttft-ms",
                    &delay,
                    "--itl-ms",
                    &delay,
                    "--framing",
                    framing,
                ],
            )
        })
        .collect()
}

async fn ceiling_framed(args: &Args, framing: &str) -> anyhow::Result<()> {
    let per_sim = args.streams_per_sim.max(1);
    let sims_for = |c: u32| c.div_ceil(per_sim).max(1) as usize;
    let most = args
        .concurrency
        .iter()
        .map(|&c| sims_for(c))
        .max()
        .unwrap_or(1);
    let limit = open_files_limit();
    let delay = args.ceiling_delay_ms.max(0.0);
    let sims = ceiling_sims(args, framing, most)?;
    println!(
        "\n## Agent ceiling, {framing} framing ({}-token streamed completions, {delay} ms between tokens, closed loop, {} s each; up to {per_sim} streams per sim, all sims on core {})\n",
        args.tokens, args.seconds, args.sim_core
    );
    println!("| streams | sims | requests/s | chunks/s | agent CPU-µs/chunk | agent CPU-s per 1k chunks | agent CPU-µs/request | agent CPU busy | sims' CPU busy | RSS MB | RSS MB per 1k streams |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let base_rss = rss_mb();
    for &c in &args.concurrency {
        if u64::from(c) + 64 > limit {
            println!("| {c} | skipped: {c} streams need more than the open files limit ({limit}); raise `ulimit -n` |");
            continue;
        }
        let used = &sims[..sims_for(c)];
        let load = format!(
            "load: {{type: concurrent, stages: [{{concurrency_level: {c}, duration: {}}}]}}",
            args.seconds
        );
        let spec = shard(&used[0].addr, args.tokens, &load)?;
        let mut clients = Vec::new();
        for (i, sim) in used.iter().enumerate() {
            let endpoint = shard(&sim.addr, args.tokens, &load)?.endpoint;
            let client = Arc::new(
                EndpointClient::new(
                    &endpoint,
                    Timeouts::with_total(Duration::from_secs(60)),
                    &EndpointTrust::default(),
                )
                .await?,
            );
            // Streams go round-robin: sim i serves streams i, i + k, ...
            let streams = (c as usize + used.len() - 1 - i) / used.len();
            client
                .prewarm(streams, Instant::now() + Duration::from_secs(20))
                .await;
            clients.push(client);
        }
        let sim_cpu = || -> f64 {
            used.iter()
                .map(|s| proc_cpu_seconds(&s.child.id().to_string()))
                .sum()
        };
        let recorder = Arc::new(Recorder::new(
            Instant::now(),
            Window {
                start_s: 0.0,
                end_s: None,
            },
        ));
        let stop_at = Instant::now() + Duration::from_secs_f64(args.seconds);
        let next = Arc::new(AtomicU64::new(0));
        let (cpu0, sim_cpu0, t0) = (cpu_seconds(), sim_cpu(), Instant::now());
        let mut users = tokio::task::JoinSet::new();
        for i in 0..c as usize {
            let (client, recorder, next, spec) = (
                clients[i % clients.len()].clone(),
                recorder.clone(),
                next.clone(),
                spec.clone(),
            );
            users.spawn(async move {
                while Instant::now() < stop_at {
                    let data = RequestData::build(&spec, next.fetch_add(1, Ordering::Relaxed));
                    let rec = client.execute(&data, Instant::now()).await;
                    recorder.record(&rec);
                }
            });
        }
        let mut peak_rss = 0.0f64;
        while !users.is_empty() {
            tokio::select! {
                _ = users.join_next() => {}
                _ = tokio::time::sleep(Duration::from_millis(200)) => peak_rss = peak_rss.max(rss_mb()),
            }
        }
        let (cpu, wall) = (cpu_seconds() - cpu0, t0.elapsed().as_secs_f64());
        let sims_cpu = sim_cpu() - sim_cpu0;
        let m = recorder.take().measurements;
        let chunks = m.counters.output_tokens as f64;
        let requests = m.counters.ok as f64;
        if m.counters.failed() > 0 {
            println!("(failures at {c} streams: {:?})", m.counters.failures);
        }
        let rss = peak_rss.max(rss_mb());
        println!(
            "| {c} | {} | {:.0} | {:.0} | {:.3} | {:.5} | {:.1} | {:.0}% | {:.0}% | {:.0} | {:.1} |",
            used.len(),
            requests / wall,
            chunks / wall,
            cpu * 1e6 / chunks.max(1.0),
            cpu * 1e3 / chunks.max(1.0),
            cpu * 1e6 / requests.max(1.0),
            100.0 * cpu / wall,
            100.0 * sims_cpu / wall,
            rss,
            (rss - base_rss).max(0.0) * 1000.0 / c as f64,
        );
    }
    Ok(())
}

// ---------------------------------------------------------------- 2. fidelity

fn unix_us(t: Instant, anchor: (Instant, f64)) -> f64 {
    // Instants after the anchor map forward from its wall-clock time.
    anchor.1 + t.saturating_duration_since(anchor.0).as_secs_f64() * 1e6
        - anchor.0.saturating_duration_since(t).as_secs_f64() * 1e6
}

/// The fidelity run's figures, per matched request.
#[derive(Default)]
struct Errors {
    matched: usize,
    ttft: Vec<f64>,
    to_server: Vec<f64>,
    from_server: Vec<f64>,
    itl: Vec<f64>,
    lag: Vec<f64>,
}

async fn fidelity(args: &Args, streams: u32) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("fleetbench-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let truth_path: PathBuf = dir.join("truth.jsonl");
    let (ttft, itl) = (args.ttft_ms.to_string(), args.itl_ms.to_string());
    let sim = start_sim(
        args.sim_core,
        &[
            "--ttft-ms",
            &ttft,
            "--itl-ms",
            &itl,
            "--ground-truth",
            &truth_path.display().to_string(),
        ],
    )?;
    let tokens = 64u32;
    let request_s = (args.ttft_ms + args.itl_ms * (tokens - 1) as f64) / 1000.0;
    let rate = (streams as f64 / request_s).round();
    let seconds = 3.0;
    let spec = shard(
        &sim.addr,
        tokens,
        &format!("load: {{type: constant, stages: [{{rate: {rate}, duration: {seconds}}}]}}"),
    )?;
    let anchor = (
        Instant::now(),
        SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs_f64() * 1e6,
    );
    let records = open_loop_records(&spec, streams, rate, seconds).await?;
    drop(sim); // flushes the ground truth
    std::thread::sleep(Duration::from_millis(300));
    let truth = std::fs::read_to_string(&truth_path).context("read the sim's ground truth")?;
    let errors = compare_with_truth(&truth, &records, anchor)?;
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "\n## Timing fidelity ({} streams in flight: {rate} req/s open loop for {seconds} s, sim TTFT {} ms, gap {} ms, {tokens} tokens)\n",
        streams, args.ttft_ms, args.itl_ms
    );
    println!(
        "matched {} of {} requests with the sim's ground truth\n",
        errors.matched,
        records.len()
    );
    print_errors(errors);
    Ok(())
}

/// Sends `spec`'s requests at `rate` for `seconds` on one client; every request's record by id.
async fn open_loop_records(
    spec: &ShardSpec,
    streams: u32,
    rate: f64,
    seconds: f64,
) -> anyhow::Result<HashMap<String, RequestRecord>> {
    let client = Arc::new(
        EndpointClient::new(
            &spec.endpoint,
            Timeouts::with_total(Duration::from_secs(60)),
            &EndpointTrust::default(),
        )
        .await?,
    );
    client
        .prewarm(
            streams as usize + 64,
            Instant::now() + Duration::from_secs(20),
        )
        .await;
    let start = Instant::now() + Duration::from_millis(200);
    let total = (rate * seconds) as u64;
    let arrivals = (0..total).map(move |j| Arrival {
        index: j,
        at_s: j as f64 / rate,
    });
    let mut due = pace(spec.clone(), Box::new(arrivals), start);
    let mut tasks = tokio::task::JoinSet::new();
    while let Some(Due { data, intended, .. }) = due.recv().await {
        let client = client.clone();
        tasks.spawn(async move { (data.id.clone(), client.execute(&data, intended).await) });
    }
    let mut records = HashMap::new();
    while let Some(r) = tasks.join_next().await {
        let (id, rec) = r?;
        records.insert(id, rec);
    }
    Ok(records)
}

/// Each record against the sim's ground-truth line for the same request.
fn compare_with_truth(
    truth: &str,
    records: &HashMap<String, RequestRecord>,
    anchor: (Instant, f64),
) -> anyhow::Result<Errors> {
    let mut e = Errors::default();
    for line in truth.lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        let Some(rec) = v["request_id"].as_str().and_then(|id| records.get(id)) else {
            continue;
        };
        let (Some(first), Some(tokens_us)) = (rec.t_first, v["token_unix_us"].as_array()) else {
            continue;
        };
        e.matched += 1;
        let us = |k: &str| v[k].as_f64().unwrap_or(0.0);
        // TTFT as the server produced it (arrival → first token) vs as the agent saw it from
        // the moment it sent (loopback transit on both ends is part of the error).
        let true_ttft = us("first_token_unix_us") - us("arrival_unix_us");
        let seen_ttft = unix_us(first, anchor) - unix_us(rec.t_sent, anchor);
        e.ttft.push((seen_ttft - true_ttft).abs() / 1000.0);
        // Where the difference arises: sent → the server read the request (transit and the
        // server's own input queue), and the server wrote the first token → the agent saw it.
        e.to_server
            .push((us("arrival_unix_us") - unix_us(rec.t_sent, anchor)) / 1000.0);
        e.from_server
            .push((unix_us(first, anchor) - us("first_token_unix_us")) / 1000.0);
        let true_gaps: Vec<f64> = tokens_us
            .windows(2)
            .map(|w| w[1].as_f64().unwrap_or(0.0) - w[0].as_f64().unwrap_or(0.0))
            .collect();
        for (seen, truth) in rec.itl_us.iter().zip(&true_gaps) {
            e.itl.push((*seen as f64 - truth).abs() / 1000.0);
        }
        e.lag.push(
            rec.t_sent
                .saturating_duration_since(rec.t_intended)
                .as_secs_f64()
                * 1000.0,
        );
    }
    Ok(e)
}

fn print_errors(e: Errors) {
    println!("| figure | median | p99 |");
    println!("|---|---:|---:|");
    for (figure, mut v) in [
        ("TTFT error, ms", e.ttft),
        ("ITL error, ms", e.itl),
        ("send lag, ms", e.lag),
        (
            "TTFT part: agent sent → sim read the request, ms",
            e.to_server,
        ),
        (
            "TTFT part: sim wrote the first token → agent saw it, ms",
            e.from_server,
        ),
    ] {
        let median = quantile(&mut v, 0.5);
        println!("| {figure} | {median:.3} | {:.3} |", quantile(&mut v, 0.99));
    }
}

// ---------------------------------------------------------------- 3. merge

fn merge(args: &Args) -> anyhow::Result<()> {
    // One interval of one agent: 50 requests of 128 tokens.
    let m = fleetbench_bench::sample_interval();
    let (histograms, counters) = m.to_wire();
    let rounds = 5u64;
    let snapshots: Vec<proto::Snapshot> = (0..rounds)
        .flat_map(|seq| {
            let (h, c) = (histograms.clone(), counters.clone());
            (0..args.agents).map(move |shard| proto::Snapshot {
                run_id: "bench".into(),
                stage: 0,
                shard,
                seq,
                interval: seq as u32,
                histograms: h.clone(),
                counters: c.clone(),
                samples: Vec::new(),
                requests: Vec::new(),
                error_bodies: Default::default(),
            })
        })
        .collect();
    let bytes: usize = histograms.values().map(|b| b.len()).sum();
    let mut collector = StageCollector::new(args.agents as usize);
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    for s in &snapshots {
        collector.apply(s)?;
    }
    let (cpu, wall) = (cpu_seconds() - cpu0, t0.elapsed().as_secs_f64());
    let n = snapshots.len() as f64;
    println!("\n## Coordinator merge ({} agents × {rounds} intervals, {bytes} bytes of histograms per snapshot)\n", args.agents);
    println!("| snapshots | snapshots/s | CPU-µs per snapshot | merged requests |");
    println!("|---:|---:|---:|---:|");
    println!(
        "| {n:.0} | {:.0} | {:.1} | {} |",
        n / wall,
        cpu * 1e6 / n,
        collector.merged.counters.requests
    );
    Ok(())
}
