//! A profile's `load` section as a list of typed stages: explicit `stages`, or the sweep
//! shorthands `rates` / `concurrencies`; each checked, with errors that name the key.

use crate::error::ProfileError;
use crate::limits::{
    above, MAX_STAGE_RATE, MAX_STAGE_REQUESTS, MAX_STAGE_SECONDS, MAX_STAGE_USERS, MAX_WAIT_SECONDS,
};
use crate::model::{DataType, LoadConfig, LoadStage, LoadType, Profile};
use fleetbench_model::spec::{Rate, StageLoad, Window};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One stage of a profile: its whole load and measured window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct StageDef {
    /// The stage's load, before splitting.
    pub load: StageLoad,
    /// Its measured window.
    pub window: Window,
}

/// Requests of a constant stage of `duration_s` whose rate ramps from `rate` to `ramp_to`: every
/// j ≥ 0 whose time is before the end, i.e. j < ∫rate.
pub(crate) fn constant_count(rate: f64, ramp_to: Option<f64>, duration_s: f64) -> u64 {
    let integral = duration_s * (rate + ramp_to.unwrap_or(rate)) / 2.0;
    (integral - 1e-9).ceil().max(0.0) as u64
}

/// The stages of a profile, validated: with `load.sweep`, only the saturation probe (the
/// stages it generates are planned after it ran, `plan_sweep_stages`). `traced`: the sessions
/// of the trace files the coordinator read (OTel trace replay).
pub(crate) fn stage_defs(
    p: &Profile,
    file: &Path,
    traced: Option<u64>,
) -> Result<Vec<StageDef>, ProfileError> {
    let Some(sweep) = &p.load.sweep else {
        return given_stage_defs(p, file, traced);
    };
    crate::saturation_check::check_sweep(p, sweep, file)?;
    if !p.load.stages.is_empty() {
        // inference-perf validates the stages that the generated ones replace.
        given_stage_defs(p, file, traced)?;
    }
    check_load_keys(p, file)?;
    let (load, window) = crate::saturation_check::probe_load(p.load.kind, sweep);
    Ok(vec![StageDef { load, window }])
}

/// The stages the profile lists (or its shorthands give), validated.
fn given_stage_defs(
    p: &Profile,
    file: &Path,
    traced: Option<u64>,
) -> Result<Vec<StageDef>, ProfileError> {
    let invalid = |key: &str, message: String| ProfileError::Invalid {
        file: file.to_path_buf(),
        key: key.to_string(),
        message,
    };
    let l = &p.load;
    let shorthand = l.rates.is_some() || l.concurrencies.is_some();
    if shorthand && !l.stages.is_empty() {
        return Err(invalid(
            "load.stages",
            "give either stages or a sweep shorthand (rates, concurrencies), not both".into(),
        ));
    }
    if l.rates.is_some() && l.concurrencies.is_some() {
        return Err(invalid(
            "load.rates",
            "give rates or concurrencies, not both".into(),
        ));
    }
    let stages = expand_shorthands(l, file)?;
    check_load_keys(p, file)?;
    if stages.is_empty() {
        return Err(invalid(
            "load.stages",
            "at least one stage is required (or a shorthand: rates, concurrencies)".into(),
        ));
    }
    let burstiness = l.burstiness.unwrap_or(1.0);
    if !(burstiness.is_finite() && burstiness > 0.0) {
        return Err(invalid(
            "load.burstiness",
            format!("must be a number > 0, got {burstiness}"),
        ));
    }
    if l.kind == LoadType::TraceSessionReplay {
        return session_defs(p, &stages, file, traced);
    }
    let section = Section {
        l,
        burstiness,
        time_scale: l.time_scale.unwrap_or(1.0),
    };
    (stages.iter().enumerate())
        .map(|(index, s)| {
            let keys = StageKeys {
                file,
                shorthand,
                index,
            };
            stage_def(&section, s, &keys)
        })
        .collect()
}

/// The shorthands (`rates`, `concurrencies`) as stages, so that every stage goes through the
/// same checks; else the stages as given (a trace without stages: the whole trace, once).
fn expand_shorthands(l: &LoadConfig, file: &Path) -> Result<Vec<LoadStage>, ProfileError> {
    if let Some(rates) = &l.rates {
        return Ok(rates
            .iter()
            .map(|&r| LoadStage {
                rate: Some(r),
                duration: if r.is_infinite() {
                    None
                } else {
                    l.stage_duration
                },
                num_requests: l.stage_requests,
                ..empty_stage()
            })
            .collect());
    }
    if let Some(cs) = &l.concurrencies {
        if l.kind != LoadType::Concurrent {
            return Err(ProfileError::Invalid {
                file: file.to_path_buf(),
                key: "load.type".into(),
                message: "the concurrencies shorthand needs load type concurrent".into(),
            });
        }
        return Ok(cs
            .iter()
            .map(|&c| LoadStage {
                concurrency_level: Some(c),
                duration: l.stage_duration,
                num_requests: l.stage_requests,
                ..empty_stage()
            })
            .collect());
    }
    if l.stages.is_empty() && l.kind == LoadType::Trace {
        return Ok(vec![empty_stage()]);
    }
    Ok(l.stages.clone())
}

/// The `load` keys that hold for every stage: `time_scale`, `think_time`, and a trace to replay
/// for `trace_replay`.
fn check_load_keys(p: &Profile, file: &Path) -> Result<(), ProfileError> {
    let invalid = |key: &str, message: String| ProfileError::Invalid {
        file: file.to_path_buf(),
        key: key.to_string(),
        message,
    };
    let l = &p.load;
    if let Some(t) = l.time_scale {
        if l.kind != LoadType::Trace {
            return Err(invalid(
                "load.time_scale",
                "only for load type trace (it scales the trace's timestamps)".into(),
            ));
        }
        if !(t.is_finite() && t > 0.0) {
            return Err(invalid(
                "load.time_scale",
                format!(
                    "must be a number > 0 (2 = half the trace's rate, 0.5 = twice it), got {t}"
                ),
            ));
        }
    }
    if let Some(t) = l.think_time {
        let sessions = matches!(
            p.data.kind,
            DataType::MultiTurn | DataType::ConversationReplay
        );
        if l.kind != LoadType::Concurrent && !sessions {
            return Err(invalid(
                "load.think_time",
                "only for load type concurrent or data type multi_turn or conversation_replay (the wait between a user's answer and its next request)".into(),
            ));
        }
        if !(t.is_finite() && t >= 0.0) {
            return Err(invalid(
                "load.think_time",
                format!("must be a number of seconds ≥ 0, got {t}"),
            ));
        }
        if t > MAX_WAIT_SECONDS {
            return Err(invalid(
                "load.think_time",
                above(t, MAX_WAIT_SECONDS, "seconds (a day)"),
            ));
        }
    }
    if l.kind == LoadType::Trace && p.data.kind != DataType::MooncakeTrace && l.trace.is_none() {
        return Err(invalid(
            "load.type",
            format!(
                "trace_replay replays the timestamps of load.trace (an Azure trace CSV) or of data type mooncake_trace, and neither is given (data.type is {}); allowed load types for it: constant, poisson, gamma, concurrent",
                p.data.kind.name()
            ),
        ));
    }
    Ok(())
}

/// What every stage takes from the `load` section.
struct Section<'a> {
    l: &'a LoadConfig,
    burstiness: f64,
    time_scale: f64,
}

/// How one stage's keys are named in errors: `load.stages.<i>.<field>`, or for a shorthand
/// `load.<field> (stage <i> of the shorthand)`.
struct StageKeys<'a> {
    file: &'a Path,
    shorthand: bool,
    index: usize,
}

impl StageKeys<'_> {
    fn err(&self, field: &str, message: String) -> ProfileError {
        let key = if self.shorthand {
            format!("load.{field} (stage {} of the shorthand)", self.index)
        } else {
            format!("load.stages.{}.{field}", self.index)
        };
        ProfileError::Invalid {
            file: self.file.to_path_buf(),
            key,
            message,
        }
    }

    fn duration(&self) -> &'static str {
        if self.shorthand {
            "stage_duration"
        } else {
            "duration"
        }
    }

    fn count(&self) -> &'static str {
        if self.shorthand {
            "stage_requests"
        } else {
            "num_requests"
        }
    }

    /// `v` when it is absent or a finite number > 0.
    fn positive(&self, v: Option<f64>, field: &str) -> Result<Option<f64>, ProfileError> {
        match v {
            Some(x) if !(x.is_finite() && x > 0.0) => {
                Err(self.err(field, format!("must be a number > 0, got {x}")))
            }
            _ => Ok(v),
        }
    }
}

/// One stage: its duration, count and measured window, then its load by the load type.
fn stage_def(
    sec: &Section<'_>,
    s: &LoadStage,
    keys: &StageKeys<'_>,
) -> Result<StageDef, ProfileError> {
    for (field, set) in [
        ("concurrent_sessions", s.concurrent_sessions.is_some()),
        ("session_rate", s.session_rate.is_some()),
        ("num_sessions", s.num_sessions.is_some()),
        ("timeout", s.timeout.is_some()),
    ] {
        if set {
            return Err(keys.err(
                field,
                "only for load type trace_session_replay (session stages)".into(),
            ));
        }
    }
    let duration = keys.positive(s.duration, keys.duration())?;
    if let Some(d) = duration.filter(|&d| d > MAX_STAGE_SECONDS) {
        return Err(keys.err(
            keys.duration(),
            above(d, MAX_STAGE_SECONDS, "seconds of a stage (a week)"),
        ));
    }
    if let Some(n) = s.num_requests.filter(|&n| n > MAX_STAGE_REQUESTS) {
        return Err(keys.err(
            keys.count(),
            above(n, MAX_STAGE_REQUESTS, "requests of a stage"),
        ));
    }
    let window = stage_window(s, duration, keys)?;
    let load = match sec.l.kind {
        LoadType::Constant | LoadType::Poisson | LoadType::Gamma => {
            rate_load(sec, s, duration, keys)?
        }
        LoadType::Concurrent => concurrent_load(s, duration, keys)?,
        LoadType::Trace => {
            // `rate` is required by inference-perf's stage model and unused by its trace
            // timer: the times come from the trace.
            for (field, given) in [
                ("ramp_to", s.ramp_to.is_some()),
                ("concurrency_level", s.concurrency_level.is_some()),
            ] {
                if given {
                    return Err(keys.err(
                        field,
                        "a trace stage takes its times from the trace: allowed keys duration, num_requests, warmup, cooldown, rate (unused, as in inference-perf) and load.time_scale".into(),
                    ));
                }
            }
            StageLoad::Trace {
                time_scale: sec.time_scale,
                duration_s: duration,
                total: s.num_requests.unwrap_or(u64::MAX),
            }
        }
        // Planned by `session_defs`.
        LoadType::TraceSessionReplay => {
            return Err(keys.err("type", "a session stage is planned apart".into()))
        }
    };
    Ok(StageDef { load, window })
}

/// The measured window: after `warmup`, before `cooldown` (both ≥ 0 and leaving some of the
/// stage); open-ended without a duration.
fn stage_window(
    s: &LoadStage,
    duration: Option<f64>,
    keys: &StageKeys<'_>,
) -> Result<Window, ProfileError> {
    let warmup = s.warmup.unwrap_or(0.0);
    let cooldown = s.cooldown.unwrap_or(0.0);
    for (field, v) in [("warmup", warmup), ("cooldown", cooldown)] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(keys.err(field, format!("must be a number of seconds ≥ 0, got {v}")));
        }
        if v > MAX_STAGE_SECONDS {
            return Err(keys.err(
                field,
                above(v, MAX_STAGE_SECONDS, "seconds of a stage (a week)"),
            ));
        }
    }
    let Some(d) = duration else {
        return Ok(Window {
            start_s: warmup,
            end_s: None,
        });
    };
    if warmup + cooldown >= d {
        return Err(keys.err(
            "warmup",
            format!("warmup {warmup} s + cooldown {cooldown} s leave nothing of the {d} s stage"),
        ));
    }
    Ok(Window {
        start_s: warmup,
        end_s: Some(d - cooldown),
    })
}

/// A constant, Poisson or gamma stage: its rate (a number > 0 or `inf`), ramp and the requests
/// they plan, within the limits.
fn rate_load(
    sec: &Section<'_>,
    s: &LoadStage,
    duration: Option<f64>,
    keys: &StageKeys<'_>,
) -> Result<StageLoad, ProfileError> {
    if s.concurrency_level.is_some() {
        return Err(keys.err("concurrency_level", "only for load type concurrent".into()));
    }
    let Some(Rate(rate)) = s.rate else {
        return Err(keys.err("rate", "required: requests/s (a number > 0) or inf".into()));
    };
    if rate.is_nan() || rate <= 0.0 {
        return Err(keys.err("rate", format!("must be a number > 0 or inf, got {rate}")));
    }
    let ramp_to = keys.positive(s.ramp_to, "ramp_to")?;
    for (field, r) in [("rate", Some(rate)), ("ramp_to", ramp_to)] {
        if let Some(r) = r.filter(|r| r.is_finite() && *r > MAX_STAGE_RATE) {
            return Err(keys.err(
                field,
                above(
                    r,
                    MAX_STAGE_RATE,
                    "requests/s of a stage (one agent core sends about 9,000)",
                ),
            ));
        }
    }
    if let Some(d) = duration.filter(|_| rate.is_finite()) {
        // The requests the rate plans over the stage, in closed form.
        let expected = d * (rate + ramp_to.unwrap_or(rate)) / 2.0;
        let planned = s.num_requests.map_or(expected, |n| expected.min(n as f64));
        if planned > MAX_STAGE_REQUESTS as f64 {
            return Err(keys.err(
                "rate",
                format!(
                    "{rate} requests/s for {d} s plans {planned:.0} requests: {}",
                    above(planned.round(), MAX_STAGE_REQUESTS, "requests of a stage")
                ),
            ));
        }
    }
    if rate.is_infinite() {
        return all_at_once(sec, s, ramp_to, keys);
    }
    let Some(d) = duration else {
        return Err(keys.err(
            keys.duration(),
            "required for a finite rate (seconds)".into(),
        ));
    };
    if ramp_to.is_some() && sec.l.kind == LoadType::Gamma {
        return Err(keys.err("ramp_to", "ramps are for constant and poisson loads".into()));
    }
    Ok(match sec.l.kind {
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
            burstiness: sec.burstiness,
            duration_s: d,
            max_requests: s.num_requests,
        },
    })
}

/// Rate `inf`: a constant load's `num_requests` sent at once, without a ramp.
fn all_at_once(
    sec: &Section<'_>,
    s: &LoadStage,
    ramp_to: Option<f64>,
    keys: &StageKeys<'_>,
) -> Result<StageLoad, ProfileError> {
    if ramp_to.is_some() {
        return Err(keys.err("ramp_to", "a ramp needs a finite rate".into()));
    }
    let Some(n) = s.num_requests else {
        return Err(keys.err(
            keys.count(),
            "required at rate inf: how many requests to send at once".into(),
        ));
    };
    if sec.l.kind != LoadType::Constant {
        return Err(keys.err(
            "rate",
            "rate inf sends everything at once: use load type constant".into(),
        ));
    }
    Ok(StageLoad::Constant {
        rate: f64::INFINITY,
        ramp_to: None,
        duration_s: None,
        total: n,
    })
}

/// A closed-loop stage: its users (1 to the limit) and a count, a duration or both.
fn concurrent_load(
    s: &LoadStage,
    duration: Option<f64>,
    keys: &StageKeys<'_>,
) -> Result<StageLoad, ProfileError> {
    if let Some(n) = s
        .concurrency_level
        .filter(|&n| u64::from(n) > MAX_STAGE_USERS)
    {
        return Err(keys.err(
            "concurrency_level",
            above(
                n,
                MAX_STAGE_USERS,
                "users of a stage (each holds a connection)",
            ),
        ));
    }
    let users = match s.concurrency_level {
        Some(n) if n > 0 => n,
        _ => {
            return Err(keys.err(
                "concurrency_level",
                "required for concurrent loads: an integer ≥ 1".into(),
            ))
        }
    };
    if s.num_requests.is_none() && duration.is_none() {
        return Err(keys.err(
            "num_requests",
            "a concurrent stage needs num_requests, duration or both".into(),
        ));
    }
    if s.rate.is_some() || s.ramp_to.is_some() {
        return Err(keys.err(
            "rate",
            "only for load types constant, poisson and gamma".into(),
        ));
    }
    Ok(StageLoad::Concurrent {
        users,
        num_requests: s.num_requests,
        duration_s: duration,
    })
}

/// The sessions of the data a session stage draws from: conversations, multi-turn users, or
/// shared-prefix groups chatting, the traces read or the agentic sessions generated (`None`:
/// the data has no sessions).
fn session_corpus(p: &Profile, traced: Option<u64>) -> Option<u64> {
    let d = &p.data;
    match d.kind {
        DataType::OtelTraceReplay | DataType::WekaTraceReplay => traced,
        DataType::SyntheticAgentic => traced.or_else(|| {
            let c = d.synthetic_agentic.as_ref()?;
            u64::try_from(c.num_sessions).ok()
        }),
        DataType::ConversationReplay => d
            .conversation_replay
            .as_ref()
            .map(|c| u64::from(c.num_conversations)),
        DataType::MultiTurn => d.multi_turn.as_ref().map(|m| u64::from(m.users)),
        DataType::SharedPrefix => (d.shared_prefix.as_ref())
            .filter(|sp| sp.enable_multi_turn_chat)
            .map(|sp| u64::from(sp.num_groups)),
        _ => None,
    }
}

/// The stages of load type `trace_session_replay`, as inference-perf plans them: each stage
/// takes the next `num_sessions` sessions of the data (all that are left without it), so the
/// stages walk through the data once.
fn session_defs(
    p: &Profile,
    stages: &[LoadStage],
    file: &Path,
    traced: Option<u64>,
) -> Result<Vec<StageDef>, ProfileError> {
    let corpus = session_corpus(p, traced).ok_or_else(|| ProfileError::Invalid {
        file: file.to_path_buf(),
        key: "load.type".into(),
        message: format!(
            "trace_session_replay runs the data's sessions: data types otel_trace_replay, weka_trace_replay, synthetic_agentic, conversation_replay, multi_turn, or shared_prefix with enable_multi_turn_chat; data.type is {}",
            p.data.kind.name()
        ),
    })?;
    let mut cursor = 0u64;
    let mut defs = Vec::with_capacity(stages.len());
    for (index, s) in stages.iter().enumerate() {
        let keys = StageKeys {
            file,
            shorthand: false,
            index,
        };
        let load = session_load(s, &keys, corpus, &mut cursor)?;
        defs.push(StageDef {
            load,
            window: Window {
                start_s: 0.0,
                end_s: None,
            },
        });
    }
    Ok(defs)
}

/// One session stage: `concurrent_sessions` (required, 0 = all at once), `session_rate` (at
/// most the cap, as inference-perf requires), `num_sessions` and `timeout`, the sessions taken
/// from `cursor` on.
fn session_load(
    s: &LoadStage,
    keys: &StageKeys<'_>,
    corpus: u64,
    cursor: &mut u64,
) -> Result<StageLoad, ProfileError> {
    for (field, set) in [
        ("rate", s.rate.is_some()),
        ("ramp_to", s.ramp_to.is_some()),
        ("duration", s.duration.is_some()),
        ("concurrency_level", s.concurrency_level.is_some()),
        ("num_requests", s.num_requests.is_some()),
        ("warmup", s.warmup.is_some()),
        ("cooldown", s.cooldown.is_some()),
    ] {
        if set {
            return Err(keys.err(
                field,
                "a session stage (trace_session_replay) takes concurrent_sessions, session_rate, num_sessions and timeout".into(),
            ));
        }
    }
    let concurrent = s.concurrent_sessions.ok_or_else(|| {
        keys.err(
            "concurrent_sessions",
            "required for load type trace_session_replay: sessions active at once (0: all at once)"
                .into(),
        )
    })?;
    if u64::from(concurrent) > MAX_STAGE_USERS {
        return Err(keys.err(
            "concurrent_sessions",
            above(concurrent, MAX_STAGE_USERS, "sessions of a stage at once"),
        ));
    }
    let session_rate = keys.positive(s.session_rate, "session_rate")?;
    if let Some(r) = session_rate {
        if concurrent > 0 && r > f64::from(concurrent) {
            return Err(keys.err(
                "session_rate",
                format!("{r} sessions/s cannot exceed concurrent_sessions ({concurrent}): sessions cannot start faster than the concurrency limit allows"),
            ));
        }
        if r > MAX_STAGE_RATE {
            return Err(keys.err(
                "session_rate",
                above(r, MAX_STAGE_RATE, "sessions/s of a stage"),
            ));
        }
    }
    if s.num_sessions == Some(0) {
        return Err(keys.err("num_sessions", "must be ≥ 1".into()));
    }
    let timeout_s = keys.positive(s.timeout, "timeout")?;
    if let Some(t) = timeout_s.filter(|&t| t > MAX_STAGE_SECONDS) {
        return Err(keys.err(
            "timeout",
            above(t, MAX_STAGE_SECONDS, "seconds of a stage (a week)"),
        ));
    }
    let left = corpus.saturating_sub(*cursor);
    if left == 0 {
        return Err(keys.err(
            "num_sessions",
            format!("no session is left for this stage: the data has {corpus} sessions and the stages before took them all"),
        ));
    }
    let sessions = s.num_sessions.map_or(left, |n| n.min(left));
    let first_session = *cursor;
    *cursor += sessions;
    Ok(StageLoad::Sessions {
        concurrent,
        session_rate,
        first_session,
        sessions,
        timeout_s,
    })
}

pub(crate) fn empty_stage() -> LoadStage {
    LoadStage {
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
