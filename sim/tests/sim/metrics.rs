//! `/metrics` parses as Prometheus text with vLLM's names and types.

use prom_text_format_parser::{Type, ValueType};

use crate::support::{completion, post, sample, scrape, Sim};

#[tokio::test]
async fn metrics_parse_with_vllm_names_and_types() {
    for args in [
        vec![
            "serve",
            "--deterministic",
            "--ttft-ms",
            "1",
            "--itl-ms",
            "1",
            "--model",
            "m1",
        ],
        vec!["serve", "--model", "m1"],
    ] {
        let sim = Sim::start(&args);
        for _ in 0..3 {
            let r = post(
                sim.addr,
                "/v1/completions",
                r#"{"model":"m1","prompt":"a b c d","max_tokens":4,"ignore_eos":true,"stream":true}"#,
                &[],
            )
            .await;
            assert_eq!(r.token_events().len(), 4);
        }
        let m = scrape(sim.addr).await;
        let kind = |name: &str| m.metric(name).kind;
        for metric in m.0.iter().filter(|m| m.name != "vllm:cache_config_info") {
            for s in &metric.samples {
                assert!(
                    s.labels
                        .iter()
                        .any(|l| l.key == "model_name" && l.value == "m1"),
                    "{}",
                    metric.name
                );
            }
        }
        for g in [
            "vllm:num_requests_running",
            "vllm:num_requests_waiting",
            "vllm:kv_cache_usage_perc",
            "vllm:gpu_cache_usage_perc",
        ] {
            assert_eq!(kind(g), Type::Gauge, "{g}");
        }
        for c in [
            "vllm:prefix_cache_queries_total",
            "vllm:prefix_cache_hits_total",
            "vllm:num_preemptions_total",
            "vllm:prompt_tokens_total",
            "vllm:generation_tokens_total",
        ] {
            assert_eq!(kind(c), Type::Counter, "{c}");
        }
        for h in [
            "vllm:time_to_first_token_seconds",
            "vllm:inter_token_latency_seconds",
            "vllm:e2e_request_latency_seconds",
        ] {
            assert_eq!(kind(h), Type::Histogram, "{h}");
            let samples = &m.metric(h).samples;
            let count = samples
                .iter()
                .find(|s| s.value.value_type == ValueType::Count)
                .expect("_count")
                .value
                .value
                .as_f64();
            let inf = samples
                .iter()
                .find(|s| s.labels.iter().any(|l| l.key == "le" && l.value == "+Inf"))
                .expect("+Inf bucket")
                .value
                .value
                .as_f64();
            let expect = if h.contains("inter_token") { 9.0 } else { 3.0 };
            assert_eq!(count, expect, "{h}");
            assert_eq!(inf, expect, "{h}");
        }
        if args.contains(&"--deterministic") {
            assert!(m.0.iter().all(|x| x.name != "vllm:cache_config_info"));
        } else {
            // vLLM's info gauge with the KV cache configuration (the built-in card's numbers).
            let info = m.metric("vllm:cache_config_info");
            assert_eq!(info.kind, Type::Gauge);
            let label = |k: &str| {
                info.samples[0]
                    .labels
                    .iter()
                    .find(|l| l.key == k)
                    .map(|l| l.value.clone())
            };
            assert_eq!(label("num_gpu_blocks").as_deref(), Some("25000"));
            assert_eq!(label("block_size").as_deref(), Some("16"));
        }
        assert_eq!(sample(&m, "vllm:prompt_tokens_total"), 12.0);
        assert_eq!(sample(&m, "vllm:generation_tokens_total"), 12.0);
        assert_eq!(sample(&m, "vllm:num_requests_running"), 0.0);
    }
}

#[tokio::test]
async fn deterministic_mode_reports_running_requests() {
    let sim = Sim::start(&[
        "serve",
        "--deterministic",
        "--ttft-ms",
        "1500",
        "--itl-ms",
        "1",
    ]);
    let addr = sim.addr;
    let inflight =
        tokio::spawn(
            async move { post(addr, "/v1/completions", &completion("a", 2, ""), &[]).await },
        );
    let mut seen = 0.0;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        seen = sample(&scrape(sim.addr).await, "vllm:num_requests_running");
        if seen == 1.0 {
            break;
        }
    }
    assert_eq!(seen, 1.0);
    assert_eq!(inflight.await.unwrap().token_events().len(), 2);
    assert_eq!(
        sample(&scrape(sim.addr).await, "vllm:num_requests_running"),
        0.0
    );
}
