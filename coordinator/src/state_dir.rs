//! `serve --state-dir DIR`'s list of runs, `DIR/runs.jsonl`: a line (run id and run directory)
//! appended when a run starts, read back after a restart to find the runs that did not finish.

use crate::recover;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// One line of `runs.jsonl`.
#[derive(Serialize, Deserialize)]
struct RunEntry {
    run_id: String,
    dir: PathBuf,
}

/// Appends a started run to `state_dir/runs.jsonl`.
pub(crate) fn register(state_dir: &Path, run_id: &str, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(state_dir)?;
    let entry = RunEntry {
        run_id: run_id.to_string(),
        dir: dir.to_path_buf(),
    };
    let mut line = serde_json::to_vec(&entry).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(state_dir.join("runs.jsonl"))?;
    f.write_all(&line)
}

/// The run directories of the runs in `state_dir` that did not finish, oldest first.
pub(crate) fn unfinished_runs(state_dir: &Path) -> Vec<PathBuf> {
    let text = std::fs::read_to_string(state_dir.join("runs.jsonl")).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<RunEntry>(l).ok())
        .map(|e| e.dir)
        .filter(|d| d.is_dir() && !recover::finished(&recover::read_state(d)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_the_registered_runs_that_did_not_finish() {
        let state = std::env::temp_dir().join(format!("fb-state-dir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&state);
        let (done, open) = (state.join("run-done"), state.join("run-open"));
        for d in [&done, &open] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(
            done.join("state.jsonl"),
            "{\"event\":\"finished\",\"partial\":false}\n",
        )
        .unwrap();
        std::fs::write(open.join("state.jsonl"), "{\"event\":\"planned\"}\n").unwrap();
        register(&state, "run-done", &done).unwrap();
        register(&state, "run-open", &open).unwrap();
        register(&state, "run-gone", &state.join("run-gone")).unwrap();
        assert_eq!(unfinished_runs(&state), vec![open]);
        std::fs::remove_dir_all(&state).unwrap();
    }
}
