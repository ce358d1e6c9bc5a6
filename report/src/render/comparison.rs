//! `report compare`: the runs read, their stages paired by load, the markdown table and the
//! comparison page.

use super::compare::{markdown, pair, read_runs};
use super::compare_html::page;
use super::error::RenderError;
use std::path::PathBuf;

/// What `report compare` found.
pub struct Comparison {
    /// The table as markdown, with the stages that have no partner.
    pub markdown: String,
    /// The comparison page (self-contained HTML).
    pub html: String,
}

/// Compares the runs in `dirs` (at least two; the first is the baseline).
pub fn compare_runs(dirs: &[PathBuf]) -> Result<Comparison, RenderError> {
    let runs = read_runs(dirs)?;
    let groups = pair(&runs);
    Ok(Comparison {
        markdown: markdown(&runs, &groups),
        html: page(&runs, &groups),
    })
}
