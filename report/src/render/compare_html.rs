//! The comparison page of `report compare`: one self-contained HTML file (inline CSS and SVG;
//! no script, nothing is fetched) with the runs, plots that overlay the runs (output throughput,
//! TTFT p50 and ITL p50 vs load, and the efficiency Pareto plot), the stages without a partner
//! and the table of [`super::compare`]. Failed stages are left out of the plots.

use super::chart::{color, Chart, Series};
use super::compare::{lines, unpaired, Compared, Group};
use super::html::{escape, figure, STYLE};
use super::pareto::{pareto_front, tokens_per_sec_per_user};
use super::plots::{inline_svg, load_axis};
use plotters::prelude::SeriesLabelPosition;
use std::fmt::Write;

/// What a chart plots per stage.
type Pick = fn(&crate::BenchmarkRun) -> Option<f64>;

fn output_tps(r: &crate::BenchmarkRun) -> Option<f64> {
    r.metrics.throughput.output_tokens_per_sec
}

fn ttft_p50(r: &crate::BenchmarkRun) -> Option<f64> {
    r.metrics.latency.time_to_first_token.p50
}

fn itl_p50(r: &crate::BenchmarkRun) -> Option<f64> {
    r.metrics
        .latency
        .inter_token_latency
        .as_ref()
        .and_then(|i| i.p50)
}

/// Per run, the points `(load, pick)` of its stages that did not fail.
fn load_series(runs: &[Compared], pick: Pick) -> (String, Vec<Series>) {
    let mut label = None::<String>;
    let mut series = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        let (x_label, xs) = load_axis(&run.data.stages);
        label = match label {
            None => Some(x_label),
            Some(l) if l == x_label => Some(l),
            Some(_) => Some("Load (rate or users; stage index where neither)".into()),
        };
        let points: Vec<(f64, f64)> = run
            .data
            .stages
            .iter()
            .zip(xs)
            .zip(&run.failed)
            .filter(|(_, failed)| !**failed)
            .filter_map(|((s, x), _)| pick(&s.report).map(|y| (x, y)))
            .collect();
        series.push(
            Series::new(
                format!("{}: {}", run.letter, run.data.run_id),
                points,
                color(i),
            )
            .with_markers(),
        );
    }
    (label.unwrap_or_default(), series)
}

fn chart(name: &str, title: &str, x_label: String, y_label: &str, series: Vec<Series>) -> Chart {
    Chart {
        name: name.into(),
        title: title.into(),
        x_label,
        y_label: y_label.into(),
        series,
        y_range: None,
        x_from_zero: true,
        marks: Vec::new(),
        legend_at: SeriesLabelPosition::UpperLeft,
    }
}

/// The overlaid charts.
fn charts(runs: &[Compared]) -> Vec<Chart> {
    let mut out = Vec::new();
    let (x, s) = load_series(runs, output_tps);
    out.push(chart(
        "compare_throughput",
        "Output throughput vs load",
        x,
        "Output tokens/s",
        s,
    ));
    let (x, s) = load_series(runs, ttft_p50);
    out.push(chart(
        "compare_ttft",
        "Median time to first token vs load",
        x,
        "TTFT p50 (ms)",
        s,
    ));
    let (x, s) = load_series(runs, itl_p50);
    out.push(chart(
        "compare_itl",
        "Median inter-token latency vs load",
        x,
        "ITL p50 (ms)",
        s,
    ));
    let mut pareto = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        let pts: Vec<(f64, f64)> = run
            .data
            .stages
            .iter()
            .zip(&run.failed)
            .filter(|(_, f)| !**f)
            .filter_map(|(s, _)| {
                let tok = s.report.metrics.throughput.output_tokens_per_sec?;
                Some((tokens_per_sec_per_user(&s.report)?, tok))
            })
            .collect();
        let front = pareto_front(&pts);
        let mut dots = Series::new(
            format!("{}: {}", run.letter, run.data.run_id),
            pts,
            color(i),
        )
        .with_markers();
        dots.line = false;
        let mut line = Series::new(format!("{} front", run.letter), front, color(i));
        line.legend = false;
        pareto.push(dots);
        pareto.push(line);
    }
    let mut p = chart(
        "compare_pareto",
        "Efficiency: output tok/s vs tok/s per user (Pareto front per run)",
        "Output tok/s per user (1000 / mean TPOT)".into(),
        "Output tok/s (whole stage)",
        pareto,
    );
    p.x_from_zero = false;
    p.legend_at = SeriesLabelPosition::UpperRight;
    out.push(p);
    out
}

/// The comparison page.
pub(crate) fn page(runs: &[Compared], groups: &[Group]) -> String {
    let mut h = String::new();
    let title = format!(
        "fleetbench comparison: {}",
        runs.iter()
            .map(|r| r.data.run_id.as_str())
            .collect::<Vec<_>>()
            .join(" vs ")
    );
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{t}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{t}</h1>\n\
         <p class=\"sub\">Stages are paired by load (rate, users, else label); the first run is \
         the baseline. Failed stages are shown as failed and left out of the plots.</p>\n",
        t = escape(&title),
    );
    h.push_str("<h2>Runs</h2>\n<div class=\"scroll\"><table>\n<thead><tr><th>Run</th><th>Run id</th><th>Profile</th><th class=\"n\">Stages</th><th class=\"n\">Failed stages</th><th>Directory</th></tr></thead>\n<tbody>\n");
    for r in runs {
        let page = r.path.join("report.html");
        let link = std::fs::canonicalize(&page)
            .map(|p| {
                format!(
                    "<a href=\"file://{}\">{}</a>",
                    escape(&p.display().to_string()),
                    escape(&r.path.display().to_string())
                )
            })
            .unwrap_or_else(|_| format!("<code>{}</code>", escape(&r.path.display().to_string())));
        let _ = writeln!(
            h,
            "<tr><td><b>{}</b></td><td><code>{}</code></td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{link}</td></tr>",
            r.letter,
            escape(&r.data.run_id),
            escape(&r.data.profile_name),
            r.data.stages.len(),
            r.failed.iter().filter(|f| **f).count(),
        );
    }
    h.push_str("</tbody></table></div>\n");
    let missing = unpaired(runs, groups);
    if !missing.is_empty() {
        h.push_str("<div class=\"banner degraded\"><h2>Stages without a partner</h2><ul>\n");
        for m in &missing {
            let _ = writeln!(h, "<li>{}</li>", escape(m));
        }
        h.push_str("</ul></div>\n");
    }
    h.push_str("<h2 id=\"plots\">Plots</h2>\n<div class=\"plots\">\n");
    for c in charts(runs) {
        match inline_svg(&c) {
            Ok(svg) => h.push_str(&figure(&c.name, &c.title, &svg, "", false)),
            Err(e) => {
                let _ = writeln!(h, "<p class=\"note\">{}</p>", escape(&e.to_string()));
            }
        }
    }
    h.push_str("</div>\n");
    table(&mut h, runs, groups);
    h.push_str("</body>\n</html>\n");
    h
}

fn table(h: &mut String, runs: &[Compared], groups: &[Group]) {
    h.push_str("<h2>Table</h2>\n<div class=\"scroll\"><table class=\"summary\">\n<thead><tr><th>Load</th><th class=\"n\">Stage</th><th>Test name</th><th>Metric</th>");
    for (i, r) in runs.iter().enumerate() {
        let _ = write!(h, "<th class=\"n\">{}</th>", r.letter);
        if i > 0 {
            let _ = write!(
                h,
                "<th class=\"n\">Δ {l}</th><th class=\"n\">Δ % {l}</th>",
                l = r.letter
            );
        }
    }
    h.push_str("</tr></thead>\n<tbody>\n");
    for l in lines(runs, groups) {
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td>",
            escape(&l.load),
            escape(&l.stages),
            escape(&l.names),
            escape(l.metric),
            escape(&l.values[0])
        );
        for (v, (d, rel)) in l.values[1..].iter().zip(&l.deltas) {
            let _ = write!(
                h,
                "<td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>",
                escape(v),
                escape(d),
                escape(rel)
            );
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody></table></div>\n");
}
