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

mod error;
pub(crate) mod execute;
pub(crate) mod profile;
pub(crate) mod ready;
pub(crate) mod search;
pub(crate) mod spec;
pub(crate) mod summary;
pub mod validate;

pub use error::SweepError;
pub use execute::{run_sweep, sweep_id, SweepRequest};
pub use spec::{load_sweep, Sweep};
pub use summary::SweepSummary;
