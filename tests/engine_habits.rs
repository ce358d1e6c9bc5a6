//! Real engines' habits, played by the sim and by a hostile server in the test: a server that
//! closes the connection after each response despite keep-alive (llama.cpp) costs no request;
//! a fixed pool of server HTTP threads is not starved by the agent's own idle connections; an
//! endpoint that sends an endless line, endless `data:` lines, an endless error body or an
//! endless metrics page cannot grow the agent; llama.cpp's metric names and `cached_tokens` reach the report, and an
//! endpoint exporting unknown metric names is named in a warning.

use fleetbench_e2e::*;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[test]
fn a_server_that_closes_after_each_response_costs_no_request() -> anyhow::Result<()> {
    let dir = scratch("habits_close_after_response");
    let (_sim, sim_addr) = start_sim(
        &dir,
        "sim",
        &[
            "--deterministic",
            "--ttft-ms",
            "3",
            "--itl-ms",
            "1",
            "--close-after-response",
        ],
    )?;
    let profile = write_profile(
        &dir,
        &sim_addr,
        8,
        8,
        "load: {type: concurrent, stages: [{concurrency_level: 4, num_requests: 80}]}",
    );
    let (run, _) = run_with_two_agents(&dir, &profile, Duration::from_secs(60))?;
    let r = stage_report(&run, 0)?;
    assert_eq!(num(&r, "metrics.requests.total"), 80.0);
    assert_eq!(
        num(&r, "metrics.requests.failures"),
        0.0,
        "{}",
        at(&r, "metrics.metadata.failures_by_class")
    );
    let c = at(&r, "metrics.metadata.connections");
    let (opened, reused, retries) = (num(c, "opened"), num(c, "reused"), num(c, "retries"));
    // Every response ends its connection: each request is answered on a fresh one (a reused
    // one fails, and its request is retried once on a fresh one).
    assert!(
        opened >= 80.0,
        "connections: {c} (each request needs a fresh one)"
    );
    assert!(
        retries <= reused,
        "only a reused connection is retried: {c}"
    );
    assert!(
        num(c, "server_closed") + retries >= 70.0,
        "the server's closes are seen: {c}"
    );
    // Per agent: what it opened and reused, summing to the stage's figures.
    let agents = at(&r, "metrics.metadata.agents")
        .as_array()
        .unwrap()
        .clone();
    let per_agent: f64 = agents.iter().map(|a| num(a, "connections.opened")).sum();
    assert_eq!(per_agent, opened, "{agents:?}");
    Ok(())
}

#[test]
fn a_fixed_pool_of_server_threads_is_not_starved_by_prewarmed_connections() -> anyhow::Result<()> {
    let dir = scratch("habits_http_workers");
    let truth = dir.join("truth.jsonl");
    let truth_arg = truth.display().to_string();
    let (sim, sim_addr) = start_sim(
        &dir,
        "sim",
        &[
            "--deterministic",
            "--ttft-ms",
            "20",
            "--itl-ms",
            "2",
            "--http-workers",
            "4",
            "--keep-alive-timeout",
            "5",
            "--ground-truth",
            &truth_arg,
        ],
    )?;
    // The profile asks for 2 pre-warmed connections per agent; each agent has 1 request at a
    // time in flight at this rate (the stage's use), so no more than the server's 4 workers
    // are ever held.
    let profile = write_profile(
        &dir,
        &sim_addr,
        16,
        8,
        "load: {type: constant, warmup_connections: 2, stages: [{rate: 2, duration: 4}]}\n\
         report: {request_lifecycle: {per_request: true}}",
    );
    let (run, _) = run_with_two_agents(&dir, &profile, Duration::from_secs(60))?;
    let r = stage_report(&run, 0)?;
    assert_eq!(num(&r, "metrics.requests.total"), 8.0);
    assert_eq!(num(&r, "metrics.requests.failures"), 0.0);
    drop(sim);
    std::thread::sleep(Duration::from_millis(200));
    let truth: HashMap<String, f64> = json_lines(&truth)?
        .iter()
        .map(|v| {
            (
                v["request_id"].as_str().unwrap_or_default().to_string(),
                (num(v, "first_token_unix_us") - num(v, "arrival_unix_us")) / 1000.0,
            )
        })
        .collect();
    let records = json_lines(&run.join("requests.jsonl"))?;
    assert_eq!(records.len(), 8);
    let mut diffs = Vec::new();
    for rec in &records {
        let id = rec["id"].as_str().unwrap();
        let ttft = (num(rec, "first_token_unix_ns") - num(rec, "intended_unix_ns")) / 1e6;
        let true_ttft = truth[id];
        diffs.push(ttft - true_ttft);
    }
    let mut sorted = diffs.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let worst = diffs.iter().cloned().fold(0.0, f64::max);
    // A request written on a connection that waits for a server thread would wait for an idle
    // one to time out (5 s): the difference would be seconds, not milliseconds. (The median,
    // not the mean: one scheduling hiccup of a loaded 2-core machine is not starvation.)
    assert!(
        median.abs() <= 5.0,
        "TTFT - sim's TTFT: median {median:.2} ms (all: {diffs:?})"
    );
    assert!(worst <= 50.0, "TTFT - sim's TTFT: worst {worst:.2} ms");
    let c = at(&r, "metrics.metadata.connections");
    assert!(
        num(c, "opened") <= 8.0,
        "no more connections than the stage needed: {c}"
    );
    Ok(())
}

/// A hostile endpoint: POST k answers (k mod 3) an endless SSE line, endless `data:` lines with
/// no blank line, or a 500 with an endless error body; each stops when the client goes away
/// (or after 256 MiB). GET answers `/metrics` with names of no known engine, and
/// `/metrics-endless` with an endless page.
fn hostile_server(stop: Arc<AtomicBool>) -> anyhow::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?.to_string();
    listener.set_nonblocking(true)?;
    let posts = Arc::new(AtomicU64::new(0));
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((s, _)) => {
                    let posts = posts.clone();
                    std::thread::spawn(move || {
                        let _ = serve_hostile(s, &posts);
                    });
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    Ok(addr)
}

fn serve_hostile(s: TcpStream, posts: &AtomicU64) -> std::io::Result<()> {
    s.set_nonblocking(false)?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut reader = BufReader::new(s.try_clone()?);
    let mut w = s;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let post = line.starts_with("POST");
        let endless_page = line.starts_with("GET /metrics-endless");
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            reader.read_line(&mut h)?;
            if h == "\r\n" || h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        if endless_page {
            let block = "# HELP x y\n".repeat(6000);
            write!(w, "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")?;
            for _ in 0..(256 << 20) / block.len() {
                write!(w, "{:x}\r\n{block}\r\n", block.len())?;
            }
            return Ok(());
        }
        if !post {
            let text = "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 1\n\
                        # TYPE http_requests_total counter\nhttp_requests_total 5\n";
            write!(
                w,
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{text}",
                text.len()
            )?;
            continue;
        }
        let k = posts.fetch_add(1, Ordering::Relaxed);
        let (head, block): (&str, Vec<u8>) = match k % 3 {
            0 => (
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n",
                [b"data: ".as_slice(), &[b'x'; 65536]].concat(),
            ),
            1 => (
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n",
                b"data: {\"choices\":[{\"text\":\"y\"}]}\n".repeat(2048),
            ),
            _ => (
                "HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json\r\n",
                [b"{\"error\":{\"message\":\"".as_slice(), &[b'z'; 65536]].concat(),
            ),
        };
        write!(w, "{head}transfer-encoding: chunked\r\n\r\n")?;
        let mut sent = 0usize;
        while sent < 256 << 20 {
            write!(w, "{:x}\r\n", block.len())?;
            w.write_all(&block)?;
            w.write_all(b"\r\n")?;
            sent += block.len();
        }
        return Ok(());
    }
}

/// Peak resident memory (`VmHWM`) of a process, bytes.
fn vm_hwm(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[test]
fn a_hostile_endpoint_cannot_grow_the_agent() -> anyhow::Result<()> {
    let dir = scratch("habits_hostile");
    let stop = Arc::new(AtomicBool::new(false));
    let addr = hostile_server(stop.clone())?;
    let profile = write_profile(
        &dir,
        &addr,
        8,
        8,
        "load: {type: concurrent, request_timeout: 30, stages: [{concurrency_level: 3, num_requests: 12}]}",
    );
    // Every request fails on purpose: no preflight (it would stop the run before any load) and
    // no failure-rate limit on the verdict.
    let (mut coord, caddr) = start_coordinator_run(
        &dir,
        &profile,
        1,
        &["--no-preflight", "--max-failure-rate", "1"],
    )?;
    let metrics = format!("http://{addr}/metrics");
    // A second engine page never ends: it is dropped at the agent's cap, not held.
    let endless = format!("http://{addr}/metrics-endless");
    let agent = start_agent(
        &dir,
        &caddr,
        "a",
        "client",
        &[
            "--engine-metrics",
            &metrics,
            "--engine-metrics",
            &endless,
            "--telemetry-interval",
            "0.2",
        ],
    )?;
    // Watch the agent's peak memory while it runs.
    let pid = agent.pid();
    let started = Instant::now();
    let mut peak = 0;
    let mut finished = false;
    while started.elapsed() < Duration::from_secs(60) {
        if let Some(h) = vm_hwm(pid) {
            peak = peak.max(h);
        }
        if !run_dir(&dir)
            .map(|r| r.join("stage-0/report.json").exists())
            .unwrap_or(false)
        {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        finished = true;
        break;
    }
    let _ = coord.wait(Duration::from_secs(20));
    stop.store(true, Ordering::Relaxed);
    assert!(finished, "the run never wrote its report");
    assert!(
        peak > 0 && peak < 100 << 20,
        "agent peak RSS {} MB",
        peak >> 20
    );
    let r = stage_report(&run_dir(&dir)?, 0)?;
    assert_eq!(num(&r, "metrics.requests.total"), 12.0);
    let classes = at(&r, "metrics.metadata.failures_by_class");
    // Endless line and endless data lines: 4 + 4; endless error bodies: 4.
    assert_eq!(
        classes,
        &serde_json::json!({"oversized_event": 8, "http_500": 4}),
        "every request gets its class"
    );
    // The metrics endpoint exported no known engine names: the report says so and names them.
    let warnings = at(&r, "metrics.metadata.host_groups.0.engine.warnings");
    let text = warnings.to_string();
    assert!(
        text.contains(&metrics) && text.contains("process_cpu_seconds_total"),
        "warning: {warnings}"
    );
    let log = std::fs::read_to_string(dir.join("a.log"))?;
    assert!(
        log.contains("exports none of the engine metrics") && log.contains("http_requests_total"),
        "the agent log warns"
    );
    assert!(
        log.contains(&format!("{endless}: its metrics page is over 16 MiB")),
        "the agent log names the endless page"
    );
    Ok(())
}

#[test]
fn llamacpp_metric_names_and_cached_tokens_reach_the_report() -> anyhow::Result<()> {
    let dir = scratch("habits_llamacpp_metrics");
    let (_sim, sim_addr) = start_sim(
        &dir,
        "sim",
        &[
            "--deterministic",
            "--ttft-ms",
            "5",
            "--itl-ms",
            "10",
            "--metric-names",
            "llamacpp",
            "--cached-tokens",
        ],
    )?;
    let path = dir.join("profile.yaml");
    std::fs::write(
        &path,
        format!(
            "name: e2e\n\
             server: {{type: vllm, model_name: sim-model, base_url: 'http://{sim_addr}', ignore_eos: true}}\n\
             api: {{type: completion, streaming: true}}\n\
             data: {{type: shared_prefix, shared_prefix: {{num_groups: 1, num_prompts_per_group: 4,\n\
                     system_prompt_len: 64, question_len: 8, output_len: 16}}}}\n\
             load: {{type: concurrent, stages: [{{concurrency_level: 1, num_requests: 8}}]}}\n"
        ),
    )?;
    let (mut coord, addr) = start_coordinator_run(&dir, &path, 1, &[])?;
    let metrics = format!("http://{sim_addr}/metrics");
    let _a = start_agent(
        &dir,
        &addr,
        "a",
        "client",
        &["--engine-metrics", &metrics, "--telemetry-interval", "0.1"],
    )?;
    assert!(coord.wait(Duration::from_secs(60))?.success());
    let r = stage_report(&run_dir(&dir)?, 0)?;
    assert_eq!(num(&r, "metrics.requests.failures"), 0.0);
    assert_eq!(
        at(&r, "metrics.metadata.host_groups.0.engine.families")[&metrics],
        "llamacpp"
    );
    assert!(!at(&r, "metrics.service.batch_size").is_null());
    assert_eq!(
        at(&r, "metrics.metadata.host_groups.0.engine.warnings"),
        &serde_json::json!([])
    );
    // One group of prompts sharing a 64-token system prompt: after the first, each prompt
    // finds its whole shared blocks cached.
    let cache = at(&r, "metrics.metadata.client_prefix_cache");
    assert_eq!(num(cache, "requests_reporting"), 8.0, "{cache}");
    let rate = num(cache, "hit_rate");
    assert!(
        rate > 0.3 && rate < 1.0,
        "client-side prefix hit rate {cache}"
    );
    let engine = at(&r, "metrics.metadata.host_groups.0.engine");
    assert!(
        num(engine, "prefix_cache_hits") > 0.0,
        "the engine's counter too: {engine}"
    );
    Ok(())
}
