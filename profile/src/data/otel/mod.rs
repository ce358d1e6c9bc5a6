//! inference-perf's OTel trace replay, read by the coordinator: the trace files of
//! `data.otel_trace_replay` (`trace_directory`'s `*.json`, or `trace_files` with globs; relative
//! paths as `data.path`'s: from the working directory, else from the profile's directories) or
//! the rows of `hf_dataset_path`'s Hugging Face dataset (`dataset.rs`), each one session whose calls become a replay graph (`spans.rs`, `graph.rs`) unless
//! `filter` drops it (`filter.rs`); sessions duplicated up to `duplicate_sessions_target`. Every size is bounded and named in its error.

mod dataset;
#[cfg(all(test, feature = "hf"))]
mod dataset_tests;
pub(crate) mod filter;
#[cfg(test)]
mod filter_tests;
mod glob;
#[cfg(test)]
pub(crate) mod golden_tests;
pub(crate) mod graph;
pub(crate) mod spans;
#[cfg(test)]
mod tests;
pub(crate) mod tools;
pub(crate) mod trace;

use super::files::resolve_data_path;
use super::hub::HubEnv;
use crate::otel::{BadToolCallHandling, OtelTraceReplayConfig};
use filter::RowFilter;
use fleetbench_model::data::{ReplayGraph, ReplaySessions, ReplaySlot};
use serde_json::Value;
use std::path::{Path, PathBuf};
pub(crate) use trace::model_of;
pub(crate) use trace::TraceError;
use trace::{err, trace_graph, Traces};

/// What to do when the traces' graphs grow too large.
pub(crate) const TRACES_FEWER: &str = "name fewer or smaller traces";
/// The most trace files a profile may name.
pub(crate) const MAX_TRACE_FILES: usize = 10_000;
/// The largest trace file read.
pub(crate) const MAX_TRACE_FILE_BYTES: u64 = 64 << 20;
/// The sessions of `c`'s traces, for the profile at `profile`: in file-name order (a dataset's
/// in row order), or with `load.base_seed` in the order inference-perf shuffles them with it
/// (without one inference-perf seeds with the time). A dataset comes through the Hub as this
/// process's environment describes it.
pub(crate) fn read_sessions(
    c: &OtelTraceReplayConfig,
    profile: &Path,
    base_seed: Option<u64>,
) -> Result<ReplaySessions, TraceError> {
    read_sessions_with(c, profile, base_seed, &HubEnv::from_env())
}

/// [`read_sessions`] with the Hub `hub`.
pub(crate) fn read_sessions_with(
    c: &OtelTraceReplayConfig,
    profile: &Path,
    base_seed: Option<u64>,
    hub: &HubEnv,
) -> Result<ReplaySessions, TraceError> {
    let mut traces = Traces::new("data.otel_trace_replay", TRACES_FEWER);
    let filter = match &c.filter {
        Some(f) => Some(RowFilter::parse(f).map_err(|e| err("data.otel_trace_replay.filter", e))?),
        None => None,
    };
    if let Some(v) = &c.hf_dataset_path {
        dataset::read(v, c, filter.as_ref(), hub, &mut traces)?;
    } else {
        read_files(c, filter.as_ref(), profile, &mut traces)?;
    }
    Ok(sessions_of(traces, c, base_seed, base_seed, false))
}

/// The trace files of `trace_directory` or `trace_files`, each read into `traces` unless
/// `filter` drops it (its error, Python's, ends the read).
fn read_files(
    c: &OtelTraceReplayConfig,
    filter: Option<&RowFilter>,
    profile: &Path,
    traces: &mut Traces,
) -> Result<(), TraceError> {
    let files = trace_files(c, profile)?;
    for f in &files {
        match read_trace(f, c, filter) {
            Ok(Some((id, graph))) => traces.push(Some(id), graph, &f.display().to_string())?,
            Ok(None) => {}
            Err(Unread::Filter(e)) => {
                return Err(err(
                    "data.otel_trace_replay.filter",
                    format!("{}: {e}", f.display()),
                ));
            }
            Err(Unread::Invalid(e)) if c.skip_invalid_files => {
                tracing::warn!("skipping trace {}: {e}", f.display());
            }
            Err(Unread::Invalid(e)) => {
                return Err(err(
                    "data.otel_trace_replay",
                    format!(
                        "{}: {e} (skip_invalid_files: true skips such traces)",
                        f.display()
                    ),
                ));
            }
        }
    }
    if traces.is_empty() {
        return Err(err(
            "data.otel_trace_replay",
            format!(
                "No valid replay sessions found in {} trace files",
                files.len()
            ),
        ));
    }
    Ok(())
}

/// Why a trace file was not read: it is not a trace (skipped with `skip_invalid_files`), or the
/// filter failed on it (always an error, as inference-perf's `dataset.filter` raises).
enum Unread {
    Invalid(String),
    Filter(String),
}

/// The traces as sessions: shuffled with `shuffle` (none: in order), named `trace<slot>_<id>`
/// (`named`: by their ids as given), duplicated up to `duplicate_sessions_target`. A graph
/// without a source is named by its session. `base_seed` seeds the injected session strings.
pub(crate) fn sessions_of(
    traces: Traces,
    c: &OtelTraceReplayConfig,
    shuffle: Option<u64>,
    base_seed: Option<u64>,
    named: bool,
) -> ReplaySessions {
    let Traces {
        mut graphs,
        mut ids,
        ..
    } = traces;
    if let Some(seed) = shuffle {
        let order = crate::data::python_random::python_shuffled(graphs.len(), seed);
        let mut g: Vec<Option<ReplayGraph>> = graphs.into_iter().map(Some).collect();
        graphs = order.iter().filter_map(|&k| g[k].take()).collect();
        ids = order.iter().map(|&k| ids[k].clone()).collect();
    }
    let mut slots: Vec<ReplaySlot> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| ReplaySlot {
            graph: i as u32,
            id: match id {
                Some(id) if named => id.clone(),
                Some(id) => format!("trace{i}_{id}"),
                None => format!("trace{i}_session_{i}"),
            },
            duplicate: false,
        })
        .collect();
    for (g, slot) in graphs.iter_mut().zip(&slots) {
        if g.source.is_empty() {
            g.source = slot.id.clone();
        }
    }
    let base = slots.len();
    let target = c.duplicate_sessions_target.unwrap_or(0).max(0) as usize;
    let mut dup = 0;
    while slots.len() < target {
        let src = dup % base;
        dup += 1;
        slots.push(ReplaySlot {
            graph: src as u32,
            id: format!("{}_dup{dup}", slots[src].id),
            duplicate: true,
        });
    }
    ReplaySessions {
        graphs,
        slots,
        max_wait_ms: c.max_wait_ms.max(0) as u64,
        predecessor_timeout_ms: (c.predecessor_wait_timeout_sec > 0.0)
            .then(|| (c.predecessor_wait_timeout_sec * 1000.0).round() as u64),
        substitute_outputs: !c.disable_output_substitution,
        inject_session_id: c.inject_random_session_id,
        seed: base_seed.unwrap_or(0),
        recorded_on_bad_tool_calls: c.bad_tool_call_handling == BadToolCallHandling::UseRecorded,
    }
}

/// The files to read, sorted, each once.
fn trace_files(c: &OtelTraceReplayConfig, profile: &Path) -> Result<Vec<PathBuf>, TraceError> {
    let mut files = Vec::new();
    if let Some(dir) = &c.trace_directory {
        const KEY: &str = "data.otel_trace_replay.trace_directory";
        let d = resolve_data_path(dir, profile);
        if !d.is_dir() {
            return Err(err(
                KEY,
                format!(
                    "{dir:?}: Trace directory does not exist or is not a directory (looked at {})",
                    d.display()
                ),
            ));
        }
        let entries = std::fs::read_dir(&d)
            .map_err(|e| err(KEY, format!("{}: cannot list: {e}", d.display())))?;
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "json") && p.is_file() {
                files.push(p);
                if files.len() > MAX_TRACE_FILES {
                    return Err(err(
                        KEY,
                        format!("{}: more than {MAX_TRACE_FILES} trace files", d.display()),
                    ));
                }
            }
        }
        if files.is_empty() {
            return Err(err(KEY, format!("No JSON files found in {}", d.display())));
        }
    }
    for (i, pattern) in c.trace_files.iter().flatten().enumerate() {
        const KEY: &str = "data.otel_trace_replay.trace_files";
        if pattern.contains(['*', '?']) {
            files.extend(glob::expand(pattern, profile, MAX_TRACE_FILES + 1));
        } else {
            let p = resolve_data_path(pattern, profile);
            if !p.is_file() {
                return Err(err(
                    KEY,
                    format!(
                        "[{i}] {pattern:?}: Trace file does not exist (looked at {})",
                        p.display()
                    ),
                ));
            }
            if p.extension().is_none_or(|x| x != "json") {
                return Err(err(
                    KEY,
                    format!("[{i}] {pattern:?}: Trace file must be a JSON file"),
                ));
            }
            files.push(p);
        }
        if files.len() > MAX_TRACE_FILES {
            return Err(err(KEY, format!("more than {MAX_TRACE_FILES} trace files")));
        }
    }
    if c.trace_files.is_some() && files.is_empty() {
        return Err(err(
            "data.otel_trace_replay.trace_files",
            format!(
                "No trace files resolved from {:?}",
                c.trace_files.as_deref().unwrap_or_default()
            ),
        ));
    }
    files.sort();
    files.dedup();
    Ok(files)
}

/// One trace file as a session: its id (`session_id`, else `trace_id`, else the file stem) and
/// graph; `None` for a trace without LLM calls (skipped, as inference-perf does).
fn read_trace(
    f: &Path,
    c: &OtelTraceReplayConfig,
    filter: Option<&RowFilter>,
) -> Result<Option<(String, ReplayGraph)>, Unread> {
    let invalid = Unread::Invalid;
    let size = std::fs::metadata(f)
        .map_err(|e| invalid(format!("cannot read: {e}")))?
        .len();
    if size > MAX_TRACE_FILE_BYTES {
        return Err(invalid(format!(
            "{size} bytes, more than the {} MiB a trace file may have",
            MAX_TRACE_FILE_BYTES >> 20
        )));
    }
    let text = std::fs::read_to_string(f).map_err(|e| invalid(format!("cannot read: {e}")))?;
    let data: Value = serde_json::from_str(&text).map_err(|e| invalid(format!("not JSON: {e}")))?;
    let spans = match data.get("spans") {
        Some(Value::Array(s)) => s,
        _ => {
            return Err(invalid(
                "not an OTel trace: a JSON object with a `spans` list".into(),
            ))
        }
    };
    let stem = f
        .file_stem()
        .map_or(String::new(), |s| s.to_string_lossy().into_owned());
    if let Some(filter) = filter {
        let record = filter::normalized(&data, &stem, &f.display().to_string());
        if !filter.keep(&record).map_err(Unread::Filter)? {
            tracing::debug!("{}: dropped by the filter", f.display());
            return Ok(None);
        }
    }
    let id = ["session_id", "trace_id"]
        .iter()
        .find_map(|k| {
            data.get(*k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        })
        .map(str::to_string)
        .unwrap_or(stem);
    let graph = trace_graph(spans, f.display().to_string(), c).map_err(invalid)?;
    if graph.is_none() {
        tracing::warn!(
            "{}: no LLM calls, skipped (as inference-perf does)",
            f.display()
        );
    }
    Ok(graph.map(|g| (id, g)))
}
