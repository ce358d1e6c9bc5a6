//! `load.sweep` checked, and its probe stage (`docs/saturation.md`).

use crate::error::ProfileError;
use crate::limits::{above, MAX_STAGE_SECONDS};
use crate::model::{LoadType, Profile};
use crate::saturation::{
    SweepConfig, MAX_PROBE_REQUESTS, MAX_PROBE_TIMEOUT_S, MAX_SWEEP_STAGES, PROBE_SECONDS,
};
use fleetbench_model::spec::{StageLoad, Window};
use std::path::Path;

/// `load.sweep` checked: a rate-based load type, no shorthand, every value within its limit.
/// Explicit `load.stages` are allowed (inference-perf validates them and then replaces them
/// with the generated stages); the caller validates them.
pub(crate) fn check_sweep(p: &Profile, s: &SweepConfig, file: &Path) -> Result<(), ProfileError> {
    let invalid = |key: &str, message: String| ProfileError::Invalid {
        file: file.to_path_buf(),
        key: key.to_string(),
        message,
    };
    let l = &p.load;
    match l.kind {
        LoadType::Constant | LoadType::Poisson => {}
        LoadType::Concurrent | LoadType::TraceSessionReplay => {
            return Err(invalid(
                "load.sweep",
                format!("cannot have a sweep with load type {} (as in inference-perf): the sweep generates rate stages; allowed load types: constant, poisson", load_type_name(l.kind)),
            ))
        }
        LoadType::Trace | LoadType::Gamma => {
            return Err(ProfileError::NotSupported {
                file: file.to_path_buf(),
                key: "load.sweep".into(),
                reason: format!("a sweep generates constant or poisson rate stages; with load type {} the rates would not be what the sweep found (use load type constant or poisson)", load_type_name(l.kind)),
                line: None,
            })
        }
    }
    if l.rates.is_some() || l.concurrencies.is_some() {
        return Err(invalid(
            "load.sweep",
            "give a sweep or a shorthand (rates, concurrencies), not both: the sweep generates the stages".into(),
        ));
    }
    if !(1..=MAX_PROBE_REQUESTS).contains(&s.num_requests) {
        return Err(invalid(
            "load.sweep.num_requests",
            format!(
                "{}: the probe's requests, from 1 to {MAX_PROBE_REQUESTS}",
                s.num_requests
            ),
        ));
    }
    if !(s.timeout.is_finite() && s.timeout > 0.0 && s.timeout <= MAX_PROBE_TIMEOUT_S) {
        return Err(invalid(
            "load.sweep.timeout",
            format!(
                "{}: the probe's seconds, a number > 0 and at most {MAX_PROBE_TIMEOUT_S} (an hour)",
                s.timeout
            ),
        ));
    }
    if !(1..=MAX_SWEEP_STAGES).contains(&s.num_stages) {
        return Err(invalid(
            "load.sweep.num_stages",
            format!(
                "{}: the stages to generate, from 1 to {MAX_SWEEP_STAGES}",
                s.num_stages
            ),
        ));
    }
    if s.stage_duration == 0 || s.stage_duration as f64 > MAX_STAGE_SECONDS {
        return Err(invalid(
            "load.sweep.stage_duration",
            if s.stage_duration == 0 {
                "0: seconds of each generated stage, at least 1".into()
            } else {
                above(
                    s.stage_duration,
                    MAX_STAGE_SECONDS,
                    "seconds of a stage (a week)",
                )
            },
        ));
    }
    let p = s.saturation_percentile;
    if !(p.is_finite() && (0.0..=100.0).contains(&p)) {
        return Err(invalid(
            "load.sweep.saturation_percentile",
            format!("{p}: a percentile from 0 to 100"),
        ));
    }
    Ok(())
}

fn load_type_name(t: LoadType) -> &'static str {
    match t {
        LoadType::Constant => "constant",
        LoadType::Poisson => "poisson",
        LoadType::Gamma => "gamma",
        LoadType::Concurrent => "concurrent",
        LoadType::Trace => "trace_replay",
        LoadType::TraceSessionReplay => "trace_session_replay",
    }
}

/// The probe stage: `num_requests` at `num_requests / 5` per second for 5 s (constant: exactly
/// that many; poisson: Poisson arrivals over the 5 s, about that many), all measured.
pub(crate) fn probe_load(kind: LoadType, s: &SweepConfig) -> (StageLoad, Window) {
    let rate = s.num_requests as f64 / PROBE_SECONDS;
    let load = match kind {
        LoadType::Poisson => StageLoad::Poisson {
            rate,
            ramp_to: None,
            duration_s: PROBE_SECONDS,
            max_requests: Some(s.num_requests),
        },
        _ => StageLoad::Constant {
            rate,
            ramp_to: None,
            duration_s: Some(PROBE_SECONDS),
            total: s.num_requests,
        },
    };
    let window = Window {
        start_s: 0.0,
        end_s: Some(PROBE_SECONDS),
    };
    (load, window)
}
