//! Checks that a parsed profile describes something fleetbench can run, with errors that name
//! the key and what is allowed.

use crate::data::azure::read_azure_trace;
use crate::data::files::{read_mooncake, read_sharegpt, resolve_data_path, Dataset, DatasetError};
use crate::data::hub::{HubEnv, SHAREGPT_FILE, SHAREGPT_REPO};
use crate::data::hub_dataset::DatasetRef;
use crate::data::text_datasets::{read_text_dataset, with_default_output, TextDataset, TextSource};
use crate::data::tokenizer::ModelTokenizer;
use crate::distribution::check_distribution;
use crate::error::ProfileError;
use crate::limits::{
    above, MAX_GROUPS, MAX_REQUEST_TOKENS, MAX_ROUNDS, MAX_STAGE_USERS, MAX_WAIT_SECONDS,
    MAX_WEIGHT,
};
use crate::model::{DataType, Distribution, Profile};
use fleetbench_model::data::{LengthDist, PromptEntry};
use std::path::{Path, PathBuf};

/// Every rule a parsed profile must meet, in the order their errors take precedence.
pub(super) fn validate(p: &Profile, file: &Path) -> Result<(), ProfileError> {
    check_telemetry_interval(p, file)?;
    check_goodput(p, file)?;
    check_slo(p, file)?;
    crate::synthetic_agentic_check::check(p, file)?;
    crate::client_cert::client_cert(p, file)?;
    note_worker_keys(p, file);
    check_load_interval(p, file)?;
    crate::inference_perf::validate_sections(p, file)?;
    crate::storage_check::validate_storage(p, file)?;

    crate::data::chat_template::check(p, file)?;
    validate_data(p, file)?;
    crate::otel_check::check(p, file)?;
    crate::weka_check::check(p, file)?;
    crate::visionarena_check::check(p, file)?;
    crate::multimodal_check::check(p, file)?;
    validate_lora_split(p, file)?;
    validate_hosts(p, file)?;

    // Trace replays: the stages take the sessions of the traces, checked once they are read.
    if !matches!(
        p.data.kind,
        DataType::OtelTraceReplay | DataType::WekaTraceReplay
    ) {
        crate::plan::stages::stage_defs(p, file, None)?;
    }
    check_waits(p, file)?;
    check_base_url(p, file)?;
    check_weights(p, file)
}

/// An error naming the file, the key and what is wrong.
fn invalid(file: &Path, key: &str, message: String) -> ProfileError {
    ProfileError::Invalid {
        file: file.to_path_buf(),
        key: key.to_string(),
        message,
    }
}

/// `telemetry.interval`: seconds from 0.01 to 60.
fn check_telemetry_interval(p: &Profile, file: &Path) -> Result<(), ProfileError> {
    let invalid = |key: &str, message: String| invalid(file, key, message);
    if let Some(i) = p.telemetry.and_then(|t| t.interval) {
        if !(i.is_finite() && (0.01..=60.0).contains(&i)) {
            return Err(invalid(
                "telemetry.interval",
                format!("must be a number of seconds from 0.01 to 60, got {i}"),
            ));
        }
    }
    Ok(())
}

/// `report.goodput.constraints`: objectives the agents can check.
fn check_goodput(p: &Profile, file: &Path) -> Result<(), ProfileError> {
    let invalid = |key: &str, message: String| invalid(file, key, message);
    if let Some(g) = p.report.as_ref().and_then(|r| r.goodput.as_ref()) {
        fleetbench_model::measure::goodput::GoodputSlo::from_constraints(&g.constraints)
            .map_err(|(key, message)| invalid(&key, message))?;
    }
    Ok(())
}

/// `slo`: known metrics and statistics, bounds in ms above 0.
fn check_slo(p: &Profile, file: &Path) -> Result<(), ProfileError> {
    let invalid = |key: &str, message: String| invalid(file, key, message);
    const SLO_METRICS: [&str; 5] = ["ttft_ms", "tpot_ms", "itl_ms", "ntpot_ms", "e2e_ms"];
    const SLO_STATS: [&str; 7] = ["mean", "p50", "p75", "p90", "p95", "p99", "p99p9"];
    for (metric, stats) in &p.slo {
        if !SLO_METRICS.contains(&metric.as_str()) {
            return Err(invalid(
                &format!("slo.{metric}"),
                format!("unknown SLO metric; allowed: {}", SLO_METRICS.join(", ")),
            ));
        }
        for (stat, bound) in stats {
            if !SLO_STATS.contains(&stat.as_str()) {
                return Err(invalid(
                    &format!("slo.{metric}.{stat}"),
                    format!("unknown statistic; allowed: {}", SLO_STATS.join(", ")),
                ));
            }
            if !(bound.is_finite() && *bound > 0.0) {
                return Err(invalid(
                    &format!("slo.{metric}.{stat}"),
                    format!("must be a number of ms > 0, got {bound}"),
                ));
            }
        }
    }
    Ok(())
}

/// inference-perf's worker keys: accepted, said to be ignored.
fn note_worker_keys(p: &Profile, file: &Path) {
    for (key, set) in [
        ("load.num_workers", p.load.num_workers.is_some()),
        (
            "load.worker_max_concurrency",
            p.load.worker_max_concurrency.is_some(),
        ),
        (
            "load.worker_max_tcp_connections",
            p.load.worker_max_tcp_connections.is_some(),
        ),
    ] {
        if set {
            tracing::info!(
                "{}: `{key}` tunes inference-perf's Python workers; fleetbench agents ignore it",
                file.display()
            );
        }
    }
}

/// `load.interval`: the wait between stages, 0 to a day.
fn check_load_interval(p: &Profile, file: &Path) -> Result<(), ProfileError> {
    let invalid = |key: &str, message: String| invalid(file, key, message);
    if let Some(i) = p.load.interval {
        if !(i.is_finite() && (0.0..=MAX_WAIT_SECONDS).contains(&i)) {
            return Err(invalid(
                "load.interval",
                format!("the wait between stages is a number of seconds from 0 to {MAX_WAIT_SECONDS}, got {i}"),
            ));
        }
    }
    Ok(())
}

/// Timeouts, the grace period and the snapshot interval: seconds above 0, at most a day.
fn check_waits(p: &Profile, file: &Path) -> Result<(), ProfileError> {
    let invalid = |key: &str, message: String| invalid(file, key, message);
    for (key, v) in [
        ("load.request_timeout", p.load.request_timeout),
        ("load.first_byte_timeout", p.load.first_byte_timeout),
        ("load.idle_timeout", p.load.idle_timeout),
        ("load.grace_period", p.load.grace_period),
        ("fleet.snapshot_interval", p.fleet.snapshot_interval),
    ] {
        if let Some(v) = v {
            if !(v.is_finite() && v > 0.0) {
                return Err(invalid(
                    key,
                    format!("must be a number of seconds > 0, got {v}"),
                ));
            }
            if v > MAX_WAIT_SECONDS {
                return Err(invalid(key, above(v, MAX_WAIT_SECONDS, "seconds (a day)")));
            }
        }
    }
    Ok(())
}

/// `server.base_url`: an http:// or https:// URL.
fn check_base_url(p: &Profile, file: &Path) -> Result<(), ProfileError> {
    let invalid = |key: &str, message: String| invalid(file, key, message);
    if !(p.server.base_url.starts_with("http://") || p.server.base_url.starts_with("https://")) {
        return Err(invalid(
            "server.base_url",
            format!(
                "must start with http:// or https://, got {:?}",
                p.server.base_url
            ),
        ));
    }
    Ok(())
}

/// `fleet.weights`: named, and at most the largest weight.
fn check_weights(p: &Profile, file: &Path) -> Result<(), ProfileError> {
    let invalid = |key: &str, message: String| invalid(file, key, message);
    for (role, &w) in &p.fleet.weights {
        if role.is_empty() {
            return Err(invalid(
                "fleet.weights",
                "a weight needs a role or agent name".into(),
            ));
        }
        if w > MAX_WEIGHT {
            return Err(invalid(
                &format!("fleet.weights.{role}"),
                above(
                    w,
                    MAX_WEIGHT,
                    "(weights are proportions: the request stripe has Σ weights slots)",
                ),
            ));
        }
    }
    Ok(())
}

/// `load.lora_traffic_split`: inference-perf's `[{name, split}]`, the same mix as `data.lora_mix`
/// (only one of them).
fn validate_lora_split(p: &Profile, file: &Path) -> Result<(), ProfileError> {
    let invalid = |key: &str, message: String| ProfileError::Invalid {
        file: file.to_path_buf(),
        key: key.to_string(),
        message,
    };
    let Some(split) = &p.load.lora_traffic_split else {
        return Ok(());
    };
    if p.data.lora_mix.is_some() {
        return Err(invalid(
            "load.lora_traffic_split",
            "and data.lora_mix both give a LoRA mix: keep one".into(),
        ));
    }
    if split.is_empty() {
        return Err(invalid(
            "load.lora_traffic_split",
            "give at least one adapter: [{name: NAME, split: SHARE}, ...]".into(),
        ));
    }
    for (i, s) in split.iter().enumerate() {
        if s.name.is_empty() {
            return Err(invalid(
                &format!("load.lora_traffic_split.{i}.name"),
                "an adapter (or model) name is required".into(),
            ));
        }
        if split[..i].iter().any(|o| o.name == s.name) {
            return Err(invalid(
                &format!("load.lora_traffic_split.{i}.name"),
                format!("adapter `{}` is listed twice", s.name),
            ));
        }
        if !(s.split.is_finite() && s.split >= 0.0) {
            return Err(invalid(
                &format!("load.lora_traffic_split.{i}.split"),
                format!(
                    "a split is a number ≥ 0 (a share of the requests), got {}",
                    s.split
                ),
            ));
        }
    }
    if split.iter().map(|s| s.split).sum::<f64>() <= 0.0 {
        return Err(invalid(
            "load.lora_traffic_split",
            "every split is 0: at least one must be > 0".into(),
        ));
    }
    Ok(())
}

/// `fleet.hosts`: one entry per host group (`role` replica, prefill or decode; without a role,
/// every group), with parallelism degrees ≥ 1.
fn validate_hosts(p: &Profile, file: &Path) -> Result<(), ProfileError> {
    const ROLES: [&str; 3] = ["replica", "prefill", "decode"];
    let Some(hosts) = &p.fleet.hosts else {
        return Ok(());
    };
    let invalid = |key: String, message: String| ProfileError::Invalid {
        file: file.to_path_buf(),
        key,
        message,
    };
    for (i, h) in hosts.iter().enumerate() {
        if let Some(agents) = &h.agents {
            if !matches!(h.role.as_deref(), Some("prefill" | "decode")) {
                return Err(invalid(
                    format!("fleet.hosts.{i}.agents"),
                    "names the agents of a prefill or decode group: give the entry role prefill or decode (a replica group is every agent)".into(),
                ));
            }
            for (j, a) in agents.iter().enumerate() {
                let earlier = hosts[..i]
                    .iter()
                    .flat_map(|o| o.agents.iter().flatten())
                    .chain(&agents[..j]);
                if a.is_empty() || earlier.clone().any(|b| b == a) {
                    return Err(invalid(
                        format!("fleet.hosts.{i}.agents.{j}"),
                        format!("{a:?}: an agent name, once in all of fleet.hosts"),
                    ));
                }
            }
        }
        for (j, url) in h.engine_metrics.iter().flatten().enumerate() {
            let host = url.strip_prefix("http://").unwrap_or("");
            if host.is_empty() || host.starts_with('/') {
                return Err(invalid(
                    format!("fleet.hosts.{i}.engine_metrics.{j}"),
                    format!("{url:?}: expected a plain-HTTP Prometheus endpoint, http://HOST:PORT/metrics"),
                ));
            }
        }
        if let Some(role) = &h.role {
            if !ROLES.contains(&role.as_str()) {
                return Err(invalid(
                    format!("fleet.hosts.{i}.role"),
                    format!("unknown host group {role:?}; allowed: {}", ROLES.join(", ")),
                ));
            }
        }
        if hosts[..i].iter().any(|o| o.role == h.role) {
            return Err(invalid(
                format!("fleet.hosts.{i}.role"),
                format!(
                    "a second entry for {}; one entry per host group",
                    h.role.as_deref().unwrap_or("every group (no role)")
                ),
            ));
        }
        if let Some(par) = &h.parallelism {
            for (k, v) in [
                ("dp", par.dp),
                ("tp", par.tp),
                ("pp", par.pp),
                ("ep", par.ep),
            ] {
                if v == Some(0) {
                    return Err(invalid(
                        format!("fleet.hosts.{i}.parallelism.{k}"),
                        "a degree of parallelism is ≥ 1".into(),
                    ));
                }
            }
        }
    }
    if hosts.len() > 1 && hosts.iter().any(|h| h.role.is_none()) {
        return Err(invalid(
            "fleet.hosts".into(),
            "an entry without a role describes every host group: give each entry a role (replica, prefill, decode) or keep one entry".into(),
        ));
    }
    Ok(())
}

/// The `data` section: which keys each data type reads, then the type's own checks.
fn validate_data(p: &Profile, file: &Path) -> Result<(), ProfileError> {
    let invalid = |key: &str, message: String| ProfileError::Invalid {
        file: file.to_path_buf(),
        key: key.to_string(),
        message,
    };
    let d = &p.data;
    let needs_file = matches!(d.kind, DataType::ShareGpt | DataType::MooncakeTrace)
        || text_dataset(d.kind).is_some();
    if d.path.is_some() && !needs_file {
        return Err(invalid(
            "data.path",
            "is only read by data types shareGPT, cnn_dailymail, billsum_conversations, infinity_instruct and mooncake_trace".into(),
        ));
    }
    if d.shared_prefix.is_some() && d.kind != DataType::SharedPrefix {
        return Err(invalid(
            "data.shared_prefix",
            "is only read by data type shared_prefix".into(),
        ));
    }
    if d.conversation_replay.is_some() && d.kind != DataType::ConversationReplay {
        return Err(invalid(
            "data.conversation_replay",
            "is only read by data type conversation_replay".into(),
        ));
    }
    if d.multi_turn.is_some() && d.kind != DataType::MultiTurn {
        return Err(invalid(
            "data.multi_turn",
            "is only read by data type multi_turn".into(),
        ));
    }
    if let Some(mix) = &d.lora_mix {
        check_lora_mix(mix, &invalid)?;
    }
    validate_data_kind(p, file, &invalid)
}

/// `data.lora_mix`: at least one adapter, weights ≥ 0, not all 0.
fn check_lora_mix(
    mix: &std::collections::BTreeMap<String, f64>,
    invalid: &Invalid<'_>,
) -> Result<(), ProfileError> {
    if mix.is_empty() {
        return Err(invalid(
            "data.lora_mix",
            "give at least one adapter: {name: weight, ...}".into(),
        ));
    }
    for (name, w) in mix {
        if !(w.is_finite() && *w >= 0.0) {
            return Err(invalid(
                &format!("data.lora_mix.{name}"),
                format!("a weight is a number ≥ 0, got {w}"),
            ));
        }
    }
    if mix.values().sum::<f64>() <= 0.0 {
        return Err(invalid(
            "data.lora_mix",
            "every weight is 0: at least one must be > 0".into(),
        ));
    }
    Ok(())
}

/// The checks of each data type; `input_distribution`/`output_distribution` where the type
/// does not read them are errors that say where its lengths come from.
fn validate_data_kind(p: &Profile, file: &Path, invalid: &Invalid<'_>) -> Result<(), ProfileError> {
    let d = &p.data;
    let no_io_lengths = |instead: &str| {
        for (key, set) in [
            ("data.input_distribution", d.input_distribution.is_some()),
            ("data.output_distribution", d.output_distribution.is_some()),
        ] {
            if set {
                return Err(invalid(
                    key,
                    format!("is not used by data type {}; {instead}", d.kind.name()),
                ));
            }
        }
        Ok(())
    };
    match d.kind {
        DataType::MultiTurn => {
            let mt = d.multi_turn.as_ref().ok_or_else(|| {
                invalid(
                    "data.multi_turn",
                    "required for data type multi_turn: {users, rounds, system_prompt_len, question_len, answer_len, history: carry | none}".into(),
                )
            })?;
            for (key, v) in [
                ("data.multi_turn.users", Some(mt.users)),
                ("data.multi_turn.rounds", Some(mt.rounds)),
                ("data.multi_turn.question_len", mt.question_len),
                ("data.multi_turn.answer_len", mt.answer_len),
            ] {
                if v == Some(0) {
                    return Err(invalid(key, "must be ≥ 1".into()));
                }
            }
            check_multi_turn_sizes(mt, invalid)?;
            no_io_lengths("give lengths in data.multi_turn (question_len, answer_len)")
        }
        DataType::Random | DataType::Synthetic if d.trace.is_none() => {
            for (key, dist) in [
                ("data.input_distribution", &d.input_distribution),
                ("data.output_distribution", &d.output_distribution),
            ] {
                let dist = dist.as_ref().ok_or_else(|| {
                    invalid(
                        key,
                        "required for data type random: {type (normal | fixed | uniform | lognormal | skew_normal | poisson), min, max, mean, std_dev, total_count}"
                            .into(),
                    )
                })?;
                check_distribution(key, dist, file)?;
            }
            Ok(())
        }
        DataType::Random | DataType::Synthetic => {
            no_io_lengths("with data.trace the lengths come from the trace")
        }
        DataType::SharedPrefix => {
            no_io_lengths("give lengths in data.shared_prefix (question_len, output_len: tokens or a distribution)")?;
            let sp = d.shared_prefix.as_ref().ok_or_else(|| {
                invalid(
                    "data.shared_prefix",
                    "required for data type shared_prefix: {num_groups, num_prompts_per_group, system_prompt_len, question_len, output_len}".into(),
                )
            })?;
            check_shared_prefix(sp, file, invalid)
        }
        DataType::ConversationReplay => {
            no_io_lengths("give lengths in data.conversation_replay (input_tokens_per_turn, output_tokens_per_turn)")?;
            let c = d.conversation_replay.as_ref().ok_or_else(|| {
                invalid(
                    "data.conversation_replay",
                    "required for data type conversation_replay: {seed, num_conversations, shared_system_prompt_len, dynamic_system_prompt_len, turns_per_conversation, input_tokens_per_turn, output_tokens_per_turn, tool_call_latency_sec, max_model_len}".into(),
                )
            })?;
            check_conversation_replay(c, file)
        }
        DataType::OtelTraceReplay | DataType::WekaTraceReplay => {
            no_io_lengths("lengths come from the traces' recorded calls")
        }
        DataType::SyntheticAgentic => no_io_lengths(
            "give lengths in data.synthetic_agentic (input_tokens_per_turn, output_tokens_per_turn)",
        ),
        DataType::Mock => no_io_lengths("mock prompts are `1 2 3 <i>` (completion) or `mock prompt <i>` (chat), as inference-perf's"),
        DataType::CnnDailymail | DataType::BillsumConversations | DataType::InfinityInstruct => {
            check_text_dataset(p, invalid)?;
            check_length_bounds(p, file)
        }
        DataType::ShareGpt => check_length_bounds(p, file),
        DataType::Visionarena => no_io_lengths(
            "prompts are the dataset's first user turns, with inference-perf's default of 30 output tokens",
        ),
        DataType::MooncakeTrace => {
            if d.path.is_none() {
                return Err(invalid(
                    "data.path",
                    "required for data type mooncake_trace: a Mooncake trace JSONL file, e.g. profiles/data/mooncake_sample.jsonl".into(),
                ));
            }
            no_io_lengths("lengths come from the dataset file")
        }
    }
}

/// The checks of `data.conversation_replay`: sizes within fleetbench's limits, distributions
/// sane (the upper bound of each is what a request may carry).
fn check_conversation_replay(
    c: &crate::model::ConversationReplayConfig,
    file: &Path,
) -> Result<(), ProfileError> {
    let invalid = |key: &str, message: String| ProfileError::Invalid {
        file: file.to_path_buf(),
        key: format!("data.conversation_replay.{key}"),
        message,
    };
    if c.num_conversations == 0 {
        return Err(invalid("num_conversations", "must be ≥ 1".into()));
    }
    if u64::from(c.num_conversations) > MAX_STAGE_USERS {
        return Err(invalid(
            "num_conversations",
            above(c.num_conversations, MAX_STAGE_USERS, "conversations"),
        ));
    }
    let dists = [
        (
            "dynamic_system_prompt_len",
            &c.dynamic_system_prompt_len,
            MAX_REQUEST_TOKENS,
            "tokens",
        ),
        (
            "turns_per_conversation",
            &c.turns_per_conversation,
            MAX_ROUNDS,
            "turns",
        ),
        (
            "input_tokens_per_turn",
            &c.input_tokens_per_turn,
            MAX_REQUEST_TOKENS,
            "tokens",
        ),
        (
            "output_tokens_per_turn",
            &c.output_tokens_per_turn,
            MAX_REQUEST_TOKENS,
            "tokens",
        ),
        (
            "tool_call_latency_sec",
            &c.tool_call_latency_sec,
            MAX_WAIT_SECONDS as u64,
            "seconds",
        ),
    ];
    for (key, d, limit, unit) in dists {
        let Some(d) = d else { continue };
        check_distribution(&format!("data.conversation_replay.{key}"), d, file)?;
        let top = longest(d);
        if top > limit {
            return Err(invalid(key, above(top, limit, unit)));
        }
    }
    if u64::from(c.shared_system_prompt_len) > MAX_REQUEST_TOKENS {
        return Err(invalid(
            "shared_system_prompt_len",
            above(c.shared_system_prompt_len, MAX_REQUEST_TOKENS, "tokens"),
        ));
    }
    // What the seed draws, not the distributions' worst case: the conversations are drawn once
    // by the coordinator and every turn's lengths travel to every agent.
    let limit = crate::model::MAX_CONVERSATION_TURNS;
    if u64::from(c.num_conversations) > limit {
        return Err(invalid(
            "num_conversations",
            above(
                c.num_conversations,
                limit,
                "conversations (each has a turn at least)",
            ),
        ));
    }
    let mut rng = crate::data::draw::conversation_rng(c);
    let turns: u64 = crate::data::draw::turn_counts(c, &mut rng)
        .iter()
        .map(|&t| u64::from(t))
        .sum();
    if turns > limit {
        return Err(invalid(
            "num_conversations",
            format!(
                "{} conversations drawn with seed {} have {turns} turns: above the limit {limit} turns in all (each turn's lengths travel to every agent)",
                c.num_conversations, c.seed
            ),
        ));
    }
    match c.max_model_len {
        Some(0) => Err(invalid("max_model_len", "must be ≥ 1".into())),
        Some(n) if u64::from(n) > MAX_REQUEST_TOKENS => Err(invalid(
            "max_model_len",
            above(n, MAX_REQUEST_TOKENS, "tokens"),
        )),
        _ => Ok(()),
    }
}

/// The largest value a length distribution can take: a fixed length's mean, else its max
/// (each checked against the limit).
fn longest(d: &Distribution) -> u64 {
    if d.shape() == LengthDist::Fixed {
        return d.center().max(0.0) as u64;
    }
    u64::from(d.hi())
}

type Invalid<'a> = dyn Fn(&str, String) -> ProfileError + 'a;

/// A shared-prefix section: counts ≥ 1, each length a number of tokens or a distribution (a
/// number with a legacy `*_distribution` takes the distribution, an inline one with it is an
/// error, as in inference-perf), and the tokens of one prompt (system prompt + question).
fn check_shared_prefix(
    sp: &crate::model::SharedPrefixConfig,
    file: &Path,
    invalid: &Invalid<'_>,
) -> Result<(), ProfileError> {
    let tokens = "tokens of a request (2^20, the longest context windows)";
    for (key, v) in [
        ("data.shared_prefix.num_groups", sp.num_groups),
        (
            "data.shared_prefix.num_prompts_per_group",
            sp.num_prompts_per_group,
        ),
    ] {
        if v == 0 {
            return Err(invalid(key, "must be ≥ 1".into()));
        }
        if u64::from(v) > MAX_GROUPS {
            return Err(invalid(key, above(v, MAX_GROUPS, "")));
        }
    }
    let lengths = [
        ("system_prompt_len", &sp.system_prompt_len, None, true),
        (
            "question_len",
            &sp.question_len,
            sp.question_distribution.as_ref(),
            false,
        ),
        (
            "output_len",
            &sp.output_len,
            sp.output_distribution.as_ref(),
            false,
        ),
    ];
    let mut longest_len = [0u64; 3];
    for (i, (name, len, legacy, zero_ok)) in lengths.into_iter().enumerate() {
        let key = format!("data.shared_prefix.{name}");
        let legacy_key = format!(
            "data.shared_prefix.{}_distribution",
            &name[..name.len() - 4]
        );
        match (len, legacy) {
            (crate::model::LenOrDist::Dist(_), Some(_)) => {
                return Err(invalid(
                    &legacy_key,
                    format!("give either an inline distribution on {name} or this one, not both"),
                ))
            }
            (crate::model::LenOrDist::Dist(d), None) => check_distribution(&key, d, file)?,
            (crate::model::LenOrDist::Tokens(_), Some(d)) => {
                check_distribution(&legacy_key, d, file)?
            }
            (crate::model::LenOrDist::Tokens(n), None) => {
                if *n == 0 && !zero_ok {
                    return Err(invalid(&key, "must be ≥ 1".into()));
                }
                if u64::from(*n) > MAX_REQUEST_TOKENS {
                    return Err(invalid(&key, above(*n, MAX_REQUEST_TOKENS, tokens)));
                }
            }
        }
        longest_len[i] = match (len, legacy) {
            (_, Some(d)) | (crate::model::LenOrDist::Dist(d), None) => longest(d),
            (crate::model::LenOrDist::Tokens(n), None) => u64::from(*n),
        };
    }
    if sp.enable_multi_turn_chat {
        if sp.system_prompt_len.dist().is_some() {
            return Err(invalid(
                "data.shared_prefix.system_prompt_len",
                "with enable_multi_turn_chat give a number of tokens: every session's system prompt has this length".into(),
            ));
        }
        let sessions = crate::model::MultiTurnConfig {
            users: sp.num_groups,
            rounds: sp.num_prompts_per_group,
            system_prompt_len: longest_len[0] as u32,
            question_len: Some(longest_len[1].min(u64::from(u32::MAX)) as u32),
            answer_len: Some(longest_len[2].min(u64::from(u32::MAX)) as u32),
            history: crate::model::History::Carry,
        };
        return check_multi_turn_sizes(&sessions, invalid);
    }
    let prompt = longest_len[0] + longest_len[1];
    if prompt > MAX_REQUEST_TOKENS {
        return Err(invalid(
            "data.shared_prefix.system_prompt_len",
            format!(
                "the longest system prompt and question make prompts of {prompt} tokens: {}",
                above(prompt, MAX_REQUEST_TOKENS, tokens)
            ),
        ));
    }
    Ok(())
}

/// Multi-turn users and rounds, and the tokens of a session's last prompt (with its history).
fn check_multi_turn_sizes(
    mt: &crate::model::MultiTurnConfig,
    invalid: &Invalid<'_>,
) -> Result<(), ProfileError> {
    if u64::from(mt.users) > MAX_STAGE_USERS {
        return Err(invalid(
            "data.multi_turn.users",
            above(mt.users, MAX_STAGE_USERS, "users"),
        ));
    }
    if u64::from(mt.rounds) > MAX_ROUNDS {
        return Err(invalid(
            "data.multi_turn.rounds",
            above(mt.rounds, MAX_ROUNDS, "rounds of a session"),
        ));
    }
    let (q, a) = (
        u64::from(mt.question_len.unwrap_or(64)),
        u64::from(mt.answer_len.unwrap_or(128)),
    );
    let carried = if mt.history == crate::model::History::Carry {
        u64::from(mt.rounds.saturating_sub(1)) * (q + a)
    } else {
        0
    };
    let last = u64::from(mt.system_prompt_len) + carried + q;
    if last > MAX_REQUEST_TOKENS || a > MAX_REQUEST_TOKENS {
        let (key, v) = if a > MAX_REQUEST_TOKENS {
            ("data.multi_turn.answer_len", a)
        } else {
            ("data.multi_turn.rounds", last)
        };
        return Err(invalid(
            key,
            format!(
                "a session's longest request has {v} tokens (system prompt, {} earlier rounds of question + answer, the question): {}",
                if carried > 0 { mt.rounds - 1 } else { 0 },
                above(v, MAX_REQUEST_TOKENS, "tokens of a request (2^20)")
            ),
        ));
    }
    Ok(())
}

/// Reads the dataset of a profile: `data.path` of a `shareGPT` or `mooncake_trace` profile
/// (relative paths: from the working directory, else from the profile's directory), ShareGPT
/// without a path from inference-perf's default Hub dataset (into the HF cache, once), or the
/// Azure trace of `load.trace` / `data.trace`.
pub(super) fn read_dataset(
    p: &Profile,
    file: &Path,
    tokenizer: Option<&ModelTokenizer>,
) -> Result<Option<Dataset>, ProfileError> {
    // inference-perf's counts of a dataset's prompts and answers (`encode`, `count_tokens`): with
    // the special tokens the tokenizer adds, none for an empty text.
    let count = tokenizer.map(|t| move |s: &str| t.count_as_inference_perf(s));
    let count: Option<&dyn Fn(&str) -> u32> = count.as_ref().map(|f| f as &dyn Fn(&str) -> u32);
    let failed = |key: &str, e: DatasetError| dataset_failed(file, key, e);
    if let Some((key, trace)) = azure_trace(p, file)? {
        let resolved = resolve_data_path(&trace.file, file);
        return read_azure_trace(&resolved)
            .map(|t| Some(Dataset::Trace(t)))
            .map_err(|e| failed(key, e));
    }
    let chat = p.api.kind == fleetbench_model::settings::ApiType::Chat;
    if let (None, Some(kind)) = (p.data.path.as_deref(), text_dataset(p.data.kind)) {
        // cnn_dailymail's default (the others require data.path, checked before).
        return read_hub_text_dataset(p, file, kind, chat, count).map(Some);
    }
    let resolved = match (p.data.path.as_deref(), p.data.kind) {
        (Some(path), _) => resolve_data_path(path, file),
        (None, DataType::ShareGpt) => HubEnv::from_env()
            .dataset_file(SHAREGPT_REPO, SHAREGPT_FILE)
            .map_err(|message| ProfileError::Invalid {
                file: file.to_path_buf(),
                key: "data.type".into(),
                message: format!(
                    "shareGPT without data.path reads inference-perf's default: {message}; or give data.path"
                ),
            })?,
        (None, _) => return Ok(None),
    };
    let read = match (p.data.kind, text_dataset(p.data.kind)) {
        (_, Some(kind)) => read_text_dataset(kind, &TextSource::Path(&resolved), chat, count)
            .and_then(|e| dataset_in_lengths(p, e, &resolved))
            .map(|e| Dataset::Prompts(with_default_output(e))),
        (DataType::ShareGpt, _) => read_sharegpt(&resolved, count)
            .and_then(|e| dataset_in_lengths(p, e, &resolved).map(Dataset::Prompts)),
        (DataType::MooncakeTrace, _) => read_mooncake(&resolved).map(Dataset::Trace),
        _ => return Ok(None),
    };
    read.map(Some).map_err(|e| failed("data.path", e))
}

/// A text dataset without `data.path`: cnn_dailymail's default split from the Hub (into the HF
/// cache, as far as [`MAX_ROWS`](crate::data::text_datasets::MAX_ROWS) rows need).
fn read_hub_text_dataset(
    p: &Profile,
    file: &Path,
    kind: TextDataset,
    chat: bool,
    count: Option<&dyn Fn(&str) -> u32>,
) -> Result<Dataset, ProfileError> {
    let hub = HubEnv::from_env();
    let split = hub
        .split_files(&cnn_dailymail_default())
        .map_err(|message| ProfileError::Invalid {
            file: file.to_path_buf(),
            key: "data.type".into(),
            message: format!(
                "cnn_dailymail without data.path reads inference-perf's default: {message}; or give data.path"
            ),
        })?;
    let shown = PathBuf::from(&split.what);
    read_text_dataset(kind, &TextSource::Hub(split), chat, count)
        .and_then(|e| dataset_in_lengths(p, e, &shown))
        .map(|e| Dataset::Prompts(with_default_output(e)))
        .map_err(|e| dataset_failed(file, "data.type", e))
}

/// A dataset that could not be read, as the profile's error at `key`.
fn dataset_failed(file: &Path, key: &str, e: DatasetError) -> ProfileError {
    ProfileError::Invalid {
        file: file.to_path_buf(),
        key: key.into(),
        message: format!("{}: {}", e.path.display(), e.message),
    }
}

/// inference-perf's use of `input_distribution`/`output_distribution` with a dataset (shareGPT
/// and the text datasets): on the completion API only the rows whose prompt and answer lengths
/// (tokens) lie within `[min, max]` of each are sent (the other keys of the distributions are
/// unused); the chat API sends every row, as inference-perf's chat paths do.
fn dataset_in_lengths(
    p: &Profile,
    entries: Vec<PromptEntry>,
    path: &Path,
) -> Result<Vec<PromptEntry>, DatasetError> {
    let d = &p.data;
    if p.api.kind != fleetbench_model::settings::ApiType::Completion
        || (d.input_distribution.is_none() && d.output_distribution.is_none())
    {
        return Ok(entries);
    }
    let within = |dist: &Option<Distribution>, n: u32| {
        dist.as_ref().is_none_or(|x| (x.lo()..=x.hi()).contains(&n))
    };
    let total = entries.len();
    let kept: Vec<_> = entries
        .into_iter()
        .filter(|e| {
            let input = e
                .input_tokens
                .unwrap_or_else(|| fleetbench_model::tokenize::count_words(&e.prompt) as u32);
            within(&d.input_distribution, input) && within(&d.output_distribution, e.output_tokens)
        })
        .collect();
    if kept.is_empty() {
        let range = |dist: &Option<Distribution>| {
            dist.as_ref()
                .map_or("any".to_string(), |x| format!("[{}, {}]", x.lo(), x.hi()))
        };
        return Err(DatasetError {
            path: path.to_path_buf(),
            message: format!(
                "none of its {total} usable rows has a prompt of data.input_distribution's {} tokens and an answer of data.output_distribution's {} tokens",
                range(&d.input_distribution),
                range(&d.output_distribution)
            ),
        });
    }
    Ok(kept)
}

/// The Azure trace a profile replays (`load.trace`) or takes its lengths from (`data.trace`),
/// with the key that names it; both given: the same file.
fn azure_trace<'a>(
    p: &'a Profile,
    file: &Path,
) -> Result<Option<(&'static str, &'a crate::model::TraceFile)>, ProfileError> {
    match (&p.load.trace, &p.data.trace) {
        (Some(l), Some(d)) if l.file != d.file => Err(ProfileError::Invalid {
            file: file.to_path_buf(),
            key: "data.trace.file".into(),
            message: format!(
                "fleetbench replays one trace: its times and lengths from the same file, and load.trace.file is {:?}",
                l.file
            ),
        }),
        (Some(l), _) => Ok(Some(("load.trace.file", l))),
        (None, Some(d)) => Ok(Some(("data.trace.file", d))),
        (None, None) => Ok(None),
    }
}

/// The tokenizer that `tokenizer.pretrained_model_name_or_path` names (a local directory or
/// file, or a model id in the local HF cache); none configured: the word tokenizer.
pub(super) fn load_tokenizer(
    p: &Profile,
    file: &Path,
) -> Result<Option<ModelTokenizer>, ProfileError> {
    let Some(name) = p
        .tokenizer
        .as_ref()
        .and_then(|t| t.pretrained_model_name_or_path.as_deref())
        .filter(|n| !n.is_empty())
    else {
        return Ok(None);
    };
    // A relative directory: from the working directory, else from the profile's directories.
    let resolved = resolve_data_path(name, file);
    let name = if resolved.exists() {
        resolved.to_string_lossy().into_owned()
    } else {
        name.to_string()
    };
    ModelTokenizer::load(&name)
        .map(Some)
        .map_err(|message| ProfileError::Invalid {
            file: file.to_path_buf(),
            key: "tokenizer.pretrained_model_name_or_path".into(),
            message,
        })
}

/// The split inference-perf's cnn_dailymail reads without `data.path`:
/// `load_dataset("abisee/cnn_dailymail", "3.0.0", split="train")`.
fn cnn_dailymail_default() -> DatasetRef {
    DatasetRef {
        id: "abisee/cnn_dailymail".into(),
        revision: "main".into(),
        split: "train".into(),
        config: Some("3.0.0".into()),
        data_files: None,
    }
}

/// `data.type: visionarena`: the pool of rows and their images, read from the Hub dataset's
/// split (into the HF cache) once by the coordinator.
pub(super) fn read_visionarena(
    p: &Profile,
    file: &Path,
    tokenizer: Option<&ModelTokenizer>,
) -> Result<Option<(Vec<PromptEntry>, crate::data::visionarena::StoredPool)>, ProfileError> {
    if p.data.kind != DataType::Visionarena {
        return Ok(None);
    }
    let c = p.data.visionarena.clone().unwrap_or_default();
    let key = if p.data.visionarena.is_some() {
        "data.visionarena.hf_dataset_name"
    } else {
        "data.type"
    };
    let r = DatasetRef {
        id: c.hf_dataset_name.clone(),
        revision: "main".into(),
        split: c.hf_split.clone(),
        config: None,
        data_files: c.hf_data_files.clone(),
    };
    let hub = HubEnv::from_env();
    let split = hub
        .split_files(&r)
        .map_err(|message| invalid(file, key, message))?;
    let want = crate::data::visionarena::Wanted {
        rows: c.num_rows as usize,
        images_per_row: c.max_images_per_request as usize,
        insertion: crate::visionarena_check::insertion(&c),
    };
    let count = tokenizer.map(|t| move |s: &str| t.count_as_inference_perf(s));
    let count: Option<&dyn Fn(&str) -> u32> = count.as_ref().map(|f| f as &dyn Fn(&str) -> u32);
    crate::data::visionarena::read_visionarena(&split, &want, count)
        .map(Some)
        .map_err(|e| dataset_failed(file, key, e))
}

/// The text dataset a data type reads from `data.path` (`data/text_datasets.rs`).
fn text_dataset(kind: DataType) -> Option<TextDataset> {
    match kind {
        DataType::CnnDailymail => Some(TextDataset::CnnDailymail),
        DataType::BillsumConversations => Some(TextDataset::Billsum),
        DataType::InfinityInstruct => Some(TextDataset::InfinityInstruct),
        _ => None,
    }
}

/// cnn_dailymail, billsum_conversations, infinity_instruct: a `data.path` (but for
/// cnn_dailymail, which then reads the Hub's, [`cnn_dailymail_default`]), and cnn_dailymail on
/// the completion API only, as inference-perf's generators require.
fn check_text_dataset(p: &Profile, invalid: &Invalid<'_>) -> Result<(), ProfileError> {
    let name = p.data.kind.name();
    if p.data.kind == DataType::CnnDailymail
        && p.api.kind != fleetbench_model::settings::ApiType::Completion
    {
        return Err(invalid(
            "api.type",
            "data type cnn_dailymail is sent on the completion API only, as inference-perf's generator is (an article to summarize as the prompt): set api.type: completion".into(),
        ));
    }
    match (&p.data.path, p.data.kind) {
        (Some(_), _) | (None, DataType::CnnDailymail) => Ok(()),
        (None, _) => Err(invalid(
            "data.path",
            format!("required for data type {name} (as inference-perf requires it): a .json file (JSON Lines or a list) of {{conversations: [{{from, value}}, ...]}} rows, or a directory of them"),
        )),
    }
}

/// A dataset's `input_distribution` / `output_distribution`: inference-perf keeps the rows whose
/// lengths fall in [min, max] of each.
fn check_length_bounds(p: &Profile, file: &Path) -> Result<(), ProfileError> {
    for (key, dist) in [
        ("data.input_distribution", &p.data.input_distribution),
        ("data.output_distribution", &p.data.output_distribution),
    ] {
        if let Some(dist) = dist {
            check_distribution(key, dist, file)?;
        }
    }
    Ok(())
}
