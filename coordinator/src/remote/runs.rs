//! The `ListRuns` RPC: the runs of this coordinator process (in memory, with their live state)
//! and the run directories under its results directory (from earlier processes too), each with
//! its profile, state, start, stages done and worst verdict, read from the run's own files.

use crate::hub::Hub;
use fleetbench_proto::v1 as wire;
use fleetbench_report::{worst, StageVerdict};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::Path;

/// At most this many runs are listed (the newest).
pub(crate) const MAX_LISTED: usize = 1000;

/// At most this many entries of the results directory are looked at.
const MAX_SCANNED: usize = 100_000;

/// Whether `name` can be a run id (`YYYYMMDD-HHMMSS-xxxx` or similar): letters, digits, `-`,
/// `_`, `.`, not starting with `.`, at most 64 bytes. Nothing else names a run directory.
pub fn is_run_id(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Every run this coordinator knows, oldest first (at most [`MAX_LISTED`], the newest).
pub(crate) fn list(hub: &Hub) -> Vec<wire::RunInfo> {
    let root = &hub.config.results_dir;
    let mut ids: BTreeSet<String> = hub.run_ids().into_iter().collect();
    if let Ok(entries) = std::fs::read_dir(root) {
        for e in entries.flatten().take(MAX_SCANNED) {
            let Ok(name) = e.file_name().into_string() else {
                continue;
            };
            // A real directory (not a link) with a run's files.
            let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
            if is_run_id(&name)
                && is_dir
                && (e.path().join("plan.json").is_file() || e.path().join("state.jsonl").is_file())
            {
                ids.insert(name);
            }
        }
    }
    let skip = ids.len().saturating_sub(MAX_LISTED);
    ids.into_iter()
        .skip(skip)
        .map(|id| describe(hub, &root.join(&id), id))
        .collect()
}

/// The part of `plan.json` a listing needs.
#[derive(Deserialize)]
struct PlanHead {
    #[serde(default)]
    profile_name: String,
    #[serde(default)]
    stages: Vec<serde::de::IgnoredAny>,
}

/// One run: its directory's files, then what this process knows of it (a run in progress or
/// failed here).
fn describe(hub: &Hub, dir: &Path, run_id: String) -> wire::RunInfo {
    let mut info = wire::RunInfo {
        started: started(&run_id),
        ..Default::default()
    };
    if let Some(plan) = std::fs::read(dir.join("plan.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<PlanHead>(&b).ok())
    {
        info.profile = plan.profile_name;
        info.stages = plan.stages.len() as u32;
        info.stages_done = (0..info.stages)
            .filter(|k| dir.join(format!("stage-{k}/report.json")).is_file())
            .count() as u32;
    }
    let state = crate::recover::read_state(dir);
    info.state = match state.iter().rev().find(|e| e["event"] == "finished") {
        Some(e) if e["partial"] == true => "partial",
        Some(_) => "finished",
        None => "unfinished",
    }
    .into();
    let mut verdicts = stored_verdicts(dir);
    if let Some(rx) = hub.run_progress(&run_id) {
        let p = rx.borrow().clone();
        if !p.finished {
            info.state = "running".into();
            info.stages = info.stages.max(p.stages);
        } else if !p.error.is_empty() {
            info.state = "failed".into();
            info.error = crate::redact::redact(&p.error);
        }
        if verdicts.is_empty() {
            verdicts = p.verdicts;
        }
    }
    if !verdicts.is_empty() {
        info.verdict = worst(&verdicts).as_str().to_string();
    }
    info.run_id = run_id;
    info
}

/// The stages' verdicts `summary.json` holds (none before the run's end).
fn stored_verdicts(dir: &Path) -> Vec<StageVerdict> {
    #[derive(Deserialize)]
    struct Summary {
        #[serde(default)]
        verdicts: Vec<StageVerdict>,
    }
    std::fs::read(dir.join("summary.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<Summary>(&b).ok())
        .map(|s| s.verdicts)
        .unwrap_or_default()
}

/// `YYYY-MM-DDTHH:MM:SSZ` from a run id `YYYYMMDD-HHMMSS-xxxx`; empty for another id.
fn started(run_id: &str) -> String {
    let b = run_id.as_bytes();
    if b.len() < 15 || b[8] != b'-' || !b[..8].iter().chain(&b[9..15]).all(u8::is_ascii_digit) {
        return String::new();
    }
    let s = |r: std::ops::Range<usize>| &run_id[r];
    format!(
        "{}-{}-{}T{}:{}:{}Z",
        s(0..4),
        s(4..6),
        s(6..8),
        s(9..11),
        s(11..13),
        s(13..15)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_plain_names() {
        assert!(is_run_id("20261201-215042-0a1b"));
        for bad in ["", "..", ".hidden", "a/b", "a\\b", "a b", &"x".repeat(65)] {
            assert!(!is_run_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_start_comes_from_the_run_id() {
        assert_eq!(started("20261201-215042-0a1b"), "2026-12-01T21:50:42Z");
        assert_eq!(started("my-run"), "");
    }
}
