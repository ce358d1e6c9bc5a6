//! `hf_dataset_path`: OTel traces from a Hugging Face dataset, one row a trace, as
//! inference-perf's `_download_hf_dataset` loads them (`load_dataset(path, split=...,
//! revision=...)`) and its generator reads each row: the dataset must have rows and a `spans`
//! field; a row's session is its `session_id` (else `session_<slot>`), its source its
//! `source_id` (else the session); a row without spans or LLM calls is skipped with a warning.
//! The rows then take the same way as trace files (`super::trace::trace_graph`).

use super::filter::RowFilter;
use super::trace::{err, trace_graph, TraceError, Traces};
use crate::data::dataset_rows::for_each_row;
use crate::data::hub::HubEnv;
use crate::data::hub_dataset::DatasetRef;
use crate::otel::OtelTraceReplayConfig;
use serde_json::Value;
use std::ops::ControlFlow;

const KEY: &str = "data.otel_trace_replay.hf_dataset_path";

/// The most rows a dataset may have.
pub(crate) const MAX_ROWS: usize = 1_000_000;

/// Reads the dataset `v` names into `traces`.
pub(super) fn read(
    v: &serde_norway::Value,
    c: &OtelTraceReplayConfig,
    filter: Option<&RowFilter>,
    hub: &HubEnv,
    traces: &mut Traces,
) -> Result<(), TraceError> {
    let r = DatasetRef::parse(v).map_err(|e| err(KEY, e.to_string()))?;
    if v.get("filter").is_some() {
        tracing::warn!(
            "'filter' in hf_dataset_path dict is ignored; use the top-level 'filter' field instead"
        );
    }
    let (files, format) = hub.dataset_split(&r).map_err(|e| err(KEY, e))?;
    let mut rows = 0usize;
    let mut with_spans = false;
    for f in &files {
        let mut each = |row: Value| -> Result<ControlFlow<()>, String> {
            if rows >= MAX_ROWS {
                return Err(format!("more than {MAX_ROWS} rows"));
            }
            rows += 1;
            with_spans |= row.get("spans").is_some();
            let at = format!("dataset {} {} row {}", r.id, f.display(), rows - 1);
            // inference-perf filters the dataset's rows as they are, before reading any.
            if let Some(filter) = filter {
                let keep = filter
                    .keep(&row)
                    .map_err(|e| format!("row {}: filter: {e}", rows - 1))?;
                if !keep {
                    return Ok(ControlFlow::Continue(()));
                }
            }
            read_row(row, c, traces, &at)
                .map(ControlFlow::Continue)
                .map_err(|e| format!("row {}: {}", rows - 1, e.message))
        };
        for_each_row(f, format, &mut each)
            .map_err(|e| err(KEY, format!("dataset {}: {}: {e}", r.id, f.display())))?;
    }
    if rows == 0 {
        return Err(err(
            KEY,
            format!("No data found in HuggingFace dataset '{}'", r.id),
        ));
    }
    if !with_spans {
        return Err(err(
            KEY,
            format!("Dataset '{}' is missing the required 'spans' field.", r.id),
        ));
    }
    if traces.is_empty() {
        return Err(err(
            KEY,
            format!(
                "No valid replay sessions found in the {rows} rows of dataset {}",
                r.id
            ),
        ));
    }
    Ok(())
}

/// One row: its graph into `traces`, or skipped (no spans, no LLM calls; an invalid one with
/// `skip_invalid_files`).
fn read_row(
    row: Value,
    c: &OtelTraceReplayConfig,
    traces: &mut Traces,
    at: &str,
) -> Result<(), TraceError> {
    let text = |k: &str| {
        row.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let id = text("session_id");
    let source = text("source_id").unwrap_or_default();
    let spans = match row.get("spans") {
        Some(Value::Array(s)) if !s.is_empty() => s,
        Some(Value::Array(_) | Value::Null) | None => {
            tracing::warn!("{at}: no spans, skipped (as inference-perf does)");
            return Ok(());
        }
        Some(_) => {
            return invalid(c, at, "`spans` is not a list".into());
        }
    };
    match trace_graph(spans, source, c) {
        Ok(Some(graph)) => traces.push(id, graph, at),
        Ok(None) => {
            tracing::warn!("{at}: no LLM calls, skipped (as inference-perf does)");
            Ok(())
        }
        Err(e) => invalid(c, at, e),
    }
}

/// A row that cannot be replayed: skipped with `skip_invalid_files`, else the error (the
/// caller names the row).
fn invalid(c: &OtelTraceReplayConfig, at: &str, e: String) -> Result<(), TraceError> {
    if c.skip_invalid_files {
        tracing::warn!("skipping {at}: {e}");
        return Ok(());
    }
    Err(err(
        KEY,
        format!("{e} (skip_invalid_files: true skips such traces)"),
    ))
}
