//! The reports llm-d's analysis reads, rebuilt from a run directory: per stage the report
//! v0.2.1 (`stage-<k>/report_v0.2.1.{yaml,json}`, from the stage's v0.1 report and its snapshot
//! log), and at the top of the run directory the names llm-d's tools look for:
//! `benchmark_report,_stage_<k>.yaml` (v0.1: the explorer's `benchmark_report,_*.yaml`) and
//! `benchmark_report_v0.2.1,_stage_<k>.yaml` (v0.2.1: `cross_treatment.py` and
//! `aggregate_runs.py` read `benchmark_report_v0.2*` in each run directory).
//!
//! `stage-<k>/report.{yaml,json}` (v0.1) are always written: every other output is rebuilt from
//! them. The report format selects which llm-d reports are written besides.

use super::error::{write, RenderError};
use super::load::{load_run, Depth};
use crate::snapshot_log::read_snapshots;
use crate::{build_v021, RequestInterval, ResourceInterval, V021Input};
use fleetbench_model::measure::Measurements;
use fleetbench_proto::v1 as wire;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;

/// Which llm-d report versions a run writes (`--report-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReportFormat {
    /// Report 0.1 only.
    V0_1,
    /// Report 0.2.1 only.
    V0_2_1,
    /// Both versions.
    #[default]
    Both,
}

impl ReportFormat {
    /// Whether the v0.1 copies under llm-d's names are written.
    pub fn v0_1(self) -> bool {
        self != ReportFormat::V0_2_1
    }

    /// Whether the v0.2.1 reports are written.
    pub fn v0_2_1(self) -> bool {
        self != ReportFormat::V0_1
    }
}

impl std::str::FromStr for ReportFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "v0.1" | "0.1" => Ok(ReportFormat::V0_1),
            "v0.2.1" | "0.2.1" => Ok(ReportFormat::V0_2_1),
            "both" => Ok(ReportFormat::Both),
            _ => Err(format!("`{s}`: expected v0.1, v0.2.1 or both")),
        }
    }
}

/// The v0.1 name of stage `k` at the top of the run directory.
pub(crate) fn v0_1_name(k: u32) -> String {
    format!("benchmark_report,_stage_{k}.yaml")
}

/// The v0.2.1 name of stage `k` at the top of the run directory.
pub(crate) fn v0_2_1_name(k: u32) -> String {
    format!("benchmark_report_v0.2.1,_stage_{k}.yaml")
}

fn yaml<T: serde::Serialize>(path: &Path, v: &T) -> Result<Vec<u8>, RenderError> {
    serde_norway::to_string(v)
        .map(String::into_bytes)
        .map_err(|e| RenderError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
}

/// (Re)writes the llm-d reports of every stage of the run in `dir`; returns the files written
/// (relative to `dir`). Reports of a format not selected are removed.
pub(crate) fn write_llm_d_reports(
    dir: &Path,
    format: ReportFormat,
) -> Result<Vec<String>, RenderError> {
    let run = load_run(dir, Depth::ReportsOnly)?;
    let plan: Option<Value> = std::fs::read(dir.join("plan.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let mut files = Vec::new();
    for stage in &run.stages {
        let k = stage.index;
        let top01 = v0_1_name(k);
        let top021 = v0_2_1_name(k);
        let (y021, j021) = (
            format!("stage-{k}/report_v0.2.1.yaml"),
            format!("stage-{k}/report_v0.2.1.json"),
        );
        if format.v0_1() {
            let p = dir.join(&top01);
            write(&p, &yaml(&p, &stage.report)?)?;
            files.push(top01);
        } else {
            let _ = std::fs::remove_file(dir.join(&top01));
        }
        if !format.v0_2_1() {
            for f in [&top021, &y021, &j021] {
                let _ = std::fs::remove_file(dir.join(f));
            }
            continue;
        }
        let stage_plan = plan.as_ref().map(|p| &p["stages"][k as usize]);
        let window_start = stage_plan
            .and_then(|s| s["window"]["start_s"].as_f64())
            .unwrap_or(0.0);
        let start = stage.report.metrics.time.start.unwrap_or(0.0) - window_start;
        let members: Vec<String> = plan
            .as_ref()
            .and_then(|p| p["members"].as_array())
            .map(|m| {
                m.iter()
                    .map(|x| x["agent_id"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default();
        let groups: Vec<Vec<String>> = stage
            .report
            .scenario
            .host
            .metadata
            .as_ref()
            .and_then(|m| m.get("groups"))
            .and_then(Value::as_array)
            .map(|gs| {
                gs.iter()
                    .map(|g| {
                        g["agents"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|a| a["id"].as_str().map(str::to_string))
                            .collect()
                    })
                    .collect()
            })
            .unwrap_or_default();
        let one_piece = stage
            .report
            .metrics
            .metadata
            .as_ref()
            .is_some_and(|m| m.get("non_streaming").is_some());
        let (requests, resources) =
            stage_series(dir, k, &members, &groups, one_piece).unwrap_or_default();
        let v = build_v021(&V021Input {
            v01: &stage.report,
            run_id: &run.run_id,
            stage: k,
            stage_start_unix_s: start,
            interval_s: stage.interval_s,
            requests: &requests,
            resources: &resources,
            coordinator_host: None,
        });
        let p = dir.join(&y021);
        let y = yaml(&p, &v)?;
        write(&p, &y)?;
        let json = serde_json::to_vec_pretty(&v).map_err(|e| RenderError::Parse {
            path: dir.join(&j021),
            message: e.to_string(),
        })?;
        write(&dir.join(&j021), &json)?;
        write(&dir.join(&top021), &y)?;
        files.extend([y021, j021, top021]);
    }
    Ok(files)
}

/// Per interval of the stage's snapshot log: the request figures, and per host group its
/// telemetry. `None` without a readable log.
fn stage_series(
    dir: &Path,
    stage: u32,
    members: &[String],
    groups: &[Vec<String>],
    one_piece: bool,
) -> Option<(Vec<RequestInterval>, Vec<Vec<ResourceInterval>>)> {
    let snaps = read_snapshots(&dir.join(format!("snapshots/stage-{stage}.pb"))).ok()?;
    let mut seen = HashSet::new();
    let mut by_interval: BTreeMap<u32, Vec<&wire::Snapshot>> = BTreeMap::new();
    for s in &snaps {
        if seen.insert((s.shard, s.seq)) {
            by_interval.entry(s.interval).or_default().push(s);
        }
    }
    let mut requests = Vec::new();
    let mut resources: Vec<Vec<ResourceInterval>> = vec![Vec::new(); groups.len()];
    for (interval, list) in by_interval {
        let mut m = Measurements::new();
        for s in &list {
            // A snapshot that does not decode was reported when the stage report was made.
            let _ = m.add_snapshot(s);
        }
        requests.push(RequestInterval::of(interval, &m, one_piece));
        for (g, agents) in groups.iter().enumerate() {
            let per_agent: Vec<Vec<&wire::TelemetrySample>> = agents
                .iter()
                .map(|a| {
                    list.iter()
                        .filter(|s| members.get(s.shard as usize) == Some(a))
                        .flat_map(|s| &s.samples)
                        .collect()
                })
                .filter(|v: &Vec<_>| !v.is_empty())
                .collect();
            if !per_agent.is_empty() {
                resources[g].push(ResourceInterval::of(interval, &per_agent));
            }
        }
    }
    Some((requests, resources))
}
