//! `coordinator report compare RUN_A RUN_B`: the summary rows of two runs side by side, stage by
//! stage (matched by stage index), with the absolute and relative difference of every metric.

use super::load::{load_run, Depth};
use super::table::cell_text;
use super::RenderError;
use fleetbench_common::report::{summary_rows, BenchmarkRun, Cell, COLUMNS};
use std::fmt::Write;
use std::path::Path;

fn value(c: &Cell) -> Option<f64> {
    match c {
        Cell::Count(n) => Some(*n as f64),
        Cell::Number(n) => Some(*n),
        Cell::Text(_) => None,
    }
}

/// `(b - a) / a` as a signed percentage; `0.00%` when equal, `n/a` when only `a` is zero.
pub fn relative(a: f64, b: f64) -> String {
    if a == b {
        "0.00%".into()
    } else if a == 0.0 {
        "n/a".into()
    } else {
        format!("{:+.2}%", (b - a) / a.abs() * 100.0)
    }
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// The comparison as markdown.
pub fn compare_runs(a: &Path, b: &Path) -> Result<String, RenderError> {
    let ra = load_run(a, Depth::ReportsOnly)?;
    let rb = load_run(b, Depth::ReportsOnly)?;
    let reports = |r: &super::load::RunData| -> Vec<BenchmarkRun> {
        r.stages.iter().map(|s| s.report.clone()).collect()
    };
    let rows_a = summary_rows(&ra.profile_name, &reports(&ra));
    let rows_b = summary_rows(&rb.profile_name, &reports(&rb));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Compare A `{}` with B `{}`\n\nA: {}  \nB: {}\n\nΔ = B − A; Δ % = (B − A) / A.\n",
        ra.run_id,
        rb.run_id,
        a.display(),
        b.display()
    );
    let _ = writeln!(
        out,
        "| Stage | Test name (A / B) | Metric | A | B | Δ | Δ % |\n|---:|:---|:---|---:|---:|---:|---:|"
    );
    let n = ra.stages.len().max(rb.stages.len());
    for k in 0..n {
        let (sa, sb) = (ra.stages.get(k), rb.stages.get(k));
        let stage = sa.or(sb).map(|s| s.index).unwrap_or(k as u32);
        let (row_a, row_b) = (rows_a.get(k), rows_b.get(k));
        let name =
            |r: Option<&Vec<Cell>>| r.map(|r| cell_text(&r[0])).unwrap_or_else(|| "–".into());
        let names = if name(row_a) == name(row_b) {
            name(row_a)
        } else {
            format!("{} / {}", name(row_a), name(row_b))
        };
        for (c, metric) in COLUMNS.iter().enumerate().skip(2) {
            let va = row_a.and_then(|r| value(&r[c]));
            let vb = row_b.and_then(|r| value(&r[c]));
            let (delta, rel) = match (va, vb) {
                (Some(x), Some(y)) => (number(y - x), relative(x, y)),
                _ => ("–".into(), "–".into()),
            };
            let _ = writeln!(
                out,
                "| {stage} | {names} | {metric} | {} | {} | {delta} | {rel} |",
                va.map(number).unwrap_or_else(|| "–".into()),
                vb.map(number).unwrap_or_else(|| "–".into()),
            );
        }
    }
    if ra.stages.len() != rb.stages.len() {
        let _ = writeln!(
            out,
            "\nA has {} stages, B has {}: stages without a counterpart show –.",
            ra.stages.len(),
            rb.stages.len()
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::relative;

    #[test]
    fn relative_differences() {
        assert_eq!(relative(10.0, 10.0), "0.00%");
        assert_eq!(relative(10.0, 12.5), "+25.00%");
        assert_eq!(relative(10.0, 9.0), "-10.00%");
        assert_eq!(relative(0.0, 1.0), "n/a");
        assert_eq!(relative(0.0, 0.0), "0.00%");
    }
}
