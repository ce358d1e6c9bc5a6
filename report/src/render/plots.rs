//! The plots, each drawn twice from one description: PNG (plotters' bitmap backend, encoded with
//! `png`) and SVG. Text uses the font the project ships (`assets/fonts`), registered with
//! plotters' `ab_glyph` support, so nothing depends on the fonts of the machine.
//!
//! Sweeps (two stages or more) get Dynamo's set, request throughput vs load first (the
//! headline), then ITL vs load, the Pareto plot (output tok/s per GPU vs tok/s per user) and TTFT vs load. Every run gets TTFT and
//! ITL distributions (CDF per stage, from the merged snapshot histograms) and time series over
//! the run (completed requests and TTFT p50/p99 per snapshot interval; accelerator power per host
//! group and the engine queue where the agents sampled telemetry).

use super::chart::{color, Chart, Series};
use super::error::{write, RenderError};
use super::load::{IntervalPoint, RunData, StageData};
use super::pareto::{pareto_chart, tokens_per_sec_per_user, Group};
use fleetbench_model::measure::Metric;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

/// Size of every plot, pixels (PNG) and user units (SVG).
pub(crate) const WIDTH: u32 = 960;
pub(crate) const HEIGHT: u32 = 600;

const FONT: &str = "sans-serif";
/// Text scale of the SVG inlined into `report.html`.
const INLINE_TEXT_SCALE: f64 = 1.3;
static FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/LiberationSans-Regular.ttf");

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The shipped font is a valid TrueType file (a unit test draws with it).
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES);
    });
}

/// A drawn chart: its title and the SVG text to inline into the HTML page.
#[derive(Debug, Clone)]
pub struct Plot {
    /// File stem under `plots/` (`<name>.png`, `<name>.svg`).
    pub name: String,
    /// The chart's title.
    pub title: String,
    /// The SVG text.
    pub svg: String,
}

/// Decimals that tell apart ticks at a "nice" spacing (1, 2 or 5 × 10^k) of at most ten
/// labels over the span, as plotters places them.
fn tick_decimals(lo: f64, hi: f64) -> usize {
    let raw = (hi - lo).abs() / 10.0;
    if raw <= 0.0 || !raw.is_finite() {
        return 0;
    }
    let mag = 10f64.powf(raw.log10().floor());
    let nice = match raw / mag {
        n if n <= 1.0 => 1.0,
        n if n <= 2.0 => 2.0,
        n if n <= 5.0 => 5.0,
        _ => 10.0,
    } * mag;
    (-(nice.log10() + 1e-9).floor()).clamp(0.0, 4.0) as usize
}

fn fmt_tick(v: f64, decimals: usize) -> String {
    format!("{v:.decimals$}")
}

fn span(values: impl Iterator<Item = f64>, from_zero: bool, headroom: f64) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if from_zero && lo > 0.0 {
        lo = 0.0;
    }
    if hi - lo < 1e-9 {
        let pad = if hi.abs() > 1e-9 { hi.abs() * 0.1 } else { 1.0 };
        return (if from_zero { lo } else { lo - pad }, hi + pad);
    }
    let pad = (hi - lo) * headroom;
    (if from_zero { lo } else { lo - pad }, hi + pad)
}

/// Draws `c`; `scale` enlarges the text (and the room for it), for plots shown smaller than
/// their size, as in the HTML page.
fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    c: &Chart,
    scale: f64,
) -> Result<(), String> {
    let px = |v: f64| v * scale;
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    let labelled = c.series.iter().any(|s| !s.labels.is_empty());
    let xs = c.series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let x = span(xs, c.x_from_zero, if labelled { 0.12 } else { 0.05 });
    let ys = c.series.iter().flat_map(|s| s.points.iter().map(|p| p.1));
    // Room above the data for the legend box (taller with more entries) and point labels.
    let entries = c.series.iter().filter(|s| s.legend).count() as f64;
    let headroom = if labelled { 0.35 } else { 0.22 } + 0.08 * (entries - 2.0).max(0.0);
    let y = c
        .y_range
        .unwrap_or_else(|| span(ys, true, headroom.min(0.7)));
    let (x_decimals, y_decimals) = (tick_decimals(x.0, x.1), tick_decimals(y.0, y.1));
    let mut chart = ChartBuilder::on(root)
        .caption(&c.title, (FONT, px(30.0)))
        .margin(18)
        .x_label_area_size(px(68.0) as u32)
        .y_label_area_size(px(100.0) as u32)
        .build_cartesian_2d(x.0..x.1, y.0..y.1)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(&c.x_label)
        .y_desc(&c.y_label)
        .axis_desc_style((FONT, px(22.0)))
        .label_style((FONT, px(20.0)))
        .x_labels(10)
        .y_labels(8)
        .x_label_formatter(&|v| fmt_tick(*v, x_decimals))
        .y_label_formatter(&|v| fmt_tick(*v, y_decimals))
        .bold_line_style(RGBColor(215, 215, 215))
        .light_line_style(TRANSPARENT)
        .draw()
        .map_err(err)?;
    for (mx, label) in &c.marks {
        let grey = RGBColor(150, 150, 150);
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(*mx, y.0), (*mx, y.1)],
                grey.stroke_width(1),
            )))
            .map_err(err)?;
        chart
            .draw_series(std::iter::once(
                EmptyElement::at((*mx, y.1))
                    + Text::new(
                        label.clone(),
                        (5, 6),
                        (FONT, px(18.0)).into_font().color(&grey),
                    ),
            ))
            .map_err(err)?;
    }
    let mut legend = false;
    for s in &c.series {
        let col = s.color;
        let style = ShapeStyle::from(&col).stroke_width(2);
        if s.line && s.points.len() > 1 {
            let a = chart
                .draw_series(LineSeries::new(s.points.iter().copied(), style))
                .map_err(err)?;
            if s.legend {
                legend = true;
                a.label(s.name.as_str()).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 22, y)], col.stroke_width(3))
                });
            }
        }
        if s.markers || s.points.len() == 1 {
            let a = chart
                .draw_series(
                    s.points
                        .iter()
                        .map(|&p| Circle::new(p, 5, ShapeStyle::from(&col).filled())),
                )
                .map_err(err)?;
            if s.legend && !(s.line && s.points.len() > 1) {
                legend = true;
                a.label(s.name.as_str())
                    .legend(move |(x, y)| Circle::new((x + 11, y), 5, col.filled()));
            }
        }
        if !s.labels.is_empty() {
            chart
                .draw_series(s.points.iter().zip(&s.labels).map(|(&p, l)| {
                    EmptyElement::at(p)
                        + Text::new(
                            l.clone(),
                            (8, px(-24.0) as i32),
                            (FONT, px(19.0)).into_font().color(&BLACK),
                        )
                }))
                .map_err(err)?;
        }
    }
    if legend {
        chart
            .configure_series_labels()
            .position(c.legend_at.clone())
            .margin(12)
            .label_font((FONT, px(20.0)))
            .background_style(WHITE.mix(0.9))
            .border_style(RGBColor(160, 160, 160))
            .draw()
            .map_err(err)?;
    }
    root.present().map_err(err)
}

/// Draws `c` into `dir/plots/<name>.png` and `.svg`.
pub fn render_chart(c: &Chart, dir: &Path) -> Result<Plot, RenderError> {
    register_font();
    let plot_err = |message: String| RenderError::Plot {
        name: c.name.clone(),
        message,
    };
    let mut rgb = vec![255u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, c, 1.0).map_err(plot_err)?;
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, c, 1.0).map_err(plot_err)?;
    }
    // The page shows plots at about two thirds of their size: larger text there.
    let mut inline = String::new();
    {
        let root = SVGBackend::with_string(&mut inline, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, c, INLINE_TEXT_SCALE).map_err(plot_err)?;
    }
    let plots = dir.join("plots");
    std::fs::create_dir_all(&plots).map_err(|source| RenderError::Io {
        path: plots.clone(),
        source,
    })?;
    let png_path = plots.join(format!("{}.png", c.name));
    write(&png_path, &encode_png(&rgb).map_err(plot_err)?)?;
    write(&plots.join(format!("{}.svg", c.name)), svg.as_bytes())?;
    Ok(Plot {
        name: c.name.clone(),
        title: c.title.clone(),
        svg: inline,
    })
}

/// Draws `c` as SVG text for a page only (no files), text enlarged as in `report.html`.
pub(crate) fn inline_svg(c: &Chart) -> Result<String, RenderError> {
    register_font();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, c, INLINE_TEXT_SCALE).map_err(|message| RenderError::Plot {
            name: c.name.clone(),
            message,
        })?;
    }
    Ok(svg)
}

fn encode_png(rgb: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, WIDTH, HEIGHT);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().map_err(|e| e.to_string())?;
        w.write_image_data(rgb).map_err(|e| e.to_string())?;
    }
    Ok(out)
}

/// The x axis of a sweep: the stages' rate or users when all stages have one of one kind.
pub(crate) fn load_axis(stages: &[StageData]) -> (String, Vec<f64>) {
    let kinds: Vec<&str> = stages.iter().map(|s| s.load_kind()).collect();
    let values: Option<Vec<f64>> = stages.iter().map(|s| s.load_value()).collect();
    match values {
        Some(v)
            if kinds
                .iter()
                .all(|k| matches!(*k, "constant" | "poisson" | "gamma")) =>
        {
            ("Request rate (req/s)".into(), v)
        }
        Some(v) if kinds.iter().all(|k| *k == "concurrent") => ("Concurrency (users)".into(), v),
        _ => (
            "Stage (index)".into(),
            stages.iter().map(|s| s.index as f64).collect(),
        ),
    }
}

/// Every chart a run gets.
pub(crate) fn charts(run: &RunData) -> Vec<Chart> {
    let mut out = Vec::new();
    let stages = &run.stages;
    if stages.len() >= 2 {
        out.extend(sweep_charts(stages));
    }
    out.extend(distribution_charts(stages));
    out.extend(time_series_charts(stages));
    out
}

fn sweep_charts(stages: &[StageData]) -> Vec<Chart> {
    let (x_label, xs) = load_axis(stages);
    let mut out = Vec::new();
    let pick = |f: &dyn Fn(&StageData) -> Option<f64>| -> Vec<(f64, f64)> {
        stages
            .iter()
            .zip(&xs)
            .filter_map(|(s, &x)| f(s).map(|y| (x, y)))
            .collect()
    };

    let itl_p50 = pick(&|s| {
        s.report
            .metrics
            .latency
            .inter_token_latency
            .as_ref()
            .and_then(|i| i.p50)
    });
    let itl_mean = pick(&|s| {
        s.report
            .metrics
            .latency
            .inter_token_latency
            .as_ref()
            .map(|i| i.mean)
    });
    if !itl_p50.is_empty() {
        out.push(Chart {
            name: "itl_vs_load".into(),
            title: "Inter-token latency vs load".into(),
            x_label: x_label.clone(),
            y_label: "Inter-token latency (ms)".into(),
            series: vec![
                Series::new("p50 ITL", itl_p50, color(0)).with_markers(),
                Series::new("mean ITL", itl_mean, color(1)).with_markers(),
            ],
            y_range: None,
            x_from_zero: true,
            marks: Vec::new(),
            legend_at: SeriesLabelPosition::UpperLeft,
        });
    }

    let rps = pick(&|s| s.report.metrics.throughput.requests_per_sec);
    let mut series = Vec::new();
    if x_label.starts_with("Request rate") {
        // Drawn first, so that the measured line stays visible where they coincide.
        let offered: Vec<(f64, f64)> = xs.iter().map(|&x| (x, x)).collect();
        series.push(Series::new(
            "offered rate",
            offered,
            RGBColor(190, 190, 190),
        ));
    }
    series.push(Series::new("completed requests", rps, color(0)).with_markers());
    out.push(Chart {
        name: "throughput_vs_load".into(),
        title: "Request throughput vs load".into(),
        x_label: x_label.clone(),
        y_label: "Request throughput (req/s)".into(),
        series,
        y_range: None,
        x_from_zero: true,
        marks: Vec::new(),
        legend_at: SeriesLabelPosition::UpperLeft,
    });

    // Efficiency: output tok/s per GPU (per stage without a GPU count) vs tok/s per user.
    let per_gpu = stages.iter().all(|s| s.gpu_count() > 0);
    let mut group = Group {
        name: "stages".into(),
        points: Vec::new(),
        labels: Vec::new(),
    };
    for s in stages {
        let tok = s.report.metrics.throughput.output_tokens_per_sec;
        if let (Some(x), Some(tok)) = (tokens_per_sec_per_user(&s.report), tok) {
            let gpus = if per_gpu { s.gpu_count() as f64 } else { 1.0 };
            group.points.push((x, tok / gpus));
            group.labels.push(s.label.clone());
        }
    }
    out.extend(pareto_chart("Efficiency", per_gpu, vec![group]));

    let ttft_mean = pick(&|s| Some(s.report.metrics.latency.time_to_first_token.mean));
    let ttft_p99 = pick(&|s| s.report.metrics.latency.time_to_first_token.p99);
    out.push(Chart {
        name: "ttft_vs_load".into(),
        title: "Time to first token vs load".into(),
        x_label,
        y_label: "Time to first token (ms)".into(),
        series: vec![
            Series::new("mean TTFT", ttft_mean, color(0)).with_markers(),
            Series::new("p99 TTFT", ttft_p99, color(1)).with_markers(),
        ],
        y_range: None,
        x_from_zero: true,
        marks: Vec::new(),
        legend_at: SeriesLabelPosition::UpperLeft,
    });
    // The headline plot first: throughput vs load.
    out.sort_by_key(|c| c.name != "throughput_vs_load");
    out
}

fn distribution_charts(stages: &[StageData]) -> Vec<Chart> {
    let mut out = Vec::new();
    for (metric, name, title, x_label, y_label) in [
        (
            Metric::Ttft,
            "ttft_cdf",
            "Time to first token, distribution per stage",
            "Time to first token (ms)",
            "Requests at or below (%)",
        ),
        (
            Metric::Itl,
            "itl_cdf",
            "Inter-token latency, distribution per stage",
            "Inter-token latency (ms)",
            "Token gaps at or below (%)",
        ),
    ] {
        let series: Vec<Series> = stages
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let h = s.merged.as_ref()?.histogram(metric);
                if h.is_empty() {
                    return None;
                }
                let mut pts = vec![(h.min() as f64 / 1000.0, 0.0)];
                pts.extend((1..=200).map(|k| {
                    let q = k as f64 / 200.0;
                    (h.value_at_quantile(q) as f64 / 1000.0, q * 100.0)
                }));
                Some(Series::new(s.label.clone(), pts, color(i)))
            })
            .collect();
        if !series.is_empty() {
            out.push(Chart {
                name: name.into(),
                title: title.into(),
                x_label: x_label.into(),
                y_label: y_label.into(),
                series,
                y_range: Some((0.0, 100.0)),
                x_from_zero: false,
                marks: Vec::new(),
                legend_at: SeriesLabelPosition::LowerRight,
            });
        }
    }
    out
}

/// One statistic of an interval.
type PickInterval = fn(&IntervalPoint) -> Option<f64>;

/// Midpoint of a stage's interval, in seconds since the first stage started.
fn interval_time(s: &StageData, interval: u32) -> f64 {
    s.offset_s + (interval as f64 + 0.5) * s.interval_s
}

/// One series per (color, pick, label) and stage, from the stages' per-interval figures; each
/// label in the legend once.
fn interval_series(stages: &[StageData], picks: &[(usize, PickInterval, &str)]) -> Vec<Series> {
    let mut out = Vec::new();
    for (n, s) in stages
        .iter()
        .filter(|s| !s.intervals.is_empty())
        .enumerate()
    {
        for &(k, pick, label) in picks {
            let pts: Vec<(f64, f64)> = s
                .intervals
                .iter()
                .filter_map(|p| pick(p).map(|v| (interval_time(s, p.interval), v)))
                .collect();
            let mut series = Series::new(label, pts, color(k)).with_markers();
            series.legend = n == 0;
            out.push(series);
        }
    }
    out
}

fn time_series_charts(stages: &[StageData]) -> Vec<Chart> {
    let t = interval_time;
    let mut out = Vec::new();
    let marks: Vec<(f64, String)> = stages
        .iter()
        .filter(|s| !s.intervals.is_empty())
        .map(|s| (s.offset_s, s.label.clone()))
        .collect();
    let rate: Vec<Series> = stages
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.intervals.is_empty())
        .map(|(i, s)| {
            let pts = s
                .intervals
                .iter()
                .map(|p| (t(s, p.interval), p.ok as f64 / s.interval_s))
                .collect();
            // The stage marks name the stages: no legend box over the data.
            let mut series = Series::new(s.label.clone(), pts, color(i)).with_markers();
            series.legend = false;
            series
        })
        .collect();
    if rate.is_empty() {
        return out;
    }
    out.push(Chart {
        name: "throughput_over_time".into(),
        title: "Completed requests over the run, per snapshot interval".into(),
        x_label: "Time since the first stage started (s)".into(),
        y_label: "Completed requests (req/s)".into(),
        series: rate,
        y_range: None,
        x_from_zero: true,
        marks: marks.clone(),
        legend_at: SeriesLabelPosition::UpperRight,
    });
    let ttft = interval_series(
        stages,
        &[
            (0, |p| p.ttft_p50_ms, "TTFT p50"),
            (1, |p| p.ttft_p99_ms, "TTFT p99"),
        ],
    );
    out.push(Chart {
        name: "ttft_over_time".into(),
        title: "Time to first token over the run, per snapshot interval".into(),
        x_label: "Time since the first stage started (s)".into(),
        y_label: "Time to first token (ms)".into(),
        series: ttft,
        y_range: None,
        x_from_zero: true,
        marks: marks.clone(),
        legend_at: SeriesLabelPosition::UpperRight,
    });
    // Telemetry, where the agents sampled it.
    let groups: std::collections::BTreeSet<&String> = stages
        .iter()
        .flat_map(|s| s.intervals.iter().flat_map(|p| p.power_w.keys()))
        .collect();
    if !groups.is_empty() {
        let mut power = Vec::new();
        for (n, s) in stages
            .iter()
            .filter(|s| !s.intervals.is_empty())
            .enumerate()
        {
            for (g, group) in groups.iter().enumerate() {
                let pts: Vec<(f64, f64)> = s
                    .intervals
                    .iter()
                    .filter_map(|p| p.power_w.get(*group).map(|w| (t(s, p.interval), *w)))
                    .collect();
                let mut series = Series::new(group.as_str(), pts, color(g)).with_markers();
                series.legend = n == 0;
                power.push(series);
            }
        }
        out.push(Chart {
            name: "power_over_time".into(),
            title: "Accelerator power per host group, per snapshot interval".into(),
            x_label: "Time since the first stage started (s)".into(),
            y_label: "Power (W, sum over the group's devices)".into(),
            series: power,
            y_range: None,
            x_from_zero: true,
            marks: marks.clone(),
            legend_at: SeriesLabelPosition::UpperRight,
        });
    }
    let has_queue = stages
        .iter()
        .any(|s| s.intervals.iter().any(|p| p.engine_waiting.is_some()));
    if has_queue {
        let queue = interval_series(
            stages,
            &[
                (3, |p| p.engine_waiting, "waiting (queue)"),
                (0, |p| p.engine_running, "running"),
            ],
        );
        out.push(Chart {
            name: "queue_over_time".into(),
            title: "Engine requests waiting and running, per snapshot interval".into(),
            x_label: "Time since the first stage started (s)".into(),
            y_label: "Requests (mean over the interval)".into(),
            series: queue,
            y_range: None,
            x_from_zero: true,
            marks: marks.clone(),
            legend_at: SeriesLabelPosition::UpperRight,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_draws_to_png_and_svg_with_the_shipped_font() {
        let dir = std::env::temp_dir().join(format!("fleetbench-plot-{}", std::process::id()));
        let c = Chart {
            name: "t".into(),
            title: "Test chart".into(),
            x_label: "x (s)".into(),
            y_label: "y (ms)".into(),
            series: vec![Series::new("a", vec![(0.0, 1.0), (1.0, 2.0)], color(0))],
            y_range: None,
            x_from_zero: true,
            marks: Vec::new(),
            legend_at: SeriesLabelPosition::UpperLeft,
        };
        let p = render_chart(&c, &dir).unwrap();
        assert!(p.svg.starts_with("<svg"));
        let png = std::fs::read(dir.join("plots/t.png")).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn ticks_have_the_decimals_their_spacing_needs() {
        assert_eq!(tick_decimals(0.0, 21.0), 0);
        assert_eq!(tick_decimals(98.4, 100.1), 1);
        assert_eq!(tick_decimals(0.0, 0.5), 2);
        assert_eq!(tick_decimals(0.0, 100.0), 0);
        assert_eq!(tick_decimals(0.0, 8.4), 0);
        assert_eq!(fmt_tick(99.95, 1), "100.0");
        assert_eq!(fmt_tick(20.0, 0), "20");
    }
}
