//! The P/D figures of `/metrics`, with vLLM's names: per finished request its prefill time
//! (arrival to prompt computed / first token: the sim has no separate queue time, so queueing
//! is inside it), its decode time (first to last token), the prompt tokens it really computed
//! (`vllm:request_prefill_kv_computed_tokens`: not taken from the prefix cache nor received
//! from a prefill instance), and on a decode instance the KV it received from a prefill
//! instance (`vllm:external_prefix_cache_*`: tokens; `vllm:nixl_xfer_time_seconds`: the
//! transfer time the proxy waited, passed in the KV handle).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::histogram::Histogram;

/// What one finished request contributes.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PdRecord {
    /// Arrival to prompt computed (prefill role) or to the first token.
    pub(crate) prefill: Option<Duration>,
    /// First to last token (0 for one token).
    pub(crate) decode: Option<Duration>,
    /// Prompt tokens computed here.
    pub(crate) computed_prompt_tokens: u32,
    /// Prompt tokens whose KV came from a prefill instance, and the transfer time.
    pub(crate) kv_received: Option<(u32, Duration)>,
}

#[derive(Debug)]
pub(crate) struct PdMetrics {
    prefill_time: Histogram,
    decode_time: Histogram,
    computed: Histogram,
    external_queries: AtomicU64,
    external_hits: AtomicU64,
    xfer_time: Histogram,
}

impl PdMetrics {
    pub(crate) fn new(seconds: &'static [f64], tokens: &'static [f64]) -> Self {
        PdMetrics {
            prefill_time: Histogram::new(seconds),
            decode_time: Histogram::new(seconds),
            computed: Histogram::of_counts(tokens),
            external_queries: AtomicU64::new(0),
            external_hits: AtomicU64::new(0),
            xfer_time: Histogram::new(seconds),
        }
    }

    /// Counts one finished request.
    pub(crate) fn record(&self, r: &PdRecord) {
        if let Some(d) = r.prefill {
            self.prefill_time.observe(d);
        }
        if let Some(d) = r.decode {
            self.decode_time.observe(d);
        }
        self.computed
            .observe_count(u64::from(r.computed_prompt_tokens));
        if let Some((tokens, d)) = r.kv_received {
            self.external_queries.fetch_add(u64::from(tokens), Relaxed);
            self.external_hits.fetch_add(u64::from(tokens), Relaxed);
            self.xfer_time.observe(d);
        }
    }

    pub(crate) fn render(&self, out: &mut String, labels: &str) {
        self.prefill_time.render(
            out,
            "vllm:request_prefill_time_seconds",
            "Histogram of time spent in PREFILL phase for request.",
            labels,
        );
        self.decode_time.render(
            out,
            "vllm:request_decode_time_seconds",
            "Histogram of time spent in DECODE phase for request.",
            labels,
        );
        self.computed.render(
            out,
            "vllm:request_prefill_kv_computed_tokens",
            "Histogram of new KV tokens computed during prefill (excluding cached tokens).",
            labels,
        );
        for (name, help, c) in [
            (
                "vllm:external_prefix_cache_queries_total",
                "External prefix cache queries from KV connector cross-instance cache sharing, in terms of number of queried tokens.",
                &self.external_queries,
            ),
            (
                "vllm:external_prefix_cache_hits_total",
                "External prefix cache hits from KV connector cross-instance cache sharing, in terms of number of cached tokens.",
                &self.external_hits,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name}{{{labels}}} {}",
                c.load(Relaxed)
            );
        }
        self.xfer_time.render(
            out,
            "vllm:nixl_xfer_time_seconds",
            "Histogram of transfer duration for NIXL KV Cache transfers.",
            labels,
        );
    }
}
