//! The outputs people look at, rebuilt from the files of a run directory alone (so a run written
//! by an older version renders too): `summary.md`, `summary.json`, `summary.csv`, `SUMMARY.txt`
//! (fixed-width table and headline), plots as PNG and SVG under `plots/`, `report.html` (one
//! self-contained page) and the llm-d reports. Also the comparison of runs ([`compare_runs`]: a
//! table and a page).
//!
//! [`write_outputs`] is the one writer of these files: `coordinator run` calls it after its
//! stages, `coordinator report render` on a stored run directory, and a resumed or closed run
//! when it ends. It reads the stage reports (`stage-<k>/report.json`), `plan.json` (profile
//! name, snapshot interval), `profile.yaml` (SLOs) and the snapshot logs
//! (`snapshots/stage-<k>.pb`: distributions and time series). `summary.md` and `summary.json`
//! carry vLLM's dashboard columns and `vllm/serving_<test>.{json,commands}` are the per-test
//! files vLLM's dashboard script loads; the llm-d reports (v0.2.1 per stage and the copies under
//! the names llm-d's tools look for) come from [`write_llm_d_reports`].

mod chart;
mod compare;
mod compare_html;
mod comparison;
mod error;
mod html;
mod llmd;
mod load;
mod pareto;
mod plots;
mod table;

pub use chart::{Chart, Series};
pub use comparison::{compare_runs, Comparison};
pub use error::RenderError;
pub use llmd::ReportFormat;
pub use plots::Plot;
// The sweep summary draws its Pareto plot and page with the same pieces.
pub use html::escape;
pub use pareto::{pareto_chart, tokens_per_sec_per_user, Group as ParetoGroup};
pub use plots::render_chart;

use crate::{
    assess, pools_markdown, summary_rows, verdicts_markdown, vllm_results, vllm_table,
    with_verdicts, BenchmarkRun, StageVerdict,
};
use error::write;
use llmd::write_llm_d_reports;
use load::{load_run, Depth};
use std::path::{Path, PathBuf};

/// What [`write_outputs`] wrote.
#[derive(Debug, Clone)]
pub struct RenderSummary {
    /// The run directory.
    pub dir: PathBuf,
    /// Paths relative to `dir`, in the order written.
    pub files: Vec<String>,
    /// `summary.md` as written.
    pub summary_markdown: String,
    /// The headline lines of `SUMMARY.txt`.
    pub headline: Vec<String>,
    /// Each stage's verdict, judged from its stored report.
    pub verdicts: Vec<StageVerdict>,
    /// What could not be read (a missing snapshot log, say) and was left out.
    pub warnings: Vec<String>,
}

/// A test name as a file name: anything but letters, digits, `.`, `-` and `_` becomes `_`.
fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// (Re)writes every output of the run directory `dir` from its stored files, in this order:
/// `summary.md`, `summary.json`, `vllm/serving_<test>.{json,commands}`, `summary.csv`,
/// `SUMMARY.txt`, `plots/*.{png,svg}`, `report.html`, then the llm-d reports of `format`
/// ([`write_llm_d_reports`]). A plot that cannot be drawn is a warning; any other failure stops
/// here with what was written so far left in place.
pub fn write_outputs(dir: &Path, format: ReportFormat) -> Result<RenderSummary, RenderError> {
    let mut written = render_run(dir)?;
    written.files.extend(write_llm_d_reports(dir, format)?);
    Ok(written)
}

/// The summaries, plots and page of [`write_outputs`].
fn render_run(dir: &Path) -> Result<RenderSummary, RenderError> {
    let mut run = load_run(dir, Depth::Full)?;
    let reports: Vec<BenchmarkRun> = run.stages.iter().map(|s| s.report.clone()).collect();
    let rows = summary_rows(&run.profile_name, &reports);
    let mut files = Vec::new();
    let mut put = |name: &str, contents: &[u8]| -> Result<(), RenderError> {
        write(&dir.join(name), contents)?;
        files.push(name.to_string());
        Ok(())
    };

    let verdicts: Vec<StageVerdict> = reports.iter().map(assess).collect();
    let results = vllm_results(&run.profile_name, &reports);
    let table = vllm_table(&results);
    let md = table.markdown() + &verdicts_markdown(&verdicts) + &pools_markdown(&reports);
    put("summary.md", md.as_bytes())?;
    let to_json = |name: &str, v: &serde_json::Value| {
        serde_json::to_vec_pretty(v).map_err(|e| RenderError::Parse {
            path: dir.join(name),
            message: e.to_string(),
        })
    };
    put(
        "summary.json",
        &to_json("summary.json", &with_verdicts(table.json(), &verdicts))?,
    )?;
    let vllm_dir = dir.join("vllm");
    std::fs::create_dir_all(&vllm_dir).map_err(|source| RenderError::Io {
        path: vllm_dir.clone(),
        source,
    })?;
    for r in &results {
        let stem = format!("vllm/serving_{}", file_safe(&r.test_name));
        let result = serde_json::Value::Object(r.result.clone());
        put(&format!("{stem}.json"), &to_json(&stem, &result)?)?;
        put(&format!("{stem}.commands"), &to_json(&stem, &r.commands)?)?;
    }
    put("summary.csv", table::summary_csv(&rows).as_bytes())?;
    let headline = table::headline(&run, &rows);
    put(
        "SUMMARY.txt",
        table::summary_txt(&run, &rows, &headline).as_bytes(),
    )?;

    let mut drawn = Vec::new();
    for chart in plots::charts(&run) {
        match plots::render_chart(&chart, dir) {
            Ok(p) => {
                files.push(format!("plots/{}.png", p.name));
                files.push(format!("plots/{}.svg", p.name));
                drawn.push(p);
            }
            Err(e) => run.warnings.push(e.to_string()),
        }
    }
    let mut listed = files.clone();
    listed.push("report.html".into());
    let page = html::report_html(&run, &rows, &headline, &drawn, &listed);
    write(&dir.join("report.html"), page.as_bytes())?;
    files.push("report.html".into());
    Ok(RenderSummary {
        dir: dir.to_path_buf(),
        files,
        summary_markdown: md,
        headline,
        verdicts,
        warnings: run.warnings,
    })
}
