//! The conversation replay generator: deterministic by its seed, its distributions honoured,
//! each turn carrying the system prompt and the earlier turns, the context limit applied as
//! inference-perf applies it, and profiles with `data.conversation_replay` checked.

use super::plan::{conversations_from, plan_data};
use crate::{parse_profile, ConversationReplayConfig, Distribution};
use fleetbench_model::data::*;
use fleetbench_model::tokenize::count_words;
use std::path::Path;

fn dist(kind: LengthDist, min: u32, max: u32, mean: f64, std_dev: f64) -> Option<Distribution> {
    Some(Distribution {
        kind: Some(kind),
        min: Some(min),
        max: Some(max),
        mean: Some(mean),
        std_dev: Some(std_dev),
        total_count: None,
        variance: None,
        skew: None,
    })
}

fn config(seed: u64) -> ConversationReplayConfig {
    ConversationReplayConfig {
        seed,
        num_conversations: 50,
        shared_system_prompt_len: 30,
        dynamic_system_prompt_len: dist(LengthDist::Uniform, 5, 15, 10.0, 0.0),
        turns_per_conversation: dist(LengthDist::Uniform, 2, 6, 4.0, 0.0),
        input_tokens_per_turn: dist(LengthDist::Normal, 10, 200, 60.0, 20.0),
        output_tokens_per_turn: dist(LengthDist::Lognormal, 5, 300, 40.0, 30.0),
        tool_call_latency_sec: dist(LengthDist::Fixed, 0, 10, 2.0, 0.0),
        max_model_len: None,
    }
}

#[test]
fn the_same_seed_draws_the_same_conversations_and_another_seed_others() {
    let a = conversations_from(&config(7));
    assert_eq!(a, conversations_from(&config(7)));
    assert_ne!(a, conversations_from(&config(8)));
    let (sa, sb) = (
        DataSource::Conversations(a.clone()),
        DataSource::Conversations(a),
    );
    for index in [0, 1 << ROUND_BITS | 1, 7 << ROUND_BITS | 2] {
        assert_eq!(sa.request(3, index), sb.request(3, index));
    }
}

#[test]
fn distributions_are_honoured() {
    let c = conversations_from(&config(1));
    assert_eq!(c.conversations.len(), 50);
    let turns: Vec<&Turn> = c.conversations.iter().flat_map(|x| &x.turns).collect();
    for x in &c.conversations {
        assert!((2..=6).contains(&x.turns.len()), "{}", x.turns.len());
        assert!((5..=15).contains(&x.dynamic_system_prompt_len));
    }
    // Uniform turns 2..=6 over 50 conversations: every count appears.
    for n in 2..=6 {
        assert!(
            c.conversations.iter().any(|x| x.turns.len() == n),
            "no conversation of {n} turns"
        );
    }
    let mean_in = turns.iter().map(|t| f64::from(t.input)).sum::<f64>() / turns.len() as f64;
    assert!((mean_in - 60.0).abs() < 8.0, "mean input {mean_in}");
    for t in &turns {
        assert!((10..=200).contains(&t.input) && (5..=300).contains(&t.output));
        assert_eq!(t.tool_wait_s, 2);
    }
    // Omitted distributions take inference-perf's defaults.
    let mut d = config(1);
    d.turns_per_conversation = None;
    d.input_tokens_per_turn = None;
    d.output_tokens_per_turn = None;
    d.tool_call_latency_sec = None;
    d.dynamic_system_prompt_len = None;
    let c = conversations_from(&d);
    for x in &c.conversations {
        assert_eq!(x.turns.len(), 10);
        assert_eq!(x.dynamic_system_prompt_len, 0);
        assert!(x
            .turns
            .iter()
            .all(|t| (t.input, t.output, t.tool_wait_s) == (512, 256, 0)));
    }
}

#[test]
fn each_turn_carries_the_system_prompt_and_the_earlier_turns() {
    let c = conversations_from(&config(3));
    let src = DataSource::Conversations(c.clone());
    for session in [0u64, 1, 50, 51] {
        let conv = &c.conversations[(session % 50) as usize];
        assert_eq!(src.rounds_of(session), conv.turns.len() as u32);
        let mut history = 0;
        for (k, t) in conv.turns.iter().enumerate() {
            let index = src.session_round_index(session, k as u32);
            assert_eq!(src.session_of(index), Some(session));
            let r = src.request(9, index);
            let system = 30 + conv.dynamic_system_prompt_len;
            assert_eq!(
                r.input_tokens,
                system + history + t.input,
                "session {session} turn {k}"
            );
            assert_eq!(count_words(&r.prompt) as u32, r.input_tokens);
            assert_eq!(r.max_tokens, t.output);
            let messages = r.messages.expect("chat turns");
            assert_eq!(messages.len(), 2 + 2 * k);
            assert_eq!(messages[0].0, "system");
            assert_eq!(messages.last().map(|m| m.0.as_str()), Some("user"));
            assert_eq!(src.wait_after_ms(session, k as u32), 2000);
            history += t.input + t.output;
        }
    }
    // Session 50 replays conversation 0 with the same words; the shared part follows the
    // stage seed, the conversation's own part does not.
    let (a, b) = (src.request(9, 0), src.request(9, 50 << ROUND_BITS));
    assert_eq!(a.prompt, b.prompt);
    let other_stage = src.request(10, 0);
    let words = |s: &str| s.split(' ').map(str::to_string).collect::<Vec<_>>();
    assert_ne!(words(&a.prompt)[..30], words(&other_stage.prompt)[..30]);
    assert_eq!(words(&a.prompt)[30..], words(&other_stage.prompt)[30..]);
}

#[test]
fn the_oldest_turns_leave_a_request_that_would_not_fit_the_model() {
    let mut cfg = config(4);
    cfg.turns_per_conversation = dist(LengthDist::Fixed, 0, 0, 5.0, 0.0);
    cfg.input_tokens_per_turn = dist(LengthDist::Fixed, 0, 0, 100.0, 0.0);
    cfg.output_tokens_per_turn = dist(LengthDist::Fixed, 0, 0, 50.0, 0.0);
    cfg.dynamic_system_prompt_len = dist(LengthDist::Fixed, 0, 0, 0.0, 0.0);
    // Room for the system prompt (30), two earlier turns (300) and this one (100): 430 + 50 + 200.
    cfg.max_model_len = Some(680);
    let src = DataSource::Conversations(conversations_from(&cfg));
    let tokens: Vec<u32> = (0..5).map(|k| src.request(1, k).input_tokens).collect();
    assert_eq!(tokens, [130, 280, 430, 430, 430]);
    let last = src.request(1, 4).messages.expect("turns");
    assert_eq!(
        last.len(),
        1 + 2 * 2 + 1,
        "system, two earlier turns, this one"
    );
    // A context below the system prompt cuts it.
    cfg.max_model_len = Some(300);
    let src = DataSource::Conversations(conversations_from(&cfg));
    assert_eq!(src.request(1, 3).input_tokens, 50);
}

const HEAD: &str = "server: {base_url: 'http://127.0.0.1:8000', model_name: m}\n\
api: {type: completion, streaming: true}\n\
load: {type: concurrent, stages: [{concurrency_level: 4, num_requests: 40}]}\n";

fn parse(data: &str) -> Result<crate::LoadedProfile, crate::ProfileError> {
    parse_profile(&format!("{HEAD}data: {data}\n"), Path::new("p.yaml"), "p")
}

#[test]
fn a_conversation_replay_profile_is_read_with_inference_perfs_keys_and_checked() {
    let lp = parse(
        "{type: conversation_replay, conversation_replay: {seed: 5, num_conversations: 3, shared_system_prompt_len: 8, \
         dynamic_system_prompt_len: {type: fixed, mean: 2}, turns_per_conversation: {type: uniform, min: 2, max: 3}, \
         input_tokens_per_turn: {type: normal, min: 4, max: 9, mean: 6, std_dev: 1}, \
         output_tokens_per_turn: {type: lognormal, min: 3, max: 8, mean: 5, std_dev: 2}, \
         tool_call_latency_sec: {type: fixed, mean: 0}, max_model_len: 4096}}",
    )
    .expect("valid");
    let DataSource::Conversations(c) = plan_data(&lp, 0).source else {
        panic!("not conversations");
    };
    assert_eq!(
        (c.seed, c.conversations.len(), c.max_model_len),
        (5, 3, 4096)
    );
    // Defaults: inference-perf's seed 42, 200 conversations, 8359 shared tokens.
    let lp = parse("{type: conversation_replay, conversation_replay: {}}").expect("defaults");
    let DataSource::Conversations(c) = plan_data(&lp, 0).source else {
        panic!("not conversations");
    };
    assert_eq!(
        (c.seed, c.conversations.len(), c.shared_system_prompt_len),
        (42, 200, 8359)
    );
    for (data, key) in [
        ("{type: conversation_replay}", "data.conversation_replay"),
        ("{type: conversation_replay, conversation_replay: {num_conversations: 0}}", "data.conversation_replay.num_conversations"),
        ("{type: conversation_replay, conversation_replay: {turns: 3}}", "turns"),
        ("{type: conversation_replay, conversation_replay: {turns_per_conversation: {type: uniform, min: 2, max: 20000}}}", "data.conversation_replay.turns_per_conversation"),
        ("{type: conversation_replay, conversation_replay: {num_conversations: 100000, turns_per_conversation: {type: fixed, mean: 10}}}", "data.conversation_replay.num_conversations"),
        ("{type: random, conversation_replay: {}}", "data.conversation_replay"),
        ("{type: conversation_replay, conversation_replay: {}, input_distribution: {mean: 5}}", "data.input_distribution"),
    ] {
        let e = parse(data).expect_err(data).to_string();
        assert!(e.contains(key), "{data}: {e}");
    }
}

#[test]
fn the_turn_limit_is_checked_on_what_the_seed_draws_not_the_worst_case() {
    // llm-d's catalog: 40 conversations of up to 3000 turns (mean 540) — 120,000 in the worst
    // case, far fewer drawn; accepted, and the plan carries what validation counted.
    let catalog = "{type: conversation_replay, conversation_replay: {seed: 7, num_conversations: 40, \
                   turns_per_conversation: {type: lognormal, min: 1, max: 3000, mean: 540, std_dev: 48600}}}";
    let lp = parse(catalog).expect("what the seed draws fits");
    let DataSource::Conversations(c) = plan_data(&lp, 0).source else {
        panic!("not conversations");
    };
    let turns: usize = c.conversations.iter().map(|x| x.turns.len()).sum();
    assert!(
        turns as u64 <= crate::model::MAX_CONVERSATION_TURNS,
        "{turns}"
    );
    // 40 conversations of exactly 3000 turns are 120,000: refused, naming the seed and the count.
    let e = parse(
        "{type: conversation_replay, conversation_replay: {seed: 7, num_conversations: 40, \
         turns_per_conversation: {type: fixed, mean: 3000}}}",
    )
    .expect_err("too many turns")
    .to_string();
    assert!(
        e.contains("num_conversations") && e.contains("seed 7") && e.contains("120000 turns"),
        "{e}"
    );
}
