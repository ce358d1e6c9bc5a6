//! The Weka replay against inference-perf's own (`scripts/ip_weka_sessions.py`): the sessions
//! of `tests/data/weka/traces/` rebuilt with `tests/data/weka/tokenizer/` and the bundled
//! corpus equal, byte for byte, what inference-perf 0.7.0 built (`inference_perf_sessions.golden`):
//! session order and ids, every call's messages, predecessors, waits, segments, max_tokens and
//! expected output. Then the sources, the filter, the bounds and the errors.

use super::{read_sessions_with, WekaTraceReplayConfig};
use crate::data::hub::HubEnv;
use crate::data::otel::golden_tests::compact_segments;
use crate::data::tokenizer::ModelTokenizer;
use fleetbench_model::data::ReplaySessions;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/data/weka")
}

fn tokenizer() -> ModelTokenizer {
    ModelTokenizer::load(&data().join("tokenizer").display().to_string()).unwrap()
}

fn config(yaml: &str) -> WekaTraceReplayConfig {
    serde_norway::from_str(yaml).unwrap()
}

fn offline() -> HubEnv {
    HubEnv {
        cache: std::env::temp_dir().join("fleetbench-weka-no-cache"),
        endpoint: "http://127.0.0.1:9".into(),
        token: None,
        offline: true,
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fleetbench-weka-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn read(c: &WekaTraceReplayConfig, corpus: Option<&str>) -> Result<ReplaySessions, String> {
    read_sessions_with(
        c,
        Path::new("p.yaml"),
        None,
        &tokenizer(),
        corpus,
        &offline(),
    )
    .map_err(|e| format!("{}: {}", e.key, e.message))
}

/// A trace of `requests` (JSON) with id `id`.
fn trace(id: &str, requests: &str) -> String {
    format!(r#"{{"id": "{id}", "models": ["x"], "block_size": 4, "requests": [{requests}]}}"#)
}

fn turn(t: f64, input: u32, out: u32, ids: &str) -> String {
    format!(
        r#"{{"t": {t}, "type": "n", "model": "x", "in": {input}, "out": {out}, "hash_ids": [{ids}], "api_time": 0.5}}"#
    )
}

#[test]
fn sessions_equal_inference_perfs() {
    let dir = data().join("traces");
    let c = config(&format!(
        "{{trace_directory: {}, trace_idle_gap_cap_seconds: 5.0, use_static_model: true, static_model_name: m}}",
        dir.display()
    ));
    let got = read(&c, None).unwrap();
    let want: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(data().join("inference_perf_sessions.golden")).unwrap(),
    )
    .unwrap();
    assert_eq!(got.slots.len(), want.len());
    for (slot, w) in got.slots.iter().zip(&want) {
        assert_eq!(slot.id, w["session"].as_str().unwrap());
        let g = &got.graphs[slot.graph as usize];
        assert_eq!(g.source, w["source"].as_str().unwrap());
        let events: Vec<Value> = (g.events.iter())
            .map(|e| {
                json!({
                    "id": e.id,
                    "model": e.model,
                    "preds": e.preds,
                    "wait_ms": e.wait_ms,
                    "messages": e.messages.iter().map(|m| json!([m["role"], m["content"]])).collect::<Vec<_>>(),
                    "segments": compact_segments(&e.segments),
                    "max_tokens": e.max_tokens,
                    "expected_output": e.expected_output,
                })
            })
            .collect();
        let mut want_events = w["events"].as_array().unwrap().clone();
        for e in &mut want_events {
            // A recorded 0 asks for default_max_tokens (1000), as the OTel replay's does.
            if e["max_tokens"] == 0 {
                e["max_tokens"] = json!(1000);
            }
        }
        assert_eq!(events.len(), want_events.len(), "{}", slot.id);
        for (g, w) in events.iter().zip(&want_events) {
            assert_eq!(g, w, "{} {}", slot.id, w["id"]);
        }
    }
}

#[test]
fn equal_block_ids_give_equal_text_and_a_rewind_keeps_the_common_prefix() {
    let dir = scratch("rewind");
    std::fs::write(
        dir.join("t.json"),
        trace(
            "t",
            &[turn(0.0, 12, 4, "1, 2, 3"), turn(1.0, 16, 4, "1, 2, 9, 10")].join(","),
        ),
    )
    .unwrap();
    // Hash ids as 64-bit hashes (past i64) are read as the Python ints they are.
    std::fs::write(
        dir.join("u.json"),
        trace(
            "u",
            &turn(0.0, 8, 4, "18446744073709551615, 12345678901234567890"),
        ),
    )
    .unwrap();
    let c = config(&format!("{{trace_directory: {}}}", dir.display()));
    let s = read(&c, None).unwrap();
    assert_eq!(s.graphs.len(), 2);
    let g = s
        .graphs
        .iter()
        .position(|g| g.source == "weka_trace_t")
        .unwrap();
    let ev = &s.graphs[g].events;
    assert_eq!(ev.len(), 2);
    let text = |i: usize, m: usize| ev[i].messages[m]["content"].as_str().unwrap().to_string();
    // Turn 1 keeps blocks 1, 2 (the common prefix), then block 9 as the answer, 10 as the user's.
    assert_eq!(ev[1].messages.len(), 3);
    let tok = tokenizer();
    assert_eq!(tok.count(&text(0, 0)), 12, "{:?}", text(0, 0));
    assert!(
        text(0, 0).starts_with(&text(1, 0)),
        "{:?} / {:?}",
        text(0, 0),
        text(1, 0)
    );
    assert_eq!(ev[1].messages[1]["role"], "assistant");
    assert_eq!(text(1, 1), ev[0].expected_output);
    assert_eq!(ev[1].preds, vec![0]);
}

#[test]
fn a_corpus_file_gives_the_text() {
    let dir = scratch("corpus");
    std::fs::write(dir.join("t.json"), trace("t", &turn(0.0, 8, 4, "1, 2"))).unwrap();
    let corpus = dir.join("corpus.txt");
    std::fs::write(&corpus, "alpha beta gamma delta ".repeat(200)).unwrap();
    let c = config(&format!("{{trace_directory: {}}}", dir.display()));
    let s = read(&c, Some(&corpus.display().to_string())).unwrap();
    let prompt = s.graphs[0].events[0].messages[0]["content"]
        .as_str()
        .unwrap();
    // Cut from the file's text (after inference-perf's line), not from the bundled corpus.
    let alphabet = format!("{}alpha beta gamma delta", super::BASE_PROMPT);
    assert!(prompt.chars().all(|ch| alphabet.contains(ch)), "{prompt:?}");
    let bundled = read(&c, None).unwrap();
    assert_ne!(
        bundled.graphs[0].events[0].messages,
        s.graphs[0].events[0].messages
    );
    let err = read(&c, Some("/nonexistent/corpus.txt")).unwrap_err();
    assert!(
        err.starts_with("data.corpus_file_path: ") && err.contains("/nonexistent/corpus.txt"),
        "{err}"
    );
}

#[test]
fn sources_filter_and_errors() {
    let dir = scratch("sources");
    std::fs::write(dir.join("a.json"), trace("a", &turn(0.0, 8, 4, "1, 2"))).unwrap();
    std::fs::write(
        dir.join("b.json"),
        trace(
            "b",
            &[turn(0.0, 8, 4, "1, 2"), turn(1.0, 40, 4, "1, 2, 3")].join(","),
        ),
    )
    .unwrap();
    std::fs::write(dir.join("bad.json"), r#"{"id": "c", "requests": []}"#).unwrap();
    let dir_s = dir.display();
    // A file that is not a trace: refused naming it, skipped with skip_invalid_files.
    let err = read(&config(&format!("{{trace_directory: {dir_s}}}")), None).unwrap_err();
    assert!(
        err.contains("bad.json") && err.contains("skip_invalid_files"),
        "{err}"
    );
    let c = config(&format!(
        "{{trace_directory: {dir_s}, skip_invalid_files: true}}"
    ));
    let s = read(&c, None).unwrap();
    assert_eq!(s.slots.len(), 2);
    assert!(
        s.slots.iter().all(|s| s.id.starts_with("wekatrace")),
        "{:?}",
        s.slots
    );
    // The filter sees the derived aggregates.
    let c = config(&format!(
        "{{trace_directory: {dir_s}, skip_invalid_files: true, filter: \"lambda x: x['max_tokens'] > 20\"}}"
    ));
    let s = read(&c, None).unwrap();
    assert_eq!(s.slots.len(), 1);
    assert_eq!(s.slots[0].id, "wekatrace0_b");
    // Duplicate ids are refused even with skip_invalid_files.
    std::fs::write(dir.join("d.json"), trace("a", &turn(0.0, 8, 4, "5"))).unwrap();
    let err = read(
        &config(&format!(
            "{{trace_directory: {dir_s}, skip_invalid_files: true}}"
        )),
        None,
    )
    .unwrap_err();
    assert!(err.contains("Duplicate trace ID found: a"), "{err}");
    // Files named, one missing; a directory without traces.
    let err = read(&config("{trace_files: [/nonexistent/t.json]}"), None).unwrap_err();
    assert!(
        err.contains("trace_files") && err.contains("Trace file does not exist"),
        "{err}"
    );
    let empty = scratch("empty");
    let err = read(
        &config(&format!("{{trace_directory: {}}}", empty.display())),
        None,
    )
    .unwrap_err();
    assert!(err.contains("No JSON files found"), "{err}");
    // Counts out of bounds are refused, naming the field.
    std::fs::write(
        empty.join("t.json"),
        trace("t", &turn(0.0, 99_000_000, 4, "1")),
    )
    .unwrap();
    let err = read(
        &config(&format!("{{trace_directory: {}}}", empty.display())),
        None,
    )
    .unwrap_err();
    assert!(err.contains("requests[0].in is 99000000"), "{err}");
}

/// A trace of `turns` turns whose turn k carries k blocks of `bs` tokens (its whole history).
fn growing(turns: u32, bs: u32) -> String {
    let turns: Vec<String> = (1..=turns)
        .map(|k| {
            let ids: Vec<String> = (0..k).map(|i| i.to_string()).collect();
            format!(
                r#"{{"t": {k}, "type": "n", "model": "x", "in": {}, "out": {bs}, "hash_ids": [{}]}}"#,
                k * bs,
                ids.join(",")
            )
        })
        .collect();
    format!(
        r#"{{"id": "big", "models": ["x"], "block_size": {bs}, "requests": [{}]}}"#,
        turns.join(",")
    )
}

#[test]
fn prompts_past_the_budget_are_refused_before_they_grow() {
    let t: super::trace::WekaTrace = serde_json::from_str(&growing(300, 256)).unwrap();
    let tok = tokenizer();
    let tokens = tok.encode(&"alpha beta gamma ".repeat(2000)).unwrap();
    let decode = |ids: &[u32]| tok.decode(ids);
    let corpus = super::rebuild::Corpus {
        tokens: &tokens,
        decode: &decode,
        base_seed: 42,
    };
    // 300 turns adding a block of 256 tokens each: the history sent grows to about 13 million
    // tokens in all, but the text rebuilt (each message once) stays under 1 MiB; a bound of
    // 64 KiB is passed, and the trace is refused naming it.
    assert!(super::rebuild::raw_calls(&t, 64, 60.0, &corpus, 1 << 20).is_ok());
    let err = super::rebuild::raw_calls(&t, 64, 60.0, &corpus, 64 << 10).unwrap_err();
    assert!(
        err.contains("passes 65536 bytes") && err.contains("\"big\""),
        "{err}"
    );
}

#[test]
fn a_long_history_travels_and_is_held_once() {
    let dir = scratch("history");
    std::fs::write(dir.join("t.json"), growing(200, 64)).unwrap();
    let s = read(
        &config(&format!("{{trace_directory: {}}}", dir.display())),
        None,
    )
    .unwrap();
    let g = &s.graphs[0];
    assert_eq!(g.events.len(), 200);
    // Sent in full, the calls' messages are ~200 times the last call's; on the wire, each
    // call names its predecessor's messages and carries only its new ones.
    let sent: usize = (g.events.iter())
        .map(|e| {
            e.messages
                .iter()
                .map(|m| m.to_string().len())
                .sum::<usize>()
        })
        .sum();
    let last: usize = g.events[199]
        .messages
        .iter()
        .map(|m| m.to_string().len())
        .sum();
    let wire = serde_json::to_vec(g).unwrap().len();
    assert!(sent > 50 * last, "{sent} {last}");
    assert!(
        wire < 5 * last,
        "{wire} bytes on the wire for {last} bytes of history"
    );
    let back: fleetbench_model::data::ReplayGraph =
        serde_json::from_slice(&serde_json::to_vec(g).unwrap()).unwrap();
    assert_eq!(&back, g);
    assert!(std::sync::Arc::ptr_eq(
        &back.events[199].messages[0],
        &back.events[1].messages[0]
    ));
}

#[test]
fn a_hub_dataset_gives_its_traces_jsonl_up_to_num_dataset_entries() {
    let cache = scratch("hub");
    let snap = cache.join("datasets--org--weka/snapshots/abc");
    std::fs::create_dir_all(&snap).unwrap();
    let lines: Vec<String> = (0..5)
        .map(|i| trace(&format!("t{i}"), &turn(0.0, 8, 4, "1, 2")))
        .collect();
    std::fs::write(snap.join("traces.jsonl"), lines.join("\n") + "\n\n").unwrap();
    let hub = HubEnv { cache, ..offline() };
    let c = config("{hf_dataset_path: {path: org/weka, split: train}, num_dataset_entries: 3}");
    let s = read_sessions_with(&c, Path::new("p.yaml"), Some(7), &tokenizer(), None, &hub).unwrap();
    assert_eq!(s.slots.len(), 3);
    let mut ids: Vec<&str> = s.slots.iter().map(|s| s.id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["wekatrace0_t0", "wekatrace1_t1", "wekatrace2_t2"]);
    let c = config("{hf_dataset_path: org/missing}");
    let err =
        read_sessions_with(&c, Path::new("p.yaml"), None, &tokenizer(), None, &hub).unwrap_err();
    assert!(
        err.message.contains("org/missing") && err.message.contains("traces.jsonl"),
        "{}",
        err.message
    );
}
