//! A sweep point's profile: the sweep's profile file with the point's overrides (the sweep
//! file's `overrides` filled with its values) and the command line's, parsed and checked as
//! `coordinator run` would; probes parse their variants of its text again.

use super::error::SweepError;
use super::spec::{Point, Sweep};
use fleetbench_profile::{apply_overrides, parse_profile_with, profile_stem, LoadedProfile};
use std::path::PathBuf;

/// The profile one point runs: its text with the overrides applied, and that text parsed.
pub(crate) struct PointProfile {
    pub path: PathBuf,
    pub(crate) stem: String,
    pub text: String,
    pub loaded: LoadedProfile,
}

impl PointProfile {
    /// The profile of `point`; an error names the point, the profile file, the key and value.
    pub(crate) fn load(
        sweep: &Sweep,
        point: &Point,
        cli: &[String],
    ) -> Result<PointProfile, SweepError> {
        let path = sweep.profile.clone();
        let mut overrides = point.overrides.clone();
        overrides.extend(cli.iter().cloned());
        let text = std::fs::read_to_string(&path).map_err(|source| SweepError::Io {
            path: path.clone(),
            source,
        })?;
        let in_point = |source| SweepError::PointProfile {
            point: point.name.clone(),
            source,
        };
        let text = apply_overrides(&text, &path, &overrides).map_err(in_point)?;
        let stem = profile_stem(&path, "profile");
        let loaded = parse_profile_with(&text, &path, &stem, &[]).map_err(in_point)?;
        Ok(PointProfile {
            path,
            stem,
            text,
            loaded,
        })
    }

    /// Another text of this profile (a probe's), parsed as the profile was.
    pub(crate) fn parse(&self, text: &str) -> Result<LoadedProfile, SweepError> {
        Ok(parse_profile_with(text, &self.path, &self.stem, &[])?)
    }
}
