use super::*;
use crate::profile::parse_profile;
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
        let mine: Vec<Arrival> = match &s.load {
            ShardLoad::Constant {
                rate,
                total,
                weights,
            } => constant_arrivals(*rate, *total, weights, s.shard).collect(),
            ShardLoad::Idle => Vec::new(),
            other => panic!("unexpected {other:?}"),
        };
        counts.push(mine.len());
        union.extend(mine);
    }
    union.sort_by(|a, b| a.index.cmp(&b.index));
    let global: Vec<Arrival> = constant_arrivals(100.0, 1000, &[1], 0).collect();
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
            duration_s: 10.0
        }
    );
    assert_eq!(
        s[1].load,
        ShardLoad::Poisson {
            rate: 20.0,
            duration_s: 10.0
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
