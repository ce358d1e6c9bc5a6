//! Prometheus `/metrics` with vLLM's metric names and types. Everything is an atomic, updated
//! by the engine task (queue and cache state) and by the response bodies (latencies and token
//! counts at the moment tokens are sent), and rendered as text on scrape.

use std::fmt::Write as _;

pub(crate) use crate::histogram::Histogram;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

const TTFT_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
];
const ITL_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0,
    40.0, 80.0,
];
const E2E_BUCKETS: &[f64] = &[
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0,
    480.0, 960.0, 1920.0, 7680.0,
];

/// vLLM's buckets of a per-request token count (1-2-5 steps).
const TOKEN_BUCKETS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0, 20000.0,
    50000.0, 100000.0,
];

/// All metrics of one sim instance.
#[derive(Debug)]
pub(crate) struct Metrics {
    model: String,
    /// Whose metric names `render` uses.
    names: crate::cli::MetricNames,
    /// Labels of `vllm:cache_config_info` (engine mode only).
    cache_config: std::sync::OnceLock<String>,
    pub(crate) running: AtomicI64,
    pub(crate) waiting: AtomicI64,
    /// KV cache usage as a fraction 0..=1, f64 bits.
    kv_usage_bits: AtomicU64,
    pub(crate) prefix_queries: AtomicU64,
    pub(crate) prefix_hits: AtomicU64,
    pub(crate) preemptions: AtomicU64,
    pub(crate) prompt_tokens: AtomicU64,
    pub(crate) generation_tokens: AtomicU64,
    pub(crate) success_length: AtomicU64,
    pub(crate) success_stop: AtomicU64,
    pub(crate) aborted: AtomicU64,
    pub(crate) ttft: Histogram,
    pub(crate) itl: Histogram,
    pub(crate) e2e: Histogram,
    /// P/D figures (`pd_metrics.rs`): prefill and decode time, prompt tokens computed, KV
    /// received from a prefill instance.
    pub(crate) pd: crate::pd_metrics::PdMetrics,
}

impl Metrics {
    pub(crate) fn new(model: &str) -> Self {
        Metrics {
            model: model.to_string(),
            names: crate::cli::MetricNames::Vllm,
            cache_config: std::sync::OnceLock::new(),
            running: AtomicI64::new(0),
            waiting: AtomicI64::new(0),
            kv_usage_bits: AtomicU64::new(0f64.to_bits()),
            prefix_queries: AtomicU64::new(0),
            prefix_hits: AtomicU64::new(0),
            preemptions: AtomicU64::new(0),
            prompt_tokens: AtomicU64::new(0),
            generation_tokens: AtomicU64::new(0),
            success_length: AtomicU64::new(0),
            success_stop: AtomicU64::new(0),
            aborted: AtomicU64::new(0),
            ttft: Histogram::new(TTFT_BUCKETS),
            itl: Histogram::new(ITL_BUCKETS),
            e2e: Histogram::new(E2E_BUCKETS),
            pd: crate::pd_metrics::PdMetrics::new(E2E_BUCKETS, TOKEN_BUCKETS),
        }
    }

    /// Exports `vllm:cache_config_info` (an info gauge, value 1, the KV cache configuration in
    /// its labels) as vLLM does.
    pub(crate) fn set_cache_config(
        &self,
        block_size: u32,
        num_gpu_blocks: u32,
        prefix_caching: bool,
    ) {
        let caching = if prefix_caching { "True" } else { "False" };
        let _ = self.cache_config.set(format!(
            "block_size=\"{block_size}\",cache_dtype=\"auto\",enable_prefix_caching=\"{caching}\",num_cpu_blocks=\"0\",num_gpu_blocks=\"{num_gpu_blocks}\""
        ));
    }

    pub(crate) fn set_kv_usage(&self, fraction: f64) {
        self.kv_usage_bits.store(fraction.to_bits(), Relaxed);
    }

    pub(crate) fn kv_usage(&self) -> f64 {
        f64::from_bits(self.kv_usage_bits.load(Relaxed))
    }

    /// Counts a finished request by its finish reason.
    pub(crate) fn finished(&self, finish_reason: &str) {
        match finish_reason {
            "length" => &self.success_length,
            "stop" => &self.success_stop,
            _ => &self.aborted,
        }
        .fetch_add(1, Relaxed);
    }

    /// Renders with another engine's names (`--metric-names`).
    pub(crate) fn with_names(mut self, names: crate::cli::MetricNames) -> Self {
        self.names = names;
        self
    }

    /// llama.cpp's `llama-server --metrics` names (no labels), the quantities the sim has.
    fn render_llamacpp(&self) -> String {
        let mut out = String::with_capacity(2048);
        let mut one = |name: &str, kind: &str, help: &str, v: String| {
            let _ = writeln!(
                out,
                "# HELP llamacpp:{name} {help}\n# TYPE llamacpp:{name} {kind}\nllamacpp:{name} {v}"
            );
        };
        let prompt = self
            .prompt_tokens
            .load(Relaxed)
            .max(self.prefix_queries.load(Relaxed));
        one(
            "prompt_tokens_total",
            "counter",
            "Number of prompt tokens processed.",
            prompt.to_string(),
        );
        one(
            "prompt_tokens_cached_total",
            "counter",
            "Number of prompt tokens taken from the cache.",
            self.prefix_hits.load(Relaxed).to_string(),
        );
        one(
            "tokens_predicted_total",
            "counter",
            "Number of generation tokens processed.",
            self.generation_tokens.load(Relaxed).to_string(),
        );
        one(
            "requests_processing",
            "gauge",
            "Number of requests processing.",
            self.running.load(Relaxed).max(0).to_string(),
        );
        one(
            "requests_deferred",
            "gauge",
            "Number of requests deferred.",
            self.waiting.load(Relaxed).max(0).to_string(),
        );
        out
    }

    /// Text-generation-inference's names, the quantities the sim has.
    fn render_tgi(&self) -> String {
        let mut out = String::with_capacity(2048);
        let mut one = |name: &str, kind: &str, v: String| {
            let _ = writeln!(out, "# TYPE {name} {kind}\n{name} {v}");
        };
        one(
            "tgi_queue_size",
            "gauge",
            self.waiting.load(Relaxed).max(0).to_string(),
        );
        one(
            "tgi_batch_current_size",
            "gauge",
            self.running.load(Relaxed).max(0).to_string(),
        );
        let done = self.success_length.load(Relaxed) + self.success_stop.load(Relaxed);
        one("tgi_request_success", "counter", done.to_string());
        one(
            "tgi_request_count",
            "counter",
            (done + self.aborted.load(Relaxed)).to_string(),
        );
        out
    }

    /// Prometheus text exposition format (version 0.0.4), with the names of `--metric-names`.
    pub(crate) fn render(&self) -> String {
        match self.names {
            crate::cli::MetricNames::Vllm => self.render_vllm(),
            crate::cli::MetricNames::Llamacpp => self.render_llamacpp(),
            crate::cli::MetricNames::Tgi => self.render_tgi(),
        }
    }

    fn render_vllm(&self) -> String {
        let model = self.model.replace('\\', "\\\\").replace('"', "\\\"");
        let labels = format!("model_name=\"{model}\"");
        let mut out = String::with_capacity(8192);
        let mut gauge = |name: &str, help: &str, v: String| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name}{{{labels}}} {v}"
            );
        };
        gauge(
            "vllm:num_requests_running",
            "Number of requests in model execution batches.",
            self.running.load(Relaxed).max(0).to_string(),
        );
        gauge(
            "vllm:num_requests_waiting",
            "Number of requests waiting to be processed.",
            self.waiting.load(Relaxed).max(0).to_string(),
        );
        let kv = format!("{:?}", self.kv_usage());
        gauge(
            "vllm:kv_cache_usage_perc",
            "KV-cache usage. 1 means 100 percent usage.",
            kv.clone(),
        );
        gauge(
            "vllm:gpu_cache_usage_perc",
            "GPU KV-cache usage. 1 means 100 percent usage (deprecated name).",
            kv,
        );
        let mut counter = |name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name}{{{labels}}} {v}"
            );
        };
        counter(
            "vllm:prefix_cache_queries_total",
            "Prefix cache queries, in terms of number of queried tokens.",
            self.prefix_queries.load(Relaxed),
        );
        counter(
            "vllm:prefix_cache_hits_total",
            "Prefix cache hits, in terms of number of cached tokens.",
            self.prefix_hits.load(Relaxed),
        );
        counter(
            "vllm:num_preemptions_total",
            "Cumulative number of preemptions from the engine.",
            self.preemptions.load(Relaxed),
        );
        counter(
            "vllm:prompt_tokens_total",
            "Number of prefill tokens processed.",
            self.prompt_tokens.load(Relaxed),
        );
        counter(
            "vllm:generation_tokens_total",
            "Number of generation tokens processed.",
            self.generation_tokens.load(Relaxed),
        );
        let name = "vllm:request_success_total";
        let _ = writeln!(
            out,
            "# HELP {name} Count of successfully processed requests.\n# TYPE {name} counter"
        );
        for (reason, c) in [
            ("length", &self.success_length),
            ("stop", &self.success_stop),
            ("abort", &self.aborted),
        ] {
            let _ = writeln!(
                out,
                "{name}{{{labels},finished_reason=\"{reason}\"}} {}",
                c.load(Relaxed)
            );
        }
        if let Some(labels) = self.cache_config.get() {
            let name = "vllm:cache_config_info";
            let _ = writeln!(
                out,
                "# HELP {name} Information of the LLMEngine CacheConfig\n# TYPE {name} gauge\n{name}{{{labels}}} 1.0"
            );
        }
        self.ttft.render(
            &mut out,
            "vllm:time_to_first_token_seconds",
            "Histogram of time to first token in seconds.",
            &labels,
        );
        self.itl.render(
            &mut out,
            "vllm:inter_token_latency_seconds",
            "Histogram of inter-token latency in seconds.",
            &labels,
        );
        self.e2e.render(
            &mut out,
            "vllm:e2e_request_latency_seconds",
            "Histogram of e2e request latency in seconds.",
            &labels,
        );
        self.pd.render(&mut out, &labels);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn histogram_is_cumulative() {
        let m = Metrics::new("m");
        m.ttft.observe(Duration::from_millis(3));
        m.ttft.observe_n(Duration::from_secs(5000), 2);
        let text = m.render();
        assert!(text
            .contains("vllm:time_to_first_token_seconds_bucket{model_name=\"m\",le=\"0.005\"} 1"));
        assert!(text
            .contains("vllm:time_to_first_token_seconds_bucket{model_name=\"m\",le=\"+Inf\"} 3"));
        assert_eq!(m.ttft.count(), 3);
    }

    #[test]
    fn llamacpp_and_tgi_names() {
        let m = Metrics::new("m").with_names(crate::cli::MetricNames::Llamacpp);
        m.running.store(2, Relaxed);
        m.prefix_hits.store(32, Relaxed);
        let text = m.render();
        assert!(
            text.contains("\nllamacpp:requests_processing 2\n"),
            "{text}"
        );
        assert!(text.contains("\nllamacpp:prompt_tokens_cached_total 32\n"));
        assert!(!text.contains("vllm:"));
        let m = Metrics::new("m").with_names(crate::cli::MetricNames::Tgi);
        m.waiting.store(3, Relaxed);
        let text = m.render();
        assert!(text.contains("\ntgi_queue_size 3\n"), "{text}");
        assert!(!text.contains("vllm:"));
    }
}
