//! The engine's Prometheus `/metrics`, scraped over plain HTTP and parsed with a real Prometheus
//! text parser, mapped to fleetbench's names through one table per engine family. A new engine
//! is a new table.

use bytes::Bytes;
use fleetbench_proto::v1 as wire;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use std::time::Duration;

/// Where each fleetbench quantity comes from, per engine: the first name present wins.
struct MetricNames {
    running: &'static [&'static str],
    waiting: &'static [&'static str],
    kv_cache_usage: &'static [&'static str],
    prefix_queries: &'static [&'static str],
    prefix_hits: &'static [&'static str],
    /// A gauge that is itself the hit rate (SGLang), used when queries/hits are absent.
    prefix_hit_rate: &'static [&'static str],
    preemptions: &'static [&'static str],
}

const VLLM: MetricNames = MetricNames {
    running: &["vllm:num_requests_running"],
    waiting: &["vllm:num_requests_waiting"],
    kv_cache_usage: &["vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"],
    prefix_queries: &[
        "vllm:prefix_cache_queries_total",
        "vllm:prefix_cache_queries",
        "vllm:gpu_prefix_cache_queries_total",
    ],
    prefix_hits: &[
        "vllm:prefix_cache_hits_total",
        "vllm:prefix_cache_hits",
        "vllm:gpu_prefix_cache_hits_total",
    ],
    prefix_hit_rate: &[],
    preemptions: &["vllm:num_preemptions_total", "vllm:num_preemptions"],
};

const SGLANG: MetricNames = MetricNames {
    running: &["sglang:num_running_reqs"],
    waiting: &["sglang:num_queue_reqs"],
    kv_cache_usage: &["sglang:token_usage"],
    prefix_queries: &[],
    prefix_hits: &[],
    prefix_hit_rate: &["sglang:cache_hit_rate"],
    preemptions: &["sglang:num_retracted_reqs"],
};

const ENGINES: [&MetricNames; 2] = [&VLLM, &SGLANG];

/// Maps parsed Prometheus text to an engine sample (NaN for what the engine does not export).
/// Series of one name are summed over their labels (several models or ranks on one server).
pub fn map_metrics(url: &str, text: &str) -> wire::EngineSample {
    use prom_text_format_parser::{Scrape, ValueType};
    // A parser that accepts `:` in metric names, as vLLM's and SGLang's use.
    let scrape = Scrape::parse(text).ok();
    let value = |names: &[&str]| -> f64 {
        let Some(scrape) = &scrape else {
            return f64::NAN;
        };
        for name in names {
            let samples = scrape
                .metrics
                .iter()
                .filter(|m| m.name == *name)
                .flat_map(|m| &m.samples)
                .filter(|s| s.value.value_type == ValueType::Sample);
            let mut found = false;
            let mut sum = 0.0;
            for s in samples {
                if let Ok(v) = s.value.value.parse::<f64>() {
                    found = true;
                    sum += v;
                }
            }
            if found {
                return sum;
            }
        }
        f64::NAN
    };
    let blocks = scrape
        .as_ref()
        .and_then(|s| {
            s.metrics
                .iter()
                .filter(|m| m.name == "vllm:cache_config_info")
                .flat_map(|m| &m.samples)
                .flat_map(|s| s.labels.iter())
                .find(|l| l.key == "num_gpu_blocks")
                .and_then(|l| l.value.parse::<f64>().ok())
        })
        .unwrap_or(f64::NAN);
    let names = ENGINES
        .iter()
        .find(|n| !value(n.running).is_nan())
        .copied()
        .unwrap_or(&VLLM);
    let (queries, hits) = {
        let (q, h) = (value(names.prefix_queries), value(names.prefix_hits));
        if q.is_nan() && !names.prefix_hit_rate.is_empty() {
            // A hit-rate gauge: report it as hits per 1 query so the ratio survives.
            let rate = value(names.prefix_hit_rate);
            (if rate.is_nan() { f64::NAN } else { 1.0 }, rate)
        } else {
            (q, h)
        }
    };
    wire::EngineSample {
        url: url.to_string(),
        running: value(names.running),
        waiting: value(names.waiting),
        kv_cache_usage: value(names.kv_cache_usage),
        prefix_cache_queries: queries,
        prefix_cache_hits: hits,
        preemptions: value(names.preemptions),
        kv_cache_blocks: blocks,
    }
}

/// GET `url` (http://HOST:PORT/PATH) and return the body, within `timeout`.
pub async fn fetch(url: &str, timeout: Duration) -> Option<String> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/metrics"),
    };
    let work = async {
        let stream = tokio::net::TcpStream::connect(authority).await.ok()?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .ok()?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let req = http::Request::get(path)
            .header(http::header::HOST, authority)
            .body(Empty::<Bytes>::new())
            .ok()?;
        let resp = sender.send_request(req).await.ok()?;
        if !resp.status().is_success() {
            return None;
        }
        let body = resp.into_body().collect().await.ok()?.to_bytes();
        String::from_utf8(body.to_vec()).ok()
    };
    tokio::time::timeout(timeout, work).await.ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vllm_and_sglang_names_map_to_the_same_quantities() {
        let vllm = "# TYPE vllm:num_requests_running gauge\n\
            vllm:num_requests_running{model_name=\"m\"} 7\n\
            vllm:num_requests_waiting{model_name=\"m\"} 3\n\
            vllm:kv_cache_usage_perc{model_name=\"m\"} 0.25\n\
            vllm:prefix_cache_queries_total{model_name=\"m\"} 100\n\
            vllm:prefix_cache_hits_total{model_name=\"m\"} 40\n\
            vllm:num_preemptions_total{model_name=\"m\"} 2\n";
        let s = map_metrics("u", vllm);
        assert_eq!((s.running, s.waiting, s.kv_cache_usage), (7.0, 3.0, 0.25));
        assert_eq!(
            (s.prefix_cache_queries, s.prefix_cache_hits, s.preemptions),
            (100.0, 40.0, 2.0)
        );
        let sglang =
            "sglang:num_running_reqs{tp_rank=\"0\"} 5\nsglang:num_queue_reqs{tp_rank=\"0\"} 1\n\
            sglang:token_usage{tp_rank=\"0\"} 0.5\nsglang:cache_hit_rate{tp_rank=\"0\"} 0.3\n";
        let s = map_metrics("u", sglang);
        assert_eq!((s.running, s.waiting, s.kv_cache_usage), (5.0, 1.0, 0.5));
        assert_eq!(s.prefix_cache_hits / s.prefix_cache_queries, 0.3);
        let s = map_metrics("u", "garbage {{{");
        assert!(s.running.is_nan());
    }
}
