//! The checks of `data.otel_trace_replay`: inference-perf's validators (one trace source;
//! `static_model_name` with `use_static_model`; `disable_output_substitution` without
//! session-id injection or duplication; the data type requires load type
//! `trace_session_replay`), fleetbench's bounds, and the keys refused with their reason.

use crate::error::ProfileError;
use crate::model::{DataType, LoadType, Profile};
use crate::otel::{
    OtelTraceReplayConfig, MAX_DEFAULT_MAX_TOKENS, MAX_REPLAY_SESSIONS, MAX_WAIT_MS,
};
use std::path::Path;

/// The checks of `data.otel_trace_replay` and of `data.type: otel_trace_replay`.
pub(crate) fn check(p: &Profile, file: &Path) -> Result<(), ProfileError> {
    let invalid = |key: &str, message: String| ProfileError::Invalid {
        file: file.to_path_buf(),
        key: key.to_string(),
        message,
    };
    let d = &p.data;
    let Some(c) = &d.otel_trace_replay else {
        if d.kind == DataType::OtelTraceReplay {
            return Err(invalid(
                "data.otel_trace_replay",
                "required for data type otel_trace_replay: {trace_directory | trace_files, ...}"
                    .into(),
            ));
        }
        return Ok(());
    };
    if d.kind != DataType::OtelTraceReplay {
        return Err(invalid(
            "data.otel_trace_replay",
            "is only read by data type otel_trace_replay".into(),
        ));
    }
    check_session_load(p, file)?;
    check_sources(c, file)?;
    check_values(c, file, "data.otel_trace_replay")
}

/// A trace replay's load type: `trace_session_replay`, as inference-perf requires.
pub(crate) fn check_session_load(p: &Profile, file: &Path) -> Result<(), ProfileError> {
    if p.load.kind != LoadType::TraceSessionReplay {
        return Err(ProfileError::Invalid {
            file: file.to_path_buf(),
            key: "load.type".into(),
            message: format!("data.type '{}' requires load.type 'trace_session_replay', but got '{}': a trace's calls wait for the calls they depend on, which only session stages dispatch (as inference-perf requires)", p.data.kind.name(), load_name(p)),
        });
    }
    Ok(())
}

fn load_name(p: &Profile) -> String {
    serde_norway::to_string(&p.load.kind)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Exactly one of a trace replay's sources (`given`: trace_directory, trace_files,
/// hf_dataset_path), with inference-perf's messages; `prefix` is the replay's key.
pub(crate) fn check_one_source(
    given: [bool; 3],
    file: &Path,
    prefix: &str,
) -> Result<(), ProfileError> {
    let n = given.iter().filter(|g| **g).count();
    if n != 1 {
        return Err(ProfileError::Invalid {
            file: file.to_path_buf(),
            key: format!("{prefix}.trace_directory"),
            message: if n == 0 {
                "Either trace_directory, trace_files, or hf_dataset_path must be provided".into()
            } else {
                "Cannot specify multiple trace sources; choose one of: trace_directory, trace_files, or hf_dataset_path".into()
            },
        });
    }
    Ok(())
}

/// A trace replay's `filter`: one of the lambda forms fleetbench reads.
pub(crate) fn check_filter(f: &str, file: &Path, prefix: &str) -> Result<(), ProfileError> {
    match crate::data::otel::filter::RowFilter::parse(f) {
        Ok(_) => Ok(()),
        Err(e) => Err(ProfileError::NotSupported {
            file: file.to_path_buf(),
            key: format!("{prefix}.filter"),
            reason: format!("{e}: inference-perf runs the filter with Python's eval(); fleetbench runs no code from a profile but reads the expressions filters are written in (docs/profile.md, \"otel_trace_replay.filter\")"),
            line: None,
        }),
    }
}

/// Exactly one trace source, and not the refused ones.
fn check_sources(c: &OtelTraceReplayConfig, file: &Path) -> Result<(), ProfileError> {
    const KEY: &str = "data.otel_trace_replay";
    let key = |k: &str| format!("{KEY}.{k}");
    check_one_source(c.sources(), file, KEY)?;
    let refuse = |k: &str, reason: &str| ProfileError::NotSupported {
        file: file.to_path_buf(),
        key: key(k),
        reason: reason.into(),
        line: None,
    };
    if let Some(v) = &c.hf_dataset_path {
        use crate::data::hub_dataset::{DatasetRef, RefError};
        match DatasetRef::parse(v) {
            Ok(_) => {}
            Err(RefError::Invalid(message)) => {
                return Err(ProfileError::Invalid {
                    file: file.to_path_buf(),
                    key: key("hf_dataset_path"),
                    message,
                })
            }
            Err(RefError::NotSupported(reason)) => {
                return Err(refuse("hf_dataset_path", &reason));
            }
        }
    }
    if let Some(f) = &c.filter {
        check_filter(f, file, KEY)?;
    }
    for (k, m) in [
        ("attribute_to_header_map", &c.attribute_to_header_map),
        ("attribute_to_label_map", &c.attribute_to_label_map),
    ] {
        if m.as_ref().is_some_and(|m| !m.is_empty()) {
            return Err(refuse(
                k,
                "span attributes are not carried to requests or reports yet; leave it unset",
            ));
        }
    }
    Ok(())
}

/// inference-perf's field constraints and validators of the session keys, and fleetbench's
/// bounds; `prefix` is the replay's key.
pub(crate) fn check_values(
    c: &OtelTraceReplayConfig,
    file: &Path,
    prefix: &str,
) -> Result<(), ProfileError> {
    let invalid = |k: &str, message: String| ProfileError::Invalid {
        file: file.to_path_buf(),
        key: format!("{prefix}.{k}"),
        message,
    };
    if c.use_static_model && c.static_model_name.is_empty() {
        return Err(invalid(
            "static_model_name",
            "static_model_name is required when use_static_model=True".into(),
        ));
    }
    if !c.use_static_model && !c.static_model_name.is_empty() && c.model_mapping.is_none() {
        return Err(invalid(
            "use_static_model",
            "Either use_static_model must be True or model_mapping must be provided".into(),
        ));
    }
    if !(1..=MAX_DEFAULT_MAX_TOKENS).contains(&c.default_max_tokens) {
        return Err(invalid(
            "default_max_tokens",
            format!(
                "{}: from 1 to {MAX_DEFAULT_MAX_TOKENS} tokens",
                c.default_max_tokens
            ),
        ));
    }
    if !(0..=MAX_WAIT_MS as i64).contains(&c.max_wait_ms) {
        return Err(invalid(
            "max_wait_ms",
            format!("{}: from 0 to {MAX_WAIT_MS} ms (one day)", c.max_wait_ms),
        ));
    }
    let t = c.predecessor_wait_timeout_sec;
    if !(t.is_finite() && (0.0..=crate::limits::MAX_WAIT_SECONDS).contains(&t)) {
        return Err(invalid(
            "predecessor_wait_timeout_sec",
            format!(
                "{t}: seconds from 0 (no limit) to {}",
                crate::limits::MAX_WAIT_SECONDS
            ),
        ));
    }
    if let Some(n) = c.duplicate_sessions_target {
        if !(1..=MAX_REPLAY_SESSIONS as i64).contains(&n) {
            return Err(invalid(
                "duplicate_sessions_target",
                format!("{n}: from 1 to {MAX_REPLAY_SESSIONS} sessions"),
            ));
        }
    }
    if c.disable_output_substitution {
        let mut conflicting = Vec::new();
        if c.inject_random_session_id {
            conflicting.push("inject_random_session_id");
        }
        if c.duplicate_sessions_target.is_some() {
            conflicting.push("duplicate_sessions_target");
        }
        if !conflicting.is_empty() {
            return Err(invalid(
                "disable_output_substitution",
                format!("disable_output_substitution=True cannot be combined with {}: those options inject a random session id, which rewrites the messages that disable_output_substitution asks to send as recorded", conflicting.join(" or ")),
            ));
        }
    }
    Ok(())
}
