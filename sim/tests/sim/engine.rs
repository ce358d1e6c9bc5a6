//! Engine mode: latency rises and throughput saturates with load, prefix caching lowers TTFT,
//! preemption keeps exact lengths, drawn lengths respect min/max.

use std::time::Duration;

use tokio::time::Instant;

use crate::support::{card_file, completion, mean, post, sample, scrape, words, Sim};

/// A small, slow engine so that queueing shows within a second of load.
fn test_card(name: &str, seqs: u32, blocks: u32, prefill_us: u32) -> std::path::PathBuf {
    card_file(
        name,
        &format!(
            "name: {name}\nsource: test\nmax_num_seqs: {seqs}\nmax_num_batched_tokens: 512\n\
             max_model_len: 4096\nblock_size: 16\nnum_gpu_blocks: {blocks}\n\
             step:\n  base_us: 4000\n  prefill_us_per_token: {prefill_us}\n  decode_us_per_seq: 1000\n\
             output_len_mean: 8\n"
        ),
    )
}

struct StageResult {
    mean_ttft: f64,
    mean_itl: f64,
    tokens_per_s: f64,
}

/// Closed loop: `users` users each send `per_user` streamed requests one after another.
async fn stage(sim: &Sim, users: usize, per_user: usize, tag: &str) -> StageResult {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for u in 0..users {
        let addr = sim.addr;
        let tag = format!("{tag}u{u}r");
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for r in 0..per_user {
                let prompt = words(&format!("{tag}{r}w"), 64);
                let rep = post(addr, "/v1/completions", &completion(&prompt, 16, ""), &[]).await;
                let toks = rep.token_events();
                assert_eq!(toks.len(), 16);
                let ttft = (toks[0].at - rep.sent_at).as_secs_f64();
                let itl = (toks[15].at - toks[0].at).as_secs_f64() / 15.0;
                out.push((ttft, itl));
            }
            out
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("user task"));
    }
    let wall = start.elapsed().as_secs_f64();
    let ttfts: Vec<f64> = all.iter().map(|x| x.0).collect();
    let itls: Vec<f64> = all.iter().map(|x| x.1).collect();
    StageResult {
        mean_ttft: mean(&ttfts),
        mean_itl: mean(&itls),
        tokens_per_s: (all.len() * 16) as f64 / wall,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rising_load_raises_latency_and_saturates_throughput() {
    let card = test_card("sweep", 8, 4000, 50);
    let sim = Sim::start(&["serve", "--card", card.to_str().unwrap()]);
    let mut results = Vec::new();
    for (i, users) in [1usize, 8, 32].into_iter().enumerate() {
        let r = tokio::time::timeout(
            Duration::from_secs(30),
            stage(&sim, users, 2, &format!("s{i}")),
        )
        .await
        .expect("stage finished in time");
        eprintln!(
            "users {users}: ttft {:.1} ms, itl {:.1} ms, {:.0} tok/s",
            r.mean_ttft * 1e3,
            r.mean_itl * 1e3,
            r.tokens_per_s
        );
        results.push(r);
    }
    let (a, b, c) = (&results[0], &results[1], &results[2]);
    assert!(b.mean_ttft > a.mean_ttft, "TTFT rises 1 -> 8 users");
    assert!(c.mean_ttft > b.mean_ttft, "TTFT rises 8 -> 32 users");
    assert!(b.mean_itl > a.mean_itl, "ITL rises 1 -> 8 users");
    assert!(
        c.mean_itl > b.mean_itl * 0.9,
        "ITL does not fall 8 -> 32 users"
    );
    assert!(
        b.tokens_per_s > 2.0 * a.tokens_per_s,
        "batching raises throughput"
    );
    assert!(
        c.tokens_per_s < 1.5 * b.tokens_per_s,
        "throughput saturates beyond max_num_seqs"
    );
    let m = scrape(sim.addr).await;
    assert_eq!(sample(&m, "vllm:num_requests_running"), 0.0);
    assert_eq!(
        sample(&m, "vllm:generation_tokens_total"),
        ((1 + 8 + 32) * 2 * 16) as f64
    );
}

#[tokio::test]
async fn shared_prefix_hits_cache_and_lowers_ttft() {
    let card = test_card("prefix", 8, 4000, 100);
    let sim = Sim::start(&["serve", "--card", card.to_str().unwrap()]);
    let shared = words("shared", 256);
    let ttft = |v: &mut Vec<f64>, r: &crate::support::Reply| {
        let t = r.token_events();
        assert_eq!(t.len(), 2);
        v.push((t[0].at - r.sent_at).as_secs_f64());
    };
    let mut unshared_ttft = Vec::new();
    for i in 0..8 {
        let prompt = words(&format!("u{i}x"), 264);
        let r = post(
            sim.addr,
            "/v1/completions",
            &completion(&prompt, 2, ""),
            &[],
        )
        .await;
        ttft(&mut unshared_ttft, &r);
    }
    let m = scrape(sim.addr).await;
    assert_eq!(sample(&m, "vllm:prefix_cache_hits_total"), 0.0);
    let mut shared_ttft = Vec::new();
    for i in 0..8 {
        let prompt = format!("{shared} {}", words(&format!("s{i}x"), 8));
        let r = post(
            sim.addr,
            "/v1/completions",
            &completion(&prompt, 2, ""),
            &[],
        )
        .await;
        ttft(&mut shared_ttft, &r);
    }
    let m = scrape(sim.addr).await;
    let hits = sample(&m, "vllm:prefix_cache_hits_total");
    let queries = sample(&m, "vllm:prefix_cache_queries_total");
    eprintln!(
        "unshared ttft {:.1} ms, shared {:.1} ms, hits {hits}/{queries}",
        mean(&unshared_ttft) * 1e3,
        mean(&shared_ttft) * 1e3
    );
    // The first shared request fills the cache; the 7 others hit 256 tokens each.
    assert_eq!(hits, 7.0 * 256.0);
    assert_eq!(queries, 16.0 * 264.0);
    assert!(mean(&shared_ttft) < mean(&unshared_ttft));
}

#[tokio::test]
async fn preemption_keeps_exact_lengths_and_drawn_lengths_respect_bounds() {
    // 40 blocks = 640 tokens of KV; 8 requests of 64 + 64 tokens need 64 blocks.
    let card = test_card("preempt", 8, 40, 1);
    let sim = Sim::start(&["serve", "--card", card.to_str().unwrap(), "--seed", "3"]);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let addr = sim.addr;
        tasks.push(tokio::spawn(async move {
            let prompt = words(&format!("p{i}w"), 64);
            post(addr, "/v1/completions", &completion(&prompt, 64, ""), &[]).await
        }));
    }
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.token_events().len(), 64);
    }
    let m = scrape(sim.addr).await;
    assert!(sample(&m, "vllm:num_preemptions_total") > 0.0);
    assert_eq!(sample(&m, "vllm:kv_cache_usage_perc"), 0.0);

    // Without ignore_eos the length is drawn (mean 8 in this card) within min..=max.
    let mut stops = 0;
    for i in 0..12 {
        let body =
            format!(r#"{{"prompt":"draw {i}","max_tokens":20,"min_tokens":3,"stream":true}}"#);
        let r = post(sim.addr, "/v1/completions", &body, &[]).await;
        let n = r.token_events().len();
        assert!((3..=20).contains(&n), "{n}");
        let ev = r.events();
        let last: serde_json::Value = serde_json::from_str(&ev[ev.len() - 2].data).unwrap();
        let reason = last["choices"][0]["finish_reason"].as_str().unwrap();
        assert_eq!(reason, if n == 20 { "length" } else { "stop" });
        stops += usize::from(reason == "stop");
    }
    assert!(stops > 0);
}
