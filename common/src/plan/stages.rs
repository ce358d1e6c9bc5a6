//! A profile's `load` section as a list of typed stages: explicit `stages`, or the sweep
//! shorthands `rates` / `concurrencies`; each checked, with errors that name the key.

use super::{constant_count, StageLoad};
use crate::profile::limits::{
    above, MAX_STAGE_RATE, MAX_STAGE_REQUESTS, MAX_STAGE_SECONDS, MAX_STAGE_USERS, MAX_WAIT_SECONDS,
};
use crate::profile::{LoadType, Profile, ProfileError, Rate};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The measured part of a stage, in seconds from its start: requests intended in it are
/// measured, the others (warm-up, cool-down) are sent but not measured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub start_s: f64,
    /// `None`: until the stage ends (closed loop by count, rate `inf`).
    pub end_s: Option<f64>,
}

impl Window {
    pub fn contains(&self, t_s: f64) -> bool {
        t_s >= self.start_s && self.end_s.is_none_or(|e| t_s < e)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageDef {
    pub load: StageLoad,
    pub window: Window,
}

/// The stages of a profile, validated.
pub fn stage_defs(p: &Profile, file: &Path) -> Result<Vec<StageDef>, ProfileError> {
    let invalid = |key: String, message: String| ProfileError::Invalid {
        file: file.to_path_buf(),
        key,
        message,
    };
    let l = &p.load;
    let shorthand = l.rates.is_some() || l.concurrencies.is_some();
    if shorthand && !l.stages.is_empty() {
        return Err(invalid(
            "load.stages".into(),
            "give either stages or a sweep shorthand (rates, concurrencies), not both".into(),
        ));
    }
    if l.rates.is_some() && l.concurrencies.is_some() {
        return Err(invalid(
            "load.rates".into(),
            "give rates or concurrencies, not both".into(),
        ));
    }
    // Shorthands become stages; then every stage goes through the same checks.
    let stages: Vec<crate::profile::LoadStage> = if let Some(rates) = &l.rates {
        rates
            .iter()
            .map(|&r| crate::profile::LoadStage {
                rate: Some(r),
                duration: if r.is_infinite() {
                    None
                } else {
                    l.stage_duration
                },
                num_requests: l.stage_requests,
                ..empty_stage()
            })
            .collect()
    } else if let Some(cs) = &l.concurrencies {
        if l.kind != LoadType::Concurrent {
            return Err(invalid(
                "load.type".into(),
                "the concurrencies shorthand needs load type concurrent".into(),
            ));
        }
        cs.iter()
            .map(|&c| crate::profile::LoadStage {
                concurrency_level: Some(c),
                duration: l.stage_duration,
                num_requests: l.stage_requests,
                ..empty_stage()
            })
            .collect()
    } else if l.stages.is_empty() && l.kind == LoadType::Trace {
        // The whole trace, once.
        vec![empty_stage()]
    } else {
        l.stages.clone()
    };
    let time_scale = l.time_scale.unwrap_or(1.0);
    if let Some(t) = l.time_scale {
        if l.kind != LoadType::Trace {
            return Err(invalid(
                "load.time_scale".into(),
                "only for load type trace (it scales the trace's timestamps)".into(),
            ));
        }
        if !(t.is_finite() && t > 0.0) {
            return Err(invalid(
                "load.time_scale".into(),
                format!(
                    "must be a number > 0 (2 = half the trace's rate, 0.5 = twice it), got {t}"
                ),
            ));
        }
    }
    if let Some(t) = l.think_time {
        let sessions = p.data.kind == crate::profile::DataType::MultiTurn;
        if l.kind != LoadType::Concurrent && !sessions {
            return Err(invalid(
                "load.think_time".into(),
                "only for load type concurrent or data type multi_turn (the wait between a user's answer and its next request)".into(),
            ));
        }
        if !(t.is_finite() && t >= 0.0) {
            return Err(invalid(
                "load.think_time".into(),
                format!("must be a number of seconds ≥ 0, got {t}"),
            ));
        }
        if t > MAX_WAIT_SECONDS {
            return Err(invalid(
                "load.think_time".into(),
                above(t, MAX_WAIT_SECONDS, "seconds (a day)"),
            ));
        }
    }
    if l.kind == LoadType::Trace
        && p.data.kind != crate::profile::DataType::MooncakeTrace
        && l.trace.is_none()
    {
        return Err(invalid(
            "load.type".into(),
            format!(
                "trace_replay replays the timestamps of load.trace (an Azure trace CSV) or of data type mooncake_trace, and neither is given (data.type is {}); allowed load types for it: constant, poisson, gamma, concurrent",
                p.data.kind.name()
            ),
        ));
    }
    if stages.is_empty() {
        return Err(invalid(
            "load.stages".into(),
            "at least one stage is required (or a shorthand: rates, concurrencies)".into(),
        ));
    }
    let burstiness = l.burstiness.unwrap_or(1.0);
    if !(burstiness.is_finite() && burstiness > 0.0) {
        return Err(invalid(
            "load.burstiness".into(),
            format!("must be a number > 0, got {burstiness}"),
        ));
    }
    let mut out = Vec::with_capacity(stages.len());
    for (i, s) in stages.iter().enumerate() {
        let key = |field: &str| {
            if shorthand {
                format!("load.{field} (stage {i} of the shorthand)")
            } else {
                format!("load.stages.{i}.{field}")
            }
        };
        let positive = |v: Option<f64>, field: &str| -> Result<Option<f64>, ProfileError> {
            match v {
                Some(x) if !(x.is_finite() && x > 0.0) => Err(invalid(
                    key(field),
                    format!("must be a number > 0, got {x}"),
                )),
                _ => Ok(v),
            }
        };
        let duration_key = if shorthand {
            "stage_duration"
        } else {
            "duration"
        };
        let duration = positive(s.duration, duration_key)?;
        if let Some(d) = duration.filter(|&d| d > MAX_STAGE_SECONDS) {
            return Err(invalid(
                key(duration_key),
                above(d, MAX_STAGE_SECONDS, "seconds of a stage (a week)"),
            ));
        }
        let count_key = if shorthand {
            "stage_requests"
        } else {
            "num_requests"
        };
        if let Some(n) = s.num_requests.filter(|&n| n > MAX_STAGE_REQUESTS) {
            return Err(invalid(
                key(count_key),
                above(n, MAX_STAGE_REQUESTS, "requests of a stage"),
            ));
        }
        let warmup = s.warmup.unwrap_or(0.0);
        let cooldown = s.cooldown.unwrap_or(0.0);
        for (field, v) in [("warmup", warmup), ("cooldown", cooldown)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(invalid(
                    key(field),
                    format!("must be a number of seconds ≥ 0, got {v}"),
                ));
            }
            if v > MAX_STAGE_SECONDS {
                return Err(invalid(
                    key(field),
                    above(v, MAX_STAGE_SECONDS, "seconds of a stage (a week)"),
                ));
            }
        }
        let window = match duration {
            Some(d) => {
                if warmup + cooldown >= d {
                    return Err(invalid(
                        key("warmup"),
                        format!("warmup {warmup} s + cooldown {cooldown} s leave nothing of the {d} s stage"),
                    ));
                }
                Window {
                    start_s: warmup,
                    end_s: Some(d - cooldown),
                }
            }
            None => Window {
                start_s: warmup,
                end_s: None,
            },
        };
        let load = match l.kind {
            LoadType::Constant | LoadType::Poisson | LoadType::Gamma => {
                if s.concurrency_level.is_some() {
                    return Err(invalid(
                        key("concurrency_level"),
                        "only for load type concurrent".into(),
                    ));
                }
                let Some(Rate(rate)) = s.rate else {
                    return Err(invalid(
                        key("rate"),
                        "required: requests/s (a number > 0) or inf".into(),
                    ));
                };
                if rate.is_nan() || rate <= 0.0 {
                    return Err(invalid(
                        key("rate"),
                        format!("must be a number > 0 or inf, got {rate}"),
                    ));
                }
                let ramp_to = positive(s.ramp_to, "ramp_to")?;
                for (field, r) in [("rate", Some(rate)), ("ramp_to", ramp_to)] {
                    if let Some(r) = r.filter(|r| r.is_finite() && *r > MAX_STAGE_RATE) {
                        return Err(invalid(
                            key(field),
                            above(r, MAX_STAGE_RATE, "requests/s of a stage (one agent core sends about 9,000)"),
                        ));
                    }
                }
                if let Some(d) = duration.filter(|_| rate.is_finite()) {
                    // The requests the rate plans over the stage, in closed form.
                    let expected = d * (rate + ramp_to.unwrap_or(rate)) / 2.0;
                    let planned = s.num_requests.map_or(expected, |n| expected.min(n as f64));
                    if planned > MAX_STAGE_REQUESTS as f64 {
                        return Err(invalid(
                            key("rate"),
                            format!(
                                "{rate} requests/s for {d} s plans {planned:.0} requests: {}",
                                above(planned.round(), MAX_STAGE_REQUESTS, "requests of a stage")
                            ),
                        ));
                    }
                }
                if rate.is_infinite() {
                    if ramp_to.is_some() {
                        return Err(invalid(key("ramp_to"), "a ramp needs a finite rate".into()));
                    }
                    let Some(n) = s.num_requests else {
                        return Err(invalid(
                            key(if shorthand {
                                "stage_requests"
                            } else {
                                "num_requests"
                            }),
                            "required at rate inf: how many requests to send at once".into(),
                        ));
                    };
                    if l.kind != LoadType::Constant {
                        return Err(invalid(
                            key("rate"),
                            "rate inf sends everything at once: use load type constant".into(),
                        ));
                    }
                    StageLoad::Constant {
                        rate,
                        ramp_to: None,
                        duration_s: None,
                        total: n,
                    }
                } else {
                    let Some(d) = duration else {
                        return Err(invalid(
                            key(if shorthand {
                                "stage_duration"
                            } else {
                                "duration"
                            }),
                            "required for a finite rate (seconds)".into(),
                        ));
                    };
                    if ramp_to.is_some() && l.kind == LoadType::Gamma {
                        return Err(invalid(
                            key("ramp_to"),
                            "ramps are for constant and poisson loads".into(),
                        ));
                    }
                    match l.kind {
                        LoadType::Constant => {
                            let planned = constant_count(rate, ramp_to, d);
                            StageLoad::Constant {
                                rate,
                                ramp_to,
                                duration_s: Some(d),
                                total: s.num_requests.map_or(planned, |n| n.min(planned)),
                            }
                        }
                        LoadType::Poisson => StageLoad::Poisson {
                            rate,
                            ramp_to,
                            duration_s: d,
                            max_requests: s.num_requests,
                        },
                        _ => StageLoad::Gamma {
                            rate,
                            burstiness,
                            duration_s: d,
                            max_requests: s.num_requests,
                        },
                    }
                }
            }
            LoadType::Concurrent => {
                if let Some(n) = s
                    .concurrency_level
                    .filter(|&n| u64::from(n) > MAX_STAGE_USERS)
                {
                    return Err(invalid(
                        key("concurrency_level"),
                        above(n, MAX_STAGE_USERS, "users of a stage (each holds a connection)"),
                    ));
                }
                let users = match s.concurrency_level {
                    Some(n) if n > 0 => n,
                    _ => {
                        return Err(invalid(
                            key("concurrency_level"),
                            "required for concurrent loads: an integer ≥ 1".into(),
                        ))
                    }
                };
                if s.num_requests.is_none() && duration.is_none() {
                    return Err(invalid(
                        key("num_requests"),
                        "a concurrent stage needs num_requests, duration or both".into(),
                    ));
                }
                if s.rate.is_some() || s.ramp_to.is_some() {
                    return Err(invalid(
                        key("rate"),
                        "only for load types constant, poisson and gamma".into(),
                    ));
                }
                StageLoad::Concurrent {
                    users,
                    num_requests: s.num_requests,
                    duration_s: duration,
                }
            }
            LoadType::Trace => {
                // `rate` is required by inference-perf's stage model and unused by its trace
                // timer: the times come from the trace.
                for (field, given) in [
                    ("ramp_to", s.ramp_to.is_some()),
                    ("concurrency_level", s.concurrency_level.is_some()),
                ] {
                    if given {
                        return Err(invalid(
                            key(field),
                            "a trace stage takes its times from the trace: allowed keys duration, num_requests, warmup, cooldown, rate (unused, as in inference-perf) and load.time_scale".into(),
                        ));
                    }
                }
                StageLoad::Trace {
                    time_scale,
                    duration_s: duration,
                    total: s.num_requests.unwrap_or(u64::MAX),
                }
            }
            LoadType::TraceSessionReplay => {
                return Err(invalid(
                    "load.type".into(),
                    "trace_session_replay is not supported; allowed: constant, poisson, gamma, concurrent, trace_replay".into(),
                ))
            }
        };
        out.push(StageDef { load, window });
    }
    Ok(out)
}

fn empty_stage() -> crate::profile::LoadStage {
    crate::profile::LoadStage {
        rate: None,
        ramp_to: None,
        warmup: None,
        cooldown: None,
        duration: None,
        concurrency_level: None,
        num_requests: None,
        concurrent_sessions: None,
        session_rate: None,
        num_sessions: None,
        timeout: None,
    }
}
