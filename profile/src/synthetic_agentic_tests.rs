//! `data.synthetic_agentic`: inference-perf 0.7.0's validators refuse what it refuses, naming
//! the key; a section that passes them still needs a tokenizer (the sessions are generated in
//! `data/agentic/`, tested there).

use super::*;
use std::path::Path;

/// The required keys, then `more`.
const REQUIRED: &str = "num_sessions: 4, input_tokens_per_turn: {type: fixed, mean: 100}, output_tokens_per_turn: {type: fixed, mean: 50}";

fn profile(agentic: &str, data_type: &str, load: &str) -> Result<LoadedProfile, ProfileError> {
    let text = format!(
        "server: {{base_url: 'http://127.0.0.1:8000', model_name: m}}\n\
         api: {{type: chat}}\n\
         data: {{type: {data_type}, synthetic_agentic: {{{agentic}}}}}\n\
         load: {load}\n"
    );
    parse_profile(&text, Path::new("profiles/agentic.yaml"), "agentic")
}

/// The error of a valid section without a tokenizer.
const NEEDS_TOKENIZER: &str = "sizes every turn in tokens";

const SESSIONS: &str = "{type: trace_session_replay, stages: [{concurrent_sessions: 2}]}";

fn err(agentic: &str) -> String {
    profile(agentic, "synthetic_agentic", SESSIONS)
        .unwrap_err()
        .to_string()
}

#[test]
fn inference_perfs_validators_refuse_what_it_refuses() {
    for (more, key, want) in [
        ("max_wait_ms: -1", "max_wait_ms`", "from 0"),
        ("fanout_probability: 1.5", "fanout_probability`", "from 0 to 1"),
        ("theme_mix: {}", "theme_mix`", "non-empty"),
        ("theme_mix: {generic: -1}", "theme_mix.generic`", ">= 0"),
        ("theme_mix: {generic: {weight: 0}}", "theme_mix`", "sum to a positive"),
        ("inject_random_session_id: true", "inject_random_session_id`", "pinned to False"),
        ("duplicate_sessions_target: 8", "duplicate_sessions_target`", "pinned to None"),
        ("skip_invalid_files: true", "skip_invalid_files`", "pinned to False"),
        ("include_errors: false", "include_errors`", "pinned to True"),
        ("use_static_model: true", "static_model_name`", "static_model_name is required"),
        ("max_depth: -1", "max_depth`", "must be ≥ 0"),
        ("max_events_per_session: 0", "max_events_per_session`", "must be ≥ 1"),
        ("shared_system_prompt_len: -5", "shared_system_prompt_len`", "must be ≥ 0"),
        ("tool_loop_depth: {min: 3, max: 1}", "tool_loop_depth.min`", "above max"),
        (
            "user_think_time_sec: {std_dev: 1, variance: 2}",
            "user_think_time_sec.variance`",
            "not both",
        ),
        (
            "context_compaction: {trigger_tokens: {mean: 100, min: 200, max: 100}, target_tokens: {mean: 10}}",
            "context_compaction.trigger_tokens.min`",
            "above max",
        ),
    ] {
        let e = err(&format!("{REQUIRED}, {more}"));
        assert!(
            e.contains(&format!("`data.synthetic_agentic.{key}")) && e.contains(want),
            "{more}: {e}"
        );
    }
    let e =
        err("num_sessions: 0, input_tokens_per_turn: {mean: 9}, output_tokens_per_turn: {mean: 9}");
    assert!(
        e.contains("`data.synthetic_agentic.num_sessions`: 0: must be ≥ 1"),
        "{e}"
    );
    // Required keys and unknown ones are the parser's.
    assert!(err("num_sessions: 4").contains("missing field `input_tokens_per_turn`"));
    let e = err(&format!("{REQUIRED}, num_agents: 2"));
    assert!(e.contains("unknown field `num_agents`"), "{e}");
    let e = err(&format!(
        "{REQUIRED}, context_compaction: {{trigger_tokens: {{mean: 9}}}}"
    ));
    assert!(e.contains("missing field `target_tokens`"), "{e}");
}

#[test]
fn the_section_and_the_load_type_go_with_the_data_type() {
    let e = profile(
        REQUIRED,
        "synthetic_agentic",
        "{type: constant, stages: [{rate: 1, duration: 2}]}",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("requires load.type 'trace_session_replay'"),
        "{e}"
    );
    let text = "server: {base_url: 'http://127.0.0.1:8000', model_name: m}\n\
                api: {type: chat}\n\
                data: {type: synthetic_agentic}\n\
                load: {type: trace_session_replay, stages: [{concurrent_sessions: 2}]}\n";
    let e = parse_profile(text, Path::new("profiles/agentic.yaml"), "agentic")
        .unwrap_err()
        .to_string();
    assert!(e.contains("requires 'data.synthetic_agentic'"), "{e}");
    let e = profile(REQUIRED, "random", SESSIONS)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("line 3 column 22: `data.synthetic_agentic`")
            && e.contains("only read by data type synthetic_agentic"),
        "{e}"
    );
}

/// inference-perf's projection: head 1000 + 8 tools × 380 + 1 turn × (100 + 2 × (50 + 1 × 50))
/// + 50 = 4390 tokens.
#[test]
fn max_model_len_is_checked_against_inference_perfs_projection() {
    let e = err(&format!("{REQUIRED}, max_model_len: 4389"));
    assert!(
        e.contains("`data.synthetic_agentic.max_model_len`") && e.contains("~4390 tokens"),
        "{e}"
    );
    let e = err(&format!("{REQUIRED}, max_model_len: 4390"));
    assert!(e.contains(NEEDS_TOKENIZER), "{e}");
}

#[test]
fn a_valid_section_passes_the_checks_and_needs_only_a_tokenizer() {
    let full = format!(
        "{REQUIRED}, turns_per_session: {{type: uniform, min: 1, max: 3}}, fanout_probability: 0.5, \
         theme_mix: {{generic: 1, research_rag: {{weight: 2}}}}, seed: 7, shared_system_prompt_len: 0, \
         tool_loop_depth: {{type: fixed, mean: 0, min: 0, max: 0}}, max_depth: 0, \
         tool_catalog_size_per_agent: {{type: fixed, mean: 0, min: 0, max: 0}}, \
         tool_call_latency_sec: {{type: fixed, mean: 0.5, min: 0, max: 1}}, \
         context_compaction: {{trigger_tokens: {{type: fixed, mean: 3000}}, target_tokens: {{type: fixed, mean: 500}}}}"
    );
    // inference-perf's ThemeSpec and ContextCompactionConfig ignore other keys.
    let loose = format!(
        "{REQUIRED}, theme_mix: {{generic: {{weight: 1, note: x}}}}, \
         context_compaction: {{trigger_tokens: {{mean: 900}}, target_tokens: {{mean: 50}}, note: x}}"
    );
    for section in [full, loose] {
        let e = err(&section);
        assert!(
            e.contains("`tokenizer.pretrained_model_name_or_path`") && e.contains(NEEDS_TOKENIZER),
            "{section}: {e}"
        );
    }
}

/// The session keys shared with the trace replays take inference-perf's defaults for generated
/// sessions: tool calls keep their own size.
#[test]
fn the_session_keys_default_as_inference_perfs_synthetic_agentic_config() {
    let c: crate::synthetic_agentic::SyntheticAgenticConfig<crate::model::Distribution> =
        serde_norway::from_str(&format!("{{{REQUIRED}}}")).unwrap();
    assert!(!c.override_tool_call_max_tokens);
    assert!(c.include_errors && !c.skip_invalid_files && !c.inject_random_session_id);
    assert_eq!((c.default_max_tokens, c.max_wait_ms), (1000, 15_000));
    let t: crate::otel::OtelTraceReplayConfig = serde_norway::from_str("{}").unwrap();
    assert!(t.override_tool_call_max_tokens, "a trace replay's default");
}
