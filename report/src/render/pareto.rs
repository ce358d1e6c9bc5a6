//! The efficiency (Pareto) chart, drawn one way wherever it appears: output tok/s per GPU
//! (output tok/s of the whole stage when a GPU count is missing) against the tok/s one user
//! sees (1000 / mean TPOT), one series per group of measurements and the front across all of
//! them. `report.html` draws it over a run's stages (one group), `sweep.html` over the sweep's
//! points (a group per point: its stages, or its probes that met the SLA).

use super::chart::{color, Chart, Series};
use crate::BenchmarkRun;
use plotters::prelude::{RGBColor, SeriesLabelPosition};

/// One series of the chart: its (tok/s per user, tok/s per GPU) points and their labels.
#[derive(Debug, Clone)]
pub struct Group {
    /// The series' name in the legend.
    pub name: String,
    /// (tok/s per user, tok/s per GPU) points.
    pub points: Vec<(f64, f64)>,
    /// Each point's label (same length as `points`).
    pub labels: Vec<String>,
}

/// The output tok/s one user sees: 1000 / mean TPOT (ms); `None` without a TPOT above 0.
pub fn tokens_per_sec_per_user(r: &BenchmarkRun) -> Option<f64> {
    r.metrics
        .latency
        .time_per_output_token
        .as_ref()
        .map(|t| t.mean)
        .filter(|t| *t > 0.0)
        .map(|t| 1000.0 / t)
}

/// The chart (`plots/pareto.*`); `None` when no group has a point. `subject` starts the title
/// ("Efficiency", "Deployment points"); `per_gpu`: the y values are per GPU.
pub fn pareto_chart(subject: &str, per_gpu: bool, groups: Vec<Group>) -> Option<Chart> {
    let all: Vec<(f64, f64)> = groups.iter().flat_map(|g| g.points.clone()).collect();
    if all.is_empty() {
        return None;
    }
    let mut series: Vec<Series> = groups
        .into_iter()
        .filter(|g| !g.points.is_empty())
        .enumerate()
        .map(|(i, g)| {
            let mut s = Series::new(g.name, g.points, color(i)).with_markers();
            s.labels = g.labels;
            s
        })
        .collect();
    series.push(Series::new(
        "Pareto front",
        pareto_front(&all),
        RGBColor(40, 40, 40),
    ));
    Some(Chart {
        name: "pareto".into(),
        title: if per_gpu {
            format!("{subject}: output tok/s per GPU vs tok/s per user")
        } else {
            format!("{subject}: output tok/s vs tok/s per user (no GPU count)")
        },
        x_label: "Output tok/s per user (1000 / mean TPOT)".into(),
        y_label: if per_gpu {
            "Output tok/s per GPU".into()
        } else {
            "Output tok/s (whole stage)".into()
        },
        series,
        y_range: None,
        x_from_zero: false,
        marks: Vec::new(),
        legend_at: SeriesLabelPosition::UpperRight,
    })
}

/// The points no other point beats in both coordinates, by increasing x.
pub(crate) fn pareto_front(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut front: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|&(x, y)| {
            !points
                .iter()
                .any(|&(a, b)| a >= x && b >= y && (a > x || b > y))
        })
        .collect();
    front.sort_by(|a, b| a.0.total_cmp(&b.0));
    front.dedup();
    front
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pareto_front_keeps_undominated_points() {
        let pts = [(1.0, 5.0), (2.0, 4.0), (1.5, 3.0), (3.0, 1.0), (2.0, 4.0)];
        assert_eq!(pareto_front(&pts), vec![(1.0, 5.0), (2.0, 4.0), (3.0, 1.0)]);
    }

    /// One series per group with points, then the front across every group.
    #[test]
    fn one_series_per_group_and_the_front_across_them() {
        let g = |name: &str, points: Vec<(f64, f64)>| Group {
            name: name.into(),
            labels: points.iter().map(|p| format!("{}", p.0)).collect(),
            points,
        };
        assert!(pareto_chart("Efficiency", true, vec![g("a", vec![])]).is_none());
        let c = pareto_chart(
            "Deployment points",
            true,
            vec![
                g("1p1d", vec![(10.0, 50.0), (20.0, 30.0)]),
                g("empty", vec![]),
                g("2p1d", vec![(15.0, 60.0), (30.0, 10.0)]),
            ],
        )
        .unwrap();
        let names: Vec<&str> = c.series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["1p1d", "2p1d", "Pareto front"]);
        assert_eq!(
            c.series[2].points,
            vec![(15.0, 60.0), (20.0, 30.0), (30.0, 10.0)]
        );
        assert_eq!(c.series[0].labels, ["10", "20"]);
        assert!(c.title.contains("per GPU"));
    }
}
