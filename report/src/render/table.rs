//! The summary table in its text forms (`summary.md`, `summary.json`, `summary.csv`,
//! `SUMMARY.txt`) and the run's headline: best throughputs and, per SLO of the profile, the
//! highest stage that met it.

use super::load::{RunData, StageData};
use crate::{assess, verdict_lines, worst, Cell, StageVerdict, Statistics, COLUMNS};
use serde_json::Value;

/// A cell as text: numbers with two decimals, so that columns line up.
pub(crate) fn cell_text(c: &Cell) -> String {
    match c {
        Cell::Text(s) => s.clone(),
        Cell::Count(n) => n.to_string(),
        Cell::Number(n) => format!("{n:.2}"),
    }
}

/// RFC 4180 CSV with the summary's 16 columns.
pub(crate) fn summary_csv(rows: &[Vec<Cell>]) -> String {
    let field = |s: &str| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let mut out = COLUMNS.map(field).join(",");
    out.push('\n');
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .map(|c| match c {
                Cell::Text(s) => field(s),
                Cell::Count(n) => n.to_string(),
                Cell::Number(n) => format!("{n}"),
            })
            .collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

/// A fixed-width table: text left-aligned, numbers right-aligned.
pub(crate) fn fixed_width(rows: &[Vec<Cell>]) -> String {
    let texts: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(cell_text).collect())
        .collect();
    let widths: Vec<usize> = COLUMNS
        .iter()
        .enumerate()
        .map(|(c, h)| {
            texts
                .iter()
                .map(|r| r[c].chars().count())
                .chain(std::iter::once(h.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>, numeric: &dyn Fn(usize) -> bool| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(c, s)| {
                if numeric(c) {
                    format!("{s:>w$}", w = widths[c])
                } else {
                    format!("{s:<w$}", w = widths[c])
                }
            })
            .collect();
        parts.join("  ").trim_end().to_string()
    };
    let mut out = String::new();
    out.push_str(&line(
        COLUMNS.iter().map(|s| s.to_string()).collect(),
        &|c| c >= 2,
    ));
    out.push('\n');
    out.push_str(&line(
        widths.iter().map(|w| "-".repeat(*w)).collect(),
        &|_| false,
    ));
    out.push('\n');
    for (r, row) in texts.into_iter().enumerate() {
        out.push_str(&line(row, &|c| !matches!(rows[r][c], Cell::Text(_))));
        out.push('\n');
    }
    out
}

/// One SLO of the profile: `slo: {ttft_ms: {p99: 2000}}` gives metric `ttft_ms`, stat `p99`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Slo {
    pub(crate) metric: String,
    pub(crate) stat: String,
    pub(crate) limit_ms: f64,
}

/// The profile's `slo` section (docs/profile.md); unknown metrics or stats are reported.
pub(crate) fn slos_of(profile: Option<&Value>) -> (Vec<Slo>, Vec<String>) {
    let mut slos = Vec::new();
    let mut problems = Vec::new();
    let Some(Value::Object(section)) = profile.and_then(|p| p.get("slo")) else {
        return (slos, problems);
    };
    for (metric, stats) in section {
        let Some(stats) = stats.as_object() else {
            problems.push(format!(
                "slo.{metric}: expected a map of statistic to limit"
            ));
            continue;
        };
        for (stat, limit) in stats {
            match limit.as_f64() {
                Some(l) => slos.push(Slo {
                    metric: metric.clone(),
                    stat: stat.clone(),
                    limit_ms: l,
                }),
                None => problems.push(format!("slo.{metric}.{stat}: not a number")),
            }
        }
    }
    (slos, problems)
}

/// The report statistic an SLO metric names.
fn slo_statistics<'a>(stage: &'a StageData, metric: &str) -> Option<&'a Statistics> {
    let l = &stage.report.metrics.latency;
    match metric {
        "ttft_ms" => Some(&l.time_to_first_token),
        "itl_ms" => l.inter_token_latency.as_ref(),
        "tpot_ms" => l.time_per_output_token.as_ref(),
        "ntpot_ms" => l.normalized_time_per_output_token.as_ref(),
        "e2e_ms" | "request_latency_ms" => l.request_latency.as_ref(),
        _ => None,
    }
}

/// The value of `stat` (`mean`, `p50`, `p99`, ...) of a stage's SLO metric, in ms.
pub(crate) fn slo_value(stage: &StageData, slo: &Slo) -> Option<f64> {
    let s = slo_statistics(stage, &slo.metric)?;
    let v = serde_json::to_value(s).ok()?;
    v.get(&slo.stat)?.as_f64()
}

/// The headline lines of `SUMMARY.txt` (and of the HTML page).
pub(crate) fn headline(run: &RunData, rows: &[Vec<Cell>]) -> Vec<String> {
    let num = |r: &[Cell], c: usize| match &r[c] {
        Cell::Number(n) => *n,
        Cell::Count(n) => *n as f64,
        Cell::Text(_) => 0.0,
    };
    let name = |i: usize| cell_text(&rows[i][0]);
    let best =
        |c: usize| (0..rows.len()).max_by(|&a, &b| num(&rows[a], c).total_cmp(&num(&rows[b], c)));
    let mut out = Vec::new();
    if let Some(i) = best(3) {
        out.push(format!(
            "Best request throughput:     {} req/s ({})",
            cell_text(&rows[i][3]),
            name(i)
        ));
    }
    if let Some(i) = best(4) {
        out.push(format!(
            "Best output throughput:      {} tok/s ({})",
            cell_text(&rows[i][4]),
            name(i)
        ));
    }
    let per_gpu: Vec<(usize, f64)> = run
        .stages
        .iter()
        .enumerate()
        .filter(|(_, s)| s.gpu_count() > 0)
        .map(|(i, s)| (i, num(&rows[i], 4) / s.gpu_count() as f64))
        .collect();
    match per_gpu.iter().max_by(|a, b| a.1.total_cmp(&b.1)) {
        Some((i, v)) => out.push(format!(
            "Best output tok/s per GPU:   {:.2} tok/s/GPU ({}, {} GPUs)",
            v,
            name(*i),
            run.stages[*i].gpu_count()
        )),
        None => out.push(
            "Best output tok/s per GPU:   n/a (no GPU count in the reports: simulated or no accelerator inventory)"
                .into(),
        ),
    }
    let (slos, problems) = slos_of(run.profile.as_ref());
    if slos.is_empty() && problems.is_empty() {
        out.push("SLOs:                        no SLOs in the profile".into());
    }
    for slo in &slos {
        let met: Vec<usize> = run
            .stages
            .iter()
            .enumerate()
            .filter(|(_, s)| slo_value(s, slo).is_some_and(|v| v <= slo.limit_ms))
            .map(|(i, _)| i)
            .collect();
        // "Highest" is the stage with the most load; the stages of a sweep are in load order.
        let highest = met.iter().copied().max_by(|&a, &b| {
            let la = run.stages[a].load_value().unwrap_or(a as f64);
            let lb = run.stages[b].load_value().unwrap_or(b as f64);
            la.total_cmp(&lb)
        });
        let what = format!("{} {} <= {} ms", slo.metric, slo.stat, slo.limit_ms);
        out.push(match highest {
            Some(i) => format!(
                "SLO {what}: highest stage meeting it {} ({} {:.2} ms)",
                name(i),
                slo.stat,
                slo_value(&run.stages[i], slo).unwrap_or(0.0)
            ),
            None => format!("SLO {what}: no stage met it"),
        });
    }
    for p in problems {
        out.push(format!("SLO section not understood: {p}"));
    }
    out
}

/// `SUMMARY.txt`: title, headline, the table.
pub(crate) fn summary_txt(run: &RunData, rows: &[Vec<Cell>], headline: &[String]) -> String {
    let gpu = rows
        .first()
        .map(|r| cell_text(&r[1]))
        .unwrap_or_else(|| "none".into());
    let mut out = format!(
        "fleetbench run {} — profile {}, {} stage{}, GPU {}\n\n",
        run.run_id,
        run.profile_name,
        run.stages.len(),
        if run.stages.len() == 1 { "" } else { "s" },
        gpu
    );
    let verdicts: Vec<StageVerdict> = run.stages.iter().map(|s| assess(&s.report)).collect();
    out.push_str(&format!(
        "Verdict: {}\n",
        worst(&verdicts).as_str().to_uppercase()
    ));
    for l in verdict_lines(&verdicts) {
        out.push_str(&l);
        out.push('\n');
    }
    let reports: Vec<_> = run.stages.iter().map(|s| s.report.clone()).collect();
    for l in crate::stage_pd_lines(&reports) {
        out.push_str(&l);
        out.push('\n');
    }
    out.push('\n');
    for l in headline {
        out.push_str(l);
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&fixed_width(rows));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn csv_quotes_text_with_commas() {
        let rows = vec![vec![
            Cell::Text("a,b".into()),
            Cell::Text("sim".into()),
            Cell::Count(3),
            Cell::Number(1.5),
        ]];
        let csv = summary_csv(&rows);
        let mut lines = csv.lines();
        assert_eq!(lines.next().unwrap().split(',').count(), 16);
        assert_eq!(lines.next().unwrap(), "\"a,b\",sim,3,1.5");
    }

    #[test]
    fn slo_section_is_read_as_spec_profile_md_writes_it() {
        let p = json!({"slo": {"ttft_ms": {"p99": 2000}, "itl_ms": {"p99": 50.5}}});
        let (slos, problems) = slos_of(Some(&p));
        assert!(problems.is_empty());
        assert_eq!(slos.len(), 2);
        assert!(slos.contains(&Slo {
            metric: "itl_ms".into(),
            stat: "p99".into(),
            limit_ms: 50.5
        }));
        assert!(slos_of(Some(&json!({"name": "x"}))).0.is_empty());
        assert_eq!(slos_of(Some(&json!({"slo": {"ttft_ms": 3}}))).1.len(), 1);
    }

    fn stat(units: &str, mean: f64, p99: f64) -> Value {
        json!({"units": units, "mean": mean, "p50": mean, "p99": p99})
    }

    fn stage(index: u32, rate: f64, ttft_p99: f64) -> StageData {
        let report = json!({
            "version": "0.1",
            "scenario": {
                "host": {"type": ["replica"], "accelerator": [{"model": "H100", "count": 2}]},
                "platform": {"engine": [{"name": "vllm"}]},
                "model": {"name": "m"},
                "load": {"name": "inference-perf", "type": "constant",
                         "args": {"type": "constant", "rate": rate},
                         "metadata": {"stage_label": format!("qps_{rate}")}}
            },
            "metrics": {
                "time": {"duration": 10.0},
                "requests": {"total": 10, "failures": 0,
                             "input_length": stat("count", 10.0, 10.0),
                             "output_length": stat("count", 10.0, 10.0)},
                "latency": {"time_to_first_token": stat("ms", ttft_p99 / 2.0, ttft_p99)},
                "throughput": {"total_tokens_per_sec": rate * 20.0,
                               "output_tokens_per_sec": rate * 10.0,
                               "requests_per_sec": rate}
            }
        });
        StageData {
            index,
            label: format!("qps_{rate}"),
            report: serde_json::from_value(report).unwrap(),
            merged: None,
            intervals: Vec::new(),
            interval_s: 1.0,
            offset_s: 0.0,
        }
    }

    #[test]
    fn headline_names_the_best_stages_and_the_highest_stage_meeting_each_slo() {
        let run = RunData {
            run_id: "r".into(),
            profile_name: "t".into(),
            profile: Some(json!({"slo": {"ttft_ms": {"p99": 100}, "itl_ms": {"p99": 5}}})),
            stages: vec![
                stage(0, 5.0, 50.0),
                stage(1, 10.0, 80.0),
                stage(2, 20.0, 150.0),
            ],
            warnings: Vec::new(),
        };
        let reports: Vec<_> = run.stages.iter().map(|s| s.report.clone()).collect();
        let rows = crate::summary_rows("t", &reports);
        let h = headline(&run, &rows);
        assert!(h[0].contains("20.00 req/s (t_qps_20)"), "{h:?}");
        assert!(h[1].contains("200.00 tok/s (t_qps_20)"), "{h:?}");
        assert!(
            h[2].contains("100.00 tok/s/GPU (t_qps_20, 2 GPUs)"),
            "{h:?}"
        );
        assert!(
            h.iter().any(|l| l.starts_with("SLO ttft_ms p99 <= 100 ms")
                && l.contains("highest stage meeting it t_qps_10 (p99 80.00 ms)")),
            "{h:?}"
        );
        // The reports have no ITL: no stage can meet an ITL SLO.
        assert!(
            h.iter()
                .any(|l| l == "SLO itl_ms p99 <= 5 ms: no stage met it"),
            "{h:?}"
        );

        let none = RunData {
            profile: Some(json!({"name": "t"})),
            ..run
        };
        let h = headline(&none, &rows);
        assert!(
            h.iter().any(|l| l.ends_with("no SLOs in the profile")),
            "{h:?}"
        );
    }

    #[test]
    fn fixed_width_aligns_numbers_right() {
        let rows = vec![vec![
            Cell::Text("t_qps_05".into()),
            Cell::Text("sim".into()),
            Cell::Count(10),
            Cell::Number(5.0),
            Cell::Number(640.25),
            Cell::Number(0.0),
            Cell::Number(0.0),
            Cell::Number(0.0),
            Cell::Number(0.0),
            Cell::Number(0.0),
            Cell::Number(0.0),
            Cell::Number(0.0),
            Cell::Number(0.0),
            Cell::Number(0.0),
            Cell::Number(12.5),
            Cell::Number(1.5),
        ]];
        let t = fixed_width(&rows);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("Test name"));
        assert!(lines[0].ends_with("Goodput (req/s)"));
        assert!(lines[2].ends_with("1.50"));
        // The count sits under the right end of its header.
        let h = lines[0].find("# of req.").unwrap() + "# of req.".len();
        assert_eq!(&lines[2][h - 2..h], "10");
    }
}
