//! The checks of `data.weka_trace_replay`: inference-perf's validators (one trace source; the
//! session keys' checks, shared with the OTel replay; the data type requires load type
//! `trace_session_replay` and a tokenizer) and fleetbench's bounds.

use crate::error::ProfileError;
use crate::model::{DataType, Profile};
use std::path::Path;

/// The checks of `data.weka_trace_replay` and of `data.type: weka_trace_replay`.
pub(crate) fn check(p: &Profile, file: &Path) -> Result<(), ProfileError> {
    const KEY: &str = "data.weka_trace_replay";
    let invalid = |key: &str, message: String| ProfileError::Invalid {
        file: file.to_path_buf(),
        key: format!("{KEY}{key}"),
        message,
    };
    let d = &p.data;
    let Some(c) = &d.weka_trace_replay else {
        if d.kind == DataType::WekaTraceReplay {
            return Err(invalid(
                "",
                "required for data type weka_trace_replay: {trace_directory | trace_files | hf_dataset_path, ...}".into(),
            ));
        }
        return Ok(());
    };
    if d.kind != DataType::WekaTraceReplay {
        return Err(invalid(
            "",
            "is only read by data type weka_trace_replay".into(),
        ));
    }
    crate::otel_check::check_session_load(p, file)?;
    crate::otel_check::check_one_source(c.sources(), file, KEY)?;
    if let Some(v) = &c.hf_dataset_path {
        crate::weka::dataset_id(v).map_err(|m| invalid(".hf_dataset_path", m))?;
    }
    if let Some(f) = &c.filter {
        crate::otel_check::check_filter(f, file, KEY)?;
    }
    crate::otel_check::check_values(&c.session_keys(), file, KEY)?;
    if !(1..=crate::weka::MAX_BLOCK_SIZE).contains(&c.default_block_size) {
        return Err(invalid(
            ".default_block_size",
            format!(
                "{}: from 1 to {} tokens per block hash id",
                c.default_block_size,
                crate::weka::MAX_BLOCK_SIZE
            ),
        ));
    }
    if !c.trace_idle_gap_cap_seconds.is_finite() {
        return Err(invalid(
            ".trace_idle_gap_cap_seconds",
            format!(
                "{}: seconds (≤ 0: gaps as recorded)",
                c.trace_idle_gap_cap_seconds
            ),
        ));
    }
    if let Some(n) = c.datagen_workers {
        if n < 1 {
            return Err(invalid(
                ".datagen_workers",
                format!("{n}: Input should be greater than or equal to 1"),
            ));
        }
    }
    if tokenizer_missing(p) {
        return Err(ProfileError::Invalid {
            file: file.to_path_buf(),
            key: "tokenizer.pretrained_model_name_or_path".into(),
            message: "data type weka_trace_replay rebuilds prompts from token ids: name the model's tokenizer (inference-perf: \"Tokenizer is required for WekaTraceReplayDataGenerator\")".into(),
        });
    }
    Ok(())
}

pub(crate) fn tokenizer_missing(p: &Profile) -> bool {
    (p.tokenizer.as_ref())
        .and_then(|t| t.pretrained_model_name_or_path.as_deref())
        .is_none_or(str::is_empty)
}
