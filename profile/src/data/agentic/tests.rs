//! Synthetic agentic sessions, sized with `tests/data/weka/tokenizer/`: the shape of a tool
//! loop, of follow-up rounds, of a fan-out and its rollback, of compaction; the sizes drawn; the
//! same sessions from the same seed.

use super::read_sessions;
use crate::data::tokenizer::ModelTokenizer;
use crate::model::Distribution;
use crate::synthetic_agentic::{SyntheticAgenticConfig, DEFAULT_THEMES};
use fleetbench_model::data::{message_text, ReplayEvent, ReplaySessions, SegmentKind};
use std::path::PathBuf;

fn tokenizer() -> ModelTokenizer {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/data/weka/tokenizer");
    ModelTokenizer::load(&dir.display().to_string()).unwrap()
}

/// The section `num_sessions: 1`, fixed sizes, `more`.
fn config(more: &str) -> SyntheticAgenticConfig<Distribution> {
    let yaml = format!(
        "{{num_sessions: 1, input_tokens_per_turn: {{type: fixed, mean: 120}}, \
         output_tokens_per_turn: {{type: fixed, mean: 40}}, shared_system_prompt_len: 200, {more}}}"
    );
    serde_norway::from_str(&yaml).unwrap()
}

fn read(more: &str) -> ReplaySessions {
    read_sessions(&config(more), None, &tokenizer()).unwrap()
}

/// A call's id, its predecessors' ids, its segments (kind, messages, source id) and messages.
type Shape = (String, Vec<String>, Vec<(SegmentKind, u32, String)>, usize);

fn shape(e: &ReplayEvent, all: &[ReplayEvent]) -> Shape {
    let id = |i: u32| all[i as usize].id.clone();
    let segs = (e.segments.iter())
        .map(|s| (s.kind, s.messages, s.source.map(id).unwrap_or_default()))
        .collect();
    (
        e.id.clone(),
        e.preds.iter().map(|&p| id(p)).collect(),
        segs,
        e.messages.len(),
    )
}

fn forced(e: &ReplayEvent) -> bool {
    e.tool_choice.as_ref().is_some_and(|c| c != "none")
}

#[test]
fn a_tool_loop_and_a_follow_up_round_have_inference_perfs_shape() {
    let s = read(
        "turns_per_session: {type: fixed, mean: 2}, tool_loop_depth: {type: fixed, mean: 2}, \
         tool_catalog_size_per_agent: {type: fixed, mean: 3}, parallel_tool_calls_per_step: {type: fixed, mean: 2}, \
         user_think_time_sec: {type: fixed, mean: 3}, tool_call_latency_sec: {type: fixed, mean: 1.5}",
    );
    assert_eq!(s.slots.len(), 1);
    assert_eq!(s.slots[0].id, "synthN0");
    let ev = &s.graphs[0].events;
    let got: Vec<_> = ev.iter().map(|e| shape(e, ev)).collect();
    use SegmentKind::*;
    let p = |k, n, src: &str| (k, n, src.to_string());
    // A call continuing call `prev`: prev's messages, its output, then `unique` new messages.
    let after = |id: &str, prev: &str, shared: u32, unique: u32, n: usize| -> Shape {
        let segs = vec![
            p(Shared, shared, prev),
            p(Output, 1, prev),
            p(Unique, unique, ""),
        ];
        (id.to_string(), vec![prev.to_string()], segs, n)
    };
    let want = vec![
        (
            "synthN0:r0:principal".to_string(),
            vec![],
            vec![p(Unique, 2, "")],
            2,
        ),
        after("synthN0:r0:t0", "synthN0:r0:principal", 2, 2, 5),
        // The last step: two results and the directive to answer.
        after("synthN0:r0:t1", "synthN0:r0:t0", 5, 3, 9),
        // The follow-up round: the transcript, the answer, the new user turn.
        after("synthN0:r1:principal", "synthN0:r0:t1", 9, 1, 11),
        after("synthN0:r1:t0", "synthN0:r1:principal", 11, 2, 14),
        after("synthN0:r1:t1", "synthN0:r1:t0", 14, 3, 18),
    ];
    assert_eq!(got, want);
    // Each turn's shared messages are its predecessor's, held once.
    assert!(std::sync::Arc::ptr_eq(
        &ev[1].messages[0],
        &ev[0].messages[0]
    ));
    // Under force_recorded (the default) a turn of two calls is "required", an answer "none".
    assert_eq!(ev[0].tool_choice.as_ref().unwrap(), "required");
    assert_eq!(ev[2].tool_choice.as_ref().unwrap(), "none");
    assert_eq!(ev[0].tools.as_ref().unwrap().as_array().unwrap().len(), 3);
    // Two parallel calls of the turn's tools, each answered by a tool result.
    let calls = ev[1].messages[2]["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(ev[1].messages[3]["tool_call_id"], calls[0]["id"]);
    assert_eq!(ev[1].messages[4]["tool_call_id"], calls[1]["id"]);
    // Waits: tool latency within an agent, think time before a follow-up, in whole seconds.
    let waits: Vec<u64> = ev.iter().map(|e| e.wait_ms).collect();
    assert_eq!(waits, [0, 1000, 1000, 3000, 1000, 1000]);
    // Sizes: the head and the user turn near their lengths, answers ask for theirs.
    let tok = tokenizer();
    let count = |i: usize| i64::from(tok.count(&message_text(&ev[0].messages[i])));
    assert!((count(0) - 200).abs() <= 3, "head {}", count(0));
    assert!((count(1) - 120).abs() <= 3, "turn {}", count(1));
    assert_eq!(ev[2].max_tokens, 40);
    assert_eq!(ev[5].max_tokens, 40);
    assert!(
        ev[0].max_tokens > 64 && ev[0].max_tokens < 400,
        "{}",
        ev[0].max_tokens
    );
    // The answer turns end with the directive, the follow-up carries the answer recorded.
    let last = ev[2].messages.last().unwrap();
    assert!(message_text(last).contains("no more tools will run"));
    assert_eq!(ev[3].messages[9]["content"], ev[2].expected_output.as_str());
}

#[test]
fn a_fan_out_dispatches_waits_and_takes_each_report_in_turn() {
    let s = read(
        "fanout_probability: 1, max_depth: 1, sub_agents_per_spawn: {type: fixed, mean: 2}, \
         tool_loop_depth: {type: fixed, mean: 1}, tool_choice_mode: force_recorded",
    );
    let ev = &s.graphs[0].events;
    let ids: Vec<&str> = ev.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "synthN0:r0:principal",
            "synthN0:r0:d0:spawn",
            "synthN0:r0:d1:sub0:principal",
            "synthN0:r0:d1:sub0:t0",
            "synthN0:r0:d1:sub1:principal",
            "synthN0:r0:d1:sub1:t0",
            "synthN0:r0:d0:dispatch_ack",
            "synthN0:r0:d0:notify0",
            "synthN0:r0:d0:notify1",
        ]
    );
    // The spawn answers the principal's call, then dispatches two sub-agents at once.
    assert_eq!(ev[1].tool_choice.as_ref().unwrap(), "required");
    let dispatch = ev[1].tools.as_ref().unwrap().as_array().unwrap();
    assert!(dispatch
        .iter()
        .any(|t| t["function"]["name"] == "dispatch_agent"));
    assert_eq!(ev[2].preds, [1]);
    assert_eq!(ev[2].messages[0]["role"], "system");
    // A single forced call names its function.
    assert_eq!(ev[0].tool_choice.as_ref().unwrap()["type"], "function");
    assert!(!forced(&ev[3]) && !forced(&ev[6]));
    // Each report waits for the previous call and its sub-agent; its text is that answer.
    assert_eq!(ev[7].preds, [3, 6]);
    assert_eq!(ev[8].preds, [5, 7]);
    let report = &ev[7].segments[1];
    assert_eq!(
        (report.kind, report.source),
        (SegmentKind::AsyncReport, Some(3))
    );
    let text = message_text(ev[7].messages.last().unwrap());
    assert!(text.starts_with("<task-notification>") && text.contains(&ev[3].expected_output));
    assert_eq!(ev[7].max_tokens, 48, "an acknowledgement");
    assert_eq!(ev[8].max_tokens, 40, "the answer");
    assert_eq!(ev[8].segments.last().unwrap().kind, SegmentKind::Unique);
}

#[test]
fn a_spawn_that_does_not_fit_is_rolled_back_whole() {
    let s = read(
        "fanout_probability: 1, max_depth: 1, sub_agents_per_spawn: {type: fixed, mean: 3}, \
         tool_loop_depth: {type: fixed, mean: 2}, max_events_per_session: 5",
    );
    let ev = &s.graphs[0].events;
    let ids: Vec<&str> = ev.iter().map(|e| e.id.as_str()).collect();
    // The loop ran one step (a spawner's last step is its spawn); the spawn needs 1 + 3 + 4.
    assert_eq!(ids, ["synthN0:r0:principal", "synthN0:r0:t0"]);
    assert!(
        ev[1].expected_output.starts_with("Summary:"),
        "the cut loop answers"
    );
}

#[test]
fn compaction_starts_a_round_from_a_summary() {
    let s = read(
        "turns_per_session: {type: fixed, mean: 2}, tool_loop_depth: {type: fixed, mean: 1}, \
         context_compaction: {trigger_tokens: {type: fixed, mean: 100}, target_tokens: {type: fixed, mean: 30}}",
    );
    let ev = &s.graphs[0].events;
    let r1 = ev
        .iter()
        .position(|e| e.id == "synthN0:r1:principal")
        .unwrap();
    let e = &ev[r1];
    assert_eq!(e.preds, [(r1 - 1) as u32]);
    assert_eq!(e.segments.len(), 1, "no shared history");
    assert_eq!(e.messages.len(), 2);
    assert!(message_text(&e.messages[1]).starts_with("Summary of the work so far:"));
}

#[test]
fn the_seed_alone_decides_the_sessions() {
    let more = "num_sessions: 3, turns_per_session: {type: uniform, min: 1, max: 3}, fanout_probability: 0.5, seed: 9";
    let more = more.replace("num_sessions: 3, ", "");
    let mut c = config(&more);
    c.num_sessions = 3;
    let a = read_sessions(&c, None, &tokenizer()).unwrap();
    let b = read_sessions(&c, Some(5), &tokenizer()).unwrap();
    assert_eq!(a.graphs, b.graphs);
    c.seed = 10;
    let other = read_sessions(&c, None, &tokenizer()).unwrap();
    assert_ne!(a.graphs, other.graphs);
    let ids: Vec<&str> = a.slots.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["synthN0", "synthN1", "synthN2"]);
}

#[test]
fn themes_are_inference_perfs_names_and_others_are_refused() {
    for name in DEFAULT_THEMES {
        let s = read(&format!("theme_mix: {{{name}: 1}}"));
        assert_eq!(s.graphs.len(), 1, "{name}");
    }
    let e = read_sessions(&config("theme_mix: {ops: 1}"), None, &tokenizer()).unwrap_err();
    assert_eq!(e.key, "data.synthetic_agentic.theme_mix");
    assert!(
        e.message.contains("Unknown synthetic theme \"ops\""),
        "{}",
        e.message
    );
    let e =
        read_sessions(&config("max_events_per_session: 20000"), None, &tokenizer()).unwrap_err();
    assert!(e.message.contains("more than the 10000"), "{}", e.message);
}

#[test]
fn sessions_past_what_a_shard_spec_carries_are_refused_naming_the_keys() {
    // One call per session, with a head of 30,000 tokens.
    let mut c = config("tool_loop_depth: {type: fixed, mean: 0}");
    c.shared_system_prompt_len = 30_000;
    c.num_sessions = 1_000_000;
    let e = read_sessions(&c, None, &tokenizer()).unwrap_err();
    assert_eq!(e.key, "data.synthetic_agentic");
    assert!(
        e.message.contains("32 MiB")
            && e.message.contains("generate fewer sessions (num_sessions)"),
        "{}",
        e.message
    );
}
