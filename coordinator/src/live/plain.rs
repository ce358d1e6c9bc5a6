//! The plain view: progress lines on stderr when stdout is not a terminal (CI, pipes,
//! `kubectl logs`), at most one per second per stage, each stage's final counts once it ends.
//! Also the text pieces the full-screen view shares (stage name, elapsed and remaining,
//! latencies), so both say the same thing the same way.
//!
//! Stages are numbered from 0 everywhere, as the run directory's `stage-<k>/` folders are.

use crate::hub::Progress;
use fleetbench_proto::v1 as wire;
use std::time::{Duration, Instant};

/// `stage 1 of 0..2 qps_10`: the stage's number, the range of the run's stage numbers, its label.
pub(crate) fn stage_name(stage: u32, stages: u32, label: &str) -> String {
    format!("stage {stage} of 0..{} {label}", stages.saturating_sub(1))
}

/// A number of milliseconds, or `-` when absent (NaN).
pub(crate) fn ms(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.1} ms")
    } else {
        "-".into()
    }
}

/// `12.3 s / 30 s (17.7 s left)` or `12.3 s, 45/100 requests (55 left)`.
pub(crate) fn elapsed_and_remaining(p: &Progress, l: &wire::StageLive) -> String {
    if l.end_s.is_finite() {
        format!(
            "{:.1} s of {:.0} s ({:.1} s left)",
            l.elapsed_s,
            l.end_s,
            (l.end_s - l.elapsed_s).max(0.0)
        )
    } else if p.requests_planned > 0 {
        format!(
            "{:.1} s, {}/{} requests ({} left)",
            l.elapsed_s,
            p.requests_done,
            p.requests_planned,
            p.requests_planned.saturating_sub(p.requests_done)
        )
    } else {
        format!("{:.1} s", l.elapsed_s)
    }
}

/// `offered 10.0 req/s, achieved 9.8 req/s` (`4 users` for closed loop).
pub(crate) fn rates(l: &wire::StageLive) -> String {
    let offered = if l.users > 0 {
        format!("{} users", l.users)
    } else if l.offered_rps.is_finite() {
        format!("offered {:.1} req/s", l.offered_rps)
    } else {
        "offered -".into()
    };
    format!("{offered}, achieved {:.1} req/s", l.achieved_rps)
}

/// `none` or `http_500 3, timeout 1`.
pub(crate) fn failure_classes(l: &wire::StageLive) -> String {
    if l.failure_classes.is_empty() {
        return "none".into();
    }
    let mut v: Vec<_> = l.failure_classes.iter().collect();
    v.sort();
    v.iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One progress line of the stage in progress.
pub(crate) fn stage_line(p: &Progress, l: &wire::StageLive) -> String {
    let connected = l.agents.iter().filter(|a| a.state == "connected").count();
    format!(
        "[{}] {}: {}; {} requests, {}, in flight {}; TTFT p50 {} p99 {}, ITL p50 {} p99 {}; failures: {}; agents {connected}/{} connected",
        p.run_id,
        stage_name(p.stage, p.stages, &l.label),
        elapsed_and_remaining(p, l),
        p.requests_done,
        rates(l),
        if l.in_flight.is_finite() { format!("~{:.1}", l.in_flight) } else { "-".into() },
        ms(p.ttft_p50_ms.unwrap_or(f64::NAN)),
        ms(l.ttft_p99_ms),
        ms(l.itl_p50_ms),
        ms(l.itl_p99_ms),
        failure_classes(l),
        l.agents.len(),
    )
}

/// The final line of a stage that ended.
pub(crate) fn ended_line(run_id: &str, stages: u32, e: &wire::StageEnded) -> String {
    let elapsed = if e.elapsed_s.is_finite() {
        format!(" in {:.1} s", e.elapsed_s)
    } else {
        String::new()
    };
    let sessions = if e.sessions_ok + e.sessions_failed > 0 {
        let substituted = match e.recorded_substitutions {
            0 => String::new(),
            n => format!(", {n} recorded substitutions"),
        };
        format!(
            ", sessions {} ok, {} failed ({} calls not sent{substituted})",
            e.sessions_ok, e.sessions_failed, e.calls_not_sent
        )
    } else {
        String::new()
    };
    format!(
        "[{run_id}] {} ended{elapsed}: {} requests, {} failures{sessions}, TTFT p50 {}; verdict {}",
        stage_name(e.stage, stages, &e.label),
        e.requests,
        e.failures,
        ms(e.ttft_p50_ms),
        if e.verdict.is_empty() {
            "-"
        } else {
            &e.verdict
        }
    )
}

/// Lines on stderr.
#[derive(Debug)]
pub(crate) struct PlainView {
    /// When the stage in progress last had a line, and which stage that was.
    last: Option<(u32, Instant)>,
    ended_shown: usize,
    last_message: String,
}

impl PlainView {
    const EVERY: Duration = Duration::from_secs(1);

    pub(crate) fn new() -> Self {
        PlainView {
            last: None,
            ended_shown: 0,
            last_message: String::new(),
        }
    }

    /// The lines that `p` calls for now (printed by [`PlainView::update`]).
    pub(crate) fn lines(&mut self, p: &Progress, now: Instant) -> Vec<String> {
        let mut out = Vec::new();
        for e in p.ended.iter().skip(self.ended_shown) {
            out.push(ended_line(&p.run_id, p.stages, e));
        }
        self.ended_shown = self.ended_shown.max(p.ended.len());
        let stage_running = p.ended.last().is_none_or(|e| e.stage != p.stage);
        match &p.live {
            Some(l) if stage_running && !p.finished => {
                let due = self
                    .last
                    .is_none_or(|(s, t)| s != p.stage || now.duration_since(t) >= Self::EVERY);
                if due {
                    out.push(stage_line(p, l));
                    self.last = Some((p.stage, now));
                }
            }
            _ if p.message != self.last_message && p.live.is_none() => {
                out.push(format!("[{}] {}", p.run_id, p.message));
            }
            _ => {}
        }
        self.last_message = p.message.clone();
        if p.finished {
            out.push(if p.error.is_empty() {
                format!("[{}] finished", p.run_id)
            } else {
                format!("[{}] failed: {}", p.run_id, p.error)
            });
        }
        out
    }

    pub(crate) fn update(&mut self, p: &Progress) {
        for line in self.lines(p, Instant::now()) {
            eprintln!("{line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(elapsed_s: f64) -> wire::StageLive {
        wire::StageLive {
            label: "qps_10".into(),
            elapsed_s,
            end_s: 30.0,
            offered_rps: 10.0,
            achieved_rps: 9.75,
            in_flight: 2.04,
            ttft_p99_ms: 80.0,
            itl_p50_ms: f64::NAN,
            itl_p99_ms: f64::NAN,
            failure_classes: [("http_500".to_string(), 2)].into(),
            agents: vec![wire::AgentLive {
                id: "a".into(),
                state: "connected".into(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn one_line_per_second_per_stage_and_the_final_counts_when_it_ends() {
        let mut v = PlainView::new();
        let t0 = Instant::now();
        let mut p = Progress {
            run_id: "r".into(),
            stage: 1,
            stages: 3,
            requests_done: 117,
            ttft_p50_ms: Some(51.25),
            message: "stage 1 (qps_10)".into(),
            live: Some(live(12.0)),
            ..Default::default()
        };
        assert_eq!(
            v.lines(&p, t0),
            ["[r] stage 1 of 0..2 qps_10: 12.0 s of 30 s (18.0 s left); 117 requests, offered 10.0 req/s, achieved 9.8 req/s, in flight ~2.0; TTFT p50 51.2 ms p99 80.0 ms, ITL p50 - p99 -; failures: http_500 2; agents 1/1 connected"]
        );
        assert!(v.lines(&p, t0 + Duration::from_millis(500)).is_empty());
        assert_eq!(v.lines(&p, t0 + Duration::from_secs(1)).len(), 1);
        // The stage ends: its final counts, once, and no more progress line for it.
        p.ended.push(wire::StageEnded {
            stage: 1,
            label: "qps_10".into(),
            requests: 300,
            failures: 2,
            ttft_p50_ms: 50.0,
            elapsed_s: 30.5,
            verdict: "ok".into(),
            ..Default::default()
        });
        assert_eq!(
            v.lines(&p, t0 + Duration::from_secs(3)),
            ["[r] stage 1 of 0..2 qps_10 ended in 30.5 s: 300 requests, 2 failures, TTFT p50 50.0 ms; verdict ok"]
        );
        assert!(v.lines(&p, t0 + Duration::from_secs(5)).is_empty());
    }

    #[test]
    fn a_trace_replay_s_ended_line_counts_its_sessions() {
        let e = wire::StageEnded {
            stage: 0,
            label: "sessions_c2".into(),
            requests: 4,
            failures: 1,
            ttft_p50_ms: f64::NAN,
            elapsed_s: 2.0,
            verdict: "failed".into(),
            sessions_ok: 3,
            sessions_failed: 1,
            calls_not_sent: 2,
            recorded_substitutions: 0,
        };
        assert_eq!(
            ended_line("r", 1, &e),
            "[r] stage 0 of 0..0 sessions_c2 ended in 2.0 s: 4 requests, 1 failures, sessions 3 ok, 1 failed (2 calls not sent), TTFT p50 -; verdict failed"
        );
        let e = wire::StageEnded {
            recorded_substitutions: 3,
            ..e
        };
        assert!(ended_line("r", 1, &e)
            .contains("sessions 3 ok, 1 failed (2 calls not sent, 3 recorded substitutions)"));
    }

    #[test]
    fn count_bound_stages_show_the_requests_left() {
        let p = Progress {
            requests_done: 45,
            requests_planned: 100,
            ..Default::default()
        };
        let l = wire::StageLive {
            elapsed_s: 3.0,
            end_s: f64::NAN,
            ..Default::default()
        };
        assert_eq!(
            elapsed_and_remaining(&p, &l),
            "3.0 s, 45/100 requests (55 left)"
        );
    }
}
