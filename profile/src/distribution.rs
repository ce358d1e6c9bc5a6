//! A length distribution's checks (`data.*_distribution`, the shared prefix's and the
//! conversation replay's lengths, multimodal counts): inference-perf's rules and fleetbench's
//! limit on a request's tokens.

use crate::error::ProfileError;
use crate::limits::{above, MAX_REQUEST_TOKENS};
use crate::model::Distribution;
use fleetbench_model::data::LengthDist;
use std::path::Path;

/// A length distribution, with inference-perf's rules (its defaults fill omitted keys: min 10,
/// max 1024, mean 512, std_dev 200) and fleetbench's limit on a request's tokens.
pub(crate) fn check_distribution(
    key: &str,
    d: &Distribution,
    file: &Path,
) -> Result<(), ProfileError> {
    let invalid = |k: &str, message: String| ProfileError::Invalid {
        file: file.to_path_buf(),
        key: format!("{key}{k}"),
        message,
    };
    check_rules(key, d, file)?;
    if d.shape() == LengthDist::Lognormal && d.center() <= 0.0 {
        return Err(invalid(
            ".mean",
            format!("must be > 0 for type lognormal, got {}", d.center()),
        ));
    }
    if d.hi() == 0 {
        return Err(invalid(".max", "must be ≥ 1".into()));
    }
    let tokens = "tokens of a request (2^20, the longest context windows)";
    for (k, v) in [(".min", d.min), (".max", d.max)] {
        if let Some(v) = v.filter(|&v| u64::from(v) > MAX_REQUEST_TOKENS) {
            return Err(invalid(k, above(v, MAX_REQUEST_TOKENS, tokens)));
        }
    }
    let mean = d.center();
    if mean > MAX_REQUEST_TOKENS as f64 {
        return Err(invalid(".mean", above(mean, MAX_REQUEST_TOKENS, tokens)));
    }
    Ok(())
}

/// inference-perf's own rules of a distribution (`Distribution.validate_distribution`: std_dev
/// or variance, not both, neither negative; min ≤ max) and finite numbers; for counts and
/// seconds, which a request's token limit does not bound.
pub(crate) fn check_rules(key: &str, d: &Distribution, file: &Path) -> Result<(), ProfileError> {
    let invalid = |k: &str, message: String| ProfileError::Invalid {
        file: file.to_path_buf(),
        key: format!("{key}{k}"),
        message,
    };
    if let Some(v) = d.variance {
        if d.std_dev_or_default() > 0.0 {
            return Err(invalid(
                ".variance",
                format!(
                    "give either std_dev or variance, not both (std_dev is {}{}; with a variance set std_dev: 0)",
                    d.std_dev_or_default(),
                    if d.std_dev.is_none() { ", inference-perf's default" } else { "" }
                ),
            ));
        }
        if !(v.is_finite() && v >= 0.0) {
            return Err(invalid(
                ".variance",
                format!("must be a number ≥ 0, got {v}"),
            ));
        }
    }
    let std_dev = d.std_dev_or_default();
    if !(std_dev.is_finite() && std_dev >= 0.0) {
        return Err(invalid(
            ".std_dev",
            format!("must be a number ≥ 0, got {std_dev}"),
        ));
    }
    if let Some(k) = d.skew.filter(|k| !k.is_finite()) {
        return Err(invalid(".skew", format!("must be a number, got {k}")));
    }
    let mean = d.center();
    if !mean.is_finite() {
        return Err(invalid(".mean", format!("must be a number, got {mean}")));
    }
    if d.lo() > d.hi() {
        return Err(invalid(
            ".min",
            format!("min {} is above max {}", d.lo(), d.hi()),
        ));
    }
    Ok(())
}
