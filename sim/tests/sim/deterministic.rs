//! Deterministic mode: exact token counts, exact timing against the ground-truth log, usage.

use std::time::Duration;

use serde_json::Value;

use crate::support::{completion, get, post, Sim};

#[tokio::test]
async fn timing_matches_ground_truth_and_schedule() {
    let gt = std::env::temp_dir().join(format!("sim-gt-{}.jsonl", std::process::id()));
    let gt_s = gt.to_str().expect("path");
    let sim = Sim::start(&[
        "serve",
        "--deterministic",
        "--ttft-ms",
        "100",
        "--itl-ms",
        "20",
        "--ground-truth",
        gt_s,
    ]);
    let r = post(
        sim.addr,
        "/v1/completions",
        &completion("one two three four", 10, ""),
        &[("x-request-id", "req-timing-1")],
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let toks = r.token_events();
    assert_eq!(toks.len(), 10);
    // Client side: the first token cannot arrive before the TTFT, the last not before
    // ttft + 9 * itl (generous upper bounds only).
    let first = toks[0].at - r.sent_at;
    let last = toks[9].at - r.sent_at;
    assert!(first >= Duration::from_millis(99), "{first:?}");
    assert!(last >= Duration::from_millis(279), "{last:?}");
    assert!(last < Duration::from_secs(3), "{last:?}");

    // Server side: the ground truth follows arrival + ttft + k * itl.
    let text = std::fs::read_to_string(&gt).expect("ground truth");
    let rec: Value = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON line"))
        .find(|v| v["request_id"] == "req-timing-1")
        .expect("record");
    assert_eq!(rec["prompt_tokens"], 4);
    assert_eq!(rec["completion_tokens"], 10);
    let arrival = rec["arrival_unix_us"].as_u64().unwrap();
    let times: Vec<u64> = rec["token_unix_us"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_u64().unwrap())
        .collect();
    assert_eq!(times.len(), 10);
    assert_eq!(rec["first_token_unix_us"].as_u64(), Some(times[0]));
    for (k, t) in times.iter().enumerate() {
        let offset = t - arrival;
        let due = 100_000 + 20_000 * k as u64;
        assert!(offset + 1_000 >= due, "token {k} at {offset} us, due {due}");
        assert!(
            offset < due + 500_000,
            "token {k} at {offset} us, due {due}"
        );
    }
    let _ = std::fs::remove_file(gt);
}

#[tokio::test]
async fn exact_max_tokens_usage_chunk_and_chat_shape() {
    let sim = Sim::start(&[
        "serve",
        "--deterministic",
        "--ttft-ms",
        "0",
        "--itl-ms",
        "0",
    ]);
    // Zero-delay mode, a long stream, usage chunk before [DONE].
    let r = post(
        sim.addr,
        "/v1/completions",
        &completion("a b c", 3000, r#","stream_options":{"include_usage":true}"#),
        &[],
    )
    .await;
    let ev = r.events();
    assert_eq!(r.token_events().len(), 3000);
    assert_eq!(ev.last().unwrap().data, "[DONE]");
    let usage: Value = serde_json::from_str(&ev[ev.len() - 2].data).unwrap();
    assert_eq!(usage["choices"].as_array().unwrap().len(), 0);
    assert_eq!(usage["usage"]["prompt_tokens"], 3);
    assert_eq!(usage["usage"]["completion_tokens"], 3000);
    assert_eq!(usage["usage"]["total_tokens"], 3003);
    let last_tok: Value = serde_json::from_str(&ev[ev.len() - 3].data).unwrap();
    assert_eq!(last_tok["choices"][0]["finish_reason"], "length");

    // Chat: role chunk first, then exactly max_completion_tokens content chunks, no usage.
    let body = r#"{"model":"sim-model","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hello there you"}],"max_completion_tokens":7,"stream":true}"#;
    let r = post(sim.addr, "/v1/chat/completions", body, &[]).await;
    let ev = r.events();
    let first: Value = serde_json::from_str(&ev[0].data).unwrap();
    assert_eq!(first["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(first["object"], "chat.completion.chunk");
    assert_eq!(r.token_events().len(), 7);
    assert_eq!(ev.len(), 1 + 7 + 1);

    // Not streamed: one JSON body with usage.
    let body = r#"{"model":"sim-model","prompt":["x y","z"],"max_tokens":5}"#;
    let r = post(sim.addr, "/v1/completions", body, &[]).await;
    let v = r.json();
    assert_eq!(v["object"], "text_completion");
    assert_eq!(v["usage"]["prompt_tokens"], 3);
    assert_eq!(v["usage"]["completion_tokens"], 5);
    assert_eq!(
        v["choices"][0]["text"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .count(),
        5
    );
}

#[tokio::test]
async fn models_health_lora_and_unknown_model() {
    let sim = Sim::start(&[
        "serve",
        "--deterministic",
        "--model",
        "base",
        "--lora",
        "adapter-a",
        "--lora",
        "adapter-b",
    ]);
    assert_eq!(get(sim.addr, "/health").await.status, 200);
    let m = get(sim.addr, "/v1/models").await.json();
    assert_eq!(m["object"], "list");
    let ids: Vec<&str> = m["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["base", "adapter-a", "adapter-b"]);
    assert!(m["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["owned_by"] == "fleetbench-sim"));
    let ok = post(
        sim.addr,
        "/v1/completions",
        r#"{"model":"adapter-b","prompt":"hi","max_tokens":2,"stream":true}"#,
        &[],
    )
    .await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.token_events().len(), 2);
    let nf = post(
        sim.addr,
        "/v1/completions",
        r#"{"model":"nope","prompt":"hi","max_tokens":2}"#,
        &[],
    )
    .await;
    assert_eq!(nf.status, 404);
    assert_eq!(nf.json()["error"]["code"], 404);
    assert_eq!(nf.json()["error"]["type"], "NotFoundError");
}

/// `--framing per-event` writes every SSE event as its own HTTP chunk even at zero delay (as
/// real engines stream); `--framing batched` (auto at zero delay) writes all ready tokens in one.
#[tokio::test]
async fn per_event_framing_sends_one_event_per_chunk_at_zero_delay() {
    let events_per_frame = |framing: &'static str| async move {
        let sim = Sim::start(&["serve", "--deterministic", "--framing", framing]);
        let r = post(
            sim.addr,
            "/v1/completions",
            &completion(
                "one two three",
                16,
                r#","stream_options":{"include_usage":true}"#,
            ),
            &[],
        )
        .await;
        assert_eq!(r.status, 200);
        assert_eq!(r.token_events().len(), 16);
        r.frames
            .iter()
            .map(|(_, b)| String::from_utf8_lossy(b).matches("data: ").count())
            .collect::<Vec<_>>()
    };
    let per_event = events_per_frame("per-event").await;
    // 16 tokens, the usage chunk and [DONE]: one event in every chunk.
    assert_eq!(per_event, vec![1; 18], "{per_event:?}");
    let batched = events_per_frame("batched").await;
    assert_eq!(batched.iter().sum::<usize>(), 18, "{batched:?}");
    assert!(
        batched.len() < 18,
        "batched framing merges events: {batched:?}"
    );
}
