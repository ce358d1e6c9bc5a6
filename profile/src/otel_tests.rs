//! `data.otel_trace_replay`: inference-perf's validators and defaults, fleetbench's bounds and
//! refusals, the trace files read (globs, directories, invalid files), and the sessions the
//! plan gives each session stage, whole on one agent.

use super::*;
use crate::plan::plan_run;
use fleetbench_model::data::DataSource;
use fleetbench_model::role::Role;
use fleetbench_model::spec::{Member, ShardLoad};
use std::path::{Path, PathBuf};

/// The repository's trace fixtures.
fn traces() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/data/otel")
}

fn profile(otel: &str, load: &str) -> Result<LoadedProfile, ProfileError> {
    let text = format!(
        "server: {{base_url: 'http://127.0.0.1:8000', model_name: m}}\n\
         api: {{type: chat}}\n\
         data: {{type: otel_trace_replay, otel_trace_replay: {{{otel}}}}}\n\
         load: {load}\n"
    );
    parse_profile(&text, Path::new("profiles/otel.yaml"), "otel")
}

fn sessions_load(stages: &str) -> String {
    format!("{{type: trace_session_replay, stages: [{stages}]}}")
}

fn dir() -> String {
    format!("trace_directory: '{}'", traces().display())
}

fn err(otel: &str) -> String {
    profile(otel, &sessions_load("{concurrent_sessions: 1}"))
        .unwrap_err()
        .to_string()
}

#[test]
fn inference_perfs_validators_refuse_what_it_refuses() {
    let d = dir();
    for (otel, want) in [
        (
            String::new(),
            "Either trace_directory, trace_files, or hf_dataset_path must be provided",
        ),
        (
            format!("{d}, trace_files: [a.json]"),
            "Cannot specify multiple trace sources",
        ),
        (
            format!("{d}, use_static_model: true"),
            "static_model_name is required",
        ),
        (
            format!("{d}, static_model_name: x"),
            "Either use_static_model must be True or model_mapping",
        ),
        (
            format!("{d}, disable_output_substitution: true, inject_random_session_id: true"),
            "cannot be combined with inject_random_session_id",
        ),
        (
            format!("{d}, disable_output_substitution: true, duplicate_sessions_target: 3"),
            "cannot be combined with duplicate_sessions_target",
        ),
        (format!("{d}, max_wait_ms: -1"), "max_wait_ms"),
        (format!("{d}, default_max_tokens: 0"), "default_max_tokens"),
        (
            format!("{d}, duplicate_sessions_target: 0"),
            "duplicate_sessions_target",
        ),
        (
            format!("{d}, predecessor_wait_timeout_sec: -2"),
            "predecessor_wait_timeout_sec",
        ),
        (format!("{d}, max_wait: 3"), "unknown field `max_wait`"),
    ] {
        let e = err(&otel);
        assert!(e.contains(want), "{otel}: {e}");
    }
    let constant = profile(&d, "{type: constant, stages: [{rate: 1, duration: 2}]}");
    let e = constant.unwrap_err().to_string();
    assert!(
        e.contains("requires load.type 'trace_session_replay'"),
        "{e}"
    );
}

#[test]
fn a_hub_dataset_s_unread_keywords_and_a_filter_beyond_expressions_are_refused_saying_why() {
    let e = err("hf_dataset_path: {path: user/traces, data_dir: cfg}");
    assert!(
        e.contains("does not support yet") && e.contains("\"data_dir\" is not read"),
        "{e}"
    );
    let e = err("hf_dataset_path: {split: train}");
    assert!(e.contains("'path' is required"), "{e}");
    let e = err("hf_dataset_path: {path: user/traces, split: 'train[:10]'}");
    assert!(e.contains("slices"), "{e}");
    let e = err(&format!("{}, filter: \"lambda x: open('f')\"", dir()));
    assert!(e.contains("eval()") && e.contains("open"), "{e}");
}

#[test]
fn missing_and_invalid_traces_name_the_file_unless_skipped() {
    let e = err("trace_files: [no/such/trace.json]");
    assert!(
        e.contains("no/such/trace.json") && e.contains("does not exist"),
        "{e}"
    );
    let e = err("trace_files: ['no/such/*.json']");
    assert!(e.contains("No trace files resolved"), "{e}");
    let tmp = std::env::temp_dir().join(format!("fb-otel-bad-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::write(tmp.join("bad.json"), "{\"no\": \"spans\"}").unwrap();
    std::fs::copy(traces().join("chain.json"), tmp.join("chain.json")).unwrap();
    let d = format!("trace_directory: '{}'", tmp.display());
    let e = err(&d);
    assert!(
        e.contains("bad.json") && e.contains("a `spans` list") && e.contains("skip_invalid_files"),
        "{e}"
    );
    let lp = profile(
        &format!("{d}, skip_invalid_files: true"),
        &sessions_load("{concurrent_sessions: 1}"),
    )
    .unwrap();
    assert_eq!(lp.replay.as_ref().unwrap().slots.len(), 1);
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn stages_take_the_next_sessions_of_the_traces_and_a_session_stays_on_one_agent() {
    let glob = format!(
        "trace_files: ['{}/*.json'], duplicate_sessions_target: 5, max_wait_ms: 100",
        traces().display()
    );
    let lp = profile(
        &glob,
        &sessions_load("{concurrent_sessions: 2, num_sessions: 2}, {concurrent_sessions: 0}"),
    )
    .unwrap();
    let r = lp.replay.as_ref().unwrap();
    let ids: Vec<&str> = r.slots.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "trace0_chain-1",
            "trace1_fanout-1",
            "trace0_chain-1_dup1",
            "trace1_fanout-1_dup2",
            "trace0_chain-1_dup3"
        ]
    );
    assert_eq!(r.graphs.len(), 2);
    assert_eq!(
        r.graphs[0].events.len(),
        3,
        "the tool span is not an LLM call"
    );
    let members: Vec<Member> = ["a", "b"]
        .iter()
        .map(|id| Member {
            agent_id: id.to_string(),
            role: Role::Client,
            host_name: "h".into(),
        })
        .collect();
    let plan = plan_run(&lp, &members, "r", 1).unwrap();
    let mut taken = Vec::new();
    for stage in &plan.stages {
        for shard in &stage.shards {
            let DataSource::Replay(s) = &shard.data.source else {
                panic!("{:?}", shard.data.source)
            };
            assert_eq!((s.max_wait_ms, s.substitute_outputs), (100, true));
            if let ShardLoad::Sessions {
                first_session,
                sessions,
                ..
            } = shard.load
            {
                taken.extend(first_session..first_session + sessions);
            }
        }
    }
    taken.sort();
    assert_eq!(
        taken,
        [0, 1, 2, 3, 4],
        "each session once, stage 0 two, stage 1 the rest"
    );
    let e = profile(
        &glob,
        &sessions_load("{concurrent_sessions: 1, num_sessions: 5}, {concurrent_sessions: 1}"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("no session is left"), "{e}");
}

#[test]
fn models_are_mapped_and_the_static_model_wins() {
    let one = format!("trace_files: ['{}/chain.json']", traces().display());
    let model = |otel: &str| {
        let lp = profile(otel, &sessions_load("{concurrent_sessions: 1}")).unwrap();
        lp.replay.as_ref().unwrap().graphs[0].events[0]
            .model
            .clone()
    };
    assert_eq!(
        model(&one),
        None,
        "the endpoint's model, as inference-perf sends"
    );
    assert_eq!(
        model(&format!("{one}, model_mapping: {{gpt-4o: big}}")).as_deref(),
        Some("big")
    );
    assert_eq!(
        model(&format!(
            "{one}, use_static_model: true, static_model_name: s"
        ))
        .as_deref(),
        Some("s")
    );
}
