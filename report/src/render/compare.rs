//! `coordinator report compare RUN_A RUN_B [RUN_C …]`: the summary rows of several runs side
//! by side. Stages are paired by their load (the rate in req/s, the closed-loop users, else the
//! stage label; a load that repeats within a run pairs by its occurrence), never by index; a
//! stage without a partner in another run is named, and a failed stage shows as failed rather
//! than as a difference. The first run is the baseline: Δ = X − A, Δ % = (X − A) / A. The same
//! comparison becomes a page ([`super::compare_html`]).

use super::error::RenderError;
use super::load::{load_run, Depth, RunData, StageData};
use super::table::cell_text;
use crate::{assess, summary_rows, BenchmarkRun, Cell, Verdict, COLUMNS};
use std::fmt::Write;
use std::path::PathBuf;

/// One run of a comparison.
pub(crate) struct Compared {
    /// `A`, `B`, …
    pub(crate) letter: String,
    pub(crate) path: PathBuf,
    pub(crate) data: RunData,
    pub(crate) rows: Vec<Vec<Cell>>,
    pub(crate) failed: Vec<bool>,
}

/// The stages of every run that share one load: `members[r]` is run r's stage (its position
/// in `data.stages`), if it has one.
pub(crate) struct Group {
    pub(crate) load: String,
    pub(crate) members: Vec<Option<usize>>,
}

/// A stage's load as a pairing key: `10 req/s`, `4 users`, else `label <label>`.
pub(crate) fn load_key(s: &StageData) -> String {
    match (s.load_kind(), s.load_value()) {
        ("concurrent", Some(v)) => format!("{} users", number(v)),
        ("constant" | "poisson" | "gamma", Some(v)) => format!("{} req/s", number(v)),
        _ => format!("label {}", s.label),
    }
}

/// Pairs the runs' stages by load, in the order the loads first appear (A's first).
pub(crate) fn pair(runs: &[Compared]) -> Vec<Group> {
    let keys: Vec<Vec<String>> = runs
        .iter()
        .map(|r| r.data.stages.iter().map(load_key).collect())
        .collect();
    pair_keys(&keys)
}

/// [`pair`] over each run's stage keys.
fn pair_keys(runs: &[Vec<String>]) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for (r, keys) in runs.iter().enumerate() {
        let mut seen: std::collections::BTreeMap<String, usize> = Default::default();
        for (k, base) in keys.iter().enumerate() {
            let base = base.clone();
            let n = seen.entry(base.clone()).or_default();
            *n += 1;
            let key = if *n == 1 {
                base
            } else {
                format!("{base} #{n}")
            };
            match groups.iter_mut().find(|g| g.load == key) {
                Some(g) => g.members[r] = Some(k),
                None => {
                    let mut members = vec![None; runs.len()];
                    members[r] = Some(k);
                    groups.push(Group { load: key, members });
                }
            }
        }
    }
    groups
}

fn value(c: &Cell) -> Option<f64> {
    match c {
        Cell::Count(n) => Some(*n as f64),
        Cell::Number(n) => Some(*n),
        Cell::Text(_) => None,
    }
}

/// `(b - a) / a` as a signed percentage; `0.00%` when equal, `n/a` when only `a` is zero.
pub(crate) fn relative(a: f64, b: f64) -> String {
    if a == b {
        "0.00%".into()
    } else if a == 0.0 {
        "n/a".into()
    } else {
        format!("{:+.2}%", (b - a) / a.abs() * 100.0)
    }
}

pub(crate) fn number(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// One line of the table: a load, a metric, and per run its value; per run after the first
/// its difference and relative difference to the first.
pub(crate) struct Line {
    pub(crate) load: String,
    pub(crate) stages: String,
    pub(crate) names: String,
    pub(crate) metric: &'static str,
    pub(crate) values: Vec<String>,
    /// `(Δ, Δ %)` of runs 1.. against run 0.
    pub(crate) deltas: Vec<(String, String)>,
}

/// Every line of the comparison, group by group, metric by metric.
pub(crate) fn lines(runs: &[Compared], groups: &[Group]) -> Vec<Line> {
    let mut out = Vec::new();
    for g in groups {
        let cell = |r: usize| g.members[r].map(|k| (&runs[r].rows[k], runs[r].failed[k]));
        let joined = |f: &dyn Fn(usize) -> String| {
            let all: Vec<String> = (0..runs.len()).map(f).collect();
            if all.iter().all(|x| *x == all[0]) {
                all[0].clone()
            } else {
                all.join(" / ")
            }
        };
        let stages = joined(&|r| {
            g.members[r]
                .map(|k| runs[r].data.stages[k].index.to_string())
                .unwrap_or_else(|| "–".into())
        });
        let names = joined(&|r| {
            cell(r)
                .map(|(row, _)| cell_text(&row[0]))
                .unwrap_or_else(|| "–".into())
        });
        for (c, metric) in COLUMNS.iter().enumerate().skip(2) {
            let values = (0..runs.len())
                .map(|r| match cell(r) {
                    None => "–".into(),
                    Some((_, true)) => "failed".into(),
                    Some((row, false)) => value(&row[c]).map(number).unwrap_or_else(|| "–".into()),
                })
                .collect();
            let deltas = (1..runs.len())
                .map(|r| delta(runs, cell(0), cell(r), r, c))
                .collect();
            out.push(Line {
                load: g.load.clone(),
                stages: stages.clone(),
                names: names.clone(),
                metric,
                values,
                deltas,
            });
        }
    }
    out
}

/// Run `r`'s difference to the first run in column `c`: failed or missing stages are named,
/// never turned into a percentage.
fn delta(
    runs: &[Compared],
    a: Option<(&Vec<Cell>, bool)>,
    x: Option<(&Vec<Cell>, bool)>,
    r: usize,
    c: usize,
) -> (String, String) {
    let dash = || ("–".to_string(), "–".to_string());
    match (a, x) {
        (None, _) => ("–".into(), format!("no stage in {}", runs[0].letter)),
        (_, None) => ("–".into(), format!("no stage in {}", runs[r].letter)),
        (Some((_, true)), Some((_, true))) => ("–".into(), "both failed".into()),
        (Some((_, true)), _) => ("–".into(), format!("{} failed", runs[0].letter)),
        (_, Some((_, true))) => ("–".into(), format!("{} failed", runs[r].letter)),
        (Some((ra, false)), Some((rx, false))) => match (value(&ra[c]), value(&rx[c])) {
            (Some(va), Some(vx)) => (number(vx - va), relative(va, vx)),
            _ => dash(),
        },
    }
}

/// The stages that have no partner in some other run, one sentence each.
pub(crate) fn unpaired(runs: &[Compared], groups: &[Group]) -> Vec<String> {
    let mut out = Vec::new();
    for g in groups {
        if g.members.iter().all(Option::is_some) {
            continue;
        }
        let has: Vec<String> = (0..runs.len())
            .filter_map(|r| {
                g.members[r].map(|k| {
                    let s = &runs[r].data.stages[k];
                    format!("{} stage {} ({})", runs[r].letter, s.index, s.label)
                })
            })
            .collect();
        let missing: Vec<&str> = (0..runs.len())
            .filter(|&r| g.members[r].is_none())
            .map(|r| runs[r].letter.as_str())
            .collect();
        out.push(format!(
            "load {}: {} has no partner in {}",
            g.load,
            has.join(", "),
            missing.join(", ")
        ));
    }
    out
}

/// Reads the runs (at least two) for a comparison.
pub(crate) fn read_runs(dirs: &[PathBuf]) -> Result<Vec<Compared>, RenderError> {
    let mut out = Vec::new();
    for (i, dir) in dirs.iter().enumerate() {
        let data = load_run(dir, Depth::ReportsOnly)?;
        let reports: Vec<BenchmarkRun> = data.stages.iter().map(|s| s.report.clone()).collect();
        let rows = summary_rows(&data.profile_name, &reports);
        let failed = reports
            .iter()
            .map(|r| assess(r).verdict == Verdict::Failed)
            .collect();
        out.push(Compared {
            letter: letter(i),
            path: dir.clone(),
            data,
            rows,
            failed,
        });
    }
    Ok(out)
}

/// `A` … `Z`, then `R27`, ….
fn letter(i: usize) -> String {
    if i < 26 {
        char::from(b'A' + i as u8).to_string()
    } else {
        format!("R{}", i + 1)
    }
}

/// The comparison as markdown.
pub(crate) fn markdown(runs: &[Compared], groups: &[Group]) -> String {
    let mut out = String::new();
    let others: Vec<&str> = runs[1..].iter().map(|r| r.letter.as_str()).collect();
    let _ = writeln!(
        out,
        "# Compare {}\n",
        runs.iter()
            .map(|r| format!("{} `{}`", r.letter, r.data.run_id))
            .collect::<Vec<_>>()
            .join(" with ")
    );
    for r in runs {
        let _ = writeln!(out, "{}: {}  ", r.letter, r.path.display());
    }
    let _ = writeln!(
        out,
        "\nStages are paired by load (rate, users, else label). Δ = X − A; Δ % = (X − A) / A for X in {}. A failed stage shows `failed`.\n",
        others.join(", ")
    );
    let mut head = String::from("| Load | Stage | Test name | Metric |");
    let mut rule = String::from("|:---|---:|:---|:---|");
    for (i, r) in runs.iter().enumerate() {
        if i == 0 || runs.len() == 2 {
            let _ = write!(head, " {} |", r.letter);
            rule.push_str("---:|");
        } else {
            let _ = write!(head, " {l} | Δ {l} | Δ % {l} |", l = r.letter);
            rule.push_str("---:|---:|---:|");
        }
    }
    if runs.len() == 2 {
        head.push_str(" Δ | Δ % |");
        rule.push_str("---:|---:|");
    }
    let _ = writeln!(out, "{head}\n{rule}");
    for l in lines(runs, groups) {
        let _ = write!(
            out,
            "| {} | {} | {} | {} | {} |",
            l.load, l.stages, l.names, l.metric, l.values[0]
        );
        if runs.len() == 2 {
            let _ = write!(
                out,
                " {} | {} | {} |",
                l.values[1], l.deltas[0].0, l.deltas[0].1
            );
        } else {
            for (v, (d, rel)) in l.values[1..].iter().zip(&l.deltas) {
                let _ = write!(out, " {v} | {d} | {rel} |");
            }
        }
        out.push('\n');
    }
    let missing = unpaired(runs, groups);
    if !missing.is_empty() {
        out.push_str("\nStages without a partner:\n");
        for m in missing {
            let _ = writeln!(out, "- {m}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{pair_keys, relative};

    #[test]
    fn stages_pair_by_load_not_by_index() {
        let k = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let a = k(&["1 req/s", "5 req/s", "10 req/s"]);
        let b = k(&["5 req/s", "10 req/s", "20 req/s", "5 req/s"]);
        let g = pair_keys(&[a, b]);
        let got: Vec<(&str, Vec<Option<usize>>)> = g
            .iter()
            .map(|g| (g.load.as_str(), g.members.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("1 req/s", vec![Some(0), None]),
                ("5 req/s", vec![Some(1), Some(0)]),
                ("10 req/s", vec![Some(2), Some(1)]),
                ("20 req/s", vec![None, Some(2)]),
                ("5 req/s #2", vec![None, Some(3)]),
            ]
        );
    }

    #[test]
    fn relative_differences() {
        assert_eq!(relative(10.0, 10.0), "0.00%");
        assert_eq!(relative(10.0, 12.5), "+25.00%");
        assert_eq!(relative(10.0, 9.0), "-10.00%");
        assert_eq!(relative(0.0, 1.0), "n/a");
        assert_eq!(relative(0.0, 0.0), "0.00%");
    }
}
