//! The per-pool section of `summary.md`: the breakdown table and, per stage, its P/D path check
//! and TTFT split lines.

use super::benchmark_run::BenchmarkRun;
use super::pd_path;
use super::pools::{pool_rows, stored, ttft_line, POOL_COLUMNS};

/// The second table of `summary.md`: per stage and pool, then per stage its P/D path check
/// and TTFT split; empty when no stage has a breakdown.
pub fn pools_markdown(reports: &[BenchmarkRun]) -> String {
    let rows = pool_rows(reports);
    if rows.is_empty() {
        return String::new();
    }
    let mut out = String::from("\n## Per-pool breakdown\n\n| ");
    out.push_str(&POOL_COLUMNS.join(" | "));
    out.push_str(" |\n|");
    out.push_str(&"---|".repeat(POOL_COLUMNS.len()));
    out.push('\n');
    for r in rows {
        out.push_str(&format!("| {} |\n", r.join(" | ")));
    }
    out.push('\n');
    for l in stage_pd_lines(reports) {
        out.push_str(&format!("- {l}\n"));
    }
    out
}

/// Per stage with a P/D check or a TTFT split: `stage k (label): P/D path check: ...` and the
/// TTFT split line.
pub fn stage_pd_lines(reports: &[BenchmarkRun]) -> Vec<String> {
    let mut out = Vec::new();
    for r in reports {
        let meta = r.scenario.load.metadata.as_ref();
        let head = format!(
            "stage {} ({})",
            meta.and_then(|m| m.get("stage"))
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0),
            meta.and_then(|m| m.get("stage_label"))
                .and_then(serde_json::Value::as_str)
                .unwrap_or("stage")
        );
        if let Some(pd) = pd_path::stored(r) {
            out.push(format!("{head}: {}", pd.line()));
        }
        if let Some(t) = stored(r).as_ref().and_then(ttft_line) {
            out.push(format!("{head}: {t}"));
        }
    }
    out
}
