//! `load.sweep`: parsed with inference-perf's defaults, checked with errors that name the key
//! and the limit, planned as the probe stage, and the generated stages planned after it.

use super::*;
use crate::plan::{plan_run, plan_sweep_stages};
use crate::test_support::{members, Section};
use fleetbench_model::spec::StageLoad;

const HEAD: &str = "server: {base_url: 'http://127.0.0.1:8000', model_name: m}\n\
api: {type: completion, streaming: true}\n\
data: {type: mock}\n";

const LOAD: Section = Section {
    head: HEAD,
    key: "load",
    file: "profiles/sweep.yaml",
};

fn parse(load: &str) -> Result<LoadedProfile, ProfileError> {
    LOAD.parse(load)
}

fn err_of(load: &str) -> String {
    LOAD.err_of(load)
}

#[test]
fn a_sweep_has_inference_perfs_defaults_and_plans_the_probe() {
    let lp = parse("{type: constant, sweep: {type: geometric}}").unwrap();
    let s = lp.profile.load.sweep.clone().unwrap();
    assert_eq!(
        s,
        SweepConfig {
            kind: SweepType::Geometric,
            num_requests: 2000,
            timeout: 60.0,
            num_stages: 5,
            stage_duration: 180,
            saturation_percentile: 95.0,
        }
    );
    let plan = plan_run(&lp, &members(2), "r", 7).unwrap();
    assert_eq!(plan.stages.len(), 1);
    let probe = &plan.stages[0];
    assert_eq!(probe.label, PROBE_LABEL);
    assert_eq!(
        probe.load,
        StageLoad::Constant {
            rate: 400.0,
            ramp_to: None,
            duration_s: Some(5.0),
            total: 2000
        }
    );
    assert_eq!(probe.planned_requests(), Some(2000));
    for shard in &probe.shards {
        assert!(shard.per_request, "the probe keeps per-request records");
        assert_eq!(shard.grace_period_ms, 55_000, "timeout 60 s − 5 s of sends");
    }
    // Poisson: Poisson arrivals at the same rate, capped at num_requests.
    let lp =
        parse("{type: poisson, sweep: {type: linear, num_requests: 100, timeout: 3}}").unwrap();
    let plan = plan_run(&lp, &members(1), "r", 7).unwrap();
    assert_eq!(
        plan.stages[0].load,
        StageLoad::Poisson {
            rate: 20.0,
            ramp_to: None,
            duration_s: 5.0,
            max_requests: Some(100)
        }
    );
    assert_eq!(plan.stages[0].shards[0].grace_period_ms, 0);
}

#[test]
fn the_generated_stages_follow_the_probe_with_their_own_seeds() {
    let lp = parse(
        "{type: constant, sweep: {type: linear, num_requests: 200, num_stages: 3, stage_duration: 2}, stages: [{rate: 9, duration: 9}]}",
    )
    .unwrap();
    let probe = plan_run(&lp, &members(2), "r", 7).unwrap();
    let stages = plan_sweep_stages(&lp, &[1.0, 4.5, 8.0], &members(2), "r", 7).unwrap();
    assert_eq!(stages.len(), 3);
    for (i, (st, rate)) in stages.iter().zip([1.0, 4.5, 8.0]).enumerate() {
        let index = i as u32 + 1;
        assert_eq!(st.index, index);
        assert_eq!(
            st.load,
            StageLoad::Constant {
                rate,
                ramp_to: None,
                duration_s: Some(2.0),
                total: (rate * 2.0) as u64
            }
        );
        assert_ne!(st.label, PROBE_LABEL);
        for sh in &st.shards {
            assert_eq!(sh.stage, index);
            assert!(!sh.per_request);
            assert_eq!(sh.grace_period_ms, 30_000);
            assert_ne!(sh.seed, probe.stages[0].shards[0].seed);
        }
    }
    assert_ne!(stages[0].shards[0].seed, stages[1].shards[0].seed);
}

#[test]
fn sweep_errors_name_the_key_and_the_limit() {
    for (load, key, why) in [
        (
            "{type: concurrent, sweep: {type: linear}}",
            "load.sweep",
            "load type concurrent",
        ),
        (
            "{type: gamma, sweep: {type: linear}}",
            "load.sweep",
            "does not support",
        ),
        (
            "{type: constant, sweep: {type: linear}, rates: [1, 2], stage_duration: 2}",
            "load.sweep",
            "not both",
        ),
        (
            "{type: constant, sweep: {type: linear, num_requests: 0}}",
            "load.sweep.num_requests",
            "from 1 to 100000",
        ),
        (
            "{type: constant, sweep: {type: linear, num_requests: 100001}}",
            "load.sweep.num_requests",
            "100000",
        ),
        (
            "{type: constant, sweep: {type: linear, timeout: 0}}",
            "load.sweep.timeout",
            "at most 3600",
        ),
        (
            "{type: constant, sweep: {type: linear, num_stages: 0}}",
            "load.sweep.num_stages",
            "from 1 to 100",
        ),
        (
            "{type: constant, sweep: {type: linear, stage_duration: 0}}",
            "load.sweep.stage_duration",
            "at least 1",
        ),
        (
            "{type: constant, sweep: {type: linear, stage_duration: 700000}}",
            "load.sweep.stage_duration",
            "above the limit 604800",
        ),
        (
            "{type: constant, sweep: {type: linear, saturation_percentile: 101}}",
            "load.sweep.saturation_percentile",
            "from 0 to 100",
        ),
        (
            "{type: constant, sweep: {type: linear}, stages: [{rate: 0, duration: 2}]}",
            "load.stages.0.rate",
            "> 0",
        ),
        (
            "{type: constant, sweep: {num_stages: 3}}",
            "type",
            "missing",
        ),
        ("{type: constant, sweep: {type: log}}", "log", "geometric"),
        (
            "{type: constant, sweep: {type: linear, steps: 3}}",
            "steps",
            "unknown",
        ),
    ] {
        let err = err_of(load);
        assert!(err.contains(key) && err.contains(why), "{load}: {err}");
    }
}
