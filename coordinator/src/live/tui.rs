//! The full-screen view (ratatui): the stage in progress (elapsed and remaining time or
//! requests, offered and achieved rate, in flight, TTFT/ITL p50/p99, failure classes), the
//! stages so far with their final counts, per host group GPU power, utilization and engine
//! queue, per agent link state and send lag, and the log pane. Drawn from [`Progress`] alone.

use super::plain::{elapsed_and_remaining, ended_line, failure_classes, ms, rates, stage_name};
use super::terminal::Screen;
use crate::hub::Progress;
use fleetbench_proto::v1 as wire;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Gauge, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

/// The view on the terminal.
pub(crate) struct TuiView {
    screen: Option<Screen>,
}

impl TuiView {
    /// Takes over the terminal and sends the logs to the view's pane.
    pub(crate) fn enter() -> std::io::Result<TuiView> {
        let screen = Screen::enter()?;
        super::logs::capture();
        Ok(TuiView {
            screen: Some(screen),
        })
    }

    pub(crate) fn update(&mut self, p: &Progress) {
        if let Some(s) = self.screen.as_mut() {
            let logs = super::logs::tail(200);
            let _ = s.terminal.draw(|f| draw(f, p, &logs));
        }
    }

    /// Draws the last state, gives the terminal back and writes, on stderr, each stage's final
    /// line and the log lines the pane held.
    pub(crate) fn finish(&mut self, p: &Progress) {
        self.update(p);
        self.screen = None;
        let (logs, dropped) = super::logs::release();
        if dropped > 0 {
            eprintln!("({dropped} earlier log lines were not kept)");
        }
        for l in logs {
            eprintln!("{l}");
        }
        for e in &p.ended {
            eprintln!("{}", ended_line(&p.run_id, p.stages, e));
        }
        if !p.error.is_empty() {
            eprintln!("[{}] failed: {}", p.run_id, p.error);
        }
    }
}

impl Drop for TuiView {
    fn drop(&mut self) {
        if self.screen.take().is_some() {
            for l in super::logs::release().0 {
                eprintln!("{l}");
            }
        }
    }
}

const HEAD: Style = Style::new().add_modifier(Modifier::BOLD);

/// The whole screen.
pub(crate) fn draw(f: &mut Frame, p: &Progress, logs: &[String]) {
    let live = p.live.as_ref();
    let groups = live.map_or(0, |l| l.groups.len());
    let agents = live.map_or(0, |l| l.agents.len());
    // Room for the stages that ended and the one in progress.
    let lower_rows = (groups.max(p.ended.len() + 1) + 3) as u16;
    let [title, gauge, figures, lower, agents_area, logs_area] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(3),
        Constraint::Length(6),
        Constraint::Length(lower_rows.min(12)),
        Constraint::Length((agents.max(1) + 3).min(14) as u16),
        Constraint::Min(4),
    ])
    .areas(f.area());
    f.render_widget(Paragraph::new(title_line(p)), title);
    draw_gauge(f, gauge, p);
    draw_figures(f, figures, p);
    let [stages_area, groups_area] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(lower);
    draw_stages(f, stages_area, p);
    draw_groups(f, groups_area, live);
    draw_agents(f, agents_area, live);
    let n = logs_area.height.saturating_sub(2) as usize;
    let shown: Vec<Line> = logs[logs.len().saturating_sub(n)..]
        .iter()
        .map(|l| Line::raw(l.as_str()))
        .collect();
    f.render_widget(
        Paragraph::new(shown).block(Block::bordered().title(" log ")),
        logs_area,
    );
}

fn title_line(p: &Progress) -> Line<'static> {
    let state = if p.finished {
        if p.error.is_empty() {
            "finished".to_string()
        } else {
            format!("failed: {}", p.error)
        }
    } else {
        p.message.clone()
    };
    Line::from(vec![
        Span::styled(" fleetbench ", HEAD.fg(Color::Black).bg(Color::Cyan)),
        Span::raw(format!(" run {} · ", p.run_id)),
        Span::styled(state, HEAD),
        Span::raw(" · Ctrl-C or q: stop the run (partial report)").dim(),
    ])
}

fn draw_gauge(f: &mut Frame, area: Rect, p: &Progress) {
    let Some(l) = p.live.as_ref() else {
        f.render_widget(
            Paragraph::new(p.message.clone()).block(Block::bordered().title(" stage ")),
            area,
        );
        return;
    };
    let ratio = if l.end_s.is_finite() && l.end_s > 0.0 {
        l.elapsed_s / l.end_s
    } else if p.requests_planned > 0 {
        p.requests_done as f64 / p.requests_planned as f64
    } else {
        0.0
    };
    // The words in the title, the bar below them: a label drawn over the bar is hard to read.
    let title = Line::from(vec![
        Span::styled(
            format!(" {} ", stage_name(p.stage, p.stages, &l.label)),
            HEAD,
        ),
        Span::raw(format!("· elapsed {} ", elapsed_and_remaining(p, l))),
    ]);
    let ratio = ratio.clamp(0.0, 1.0);
    f.render_widget(
        Gauge::default()
            .block(Block::bordered().title(title))
            .gauge_style(Style::new().fg(Color::Cyan).bg(Color::DarkGray))
            .ratio(ratio)
            .label(format!("{:.0}%", ratio * 100.0)),
        area,
    );
}

fn draw_figures(f: &mut Frame, area: Rect, p: &Progress) {
    let block = Block::bordered().title(" requests and latency (merged over the agents) ");
    let Some(l) = p.live.as_ref() else {
        f.render_widget(Paragraph::new("").block(block), area);
        return;
    };
    let key = |k: &'static str| Span::styled(format!("{k:<10}"), HEAD);
    let in_flight = if l.in_flight.is_finite() {
        format!("~{:.1} (achieved rate × mean E2E)", l.in_flight)
    } else {
        "-".into()
    };
    let fail_style = if l.failure_classes.is_empty() {
        Style::new().fg(Color::Green)
    } else {
        Style::new().fg(Color::Red)
    };
    let lines = vec![
        Line::from(vec![
            key("requests"),
            Span::raw(format!(
                "{} done, {} failed · {} · in flight {in_flight}",
                p.requests_done,
                p.failures,
                rates(l)
            )),
        ]),
        Line::from(vec![
            key("TTFT"),
            Span::raw(format!(
                "p50 {:>10}   p99 {:>10}",
                ms(p.ttft_p50_ms.unwrap_or(f64::NAN)),
                ms(l.ttft_p99_ms)
            )),
        ]),
        Line::from(vec![
            key("ITL"),
            Span::raw(format!(
                "p50 {:>10}   p99 {:>10}",
                ms(l.itl_p50_ms),
                ms(l.itl_p99_ms)
            )),
        ]),
        Line::from(vec![
            key("failures"),
            Span::styled(failure_classes(l), fail_style),
        ]),
    ];
    f.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        area,
    );
}

fn draw_stages(f: &mut Frame, area: Rect, p: &Progress) {
    let mut rows: Vec<Row> = p
        .ended
        .iter()
        .map(|e| {
            Row::new(vec![
                e.stage.to_string(),
                e.label.clone(),
                e.verdict.clone(),
                e.requests.to_string(),
                e.failures.to_string(),
                ms(e.ttft_p50_ms),
            ])
        })
        .collect();
    let running = !p.finished && p.ended.last().is_none_or(|e| e.stage != p.stage);
    if let (true, Some(l)) = (running, p.live.as_ref()) {
        rows.push(
            Row::new(vec![
                p.stage.to_string(),
                l.label.clone(),
                "running".into(),
                p.requests_done.to_string(),
                p.failures.to_string(),
                ms(p.ttft_p50_ms.unwrap_or(f64::NAN)),
            ])
            .style(Style::new().fg(Color::Cyan)),
        );
    }
    let widths = [
        Constraint::Length(5),
        Constraint::Length(16),
        Constraint::Length(9),
        Constraint::Length(9),
        Constraint::Length(8),
        Constraint::Length(11),
    ];
    let header =
        Row::new(["stage", "label", "state", "requests", "failed", "TTFT p50"]).style(HEAD);
    f.render_widget(
        Table::new(rows, widths)
            .header(header)
            .block(Block::bordered().title(" stages ")),
        area,
    );
}

/// A reading, or `-` when not reported (NaN).
fn num(v: f64, unit: &str) -> String {
    if v.is_finite() {
        format!("{v:.0}{unit}")
    } else {
        "-".into()
    }
}

fn draw_groups(f: &mut Frame, area: Rect, live: Option<&wire::StageLive>) {
    let rows: Vec<Row> = live
        .map(|l| l.groups.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|g| {
            Row::new(vec![
                g.name.clone(),
                g.agents.to_string(),
                g.gpus.to_string(),
                num(g.gpu_power_w, " W"),
                num(g.gpu_util_pct, " %"),
                num(g.engine_running, ""),
                num(g.engine_waiting, ""),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(12),
        Constraint::Length(6),
        Constraint::Length(5),
        Constraint::Length(10),
        Constraint::Length(9),
        Constraint::Length(8),
        Constraint::Length(8),
    ];
    let header = Row::new([
        "group",
        "agents",
        "GPUs",
        "GPU power",
        "GPU util",
        "running",
        "waiting",
    ])
    .style(HEAD);
    f.render_widget(
        Table::new(rows, widths).header(header).block(
            Block::bordered().title(" host groups (GPU: NVML; queue: the engine's /metrics) "),
        ),
        area,
    );
}

fn draw_agents(f: &mut Frame, area: Rect, live: Option<&wire::StageLive>) {
    let rows: Vec<Row> = live
        .map(|l| l.agents.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|a| {
            let color = match a.state.as_str() {
                "connected" => Color::Green,
                "silent" => Color::Yellow,
                _ => Color::Red,
            };
            Row::new(vec![
                Span::raw(a.id.clone()),
                Span::styled(a.state.clone(), Style::new().fg(color)),
                Span::raw(if a.last_heard_s.is_finite() {
                    format!("{:.1} s ago", a.last_heard_s)
                } else {
                    "-".into()
                }),
                Span::raw(a.requests.to_string()),
                Span::raw(ms(a.send_lag_p50_ms)),
                Span::raw(ms(a.send_lag_p99_ms)),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(28),
        Constraint::Length(12),
        Constraint::Length(12),
        Constraint::Length(9),
        Constraint::Length(14),
        Constraint::Length(14),
    ];
    let header = Row::new([
        "agent",
        "link",
        "last heard",
        "requests",
        "send lag p50",
        "send lag p99",
    ])
    .style(HEAD);
    f.render_widget(
        Table::new(rows, widths)
            .header(header)
            .block(Block::bordered().title(" agents (send lag of the latest interval) ")),
        area,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    #[test]
    fn the_screen_shows_stage_elapsed_latency_groups_agents_and_logs() {
        let p = Progress {
            run_id: "r1".into(),
            stage: 0,
            stages: 2,
            requests_done: 40,
            ttft_p50_ms: Some(51.25),
            message: "stage 0 (qps_05)".into(),
            live: Some(wire::StageLive {
                label: "qps_05".into(),
                elapsed_s: 8.0,
                end_s: 10.0,
                offered_rps: 5.0,
                achieved_rps: 5.0,
                in_flight: 0.3,
                ttft_p99_ms: 70.0,
                itl_p50_ms: 9.0,
                itl_p99_ms: 12.0,
                groups: vec![wire::GroupLive {
                    name: "client".into(),
                    agents: 1,
                    gpus: 1,
                    gpu_power_w: 250.0,
                    gpu_util_pct: 80.0,
                    engine_running: 3.0,
                    engine_waiting: 1.0,
                }],
                agents: vec![wire::AgentLive {
                    id: "agent-a".into(),
                    state: "connected".into(),
                    last_heard_s: 0.2,
                    requests: 40,
                    send_lag_p50_ms: 0.4,
                    send_lag_p99_ms: 1.5,
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut t = Terminal::new(TestBackend::new(140, 40)).unwrap();
        t.draw(|f| draw(f, &p, &["INFO a log line".to_string()]))
            .unwrap();
        let text: String = t
            .backend()
            .buffer()
            .content()
            .chunks(140)
            .map(|row| row.iter().map(|c| c.symbol()).collect::<String>() + "\n")
            .collect();
        for needle in [
            "stage 0 of 0..1 qps_05",
            "· elapsed 8.0 s of 10 s (2.0 s left)",
            "offered 5.0 req/s, achieved 5.0 req/s",
            "p50    51.2 ms",
            "250 W",
            "80 %",
            "agent-a",
            "connected",
            "INFO a log line",
        ] {
            assert!(text.contains(needle), "no {needle:?} in\n{text}");
        }
    }
}
