//! What agents measure and coordinators merge: one HDR histogram per metric of
//! `docs/metrics.md` plus counters, for one interval of one shard. Merging is histogram addition
//! and counter sums, so merged percentiles are as exact as one agent's.

/// The goodput objectives a request must meet to count as good.
pub mod goodput;
pub(crate) mod hdr_v2;

use hdrhistogram::Histogram;
use std::collections::BTreeMap;

/// The distributions of `docs/metrics.md`. Latencies are microseconds (per token for the
/// per-token ones); lengths are tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// Time to first token, µs.
    Ttft,
    /// Inter-token latency, µs.
    Itl,
    /// Time per output token, µs.
    Tpot,
    /// Normalized time per output token (latency / output tokens), µs.
    Ntpot,
    /// Request latency, µs.
    E2e,
    /// Sent − intended, µs (open loop).
    SendLag,
    /// Prompt tokens.
    InputTokens,
    /// Output tokens.
    OutputTokens,
}

impl Metric {
    /// Every metric, in the order snapshots list them.
    pub const ALL: [Metric; 8] = [
        Metric::Ttft,
        Metric::Itl,
        Metric::Tpot,
        Metric::Ntpot,
        Metric::E2e,
        Metric::SendLag,
        Metric::InputTokens,
        Metric::OutputTokens,
    ];

    /// The key on the wire and in stored snapshots.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Ttft => "ttft_us",
            Metric::Itl => "itl_us",
            Metric::Tpot => "tpot_us",
            Metric::Ntpot => "ntpot_us",
            Metric::E2e => "e2e_us",
            Metric::SendLag => "send_lag_us",
            Metric::InputTokens => "input_tokens",
            Metric::OutputTokens => "output_tokens",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// 1 µs to 1 h at 3 significant digits (docs/metrics.md, "Statistics"); token counts share it.
pub(crate) const HIGHEST: u64 = 3_600_000_000;
pub(crate) const SIGFIG: u8 = 3;

/// A histogram with the bounds every metric uses.
pub fn new_histogram() -> Histogram<u64> {
    // The bounds are constants that hdrhistogram accepts.
    Histogram::new_with_bounds(1, HIGHEST, SIGFIG).expect("valid HDR bounds")
}

/// Request counts of an interval. Every request enters `requests`; failures by class.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Requests finished in the interval.
    pub requests: u64,
    /// Requests that succeeded.
    pub ok: u64,
    /// Requests whose stream ended before its end (counted among failures too).
    pub incomplete: u64,
    /// Prompt tokens of ok requests.
    pub input_tokens: u64,
    /// Output tokens of ok requests.
    pub output_tokens: u64,
    /// ok requests whose output count came from the server's `usage`.
    pub tokens_from_usage: u64,
    /// ok requests whose output count was the number of text-carrying chunks.
    pub tokens_from_chunks: u64,
    /// ok requests whose output count was the tokenizer's count of the text.
    pub tokens_from_tokenizer: u64,
    /// Requests whose send was held back by the agent's in-flight cap.
    pub held_back: u64,
    /// Requests sent in the warm-up or cool-down: outside the window, not measured.
    pub outside_window: u64,
    /// The agents' HTTP connections: opened, requests sent on a reused one, requests retried
    /// once on a fresh one, not reused because the server closed them or said so, closed by
    /// the client while idle. Counted over the whole stage (warm-up included).
    pub conn_opened: u64,
    /// Requests sent on a reused connection.
    pub conn_reused: u64,
    /// Requests retried once on a fresh connection.
    pub retries: u64,
    /// Connections not reused because the server closed them or said so.
    pub conn_server_closed: u64,
    /// Connections the client closed while idle.
    pub conn_idle_closed: u64,
    /// ok requests whose `usage` said `prompt_tokens_details.cached_tokens`, the sum of those,
    /// and the prompt tokens of those requests (the client's view of prefix-cache hits).
    pub cache_reported: u64,
    /// The sum of their `cached_tokens`.
    pub cached_tokens: u64,
    /// The prompt tokens of those requests.
    pub cache_prompt_tokens: u64,
    /// ok requests that met every goodput constraint, and their input + output tokens.
    pub good: u64,
    /// Input + output tokens of the good requests.
    pub good_tokens: u64,
    /// `load.request_retries`: attempts sent again after no response.
    pub request_retries: u64,
    /// Requests that needed one or more retries.
    pub retried_requests: u64,
    /// Retried requests that ended ok.
    pub retries_recovered: u64,
    /// Failed requests by class.
    pub failures: BTreeMap<String, u64>,
}

impl Counters {
    /// Failed requests of every class (saturating: counts come from the network).
    pub fn failed(&self) -> u64 {
        self.failures
            .values()
            .fold(0u64, |a, &b| a.saturating_add(b))
    }

    /// Adds `o`, saturating at `u64::MAX` (counts from the network never panic; the
    /// coordinator refuses overflowing ones first with [`Counters::checked_add`]).
    pub fn add(&mut self, o: &Counters) {
        self.fold(o, u64::saturating_add);
    }

    /// `self + o`, or `None` when a counter would overflow.
    pub fn checked_add(&self, o: &Counters) -> Option<Counters> {
        let mut sum = self.clone();
        let mut overflow = false;
        sum.fold(o, |a, b| {
            a.checked_add(b).unwrap_or_else(|| {
                overflow = true;
                u64::MAX
            })
        });
        (!overflow).then_some(sum)
    }

    fn fold(&mut self, o: &Counters, mut add: impl FnMut(u64, u64) -> u64) {
        for (mine, theirs) in [
            (&mut self.requests, o.requests),
            (&mut self.ok, o.ok),
            (&mut self.incomplete, o.incomplete),
            (&mut self.input_tokens, o.input_tokens),
            (&mut self.output_tokens, o.output_tokens),
            (&mut self.tokens_from_usage, o.tokens_from_usage),
            (&mut self.tokens_from_chunks, o.tokens_from_chunks),
            (&mut self.tokens_from_tokenizer, o.tokens_from_tokenizer),
            (&mut self.held_back, o.held_back),
            (&mut self.outside_window, o.outside_window),
            (&mut self.conn_opened, o.conn_opened),
            (&mut self.conn_reused, o.conn_reused),
            (&mut self.retries, o.retries),
            (&mut self.conn_server_closed, o.conn_server_closed),
            (&mut self.conn_idle_closed, o.conn_idle_closed),
            (&mut self.cache_reported, o.cache_reported),
            (&mut self.cached_tokens, o.cached_tokens),
            (&mut self.cache_prompt_tokens, o.cache_prompt_tokens),
            (&mut self.good, o.good),
            (&mut self.good_tokens, o.good_tokens),
            (&mut self.request_retries, o.request_retries),
            (&mut self.retried_requests, o.retried_requests),
            (&mut self.retries_recovered, o.retries_recovered),
        ] {
            *mine = add(*mine, theirs);
        }
        for (k, v) in &o.failures {
            let c = self.failures.entry(k.clone()).or_default();
            *c = add(*c, *v);
        }
    }
}

/// Histograms and counters of one interval (or, merged, of a stage).
#[derive(Debug, Clone)]
pub struct Measurements {
    pub(crate) hist: [Histogram<u64>; 8],
    /// The request counts.
    pub counters: Counters,
}

/// Why a snapshot's measurements were refused.
#[derive(Debug, thiserror::Error)]
pub enum MeasureError {
    /// A histogram is not valid HDR V2.
    #[error("histogram `{name}` does not decode as HDR V2: {message}")]
    Decode {
        /// The histogram's metric name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// A histogram of no known metric.
    #[error("unknown histogram `{0}`")]
    Unknown(String),
    /// A histogram does not fit the stage histogram.
    #[error("histogram `{name}` cannot be merged: {message}")]
    Merge {
        /// The histogram's metric name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// The counters are inconsistent.
    #[error("counters: {0}")]
    Counters(String),
}

impl Default for Measurements {
    fn default() -> Self {
        Self::new()
    }
}

impl Measurements {
    /// Empty histograms and zero counters.
    pub fn new() -> Self {
        Measurements {
            hist: std::array::from_fn(|_| new_histogram()),
            counters: Counters::default(),
        }
    }

    /// The histogram of metric `m`.
    pub fn histogram(&self, m: Metric) -> &Histogram<u64> {
        &self.hist[m as usize]
    }

    /// Records one value, saturating at the histogram's range.
    pub fn record(&mut self, m: Metric, value: u64) {
        self.hist[m as usize].saturating_record(value.min(HIGHEST));
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.counters == Counters::default() && self.hist.iter().all(|h| h.is_empty())
    }

    /// Adds `other` into `self`: histogram addition and counter sums.
    pub fn add(&mut self, other: &Measurements) -> Result<(), MeasureError> {
        for m in Metric::ALL {
            self.hist[m as usize]
                .add(&other.hist[m as usize])
                .map_err(|e| MeasureError::Merge {
                    name: m.name().into(),
                    message: format!("{e:?}"),
                })?;
        }
        self.counters.add(&other.counters);
        Ok(())
    }
}
