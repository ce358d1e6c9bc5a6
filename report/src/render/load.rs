//! Reading a run directory back: the stage reports, the plan's interval length, the profile's
//! raw YAML and the snapshot logs (merged per stage and per interval). Only files are read, so a
//! run written by an older version renders as long as its reports parse; what is missing (a
//! snapshot log, the plan) becomes a warning and the plots that need it are left out.

use super::error::RenderError;
use crate::snapshot_log::read_snapshots;
use crate::statistics::mean_of_finite as mean;
use crate::BenchmarkRun;
use fleetbench_model::measure::{Measurements, Metric};
use fleetbench_proto::v1 as wire;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Everything the outputs are made of.
#[derive(Debug)]
pub(crate) struct RunData {
    pub(crate) run_id: String,
    pub(crate) profile_name: String,
    /// `profile.yaml` as a generic value (for the `slo` section), when it parses.
    pub(crate) profile: Option<Value>,
    pub(crate) stages: Vec<StageData>,
    pub(crate) warnings: Vec<String>,
}

#[derive(Debug)]
pub(crate) struct StageData {
    pub(crate) index: u32,
    pub(crate) label: String,
    pub(crate) report: BenchmarkRun,
    /// The snapshot log merged over all shards and intervals; `None` without a readable log.
    pub(crate) merged: Option<Measurements>,
    /// Per interval, merged over shards, in interval order.
    pub(crate) intervals: Vec<IntervalPoint>,
    pub(crate) interval_s: f64,
    /// Seconds from the first stage's start to this stage's start.
    pub(crate) offset_s: f64,
}

/// One snapshot interval of one stage, over all shards.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct IntervalPoint {
    pub(crate) interval: u32,
    /// Requests that completed successfully in the interval.
    pub(crate) ok: u64,
    pub(crate) failed: u64,
    pub(crate) output_tokens: u64,
    pub(crate) ttft_p50_ms: Option<f64>,
    pub(crate) ttft_p99_ms: Option<f64>,
    /// Accelerator power per host group (W): per agent the mean over its samples of the sum
    /// over its devices, summed over the group's agents. Empty without telemetry.
    pub(crate) power_w: BTreeMap<String, f64>,
    /// Engine queue: mean over the samples of each engine URL, summed over the URLs.
    pub(crate) engine_waiting: Option<f64>,
    pub(crate) engine_running: Option<f64>,
}

impl StageData {
    /// The stage's load as a number for sweep axes: the rate (req/s) or the users.
    pub(crate) fn load_value(&self) -> Option<f64> {
        let args = self.report.stage_plan()?;
        args.get("rate")
            .or_else(|| args.get("users"))
            .and_then(Value::as_f64)
    }

    /// `constant`, `poisson`, `concurrent` (the plan's stage load type).
    pub(crate) fn load_kind(&self) -> &str {
        self.report
            .stage_plan()
            .and_then(|a| a.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// Accelerators of the stage's hosts (0 when unknown, as with the sim).
    pub(crate) fn gpu_count(&self) -> u64 {
        self.report
            .scenario
            .host
            .accelerator
            .iter()
            .map(|a| a.count)
            .sum()
    }
}

/// What to read: `Full` also decodes the snapshot logs (for plots), `ReportsOnly` does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Depth {
    Full,
    ReportsOnly,
}

/// Reads the run directory `dir` (with `Full`, its snapshot logs too).
pub(crate) fn load_run(dir: &Path, depth: Depth) -> Result<RunData, RenderError> {
    let mut warnings = Vec::new();
    let plan = read_plan(dir, &mut warnings);
    let profile: Option<Value> = std::fs::read_to_string(dir.join("profile.yaml"))
        .ok()
        .and_then(|t| serde_norway::from_str(&t).ok());

    let indices = stage_indices(dir)?;

    let mut stages = Vec::new();
    let mut first_start: Option<f64> = None;
    let mut running_offset = 0.0;
    for k in indices {
        let report = read_report(dir, k)?;
        let meta = report.scenario.load.metadata.as_ref();
        let label = meta
            .and_then(|m| m.get("stage_label"))
            .and_then(Value::as_str)
            .unwrap_or("stage")
            .to_string();
        let interval_s = plan
            .as_ref()
            .and_then(|p| p["stages"][k as usize]["shards"][0]["snapshot_interval_ms"].as_f64())
            .filter(|ms| *ms > 0.0)
            .map(|ms| ms / 1000.0)
            .unwrap_or(1.0);
        let offset_s = match (report.metrics.time.start, first_start) {
            (Some(s), Some(f)) => s - f,
            (Some(s), None) => {
                first_start = Some(s);
                0.0
            }
            (None, _) => running_offset,
        };
        running_offset = offset_s + report.metrics.time.duration;
        let groups = shard_groups(plan.as_ref(), k, &report);
        let (merged, intervals) = if depth == Depth::Full {
            read_stage_log(dir, k, &groups, &mut warnings)
        } else {
            (None, Vec::new())
        };
        stages.push(StageData {
            index: k,
            label,
            report,
            merged,
            intervals,
            interval_s,
            offset_s,
        });
    }

    let run_id = plan
        .as_ref()
        .and_then(|p| p["run_id"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| {
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
    let profile_name = plan
        .as_ref()
        .and_then(|p| p["profile_name"].as_str())
        .map(str::to_string)
        .or_else(|| {
            stages[0]
                .report
                .scenario
                .load
                .metadata
                .as_ref()
                .and_then(|m| m.get("profile"))
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| "run".into());
    Ok(RunData {
        run_id,
        profile_name,
        profile,
        stages,
        warnings,
    })
}

/// `plan.json` as a generic value; a warning when it is missing or does not parse.
fn read_plan(dir: &Path, warnings: &mut Vec<String>) -> Option<Value> {
    match std::fs::read(dir.join("plan.json")) {
        Ok(b) => match serde_json::from_slice(&b) {
            Ok(v) => Some(v),
            Err(e) => {
                warnings.push(format!("plan.json does not parse: {e}"));
                None
            }
        },
        Err(_) => {
            warnings.push("plan.json is missing".into());
            None
        }
    }
}

/// The stages with a `stage-<k>/report.json`, in order; an error when there is none.
fn stage_indices(dir: &Path) -> Result<Vec<u32>, RenderError> {
    let mut indices: Vec<u32> = std::fs::read_dir(dir)
        .map_err(|source| RenderError::Io {
            path: dir.to_path_buf(),
            source,
        })?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_prefix("stage-"))
                .and_then(|k| k.parse().ok())
        })
        .filter(|k: &u32| dir.join(format!("stage-{k}/report.json")).is_file())
        .collect();
    indices.sort_unstable();
    if indices.is_empty() {
        return Err(RenderError::NoReports(dir.to_path_buf()));
    }
    Ok(indices)
}

/// `stage-<k>/report.json`.
fn read_report(dir: &Path, k: u32) -> Result<BenchmarkRun, RenderError> {
    let path = dir.join(format!("stage-{k}/report.json"));
    let bytes = std::fs::read(&path).map_err(|source| RenderError::Io {
        path: path.clone(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|e| RenderError::Parse {
        path: path.clone(),
        message: e.to_string(),
    })
}

/// The stage's snapshot log, merged once overall and once per interval. Interval histograms
/// are built one at a time, so a long run needs no more memory than a short one.
fn read_stage_log(
    dir: &Path,
    stage: u32,
    groups: &[String],
    warnings: &mut Vec<String>,
) -> (Option<Measurements>, Vec<IntervalPoint>) {
    let path = dir.join(format!("snapshots/stage-{stage}.pb"));
    if !path.is_file() {
        warnings.push(format!(
            "{}: missing; stage {stage} has no distributions or time series",
            path.display()
        ));
        return (None, Vec::new());
    }
    let snaps = match read_snapshots(&path) {
        Ok(s) => s,
        Err(e) => {
            warnings.push(format!("{e}; stage {stage} has no distributions"));
            return (None, Vec::new());
        }
    };
    // Each (shard, seq) once, as the coordinator applied them.
    let mut seen = std::collections::HashSet::new();
    let mut by_interval: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, s) in snaps.iter().enumerate() {
        if seen.insert((s.shard, s.seq)) {
            by_interval.entry(s.interval).or_default().push(i);
        }
    }
    let mut merged = Measurements::new();
    let mut points = Vec::new();
    for (interval, idx) in by_interval {
        let mut m = Measurements::new();
        for &i in &idx {
            if let Err(e) = m.add_snapshot(&snaps[i]) {
                warnings.push(format!("{}: snapshot skipped: {e}", path.display()));
            }
        }
        if let Err(e) = merged.add(&m) {
            warnings.push(format!("{}: {e}", path.display()));
        }
        let (power_w, engine_waiting, engine_running) = telemetry_of(&snaps, &idx, groups);
        let ttft = m.histogram(Metric::Ttft);
        let q = |q: f64| (!ttft.is_empty()).then(|| ttft.value_at_quantile(q) as f64 / 1000.0);
        points.push(IntervalPoint {
            interval,
            ok: m.counters.ok,
            failed: m.counters.failed(),
            output_tokens: m.counters.output_tokens,
            ttft_p50_ms: q(0.5),
            ttft_p99_ms: q(0.99),
            power_w,
            engine_waiting,
            engine_running,
        });
    }
    (Some(merged), points)
}

/// The host group (`scenario.host.type` entry) of each shard of a stage: shard → agent from the
/// plan, agent → group from the report's `scenario.host.metadata.groups`.
fn shard_groups(plan: Option<&Value>, stage: u32, report: &BenchmarkRun) -> Vec<String> {
    let members: Vec<String> = plan
        .and_then(|p| p["stages"][stage as usize]["shards"].as_array())
        .map(|shards| {
            shards
                .iter()
                .enumerate()
                .map(|(i, _)| {
                    plan.and_then(|p| p["members"][i]["agent_id"].as_str())
                        .unwrap_or_default()
                        .to_string()
                })
                .collect()
        })
        .unwrap_or_default();
    let groups = report
        .scenario
        .host
        .metadata
        .as_ref()
        .and_then(|m| m.get("groups"))
        .and_then(Value::as_array);
    members
        .iter()
        .map(|agent| {
            groups
                .and_then(|gs| {
                    gs.iter().find(|g| {
                        g["agents"].as_array().is_some_and(|a| {
                            a.iter().any(|x| x["id"].as_str() == Some(agent.as_str()))
                        })
                    })
                })
                .and_then(|g| g["type"].as_str())
                .unwrap_or("all agents")
                .to_string()
        })
        .collect()
}

/// Power per host group and the engine queue of one interval's snapshots.
fn telemetry_of(
    snaps: &[wire::Snapshot],
    idx: &[usize],
    groups: &[String],
) -> (BTreeMap<String, f64>, Option<f64>, Option<f64>) {
    let mut power: BTreeMap<String, f64> = BTreeMap::new();
    // Per engine URL: (waiting, running) readings.
    let mut engines: BTreeMap<&str, Vec<(f64, f64)>> = BTreeMap::new();
    for &i in idx {
        let s = &snaps[i];
        let agent_power = mean(s.samples.iter().map(|t| {
            let watts: Vec<f64> = t
                .devices
                .iter()
                .map(|d| d.power_w)
                .filter(|w| w.is_finite())
                .collect();
            if watts.is_empty() {
                f64::NAN
            } else {
                watts.iter().sum()
            }
        }));
        if let Some(w) = agent_power {
            let group = groups
                .get(s.shard as usize)
                .cloned()
                .unwrap_or_else(|| "all agents".into());
            *power.entry(group).or_default() += w;
        }
        for t in &s.samples {
            for e in &t.engines {
                engines
                    .entry(e.url.as_str())
                    .or_default()
                    .push((e.waiting, e.running));
            }
        }
    }
    let sum_over = |second: bool| {
        let per_url: Vec<f64> = engines
            .values()
            .filter_map(|v| mean(v.iter().map(|&(w, r)| if second { r } else { w })))
            .collect();
        (!per_url.is_empty()).then(|| per_url.iter().sum())
    };
    (power, sum_over(false), sum_over(true))
}
