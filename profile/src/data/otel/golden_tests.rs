//! The graph builder against inference-perf's own (`scripts/ip_otel_graphs.py`): for each trace
//! of `tests/data/otel/` the predecessors, waits, input segments and `max_tokens` of every call
//! equal what inference-perf 0.7.0 built (`inference_perf_graphs.golden`). Other traces are
//! compared by pointing `FLEETBENCH_OTEL_GOLDEN` at such a file written for them (the traces
//! beside it).

use super::graph::{build_events, Options};
use super::spans::build_raw_calls;
use fleetbench_model::data::SegmentKind;
use serde_json::{json, Value};
use std::path::PathBuf;

fn golden() -> PathBuf {
    std::env::var_os("FLEETBENCH_OTEL_GOLDEN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../tests/data/otel/inference_perf_graphs.golden")
        })
}

#[test]
fn graphs_equal_inference_perfs() {
    let path = golden();
    let want: serde_json::Map<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
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
            },
        )
        .unwrap();
        let got: Vec<Value> = events
            .iter()
            .map(|e| {
                json!({
                    "preds": e.preds,
                    "wait_ms": e.wait_ms,
                    "segments": e.segments.iter().map(|s| json!([
                        match s.kind {
                            SegmentKind::Shared => "shared",
                            SegmentKind::Output => "output",
                            SegmentKind::Unique => "unique",
                        },
                        s.messages, s.tokens, s.source,
                    ])).collect::<Vec<_>>(),
                    "max_tokens": e.max_tokens,
                })
            })
            .collect();
        assert_eq!(&Value::Array(got), calls_want, "{name}");
    }
}
