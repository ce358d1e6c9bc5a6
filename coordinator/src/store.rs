//! The run directory `results/<run-id>/`: every accepted snapshot is appended here before it is
//! acknowledged, and each stage's report as soon as the stage ends (so a crash loses no
//! finished stage).
//!
//! What this store writes: `profile.yaml` (the profile as submitted), `plan.json`,
//! `agents.json`, `snapshots/stage-<k>.pb` (length-delimited `fleetbench.v1.Snapshot` messages,
//! in arrival order; `fleetbench_report::read_snapshots` reads them back),
//! `snapshots/excluded/stage-<k>.pb` (snapshots not merged: a lost shard's after its loss),
//! `requests.jsonl`, `state.jsonl` (the run's state transitions), `stage-<k>/report.yaml` +
//! `report.json` (BenchmarkRun 0.1). Everything else in the directory (summaries, vLLM files,
//! plots, `report.html`, the llm-d reports) is written from these by
//! `fleetbench_report::render::write_outputs` alone.

use fleetbench_profile::Secrets;
use fleetbench_proto::v1 as wire;
use fleetbench_report::BenchmarkRun;
use prost::Message;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A run file that could not be written or read.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct StoreError {
    /// The file.
    pub path: PathBuf,
    /// The I/O error.
    #[source]
    pub source: std::io::Error,
}

fn at(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError {
        path: path.to_path_buf(),
        source,
    }
}

#[derive(Debug)]
pub(crate) struct RunStore {
    dir: PathBuf,
    logs: HashMap<u32, File>,
    /// Written `<redacted>` in every text file of the run directory.
    secrets: Secrets,
}

impl RunStore {
    pub(crate) fn create(dir: PathBuf) -> Result<RunStore, StoreError> {
        let snaps = dir.join("snapshots");
        std::fs::create_dir_all(&snaps).map_err(at(&snaps))?;
        Ok(RunStore {
            dir,
            logs: HashMap::new(),
            secrets: Secrets::default(),
        })
    }

    /// The store with `secrets` redacted from every text file it writes (profile, plan,
    /// agents, reports, summaries, `requests.jsonl`); the outputs rendered later are built
    /// from these files.
    pub(crate) fn with_secrets(mut self, secrets: Secrets) -> RunStore {
        self.secrets = secrets;
        self
    }

    /// An existing run directory (for rewriting its reports).
    pub(crate) fn open(dir: PathBuf) -> RunStore {
        RunStore {
            dir,
            logs: HashMap::new(),
            secrets: Secrets::default(),
        }
    }

    /// Appends one state transition of the run to `state.jsonl` (`{"event": ..., ...}`): what a
    /// restarted coordinator and `report render` read back.
    pub(crate) fn record_state(&self, event: &serde_json::Value) -> Result<(), StoreError> {
        let path = self.dir.join("state.jsonl");
        let mut line = serde_json::to_vec(event).unwrap_or_default();
        line.push(b'\n');
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(at(&path))?;
        file.write_all(&line).map_err(at(&path))
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn write_file(&self, name: &str, contents: &[u8]) -> Result<(), StoreError> {
        let path = self.dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(at(parent))?;
        }
        std::fs::write(&path, self.secrets.redact_bytes(contents)).map_err(at(&path))
    }

    /// Writes `value` as pretty JSON; a value that cannot be encoded is an error of that file.
    pub(crate) fn write_json<T: serde::Serialize + ?Sized>(
        &self,
        name: &str,
        value: &T,
    ) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec_pretty(value).map_err(|e| StoreError {
            path: self.dir.join(name),
            source: std::io::Error::other(e),
        })?;
        self.write_file(name, &bytes)
    }

    /// Appends one snapshot to its stage's log (handed to the OS before this returns).
    pub(crate) fn append_snapshot(&mut self, s: &wire::Snapshot) -> Result<(), StoreError> {
        let path = self
            .dir
            .join("snapshots")
            .join(format!("stage-{}.pb", s.stage));
        let file = match self.logs.entry(s.stage) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => v.insert(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(at(&path))?,
            ),
        };
        file.write_all(&s.encode_length_delimited_to_vec())
            .map_err(at(&path))
    }

    /// Keeps a snapshot that is not merged (a lost shard's, arriving after its loss) in
    /// `snapshots/excluded/stage-<k>.pb`, apart from the stage's log.
    pub(crate) fn append_excluded(&mut self, s: &wire::Snapshot) -> Result<(), StoreError> {
        let dir = self.dir.join("snapshots").join("excluded");
        std::fs::create_dir_all(&dir).map_err(at(&dir))?;
        let path = dir.join(format!("stage-{}.pb", s.stage));
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(at(&path))?;
        file.write_all(&s.encode_length_delimited_to_vec())
            .map_err(at(&path))
    }

    /// Appends a snapshot's per-request records to `requests.jsonl` (when the profile asked
    /// for them: `report.request_lifecycle.per_request`). Times are Unix ns in the agent's
    /// clock (its offset to the coordinator's is in the stage report's `metrics.metadata.agents`).
    pub(crate) fn append_requests(
        &mut self,
        agent_id: &str,
        s: &wire::Snapshot,
    ) -> Result<(), StoreError> {
        if s.requests.is_empty() {
            return Ok(());
        }
        let path = self.dir.join("requests.jsonl");
        let mut lines = Vec::new();
        for r in &s.requests {
            let line = serde_json::json!({
                "agent": agent_id, "stage": s.stage, "id": r.id, "status": r.status,
                "in_window": r.in_window,
                "intended_unix_ns": r.intended_unix_ns, "sent_unix_ns": r.sent_unix_ns,
                "first_token_unix_ns": (r.first_token_unix_ns != 0).then_some(r.first_token_unix_ns),
                "end_unix_ns": r.end_unix_ns,
                "input_tokens": r.input_tokens, "output_tokens": r.output_tokens,
                "itl_us": r.itl_us,
            });
            serde_json::to_writer(&mut lines, &line).map_err(|e| StoreError {
                path: path.clone(),
                source: std::io::Error::other(e),
            })?;
            lines.push(b'\n');
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(at(&path))?;
        file.write_all(&self.secrets.redact_bytes(&lines))
            .map_err(at(&path))
    }

    /// `stage-<k>/report.yaml` and `report.json`, the same content.
    pub(crate) fn write_stage_report(
        &self,
        stage: u32,
        report: &BenchmarkRun,
    ) -> Result<(), StoreError> {
        let yaml = serde_norway::to_string(report).map_err(|e| StoreError {
            path: self.dir.join(format!("stage-{stage}/report.yaml")),
            source: std::io::Error::other(e),
        })?;
        let json = serde_json::to_vec_pretty(report).map_err(|e| StoreError {
            path: self.dir.join(format!("stage-{stage}/report.json")),
            source: std::io::Error::other(e),
        })?;
        self.write_file(&format!("stage-{stage}/report.yaml"), yaml.as_bytes())?;
        self.write_file(&format!("stage-{stage}/report.json"), &json)
    }
}

/// Directory levels below a run directory that are listed, at most.
const MAX_DEPTH: usize = 16;

/// Files of one run directory, at most.
const MAX_FILES: usize = 100_000;

/// Why a run directory's files could not be listed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ListError {
    /// A directory or entry could not be read.
    #[error("{rel}: {source}")]
    Read {
        /// Its path relative to the run directory.
        rel: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// More than [`MAX_FILES`].
    #[error("the run directory has more than {MAX_FILES} files")]
    TooMany,
}

/// The regular files under the run directory `root`, as `/`-separated paths relative to it,
/// sorted: what `FetchRun` sends and what an upload copies. Symbolic links are never followed
/// nor listed, a name that is not UTF-8 is left out (logged), no more than [`MAX_DEPTH`] levels
/// are walked, and more than [`MAX_FILES`] files is an error.
pub(crate) fn run_files(root: &Path) -> Result<Vec<String>, ListError> {
    let mut out = Vec::new();
    let mut stack: Vec<Vec<String>> = vec![Vec::new()];
    while let Some(rel) = stack.pop() {
        let read = |source| ListError::Read {
            rel: rel.join("/"),
            source,
        };
        let dir = rel.iter().fold(root.to_path_buf(), |p, n| p.join(n));
        for entry in std::fs::read_dir(&dir).map_err(read)? {
            let entry = entry.map_err(read)?;
            let Ok(name) = entry.file_name().into_string() else {
                tracing::warn!(
                    "skipped a file whose name is not UTF-8 in {}",
                    dir.display()
                );
                continue;
            };
            let kind = entry.file_type().map_err(read)?;
            let mut path = rel.clone();
            path.push(name);
            if kind.is_dir() && path.len() <= MAX_DEPTH {
                stack.push(path);
            } else if kind.is_file() {
                if out.len() == MAX_FILES {
                    return Err(ListError::TooMany);
                }
                out.push(path.join("/"));
            }
            // Symbolic links and anything else are not listed.
        }
    }
    out.sort();
    Ok(out)
}

/// Reads a stage's snapshot log back, in arrival order.
pub(crate) fn read_snapshots(path: &Path) -> Result<Vec<wire::Snapshot>, StoreError> {
    fleetbench_report::read_snapshots(path).map_err(|e| StoreError {
        path: e.path,
        source: e.source,
    })
}
