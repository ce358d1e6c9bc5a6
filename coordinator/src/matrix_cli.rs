//! The command line's side of vLLM-style sweep matrices (`fleetbench_profile::Matrix`):
//! which expanded runs a command takes (`--tp`, `--entry`, `--all`), and `coordinator expand`.

use anyhow::{bail, Context};
use fleetbench_profile::{
    apply_overrides, is_matrix_file, load_matrix, load_profile_with, ExpandedRun, LoadedProfile,
};
use std::path::{Path, PathBuf};

/// Which runs of a sweep matrix a command takes (only for matrix files).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct MatrixSelect {
    /// Sweep matrix: only the runs of this tensor parallel size (the deployment under test).
    #[arg(long, value_name = "N")]
    pub tp: Option<u32>,
    /// Sweep matrix: only this run (`<entry>-tp<T>-in<I>-out<O>`) or standalone_runs entry;
    /// repeatable.
    #[arg(long = "entry", value_name = "NAME")]
    pub entries: Vec<String>,
    /// Sweep matrix: run the selected runs even when they need different tensor parallel sizes
    /// (fleetbench does not redeploy: they all go to the one endpoint).
    #[arg(long)]
    pub all: bool,
}

impl MatrixSelect {
    fn is_empty(&self) -> bool {
        self.tp.is_none() && self.entries.is_empty() && !self.all
    }
}

/// The selected runs of `path` when it is a sweep matrix (`None` for a profile).
pub fn matrix_runs(
    path: &Path,
    overrides: &[String],
    select: &MatrixSelect,
) -> anyhow::Result<Option<Vec<ExpandedRun>>> {
    if !is_matrix_file(path)? {
        if !select.is_empty() {
            bail!(
                "{}: --tp, --entry and --all select runs of a sweep matrix (a file with standalone_runs); this is a profile",
                path.display()
            );
        }
        return Ok(None);
    }
    let matrix = load_matrix(path, overrides)?;
    let runs = matrix.select(select.tp, &select.entries)?;
    Ok(Some(runs.into_iter().cloned().collect()))
}

/// What `coordinator run` and `submit` run, in order: the profile (as given, with the
/// overrides applied), or the selected runs of a sweep matrix, which must all need one tensor
/// parallel size unless `--all`.
pub fn profiles_to_run(
    path: &Path,
    overrides: &[String],
    select: &MatrixSelect,
) -> anyhow::Result<Vec<(LoadedProfile, String)>> {
    let Some(runs) = matrix_runs(path, overrides, select)? else {
        let loaded = load_profile_with(path, overrides)?;
        let text =
            std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
        // The run directory keeps the profile as run: with the overrides applied.
        let text = apply_overrides(&text, path, overrides)?;
        return Ok(vec![(loaded, text)]);
    };
    let refs: Vec<&ExpandedRun> = runs.iter().collect();
    let tps = fleetbench_profile::tensor_parallel_sizes(&refs);
    if !select.all && tps.contains(',') {
        bail!(
            "{}: the selected runs need tensor parallel sizes {tps}, but fleetbench measures the one deployment behind server.base_url: pick its size with --tp N (or runs with --entry NAME; --all runs them all against it)",
            path.display()
        );
    }
    Ok(runs
        .into_iter()
        .map(|r| (r.loaded, r.profile_text))
        .collect())
}

/// One line that introduces an expanded run.
pub fn describe(r: &ExpandedRun) -> String {
    let mut s = format!(
        "run {}: entry {} ({}), tp {}, input_len {}, output_len {}",
        r.name, r.entry, r.mode, r.tp, r.input_len, r.output_len
    );
    if r.prefix_len > 0 {
        s.push_str(&format!(", prefix_len {}", r.prefix_len));
    }
    s
}

/// `coordinator expand`: writes one profile per selected run to `out/<run>.yaml`.
pub fn expand(
    path: &Path,
    overrides: &[String],
    select: &MatrixSelect,
    out: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    let Some(runs) = matrix_runs(path, overrides, select)? else {
        bail!(
            "{}: not a sweep matrix (no top-level standalone_runs); a profile runs as it is",
            path.display()
        );
    };
    std::fs::create_dir_all(out).with_context(|| format!("create {}", out.display()))?;
    let mut written = Vec::new();
    for r in &runs {
        let file = out.join(format!("{}.yaml", r.name));
        std::fs::write(&file, &r.profile_text)
            .with_context(|| format!("write {}", file.display()))?;
        written.push(file);
    }
    Ok(written)
}
