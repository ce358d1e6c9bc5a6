//! The checks of `data.synthetic_agentic`: inference-perf 0.7.0's validators (the data type
//! needs the section and load type `trace_session_replay`; the session keys' checks, shared
//! with the trace replays; the trace-only keys pinned; `theme_mix`; `fanout_probability`; the
//! projection of the largest request against `max_model_len`) and the lengths' checks.

use crate::distribution::{check_distribution, check_rules};
use crate::error::ProfileError;
use crate::model::{DataType, Distribution, Profile};
use crate::synthetic_agentic::SyntheticAgenticConfig;
use fleetbench_model::data::LengthDist;
use std::path::Path;

const KEY: &str = "data.synthetic_agentic";

/// Tokens inference-perf counts per advertised tool in its `max_model_len` projection.
const CATALOG_TOKENS_PER_TOOL: i64 = 380;

/// The checks of `data.synthetic_agentic` and of `data.type: synthetic_agentic`.
pub(crate) fn check(p: &Profile, file: &Path) -> Result<(), ProfileError> {
    let invalid = |key: &str, message: String| ProfileError::Invalid {
        file: file.to_path_buf(),
        key: key.to_string(),
        message,
    };
    let d = &p.data;
    let Some(c) = &d.synthetic_agentic else {
        if d.kind == DataType::SyntheticAgentic {
            return Err(invalid(
                KEY,
                "data.type 'synthetic_agentic' requires 'data.synthetic_agentic' to be configured (inference-perf's message): {num_sessions, input_tokens_per_turn, output_tokens_per_turn, ...}".into(),
            ));
        }
        return Ok(());
    };
    if d.kind != DataType::SyntheticAgentic {
        return Err(invalid(
            KEY,
            "is only read by data type synthetic_agentic".into(),
        ));
    }
    crate::otel_check::check_session_load(p, file)?;
    crate::otel_check::check_values(&c.session(), file, KEY)?;
    check_pinned(c, file)?;
    check_values(c, file)?;
    check_max_model_len(c, file)?;
    if crate::weka_check::tokenizer_missing(p) {
        return Err(invalid(
            "tokenizer.pretrained_model_name_or_path",
            "data type synthetic_agentic sizes every turn in tokens: name the model's tokenizer (inference-perf: \"synthetic_agentic requires a tokenizer to size its turns\")".into(),
        ));
    }
    Ok(())
}

/// inference-perf pins the keys that only mean something for recorded traces.
fn check_pinned(c: &SyntheticAgenticConfig<Distribution>, file: &Path) -> Result<(), ProfileError> {
    let pinned = [
        (
            "inject_random_session_id",
            c.inject_random_session_id,
            "is pinned to False for synthetic_agentic: sessions are already generated with distinct content per session index",
        ),
        (
            "duplicate_sessions_target",
            c.duplicate_sessions_target.is_some(),
            "is pinned to None for synthetic_agentic: raise num_sessions to generate more sessions instead of duplicating existing ones",
        ),
        (
            "skip_invalid_files",
            c.skip_invalid_files,
            "is pinned to False for synthetic_agentic: sessions are generated in memory, not read from trace files",
        ),
        (
            "include_errors",
            !c.include_errors,
            "is pinned to True for synthetic_agentic: synthetic sessions have no recorded spans to filter",
        ),
    ];
    match pinned.iter().find(|(_, set, _)| *set) {
        Some((key, _, why)) => Err(ProfileError::Invalid {
            file: file.to_path_buf(),
            key: format!("{KEY}.{key}"),
            message: (*why).into(),
        }),
        None => Ok(()),
    }
}

/// The generator's own keys: counts, probabilities, the theme mix and every length.
fn check_values(c: &SyntheticAgenticConfig<Distribution>, file: &Path) -> Result<(), ProfileError> {
    let invalid = |k: &str, message: String| ProfileError::Invalid {
        file: file.to_path_buf(),
        key: format!("{KEY}.{k}"),
        message,
    };
    let at_least = |k: &str, v: i64, lo: i64| match v >= lo {
        true => Ok(()),
        false => Err(invalid(k, format!("{v}: must be ≥ {lo}"))),
    };
    at_least("num_sessions", c.num_sessions, 1)?;
    at_least("shared_system_prompt_len", c.shared_system_prompt_len, 0)?;
    at_least("max_depth", c.max_depth, 0)?;
    at_least("max_events_per_session", c.max_events_per_session, 1)?;
    let f = c.fanout_probability;
    if !(0.0..=1.0).contains(&f) {
        return Err(invalid(
            "fanout_probability",
            format!("{f}: a probability from 0 to 1"),
        ));
    }
    let weights = c.theme_weights();
    if weights.is_empty() {
        return Err(invalid(
            "theme_mix",
            "must be non-empty (at least one theme name -> weight)".into(),
        ));
    }
    if let Some((name, w)) = weights.iter().find(|(_, w)| !(*w >= 0.0 && w.is_finite())) {
        return Err(invalid(
            &format!("theme_mix.{name}"),
            format!("{w}: theme_mix weights must all be >= 0"),
        ));
    }
    if weights.iter().map(|(_, w)| w).sum::<f64>() <= 0.0 {
        return Err(invalid(
            "theme_mix",
            "weights must sum to a positive value (at least one weight > 0)".into(),
        ));
    }
    // Token counts are bounded as a request's are; the counts and seconds by inference-perf's
    // rules alone (0 tools, 0 tool-loop steps and 0 s are meaningful).
    let compaction = c.context_compaction.as_ref();
    let tokens = [
        ("input_tokens_per_turn", Some(&c.input_tokens_per_turn)),
        ("output_tokens_per_turn", Some(&c.output_tokens_per_turn)),
        (
            "context_compaction.trigger_tokens",
            compaction.map(|x| &x.trigger_tokens),
        ),
        (
            "context_compaction.target_tokens",
            compaction.map(|x| &x.target_tokens),
        ),
    ];
    for (k, dist) in tokens {
        if let Some(dist) = dist {
            check_distribution(&format!("{KEY}.{k}"), dist, file)?;
        }
    }
    for (k, dist) in counts(c) {
        if let Some(dist) = dist {
            check_rules(&format!("{KEY}.{k}"), dist, file)?;
        }
    }
    Ok(())
}

/// The distributions of counts and seconds, by key.
fn counts(c: &SyntheticAgenticConfig<Distribution>) -> [(&'static str, Option<&Distribution>); 7] {
    [
        ("turns_per_session", c.turns_per_session.as_ref()),
        ("tool_loop_depth", c.tool_loop_depth.as_ref()),
        ("sub_agents_per_spawn", c.sub_agents_per_spawn.as_ref()),
        (
            "tool_catalog_size_per_agent",
            c.tool_catalog_size_per_agent.as_ref(),
        ),
        (
            "parallel_tool_calls_per_step",
            c.parallel_tool_calls_per_step.as_ref(),
        ),
        ("tool_call_latency_sec", c.tool_call_latency_sec.as_ref()),
        ("user_think_time_sec", c.user_think_time_sec.as_ref()),
    ]
}

/// inference-perf's projection of the largest request (system head, tool catalog at 380 tokens
/// a tool, every turn's input and tool loop, one more answer) against `max_model_len`.
fn check_max_model_len(
    c: &SyntheticAgenticConfig<Distribution>,
    file: &Path,
) -> Result<(), ProfileError> {
    let Some(limit) = c.max_model_len else {
        return Ok(());
    };
    // A fixed distribution gives its mean, every other is clipped to its max; an unset knob
    // takes the generator's fixed fallback.
    let hi = |d: Option<&Distribution>, fallback: f64| -> i64 {
        let v = match d {
            None => fallback,
            Some(d) if d.shape() == LengthDist::Fixed => d.center(),
            Some(d) => f64::from(d.hi()),
        };
        v.ceil() as i64
    };
    let head = c.shared_system_prompt_len;
    let input = hi(Some(&c.input_tokens_per_turn), 0.0);
    let output = hi(Some(&c.output_tokens_per_turn), 0.0);
    let turns = hi(c.turns_per_session.as_ref(), 1.0);
    let depth = hi(c.tool_loop_depth.as_ref(), 2.0).max(0);
    let parallel = hi(c.parallel_tool_calls_per_step.as_ref(), 1.0).max(1);
    let tools = hi(c.tool_catalog_size_per_agent.as_ref(), 8.0);
    let catalog = tools.saturating_mul(CATALOG_TOKENS_PER_TOOL);
    let per_turn_loop = input.saturating_add(
        depth.saturating_mul(output.saturating_add(parallel.saturating_mul(output))),
    );
    let root = head
        .saturating_add(catalog)
        .saturating_add(turns.saturating_mul(per_turn_loop))
        .saturating_add(output);
    let sub = head
        .saturating_add(catalog)
        .saturating_add(per_turn_loop)
        .saturating_add(output);
    let projected = root.max(sub);
    if projected > limit {
        return Err(ProfileError::Invalid {
            file: file.to_path_buf(),
            key: format!("{KEY}.max_model_len"),
            message: format!(
                "max_model_len ({limit}) is too small for this configuration: the peak request is ~{projected} tokens (prompt and output): system head {head} + tool catalog {tools} tools × {CATALOG_TOKENS_PER_TOOL} = {catalog} + turns {turns} × per-turn loop {per_turn_loop} + output {output}, where the per-turn loop is input {input} + tool_loop_depth {depth} × (output {output} + parallel {parallel} × output); reduce those or raise max_model_len"
            ),
        });
    }
    Ok(())
}
