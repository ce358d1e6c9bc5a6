//! Each stage's verdict — `ok`, `degraded` or `failed`, with its reasons — judged in one place
//! from a stage report: the coordinator judges a stage when it writes its report (and stores what
//! the judgement needs in the report's top-level `metadata.verdict`), and `report render` judges
//! the stored report again with the same function, so both give the same verdict.
//!
//! - **failed**: no request succeeded, or the failure rate is above the run's
//!   `--max-failure-rate` (default 0.5), or the P/D path check failed with `--require-pd`, or a
//!   circuit breaker tripped and stopped the stage (`metrics.metadata.circuit_breaker`; its
//!   shards then count fewer requests than planned, which is not listed again);
//! - **degraded**: a shard was lost or abandoned, the stage was cut short (`partial`), or a shard
//!   counted other than its plan fixes (exactly, or at most, its planned requests);
//! - **ok** otherwise.
//!
//! The top failure classes travel with the verdict, each with the first error body the server
//! sent for it (truncated by the agent).

use super::benchmark_run::BenchmarkRun;
use fleetbench_model::spec::PlannedCount;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// `--max-failure-rate` when not given.
pub const DEFAULT_MAX_FAILURE_RATE: f64 = 0.5;

/// Failure classes shown with a verdict.
const TOP_CLASSES: usize = 5;

/// Characters of an error body shown in the console and the text summaries.
const BODY_CHARS: usize = 300;

/// A stage's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every check passed.
    Ok,
    /// Failures below the limit, or a lost agent whose part is excluded.
    Degraded,
    /// Failures above the limit, or numbers that cannot be trusted.
    Failed,
}

impl Verdict {
    /// The verdict as reports write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Degraded => "degraded",
            Verdict::Failed => "failed",
        }
    }
}

/// One failure class of a stage: how many requests, and what the server first said.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureClass {
    /// The failure class.
    pub class: String,
    /// Requests that failed with it.
    pub count: u64,
    /// The start of the first error body the server sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_error_body: Option<String>,
}

/// One shard of a stage: what its plan fixes and what it counted (in and outside the window).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardTally {
    /// The shard's index.
    pub shard: u32,
    /// The agent that ran it.
    pub agent: String,
    /// The requests its plan fixes.
    pub planned: PlannedCount,
    /// The requests it counted.
    pub counted: u64,
    /// Whether the agent was lost during the stage.
    #[serde(default)]
    pub lost: bool,
    /// Seconds from the stage start to the loss, when lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost_after_s: Option<f64>,
}

/// What the coordinator knows about a stage beyond its merged measurements.
#[derive(Debug, Clone, PartialEq)]
pub struct VerdictInputs {
    /// The failure rate above which a stage fails (`--max-failure-rate`).
    pub max_failure_rate: f64,
    /// Every shard's tally.
    pub shards: Vec<ShardTally>,
    /// The first error body per failure class (from the agents' snapshots).
    pub error_bodies: BTreeMap<String, String>,
}

/// A stage's verdict with its reasons and its top failure classes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageVerdict {
    /// The stage's index.
    pub stage: u32,
    /// Its label.
    pub label: String,
    /// The verdict.
    pub verdict: Verdict,
    /// Why, one line each (empty for ok).
    pub reasons: Vec<String>,
    /// Requests the stage counted.
    pub requests: u64,
    /// Of which failed.
    pub failures: u64,
    /// The most frequent failure classes.
    pub top_failures: Vec<FailureClass>,
}

/// Stores `inputs` in the report's top-level `metadata.verdict`, judges the report and adds the
/// verdict and its reasons there too.
pub fn judge(report: &mut BenchmarkRun, inputs: &VerdictInputs) -> StageVerdict {
    let classes: Vec<FailureClass> = failure_counts(report)
        .into_iter()
        .map(|(class, count)| FailureClass {
            first_error_body: inputs.error_bodies.get(&class).cloned(),
            class,
            count,
        })
        .collect();
    let stored = json!({
        "max_failure_rate": inputs.max_failure_rate,
        "shards": inputs.shards,
        "failure_classes": classes,
    });
    set_verdict_meta(report, stored);
    let v = assess(report);
    if let Some(Value::Object(m)) = report.metadata.as_mut().and_then(|m| m.get_mut("verdict")) {
        m.insert("status".into(), json!(v.verdict));
        m.insert("reasons".into(), json!(v.reasons));
    }
    v
}

fn set_verdict_meta(report: &mut BenchmarkRun, verdict: Value) {
    let mut meta = match report.metadata.take() {
        Some(Value::Object(m)) => m,
        Some(other) => {
            let mut m = Map::new();
            m.insert("value".into(), other);
            m
        }
        None => Map::new(),
    };
    meta.insert("verdict".into(), verdict);
    report.metadata = Some(Value::Object(meta));
}

/// `metrics.metadata.failures_by_class` as (class, count), largest first.
fn failure_counts(report: &BenchmarkRun) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = report
        .metrics
        .metadata
        .as_ref()
        .and_then(|m| m.get("failures_by_class"))
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .filter_map(|(k, n)| Some((k.clone(), n.as_u64()?)))
                .filter(|(_, n)| *n > 0)
                .collect()
        })
        .unwrap_or_default();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

fn flag(meta: Option<&Value>, key: &str) -> bool {
    meta.and_then(|m| m.get(key)).and_then(Value::as_bool) == Some(true)
}

/// The verdict of a stage report: from its counts, its `metrics.metadata` (failure classes,
/// lost shards, partial) and what [`judge`] stored in `metadata.verdict`. Reports written
/// before verdicts existed are judged on what they have.
pub fn assess(report: &BenchmarkRun) -> StageVerdict {
    let stored = report.metadata.as_ref().and_then(|m| m.get("verdict"));
    let max_failure_rate = stored
        .and_then(|v| v.get("max_failure_rate"))
        .and_then(Value::as_f64)
        .unwrap_or(DEFAULT_MAX_FAILURE_RATE);
    let bodies: BTreeMap<String, String> = stored
        .and_then(|v| v.get("failure_classes"))
        .and_then(|c| serde_json::from_value::<Vec<FailureClass>>(c.clone()).ok())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|c| Some((c.class, c.first_error_body?)))
        .collect();
    let requests = report.metrics.requests.total;
    let failures = report.metrics.requests.failures.unwrap_or(0);
    let failed = failed_reasons(report, max_failure_rate);
    let degraded = degraded_reasons(report, &shard_tallies(report));
    let verdict = if !failed.is_empty() {
        Verdict::Failed
    } else if !degraded.is_empty() {
        Verdict::Degraded
    } else {
        Verdict::Ok
    };
    let load_meta = report.scenario.load.metadata.as_ref();
    StageVerdict {
        stage: load_meta
            .and_then(|m| m.get("stage"))
            .and_then(Value::as_u64)
            .unwrap_or(0) as u32,
        label: load_meta
            .and_then(|m| m.get("stage_label"))
            .and_then(Value::as_str)
            .unwrap_or("stage")
            .to_string(),
        verdict,
        reasons: failed.into_iter().chain(degraded).collect(),
        requests,
        failures,
        top_failures: failure_counts(report)
            .into_iter()
            .take(TOP_CLASSES)
            .map(|(class, count)| FailureClass {
                first_error_body: bodies.get(&class).cloned(),
                class,
                count,
            })
            .collect(),
    }
}

/// Each shard's planned and counted requests as [`judge`] stored them, with the lost shards
/// that `metrics.metadata.lost_shards` names (also in older reports).
fn shard_tallies(report: &BenchmarkRun) -> Vec<ShardTally> {
    let stored = report.metadata.as_ref().and_then(|m| m.get("verdict"));
    let metrics_meta = report.metrics.metadata.as_ref();
    let mut shards: Vec<ShardTally> = stored
        .and_then(|v| v.get("shards"))
        .and_then(|s| serde_json::from_value(s.clone()).ok())
        .unwrap_or_default();
    // Lost shards as `metrics.metadata.lost_shards` names them (also in older reports).
    for l in metrics_meta
        .and_then(|m| m.get("lost_shards"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let shard = l.get("shard").and_then(Value::as_u64).unwrap_or(0) as u32;
        let agent = l.get("agent").and_then(Value::as_str).unwrap_or("?");
        // The coordinator writes `detected_after_s`; older reports `lost_after_s`.
        let after =
            (l.get("detected_after_s").or_else(|| l.get("lost_after_s"))).and_then(Value::as_f64);
        match shards.iter_mut().find(|s| s.shard == shard) {
            Some(s) => {
                s.lost = true;
                s.lost_after_s = s.lost_after_s.or(after);
            }
            // What the agent's entry in `metrics.metadata.agents` says it counted.
            None => shards.push(ShardTally {
                shard,
                agent: agent.to_string(),
                planned: PlannedCount::Open,
                counted: metrics_meta
                    .and_then(|m| m.get("agents"))
                    .and_then(Value::as_array)
                    .and_then(|a| {
                        a.iter()
                            .find(|x| x.get("id").and_then(Value::as_str) == Some(agent))
                    })
                    .and_then(|x| x.get("requests"))
                    .and_then(Value::as_u64)
                    .unwrap_or(0),
                lost: true,
                lost_after_s: after,
            }),
        }
    }

    shards
}

/// Why the stage failed: no requests, no successful one, a failure rate above the limit, a
/// required P/D path check that failed.
fn failed_reasons(report: &BenchmarkRun, max_failure_rate: f64) -> Vec<String> {
    let requests = report.metrics.requests.total;
    let failures = report.metrics.requests.failures.unwrap_or(0);
    let ok = requests.saturating_sub(failures);
    let mut failed = Vec::new();
    if requests == 0 {
        failed.push("no requests were counted".to_string());
    } else {
        let rate = failures as f64 / requests as f64;
        if rate > max_failure_rate {
            failed.push(format!(
                "failure rate {} ({failures} of {requests} requests) is above the limit {} (--max-failure-rate)",
                percent(rate),
                percent(max_failure_rate)
            ));
        }
        if ok == 0 {
            failed.push("no successful requests".to_string());
        }
    }
    if let Some((_, n)) = failure_counts(report)
        .into_iter()
        .find(|(class, _)| class == "session_timeout")
    {
        failed.push(format!(
            "the stage's timeout (load.stages[].timeout) cancelled {n} sessions running or not yet started (failure class session_timeout)"
        ));
    }
    if let Some(s) = sessions(report).filter(|s| s.ok == 0 && s.failed > 0) {
        failed.push(format!(
            "no session completed: {} failed ({} calls not sent)",
            s.failed, s.not_sent
        ));
    }
    if let Some(pd) = super::pd_path::stored(report)
        .filter(|p| p.required && p.status == super::pd_path::PdStatus::Fail)
    {
        failed.push(format!("{} (--require-pd)", pd.line()));
    }
    if let Some(b) = breaker(report) {
        let s = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or("?");
        failed.push(format!(
            "circuit breaker {} tripped on agent {} {:.1} s into the stage ({}: {}); the stage was stopped",
            s("name"),
            s("agent"),
            b.get("at_s").and_then(Value::as_f64).unwrap_or(f64::NAN),
            s("trigger"),
            s("reason")
        ));
    }
    failed
}

/// `metrics.metadata.circuit_breaker`: the breaker that stopped the stage.
fn breaker(report: &BenchmarkRun) -> Option<&Value> {
    (report.metrics.metadata.as_ref()).and_then(|m| m.get("circuit_breaker"))
}

/// A replay stage's sessions (`metrics.metadata.sessions`).
struct Sessions {
    ok: u64,
    failed: u64,
    not_sent: u64,
}

fn sessions(report: &BenchmarkRun) -> Option<Sessions> {
    let s = (report.metrics.metadata.as_ref())?.get("sessions")?;
    let n = |k: &str| s.get(k).and_then(Value::as_u64).unwrap_or(0);
    Some(Sessions {
        ok: n("ok"),
        failed: n("failed"),
        not_sent: n("calls_not_sent"),
    })
}

/// Why the stage is degraded: cut short, a shard lost, a shard that counted other than planned,
/// a replay's session failed (its later calls not sent).
fn degraded_reasons(report: &BenchmarkRun, shards: &[ShardTally]) -> Vec<String> {
    let metrics_meta = report.metrics.metadata.as_ref();
    let mut degraded = Vec::new();
    if flag(report.metadata.as_ref(), "partial") || flag(metrics_meta, "partial") {
        degraded.push("partial: the stage was cut short before all its shards finished".into());
    }
    if let Some(s) = sessions(report).filter(|s| s.ok > 0 && s.failed > 0) {
        degraded.push(format!(
            "{} of {} sessions failed ({} calls not sent)",
            s.failed,
            s.ok + s.failed,
            s.not_sent
        ));
    }
    let mut ordered: Vec<&ShardTally> = shards.iter().collect();
    ordered.sort_by_key(|s| s.shard);
    for s in ordered {
        let who = format!("shard {} (agent {})", s.shard, s.agent);
        if s.lost {
            let when = s
                .lost_after_s
                .map(|t| format!(" {t:.1} s into the stage"))
                .unwrap_or_default();
            let planned = match s.planned {
                PlannedCount::Open => String::new(),
                p => format!(" of {p} planned"),
            };
            degraded.push(format!(
                "{who} was lost{when}; {} requests{planned} were counted before",
                s.counted
            ));
        } else if !s.planned.admits(s.counted) && breaker(report).is_none() {
            degraded.push(count_mismatch(&who, s.planned, s.counted));
        }
    }
    degraded
}

fn count_mismatch(who: &str, planned: PlannedCount, counted: u64) -> String {
    match planned {
        PlannedCount::Exact(n) if counted < n => format!(
            "{who}: planned {n} requests, counted {counted} ({} missing)",
            n - counted
        ),
        PlannedCount::Exact(n) => format!(
            "{who}: planned {n} requests, counted {counted} ({} more than planned)",
            counted - n
        ),
        PlannedCount::AtMost(n) => format!(
            "{who}: planned at most {n} requests, counted {counted} ({} over)",
            counted.saturating_sub(n)
        ),
        PlannedCount::Open => format!("{who}: counted {counted}"),
    }
}

fn percent(f: f64) -> String {
    let p = f * 100.0;
    if (p - p.round()).abs() < 0.05 {
        format!("{:.0}%", p)
    } else {
        format!("{p:.1}%")
    }
}

/// The worst verdict of a run (`ok` for no stages).
pub fn worst(verdicts: &[StageVerdict]) -> Verdict {
    verdicts
        .iter()
        .map(|v| v.verdict)
        .max()
        .unwrap_or(Verdict::Ok)
}

/// An error body on one line, printable: control characters (escape sequences included) become
/// `\u{..}`, whitespace runs one space, at most `max` characters (then `…`).
pub fn printable(body: &str, max: usize) -> String {
    let mut out = String::new();
    let mut space = false;
    for (n, c) in body.chars().enumerate() {
        if n >= max {
            out.push('…');
            break;
        }
        if c.is_whitespace() {
            if !space && !out.is_empty() {
                out.push(' ');
            }
            space = true;
            continue;
        }
        space = false;
        if c.is_control() {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out.trim_end().to_string()
}

/// The failure lines under a stage's verdict: `http_404: 40 requests — server said: …`.
fn failure_lines(v: &StageVerdict) -> Vec<String> {
    v.top_failures
        .iter()
        .map(|f| {
            let body = f
                .first_error_body
                .as_deref()
                .filter(|b| !b.trim().is_empty())
                .map(|b| format!(" — server said: {}", printable(b, BODY_CHARS)))
                .unwrap_or_default();
            format!("{}: {} requests{body}", f.class, f.count)
        })
        .collect()
}

/// One headline per stage (`stage 0 (qps_04): FAILED — reasons`), each followed by its top
/// failure classes, indented: for the console and `SUMMARY.txt`.
pub fn verdict_lines(verdicts: &[StageVerdict]) -> Vec<String> {
    let mut out = Vec::new();
    for v in verdicts {
        let head = format!(
            "stage {} ({}): {}",
            v.stage,
            v.label,
            v.verdict.as_str().to_uppercase()
        );
        out.push(if v.reasons.is_empty() {
            format!("{head} — {} requests, {} failed", v.requests, v.failures)
        } else {
            format!("{head} — {}", v.reasons.join("; "))
        });
        for l in failure_lines(v) {
            out.push(format!("    {l}"));
        }
    }
    out
}

/// The verdicts as a markdown section (appended to `summary.md`).
pub fn verdicts_markdown(verdicts: &[StageVerdict]) -> String {
    let mut out = String::from("\n## Verdicts\n\n");
    for v in verdicts {
        let reasons = if v.reasons.is_empty() {
            format!("{} requests, {} failed", v.requests, v.failures)
        } else {
            v.reasons.join("; ")
        };
        out.push_str(&format!(
            "- stage {} ({}): **{}** — {}\n",
            v.stage,
            v.label,
            v.verdict.as_str(),
            reasons
        ));
        for l in failure_lines(v) {
            out.push_str(&format!("  - {l}\n"));
        }
    }
    out
}

/// The summary JSON with a `verdicts` list beside its tables (pandas reads `serving` as before).
pub fn with_verdicts(mut summary: Value, verdicts: &[StageVerdict]) -> Value {
    if let Value::Object(m) = &mut summary {
        m.insert("verdicts".into(), json!(verdicts));
    }
    summary
}

#[cfg(test)]
mod tests;
