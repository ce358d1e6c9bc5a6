//! `coordinator sweep`: deployment-shape sweeps and SLA search (`docs/sweep.md`).
//!
//! A sweep file names a profile and deployment points (named parameter maps such as
//! `{name: 1p2d, prefill: 1, decode: 2}`). For each point the coordinator runs the reconfigure
//! command filled with the point's values and its own listen address ([`ready::reconfigure`])
//! on the point's profile ([`profile`]), waits for the endpoint and
//! the expected agents per role ([`ready::wait_ready`]), then runs the profile's stages — or,
//! with `sla:` targets, bisects for the highest rate or concurrency that meets them
//! ([`search`]) — each run through [`crate::run::start_run`] like `coordinator run`. Results go
//! to `results/<sweep-id>/<point>/` and the comparison of the points to `sweep.{md,json,html}`
//! and `plots/pareto.{png,svg}` there ([`summary`]). `coordinator validate FILE` checks a sweep
//! file and every point's profile without running anything ([`validate`]).

pub mod execute;
pub mod profile;
pub mod ready;
pub mod search;
pub mod spec;
pub mod summary;
pub mod validate;

pub use execute::{run_sweep, sweep_id, SweepRequest};
pub use spec::{load_sweep, Sweep};
pub use summary::SweepSummary;

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
    Profile(#[from] fleetbench_common::profile::ProfileError),
    #[error("point {point}: {source}")]
    PointProfile {
        point: String,
        #[source]
        source: fleetbench_common::profile::ProfileError,
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
    Render(#[from] crate::render::RenderError),
    #[error("stopped (a stop request)")]
    Stopped,
}
