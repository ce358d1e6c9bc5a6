//! What rendering can fail with, and the one way render writes a file.

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

pub(crate) fn write(path: &Path, contents: &[u8]) -> Result<(), RenderError> {
    std::fs::write(path, contents).map_err(|source| RenderError::Io {
        path: path.to_path_buf(),
        source,
    })
}
