//! What a sweep can fail with.

use std::path::PathBuf;
use std::time::Duration;

/// Why a sweep stopped or could not start.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The sweep file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The sweep file is not valid YAML (`file`, `message`).
    #[error("{file}: {message}")]
    Parse {
        /// The sweep file.
        file: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A key of the sweep file has a bad value.
    #[error("{file}: {key}: {message}")]
    Invalid {
        /// The sweep file.
        file: PathBuf,
        /// The key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// The sweep's profile is invalid.
    #[error(transparent)]
    Profile(#[from] fleetbench_profile::ProfileError),
    /// The profile with a point's overrides is invalid.
    #[error("point {point}: {source}")]
    PointProfile {
        /// The point's name.
        point: String,
        /// The underlying error.
        #[source]
        source: fleetbench_profile::ProfileError,
    },
    /// A point's reconfigure command failed (`point`, `message`).
    #[error("point {point}: reconfigure failed: {message}")]
    Reconfigure {
        /// The point's name.
        point: String,
        /// What is wrong.
        message: String,
    },
    /// The deployment did not become ready for a point in time.
    #[error("point {point}: not ready after {waited:?}: {reason}")]
    NotReady {
        /// The point's name.
        point: String,
        /// How long readiness was polled.
        waited: Duration,
        /// What went wrong.
        reason: String,
    },
    /// A point's run failed (`point`, `message`).
    #[error("point {point}: run failed: {message}")]
    Run {
        /// The point's name.
        point: String,
        /// What is wrong.
        message: String,
    },
    /// The sweep's summary could not be written.
    #[error(transparent)]
    Render(#[from] fleetbench_report::render::RenderError),
    /// A stop request ended the sweep.
    #[error("stopped (a stop request)")]
    Stopped,
}
