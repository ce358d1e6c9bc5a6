//! The graph builder against inference-perf's own (`scripts/ip_otel_graphs.py`): for each trace
//! of `tests/data/otel/` and `tests/data/otel-tools/` the predecessors, waits, input segments of every call, and the
//! `max_tokens`, `tools`, `tool_choice` and `ignore_eos` its request carries, equal what
//! inference-perf 0.7.0 built (`inference_perf_graphs.golden`). Other traces are
//! compared by pointing `FLEETBENCH_OTEL_GOLDEN` at such a file written for them (the traces
//! beside it).

use super::graph::{build_events, Options};
use super::spans::build_raw_calls;
use fleetbench_model::data::{Segment, SegmentKind};
use serde_json::{json, Value};
use std::path::PathBuf;

/// The golden files: `tests/data/otel/` (the traces other tests read too) and
/// `tests/data/otel-tools/` (calls with tools: their `tools` and `tool_choice`).
fn goldens() -> Vec<PathBuf> {
    match std::env::var_os("FLEETBENCH_OTEL_GOLDEN") {
        Some(p) => vec![PathBuf::from(p)],
        None => ["otel", "otel-tools"]
            .iter()
            .map(|d| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join(format!("../tests/data/{d}/inference_perf_graphs.golden"))
            })
            .collect(),
    }
}

/// Segments as the golden files write them: `[type, messages, tokens, source index]` each.
pub(crate) fn compact_segments(segments: &[Segment]) -> Value {
    let kind = |k: SegmentKind| match k {
        SegmentKind::Shared => "shared",
        SegmentKind::Output => "output",
        SegmentKind::Unique => "unique",
        SegmentKind::AsyncReport => "async_report",
    };
    (segments.iter())
        .map(|s| json!([kind(s.kind), s.messages, s.tokens, s.source]))
        .collect()
}

#[test]
fn graphs_equal_inference_perfs() {
    for path in goldens() {
        graphs_equal(&path);
    }
}

fn graphs_equal(path: &std::path::Path) {
    let want: serde_json::Map<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(!want.is_empty());
    let none = |_: &str| -> Option<String> { None };
    for (name, calls_want) in &want {
        let trace: Value = serde_json::from_str(
            &std::fs::read_to_string(path.parent().unwrap().join(name)).unwrap(),
        )
        .unwrap();
        let calls = build_raw_calls(trace["spans"].as_array().unwrap(), true).unwrap();
        let events = build_events(
            &calls,
            &Options {
                model: &none,
                default_max_tokens: 1000,
                tool_call_max_tokens: true,
                force_tool_choice: true,
            },
        )
        .unwrap();
        let got: Vec<Value> = events
            .iter()
            .map(|e| {
                json!({
                    "preds": e.preds,
                    "wait_ms": e.wait_ms,
                    "segments": compact_segments(&e.segments),
                    "max_tokens": e.max_tokens,
                    "tools": e.tools,
                    "tool_choice": e.tool_choice,
                    "stops_at_eos": e.tools.is_some(),
                })
            })
            .collect();
        let mut calls_want = calls_want.clone();
        for c in calls_want.as_array_mut().into_iter().flatten() {
            // A null description or parameters is left out rather than sent (`tools.rs`).
            for t in c["tools"].as_array_mut().into_iter().flatten() {
                if let Some(f) = t["function"].as_object_mut() {
                    f.retain(|_, v| !v.is_null());
                }
            }
        }
        assert_eq!(Value::Array(got), calls_want, "{name}");
    }
}
