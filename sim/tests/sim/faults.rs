//! Every fault kind, by request header and by flag with a seeded rate.

use std::time::Duration;

use serde_json::Value;

use crate::support::{completion, post, Sim};

fn sim() -> Sim {
    Sim::start(&[
        "serve",
        "--deterministic",
        "--ttft-ms",
        "5",
        "--itl-ms",
        "2",
    ])
}

async fn with_fault(sim: &Sim, fault: &str) -> crate::support::Reply {
    post(
        sim.addr,
        "/v1/completions",
        &completion("a b c", 10, ""),
        &[("x-fleetbench-fault", fault)],
    )
    .await
}

#[tokio::test]
async fn error_statuses_carry_openai_error_bodies() {
    let sim = sim();
    for (kind, code) in [("http_429", 429), ("http_500", 500), ("http_503", 503)] {
        let r = with_fault(&sim, kind).await;
        assert_eq!(r.status, code, "{kind}");
        let v = r.json();
        assert_eq!(v["error"]["code"], code);
        assert!(v["error"]["message"].as_str().is_some());
        assert!(v["error"]["type"].as_str().is_some());
    }
}

#[tokio::test]
async fn mid_stream_faults() {
    let sim = sim();

    // reset: the connection closes after 4 tokens, without [DONE].
    let r = with_fault(&sim, "reset:4").await;
    assert_eq!(r.status, 200);
    assert!(r.error.is_some(), "body should fail");
    assert_eq!(r.token_events().len(), 4);
    assert!(r.events().iter().all(|e| e.data != "[DONE]"));

    // stall: a gap of at least the stall between two tokens, then all tokens.
    let r = with_fault(&sim, "stall:0.4").await;
    let toks = r.token_events();
    assert_eq!(toks.len(), 10);
    let max_gap = toks.windows(2).map(|w| w[1].at - w[0].at).max().unwrap();
    assert!(max_gap >= Duration::from_millis(390), "{max_gap:?}");
    assert_eq!(r.events().last().unwrap().data, "[DONE]");

    // malformed: one event that is not JSON, the tokens are still all there.
    let r = with_fault(&sim, "malformed").await;
    let bad = r
        .events()
        .iter()
        .filter(|e| e.data != "[DONE]" && serde_json::from_str::<Value>(&e.data).is_err())
        .count();
    assert_eq!(bad, 1);
    assert_eq!(r.token_events().len(), 10);

    // stream_error: an error event mid-stream, then [DONE].
    let r = with_fault(&sim, "stream_error").await;
    let ev = r.events();
    assert_eq!(ev.last().unwrap().data, "[DONE]");
    let err: Value = serde_json::from_str(&ev[ev.len() - 2].data).unwrap();
    assert_eq!(err["error"]["code"], 500);
    assert_eq!(r.token_events().len(), 5);

    // slow_headers: nothing, not even headers, for the delay.
    let r = with_fault(&sim, "slow_headers:0.4").await;
    assert!(r.headers_at - r.sent_at >= Duration::from_millis(390));
    assert_eq!(r.token_events().len(), 10);

    // A bad fault header is a 400.
    let r = with_fault(&sim, "explode").await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn fault_flag_hits_a_seeded_fraction() {
    let gt = std::env::temp_dir().join(format!("sim-gt-faults-{}.jsonl", std::process::id()));
    let sim = Sim::start(&[
        "serve",
        "--deterministic",
        "--fault",
        "http_503",
        "--fault-rate",
        "0.5",
        "--seed",
        "7",
        "--ground-truth",
        gt.to_str().unwrap(),
    ]);
    let mut statuses = Vec::new();
    for _ in 0..20 {
        let r = post(sim.addr, "/v1/completions", &completion("x", 2, ""), &[]).await;
        statuses.push(r.status);
    }
    let failed = statuses.iter().filter(|s| **s == 503).count();
    let ok = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(failed + ok, 20);
    assert!(failed > 0 && ok > 0, "{statuses:?}");
    // Every request has a ground-truth line; the refused ones carry no tokens.
    let lines: Vec<Value> = std::fs::read_to_string(&gt)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 20);
    let empty = lines.iter().filter(|l| l["completion_tokens"] == 0).count();
    assert_eq!(empty, failed);
    let _ = std::fs::remove_file(&gt);

    // Same seed, same choice.
    let again = Sim::start(&[
        "serve",
        "--deterministic",
        "--fault",
        "http_503",
        "--fault-rate",
        "0.5",
        "--seed",
        "7",
    ]);
    let mut statuses2 = Vec::new();
    for _ in 0..20 {
        let r = post(again.addr, "/v1/completions", &completion("x", 2, ""), &[]).await;
        statuses2.push(r.status);
    }
    assert_eq!(statuses, statuses2);
}
