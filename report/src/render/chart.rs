//! What a chart draws, independent of the backend: its series, axes, marks and legend, and the
//! palette series take their colors from. `plots.rs` draws charts; `pareto.rs` and
//! `compare_html.rs` describe some.

use plotters::prelude::{RGBColor, SeriesLabelPosition};

/// Tableau 10.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

pub(crate) fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// One line and/or set of markers.
#[derive(Debug, Clone)]
pub struct Series {
    /// The legend's text.
    pub name: String,
    /// (x, y) in the axes' units.
    pub points: Vec<(f64, f64)>,
    /// The line's and markers' color.
    pub color: RGBColor,
    /// Points joined by a line.
    pub line: bool,
    /// A marker at each point.
    pub markers: bool,
    /// Shown in the legend (off for the second and later pieces of one logical series).
    pub legend: bool,
    /// Text next to each point (same length as `points`, or empty).
    pub labels: Vec<String>,
}

impl Series {
    pub(crate) fn new(name: impl Into<String>, points: Vec<(f64, f64)>, color: RGBColor) -> Series {
        Series {
            name: name.into(),
            points,
            color,
            line: true,
            markers: false,
            legend: true,
            labels: Vec::new(),
        }
    }

    pub(crate) fn with_markers(mut self) -> Series {
        self.markers = true;
        self
    }
}

/// A chart: what is drawn, with units in the axis descriptions.
#[derive(Debug, Clone)]
pub struct Chart {
    /// File stem under `plots/`.
    pub name: String,
    /// The title above the plot.
    pub title: String,
    /// The x axis's description, with its unit.
    pub x_label: String,
    /// The y axis's description, with its unit.
    pub y_label: String,
    /// What is drawn, in legend order.
    pub series: Vec<Series>,
    /// A fixed y range (CDFs: 0–100 %); otherwise from 0 to the data's maximum plus headroom.
    pub y_range: Option<(f64, f64)>,
    /// Start the x axis at 0 (loads, time); off where the data sit far from 0 (CDFs, Pareto).
    pub x_from_zero: bool,
    /// Vertical marks with a label at the top (stage starts in time series).
    pub marks: Vec<(f64, String)>,
    /// Where the legend sits.
    pub legend_at: SeriesLabelPosition,
}
