//! Recording: each finished request is turned into the metrics of `docs/metrics.md` and added to
//! the current interval's measurements; the snapshot cutter swaps the interval out at each
//! boundary. The lock is taken once per request (never per chunk).

use crate::breaker::BreakerWatch;
use crate::media::MediaSent;
use crate::request::{Failure, RequestRecord, TokenSource};
use fleetbench_model::measure::goodput::{GoodputSlo, RequestTimes};
use fleetbench_model::measure::{Measurements, Metric};
use fleetbench_model::spec::Window;
use fleetbench_proto::v1 as wire;
use std::sync::Mutex;
use std::time::Instant;

/// What one interval recorded.
#[derive(Debug, Default)]
pub struct Interval {
    /// The interval's histograms and counters.
    pub measurements: Measurements,
    /// The telemetry sampled during the interval.
    pub samples: Vec<wire::TelemetrySample>,
    /// Per-request records (when the profile asks for them), bounded per interval.
    pub requests: Vec<wire::RequestRecord>,
    /// Per failure class, the first error body of the interval.
    pub error_bodies: std::collections::HashMap<String, String>,
}

/// Turns finished requests into per-interval measurements; shared by a stage's request tasks.
#[derive(Debug)]
pub struct Recorder {
    inner: Mutex<Inner>,
    start: Instant,
    window: Window,
    /// `start` in Unix ns of the agent's clock, when per-request records are kept.
    keep_requests_from: Option<i64>,
    /// The profile's goodput limits: requests meeting them are counted as good.
    goodput: Option<GoodputSlo>,
    /// The shard's circuit breakers, fed every finished request (warm-up included).
    breakers: Option<BreakerWatch>,
}

#[derive(Debug, Default)]
struct Inner {
    current: Measurements,
    samples: Vec<fleetbench_proto::v1::TelemetrySample>,
    requests: Vec<wire::RequestRecord>,
    error_bodies: std::collections::HashMap<String, String>,
    last_end: Option<Instant>,
}

/// An ok request's media: how many of each kind (zeros included) and each one's size.
fn record_media(m: &mut Measurements, sent: &MediaSent) {
    let per_request = [
        (Metric::ImagesPerRequest, sent.images.len()),
        (Metric::VideosPerRequest, sent.videos.len()),
        (Metric::AudiosPerRequest, sent.audios.len()),
    ];
    for (metric, n) in per_request {
        m.record(metric, n as u64);
    }
    m.counters.images += sent.images.len() as u64;
    m.counters.videos += sent.videos.len() as u64;
    m.counters.audios += sent.audios.len() as u64;
    for p in &sent.images {
        m.record(Metric::ImagePixels, p.pixels);
        m.record(Metric::ImageBytes, p.bytes);
        m.record(Metric::ImageAspectMilli, p.aspect_milli);
    }
    for p in &sent.videos {
        m.record(Metric::VideoFrames, u64::from(p.frames));
        m.record(Metric::VideoPixels, p.pixels);
        m.record(Metric::VideoBytes, p.bytes);
        m.record(Metric::VideoAspectMilli, p.aspect_milli);
    }
    for c in &sent.audios {
        m.record(Metric::AudioMillis, u64::from(c.millis));
        m.record(Metric::AudioBytes, c.bytes);
    }
}

fn us(later: Instant, earlier: Instant) -> u64 {
    later.saturating_duration_since(earlier).as_micros() as u64
}

impl Recorder {
    /// Requests intended in `window` (seconds from `start`) are measured; the others counted.
    pub fn new(start: Instant, window: Window) -> Self {
        Recorder {
            inner: Mutex::default(),
            start,
            window,
            keep_requests_from: None,
            goodput: None,
            breakers: None,
        }
    }

    /// Counts the ok requests that meet `slo` (`Counters::good`).
    pub(crate) fn with_goodput(mut self, slo: Option<GoodputSlo>) -> Self {
        self.goodput = slo;
        self
    }

    /// Feeds every finished request to the shard's circuit breakers.
    pub(crate) fn with_breakers(mut self, breakers: BreakerWatch) -> Self {
        self.breakers = Some(breakers);
        self
    }

    /// The circuit breaker trip that stopped the shard, if one tripped.
    pub(crate) fn breaker_trip(&self) -> Option<fleetbench_proto::v1::BreakerTrip> {
        self.breakers.as_ref().and_then(BreakerWatch::tripped)
    }

    /// Also keep one record per request (`requests.jsonl`); `start_unix_ns` is the stage start
    /// in the agent's clock, to turn monotonic instants into Unix times.
    pub(crate) fn keeping_requests(mut self, start_unix_ns: i64) -> Self {
        self.keep_requests_from = Some(start_unix_ns);
        self
    }

    fn request_line(
        &self,
        r: &RequestRecord,
        start_unix_ns: i64,
        in_window: bool,
    ) -> wire::RequestRecord {
        let unix = |t: Instant| {
            let after = t.saturating_duration_since(self.start).as_nanos() as i64;
            let before = self.start.saturating_duration_since(t).as_nanos() as i64;
            start_unix_ns + after - before
        };
        wire::RequestRecord {
            id: r.id.clone(),
            intended_unix_ns: unix(r.t_intended),
            sent_unix_ns: unix(r.t_sent),
            first_token_unix_ns: r.t_first.map_or(0, unix),
            end_unix_ns: unix(r.t_end),
            input_tokens: r.in_tokens,
            output_tokens: r.out_tokens,
            status: match &r.outcome {
                Ok(()) => "ok".into(),
                Err(f) => f.class(),
            },
            itl_us: r.itl_us.clone(),
            in_window,
        }
    }

    /// Adds one finished request to the interval it ended in (and feeds the circuit breakers).
    pub fn record(&self, r: &RequestRecord) {
        if let Some(b) = &self.breakers {
            b.feed(r);
        }
        let intended_s = r
            .t_intended
            .saturating_duration_since(self.start)
            .as_secs_f64();
        let in_window = self.window.contains(intended_s);
        let line = self
            .keep_requests_from
            .map(|s| self.request_line(r, s, in_window));
        let Ok(mut g) = self.inner.lock() else { return };
        let inner = &mut *g;
        if let Some(line) = line {
            inner.requests.push(line);
        }
        let m = &mut inner.current;
        inner.last_end = Some(inner.last_end.map_or(r.t_end, |t| t.max(r.t_end)));
        if !in_window {
            m.counters.outside_window += 1;
            return;
        }
        m.counters.requests += 1;
        m.record(Metric::SendLag, us(r.t_sent, r.t_intended));
        if r.retries > 0 {
            m.counters.request_retries += u64::from(r.retries);
            m.counters.retried_requests += 1;
            m.counters.retries_recovered += u64::from(r.outcome.is_ok());
        }
        match &r.outcome {
            Err(f) => {
                let class = f.class();
                if let Some(body) = &r.error_body {
                    if !inner.error_bodies.contains_key(&class) {
                        inner.error_bodies.insert(class.clone(), body.clone());
                    }
                }
                *m.counters.failures.entry(class).or_default() += 1;
            }
            Ok(()) => {
                m.counters.ok += 1;
                m.counters.input_tokens += r.in_tokens;
                m.counters.output_tokens += r.out_tokens;
                if let Some(cached) = r.cached_tokens {
                    m.counters.cache_reported += 1;
                    m.counters.cached_tokens += cached;
                    m.counters.cache_prompt_tokens += r.in_tokens;
                }
                match r.token_source {
                    TokenSource::Usage => m.counters.tokens_from_usage += 1,
                    TokenSource::Chunks => m.counters.tokens_from_chunks += 1,
                    TokenSource::Tokenizer => m.counters.tokens_from_tokenizer += 1,
                }
                m.record(Metric::InputTokens, r.in_tokens);
                m.record(Metric::OutputTokens, r.out_tokens);
                m.record(Metric::RequestBytes, r.body_bytes);
                if let Some(media) = &r.media {
                    record_media(m, media);
                }
                let e2e = us(r.t_end, r.t_intended);
                m.record(Metric::E2e, e2e);
                let times = RequestTimes {
                    ttft_us: r.t_first.map(|first| us(first, r.t_intended)),
                    tpot_us: r
                        .t_first
                        .filter(|_| r.out_tokens >= 2)
                        .map(|first| us(r.t_end, first) / (r.out_tokens - 1)),
                    mean_itl_us: (!r.itl_us.is_empty())
                        .then(|| r.itl_us.iter().sum::<u64>() / r.itl_us.len() as u64),
                    ntpot_us: (r.out_tokens >= 1).then(|| e2e / r.out_tokens),
                    e2e_us: e2e,
                };
                if let Some(v) = times.ntpot_us {
                    m.record(Metric::Ntpot, v);
                }
                if let Some(v) = times.ttft_us {
                    m.record(Metric::Ttft, v);
                }
                if let Some(v) = times.tpot_us {
                    m.record(Metric::Tpot, v);
                }
                for &gap in &r.itl_us {
                    m.record(Metric::Itl, gap);
                }
                if self.goodput.is_some_and(|g| g.meets(&times)) {
                    m.counters.good += 1;
                    m.counters.good_tokens += r.in_tokens + r.out_tokens;
                }
            }
        }
    }

    /// Requests abandoned at the end of the grace period.
    pub(crate) fn record_incomplete(&self, n: u64) {
        if let Ok(mut g) = self.inner.lock() {
            g.current.counters.requests += n;
            g.current.counters.incomplete += n;
            *g.current
                .counters
                .failures
                .entry(Failure::Incomplete.class())
                .or_default() += n;
        }
    }

    /// Requests of sessions the stage's timeout cancelled: per session, the round it was
    /// sending or would have sent next (failure class `session_timeout`).
    pub(crate) fn record_session_timeout(&self, n: u64) {
        if let Ok(mut g) = self.inner.lock() {
            g.current.counters.requests += n;
            *g.current
                .counters
                .failures
                .entry(Failure::SessionTimeout.class())
                .or_default() += n;
        }
    }

    /// An open-loop request not sent because it was already more than the agent's
    /// `--max-send-lag` late: counted as a failure of class `client_late` when its intended
    /// time is in the window.
    pub(crate) fn record_client_late(&self, intended: Instant) {
        let intended_s = intended.saturating_duration_since(self.start).as_secs_f64();
        let in_window = self.window.contains(intended_s);
        if let Ok(mut g) = self.inner.lock() {
            let c = &mut g.current.counters;
            if !in_window {
                c.outside_window += 1;
                return;
            }
            c.requests += 1;
            *c.failures.entry(Failure::ClientLate.class()).or_default() += 1;
        }
    }

    /// How a trace-replay session ended: ok when every call was, else failed, with the calls
    /// not sent because one they depend on failed, and the recorded messages sent for
    /// malformed live tool calls.
    pub(crate) fn record_session(&self, failed_calls: u32, not_sent: u32, recorded: u32) {
        if let Ok(mut g) = self.inner.lock() {
            let k = &mut g.current.counters;
            if failed_calls == 0 && not_sent == 0 {
                k.sessions_ok += 1;
            } else {
                k.sessions_failed += 1;
            }
            k.calls_not_sent += u64::from(not_sent);
            k.recorded_substitutions += u64::from(recorded);
        }
    }

    /// Adds what the stage's connection pool did (once, at the stage's end).
    pub(crate) fn record_connections(&self, c: crate::client::ConnStats) {
        if let Ok(mut g) = self.inner.lock() {
            let k = &mut g.current.counters;
            k.conn_opened += c.opened;
            k.conn_reused += c.reused;
            k.retries += c.retries;
            k.conn_server_closed += c.server_closed;
            k.conn_idle_closed += c.idle_closed;
        }
    }

    /// Requests the in-flight cap held back (sent late).
    pub(crate) fn record_held_back(&self) {
        if let Ok(mut g) = self.inner.lock() {
            g.current.counters.held_back += 1;
        }
    }

    pub(crate) fn push_sample(&self, s: fleetbench_proto::v1::TelemetrySample) {
        if let Ok(mut g) = self.inner.lock() {
            g.samples.push(s);
        }
    }

    /// The interval so far (measurements and telemetry samples); recording continues into a
    /// fresh one.
    pub fn take(&self) -> Interval {
        match self.inner.lock() {
            Ok(mut g) => Interval {
                measurements: std::mem::take(&mut g.current),
                samples: std::mem::take(&mut g.samples),
                requests: std::mem::take(&mut g.requests),
                error_bodies: std::mem::take(&mut g.error_bodies),
            },
            Err(_) => Interval::default(),
        }
    }

    pub(crate) fn last_end(&self) -> Option<Instant> {
        self.inner.lock().ok().and_then(|g| g.last_end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_late_request_is_counted_as_client_late_in_the_window_only() {
        let start = Instant::now();
        let r = Recorder::new(
            start,
            Window {
                start_s: 1.0,
                end_s: Some(10.0),
            },
        );
        r.record_client_late(start + Duration::from_secs(2));
        r.record_client_late(start + Duration::from_secs(2));
        r.record_client_late(start); // in the warm-up
        let c = r.take().measurements.counters;
        assert_eq!(c.requests, 2);
        assert_eq!(c.failures.get("client_late"), Some(&2));
        assert_eq!(c.ok, 0);
        assert_eq!(c.outside_window, 1);
    }
}
