//! The console's view of a run in progress, `--progress tui|plain|off` of `run`, `submit` and
//! `watch` ([`configure`]). Its one source is the run's [`Progress`] (with the coordinator's
//! [`figures`] of the stage in progress): `run` follows it in-process ([`follow`]), `submit` and
//! `watch` as `Watch` events ([`follow_events`], converted by `Progress::from_wire`). The
//! view never touches the measurements.
//!
//! - `tui` ([`tui`]): a full-screen dashboard; logs go to its pane ([`logs`]), the terminal is
//!   restored on every way out ([`terminal`]).
//! - `plain` ([`plain`]): progress lines on stderr, one per second per stage, each stage's final
//!   counts when it ends.
//! - `off`: nothing but the logs.
//!
//! The default is `tui` when stdout is a terminal, `plain` otherwise. The full-screen view is
//! behind the `tui` cargo feature (on by default); built without it ([`no_tui`]), the default is
//! `plain` and `--progress tui` says so and shows plain lines.

pub(crate) mod figures;
pub(crate) mod logs;
#[cfg(not(feature = "tui"))]
mod no_tui;
mod plain;
#[cfg(feature = "tui")]
mod terminal;
#[cfg(feature = "tui")]
mod tui;

pub use logs::LogWriter;
#[cfg(not(feature = "tui"))]
pub use no_tui::{interrupted, restore_terminal};
#[cfg(feature = "tui")]
pub use terminal::{interrupted, restore as restore_terminal};

use crate::hub::Progress;
use fleetbench_proto::v1 as wire;
use std::io::IsTerminal;
use std::time::Duration;
use tokio::sync::watch;

/// How the console shows a run's progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// A full-screen dashboard (needs a terminal on stdout).
    Tui,
    /// Progress lines on stderr.
    Plain,
    /// No progress display (logs only).
    Off,
}

impl ProgressMode {
    /// `mode`, or by default `tui` when stdout is a terminal (and the `tui` feature is built
    /// in) and `plain` otherwise.
    pub(crate) fn resolve(mode: Option<ProgressMode>) -> ProgressMode {
        mode.unwrap_or_else(|| {
            if cfg!(feature = "tui") && std::io::stdout().is_terminal() {
                ProgressMode::Tui
            } else {
                ProgressMode::Plain
            }
        })
    }
}

static MODE: std::sync::OnceLock<ProgressMode> = std::sync::OnceLock::new();

/// Sets this process's progress display from the command line (`--progress`, else the
/// default of [`ProgressMode::resolve`]); the first call counts.
pub fn configure(mode: Option<ProgressMode>) {
    let _ = MODE.set(ProgressMode::resolve(mode));
}

/// This process's progress display (the default when [`configure`] was not called).
pub(crate) fn mode() -> ProgressMode {
    *MODE.get_or_init(|| ProgressMode::resolve(None))
}

/// The view in one of its modes.
pub(crate) struct LiveView {
    view: View,
}

enum View {
    #[cfg(feature = "tui")]
    Tui(tui::TuiView),
    Plain(plain::PlainView),
    Off,
}

impl LiveView {
    /// The view in `mode`; `tui` falls back to `plain` (saying why) when the terminal cannot be
    /// taken over or the `tui` feature is not built in.
    pub(crate) fn new(mode: ProgressMode) -> LiveView {
        let view = match mode {
            #[cfg(not(feature = "tui"))]
            ProgressMode::Tui => {
                tracing::warn!("{}; plain progress lines instead", no_tui::NO_TUI);
                View::Plain(plain::PlainView::new())
            }
            #[cfg(feature = "tui")]
            ProgressMode::Tui => match tui::TuiView::enter() {
                Ok(t) => View::Tui(t),
                Err(e) => {
                    tracing::warn!(
                        "cannot start the full-screen view ({e}); plain progress lines instead"
                    );
                    View::Plain(plain::PlainView::new())
                }
            },
            ProgressMode::Plain => View::Plain(plain::PlainView::new()),
            ProgressMode::Off => View::Off,
        };
        LiveView { view }
    }

    /// How often the caller should redraw.
    pub(crate) fn tick(&self) -> Duration {
        Duration::from_millis(250)
    }

    /// Shows the latest progress.
    pub(crate) fn update(&mut self, p: &Progress) {
        match &mut self.view {
            #[cfg(feature = "tui")]
            View::Tui(t) => t.update(p),
            View::Plain(v) => v.update(p),
            View::Off => {}
        }
    }

    /// The run ended: the last state; the terminal is given back.
    pub(crate) fn finish(&mut self, p: &Progress) {
        match &mut self.view {
            #[cfg(feature = "tui")]
            View::Tui(t) => t.finish(p),
            View::Plain(v) => v.update(p),
            View::Off => {}
        }
        self.view = View::Off;
    }
}

/// Follows a run's progress (in-process) until it finishes or its sender goes away.
pub async fn follow(mut rx: watch::Receiver<Progress>) {
    let mut view = LiveView::new(mode());
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

/// How following a remote run ended.
#[derive(Debug)]
pub enum Followed {
    /// The run finished; its last progress.
    Finished(Box<Progress>),
    /// The stream ended before the run did.
    Closed,
    /// Ctrl-C (or `q` in the full-screen view): the run goes on at the coordinator.
    Interrupted,
}

/// Follows a run's `Watch` events until it finishes, the stream ends or the person interrupts.
pub async fn follow_events(
    events: &mut tonic::Streaming<wire::RunEvent>,
) -> Result<Followed, tonic::Status> {
    let mut view = LiveView::new(mode());
    let mut last = Progress::default();
    loop {
        let ev = tokio::select! {
            ev = events.message() => ev?,
            _ = interrupted() => {
                view.finish(&last);
                return Ok(Followed::Interrupted);
            }
        };
        let Some(ev) = ev else {
            view.finish(&last);
            return Ok(Followed::Closed);
        };
        last = Progress::from_wire(&ev);
        if last.finished {
            view.finish(&last);
            return Ok(Followed::Finished(Box::new(last)));
        }
        view.update(&last);
    }
}
