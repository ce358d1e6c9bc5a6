//! Session stages (`load.type: trace_session_replay`): each stage takes the next sessions of
//! the data, the cap and the sessions split over the agents (a session on one agent), the
//! planned requests every round of them, and the errors that name the key.

use super::*;
use crate::parse_profile;
use crate::test_support::members;
use fleetbench_model::spec::*;
use std::path::Path;

fn parse(data: &str, load: &str, weights: &str) -> Result<LoadedProfile, crate::ProfileError> {
    let text = format!(
        "server: {{base_url: 'http://127.0.0.1:1', model_name: m}}\n\
         api: {{type: completion, streaming: true}}\n\
         data: {data}\n\
         load: {load}\n\
         fleet: {{weights: {weights}}}\n"
    );
    parse_profile(&text, Path::new("s.yaml"), "s")
}

const CONVERSATIONS: &str =
    "{type: conversation_replay, conversation_replay: {num_conversations: 10, \
    shared_system_prompt_len: 4, turns_per_conversation: {type: uniform, min: 1, max: 5}}}";

#[test]
fn each_stage_takes_the_next_sessions_and_splits_them_over_the_agents() {
    let lp = parse(
        CONVERSATIONS,
        "{type: trace_session_replay, stages: [{concurrent_sessions: 2, num_sessions: 5, session_rate: 1}, {concurrent_sessions: 0, timeout: 30}]}",
        "{}",
    )
    .expect("valid");
    let plan = plan_run(&lp, &members(3), "r", 1).expect("plan");
    let s0 = &plan.stages[0];
    assert_eq!(s0.label, "sessions_c2");
    // The cap 2 over three agents: 1, 1, 0; the five sessions over the caps: 3, 2, none.
    let loads: Vec<&ShardLoad> = s0.shards.iter().map(|s| &s.load).collect();
    assert_eq!(
        loads,
        [
            &ShardLoad::Sessions {
                concurrent: 1,
                session_rate: Some(0.6),
                first_session: 0,
                sessions: 3,
                timeout_s: None
            },
            &ShardLoad::Sessions {
                concurrent: 1,
                session_rate: Some(0.4),
                first_session: 3,
                sessions: 2,
                timeout_s: None
            },
            &ShardLoad::Idle,
        ]
    );
    // All at once: the five left over the weights, 2, 2, 1.
    let s1 = &plan.stages[1];
    assert_eq!(s1.label, "sessions_all");
    let ranges: Vec<(u64, u64)> = s1
        .shards
        .iter()
        .map(|s| match s.load {
            ShardLoad::Sessions {
                first_session,
                sessions,
                concurrent: 0,
                timeout_s: Some(30.0),
                ..
            } => (first_session, sessions),
            ref other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(ranges, [(5, 2), (7, 2), (9, 1)]);
    // Planned: every round of every session (exact without a timeout, at most with one).
    let fleetbench_model::data::DataSource::Conversations(c) = &s0.shards[0].data.source else {
        panic!("conversations")
    };
    let rounds = |r: std::ops::Range<usize>| -> u64 {
        c.conversations[r]
            .iter()
            .map(|x| x.turns.len() as u64)
            .sum()
    };
    assert_eq!(
        s0.shards[0].planned_count(),
        PlannedCount::Exact(rounds(0..3))
    );
    assert_eq!(s0.planned_requests(), Some(rounds(0..5)));
    assert_eq!(
        s1.shards[2].planned_count(),
        PlannedCount::AtMost(rounds(9..10))
    );
    assert_eq!(s1.planned_requests(), None);
}

#[test]
fn multi_turn_users_and_chatting_groups_are_sessions_too() {
    for data in [
        "{type: multi_turn, multi_turn: {users: 4, rounds: 3}}",
        "{type: shared_prefix, shared_prefix: {num_groups: 4, num_prompts_per_group: 3, enable_multi_turn_chat: true}}",
    ] {
        let lp = parse(data, "{type: trace_session_replay, stages: [{concurrent_sessions: 1}]}", "{}").expect(data);
        let plan = plan_run(&lp, &members(1), "r", 1).expect("plan");
        assert_eq!(plan.stages[0].planned_requests(), Some(12), "{data}");
    }
}

#[test]
fn session_stage_errors_name_the_key() {
    let ts = |stages: &str| format!("{{type: trace_session_replay, stages: [{stages}]}}");
    for (data, load, key) in [
        (CONVERSATIONS, ts("{concurrent_sessions: 2, session_rate: 3}"), "load.stages.0.session_rate"),
        (CONVERSATIONS, ts("{num_sessions: 2}"), "load.stages.0.concurrent_sessions"),
        (CONVERSATIONS, ts("{concurrent_sessions: 2, rate: 1}"), "load.stages.0.rate"),
        (CONVERSATIONS, ts("{concurrent_sessions: 2, num_sessions: 0}"), "load.stages.0.num_sessions"),
        (CONVERSATIONS, ts("{concurrent_sessions: 2, timeout: 0}"), "load.stages.0.timeout"),
        (CONVERSATIONS, ts("{concurrent_sessions: 2}, {concurrent_sessions: 1}"), "load.stages.1.num_sessions"),
        ("{type: random, input_distribution: {mean: 5}, output_distribution: {mean: 5}}", ts("{concurrent_sessions: 1}"), "load.type"),
        (CONVERSATIONS, "{type: concurrent, stages: [{concurrency_level: 2, num_requests: 4, concurrent_sessions: 2}]}".to_string(), "load.stages.0.concurrent_sessions"),
    ] {
        let e = parse(data, &load, "{}").expect_err(&load).to_string();
        assert!(e.contains(key), "{load}: {e}");
    }
}
