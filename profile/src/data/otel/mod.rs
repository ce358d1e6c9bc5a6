//! inference-perf's OTel trace replay, read by the coordinator: the trace files of
//! `data.otel_trace_replay` (`trace_directory`'s `*.json`, or `trace_files` with globs; relative
//! paths as `data.path`'s: from the working directory, else from the profile's directories),
//! each one session whose calls become a replay graph (`spans.rs`, `graph.rs`); sessions
//! duplicated up to `duplicate_sessions_target`. Every size is bounded and named in its error.

mod glob;
#[cfg(test)]
mod golden_tests;
mod graph;
mod shuffle;
mod spans;
#[cfg(test)]
mod tests;

use super::files::resolve_data_path;
use crate::otel::OtelTraceReplayConfig;
use fleetbench_model::data::{ReplayGraph, ReplaySessions, ReplaySlot, MAX_REPLAY_EVENTS};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The most trace files a profile may name.
pub(crate) const MAX_TRACE_FILES: usize = 10_000;
/// The largest trace file read.
pub(crate) const MAX_TRACE_FILE_BYTES: u64 = 64 << 20;
/// The most spans of one trace.
pub(crate) const MAX_SPANS: usize = 100_000;
/// The most bytes of graphs (JSON) a shard spec carries: agents accept 64 MiB messages.
pub(crate) const MAX_REPLAY_BYTES: usize = 32 << 20;

/// Why the traces cannot be used: the key, and the message (naming the file).
#[derive(Debug)]
pub(crate) struct TraceError {
    pub key: &'static str,
    pub message: String,
}

fn err(key: &'static str, message: String) -> TraceError {
    TraceError { key, message }
}

/// The sessions of `c`'s traces, for the profile at `profile`: in file-name order, or with
/// `load.base_seed` in the order inference-perf shuffles them with it (without one inference-perf
/// seeds with the time).
pub(crate) fn read_sessions(
    c: &OtelTraceReplayConfig,
    profile: &Path,
    base_seed: Option<u64>,
) -> Result<ReplaySessions, TraceError> {
    let files = trace_files(c, profile)?;
    let mut graphs = Vec::new();
    let mut ids = Vec::new();
    let mut bytes = 0usize;
    for f in &files {
        match read_trace(f, c) {
            Ok(Some((id, graph))) => {
                bytes += serde_json::to_vec(&graph).map_or(0, |v| v.len());
                if bytes > MAX_REPLAY_BYTES {
                    return Err(err("data.otel_trace_replay", format!(
                        "{}: the graphs read so far pass {} MiB, the most a shard spec carries to an agent; name fewer or smaller traces",
                        f.display(), MAX_REPLAY_BYTES >> 20)));
                }
                ids.push(id);
                graphs.push(graph);
            }
            Ok(None) => {}
            Err(e) if c.skip_invalid_files => {
                tracing::warn!("skipping trace {}: {e}", f.display());
            }
            Err(e) => {
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
    if graphs.is_empty() {
        return Err(err(
            "data.otel_trace_replay",
            format!(
                "No valid replay sessions found in {} trace files",
                files.len()
            ),
        ));
    }
    if let Some(seed) = base_seed {
        let order = shuffle::python_shuffled(graphs.len(), seed);
        let mut g: Vec<Option<ReplayGraph>> = graphs.into_iter().map(Some).collect();
        graphs = order.iter().filter_map(|&k| g[k].take()).collect();
        ids = order.iter().map(|&k| ids[k].clone()).collect();
    }
    let mut slots: Vec<ReplaySlot> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| ReplaySlot {
            graph: i as u32,
            id: format!("trace{i}_{id}"),
            duplicate: false,
        })
        .collect();
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
    Ok(ReplaySessions {
        graphs,
        slots,
        max_wait_ms: c.max_wait_ms.max(0) as u64,
        predecessor_timeout_ms: (c.predecessor_wait_timeout_sec > 0.0)
            .then(|| (c.predecessor_wait_timeout_sec * 1000.0).round() as u64),
        substitute_outputs: !c.disable_output_substitution,
        inject_session_id: c.inject_random_session_id,
        seed: base_seed.unwrap_or(0),
    })
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
) -> Result<Option<(String, ReplayGraph)>, String> {
    let size = std::fs::metadata(f)
        .map_err(|e| format!("cannot read: {e}"))?
        .len();
    if size > MAX_TRACE_FILE_BYTES {
        return Err(format!(
            "{size} bytes, more than the {} MiB a trace file may have",
            MAX_TRACE_FILE_BYTES >> 20
        ));
    }
    let text = std::fs::read_to_string(f).map_err(|e| format!("cannot read: {e}"))?;
    let data: Value = serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))?;
    let spans = match data.get("spans") {
        Some(Value::Array(s)) => s,
        _ => return Err("not an OTel trace: a JSON object with a `spans` list".into()),
    };
    if spans.len() > MAX_SPANS {
        return Err(format!("{} spans, more than {MAX_SPANS}", spans.len()));
    }
    let id = ["session_id", "trace_id"]
        .iter()
        .find_map(|k| {
            data.get(*k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        })
        .map(str::to_string)
        .unwrap_or_else(|| {
            f.file_stem()
                .map_or(String::new(), |s| s.to_string_lossy().into_owned())
        });
    let calls = spans::build_raw_calls(spans, c.include_errors)?;
    if calls.is_empty() {
        tracing::warn!(
            "{}: no LLM calls, skipped (as inference-perf does)",
            f.display()
        );
        return Ok(None);
    }
    if calls.len() > MAX_REPLAY_EVENTS {
        return Err(format!(
            "{} LLM calls, more than the {MAX_REPLAY_EVENTS} a session may have",
            calls.len()
        ));
    }
    let model = |recorded: &str| model_of(c, recorded);
    let opts = graph::Options {
        model: &model,
        default_max_tokens: u32::try_from(c.default_max_tokens).unwrap_or(u32::MAX),
        tool_call_max_tokens: c.override_tool_call_max_tokens,
    };
    let events = graph::build_events(&calls, &opts)?;
    Ok(Some((
        id,
        ReplayGraph {
            source: f.display().to_string(),
            events,
        },
    )))
}

/// The model a call names: `static_model_name`, else its `model_mapping` entry, else the
/// endpoint's (`None`; inference-perf sends the server's `model_name`).
fn model_of(c: &OtelTraceReplayConfig, recorded: &str) -> Option<String> {
    if c.use_static_model {
        return Some(c.static_model_name.clone());
    }
    c.model_mapping.as_ref()?.get(recorded).cloned()
}
