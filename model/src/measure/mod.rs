//! What agents measure and coordinators merge: one HDR histogram per metric of
//! `docs/metrics.md` plus counters, for one interval of one shard. Merging is histogram addition
//! and counter sums, so merged percentiles are as exact as one agent's.

/// The goodput objectives a request must meet to count as good.
pub mod goodput;
pub(crate) mod hdr_v2;

use hdrhistogram::Histogram;
use std::collections::BTreeMap;

/// The distributions of `docs/metrics.md`. Latencies are microseconds (per token for the
/// per-token ones); lengths are tokens; a request's body and media are bytes, pixels, frames,
/// milliseconds, and aspect ratios in thousandths (inference-perf's payload statistics).
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
    /// Bytes of an ok request's body.
    RequestBytes,
    /// Images of an ok request (stages with media only, zeros included).
    ImagesPerRequest,
    /// Pixels of one image sent.
    ImagePixels,
    /// Encoded bytes of one image sent (before base64).
    ImageBytes,
    /// Width / height of one image sent, thousandths.
    ImageAspectMilli,
    /// Videos of an ok request (stages with media only, zeros included).
    VideosPerRequest,
    /// Frames of one video sent.
    VideoFrames,
    /// Pixels of one frame of a video sent.
    VideoPixels,
    /// Encoded bytes of one video sent, all frames (before base64).
    VideoBytes,
    /// Width / height of one video sent, thousandths.
    VideoAspectMilli,
    /// Audio clips of an ok request (stages with media only, zeros included).
    AudiosPerRequest,
    /// Duration of one clip sent, ms.
    AudioMillis,
    /// Encoded bytes of one clip sent (a WAV file, before base64).
    AudioBytes,
}

/// How many metrics there are.
const METRICS: usize = 21;

impl Metric {
    /// Every metric, in the order snapshots list them.
    pub const ALL: [Metric; METRICS] = [
        Metric::Ttft,
        Metric::Itl,
        Metric::Tpot,
        Metric::Ntpot,
        Metric::E2e,
        Metric::SendLag,
        Metric::InputTokens,
        Metric::OutputTokens,
        Metric::RequestBytes,
        Metric::ImagesPerRequest,
        Metric::ImagePixels,
        Metric::ImageBytes,
        Metric::ImageAspectMilli,
        Metric::VideosPerRequest,
        Metric::VideoFrames,
        Metric::VideoPixels,
        Metric::VideoBytes,
        Metric::VideoAspectMilli,
        Metric::AudiosPerRequest,
        Metric::AudioMillis,
        Metric::AudioBytes,
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
            Metric::RequestBytes => "request_bytes",
            Metric::ImagesPerRequest => "images_per_request",
            Metric::ImagePixels => "image_pixels",
            Metric::ImageBytes => "image_bytes",
            Metric::ImageAspectMilli => "image_aspect_milli",
            Metric::VideosPerRequest => "videos_per_request",
            Metric::VideoFrames => "video_frames",
            Metric::VideoPixels => "video_pixels",
            Metric::VideoBytes => "video_bytes",
            Metric::VideoAspectMilli => "video_aspect_milli",
            Metric::AudiosPerRequest => "audios_per_request",
            Metric::AudioMillis => "audio_millis",
            Metric::AudioBytes => "audio_bytes",
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
    /// Images, videos and audio clips the ok requests sent (`data.multimodal`).
    pub images: u64,
    /// Videos the ok requests sent.
    pub videos: u64,
    /// Audio clips the ok requests sent.
    pub audios: u64,
    /// Trace-replay sessions (`otel_trace_replay`) that ended with every call ok.
    pub sessions_ok: u64,
    /// Trace-replay sessions in which a call failed (its dependants then are not sent).
    pub sessions_failed: u64,
    /// Calls of failed sessions not sent because a call they depend on failed
    /// (inference-perf's cancelled events).
    pub calls_not_sent: u64,
    /// Ancestors' live replies with malformed tool calls replaced by the recorded messages in
    /// successors' inputs (`bad_tool_call_handling: use_recorded`; inference-perf's
    /// `n_recorded_substitutions`), counted when each session ends.
    pub recorded_substitutions: u64,
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
            (&mut self.images, o.images),
            (&mut self.videos, o.videos),
            (&mut self.audios, o.audios),
            (&mut self.sessions_ok, o.sessions_ok),
            (&mut self.sessions_failed, o.sessions_failed),
            (&mut self.calls_not_sent, o.calls_not_sent),
            (&mut self.recorded_substitutions, o.recorded_substitutions),
        ] {
            *mine = add(*mine, theirs);
        }
        for (k, v) in &o.failures {
            let c = self.failures.entry(k.clone()).or_default();
            *c = add(*c, *v);
        }
    }
}

/// Histograms and counters of one interval (or, merged, of a stage). A metric's histogram is
/// allocated when its first value arrives (about 200 KB each at the common bounds), so an
/// interval pays only for the metrics its requests had.
#[derive(Debug, Clone)]
pub struct Measurements {
    pub(crate) hist: [Option<Box<Histogram<u64>>>; METRICS],
    /// The request counts.
    pub counters: Counters,
}

/// The histogram of a metric nothing was recorded in.
fn empty_histogram() -> &'static Histogram<u64> {
    static EMPTY: std::sync::OnceLock<Histogram<u64>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(new_histogram)
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
            hist: Default::default(),
            counters: Counters::default(),
        }
    }

    /// The histogram of metric `m` (an empty one where nothing was recorded).
    pub fn histogram(&self, m: Metric) -> &Histogram<u64> {
        self.hist[m as usize]
            .as_deref()
            .unwrap_or_else(|| empty_histogram())
    }

    /// The histogram of metric `m` to add to, allocated on first use.
    pub(crate) fn histogram_mut(&mut self, m: Metric) -> &mut Histogram<u64> {
        self.hist[m as usize].get_or_insert_with(|| Box::new(new_histogram()))
    }

    /// Records one value, saturating at the histogram's range.
    pub fn record(&mut self, m: Metric, value: u64) {
        self.histogram_mut(m).saturating_record(value.min(HIGHEST));
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.counters == Counters::default() && self.hist.iter().flatten().all(|h| h.is_empty())
    }

    /// Adds `other` into `self`: histogram addition and counter sums.
    pub fn add(&mut self, other: &Measurements) -> Result<(), MeasureError> {
        for m in Metric::ALL {
            let Some(theirs) = other.hist[m as usize].as_deref() else {
                continue;
            };
            if theirs.is_empty() {
                continue;
            }
            self.histogram_mut(m)
                .add(theirs)
                .map_err(|e| MeasureError::Merge {
                    name: m.name().into(),
                    message: format!("{e:?}"),
                })?;
        }
        self.counters.add(&other.counters);
        Ok(())
    }
}
