//! The sweep summary: per point its values, GPUs, status, stage (or probe) figures and SLA
//! search result, written as `sweep.json`, `sweep.md`, `plots/pareto.{png,svg}` (output tok/s
//! per GPU vs tok/s per user, one series per point, and the front across points) and
//! `sweep.html`, one self-contained page.

use super::error::SweepError;
use super::search::Bisection;
use super::spec::{OnFailure, Point, SearchOver, SearchSpec, Sweep, Target};
use fleetbench_report::render::{
    escape, pareto_chart, render_chart, tokens_per_sec_per_user, Chart, ParetoGroup,
};
use fleetbench_report::{worst, BenchmarkRun, StageVerdict, Verdict};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum PointStatus {
    Ok,
    Degraded,
    Failed,
    Skipped,
}

impl PointStatus {
    /// A point's status from its stages' verdicts.
    pub(crate) fn of(verdicts: &[StageVerdict]) -> PointStatus {
        match worst(verdicts) {
            Verdict::Ok => PointStatus::Ok,
            Verdict::Degraded => PointStatus::Degraded,
            Verdict::Failed => PointStatus::Failed,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            PointStatus::Ok => "ok",
            PointStatus::Degraded => "degraded",
            PointStatus::Failed => "failed",
            PointStatus::Skipped => "skipped",
        }
    }
}

/// One stage's (or probe's) figures; latencies in ms.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct StageFigures {
    pub stage: u32,
    pub label: String,
    pub verdict: String,
    pub requests: u64,
    pub failures: u64,
    pub(crate) requests_per_sec: Option<f64>,
    pub(crate) output_tokens_per_sec: Option<f64>,
    /// Output tok/s divided by the point's GPUs (None without a GPU count).
    pub(crate) output_tokens_per_sec_per_gpu: Option<f64>,
    /// 1000 / mean TPOT: the tokens per second one user sees.
    pub(crate) tokens_per_sec_per_user: Option<f64>,
    pub ttft_p50_ms: Option<f64>,
    pub(crate) ttft_p99_ms: Option<f64>,
    pub(crate) itl_p50_ms: Option<f64>,
    pub(crate) itl_p99_ms: Option<f64>,
    /// Requests per second that met every `report.goodput` constraint (None: the profile
    /// gives no constraints, so there is no goodput figure).
    pub(crate) goodput_requests_per_sec: Option<f64>,
    /// The stage's directory, relative to the sweep's.
    pub dir: String,
}

/// A stage report's figures for the summary.
pub(crate) fn figures(
    r: &BenchmarkRun,
    v: &StageVerdict,
    gpus: Option<f64>,
    dir: &str,
) -> StageFigures {
    let m = &r.metrics;
    let out = m.throughput.output_tokens_per_sec;
    let itl = m.latency.inter_token_latency.as_ref();
    StageFigures {
        stage: v.stage,
        label: v.label.clone(),
        verdict: v.verdict.as_str().to_string(),
        requests: v.requests,
        failures: v.failures,
        requests_per_sec: m.throughput.requests_per_sec,
        output_tokens_per_sec: out,
        output_tokens_per_sec_per_gpu: out.zip(gpus).map(|(o, g)| o / g),
        tokens_per_sec_per_user: tokens_per_sec_per_user(r),
        ttft_p50_ms: m.latency.time_to_first_token.p50,
        ttft_p99_ms: m.latency.time_to_first_token.p99,
        itl_p50_ms: itl.and_then(|s| s.p50),
        itl_p99_ms: itl.and_then(|s| s.p99),
        goodput_requests_per_sec: m
            .metadata
            .as_ref()
            .and_then(|x| x.pointer("/goodput/requests_per_sec"))
            .and_then(serde_json::Value::as_f64),
        dir: dir.to_string(),
    }
}

/// One probe of an SLA search.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Probe {
    pub k: usize,
    pub value: f64,
    pub(crate) met: bool,
    /// Why it missed the SLA (empty when it met it).
    pub(crate) reasons: Vec<String>,
    pub figures: Option<StageFigures>,
}

/// One point's SLA search: the range, the stated precision, the answer and every probe.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SlaResult {
    pub over: SearchOver,
    pub targets: Vec<Target>,
    pub lo: f64,
    pub(crate) hi: f64,
    pub(crate) max_probes: u32,
    /// The precision asked for: the answer is within this fraction of the true maximum when
    /// both `found` and `upper` are given.
    pub precision: f64,
    /// The highest value whose probe met every target (None: no probe did).
    pub found: Option<f64>,
    /// The lowest value whose probe missed (None: every probe met the SLA, so the maximum is
    /// at least `found`).
    pub(crate) upper: Option<f64>,
    /// `upper / found - 1`, the bracket the probes left.
    pub(crate) achieved_precision: Option<f64>,
    pub probes: Vec<Probe>,
}

impl SlaResult {
    pub(crate) fn new(
        s: &SearchSpec,
        targets: &[Target],
        b: &Bisection,
        probes: Vec<Probe>,
    ) -> SlaResult {
        let (found, upper) = b.result(probes.iter().any(|p| p.met), probes.iter().any(|p| !p.met));
        SlaResult {
            over: s.over,
            targets: targets.to_vec(),
            lo: s.lo,
            hi: s.hi,
            max_probes: s.max_probes,
            precision: s.precision,
            found,
            upper,
            achieved_precision: found.zip(upper).map(|(f, u)| u / f - 1.0),
            probes,
        }
    }

    /// The answer as a person reads it.
    fn describe(&self) -> String {
        let over = super::spec::over_name(self.over);
        match (self.found, self.upper) {
            (Some(f), Some(u)) => format!(
                "max {over} meeting the SLA: {f:.3} (next probe up, {u:.3}, missed; within {:.1}%)",
                (u / f - 1.0) * 100.0
            ),
            (Some(f), None) => {
                format!("every probe met the SLA: max {over} at least {f:.3} (the range's top)")
            }
            (None, Some(u)) => format!("no probe met the SLA: even {over} {u:.3} missed"),
            (None, None) => "no probe ran".into(),
        }
    }
}

/// One point of the sweep.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PointSummary {
    pub name: String,
    pub values: BTreeMap<String, String>,
    pub(crate) gpus: Option<f64>,
    pub status: PointStatus,
    pub error: Option<String>,
    pub stages: Vec<StageFigures>,
    pub sla: Option<SlaResult>,
}

impl PointSummary {
    pub(crate) fn new(p: &Point, status: PointStatus) -> PointSummary {
        PointSummary {
            name: p.name.clone(),
            values: p.values.clone(),
            gpus: p.gpus,
            status,
            error: None,
            stages: Vec::new(),
            sla: None,
        }
    }

    /// The measurements of the Pareto plot: every stage, or the probes that met the SLA.
    fn plotted(&self) -> Vec<&StageFigures> {
        match &self.sla {
            Some(s) => s
                .probes
                .iter()
                .filter(|p| p.met)
                .filter_map(|p| p.figures.as_ref())
                .collect(),
            None => self.stages.iter().collect(),
        }
    }
}

/// The whole sweep.
#[derive(Debug, Clone, Serialize)]
pub struct SweepSummary {
    pub(crate) sweep: String,
    pub(crate) file: String,
    pub(crate) profile: String,
    pub(crate) on_failure: OnFailure,
    /// A stop request ended the sweep early.
    pub(crate) interrupted: bool,
    pub(crate) points: Vec<PointSummary>,
}

impl SweepSummary {
    pub(crate) fn new(s: &Sweep, profile: &str) -> SweepSummary {
        SweepSummary {
            sweep: s.name.clone(),
            file: s.file.display().to_string(),
            profile: profile.to_string(),
            on_failure: s.on_failure,
            interrupted: false,
            points: Vec::new(),
        }
    }

    /// 3 when a point failed (or was skipped after one), 4 when one was degraded (unless
    /// allowed), 130 after a stop request, else 0.
    pub fn exit_code(&self, allow_degraded: bool) -> i32 {
        let has = |s: PointStatus| self.points.iter().any(|p| p.status == s);
        if self.interrupted {
            130
        } else if has(PointStatus::Failed) || has(PointStatus::Skipped) {
            3
        } else if has(PointStatus::Degraded) && !allow_degraded {
            4
        } else {
            0
        }
    }

    /// Writes `sweep.json`, `sweep.md`, the Pareto plot and `sweep.html` into `dir`.
    pub(crate) fn write(&self, dir: &Path) -> Result<(), SweepError> {
        let put = |name: &str, bytes: &[u8]| {
            let path = dir.join(name);
            std::fs::write(&path, bytes).map_err(|source| SweepError::Io { path, source })
        };
        let chart = self.pareto_chart();
        let series = chart.iter().flat_map(|c| &c.series);
        let mut json = serde_json::to_value(self).unwrap_or_default();
        json["pareto"] = serde_json::json!({
            "series": series.map(|s| serde_json::json!({"name": s.name, "points": s.points})).collect::<Vec<_>>(),
        });
        put(
            "sweep.json",
            serde_json::to_string_pretty(&json)
                .unwrap_or_default()
                .as_bytes(),
        )?;
        put("sweep.md", self.markdown().as_bytes())?;
        let svg = match chart {
            Some(c) => Some(render_chart(&c, dir)?.svg),
            None => None,
        };
        put("sweep.html", self.html(svg.as_deref()).as_bytes())
    }

    /// The Pareto plot: a series per point (its stages, or its probes that met the SLA).
    fn pareto_chart(&self) -> Option<Chart> {
        let per_gpu = self.points.iter().all(|p| p.gpus.is_some());
        let groups = self
            .points
            .iter()
            .map(|p| {
                let mut g = ParetoGroup {
                    name: p.name.clone(),
                    points: Vec::new(),
                    labels: Vec::new(),
                };
                for f in p.plotted() {
                    let y = if per_gpu {
                        f.output_tokens_per_sec_per_gpu
                    } else {
                        f.output_tokens_per_sec
                    };
                    if let (Some(x), Some(y)) = (f.tokens_per_sec_per_user, y) {
                        g.points.push((x, y));
                        g.labels.push(f.label.clone());
                    }
                }
                g
            })
            .collect();
        pareto_chart("Deployment points", per_gpu, groups)
    }

    /// The tables of `sweep.md`: points, then every stage or probe of every point.
    pub fn markdown(&self) -> String {
        let mut s = format!("# Sweep {} (profile {})\n\n", self.sweep, self.profile);
        if self.interrupted {
            s.push_str("Stopped before its end: later points were not run.\n\n");
        }
        s.push_str("| point | values | GPUs | status | result |\n|---|---|---:|---|---|\n");
        for p in &self.points {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                p.name,
                values_text(&p.values),
                opt(p.gpus, 0),
                p.status.as_str(),
                point_result(p).replace('|', "/")
            );
        }
        s.push_str("\n| point | stage | load | verdict | requests | failures | req/s | output tok/s | tok/s/GPU | tok/s/user | TTFT p50 ms | TTFT p99 ms | ITL p50 ms | ITL p99 ms | goodput req/s | SLA |\n");
        s.push_str(
            "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
        );
        for (p, f, sla) in self.rows() {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                p.name,
                f.stage,
                f.label,
                f.verdict,
                f.requests,
                f.failures,
                opt(f.requests_per_sec, 2),
                opt(f.output_tokens_per_sec, 1),
                opt(f.output_tokens_per_sec_per_gpu, 1),
                opt(f.tokens_per_sec_per_user, 1),
                opt(f.ttft_p50_ms, 1),
                opt(f.ttft_p99_ms, 1),
                opt(f.itl_p50_ms, 1),
                opt(f.itl_p99_ms, 1),
                opt(f.goodput_requests_per_sec, 2),
                sla.replace('|', "/")
            );
        }
        s
    }

    /// Every stage, or every probe with its SLA outcome.
    fn rows(&self) -> Vec<(&PointSummary, &StageFigures, String)> {
        let mut rows = Vec::new();
        for p in &self.points {
            match &p.sla {
                Some(sla) => {
                    for pr in &sla.probes {
                        if let Some(f) = &pr.figures {
                            let what = if pr.met {
                                format!("probe {}: met", pr.k)
                            } else {
                                format!("probe {}: missed ({})", pr.k, pr.reasons.join("; "))
                            };
                            rows.push((p, f, what));
                        }
                    }
                }
                None => rows.extend(p.stages.iter().map(|f| (p, f, String::new()))),
            }
        }
        rows
    }

    fn html(&self, svg: Option<&str>) -> String {
        let mut h = String::from("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">");
        let _ = write!(h, "<title>Sweep {}</title>", escape(&self.sweep));
        h.push_str("<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}.failed{color:#b00}svg{max-width:100%;height:auto}</style></head><body>");
        let _ = write!(
            h,
            "<h1>Sweep {}</h1><p>Profile {} · sweep file {} · on failure: {}{}</p>",
            escape(&self.sweep),
            escape(&self.profile),
            escape(&self.file),
            if self.on_failure == OnFailure::Stop {
                "stop"
            } else {
                "continue"
            },
            if self.interrupted {
                " · <b>stopped before its end</b>"
            } else {
                ""
            }
        );
        h.push_str("<h2>Points</h2><table><tr><th>point</th><th>values</th><th>GPUs</th><th>status</th><th>result</th></tr>");
        for p in &self.points {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td></tr>",
                escape(&p.name),
                escape(&values_text(&p.values)),
                opt(p.gpus, 0),
                p.status.as_str(),
                p.status.as_str(),
                escape(&point_result(p))
            );
        }
        h.push_str("</table>");
        if let Some(svg) = svg {
            let _ = write!(h, "<h2>Pareto</h2>{svg}");
        }
        h.push_str("<h2>Stages and probes</h2><table><tr><th>point</th><th>stage</th><th>load</th><th>verdict</th><th>requests</th><th>failures</th><th>output tok/s</th><th>tok/s/GPU</th><th>tok/s/user</th><th>TTFT p99 ms</th><th>ITL p99 ms</th><th>goodput req/s</th><th>SLA</th></tr>");
        for (p, f, sla) in self.rows() {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&p.name),
                f.stage,
                escape(&f.label),
                escape(&f.verdict),
                f.requests,
                f.failures,
                opt(f.output_tokens_per_sec, 1),
                opt(f.output_tokens_per_sec_per_gpu, 1),
                opt(f.tokens_per_sec_per_user, 1),
                opt(f.ttft_p99_ms, 1),
                opt(f.itl_p99_ms, 1),
                opt(f.goodput_requests_per_sec, 2),
                escape(&sla)
            );
        }
        h.push_str("</table></body></html>\n");
        h
    }
}

/// A point's outcome in one line: its error, its SLA answer, or its best stage.
fn point_result(p: &PointSummary) -> String {
    if let Some(e) = &p.error {
        return e.clone();
    }
    if let Some(s) = &p.sla {
        return s.describe();
    }
    let best = p
        .stages
        .iter()
        .filter_map(|f| {
            f.output_tokens_per_sec_per_gpu
                .or(f.output_tokens_per_sec)
                .map(|v| (v, f))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match best {
        Some((v, f)) => format!(
            "{} stages; best {v:.1} output tok/s{} at {}",
            p.stages.len(),
            if p.gpus.is_some() { " per GPU" } else { "" },
            f.label
        ),
        None if p.status == PointStatus::Skipped => "not run".into(),
        None => format!("{} stages", p.stages.len()),
    }
}

fn values_text(v: &BTreeMap<String, String>) -> String {
    v.iter()
        .filter(|(k, _)| k.as_str() != "name")
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.decimals$}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(stage: u32, goodput: Option<f64>) -> StageFigures {
        StageFigures {
            stage,
            label: format!("qps_0{stage}"),
            verdict: "ok".into(),
            requests: 10,
            failures: 0,
            requests_per_sec: Some(2.0),
            output_tokens_per_sec: Some(64.0),
            output_tokens_per_sec_per_gpu: Some(32.0),
            tokens_per_sec_per_user: Some(50.0 + f64::from(stage)),
            ttft_p50_ms: Some(10.0),
            ttft_p99_ms: Some(20.0),
            itl_p50_ms: Some(5.0),
            itl_p99_ms: Some(9.0),
            goodput_requests_per_sec: goodput,
            dir: format!("p/stages/stage-{stage}"),
        }
    }

    /// The stages table shows goodput where the stage had constraints and `-` (no figure)
    /// where it had none; sweep.json carries it (null without constraints).
    #[test]
    fn the_stage_table_shows_goodput_only_with_constraints() {
        let s = SweepSummary {
            sweep: "s".into(),
            file: "s.yaml".into(),
            profile: "p".into(),
            on_failure: OnFailure::Continue,
            interrupted: false,
            points: vec![PointSummary {
                name: "1p1d".into(),
                values: BTreeMap::new(),
                gpus: Some(2.0),
                status: PointStatus::Ok,
                error: None,
                stages: vec![stage(1, Some(1.5)), stage(2, None)],
                sla: None,
            }],
        };
        let md = s.markdown();
        let rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| 1p1d | ")).collect();
        assert!(md.contains("| goodput req/s | SLA |"), "{md}");
        assert!(rows[1].ends_with("| 1.50 |  |"), "{md}");
        assert!(rows[2].ends_with("| - |  |"), "{md}");
        let j = serde_json::to_value(&s).unwrap();
        assert_eq!(j["points"][0]["stages"][0]["goodput_requests_per_sec"], 1.5);
        assert!(j["points"][0]["stages"][1]["goodput_requests_per_sec"].is_null());
        let chart = s.pareto_chart().unwrap();
        assert_eq!(chart.series.len(), 2, "the point and the front");
        assert_eq!(chart.series[0].points, vec![(51.0, 32.0), (52.0, 32.0)]);
    }
}
