//! The profile's circuit breakers on one agent (inference-perf's `circuit_breakers`, enabled
//! by `load.circuit_breakers`): every finished request becomes a record shaped like
//! inference-perf's request record; a breaker watches the records its `matches` select, counts
//! those its `rules` call hits (all of them without rules) and trips on any of its triggers —
//! `consecutive` hits, or a hit rate of at least `threshold` over the last `window_sec` once
//! `min_samples` were watched. The first trip stops the shard (no request starts after it) and
//! travels in `ShardDone`; the coordinator stops the stage's other shards.
//!
//! Each agent judges the requests it sent: a stage's breaker trips when the requests of one
//! agent meet its condition.

use crate::request::{Failure, RequestRecord};
use fleetbench_model::breaker::{CircuitBreakerConfig, Trigger};
use fleetbench_model::breaker_expr::Expr as BreakerExpr;
use fleetbench_proto::v1 as wire;
use serde_json::{json, Map, Value};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most samples a `rate_over_window` trigger keeps; beyond it the oldest leave the window
/// early (memory stays bounded whatever `window_sec` says).
const MAX_WINDOW_SAMPLES: usize = 1 << 20;

/// One breaker: its expressions, triggers, and what it has seen.
#[derive(Debug)]
struct Armed {
    name: String,
    matches: Vec<BreakerExpr>,
    rules: Vec<BreakerExpr>,
    /// The expressions as written, for the trip's reason.
    watching: String,
    triggers: Vec<TriggerState>,
}

#[derive(Debug)]
enum TriggerState {
    Consecutive {
        threshold: u32,
        run: u32,
    },
    Window {
        window: Duration,
        window_sec: f64,
        threshold: f64,
        min_samples: u32,
        samples: VecDeque<(Instant, bool)>,
        hits: usize,
    },
}

impl TriggerState {
    fn new(t: &Trigger) -> TriggerState {
        match *t {
            Trigger::Consecutive { threshold } => TriggerState::Consecutive { threshold, run: 0 },
            Trigger::RateOverWindow {
                window_sec,
                threshold,
                min_samples,
            } => TriggerState::Window {
                window: Duration::from_secs_f64(window_sec.clamp(0.0, 1e9)),
                window_sec,
                threshold,
                min_samples,
                samples: VecDeque::new(),
                hits: 0,
            },
        }
    }

    /// Adds one watched sample; the trigger's name and what it saw when it fires.
    fn update(&mut self, now: Instant, hit: bool) -> Option<(&'static str, String)> {
        match self {
            TriggerState::Consecutive { threshold, run } => {
                *run = if hit { *run + 1 } else { 0 };
                (*run >= *threshold).then(|| {
                    (
                        "consecutive",
                        format!(
                            "{run} watched requests in a row were hits (threshold {threshold})"
                        ),
                    )
                })
            }
            TriggerState::Window {
                window,
                window_sec,
                threshold,
                min_samples,
                samples,
                hits,
            } => {
                samples.push_back((now, hit));
                *hits += usize::from(hit);
                let cutoff = now.checked_sub(*window);
                while let Some(&(t, h)) = samples.front() {
                    let old = cutoff.is_some_and(|c| t < c);
                    if !old && samples.len() <= MAX_WINDOW_SAMPLES {
                        break;
                    }
                    samples.pop_front();
                    *hits -= usize::from(h);
                }
                let total = samples.len();
                if total < *min_samples as usize || total == 0 {
                    return None;
                }
                let rate = *hits as f64 / total as f64;
                (rate >= *threshold).then(|| {
                    ("rate_over_window", format!(
                        "{hits} of {total} watched requests in the last {window_sec} s were hits ({:.0}%, threshold {:.0}%, min_samples {min_samples})",
                        rate * 100.0,
                        *threshold * 100.0
                    ))
                })
            }
        }
    }
}

/// The breakers of one shard and the first trip.
#[derive(Debug)]
pub(crate) struct BreakerWatch {
    armed: Mutex<Vec<Armed>>,
    trip: Mutex<Option<wire::BreakerTrip>>,
    start: Instant,
    stage: u32,
    /// Set on the trip: the shard's stop.
    stop: std::sync::Arc<tokio::sync::watch::Sender<bool>>,
}

impl BreakerWatch {
    /// The enabled breakers of the shard (their expressions were checked with the profile; one
    /// that does not parse here watches nothing), stopping through `stop`.
    pub(crate) fn new(
        configs: &[CircuitBreakerConfig],
        stage: u32,
        start: Instant,
        stop: std::sync::Arc<tokio::sync::watch::Sender<bool>>,
    ) -> BreakerWatch {
        let armed = configs
            .iter()
            .map(|c| {
                let (matches, rules) = c.metrics.parse().unwrap_or_default();
                let mut watching = c.metrics.matches.join(" or ");
                if !c.metrics.rules.is_empty() {
                    watching += &format!("; hits: {}", c.metrics.rules.join(" or "));
                }
                Armed {
                    name: c.name.clone(),
                    matches,
                    rules,
                    watching,
                    triggers: c.triggers.iter().map(TriggerState::new).collect(),
                }
            })
            .collect();
        BreakerWatch {
            armed: Mutex::new(armed),
            trip: Mutex::new(None),
            start,
            stage,
            stop,
        }
    }

    /// Feeds one finished request to every breaker; the first trip is kept and stops the shard.
    pub(crate) fn feed(&self, r: &RequestRecord) {
        if self.tripped().is_some() {
            return;
        }
        let record = inference_perf_record(r, self.stage, self.start);
        let now = Instant::now();
        let Ok(mut armed) = self.armed.lock() else {
            return;
        };
        for b in armed.iter_mut() {
            if !b.matches.iter().any(|e| e.holds(&record)) {
                continue;
            }
            let hit = b.rules.is_empty() || b.rules.iter().any(|e| e.holds(&record));
            // Every trigger sees the sample, as in inference-perf; the first that fires names it.
            let fired: Vec<_> = (b.triggers.iter_mut())
                .filter_map(|t| t.update(now, hit))
                .collect();
            if let Some((trigger, saw)) = fired.into_iter().next() {
                let trip = wire::BreakerTrip {
                    name: b.name.clone(),
                    trigger: trigger.to_string(),
                    reason: format!("{saw}; watching {}", b.watching),
                    at_s: now.saturating_duration_since(self.start).as_secs_f64(),
                    request_id: r.id.clone(),
                };
                tracing::warn!(
                    "circuit breaker {:?} tripped {:.1} s into stage {} ({}): {}; stopping the shard",
                    trip.name,
                    trip.at_s,
                    self.stage,
                    trip.trigger,
                    trip.reason
                );
                if let Ok(mut slot) = self.trip.lock() {
                    *slot = Some(trip);
                }
                self.stop.send_replace(true);
                return;
            }
        }
    }

    /// The trip, once a breaker tripped.
    pub(crate) fn tripped(&self) -> Option<wire::BreakerTrip> {
        self.trip.lock().ok().and_then(|t| t.clone())
    }
}

/// A finished request as inference-perf's request record (`RequestLifecycleMetric` with unset
/// fields left out): `stage_id`, `scheduled_time`, `start_time`, `end_time` (seconds from the
/// stage start), `info` (`input_tokens`, `request_metrics.text.input_tokens`,
/// `response_metrics.output_tokens`) and, for a failed request, `error` with inference-perf's
/// `error_type` and `error_msg` for the same fault; plus `fleetbench` (`class`, `http_status`).
pub(crate) fn inference_perf_record(r: &RequestRecord, stage: u32, start: Instant) -> Value {
    let s = |t: Instant| t.saturating_duration_since(start).as_secs_f64();
    let mut rec = Map::new();
    rec.insert("stage_id".into(), json!(stage));
    rec.insert("scheduled_time".into(), json!(s(r.t_intended)));
    rec.insert("start_time".into(), json!(s(r.t_sent)));
    rec.insert("end_time".into(), json!(s(r.t_end)));
    rec.insert(
        "info".into(),
        json!({
            "input_tokens": r.in_tokens,
            "request_metrics": {"text": {"input_tokens": r.in_tokens}},
            "response_metrics": {"output_tokens": r.out_tokens},
        }),
    );
    let class = match &r.outcome {
        Ok(()) => "ok".to_string(),
        Err(f) => f.class(),
    };
    if let Err(f) = &r.outcome {
        if let Some((error_type, error_msg)) = error_info(f, r.error_body.as_deref()) {
            rec.insert(
                "error".into(),
                json!({"error_type": error_type, "error_msg": error_msg}),
            );
        }
    }
    rec.insert(
        "fleetbench".into(),
        json!({"class": class, "http_status": r.http_status}),
    );
    Value::Object(rec)
}

/// inference-perf's `error_type` and `error_msg` for a fleetbench failure (its aiohttp client's
/// exception names); `None` for what inference-perf does not count as an error (a short output).
fn error_info(f: &Failure, body: Option<&str>) -> Option<(String, String)> {
    let pair = |t: &str, m: &str| Some((t.to_string(), m.to_string()));
    match f {
        Failure::Http(status) => Some((
            format!("HTTP Error {status}"),
            body.unwrap_or("").to_string(),
        )),
        Failure::TimeoutHeaders | Failure::TimeoutIdle | Failure::TimeoutTotal => {
            pair("TimeoutError", "Request timed out")
        }
        Failure::Connect => pair("ClientConnectorError", "cannot connect to the server"),
        Failure::Truncated => pair(
            "ClientPayloadError",
            "the response ended before it was complete",
        ),
        Failure::Malformed => pair("JSONDecodeError", "a response chunk is not JSON"),
        Failure::StreamError => pair("StreamError", "the stream carried an error event"),
        Failure::OversizedEvent => {
            pair("LineTooLong", "a response line is over the client's limit")
        }
        Failure::ShortOutput => None,
        Failure::Incomplete | Failure::ClientLate => {
            pair("CancelledError", "the request did not finish")
        }
        Failure::SessionTimeout => pair(
            "CancelledError",
            "the session stage's timeout cancelled the session",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::TokenSource;
    use fleetbench_model::breaker::BreakerMetrics;

    fn record(start: Instant, outcome: Result<(), Failure>) -> RequestRecord {
        RequestRecord {
            id: "0-1".into(),
            t_intended: start,
            t_sent: start,
            t_first: None,
            t_end: start,
            itl_us: Vec::new(),
            in_tokens: 10,
            out_tokens: 5,
            token_source: TokenSource::Usage,
            cached_tokens: None,
            outcome,
            http_status: 503,
            error_body: Some("{\"error\": \"busy\"}".into()),
            retries: 0,
            body_bytes: 100,
            media: None,
            reply: None,
        }
    }

    fn watch(
        matches: &[&str],
        rules: &[&str],
        triggers: Vec<Trigger>,
    ) -> (BreakerWatch, tokio::sync::watch::Receiver<bool>) {
        let (tx, rx) = tokio::sync::watch::channel(false);
        let config = CircuitBreakerConfig {
            name: "b".into(),
            metrics: BreakerMetrics {
                matches: matches.iter().map(|s| s.to_string()).collect(),
                rules: rules.iter().map(|s| s.to_string()).collect(),
            },
            triggers,
        };
        (
            BreakerWatch::new(&[config], 0, Instant::now(), std::sync::Arc::new(tx)),
            rx,
        )
    }

    #[test]
    fn consecutive_hits_trip_and_a_miss_resets_the_run() {
        let (w, rx) = watch(
            &["error.error_type == 'HTTP Error 503'"],
            &[],
            vec![Trigger::Consecutive { threshold: 3 }],
        );
        let start = Instant::now();
        let fail = || record(start, Err(Failure::Http(503)));
        w.feed(&fail());
        w.feed(&fail());
        w.feed(&record(start, Ok(()))); // not watched: the run goes on
        assert!(w.tripped().is_none());
        w.feed(&record(start, Err(Failure::TimeoutTotal))); // not watched either
        w.feed(&fail());
        let trip = w
            .tripped()
            .expect("three 503s in a row among the watched requests");
        assert_eq!(
            (trip.name.as_str(), trip.trigger.as_str()),
            ("b", "consecutive")
        );
        assert!(
            trip.reason.contains("3 watched requests in a row"),
            "{}",
            trip.reason
        );
        assert!(*rx.borrow(), "the shard is told to stop");
    }

    #[test]
    fn rules_decide_hits_and_the_window_needs_min_samples() {
        // Every request is watched; a hit is a failure. 2 of 3 = 67% < 80%, then 4 of 5 = 80%.
        let (w, _rx) = watch(
            &["fleetbench.class"],
            &["error"],
            vec![Trigger::RateOverWindow {
                window_sec: 60.0,
                threshold: 0.8,
                min_samples: 5,
            }],
        );
        let start = Instant::now();
        for ok in [true, false, false, false] {
            w.feed(&record(
                start,
                if ok { Ok(()) } else { Err(Failure::Http(503)) },
            ));
            assert!(w.tripped().is_none(), "fewer than min_samples");
        }
        w.feed(&record(start, Err(Failure::Http(503))));
        let trip = w.tripped().expect("4 of 5 failed");
        assert_eq!(trip.trigger, "rate_over_window");
        assert!(
            trip.reason.contains("4 of 5 watched requests"),
            "{}",
            trip.reason
        );
    }

    #[test]
    fn the_record_has_inference_perf_error_types() {
        let start = Instant::now();
        let r = inference_perf_record(&record(start, Err(Failure::TimeoutIdle)), 2, start);
        assert_eq!(r["error"]["error_type"], "TimeoutError");
        assert_eq!(r["stage_id"], 2);
        assert_eq!(r["fleetbench"]["class"], "timeout_idle");
        let r = inference_perf_record(&record(start, Err(Failure::Http(503))), 0, start);
        assert_eq!(r["error"]["error_type"], "HTTP Error 503");
        assert_eq!(r["error"]["error_msg"], "{\"error\": \"busy\"}");
        let r = inference_perf_record(&record(start, Ok(())), 0, start);
        assert!(r.get("error").is_none());
        assert_eq!(r["info"]["response_metrics"]["output_tokens"], 5);
    }
}
