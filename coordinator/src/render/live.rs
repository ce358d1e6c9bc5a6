//! The console's live view of a run: one progress bar per stage (requests done/planned, current
//! req/s, failures, agents) when stderr is a terminal, plain log lines otherwise (tests, CI,
//! `kubectl logs`). It reads the run's [`Progress`] (from the run task, or from `Watch` events
//! converted with [`progress_from_wire`]); it never touches the measurements.

use crate::hub::Progress;
use fleetbench_proto::v1 as wire;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The bar on screen, if any: log lines are written around it ([`LogWriter`]).
static ON_SCREEN: std::sync::Mutex<Option<ProgressBar>> = std::sync::Mutex::new(None);

fn set_on_screen(bar: Option<ProgressBar>) {
    *ON_SCREEN.lock().unwrap_or_else(|e| e.into_inner()) = bar;
}

/// stderr for the logs (`tracing_subscriber::fmt().with_writer(LogWriter)`): each line is
/// written with the progress bar lifted, so that logs and the bar do not garble each other.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let bar = ON_SCREEN.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match bar {
            Some(b) => b.suspend(|| std::io::stderr().write(buf)),
            None => std::io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> LogWriter {
        LogWriter
    }
}

/// A `Watch` event as progress.
pub fn progress_from_wire(ev: &wire::RunEvent) -> Progress {
    Progress {
        run_id: ev.run_id.clone(),
        stage: ev.stage,
        stages: ev.stages,
        requests_done: ev.requests_done,
        requests_planned: ev.requests_planned,
        failures: ev.failures,
        ttft_p50_ms: ev.ttft_p50_ms.is_finite().then_some(ev.ttft_p50_ms),
        agents: ev.agents,
        message: ev.message.clone(),
        finished: ev.finished,
        error: ev.error.clone(),
        ..Default::default()
    }
}

/// Requests per second over the last few seconds of one stage. Counts move in steps (one per
/// snapshot interval), so the rate is taken between the changes, not between redraws.
#[derive(Debug, Default)]
struct RateMeter {
    key: Option<(u32, u32)>,
    samples: std::collections::VecDeque<(Instant, u64)>,
}

impl RateMeter {
    const WINDOW: Duration = Duration::from_secs(3);

    fn update(&mut self, key: (u32, u32), done: u64, now: Instant) -> f64 {
        if self.key != Some(key) {
            self.key = Some(key);
            self.samples.clear();
        }
        if self.samples.back().is_none_or(|&(_, d)| d != done) {
            self.samples.push_back((now, done));
        }
        while self.samples.len() > 2 && now.duration_since(self.samples[1].0) >= Self::WINDOW {
            self.samples.pop_front();
        }
        match (self.samples.front(), self.samples.back()) {
            (Some(&(t0, d0)), Some(&(t1, d1))) if t1 > t0 => {
                d1.saturating_sub(d0) as f64 / t1.duration_since(t0).as_secs_f64()
            }
            _ => 0.0,
        }
    }
}

/// The plain progress line (the format of the console before progress bars).
pub fn progress_line(p: &Progress, rate: f64) -> String {
    let planned = if p.requests_planned > 0 {
        format!("/{}", p.requests_planned)
    } else {
        String::new()
    };
    format!(
        "[{}] stage {}/{} {}: {}{} requests, {:.1} req/s{}, {} failures, {} agents",
        p.run_id,
        p.stage + 1,
        p.stages.max(1),
        p.message,
        p.requests_done,
        planned,
        rate,
        ttft_text(p),
        p.failures,
        p.agents
    )
}

/// `, TTFT p50 51.2 ms` once the stage has a first token.
fn ttft_text(p: &Progress) -> String {
    p.ttft_p50_ms
        .map(|t| format!(", TTFT p50 {t:.1} ms"))
        .unwrap_or_default()
}

/// Bars on a terminal, lines elsewhere.
pub struct LiveView {
    terminal: bool,
    bar: Option<(Option<(u32, u32)>, ProgressBar)>,
    rate: RateMeter,
    last_line: String,
}

impl Default for LiveView {
    fn default() -> Self {
        Self::new()
    }
}

impl LiveView {
    /// Bars when stderr is a terminal.
    pub fn new() -> LiveView {
        LiveView {
            terminal: std::io::stderr().is_terminal(),
            bar: None,
            rate: RateMeter::default(),
            last_line: String::new(),
        }
    }

    /// How often the caller should redraw.
    pub fn tick(&self) -> Duration {
        if self.terminal {
            Duration::from_millis(250)
        } else {
            Duration::from_secs(1)
        }
    }

    fn new_bar(p: &Progress) -> ProgressBar {
        let bar = if p.stages > 0 && p.requests_planned > 0 {
            let b = ProgressBar::with_draw_target(
                Some(p.requests_planned),
                ProgressDrawTarget::stderr(),
            );
            if let Ok(style) = ProgressStyle::with_template(
                "{prefix:.bold} [{bar:30.cyan/blue}] {pos}/{len} requests · {msg} · {elapsed}",
            ) {
                b.set_style(style.progress_chars("=> "));
            }
            b
        } else {
            let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            if let Ok(style) =
                ProgressStyle::with_template("{prefix:.bold} {spinner} {pos} requests · {msg}")
            {
                b.set_style(style);
            }
            b.enable_steady_tick(Duration::from_millis(120));
            b
        };
        bar.set_prefix(if p.stages > 0 {
            format!("[{}/{}] {}", p.stage + 1, p.stages, p.message)
        } else {
            format!("run {}", p.run_id)
        });
        bar
    }

    /// Shows the latest progress.
    pub fn update(&mut self, p: &Progress) {
        let key = (p.stages > 0).then_some((p.stage, p.stages));
        let rate = self
            .rate
            .update((p.stage, p.stages), p.requests_done, Instant::now());
        if !self.terminal {
            // A line when something other than the rate changed.
            let gist = format!(
                "{}|{}|{}|{}|{}|{}",
                p.stage, p.stages, p.message, p.requests_done, p.failures, p.agents
            );
            if gist != self.last_line {
                eprintln!("{}", progress_line(p, rate));
                self.last_line = gist;
            }
            return;
        }
        if self.bar.as_ref().map(|(k, _)| *k) != Some(key) {
            match self.bar.take() {
                // The waiting spinner has said all it had to.
                Some((None, old)) => old.finish_and_clear(),
                Some((Some(_), old)) => old.finish(),
                None => {}
            }
            let bar = Self::new_bar(p);
            set_on_screen(Some(bar.clone()));
            self.bar = Some((key, bar));
        }
        if let Some((_, bar)) = &self.bar {
            bar.set_position(p.requests_done);
            bar.set_message(if key.is_some() {
                format!(
                    "{rate:.1} req/s{} · {} failures · {} agents",
                    ttft_text(p).replace(", ", " · "),
                    p.failures,
                    p.agents
                )
            } else {
                format!("{} · {} agents", p.message, p.agents)
            });
        }
    }

    /// The run ended: close the bar (or print the last line).
    pub fn finish(&mut self, p: &Progress) {
        self.update(p);
        if let Some((_, bar)) = self.bar.take() {
            if p.error.is_empty() {
                bar.finish();
            } else {
                bar.abandon_with_message(format!("failed: {}", p.error));
            }
            set_on_screen(None);
        }
    }
}

/// Follows a run's progress until it finishes or its sender goes away.
pub async fn follow(mut rx: watch::Receiver<Progress>) {
    let mut view = LiveView::new();
    loop {
        let p = rx.borrow_and_update().clone();
        if p.finished {
            view.finish(&p);
            return;
        }
        view.update(&p);
        tokio::select! {
            changed = rx.changed() => {
                if changed.is_err() {
                    let p = rx.borrow().clone();
                    view.finish(&p);
                    return;
                }
                // Redraw at most once per tick.
                tokio::time::sleep(view.tick()).await;
            }
            _ = tokio::time::sleep(view.tick()) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_is_requests_over_the_recent_window() {
        let mut m = RateMeter::default();
        let t0 = Instant::now();
        assert_eq!(m.update((0, 3), 0, t0), 0.0);
        let r = m.update((0, 3), 20, t0 + Duration::from_secs(2));
        assert!((r - 10.0).abs() < 1e-9, "{r}");
        // Redraws without news change nothing.
        let again = m.update((0, 3), 20, t0 + Duration::from_secs(3));
        assert!((again - 10.0).abs() < 1e-9, "{again}");
        // A new stage starts afresh.
        assert_eq!(m.update((1, 3), 0, t0 + Duration::from_secs(4)), 0.0);
    }

    #[test]
    fn plain_line_names_stage_requests_and_agents() {
        let p = Progress {
            run_id: "r".into(),
            stage: 1,
            stages: 3,
            requests_done: 5,
            requests_planned: 20,
            failures: 1,
            agents: 2,
            message: "stage 1 (qps_10)".into(),
            ..Default::default()
        };
        assert_eq!(
            progress_line(&p, 2.5),
            "[r] stage 2/3 stage 1 (qps_10): 5/20 requests, 2.5 req/s, 1 failures, 2 agents"
        );
        let p = Progress {
            ttft_p50_ms: Some(51.25),
            ..p
        };
        assert_eq!(
            progress_line(&p, 2.5),
            "[r] stage 2/3 stage 1 (qps_10): 5/20 requests, 2.5 req/s, TTFT p50 51.2 ms, 1 failures, 2 agents"
        );
    }
}
