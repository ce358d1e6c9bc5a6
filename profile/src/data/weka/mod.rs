//! inference-perf's Weka trace replay, read by the coordinator: the traces of
//! `data.weka_trace_replay` (`trace_directory`'s `*.json`, `trace_files`, or the `traces.jsonl`
//! of `hf_dataset_path`'s Hugging Face dataset, at most `num_dataset_entries` of it), kept by
//! `filter`, each rebuilt into calls with text (`rebuild.rs`) and made a replay graph as OTel
//! traces are (`otel::graph`); sessions named `wekatrace<i>_<id>`, shuffled with
//! `load.base_seed` (42 without one: inference-perf then seeds with the time, so its order and
//! text change from run to run), duplicated up to
//! `duplicate_sessions_target`. The corpus is `data.corpus_file_path`, else inference-perf's
//! Shakespeare text (public domain), carried in the binary (`profile/assets/`).

mod rebuild;
#[cfg(all(test, feature = "hf"))]
mod tests;
mod trace;

use super::files::{read_bounded, resolve_data_path};
use super::hub::HubEnv;
use super::otel::filter::RowFilter;
use super::otel::trace::{err, TraceError, Traces};
use super::otel::{graph, model_of, sessions_of, MAX_TRACE_FILES, MAX_TRACE_FILE_BYTES};
use super::tokenizer::ModelTokenizer;
use crate::otel::ToolChoiceMode;
use crate::weka::{dataset_id, WekaTraceReplayConfig};
use fleetbench_model::data::{ReplayGraph, ReplaySessions, MAX_REPLAY_EVENTS};
use serde_json::Value;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use trace::WekaTrace;

const KEY: &str = "data.weka_trace_replay";

/// inference-perf's line before the corpus text (`weka_trace_replay_datagen.py`).
const BASE_PROMPT: &str = "Pick as many lines as you can from these poem lines:\n";

/// inference-perf's prompt corpus (`inference_perf/assets/shakespeare.txt`), gzipped.
const SHAKESPEARE_GZ: &[u8] = include_bytes!("../../../assets/shakespeare.txt.gz");

/// The most bytes of a corpus file read. The corpus is tokenized whole, as inference-perf does
/// (the tokenizer's bookkeeping takes about 150 bytes a byte meanwhile: 0.75 GB for the bundled
/// 5 MB corpus), so it is bounded lower than other data files.
const MAX_CORPUS_BYTES: u64 = 16 << 20;

/// The most bytes of text rebuilt from one trace (each message held once, shared by the calls
/// that send it again).
pub(crate) const MAX_REBUILT_BYTES: usize = 256 << 20;

/// The sessions of `c`'s traces for the profile at `profile`, prompts rebuilt with `tokenizer`
/// from `corpus_file` (else the bundled corpus).
pub(crate) fn read_sessions(
    c: &WekaTraceReplayConfig,
    profile: &Path,
    base_seed: Option<u64>,
    tokenizer: &ModelTokenizer,
    corpus_file: Option<&str>,
) -> Result<ReplaySessions, TraceError> {
    read_sessions_with(
        c,
        profile,
        base_seed,
        tokenizer,
        corpus_file,
        &HubEnv::from_env(),
    )
}

/// [`read_sessions`] with the Hub `hub`.
pub(crate) fn read_sessions_with(
    c: &WekaTraceReplayConfig,
    profile: &Path,
    base_seed: Option<u64>,
    tokenizer: &ModelTokenizer,
    corpus_file: Option<&str>,
    hub: &HubEnv,
) -> Result<ReplaySessions, TraceError> {
    let filter = match &c.filter {
        Some(f) => Some(RowFilter::parse(f).map_err(|e| err("data.weka_trace_replay.filter", e))?),
        None => None,
    };
    let traces = read_traces(c, profile, filter.as_ref(), hub)?;
    let text = corpus_text(corpus_file, profile)?;
    let tokens = tokenizer
        .encode(&format!("{BASE_PROMPT}{text}"))
        .map_err(|e| err(KEY, format!("the prompt corpus: {e}")))?;
    if tokens.is_empty() || tokens.len() > u32::MAX as usize {
        return Err(err(
            KEY,
            format!("the prompt corpus has {} tokens", tokens.len()),
        ));
    }
    let decode = |ids: &[u32]| tokenizer.decode(ids);
    let seed = base_seed.unwrap_or(42);
    let corpus = rebuild::Corpus {
        tokens: &tokens,
        decode: &decode,
        base_seed: seed,
    };
    let session = c.session_keys();
    let model = |recorded: &str| model_of(&session, recorded);
    let opts = graph::Options {
        model: &model,
        default_max_tokens: u32::try_from(c.default_max_tokens).unwrap_or(u32::MAX),
        tool_call_max_tokens: c.override_tool_call_max_tokens,
        force_tool_choice: c.tool_choice_mode == ToolChoiceMode::ForceRecorded,
    };
    let mut out = Traces::new(KEY, super::otel::TRACES_FEWER);
    for (i, t) in traces.iter().enumerate() {
        match graph_of(t, c, &corpus, &opts) {
            Ok(Some(g)) => out.push(Some(format!("wekatrace{i}_{}", t.id)), g, &t.id)?,
            Ok(None) => {}
            Err(e) if c.skip_invalid_files => {
                tracing::warn!("skipping Weka trace {:?}: {e}", t.id);
            }
            Err(e) => {
                return Err(err(
                    KEY,
                    format!("Failed to process Weka trace {:?}: {e} (skip_invalid_files: true skips such traces)", t.id),
                ))
            }
        }
    }
    if out.is_empty() {
        return Err(err(
            KEY,
            format!(
                "no replay sessions: {} traces read, none with a request",
                traces.len()
            ),
        ));
    }
    Ok(sessions_of(out, &session, Some(seed), base_seed, true))
}

/// One trace's graph (`None`: it has no request).
fn graph_of(
    t: &WekaTrace,
    c: &WekaTraceReplayConfig,
    corpus: &rebuild::Corpus<'_>,
    opts: &graph::Options<'_>,
) -> Result<Option<ReplayGraph>, String> {
    let calls = rebuild::raw_calls(
        t,
        c.default_block_size,
        c.trace_idle_gap_cap_seconds,
        corpus,
        MAX_REBUILT_BYTES,
    )?;
    if calls.is_empty() {
        return Ok(None);
    }
    if calls.len() > MAX_REPLAY_EVENTS {
        return Err(format!(
            "{} calls, more than the {MAX_REPLAY_EVENTS} a session may have",
            calls.len()
        ));
    }
    let events = graph::build_events(&calls, opts)?;
    Ok(Some(ReplayGraph {
        source: format!("weka_trace_{}", t.id),
        events,
    }))
}

/// The corpus text: `data.corpus_file_path`'s, else the bundled one.
fn corpus_text(corpus_file: Option<&str>, profile: &Path) -> Result<String, TraceError> {
    if let Some(f) = corpus_file {
        let path = resolve_data_path(f, profile);
        return read_bounded(&path, MAX_CORPUS_BYTES).map_err(|e| {
            err(
                "data.corpus_file_path",
                format!(
                    "Prompt corpus file not found or unreadable: {}: {e}",
                    path.display()
                ),
            )
        });
    }
    bundled_corpus(KEY)
}

/// inference-perf's bundled corpus, decompressed (`key`: the replay named in its error).
pub(crate) fn bundled_corpus(key: &'static str) -> Result<String, TraceError> {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(SHAKESPEARE_GZ), &mut text)
        .map_err(|e| err(key, format!("the bundled corpus: {e}")))?;
    Ok(text)
}

/// The traces of the one source `c` names, filtered, checked, ids unique.
fn read_traces(
    c: &WekaTraceReplayConfig,
    profile: &Path,
    filter: Option<&RowFilter>,
    hub: &HubEnv,
) -> Result<Vec<WekaTrace>, TraceError> {
    let mut traces: Vec<WekaTrace> = Vec::new();
    if let Some(v) = &c.hf_dataset_path {
        let id = dataset_id(v).map_err(|e| err("data.weka_trace_replay.hf_dataset_path", e))?;
        let path = hub.dataset_file(&id, "traces.jsonl").map_err(|e| {
            err(
                "data.weka_trace_replay.hf_dataset_path",
                format!("Failed to load Hugging Face dataset {id}: {e}; or give its traces with trace_directory or trace_files"),
            )
        })?;
        let limit = c.num_dataset_entries.max(0) as usize;
        let file =
            std::fs::File::open(&path).map_err(|e| err(KEY, format!("{}: {e}", path.display())))?;
        let mut reader = std::io::BufReader::new(file);
        let mut row = 0usize;
        while traces.len() < limit {
            let mut line = Vec::new();
            let n = std::io::Read::take(&mut reader, MAX_TRACE_FILE_BYTES + 1)
                .read_until(b'\n', &mut line)
                .map_err(|e| err(KEY, format!("{}: {e}", path.display())))?;
            if n == 0 {
                break;
            }
            let at = format!("{} row {row}", path.display());
            row += 1;
            if n as u64 > MAX_TRACE_FILE_BYTES {
                return Err(err(
                    KEY,
                    format!("{at}: longer than {} MiB", MAX_TRACE_FILE_BYTES >> 20),
                ));
            }
            let text = String::from_utf8_lossy(&line);
            if !text.trim().is_empty() {
                let blob =
                    serde_json::from_str::<Value>(&text).map_err(|e| format!("not JSON: {e}"));
                keep(&mut traces, blob, &at, c, filter)?;
            }
        }
    } else {
        for f in trace_files(c, profile)? {
            let blob = read_bounded(&f, MAX_TRACE_FILE_BYTES).and_then(|t| {
                serde_json::from_str::<Value>(&t).map_err(|e| format!("not JSON: {e}"))
            });
            keep(&mut traces, blob, &f.display().to_string(), c, filter)?;
        }
    }
    Ok(traces)
}

/// Adds the trace `blob` read at `at` to `traces` unless the filter drops it; one that is not a
/// trace is skipped with `skip_invalid_files`, else refused; a filter that fails and an id
/// seen before are always refused (as inference-perf raises them).
fn keep(
    traces: &mut Vec<WekaTrace>,
    blob: Result<Value, String>,
    at: &str,
    c: &WekaTraceReplayConfig,
    filter: Option<&RowFilter>,
) -> Result<(), TraceError> {
    let parsed = blob.and_then(|blob| {
        if let Some(f) = filter {
            match f.keep(&augmented(&blob)) {
                Ok(true) => {}
                Ok(false) => return Ok(None),
                Err(e) => return Err(format!("filter: {e}")),
            }
        }
        let t = serde_json::from_value::<WekaTrace>(blob).map_err(|e| e.to_string())?;
        t.check()?;
        Ok(Some(t))
    });
    match parsed {
        Ok(None) => {}
        Ok(Some(t)) => {
            if traces.iter().any(|o| o.id == t.id) {
                return Err(err(
                    KEY,
                    format!("{at}: Duplicate trace ID found: {}", t.id),
                ));
            }
            traces.push(t);
        }
        Err(e) if e.starts_with("filter: ") => {
            return Err(err(
                "data.weka_trace_replay.filter",
                format!(
                    "Filter expression failed on {at}: {}",
                    &e["filter: ".len()..]
                ),
            ))
        }
        Err(e) if c.skip_invalid_files => tracing::warn!("skipping {at}: {e}"),
        Err(e) => {
            return Err(err(
                KEY,
                format!("{at}: not a Weka trace: {e} (skip_invalid_files: true skips such traces)"),
            ))
        }
    }
    Ok(())
}

/// inference-perf's `_augment_for_filter`: the trace with `max_tokens` (the largest `in + out`
/// of one request, subagents' included), `total_tokens` and `num_turns`.
fn augmented(blob: &Value) -> Value {
    let mut flat: Vec<&Value> = Vec::new();
    for e in blob
        .get("requests")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if !e.is_object() {
            continue;
        }
        if e.get("type").and_then(Value::as_str) == Some("subagent") {
            let inner = e
                .get("requests")
                .and_then(Value::as_array)
                .into_iter()
                .flatten();
            flat.extend(inner.filter(|r| r.is_object()));
        } else {
            flat.push(e);
        }
    }
    let n = |r: &Value, k: &str| r.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    let tokens: Vec<f64> = flat.iter().map(|r| n(r, "in") + n(r, "out")).collect();
    let num = |x: f64| {
        if x.fract() == 0.0 && x.abs() < 9e15 {
            Value::from(x as i64)
        } else {
            Value::from(x)
        }
    };
    let mut out = blob.clone();
    if let Some(o) = out.as_object_mut() {
        o.insert(
            "max_tokens".into(),
            num(tokens.iter().copied().fold(0.0, f64::max)),
        );
        o.insert("total_tokens".into(), num(tokens.iter().sum()));
        o.insert("num_turns".into(), Value::from(flat.len()));
    }
    out
}

/// The files of `trace_directory` (its `*.json`, sorted) or `trace_files` (as given).
fn trace_files(c: &WekaTraceReplayConfig, profile: &Path) -> Result<Vec<PathBuf>, TraceError> {
    if let Some(dir) = &c.trace_directory {
        const DIR: &str = "data.weka_trace_replay.trace_directory";
        let d = resolve_data_path(dir, profile);
        let entries = std::fs::read_dir(&d).map_err(|e| {
            err(
                DIR,
                format!(
                    "Trace directory does not exist or is not a directory: {} ({e})",
                    d.display()
                ),
            )
        })?;
        let mut files: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json") && p.is_file())
            .take(MAX_TRACE_FILES + 1)
            .collect();
        if files.len() > MAX_TRACE_FILES {
            return Err(err(
                DIR,
                format!("{}: more than {MAX_TRACE_FILES} trace files", d.display()),
            ));
        }
        if files.is_empty() {
            return Err(err(DIR, format!("No JSON files found in {}", d.display())));
        }
        files.sort();
        return Ok(files);
    }
    let given = c.trace_files.as_deref().unwrap_or_default();
    if given.len() > MAX_TRACE_FILES {
        return Err(err(
            "data.weka_trace_replay.trace_files",
            format!("{} files, more than {MAX_TRACE_FILES}", given.len()),
        ));
    }
    given
        .iter()
        .map(|f| {
            let p = resolve_data_path(f, profile);
            if p.is_file() {
                Ok(p)
            } else {
                Err(err(
                    "data.weka_trace_replay.trace_files",
                    format!("Trace file does not exist: {f} (looked at {})", p.display()),
                ))
            }
        })
        .collect()
}
