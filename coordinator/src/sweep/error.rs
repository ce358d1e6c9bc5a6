//! What a sweep can fail with.

use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Parse { file: PathBuf, message: String },
    #[error("{file}: {key}: {message}")]
    Invalid {
        file: PathBuf,
        key: String,
        message: String,
    },
    #[error(transparent)]
    Profile(#[from] fleetbench_profile::ProfileError),
    #[error("point {point}: {source}")]
    PointProfile {
        point: String,
        #[source]
        source: fleetbench_profile::ProfileError,
    },
    #[error("point {point}: reconfigure failed: {message}")]
    Reconfigure { point: String, message: String },
    #[error("point {point}: not ready after {waited:?}: {reason}")]
    NotReady {
        point: String,
        waited: Duration,
        reason: String,
    },
    #[error("point {point}: run failed: {message}")]
    Run { point: String, message: String },
    #[error(transparent)]
    Render(#[from] fleetbench_report::render::RenderError),
    #[error("stopped (a stop request)")]
    Stopped,
}
