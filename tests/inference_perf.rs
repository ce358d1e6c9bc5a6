//! inference-perf configurations run unchanged against the sim, each checked against the sim's
//! ground truth: an Azure trace replayed at its times with its lengths (`trace_replay`),
//! shared-prefix multi-turn chat (one session per group, rounds carrying the earlier ones; with
//! `api.session_id_header_key` each session's id on all its rounds), mock
//! data with `load.interval` between stages and a `response_format`, and shareGPT without a path
//! read from inference-perf's default dataset in the Hugging Face cache; `use_chat_template`'s
//! prompts wrapped in the tokenizer's chat template (what the agents sent, kept by a proxy);
//! `metrics.prometheus.google_managed`'s engine series read from a local server answering as
//! GCE's metadata server and Managed Prometheus's query API; `storage`'s Google
//! Cloud Storage bucket given the whole run directory (a local server answering as GCS's JSON
//! API, through `STORAGE_EMULATOR_HOST`), and a run refused before any load when its bucket is
//! not there.

use fleetbench_e2e::chaos::sim_with_truth;
use fleetbench_e2e::*;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The sim's ground-truth records of the run's requests (the agents' test requests left out).
fn truth_records(truth: &Path) -> anyhow::Result<Vec<serde_json::Value>> {
    let text = std::fs::read_to_string(truth)?;
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let rec: serde_json::Value = serde_json::from_str(line)?;
        if !rec["request_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("preflight-"))
        {
            out.push(rec);
        }
    }
    Ok(out)
}

fn field(rec: &serde_json::Value, key: &str) -> u64 {
    rec[key].as_u64().unwrap_or(u64::MAX)
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write a test file");
    path
}

#[test]
fn an_azure_trace_is_replayed_at_its_times_with_its_lengths() -> anyhow::Result<()> {
    let dir = scratch("ip_trace_replay");
    let (_sim, sim, truth) = sim_with_truth(&dir)?;
    // Offsets 0, 0.3, 0.35, 0.8, 1.2 s.
    let csv = write(
        &dir,
        "trace.csv",
        "TIMESTAMP,ContextTokens,GeneratedTokens\n\
         2023-11-16 18:15:46.000000,37,4\n\
         2023-11-16 18:15:46.300000,12,9\n\
         2023-11-16 18:15:46.350000,80,3\n\
         2023-11-16 18:15:46.800000,25,7\n\
         2023-11-16 18:15:47.200000,51,5\n",
    );
    let profile = write(
        &dir,
        "profile.yaml",
        &format!(
            "server: {{type: vllm, model_name: sim-model, base_url: 'http://{sim}', ignore_eos: true}}\n\
             api: {{type: completion, streaming: true}}\n\
             data: {{type: random, trace: {{file: {f}, format: AzurePublicDataset}}}}\n\
             load: {{type: trace_replay, trace: {{file: {f}, format: AzurePublicDataset}}, stages: [{{rate: 1, duration: 30}}]}}\n",
            f = csv.display()
        ),
    );
    let (run, _) = run_with_two_agents(&dir, &profile, Duration::from_secs(60))?;
    let r = stage_report(&run, 0)?;
    check_benchmark_run(&r);
    assert_eq!(num(&r, "metrics.requests.total"), 5.0);
    assert_eq!(num(&r, "metrics.requests.failures"), 0.0);
    let mut recs = truth_records(&truth)?;
    recs.sort_by_key(|r| field(r, "arrival_unix_us"));
    let lengths: Vec<(u64, u64)> = recs
        .iter()
        .map(|r| (field(r, "prompt_tokens"), field(r, "completion_tokens")))
        .collect();
    assert_eq!(lengths, [(37, 4), (12, 9), (80, 3), (25, 7), (51, 5)]);
    let t0 = field(&recs[0], "arrival_unix_us") as f64;
    for (rec, want_s) in recs.iter().zip([0.0, 0.3, 0.35, 0.8, 1.2]) {
        let got = (field(rec, "arrival_unix_us") as f64 - t0) / 1e6;
        assert!(
            (got - want_s).abs() < 0.15,
            "arrival at {got:.3} s, the trace says {want_s} s"
        );
    }
    Ok(())
}

#[test]
fn shared_prefix_multi_turn_chat_runs_one_session_per_group() -> anyhow::Result<()> {
    let dir = scratch("ip_multi_turn_chat");
    let (_sim, sim, truth) = sim_with_truth(&dir)?;
    let profile = write(
        &dir,
        "profile.yaml",
        &format!(
            "server: {{type: vllm, model_name: sim-model, base_url: 'http://{sim}', ignore_eos: true}}\n\
             api: {{type: completion, streaming: true}}\n\
             data:\n\
             \x20 type: shared_prefix\n\
             \x20 shared_prefix: {{num_unique_system_prompts: 3, num_users_per_system_prompt: 4, system_prompt_len: 20, question_len: 5, output_len: 6, enable_multi_turn_chat: true}}\n\
             load: {{type: constant, stages: [{{rate: 1.5, duration: 2}}]}}\n"
        ),
    );
    let (run, _) = run_with_two_agents(&dir, &profile, Duration::from_secs(60))?;
    let r = stage_report(&run, 0)?;
    check_benchmark_run(&r);
    // 3 sessions (arrivals at 0, 0.67, 1.33 s) of 4 rounds.
    assert_eq!(num(&r, "metrics.requests.total"), 12.0);
    assert_eq!(num(&r, "metrics.requests.failures"), 0.0);
    let mut per_prompt: BTreeMap<u64, u32> = BTreeMap::new();
    for rec in truth_records(&truth)? {
        assert_eq!(field(&rec, "completion_tokens"), 6);
        *per_prompt.entry(field(&rec, "prompt_tokens")).or_default() += 1;
    }
    // Round k carries the system prompt and k earlier questions and answers: 20 + 11k + 5.
    let want: BTreeMap<u64, u32> = [(25, 3), (36, 3), (47, 3), (58, 3)].into();
    assert_eq!(per_prompt, want);
    Ok(())
}

#[test]
fn session_id_header_is_sent_on_every_round_of_a_session() -> anyhow::Result<()> {
    let dir = scratch("ip_session_header");
    let truth = dir.join("truth.jsonl");
    let flags = [
        "--deterministic",
        "--ttft-ms",
        "2",
        "--itl-ms",
        "1",
        "--log-header",
        "x-session-id",
    ];
    let truth_arg = truth.display().to_string();
    let mut args: Vec<&str> = flags.to_vec();
    args.extend(["--ground-truth", &truth_arg]);
    let (_sim, sim) = start_sim(&dir, "sim", &args)?;
    let profile = write(
        &dir,
        "profile.yaml",
        &format!(
            "server: {{type: vllm, model_name: sim-model, base_url: 'http://{sim}', ignore_eos: true}}\n\
             api: {{type: completion, streaming: true, session_id_header_key: x-session-id}}\n\
             data:\n\
             \x20 type: shared_prefix\n\
             \x20 shared_prefix: {{num_groups: 3, num_prompts_per_group: 4, system_prompt_len: 20, question_len: 5, output_len: 6, enable_multi_turn_chat: true}}\n\
             load: {{type: constant, stages: [{{rate: 1.5, duration: 2}}]}}\n"
        ),
    );
    let (run, _) = run_with_two_agents(&dir, &profile, Duration::from_secs(60))?;
    let r = stage_report(&run, 0)?;
    assert_eq!(num(&r, "metrics.requests.total"), 12.0);
    assert_eq!(num(&r, "metrics.requests.failures"), 0.0);
    // The sim's log: `header x-session-id=VALUE request ID` for every request that carried it.
    let log = std::fs::read_to_string(dir.join("sim.log"))?;
    let mut session_of: BTreeMap<String, String> = BTreeMap::new();
    for line in log.lines() {
        let Some(rest) = line.split("header x-session-id=").nth(1) else {
            continue;
        };
        let (value, id) = rest.split_once(" request ").expect("header line");
        session_of.insert(id.trim().to_string(), value.to_string());
    }
    // Every request of the run carried it; each session's 4 rounds carried one id, and the
    // rounds of one id are rounds 0..3 of one conversation (prompts 20 + 11k + 5 tokens).
    let mut rounds: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for rec in truth_records(&truth)? {
        let id = rec["request_id"].as_str().unwrap_or("").to_string();
        let session = session_of
            .get(&id)
            .unwrap_or_else(|| panic!("request {id} reached the sim without x-session-id"));
        rounds
            .entry(session.clone())
            .or_default()
            .push(field(&rec, "prompt_tokens"));
    }
    assert_eq!(rounds.len(), 3, "{rounds:?}");
    for (session, mut prompts) in rounds {
        assert!(session.starts_with("0-session-"), "{session}");
        prompts.sort();
        assert_eq!(prompts, [25, 36, 47, 58], "session {session}");
    }
    Ok(())
}

#[test]
fn mock_data_waits_load_interval_between_stages() -> anyhow::Result<()> {
    let dir = scratch("ip_mock_interval");
    let (_sim, sim, truth) = sim_with_truth(&dir)?;
    let profile = write(
        &dir,
        "profile.yaml",
        &format!(
            "server: {{type: mock, model_name: sim-model, base_url: 'http://{sim}'}}\n\
             api: {{type: completion, response_format: {{type: json_object}}}}\n\
             data: {{type: mock}}\n\
             load: {{type: constant, interval: 3, stages: [{{rate: 10, duration: 1}}, {{rate: 10, duration: 1}}]}}\n"
        ),
    );
    let (run, _) = run_with_two_agents(&dir, &profile, Duration::from_secs(60))?;
    for stage in 0..2 {
        let r = stage_report(&run, stage)?;
        assert_eq!(num(&r, "metrics.requests.total"), 10.0);
        assert_eq!(num(&r, "metrics.requests.failures"), 0.0);
    }
    let recs = truth_records(&truth)?;
    assert_eq!(recs.len(), 20);
    let (mut last0, mut first1) = (0u64, u64::MAX);
    for rec in &recs {
        // inference-perf's mock prompt `1 2 3 <i>` and its default of 30 output tokens.
        assert_eq!(
            (field(rec, "prompt_tokens"), field(rec, "completion_tokens")),
            (4, 30)
        );
        let t = field(rec, "arrival_unix_us");
        match rec["request_id"].as_str().unwrap_or("") {
            id if id.starts_with("0-") => last0 = last0.max(t),
            id if id.starts_with("1-") => first1 = first1.min(t),
            id => panic!("request id {id}"),
        }
    }
    let gap_s = (first1 - last0) as f64 / 1e6;
    assert!(
        gap_s >= 3.0,
        "stage 1 started {gap_s:.2} s after stage 0's last request; load.interval is 3 s"
    );
    Ok(())
}

/// `coordinator validate profile` with `HF_HUB_OFFLINE=1` and the Hub cache named by `var`
/// (`HF_HOME` or `HF_HUB_CACHE`; the other unset).
fn validate_offline(
    profile: &Path,
    var: &str,
    dir: &Path,
) -> std::io::Result<std::process::Output> {
    std::process::Command::new(bin("coordinator"))
        .args(["validate", &profile.display().to_string()])
        .env_remove("HF_HOME")
        .env_remove("HF_HUB_CACHE")
        .env(var, dir)
        .env("HF_HUB_OFFLINE", "1")
        .output()
}

#[test]
fn cnn_dailymail_without_a_path_reads_config_3_0_0_of_the_hub_dataset_from_the_hf_cache(
) -> anyhow::Result<()> {
    // A stand-in for abisee/cnn_dailymail in the cache's layout: config 3.0.0's train split is
    // two Parquet files of 3 and 1 rows (one with an empty article); configs 1.0.0 and the
    // validation split have a row each that must not be read.
    let dir = scratch("ip_cnn_default");
    let cache = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/hf-cache");
    let profile = write(
        &dir,
        "profile.yaml",
        "server: {type: vllm, model_name: m, base_url: 'http://127.0.0.1:8000'}\n\
         api: {type: completion}\n\
         data: {type: cnn_dailymail}\n\
         load: {type: constant, stages: [{rate: 1, duration: 3}]}\n",
    );
    let validate = |cache: &Path| validate_offline(&profile, "HF_HUB_CACHE", cache);
    let out = validate(&cache)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    // 3 usable rows; mean output 4 words ("Harbour reopens after storms.", "Bridge opens to
    // cyclists.", "Four thousand trees planted.").
    assert!(
        out.status.success()
            && stdout.contains("prompts: 3 sampled entries")
            && stdout.contains("mean output 4.0 tokens"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = validate(&dir.join("empty"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && stderr.contains("abisee/cnn_dailymail")
            && stderr.contains("config 3.0.0")
            && stderr.contains("HF_HUB_OFFLINE"),
        "{stderr}"
    );
    Ok(())
}

#[test]
fn sharegpt_without_a_path_reads_inference_perfs_dataset_from_the_hf_cache() -> anyhow::Result<()> {
    let dir = scratch("ip_sharegpt_default");
    let cache = dir.join("hf/hub");
    let snap = cache.join("datasets--anon8231489123--ShareGPT_Vicuna_unfiltered/snapshots/abc");
    std::fs::create_dir_all(&snap)?;
    let sample =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../profiles/data/sharegpt_sample.json");
    std::fs::copy(
        &sample,
        snap.join("ShareGPT_V3_unfiltered_cleaned_split.json"),
    )?;
    let profile = write(
        &dir,
        "profile.yaml",
        "server: {type: vllm, model_name: m, base_url: 'http://127.0.0.1:8000'}\n\
         api: {type: chat}\n\
         data: {type: shareGPT}\n\
         load: {type: constant, stages: [{rate: 1, duration: 3}]}\n",
    );
    let validate = |home: &Path| validate_offline(&profile, "HF_HOME", home);
    let out = validate(&dir.join("hf"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("data: prompts:"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // An empty cache, offline: the error names the dataset, where it looked and what to set.
    let out = validate(&dir.join("empty"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("anon8231489123/ShareGPT_Vicuna_unfiltered")
            && stderr.contains(&dir.join("empty/hub").display().to_string())
            && stderr.contains("HF_HUB_OFFLINE"),
        "{stderr}"
    );
    Ok(())
}

/// The `x-request-id` and JSON body of each request in one connection's bytes.
fn request_bodies(bytes: &[u8]) -> Vec<(String, serde_json::Value)> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(i) = bytes[at..].windows(4).position(|w| w == b"\r\n\r\n") {
        let start = at + i + 4;
        let head = String::from_utf8_lossy(&bytes[at..start]).to_ascii_lowercase();
        let id = (head.lines())
            .find_map(|l| l.strip_prefix("x-request-id:"))
            .map(|v| v.trim().to_string())
            .unwrap_or_default();
        let mut values =
            serde_json::Deserializer::from_slice(&bytes[start..]).into_iter::<serde_json::Value>();
        match values.next() {
            Some(Ok(v)) => {
                at = start + values.byte_offset();
                out.push((id, v));
            }
            _ => at = start,
        }
    }
    out
}

#[test]
fn use_chat_template_sends_each_random_prompt_as_one_templated_user_turn() -> anyhow::Result<()> {
    let dir = scratch("ip_chat_template");
    let (_sim, sim, truth) = sim_with_truth(&dir)?;
    // What the agents send goes through a proxy that keeps it.
    let proxy = fleetbench_e2e::chaos::LinkProxy::start(&sim)?;
    let tokenizer = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/chat-tokenizer");
    let profile = write(
        &dir,
        "profile.yaml",
        &format!(
            "server: {{type: vllm, model_name: sim-model, base_url: 'http://{}', ignore_eos: true}}\n\
             api: {{type: completion, streaming: true}}\n\
             tokenizer: {{pretrained_model_name_or_path: '{}'}}\n\
             data: {{type: random, use_chat_template: true, input_distribution: {{type: uniform, min: 8, max: 40}}, output_distribution: {{type: fixed, mean: 5}}}}\n\
             load: {{type: constant, stages: [{{rate: 5, duration: 2}}]}}\n",
            proxy.addr,
            tokenizer.display()
        ),
    );
    let (run, _) = run_with_two_agents(&dir, &profile, Duration::from_secs(60))?;
    let r = stage_report(&run, 0)?;
    check_benchmark_run(&r);
    assert_eq!(num(&r, "metrics.requests.total"), 10.0);
    assert_eq!(num(&r, "metrics.requests.failures"), 0.0);
    // Every request of the stage: one user turn of the template (`<s> <|user|> TEXT <|end|>
    // <|assistant|> `: four tokens, four words for the sim), with no special tokens added.
    let (prefix, suffix) = ("<s> <|user|> ", " <|end|> <|assistant|> ");
    let mut sent: BTreeMap<usize, u32> = BTreeMap::new();
    for (id, body) in proxy.sent().iter().flat_map(|c| request_bodies(c)) {
        if id.is_empty() || id.starts_with("preflight-") {
            continue;
        }
        let prompt = body["prompt"].as_str().unwrap_or_default();
        assert!(
            prompt.starts_with(prefix) && prompt.ends_with(suffix),
            "{prompt:?}"
        );
        assert_eq!(
            body["add_special_tokens"],
            serde_json::json!(false),
            "{body}"
        );
        let words = prompt.split_whitespace().count();
        *sent.entry(words).or_default() += 1;
    }
    assert_eq!(sent.values().sum::<u32>(), 10, "{sent:?}");
    // The sim counted each prompt as long as the distribution drew it (8 to 40 tokens, the
    // template's four included), and the prompts it saw are the ones sent.
    let mut counted: BTreeMap<usize, u32> = BTreeMap::new();
    for rec in truth_records(&truth)? {
        let n = field(&rec, "prompt_tokens");
        assert!((8..=40).contains(&n), "{rec}");
        assert_eq!(field(&rec, "completion_tokens"), 5);
        *counted.entry(n as usize).or_default() += 1;
    }
    assert_eq!(counted, sent);
    Ok(())
}

/// inference-perf's infinity_instruct rows on the chat API: each request sends one row's turns
/// as messages (human turns as the user's, the others as the assistant's, empty ones left out)
/// with inference-perf's default of 30 output tokens, and the sim counts the turns' words.
#[test]
fn infinity_instruct_rows_are_sent_as_their_turns_on_the_chat_api() -> anyhow::Result<()> {
    let dir = scratch("ip_infinity_instruct");
    let (_sim, sim, truth) = sim_with_truth(&dir)?;
    let proxy = fleetbench_e2e::chaos::LinkProxy::start(&sim)?;
    let rows = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/inference-perf/text/infinity_instruct.json");
    let profile = write(
        &dir,
        "profile.yaml",
        &format!(
            "server: {{type: vllm, model_name: sim-model, base_url: 'http://{}', ignore_eos: true}}\n\
             api: {{type: chat, streaming: true}}\n\
             data: {{type: infinity_instruct, path: '{}'}}\n\
             load: {{type: constant, stages: [{{rate: 5, duration: 2}}]}}\n",
            proxy.addr,
            rows.display()
        ),
    );
    let (run, _) = run_with_two_agents(&dir, &profile, Duration::from_secs(60))?;
    let r = stage_report(&run, 0)?;
    check_benchmark_run(&r);
    assert_eq!(num(&r, "metrics.requests.total"), 10.0);
    assert_eq!(num(&r, "metrics.requests.failures"), 0.0);
    // The rows with a turn of text, as inference-perf's generator sends them.
    let mut want = std::collections::BTreeSet::new();
    for line in std::fs::read_to_string(&rows)?.lines() {
        let row: serde_json::Value = serde_json::from_str(line)?;
        let turns: Vec<serde_json::Value> = (row["conversations"].as_array().into_iter().flatten())
            .filter(|t| !t["value"].as_str().unwrap_or("").is_empty())
            .map(|t| {
                let role = if t["from"] == "human" {
                    "user"
                } else {
                    "assistant"
                };
                serde_json::json!({"role": role, "content": t["value"]})
            })
            .collect();
        if !turns.is_empty() {
            want.insert(serde_json::Value::Array(turns).to_string());
        }
    }
    let mut sent = std::collections::BTreeSet::new();
    let mut words: BTreeMap<usize, u32> = BTreeMap::new();
    for (id, body) in proxy.sent().iter().flat_map(|c| request_bodies(c)) {
        if id.is_empty() || id.starts_with("preflight-") {
            continue;
        }
        assert_eq!(body["max_tokens"], 30, "{body}");
        let n: usize = (body["messages"].as_array().into_iter().flatten())
            .map(|m| {
                m["content"]
                    .as_str()
                    .unwrap_or("")
                    .split_whitespace()
                    .count()
            })
            .sum();
        *words.entry(n).or_default() += 1;
        sent.insert(body["messages"].to_string());
    }
    assert_eq!(sent, want, "10 requests over the 5 usable rows: each sent");
    let mut counted: BTreeMap<usize, u32> = BTreeMap::new();
    for rec in truth_records(&truth)? {
        assert_eq!(field(&rec, "completion_tokens"), 30);
        *counted
            .entry(field(&rec, "prompt_tokens") as usize)
            .or_default() += 1;
    }
    assert_eq!(counted, words);
    Ok(())
}

/// A request's method, target and headers (names in lower case) from `r`.
fn read_head(r: &mut impl BufRead) -> (String, String, BTreeMap<String, String>) {
    let mut line = String::new();
    let _ = r.read_line(&mut line);
    let mut words = line.split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    (method.to_string(), target.to_string(), headers)
}

/// A local server answering as GCE's metadata server (a token, the project `e2e-project`) and
/// as Managed Prometheus's query API for that project: vLLM series of two pods, to a request
/// with the token; 401 without. Returns its address and the query requests it saw.
fn fake_google() -> anyhow::Result<(String, Arc<Mutex<Vec<String>>>)> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?.to_string();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let (_, target, headers) = read_head(&mut BufReader::new(&conn));
            let auth = headers.get("authorization").cloned().unwrap_or_default();
            let flavor = headers
                .get("metadata-flavor")
                .is_some_and(|v| v == "Google");
            let query = "/v1/projects/e2e-project/location/global/prometheus/api/v1/query?query=";
            let (status, body) = match target.as_str() {
                "/computeMetadata/v1/instance/service-accounts/default/token" if flavor => (
                    200,
                    r#"{"access_token":"e2e-gmp-token","expires_in":3599,"token_type":"Bearer"}"#
                        .to_string(),
                ),
                "/computeMetadata/v1/project/project-id" if flavor => (200, "e2e-project".into()),
                t if t.starts_with(query) => {
                    log.lock().unwrap().push(format!("{t} {auth}"));
                    match auth == "Bearer e2e-gmp-token" {
                        true => (200, r#"{"status":"success","data":{"resultType":"vector","result":[
                            {"metric":{"__name__":"vllm:num_requests_running","pod":"a"},"value":[1.0,"3"]},
                            {"metric":{"__name__":"vllm:num_requests_running","pod":"b"},"value":[1.0,"4"]},
                            {"metric":{"__name__":"vllm:num_requests_waiting","pod":"a"},"value":[1.0,"2"]},
                            {"metric":{"__name__":"vllm:kv_cache_usage_perc","pod":"a"},"value":[1.0,"0.25"]}]}}"#.to_string()),
                        false => (401, r#"{"status":"error","error":"unauthenticated"}"#.into()),
                    }
                }
                _ => (404, String::new()),
            };
            let mut w = &conn;
            let _ = write!(
                w,
                "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    Ok((addr, seen))
}

#[test]
fn google_managed_prometheus_gives_the_engines_series_with_the_metadata_servers_token(
) -> anyhow::Result<()> {
    let dir = scratch("ip_managed_prometheus");
    let (_sim, sim, _truth) = sim_with_truth(&dir)?;
    let (google, seen) = fake_google()?;
    let profile = write(
        &dir,
        "profile.yaml",
        &format!(
            "server: {{type: vllm, model_name: sim-model, base_url: 'http://{sim}', ignore_eos: true}}\n\
             api: {{type: completion, streaming: true}}\n\
             data: {{type: mock}}\n\
             load: {{type: constant, stages: [{{rate: 4, duration: 2}}]}}\n\
             metrics: {{type: prometheus, prometheus: {{google_managed: true, filters: ['namespace=\"llm\"']}}}}\n"
        ),
    );
    let root = format!("http://{google}");
    // The metadata server's credentials: no key file, no gcloud file, no project variable.
    let env = [
        ("GCE_METADATA_HOST", google.as_str()),
        ("FLEETBENCH_MANAGED_PROMETHEUS_URL", root.as_str()),
        ("GOOGLE_APPLICATION_CREDENTIALS", ""),
        ("CLOUDSDK_CONFIG", "/nonexistent"),
        ("GOOGLE_CLOUD_PROJECT", ""),
        ("GCLOUD_PROJECT", ""),
    ];
    let (mut coord, addr) = start_coordinator_run_env(&dir, &profile, 1, &[], &env)?;
    let _a = start_agent(
        &dir,
        &addr,
        "agent-a",
        "client",
        &["--telemetry-interval", "0.2"],
    )?;
    assert!(
        coord.wait(Duration::from_secs(60))?.success(),
        "see {}",
        dir.join("coordinator.log").display()
    );
    let run = run_dir(&dir)?;
    let r = stage_report(&run, 0)?;
    assert_eq!(num(&r, "metrics.requests.failures"), 0.0);
    // The agent queried the project's API with the token and the profile's filter.
    let queries = seen.lock().unwrap().clone();
    assert!(!queries.is_empty(), "no query reached the API");
    for q in &queries {
        assert!(
            q.contains("namespace%3D%22llm%22") && q.ends_with("Bearer e2e-gmp-token"),
            "{q}"
        );
    }
    // Its series are the engine's in the report, summed over the pods.
    let api = format!("{root}/v1/projects/e2e-project/location/global/prometheus");
    let engine = at(&r, "metrics.metadata.host_groups.0.engine");
    assert_eq!(engine["families"][&api], "vllm", "{engine}");
    assert_eq!(
        num(engine, "batch_size.mean"),
        7.0,
        "3 + 4 running: {engine}"
    );
    assert_eq!(num(engine, "queue_size.mean"), 2.0);
    assert_eq!(num(engine, "kv_cache_usage_percent.mean"), 25.0);
    // The token is in no file of the run (plan.json carries the query without it).
    let mut files = Vec::new();
    files_under(&run, "", &mut files)?;
    for f in files {
        let bytes = std::fs::read(run.join(&f))?;
        assert!(
            !String::from_utf8_lossy(&bytes).contains("e2e-gmp-token"),
            "the token is in {f}"
        );
    }
    // Without a metadata server (or other credentials) the run is refused before any load.
    let dir = scratch("ip_managed_prometheus_refused");
    let profile = write(&dir, "profile.yaml", &std::fs::read_to_string(&profile)?);
    let env = [
        ("GCE_METADATA_HOST", "127.0.0.1:9"),
        ("GOOGLE_APPLICATION_CREDENTIALS", ""),
        ("CLOUDSDK_CONFIG", "/nonexistent"),
        ("GOOGLE_CLOUD_PROJECT", ""),
        ("GCLOUD_PROJECT", ""),
    ];
    let (mut coord, _) = start_coordinator_run_env(&dir, &profile, 1, &[], &env)?;
    assert!(!coord.wait(Duration::from_secs(60))?.success());
    let log = std::fs::read_to_string(dir.join("coordinator.log"))?;
    assert!(
        log.contains("metrics.prometheus.google_managed") && log.contains("127.0.0.1:9"),
        "{log}"
    );
    Ok(())
}

/// Objects by name, as a fake bucket keeps them.
type Objects = Arc<Mutex<BTreeMap<String, Vec<u8>>>>;

/// A local server answering as GCS's JSON API does for bucket `bucket` (any other bucket is not
/// there): objects are kept by name, and an upload to a name taken fails its precondition. Returns its address and the objects.
fn fake_gcs(bucket: &'static str) -> anyhow::Result<(String, Objects)> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?.to_string();
    let objects = Arc::new(Mutex::new(BTreeMap::new()));
    let store = objects.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let mut r = BufReader::new(&conn);
            let (method, target, headers) = read_head(&mut r);
            let header = |name: &str| headers.get(name).cloned().unwrap_or_default();
            let len = header("content-length").parse().unwrap_or(0);
            let boundary = (header("content-type").split_once("boundary="))
                .map(|(_, b)| b.to_string())
                .unwrap_or_default();
            let mut body = vec![0; len];
            let _ = r.read_exact(&mut body);
            let bucket_path = format!("/storage/v1/b/{bucket}");
            let upload =
                format!("/upload/storage/v1/b/{bucket}/o?uploadType=multipart&ifGenerationMatch=0");
            let status = match method.as_str() {
                "GET" if target == bucket_path => 200,
                "POST" if target == upload => match multipart(&body, &boundary) {
                    Some((name, content)) => match store.lock().unwrap().entry(name) {
                        std::collections::btree_map::Entry::Occupied(_) => 412,
                        std::collections::btree_map::Entry::Vacant(v) => {
                            v.insert(content);
                            200
                        }
                    },
                    None => 400,
                },
                _ => 404,
            };
            let mut c = &conn;
            let _ = write!(
                c,
                "HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
            );
        }
    });
    Ok((addr, objects))
}

/// The object name (from the metadata part) and the bytes of a `multipart/related` upload.
fn multipart(body: &[u8], boundary: &str) -> Option<(String, Vec<u8>)> {
    let sep = format!("\r\n--{boundary}");
    let at = |from: usize, pat: &[u8]| {
        (body[from..].windows(pat.len()))
            .position(|w| w == pat)
            .map(|i| from + i)
    };
    let meta_start = at(0, b"\r\n\r\n")? + 4;
    let meta_end = at(meta_start, sep.as_bytes())?;
    let meta: serde_json::Value = serde_json::from_slice(&body[meta_start..meta_end]).ok()?;
    let content_start = at(meta_end + sep.len(), b"\r\n\r\n")? + 4;
    let content_end = at(content_start, sep.as_bytes())?;
    let name = meta["name"].as_str()?.to_string();
    Some((name, body[content_start..content_end].to_vec()))
}

/// The files under `dir`, relative, `/`-separated.
fn files_under(dir: &Path, rel: &str, out: &mut Vec<String>) -> anyhow::Result<()> {
    for e in std::fs::read_dir(dir.join(rel))? {
        let e = e?;
        let name = format!("{rel}{}", e.file_name().to_string_lossy());
        if e.file_type()?.is_dir() {
            files_under(dir, &format!("{name}/"), out)?;
        } else {
            out.push(name);
        }
    }
    Ok(())
}

/// `dir/profile.yaml`: ten short completions in a second against the sim at `sim`, and the
/// `storage` section `storage`.
fn storage_profile(dir: &Path, sim: &str, storage: &str) -> std::path::PathBuf {
    write(
        dir,
        "profile.yaml",
        &format!(
            "server: {{type: vllm, model_name: sim-model, base_url: 'http://{sim}'}}\n\
             api: {{type: completion}}\n\
             data: {{type: random, input_distribution: {{min: 8, max: 8, mean: 8}}, output_distribution: {{min: 4, max: 4, mean: 4}}}}\n\
             load: {{type: constant, stages: [{{rate: 10, duration: 1}}]}}\n\
             {storage}"
        ),
    )
}

#[test]
fn storage_uploads_the_run_directory_to_the_gcs_bucket() -> anyhow::Result<()> {
    let dir = scratch("ip_storage_gcs");
    let (_sim, sim) = start_sim(&dir, "sim", &["--deterministic"])?;
    let (gcs, objects) = fake_gcs("e2e-results")?;
    let profile = storage_profile(
        &dir,
        &sim,
        "storage:\n  local_storage: {report_file_prefix: e2e-}\n  google_cloud_storage: {bucket_name: e2e-results, path: 'bench/{timestamp}/'}\n",
    );
    let env = [("STORAGE_EMULATOR_HOST", gcs.as_str())];
    let (mut coord, addr) = start_coordinator_run_env(&dir, &profile, 2, &[], &env)?;
    let _a = start_agent(&dir, &addr, "agent-a", "client", &[])?;
    let _b = start_agent(&dir, &addr, "agent-b", "client", &[])?;
    assert!(
        coord.wait(Duration::from_secs(60))?.success(),
        "see {}",
        dir.join("coordinator.log").display()
    );
    let run = run_dir(&dir)?;
    let run_id = run.file_name().unwrap().to_string_lossy().to_string();
    assert!(
        run_id.starts_with("e2e-"),
        "local_storage.report_file_prefix starts the run id: {run_id}"
    );
    let mut files = Vec::new();
    files_under(&run, "", &mut files)?;
    files.sort();
    let objects = objects.lock().unwrap();
    let names: Vec<&String> = objects.keys().collect();
    let base = names
        .first()
        .map(|n| n.split(&run_id).next().unwrap().to_string())
        .unwrap_or_default();
    // bench/<YYYYMMDD-HHMMSS>/<run id>/...
    assert!(
        base.starts_with("bench/") && base.len() == "bench/20261203-103005/".len(),
        "{names:?}"
    );
    let expected: Vec<String> = files
        .iter()
        .map(|f| format!("{base}{run_id}/{f}"))
        .collect();
    assert_eq!(
        names,
        expected.iter().collect::<Vec<_>>(),
        "every file of the run directory, once"
    );
    assert_eq!(
        objects[&format!("{base}{run_id}/stage-0/report.json")],
        std::fs::read(run.join("stage-0/report.json"))?
    );
    let out = coord.stdout().join("\n");
    assert!(
        out.contains(&format!("uploaded: {} files (", files.len()))
            && out.contains(&format!("to gs://e2e-results/{base}{run_id}/")),
        "{out}"
    );
    Ok(())
}

#[test]
fn a_run_whose_bucket_is_not_there_is_refused_before_any_load() -> anyhow::Result<()> {
    let dir = scratch("ip_storage_missing");
    let (_sim, sim, truth) = sim_with_truth(&dir)?;
    let (gcs, objects) = fake_gcs("another-bucket")?;
    let profile = storage_profile(
        &dir,
        &sim,
        "storage: {google_cloud_storage: {bucket_name: e2e-results}}\n",
    );
    let env = [("STORAGE_EMULATOR_HOST", gcs.as_str())];
    let (mut coord, addr) = start_coordinator_run_env(&dir, &profile, 1, &[], &env)?;
    let _a = start_agent(&dir, &addr, "agent-a", "client", &[])?;
    let status = coord.wait(Duration::from_secs(30))?;
    let log = std::fs::read_to_string(dir.join("coordinator.log"))?;
    assert!(!status.success(), "{log}");
    assert!(
        log.contains("storage.google_cloud_storage: GCS bucket \"e2e-results\" does not exist"),
        "{log}"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        truth_records(&truth)?.len(),
        0,
        "no request reached the server"
    );
    assert!(objects.lock().unwrap().is_empty());
    Ok(())
}
