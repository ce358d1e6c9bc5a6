//! The summary table (`docs/summary-table.md`): one row per stage in the layout of vLLM's
//! performance dashboard, as markdown and as pandas' column-oriented JSON.

use super::benchmark_run::{BenchmarkRun, Statistics};
use super::build::gpu_label;
use serde_json::Value;

/// The summary table's columns, in order.
pub const COLUMNS: [&str; 16] = [
    "Test name",
    "GPU",
    "# of req.",
    "Tput (req/s)",
    "Output Tput (tok/s)",
    "Total Token Tput (tok/s)",
    "Mean TTFT (ms)",
    "Median TTFT (ms)",
    "P99 TTFT (ms)",
    "Mean TPOT (ms)",
    "Median TPOT (ms)",
    "P99 TPOT (ms)",
    "Mean ITL (ms)",
    "Median ITL (ms)",
    "P99 ITL (ms)",
    "Goodput (req/s)",
];

/// One cell: text for the first two columns, numbers for the rest.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Text (test name, GPU).
    Text(String),
    /// A count.
    Count(u64),
    /// A figure.
    Number(f64),
}

/// Goodput in requests per second (`metrics.metadata.goodput`), `—` without constraints.
fn goodput_cell(r: &BenchmarkRun) -> Cell {
    r.metrics
        .metadata
        .as_ref()
        .and_then(|m| m.pointer("/goodput/requests_per_sec"))
        .and_then(Value::as_f64)
        .map_or(Cell::Text("—".into()), |v| Cell::Number(round2(v)))
}

/// One row per stage report, columns in [`COLUMNS`] order.
pub fn summary_rows(profile_name: &str, reports: &[BenchmarkRun]) -> Vec<Vec<Cell>> {
    reports
        .iter()
        .map(|r| {
            let stage_label = r
                .scenario
                .load
                .metadata
                .as_ref()
                .and_then(|m| m.get("stage_label"))
                .and_then(Value::as_str)
                .unwrap_or("stage");
            let l = &r.metrics.latency;
            let t = &r.metrics.throughput;
            let ok = r.metrics.requests.total - r.metrics.requests.failures.unwrap_or(0);
            let stat = |s: Option<&Statistics>, pick: fn(&Statistics) -> Option<f64>| {
                Cell::Number(s.and_then(pick).map(round2).unwrap_or(0.0))
            };
            let mean = |s: &Statistics| Some(s.mean);
            let p50 = |s: &Statistics| s.p50;
            let p99 = |s: &Statistics| s.p99;
            vec![
                Cell::Text(format!("{profile_name}_{stage_label}")),
                Cell::Text(gpu_label(r)),
                Cell::Count(ok),
                Cell::Number(round2(t.requests_per_sec.unwrap_or(0.0))),
                Cell::Number(round2(t.output_tokens_per_sec.unwrap_or(0.0))),
                Cell::Number(round2(t.total_tokens_per_sec)),
                stat(Some(&l.time_to_first_token), mean),
                stat(Some(&l.time_to_first_token), p50),
                stat(Some(&l.time_to_first_token), p99),
                stat(l.time_per_output_token.as_ref(), mean),
                stat(l.time_per_output_token.as_ref(), p50),
                stat(l.time_per_output_token.as_ref(), p99),
                stat(l.inter_token_latency.as_ref(), mean),
                stat(l.inter_token_latency.as_ref(), p50),
                stat(l.inter_token_latency.as_ref(), p99),
                goodput_cell(r),
            ]
        })
        .collect()
}

/// Markdown with right-aligned numbers.
pub fn summary_markdown(rows: &[Vec<Cell>]) -> String {
    let mut out = String::new();
    out.push_str("| ");
    out.push_str(&COLUMNS.join(" | "));
    out.push_str(" |\n|");
    for (i, _) in COLUMNS.iter().enumerate() {
        out.push_str(if i < 2 { ":---|" } else { "---:|" });
    }
    out.push('\n');
    for row in rows {
        out.push_str("| ");
        let cells: Vec<String> = row.iter().map(cell_text).collect();
        out.push_str(&cells.join(" | "));
        out.push_str(" |\n");
    }
    out
}

fn cell_text(c: &Cell) -> String {
    match c {
        Cell::Text(s) => s.clone(),
        Cell::Count(n) => n.to_string(),
        Cell::Number(n) => format!("{n:.2}"),
    }
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}
