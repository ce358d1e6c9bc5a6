//! `coordinator validate` of a sweep file: the file checked as `coordinator sweep` checks it,
//! then every point's profile (the sweep's overrides filled with the point's values, then the
//! command line's) parsed and checked, and with an SLA search the probe profiles at both ends
//! of its range — nothing is run. Errors name the file, the key, the value and the point.

use super::error::SweepError;
use super::execute::probe_text;
use super::profile::PointProfile;
use super::spec::{Point, Sweep};
use fleetbench_profile::LoadedProfile;
use std::path::Path;

/// Whether `path` is a sweep file (a mapping with `points` and `profile`) rather than a
/// profile or a sweep matrix.
pub fn is_sweep_file(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    serde_norway::from_str::<serde_norway::Value>(&text).is_ok_and(|v| {
        v.as_mapping()
            .is_some_and(|m| m.contains_key("points") && m.contains_key("profile"))
    })
}

/// One point as it would run.
pub struct CheckedPoint<'a> {
    /// The point.
    pub point: &'a Point,
    /// The reconfigure command with `{coordinator}` left as a placeholder.
    pub command: Option<String>,
    /// The profile with the point's overrides, validated.
    pub profile: LoadedProfile,
}

/// Every point's command and profile (and probe profiles), checked.
pub fn checked_points<'a>(
    sweep: &'a Sweep,
    cli: &[String],
) -> Result<Vec<CheckedPoint<'a>>, SweepError> {
    let mut out = Vec::new();
    for point in &sweep.points {
        let profile = PointProfile::load(sweep, point, cli)?;
        if let Some(s) = &sweep.search {
            for value in [s.lo, s.hi] {
                let text = probe_text(&profile.text, &profile.path, s, value)?;
                profile.parse(&text).map_err(|e| SweepError::Run {
                    point: point.name.clone(),
                    message: format!("the probe at {value}: {e}"),
                })?;
            }
        }
        let command = sweep
            .command_for(point, "{coordinator}")
            .transpose()
            .map_err(|message| SweepError::Reconfigure {
                point: point.name.clone(),
                message,
            })?;
        out.push(CheckedPoint {
            point,
            command,
            profile: profile.loaded,
        });
    }
    Ok(out)
}

/// A point in a few lines: values, command, overrides, readiness, agents, GPUs, search.
pub fn describe(sweep: &Sweep, c: &CheckedPoint<'_>) -> String {
    let p = c.point;
    let values: Vec<String> = p
        .values
        .iter()
        .filter(|(k, _)| k.as_str() != "name")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let agents: Vec<String> = p.agents.iter().map(|(r, n)| format!("{r} {n}")).collect();
    let mut s = format!("point {}: {}", p.name, values.join(" "));
    if let Some(cmd) = &c.command {
        s.push_str(&format!("\n  reconfigure: {cmd}"));
    }
    if !p.overrides.is_empty() {
        s.push_str(&format!("\n  overrides: {}", p.overrides.join(" ")));
    }
    s.push_str(&format!(
        "\n  ready: {} (health {}, models {}); agents: {}",
        sweep
            .ready_url
            .as_deref()
            .unwrap_or(&c.profile.profile.server.base_url),
        sweep.check_health,
        sweep.check_models,
        if agents.is_empty() {
            "as the profile expects".to_string()
        } else {
            agents.join(", ")
        }
    ));
    if let Some(g) = p.gpus {
        s.push_str(&format!("; GPUs {g}"));
    }
    if let Some(search) = &sweep.search {
        s.push_str(&format!(
            "\n  SLA search over {:?} {}..{} (probe profiles at both ends checked)",
            search.over, search.lo, search.hi
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::load_sweep;

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// Each point's profile takes the point's values; a value the profile refuses names the
    /// point, the profile file and the key.
    #[test]
    fn every_point_profile_is_checked_with_its_values() {
        let dir = std::env::temp_dir().join(format!("fb-sweep-validate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        write(
            &dir,
            "p.yaml",
            "server: {base_url: 'http://127.0.0.1:1'}\napi: {type: completion}\ndata: {type: random, input_distribution: {min: 8, max: 8, mean: 8}, output_distribution: {min: 4, max: 4, mean: 4}}\nload: {type: constant, stages: [{rate: 1, duration: 2}]}\n",
        );
        let ok = write(
            &dir,
            "ok.yaml",
            "profile: p.yaml\noverrides: ['load.stages.0.rate={rate}']\npoints: [{name: a, rate: 2}, {name: b, rate: 4}]\nreconfigure: {command: 'up {coordinator} {rate}'}\n",
        );
        assert!(is_sweep_file(&ok));
        assert!(!is_sweep_file(&dir.join("p.yaml")));
        let sweep = load_sweep(&ok).unwrap();
        let points = checked_points(&sweep, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(points.len(), 2);
        let line = describe(&sweep, &points[1]);
        assert!(line.contains("reconfigure: up {coordinator} 4"), "{line}");
        assert_eq!(
            points[1].profile.profile.load.stages[0].rate.map(|r| r.0),
            Some(4.0)
        );
        let bad = write(
            &dir,
            "bad.yaml",
            "profile: p.yaml\noverrides: ['load.stages.0.rate={rate}']\npoints: [{name: a, rate: 2}, {name: b, rate: -4}]\n",
        );
        let bad = load_sweep(&bad).unwrap();
        let e = checked_points(&bad, &[])
            .err()
            .expect("a negative rate is refused");
        let text = e.to_string();
        assert!(
            text.contains("point b") && text.contains("p.yaml") && text.contains("rate"),
            "{text}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
