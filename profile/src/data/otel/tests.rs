//! The graph builder on small traces: a chain, a fan-out, a fan-in, parallel calls, tool calls,
//! the segments of a growing conversation, and the span filters.

use super::graph::{build_events, Options};
use super::spans::{build_raw_calls, parse_iso};
use fleetbench_model::data::{ReplayEvent, SegmentKind};
use serde_json::{json, Value};

/// A chat span from `start` to `end` seconds, with its input messages and output text.
fn span(id: &str, start: f64, end: f64, input: Value, output: &str) -> Value {
    let t = |s: f64| format!("2026-02-25T10:00:{:09.6}Z", s);
    json!({
        "span_id": id, "trace_id": "t", "name": "chat gpt-4",
        "start_time": t(start), "end_time": t(end),
        "attributes": {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4",
            "gen_ai.input.messages": input.to_string(),
            "gen_ai.output.text": output,
        },
        "status": {"code": 1}
    })
}

fn user(text: &str) -> Value {
    json!([{"role": "user", "content": text}])
}

fn build(spans: &[Value]) -> Vec<ReplayEvent> {
    let calls = build_raw_calls(spans, true).unwrap();
    let none = |_: &str| -> Option<String> { None };
    build_events(
        &calls,
        &Options {
            model: &none,
            default_max_tokens: 1000,
            tool_call_max_tokens: true,
            force_tool_choice: true,
        },
    )
    .unwrap()
}

fn preds(events: &[ReplayEvent]) -> Vec<Vec<u32>> {
    events.iter().map(|e| e.preds.clone()).collect()
}

#[test]
fn a_chain_carries_each_answer_into_the_next_call() {
    let events = build(&[
        span("s1", 0.0, 1.0, user("q1"), "a1"),
        span(
            "s2",
            1.5,
            2.0,
            json!([{"role": "user", "content": "q1"}, {"role": "assistant", "content": "a1"}, {"role": "user", "content": "q2"}]),
            "a2",
        ),
        span(
            "s3",
            3.0,
            4.0,
            json!([{"role": "user", "content": "q1"}, {"role": "assistant", "content": "a1"}, {"role": "user", "content": "q2"}, {"role": "assistant", "content": "a2"}, {"role": "user", "content": "q3"}]),
            "a3",
        ),
    ]);
    assert_eq!(preds(&events), vec![vec![], vec![0], vec![1]]);
    assert_eq!(events[1].wait_ms, 500);
    assert_eq!(events[2].wait_ms, 1000);
    assert_eq!(events[0].id, "event_000_s1");
    // Call 3: shares its first three messages with call 2, then carries call 2's output.
    let kinds: Vec<(SegmentKind, u32, Option<u32>)> = events[2]
        .segments
        .iter()
        .map(|s| (s.kind, s.messages, s.source))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (SegmentKind::Shared, 3, Some(1)),
            (SegmentKind::Output, 1, Some(1)),
            (SegmentKind::Unique, 1, None)
        ]
    );
}

#[test]
fn a_fan_out_then_fan_in_waits_for_both_branches() {
    let events = build(&[
        span("a", 0.0, 1.0, user("plan"), "step one and step two"),
        span(
            "b",
            1.1,
            2.0,
            json!([{"role": "assistant", "content": "step one and step two"}, {"role": "user", "content": "do one"}]),
            "one done",
        ),
        span(
            "c",
            1.2,
            3.0,
            json!([{"role": "assistant", "content": "step one and step two"}, {"role": "user", "content": "do two"}]),
            "two done",
        ),
        span(
            "d",
            3.5,
            4.0,
            json!([{"role": "assistant", "content": "one done"}, {"role": "assistant", "content": "two done"}, {"role": "user", "content": "merge"}]),
            "merged",
        ),
    ]);
    // b and c both carry a's output (causal); d carries b's and c's; a is not repeated on d
    // (a causal ancestor of both).
    assert_eq!(preds(&events), vec![vec![], vec![0], vec![0], vec![1, 2]]);
    assert_eq!(events[3].wait_ms, 500, "from the later branch's end");
    assert_eq!(
        events[3]
            .segments
            .iter()
            .filter(|s| s.kind == SegmentKind::Output)
            .count(),
        2
    );
}

#[test]
fn parallel_independent_calls_are_roots_and_a_later_one_follows_the_closest_ended() {
    let events = build(&[
        span("p1", 0.0, 2.0, user("x"), "rx"),
        span("p2", 0.5, 2.5, user("y"), "ry"),
        span("p3", 1.0, 1.5, user("z"), "rz"),
        span("n", 3.0, 3.5, user("w"), "rw"),
    ]);
    // p1, p2, p3 overlap: all roots. n: no causal edge; the temporal edge goes to the closest
    // earlier call that ended before it started (p3, the latest in start order).
    assert_eq!(preds(&events), vec![vec![], vec![], vec![], vec![2]]);
    assert_eq!(events[3].wait_ms, 1500);
}

#[test]
fn a_tool_call_output_links_by_its_ids_and_is_sent_structured() {
    let out = json!([{"role": "assistant", "parts": [{"type": "tool_call", "id": "call_1", "name": "get", "arguments": {"city": "Paris"}}]}]);
    let mut a = span("a", 0.0, 1.0, user("weather?"), "");
    let attrs = a["attributes"].as_object_mut().unwrap();
    attrs.remove("gen_ai.output.text");
    attrs.insert(
        "gen_ai.output.messages".into(),
        Value::String(out.to_string()),
    );
    attrs.insert("gen_ai.usage.completion_tokens".into(), json!(7));
    let b_in = json!([
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get", "arguments": "{\"city\": \"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}
    ]);
    let events = build(&[a, span("b", 2.0, 3.0, b_in, "It is sunny")]);
    assert_eq!(preds(&events), vec![vec![], vec![0]]);
    assert_eq!(events[0].max_tokens, 7);
    assert_eq!(
        events[0].expected_output,
        "<|tool_call|>get<|tool_args|>{\"city\": \"Paris\"}<|end|>"
    );
    let m = &events[1].messages;
    assert_eq!(
        m[1]["tool_calls"][0]["function"]["arguments"],
        "{\"city\": \"Paris\"}"
    );
    assert_eq!(
        *m[2],
        json!({"role": "tool", "tool_call_id": "call_1", "content": "sunny"})
    );
}

#[test]
fn error_spans_duplicates_and_non_llm_spans_are_filtered() {
    let mut err = span("e", 0.5, 0.7, user("bad"), "x");
    err["status"]["code"] = json!(2);
    let mut tool = span("t", 0.1, 0.2, user("noop"), "y");
    tool["name"] = json!("execute_tool");
    tool["attributes"]["gen_ai.operation.name"] = json!("execute_tool");
    let a = span("a", 0.0, 1.0, user("q"), "r");
    let mut dup = a.clone();
    dup["span_id"] = json!("a2");
    let spans = [a, dup, err, tool];
    assert_eq!(build_raw_calls(&spans, false).unwrap().len(), 1);
    assert_eq!(build_raw_calls(&spans, true).unwrap().len(), 2);
}

#[test]
fn iso_times_with_and_without_zones() {
    let z = parse_iso("2026-02-25T10:00:00Z").unwrap();
    assert_eq!(parse_iso("2026-02-25T10:00:00.000000").unwrap(), z);
    assert_eq!(parse_iso("2026-02-25T12:00:00+02:00").unwrap(), z);
    assert_eq!(parse_iso("1970-01-02T00:00:00Z").unwrap(), 86_400.0);
    assert!((parse_iso("2026-02-25T10:00:01.25Z").unwrap() - z - 1.25).abs() < 1e-6);
    assert!(parse_iso("yesterday").is_none());
}
