//! `coordinator runs`: the runs a running `coordinator serve` knows, one line each (id,
//! profile, state, start, stages done of planned, worst verdict).

use super::Remote;
use fleetbench_proto::v1 as wire;

/// Prints the coordinator's runs as a table.
pub async fn run(remote: Remote) -> anyhow::Result<()> {
    let mut client =
        crate::dial_cli::connect(&remote.coordinator, &remote.dial.security()?).await?;
    let reply = client
        .list_runs(wire::ListRunsRequest {})
        .await
        .map_err(|s| anyhow::anyhow!("{}", s.message()))?
        .into_inner();
    print!("{}", table(&reply.runs));
    Ok(())
}

/// The runs as aligned columns (a header line, then one line per run).
fn table(runs: &[wire::RunInfo]) -> String {
    let mut rows = vec![[
        "RUN".to_string(),
        "PROFILE".into(),
        "STATE".into(),
        "START".into(),
        "STAGES".into(),
        "VERDICT".into(),
    ]];
    for r in runs {
        let dash = |s: &str| {
            if s.is_empty() {
                "-".to_string()
            } else {
                s.to_string()
            }
        };
        let state = if r.error.is_empty() {
            r.state.clone()
        } else {
            format!("{} ({})", r.state, r.error)
        };
        rows.push([
            r.run_id.clone(),
            dash(&r.profile),
            state,
            dash(&r.started),
            format!("{}/{}", r.stages_done, r.stages),
            dash(&r.verdict),
        ]);
    }
    let mut width = [0usize; 6];
    for row in &rows {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    if runs.is_empty() {
        out.push_str("no runs\n");
        return out;
    }
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(width)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_aligned_line_per_run() {
        let runs = [
            wire::RunInfo {
                run_id: "20261201-215042-0a1b".into(),
                profile: "quickstart".into(),
                state: "finished".into(),
                started: "2026-12-01T21:50:42Z".into(),
                stages_done: 2,
                stages: 2,
                verdict: "ok".into(),
                error: String::new(),
            },
            wire::RunInfo {
                run_id: "20261201-220000-ffff".into(),
                state: "failed".into(),
                error: "waited 30s for 2 agents, 1 joined".into(),
                ..Default::default()
            },
        ];
        let t = table(&runs);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("RUN  "));
        assert!(lines[1].contains("quickstart") && lines[1].ends_with("2/2     ok"));
        assert!(lines[2].contains("failed (waited 30s for 2 agents, 1 joined)"));
        assert_eq!(lines[0].find("PROFILE"), lines[1].find("quickstart"));
        assert_eq!(table(&[]), "no runs\n");
    }
}
