//! The magnitudes a profile may ask for, each derived from what a request, an agent or a stage
//! can carry, so that a valid-YAML but absurd value (`rate: 1e12`, a 1e9-token prompt,
//! concurrency 4e9) is refused by `validate` at once instead of spinning the planner, aborting an
//! agent on an allocation or silently sending nothing. Every check is a closed form: nothing is
//! enumerated. Errors name the key, the value and the limit.

/// Tokens of one request's prompt or output. The longest context windows served today hold 2^20
/// (about 1 M) tokens; a prompt of that many words is already ~6 MB of JSON per request.
pub const MAX_REQUEST_TOKENS: u64 = 1 << 20;

/// Requests per second of one stage. One agent core sends about 9,000 streamed requests/s
/// (BENCHMARKS.md, "Agent ceiling"): a million is ~110 agent cores busy doing nothing else.
pub const MAX_STAGE_RATE: f64 = 1_000_000.0;

/// Requests per second asked of one agent: ~9,000 per core on a 16-core host.
pub const MAX_AGENT_RATE: f64 = 150_000.0;

/// Requests one stage may plan (rate × duration, or its count): at the ceiling above, a day of
/// a 32-core fleet.
pub const MAX_STAGE_REQUESTS: u64 = 1_000_000_000;

/// Seconds of one stage: a week.
pub const MAX_STAGE_SECONDS: f64 = 604_800.0;

/// Closed-loop users of one stage: each holds a connection, so a million users need ~36 agents
/// at [`MAX_AGENT_USERS`].
pub const MAX_STAGE_USERS: u64 = 1_000_000;

/// Closed-loop users on one agent: each user holds one TCP connection to the endpoint, and a
/// Linux host has 28,232 ephemeral ports towards one address by default (32768–60999).
pub const MAX_AGENT_USERS: u64 = 28_232;

/// Seconds of a request timeout, grace period, think time or snapshot interval: a day.
pub const MAX_WAIT_SECONDS: f64 = 86_400.0;

/// An agent's or role's load weight: the stripe cycle that spreads requests has Σ weights slots.
pub const MAX_WEIGHT: u32 = 10_000;

/// Groups of a shared-prefix dataset, users and rounds of multi-turn sessions.
pub const MAX_GROUPS: u64 = 1_000_000;
/// Rounds of a multi-turn session.
pub const MAX_ROUNDS: u64 = 10_000;

/// `{value} is above the limit {limit} {what}`: the message of a magnitude error.
pub(crate) fn above(
    value: impl std::fmt::Display,
    limit: impl std::fmt::Display,
    what: &str,
) -> String {
    format!("{value} is above the limit {limit} {what}")
}
