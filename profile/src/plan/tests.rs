use super::stages::constant_count;
use super::*;
use crate::parse_profile;
use fleetbench_model::role::Role;
use fleetbench_model::spec::*;
use std::path::Path;

fn profile(load: &str) -> LoadedProfile {
    let text = format!(
        "server: {{base_url: 'http://127.0.0.1:1', model_name: m}}\n\
         api: {{type: completion, streaming: true}}\n\
         data: {{type: random, input_distribution: {{mean: 10, std_dev: 0}}, output_distribution: {{type: fixed, mean: 4}}}}\n\
         {load}\n\
         fleet: {{weights: {{a: 1, b: 2, c: 0}}}}\n"
    );
    parse_profile(&text, Path::new("t.yaml"), "t").expect("valid profile")
}

fn members(n: usize) -> Vec<Member> {
    ["a", "b", "c", "d"][..n]
        .iter()
        .map(|id| Member {
            agent_id: id.to_string(),
            role: Role::Client,
            host_name: "h".into(),
        })
        .collect()
}

#[test]
fn constant_stage_union_of_shards_is_the_global_schedule() {
    let lp = profile("load: {type: constant, stages: [{rate: 100, duration: 10}]}");
    let plan = plan_run(&lp, &members(3), "r", 1).unwrap();
    assert_eq!(plan.weights, vec![1, 2, 0]);
    let stage = &plan.stages[0];
    let mut union = Vec::new();
    let mut counts = Vec::new();
    for s in &stage.shards {
        let mine: Vec<Arrival> = s.arrivals().map(|a| a.collect()).unwrap_or_default();
        counts.push(mine.len());
        union.extend(mine);
    }
    union.sort_by_key(|a| a.index);
    let single = Ramp {
        from: 100.0,
        to: None,
        duration_s: Some(10.0),
    };
    let global: Vec<Arrival> = constant_arrivals(single, 1000, &[1], 0).collect();
    assert_eq!(union, global, "same times, no loss, no duplicate");
    assert_eq!(global.len(), 1000);
    // Each share matches its weight to within one request (1000 = 333·Σw + 1).
    assert_eq!(counts, vec![333, 667, 0]);
}

#[test]
fn concurrency_splits_users_and_requests_by_largest_remainder() {
    let lp =
        profile("load: {type: concurrent, stages: [{concurrency_level: 10, num_requests: 100}]}");
    let plan = plan_run(&lp, &members(3), "r", 1).unwrap();
    let loads: Vec<_> = plan.stages[0]
        .shards
        .iter()
        .map(|s| s.load.clone())
        .collect();
    assert_eq!(
        loads,
        vec![
            ShardLoad::Concurrent {
                users: 3,
                num_requests: Some(30),
                duration_s: None,
                first_user: 0,
                total_users: 10,
            },
            ShardLoad::Concurrent {
                users: 7,
                num_requests: Some(70),
                duration_s: None,
                first_user: 3,
                total_users: 10,
            },
            ShardLoad::Idle,
        ]
    );
}

#[test]
fn poisson_rate_is_split_by_weight_with_distinct_seeds() {
    let lp = profile("load: {type: poisson, stages: [{rate: 30, duration: 10}]}");
    let plan = plan_run(&lp, &members(3), "r", 9).unwrap();
    let s = &plan.stages[0].shards;
    assert_eq!(
        s[0].load,
        ShardLoad::Poisson {
            rate: 10.0,
            ramp_to: None,
            duration_s: 10.0,
            max_requests: None
        }
    );
    assert_eq!(
        s[1].load,
        ShardLoad::Poisson {
            rate: 20.0,
            ramp_to: None,
            duration_s: 10.0,
            max_requests: None
        }
    );
    assert_eq!(s[2].load, ShardLoad::Idle);
    assert_ne!(s[0].shard_seed(), s[1].shard_seed());
}

#[test]
fn all_zero_weights_is_an_error() {
    let lp = profile("load: {type: constant, stages: [{rate: 1, duration: 1}]}");
    let only_c = vec![Member {
        agent_id: "c".into(),
        role: Role::Client,
        host_name: "h".into(),
    }];
    assert!(matches!(
        plan_run(&lp, &only_c, "r", 1),
        Err(PlanError::NoLoad)
    ));
}

fn poisson_union(rate: f64, duration: f64, agents: usize, seed: u64) -> Vec<f64> {
    let lp = profile(&format!(
        "load: {{type: poisson, stages: [{{rate: {rate}, duration: {duration}}}]}}"
    ));
    let mut ms = members(agents);
    for m in &mut ms {
        m.agent_id = format!("x{}", m.agent_id); // no weights from the profile: all 1
    }
    let plan = plan_run(&lp, &ms, "r", seed).unwrap();
    let mut times = Vec::new();
    for s in &plan.stages[0].shards {
        assert!(matches!(s.load, ShardLoad::Poisson { .. }));
        times.extend(s.arrivals().into_iter().flatten().map(|a| a.at_s));
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    times
}

#[test]
fn poisson_split_over_four_agents_is_poisson_at_the_planned_rate() {
    let (rate, duration) = (50.0, 200.0);
    let times = poisson_union(rate, duration, 4, 12345);
    // Count within the 99.9% interval of Poisson(λ = 10_000): λ ± 3.29·√λ.
    let lambda = rate * duration;
    let n = times.len() as f64;
    assert!(
        (n - lambda).abs() <= 3.29 * lambda.sqrt(),
        "count {n} vs expected {lambda}"
    );
    // Kolmogorov–Smirnov: the merged gaps against Exp(rate), at α = 0.001 (critical 1.95/√n).
    let mut gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let m = gaps.len() as f64;
    let d = gaps
        .iter()
        .enumerate()
        .map(|(i, &g)| {
            let cdf = 1.0 - (-rate * g).exp();
            (cdf - i as f64 / m)
                .abs()
                .max(((i + 1) as f64 / m - cdf).abs())
        })
        .fold(0.0f64, f64::max);
    assert!(
        d < 1.95 / m.sqrt(),
        "KS statistic {d} too large for n = {m}"
    );
}

#[test]
fn poisson_shards_are_independent_streams() {
    let a = poisson_union(10.0, 10.0, 2, 1);
    let b = poisson_union(10.0, 10.0, 2, 2);
    assert_ne!(a, b, "different run seeds, different arrivals");
    assert_eq!(
        a,
        poisson_union(10.0, 10.0, 2, 1),
        "same seed, same arrivals"
    );
}

#[test]
fn ramp_counts_and_times_follow_the_integral() {
    // 10 → 30 req/s over 10 s: 200 requests, the rate rising.
    assert_eq!(constant_count(10.0, Some(30.0), 10.0), 200);
    let ramp = Ramp {
        from: 10.0,
        to: Some(30.0),
        duration_s: Some(10.0),
    };
    let t: Vec<f64> = constant_arrivals(ramp, 200, &[1], 0)
        .map(|a| a.at_s)
        .collect();
    assert_eq!(t[0], 0.0);
    assert!(*t.last().unwrap() < 10.0);
    let first_gap = t[1] - t[0];
    let last_gap = t[199] - t[198];
    assert!(
        (first_gap - 0.1).abs() < 0.002 && (last_gap - 1.0 / 30.0).abs() < 0.002,
        "{first_gap} {last_gap}"
    );
}

#[test]
fn sweep_shorthands_expand_to_stages() {
    let lp =
        profile("load: {type: constant, rates: [1, 4, inf], stage_duration: 2, stage_requests: 6}");
    let plan = plan_run(&lp, &members(1), "r", 1).unwrap();
    let labels: Vec<&str> = plan.stages.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(labels, vec!["qps_01", "qps_04", "qps_inf"]);
    let planned: Vec<Option<u64>> = plan
        .stages
        .iter()
        .map(|s| s.load.planned_requests())
        .collect();
    assert_eq!(planned, vec![Some(2), Some(6), Some(6)]);
    let lp = profile("load: {type: concurrent, concurrencies: [1, 2, 5], stage_requests: 10}");
    let plan = plan_run(&lp, &members(1), "r", 1).unwrap();
    let labels: Vec<&str> = plan.stages.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(labels, vec!["c1", "c2", "c5"]);
}

#[test]
fn warmup_and_cooldown_shrink_the_window() {
    let lp = profile(
        "load: {type: constant, stages: [{rate: 10, duration: 10, warmup: 2, cooldown: 1}]}",
    );
    let plan = plan_run(&lp, &members(1), "r", 1).unwrap();
    assert_eq!(
        plan.stages[0].window,
        Window {
            start_s: 2.0,
            end_s: Some(9.0)
        }
    );
    assert!(plan.stages[0].window.contains(2.0) && !plan.stages[0].window.contains(9.0));
}

#[test]
fn bad_stages_name_the_key() {
    let bad = [
        (
            "load: {type: constant, stages: [{rate: inf}]}",
            "num_requests",
        ),
        (
            "load: {type: constant, rates: [1], stages: [{rate: 1, duration: 1}]}",
            "not both",
        ),
        (
            "load: {type: constant, stages: [{rate: 1, duration: 2, warmup: 2}]}",
            "warmup",
        ),
        (
            "load: {type: poisson, stages: [{rate: inf, num_requests: 3}]}",
            "constant",
        ),
        ("load: {type: constant, rates: [2]}", "stage_duration"),
    ];
    for (load, needle) in bad {
        let text = format!(
            "server: {{base_url: 'http://127.0.0.1:1'}}\ndata: {{type: random, input_distribution: {{type: fixed, mean: 1}}, output_distribution: {{type: fixed, mean: 1}}}}\n{load}\n"
        );
        let err = crate::parse_profile(&text, Path::new("p.yaml"), "p")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(needle) && err.contains("p.yaml"),
            "{load}: {err}"
        );
    }
}

#[test]
fn rate_inf_survives_the_wire() {
    let lp = profile("load: {type: constant, stages: [{rate: inf, num_requests: 7}]}");
    let plan = plan_run(&lp, &members(1), "r", 1).unwrap();
    let spec = &plan.stages[0].shards[0];
    let json = serde_json::to_string(spec).unwrap();
    assert!(json.contains("\"rate\":\"inf\""), "{json}");
    let back: ShardSpec = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, spec);
}

/// A profile replaying a trace file written for the test (timestamps in ms).
fn trace_profile(stamps: &[u32], load: &str) -> Result<LoadedProfile, crate::ProfileError> {
    let dir = std::env::temp_dir().join(format!(
        "fleetbench-trace-{}-{}",
        std::process::id(),
        splitmix64(stamps.iter().map(|&s| s as u64).sum::<u64>() ^ load.len() as u64)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("trace.jsonl");
    let lines: Vec<String> = stamps
        .iter()
        .enumerate()
        .map(|(i, t)| {
            format!(
                r#"{{"timestamp": {t}, "input_length": {}, "output_length": 4, "hash_ids": [{i}]}}"#,
                20 + i
            )
        })
        .collect();
    std::fs::write(&path, lines.join("\n")).unwrap();
    let text = format!(
        "server: {{base_url: 'http://127.0.0.1:1', model_name: m}}\n\
         api: {{type: completion, streaming: true}}\n\
         data: {{type: mooncake_trace, path: '{}'}}\n\
         {load}\n\
         fleet: {{weights: {{a: 1, b: 2, c: 0}}}}\n",
        path.display()
    );
    parse_profile(&text, Path::new("t.yaml"), "t")
}

#[test]
fn trace_replay_union_of_shards_is_the_scaled_trace() {
    let stamps = [1000, 1100, 1100, 1250, 1400, 2000, 2600, 2601, 3000, 4000];
    let lp = trace_profile(&stamps, "load: {type: trace, time_scale: 0.5}").unwrap();
    let plan = plan_run(&lp, &members(3), "r", 1).unwrap();
    let stage = &plan.stages[0];
    assert_eq!(stage.label, "trace_x0.5");
    assert_eq!(stage.planned_requests(), Some(10));
    let mut union = Vec::new();
    let mut counts = Vec::new();
    for s in &stage.shards {
        let mine: Vec<Arrival> = s.arrivals().map(|a| a.collect()).unwrap_or_default();
        counts.push(mine.len());
        union.extend(mine);
    }
    union.sort_by_key(|a| a.index);
    let expected: Vec<Arrival> = stamps
        .iter()
        .enumerate()
        .map(|(j, &t)| Arrival {
            index: j as u64,
            at_s: (t as f64 - 1000.0) / 1000.0 * 0.5,
        })
        .collect();
    assert_eq!(union, expected, "every record once, at its scaled time");
    // Weights 1 : 2 : 0 over 10 records: the striping cycle gives 4 and 6 (or 3 and 7).
    assert_eq!(counts.iter().sum::<usize>(), 10);
    assert!(counts[1] > counts[0] && counts[2] == 0, "{counts:?}");
    // Request j carries record j's lengths.
    let r = stage.shards[0].data.request(stage.shards[0].seed, 3);
    assert_eq!((r.input_tokens, r.max_tokens), (23, 4));
}

#[test]
fn trace_replay_stops_at_the_stage_duration_and_count() {
    let stamps = [0, 500, 1000, 1500, 2000, 2500];
    let lp = trace_profile(
        &stamps,
        "load: {type: trace, time_scale: 2, stages: [{duration: 3}, {num_requests: 2}]}",
    )
    .unwrap();
    let plan = plan_run(&lp, &members(1), "r", 1).unwrap();
    // Scaled times 0, 1, 2, 3, 4, 5 s: a 3 s stage replays the first three.
    assert_eq!(plan.stages[0].planned_requests(), Some(3));
    assert_eq!(plan.stages[0].window.end_s, Some(3.0));
    assert_eq!(plan.stages[1].planned_requests(), Some(2));
    let n = plan.stages[1].shards[0].arrivals().unwrap().count();
    assert_eq!(n, 2);
}

#[test]
fn trace_replay_errors_name_the_key_and_what_is_allowed() {
    let err = trace_profile(&[0, 10, 5], "load: {type: trace}")
        .map(|lp| plan_run(&lp, &members(1), "r", 1).map(|_| ()))
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("trace.jsonl") && err.contains("record 3") && err.contains("time order"),
        "{err}"
    );
    let err = trace_profile(
        &[0, 10],
        "load: {type: trace, stages: [{ramp_to: 3, duration: 1}]}",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("load.stages.0.ramp_to")
            && err.contains("allowed keys duration, num_requests"),
        "{err}"
    );
    let err = trace_profile(
        &[0, 10],
        "load: {type: constant, time_scale: 2, stages: [{rate: 3, duration: 1}]}",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("load.time_scale") && err.contains("only for load type trace"),
        "{err}"
    );
    let err = parse_profile(
        "server: {base_url: 'http://127.0.0.1:1'}\ndata: {type: random, input_distribution: {mean: 10, std_dev: 0}, output_distribution: {type: fixed, mean: 4}}\nload: {type: trace}\n",
        Path::new("t.yaml"),
        "t",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("t.yaml") && err.contains("load.type") && err.contains("mooncake_trace"),
        "{err}"
    );
}

#[test]
fn think_time_is_only_for_users_and_sessions() {
    let text = "server: {base_url: 'http://127.0.0.1:1'}\ndata: {type: random, input_distribution: {mean: 10, std_dev: 0}, output_distribution: {type: fixed, mean: 4}}\n\
                load: {type: constant, think_time: 1, stages: [{rate: 3, duration: 1}]}\n";
    let err = parse_profile(text, Path::new("t.yaml"), "t")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("load.think_time") && err.contains("concurrent or data type multi_turn"),
        "{err}"
    );
    let lp = profile("load: {type: concurrent, think_time: 0.25, stages: [{concurrency_level: 2, num_requests: 4}]}");
    let plan = plan_run(&lp, &members(1), "r", 1).unwrap();
    assert_eq!(plan.stages[0].shards[0].think_time_ms, 250);
}

#[test]
fn sessions_keep_every_round_of_a_user_together() {
    let text = "server: {base_url: 'http://127.0.0.1:1'}\napi: {type: chat}\n\
                data: {type: multi_turn, multi_turn: {users: 3, rounds: 4, system_prompt_len: 5, question_len: 2, answer_len: 3}}\n\
                load: {type: constant, stages: [{rate: inf, num_requests: 6}]}\n";
    let lp = parse_profile(text, Path::new("t.yaml"), "t").unwrap();
    let plan = plan_run(&lp, &members(2), "r", 1).unwrap();
    let stage = &plan.stages[0];
    // 6 sessions of 4 rounds: the arrivals start sessions, every round is a request.
    assert_eq!(stage.planned_requests(), Some(24));
    let shard = &stage.shards[0];
    assert_eq!(shard.session_rounds(), Some(4));
    let src = &shard.data.source;
    let mut seen = std::collections::BTreeSet::new();
    for session in 0..6u64 {
        let first = shard
            .data
            .request(shard.seed, src.session_round_index(session, 0));
        for round in 0..4u32 {
            let idx = src.session_round_index(session, round);
            assert!(seen.insert(idx), "index {idx} used twice");
            let r = shard.data.request(shard.seed, idx);
            let turns = r.messages.expect("chat turns");
            // System prompt, then the earlier rounds' question and answer, then this question.
            assert_eq!(turns.len(), 1 + 2 * round as usize + 1);
            assert_eq!(
                turns[0],
                first.messages.as_ref().unwrap()[0],
                "same user throughout"
            );
            assert_eq!(r.input_tokens, 5 + round * (2 + 3) + 2);
        }
    }
}

#[test]
fn each_host_groups_engine_metrics_go_to_its_first_agent_only() {
    let text = "server: {base_url: 'http://127.0.0.1:1'}\n\
                data: {type: random, input_distribution: {mean: 10, std_dev: 0}, output_distribution: {type: fixed, mean: 4}}\n\
                load: {type: constant, stages: [{rate: 3, duration: 1}]}\n\
                fleet: {weights: {prefill: 0, decode: 0}, hosts: [\n\
                  {role: prefill, engine_metrics: ['http://10.0.0.1:8000/metrics']},\n\
                  {role: decode, engine_metrics: ['http://10.0.0.2:8000/metrics', 'http://10.0.0.3:8000/metrics']}]}\n";
    let lp = parse_profile(text, Path::new("t.yaml"), "t").unwrap();
    let m = |id: &str, role: Role| Member {
        agent_id: id.into(),
        role,
        host_name: "h".into(),
    };
    let members = [
        m("p0", Role::Prefill),
        m("p1", Role::Prefill),
        m("d0", Role::Decode),
        m("c0", Role::Client),
    ];
    let plan = plan_run(&lp, &members, "r", 1).unwrap();
    let scrapes: Vec<Vec<String>> = plan.stages[0]
        .shards
        .iter()
        .map(|s| s.engine_metrics.clone())
        .collect();
    assert_eq!(
        scrapes,
        vec![
            vec!["http://10.0.0.1:8000/metrics".to_string()],
            vec![],
            vec![
                "http://10.0.0.2:8000/metrics".to_string(),
                "http://10.0.0.3:8000/metrics".to_string()
            ],
            vec![],
        ]
    );
    let bad = text.replace("'http://10.0.0.1:8000/metrics'", "'10.0.0.1:8000'");
    let err = parse_profile(&bad, Path::new("t.yaml"), "t")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("fleet.hosts.0.engine_metrics.0") && err.contains("http://HOST:PORT/metrics"),
        "{err}"
    );
}

#[test]
fn planned_counts_are_what_the_shards_send() {
    use fleetbench_model::spec::PlannedCount::{AtMost, Exact, Open};
    let lp = profile("load: {type: constant, stages: [{rate: 100, duration: 10}]}");
    let plan = plan_run(&lp, &members(3), "r", 1).unwrap();
    for s in &plan.stages[0].shards {
        let sent = s.arrivals().map_or(0, |a| a.count() as u64);
        assert_eq!(s.planned_count(), Exact(sent), "shard {}", s.shard);
    }
    let lp = profile("load: {type: poisson, stages: [{rate: 50, duration: 2, num_requests: 30}]}");
    let plan = plan_run(&lp, &members(2), "r", 1).unwrap();
    let caps: Vec<_> = plan.stages[0]
        .shards
        .iter()
        .map(|s| s.planned_count())
        .collect();
    assert_eq!(caps, vec![AtMost(10), AtMost(20)]);
    for s in &plan.stages[0].shards {
        assert!(s
            .planned_count()
            .admits(s.arrivals().unwrap().count() as u64));
    }
    let lp = profile("load: {type: poisson, stages: [{rate: 50, duration: 2}]}");
    let plan = plan_run(&lp, &members(2), "r", 1).unwrap();
    assert_eq!(plan.stages[0].shards[0].planned_count(), Open);
    let lp =
        profile("load: {type: concurrent, stages: [{concurrency_level: 10, num_requests: 100}]}");
    let plan = plan_run(&lp, &members(3), "r", 1).unwrap();
    let counts: Vec<_> = plan.stages[0]
        .shards
        .iter()
        .map(|s| s.planned_count())
        .collect();
    assert_eq!(counts, vec![Exact(30), Exact(70), Exact(0)]);
}

#[test]
fn an_agents_share_above_what_one_agent_carries_is_refused_naming_the_agent() {
    // 300,000 requests/s over agents a (weight 1) and b (weight 2): b would carry 200,000.
    let lp = profile("load: {type: poisson, stages: [{rate: 300000, duration: 1}]}");
    let err = plan_run(&lp, &members(2), "r", 1).unwrap_err().to_string();
    assert!(err.contains("`load.stages.0.rate`"), "{err}");
    assert!(
        err.contains(
            "200000 requests/s asked of agent `b` is above the limit 150000 requests/s per agent"
        ),
        "{err}"
    );
    // A third agent of weight 0 takes nothing off b.
    assert!(plan_run(&lp, &members(3), "r", 1).is_err());
    let lp = profile("load: {type: constant, stages: [{rate: 200000, duration: 1}]}");
    assert!(
        plan_run(&lp, &members(2), "r", 1).is_ok(),
        "a: 66,667, b: 133,333"
    );

    let lp = profile(
        "load: {type: concurrent, stages: [{concurrency_level: 60000, num_requests: 60000}]}",
    );
    let err = plan_run(&lp, &members(2), "r", 1).unwrap_err().to_string();
    assert!(
        err.contains("`load.stages.0.concurrency_level`")
            && err.contains(
                "40000 users on agent `b`: 40000 is above the limit 28232 users per agent"
            ),
        "{err}"
    );
}

#[test]
fn slo_headers_become_the_goodput_objectives_and_breakers_travel_in_the_spec() {
    let text = "server: {base_url: 'http://127.0.0.1:1', model_name: m}\n\
         api: {type: completion, streaming: true, headers: {x-slo-ttft-ms: '200'}}\n\
         data: {type: mock}\n\
         report: {goodput: {constraints: {ttft: 5, tpot: 0.05}}}\n\
         circuit_breakers: [{name: b, metrics: {matches: [error]}, triggers: [{type: consecutive, threshold: 3}]}, {name: unused, metrics: {matches: [error]}, triggers: []}]\n\
         load: {type: constant, circuit_breakers: [b], stages: [{rate: 1, duration: 2}]}\n";
    let lp = parse_profile(text, Path::new("t.yaml"), "t").expect("valid profile");
    let plan = plan_run(&lp, &members(2), "r", 1).unwrap();
    let spec = &plan.stages[0].shards[1];
    // The header's 200 ms replaces report.goodput's ttft; its tpot stays.
    let g = spec.goodput.expect("goodput objectives");
    assert_eq!((g.ttft_us, g.tpot_us), (Some(200_000), Some(50_000)));
    let names: Vec<&str> = spec
        .circuit_breakers
        .iter()
        .map(|b| b.name.as_str())
        .collect();
    assert_eq!(names, ["b"], "only the enabled breakers");
}
