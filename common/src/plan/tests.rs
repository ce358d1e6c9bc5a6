use super::*;
use crate::profile::parse_profile;
use schedule::Ramp;
use std::path::Path;

fn profile(load: &str) -> LoadedProfile {
    let text = format!(
        "server: {{base_url: 'http://127.0.0.1:1', model_name: m}}\n\
         api: {{type: completion, streaming: true}}\n\
         data: {{type: random, input_distribution: {{mean: 10, std_dev: 0}}, output_distribution: {{mean: 4}}}}\n\
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
                duration_s: None
            },
            ShardLoad::Concurrent {
                users: 7,
                num_requests: Some(70),
                duration_s: None
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
            "server: {{base_url: 'http://127.0.0.1:1'}}\ndata: {{type: random, input_distribution: {{mean: 1}}, output_distribution: {{mean: 1}}}}\n{load}\n"
        );
        let err = crate::profile::parse_profile(&text, Path::new("p.yaml"), "p")
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
