//! What rendering can fail with, and the one way render writes a file.

use std::path::{Path, PathBuf};

/// What reading a run directory or writing its outputs failed with.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be parsed (or a value not encoded).
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// The directory has no stage report.
    #[error("{0}: no stage reports (stage-<k>/report.json): is this a run directory?")]
    NoReports(PathBuf),
    /// A plot could not be drawn.
    #[error("plot {name}: {message}")]
    Plot {
        /// The plot's file stem.
        name: String,
        /// What the backend said.
        message: String,
    },
}

pub(crate) fn write(path: &Path, contents: &[u8]) -> Result<(), RenderError> {
    std::fs::write(path, contents).map_err(|source| RenderError::Io {
        path: path.to_path_buf(),
        source,
    })
}
