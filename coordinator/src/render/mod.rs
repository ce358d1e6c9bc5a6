//! The outputs people look at, rebuilt from the files of a run directory alone (so a run written
//! by an older version renders too): `summary.md`, `summary.json`, `summary.csv`, `SUMMARY.txt`
//! (fixed-width table and headline), plots as PNG and SVG under `plots/`, and `report.html`, one
//! self-contained page. Also the comparison of two runs ([`compare_runs`]) and the live progress
//! display of the console ([`live`]).
//!
//! [`render_run`] reads the stage reports (`stage-<k>/report.json`), `plan.json` (profile name,
//! snapshot interval), `profile.yaml` (SLOs) and the snapshot logs (`snapshots/stage-<k>.pb`:
//! distributions and time series); it writes nothing else.

mod compare;
mod html;
pub mod live;
mod load;
mod plots;
mod table;

pub use compare::compare_runs;
pub use load::{load_run, Depth, IntervalPoint, RunData, StageData};
pub use plots::{HEIGHT as PLOT_HEIGHT, WIDTH as PLOT_WIDTH};

use fleetbench_common::report::{
    assess, summary_json, summary_markdown, summary_rows, verdicts_markdown, with_verdicts,
    BenchmarkRun, StageVerdict,
};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{0}: no stage reports (stage-<k>/report.json): is this a run directory?")]
    NoReports(PathBuf),
    #[error("plot {name}: {message}")]
    Plot { name: String, message: String },
}

/// What [`render_run`] wrote.
#[derive(Debug, Clone)]
pub struct RenderSummary {
    pub dir: PathBuf,
    /// Paths relative to `dir`, in the order written.
    pub files: Vec<String>,
    pub summary_markdown: String,
    pub headline: Vec<String>,
    /// Each stage's verdict, judged from its stored report.
    pub verdicts: Vec<StageVerdict>,
    /// What could not be read (a missing snapshot log, say) and was left out.
    pub warnings: Vec<String>,
}

pub(crate) fn write(path: &Path, contents: &[u8]) -> Result<(), RenderError> {
    std::fs::write(path, contents).map_err(|source| RenderError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// (Re)writes every output of the run directory `dir` from its stored files.
pub fn render_run(dir: &Path) -> Result<RenderSummary, RenderError> {
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
    let md = summary_markdown(&rows) + &verdicts_markdown(&verdicts);
    put("summary.md", md.as_bytes())?;
    let summary = with_verdicts(summary_json(&rows), &verdicts);
    let json = serde_json::to_vec_pretty(&summary).map_err(|e| RenderError::Parse {
        path: dir.join("summary.json"),
        message: e.to_string(),
    })?;
    put("summary.json", &json)?;
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
