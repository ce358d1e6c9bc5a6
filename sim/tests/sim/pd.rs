//! P/D disaggregation: prefill and decode roles behind `sim proxy`.

use std::time::Duration;

use crate::support::{completion, post, sample, scrape, words, Sim};

#[tokio::test]
async fn proxy_returns_exact_tokens_and_ttft_includes_transfer() {
    // Prefill takes 100 ms, the transfer 2 ms/token * 50 tokens = 100 ms, decode 10 ms/token.
    let prefill = Sim::start(&[
        "serve",
        "--role",
        "prefill",
        "--deterministic",
        "--ttft-ms",
        "100",
    ]);
    let decode = Sim::start(&[
        "serve",
        "--role",
        "decode",
        "--deterministic",
        "--ttft-ms",
        "500",
        "--itl-ms",
        "10",
    ]);
    let proxy = Sim::start(&[
        "proxy",
        "--prefill",
        &prefill.url(),
        "--decode",
        &decode.url(),
        "--kv-transfer-us-per-token",
        "2000",
    ]);
    let r = post(
        proxy.addr,
        "/v1/completions",
        &completion(
            &words("w", 50),
            12,
            r#","stream_options":{"include_usage":true}"#,
        ),
        &[],
    )
    .await;
    assert_eq!(r.status, 200);
    let toks = r.token_events();
    assert_eq!(toks.len(), 12);
    let ttft = toks[0].at - r.sent_at;
    // 100 ms prefill + 100 ms transfer + one 10 ms decode gap; the decode instance's own
    // 500 ms TTFT is not paid because the KV arrived with the request.
    assert!(ttft >= Duration::from_millis(209), "{ttft:?}");
    assert!(ttft < Duration::from_millis(500), "{ttft:?}");
    let ev = r.events();
    let usage: serde_json::Value = serde_json::from_str(&ev[ev.len() - 2].data).unwrap();
    assert_eq!(usage["usage"]["completion_tokens"], 12);
    assert_eq!(usage["usage"]["prompt_tokens"], 50);

    // The prefill instance alone: no tokens, usage with completion_tokens 0 and a KV handle.
    let p = post(
        prefill.addr,
        "/v1/completions",
        r#"{"prompt":"a b c","max_tokens":5}"#,
        &[],
    )
    .await;
    let v = p.json();
    assert_eq!(v["usage"]["completion_tokens"], 0);
    assert_eq!(v["usage"]["prompt_tokens"], 3);
    assert_eq!(v["kv_transfer_params"]["do_remote_prefill"], true);
}

#[tokio::test]
async fn several_engine_instances_per_role_round_robin() {
    let p1 = Sim::start(&["serve", "--role", "prefill"]);
    let p2 = Sim::start(&["serve", "--role", "prefill"]);
    let d1 = Sim::start(&["serve", "--role", "decode"]);
    let d2 = Sim::start(&["serve", "--role", "decode"]);
    let proxy = Sim::start(&[
        "proxy",
        "--prefill",
        &p1.url(),
        &p2.url(),
        "--decode",
        &d1.url(),
        &d2.url(),
    ]);
    for i in 0..4 {
        let body = format!(
            r#"{{"messages":[{{"role":"user","content":"{}"}}],"max_tokens":9,"ignore_eos":true,"stream":true}}"#,
            words(&format!("c{i}w"), 40)
        );
        let r = post(proxy.addr, "/v1/chat/completions", &body, &[]).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.token_events().len(), 9);
    }
    let models = crate::support::get(proxy.addr, "/v1/models").await.json();
    assert_eq!(models["data"][0]["id"], "sim-model");
    for s in [&p1, &p2] {
        let m = scrape(s.addr).await;
        assert_eq!(sample(&m, "vllm:generation_tokens_total"), 0.0);
        assert_eq!(sample(&m, "vllm:prefix_cache_queries_total"), 80.0);
    }
    for s in [&d1, &d2] {
        let m = scrape(s.addr).await;
        assert_eq!(sample(&m, "vllm:generation_tokens_total"), 18.0);
        // Transferred KV is not prefilled again, so nothing is looked up in the cache.
        assert_eq!(sample(&m, "vllm:prefix_cache_queries_total"), 0.0);
    }
}
