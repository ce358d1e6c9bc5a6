use super::*;
use fleetbench_model::spec::PlannedCount::{AtMost, Exact, Open};

fn stat(units: &str) -> Value {
    json!({"units": units, "mean": 1.0})
}

/// A stage report with `total` requests of which `by_class` failed.
fn report(total: u64, by_class: &[(&str, u64)]) -> BenchmarkRun {
    let failures: u64 = by_class.iter().map(|c| c.1).sum();
    let classes: Map<String, Value> = by_class
        .iter()
        .map(|(c, n)| (c.to_string(), json!(n)))
        .collect();
    serde_json::from_value(json!({
        "version": "0.1",
        "scenario": {
            "host": {"type": ["replica"], "accelerator": [{"model": "sim", "count": 0}]},
            "platform": {"engine": [{"name": "fleetbench-sim"}]},
            "model": {"name": "m"},
            "load": {"name": "inference-perf", "metadata": {"stage": 2, "stage_label": "qps_04"}}
        },
        "metrics": {
            "time": {"duration": 10.0},
            "requests": {"total": total, "failures": failures,
                         "input_length": stat("count"), "output_length": stat("count")},
            "latency": {"time_to_first_token": stat("ms")},
            "throughput": {"total_tokens_per_sec": 1.0},
            "metadata": {"failures_by_class": classes}
        }
    }))
    .unwrap()
}

fn tally(shard: u32, planned: PlannedCount, counted: u64) -> ShardTally {
    ShardTally {
        shard,
        agent: format!("agent-{shard}"),
        planned,
        counted,
        lost: false,
        lost_after_s: None,
    }
}

fn inputs(shards: Vec<ShardTally>) -> VerdictInputs {
    VerdictInputs {
        max_failure_rate: DEFAULT_MAX_FAILURE_RATE,
        shards,
        error_bodies: BTreeMap::new(),
    }
}

#[test]
fn a_clean_stage_is_ok() {
    let mut r = report(40, &[]);
    let v = judge(
        &mut r,
        &inputs(vec![tally(0, Exact(20), 20), tally(1, Exact(20), 20)]),
    );
    assert_eq!(v.verdict, Verdict::Ok);
    assert!(v.reasons.is_empty());
    assert_eq!((v.stage, v.label.as_str()), (2, "qps_04"));
    assert_eq!(r.metadata.as_ref().unwrap()["verdict"]["status"], "ok");
}

#[test]
fn every_request_failing_fails_the_stage_and_keeps_the_error_body() {
    let mut r = report(40, &[("http_404", 40)]);
    let mut i = inputs(vec![tally(0, Exact(40), 40)]);
    i.error_bodies.insert(
        "http_404".into(),
        r#"{"error": {"message": "The model `nope` does not exist."}}"#.into(),
    );
    let v = judge(&mut r, &i);
    assert_eq!(v.verdict, Verdict::Failed);
    assert!(
        v.reasons
            .iter()
            .any(|r| r.contains("100% (40 of 40 requests)")),
        "{v:?}"
    );
    assert!(
        v.reasons.iter().any(|r| r == "no successful requests"),
        "{v:?}"
    );
    assert_eq!(v.top_failures[0].class, "http_404");
    assert_eq!(v.top_failures[0].count, 40);
    let lines = verdict_lines(std::slice::from_ref(&v));
    assert!(
        lines[0].starts_with("stage 2 (qps_04): FAILED — "),
        "{lines:?}"
    );
    assert!(
        lines[1].contains("http_404: 40 requests — server said: {\"error\": {\"message\": \"The model `nope` does not exist.\"}}"),
        "{lines:?}"
    );
    // Judged again from the stored report alone: the same verdict.
    assert_eq!(assess(&r), v);
    let back: BenchmarkRun = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
    assert_eq!(assess(&back), v);
}

#[test]
fn the_failure_rate_limit_is_a_strict_bound() {
    let mut r = report(10, &[("http_503", 5)]);
    assert_eq!(judge(&mut r, &inputs(vec![])).verdict, Verdict::Ok);
    let mut r = report(10, &[("http_503", 6)]);
    assert_eq!(judge(&mut r, &inputs(vec![])).verdict, Verdict::Failed);
    let mut r = report(10, &[("http_503", 6)]);
    let mut i = inputs(vec![]);
    i.max_failure_rate = 1.0;
    assert_eq!(judge(&mut r, &i).verdict, Verdict::Ok);
    // Nothing counted at all fails whatever the limit.
    let mut r = report(0, &[]);
    let v = judge(&mut r, &i);
    assert_eq!(v.verdict, Verdict::Failed);
    assert_eq!(v.reasons, vec!["no requests were counted".to_string()]);
}

#[test]
fn a_count_that_differs_from_the_plan_degrades_the_stage_and_names_the_shard() {
    let mut r = report(38, &[]);
    let v = judge(
        &mut r,
        &inputs(vec![tally(0, Exact(20), 20), tally(1, Exact(20), 18)]),
    );
    assert_eq!(v.verdict, Verdict::Degraded);
    assert_eq!(
        v.reasons,
        vec!["shard 1 (agent agent-1): planned 20 requests, counted 18 (2 missing)".to_string()]
    );
    let mut r = report(45, &[]);
    let v = judge(
        &mut r,
        &inputs(vec![tally(0, AtMost(40), 45), tally(1, Open, 1000)]),
    );
    assert_eq!(v.verdict, Verdict::Degraded);
    assert!(
        v.reasons[0].contains("planned at most 40 requests, counted 45 (5 over)"),
        "{v:?}"
    );
    // Under a cap (a stage cut by its duration) is as planned.
    let mut r = report(30, &[]);
    let v = judge(&mut r, &inputs(vec![tally(0, AtMost(40), 30)]));
    assert_eq!(v.verdict, Verdict::Ok);
}

#[test]
fn a_lost_shard_or_a_partial_stage_is_degraded() {
    let mut r = report(58, &[]);
    let mut lost = tally(1, Exact(40), 18);
    lost.lost = true;
    lost.lost_after_s = Some(4.04);
    let v = judge(&mut r, &inputs(vec![tally(0, Exact(40), 40), lost]));
    assert_eq!(v.verdict, Verdict::Degraded);
    assert_eq!(
        v.reasons,
        vec!["shard 1 (agent agent-1) was lost 4.0 s into the stage; 18 requests of 40 planned were counted before".to_string()]
    );

    // An older report: only `metrics.metadata.lost_shards`.
    let mut r = report(58, &[]);
    if let Some(Value::Object(m)) = r.metrics.metadata.as_mut() {
        m.insert(
            "lost_shards".into(),
            json!([{"agent": "b", "shard": 1, "detected_after_s": 2.5}]),
        );
    }
    let v = assess(&r);
    assert_eq!(v.verdict, Verdict::Degraded);
    assert!(
        v.reasons[0].starts_with("shard 1 (agent b) was lost 2.5 s"),
        "{v:?}"
    );

    let mut r = report(10, &[]);
    r.metadata = Some(json!({"partial": true}));
    let v = judge(&mut r, &inputs(vec![]));
    assert_eq!(v.verdict, Verdict::Degraded);
    assert!(v.reasons[0].starts_with("partial"));
    assert_eq!(
        r.metadata.as_ref().unwrap()["partial"],
        true,
        "other metadata kept"
    );
}

#[test]
fn failure_and_degradation_reasons_are_all_given_and_failed_wins() {
    let mut r = report(10, &[("connect", 10)]);
    let mut lost = tally(0, Exact(10), 10);
    lost.lost = true;
    let v = judge(&mut r, &inputs(vec![lost]));
    assert_eq!(v.verdict, Verdict::Failed);
    assert_eq!(v.reasons.len(), 3, "{v:?}");
    assert_eq!(worst(std::slice::from_ref(&v)), Verdict::Failed);
    assert_eq!(worst(&[]), Verdict::Ok);
}

#[test]
fn top_failures_are_the_largest_classes() {
    let mut r = report(
        100,
        &[("a", 1), ("b", 9), ("c", 3), ("d", 3), ("e", 2), ("f", 7)],
    );
    let v = judge(&mut r, &inputs(vec![]));
    let names: Vec<&str> = v.top_failures.iter().map(|f| f.class.as_str()).collect();
    assert_eq!(names, ["b", "f", "c", "d", "e"]);
}

#[test]
fn error_bodies_are_printed_on_one_line_without_control_characters() {
    assert_eq!(printable("a\n\n  b\tc", 100), "a b c");
    assert_eq!(printable("\u{1b}[31mred", 100), "\\u{1b}[31mred");
    assert_eq!(printable("abcdef", 3), "abc…");
    assert_eq!(printable("  \n", 10), "");
}

#[test]
fn markdown_and_json_carry_the_verdicts() {
    let mut r = report(4, &[("http_500", 4)]);
    let v = judge(&mut r, &inputs(vec![]));
    let md = verdicts_markdown(std::slice::from_ref(&v));
    assert!(md.contains("## Verdicts"));
    assert!(md.contains("- stage 2 (qps_04): **failed** — "), "{md}");
    assert!(md.contains("  - http_500: 4 requests\n"), "{md}");
    let j = with_verdicts(json!({"serving": {}}), &[v]);
    assert_eq!(j["verdicts"][0]["verdict"], "failed");
    assert_eq!(j["verdicts"][0]["top_failures"][0]["class"], "http_500");
    assert!(j["serving"].is_object());
}

#[test]
fn a_tripped_circuit_breaker_fails_the_stage_and_names_breaker_agent_time_and_why() {
    let mut r = report(12, &[("http_503", 12)]);
    if let Some(Value::Object(m)) = r.metrics.metadata.as_mut() {
        m.insert(
            "circuit_breaker".into(),
            json!({"name": "b503", "agent": "agent-1", "shard": 1, "at_s": 0.84,
                   "trigger": "consecutive", "reason": "5 watched requests in a row were hits (threshold 5)"}),
        );
    }
    let v = judge(
        &mut r,
        &inputs(vec![tally(0, Exact(100), 6), tally(1, Exact(100), 6)]),
    );
    assert_eq!(v.verdict, Verdict::Failed);
    let said = v.reasons.join("\n");
    assert!(
        said.contains("circuit breaker b503 tripped on agent agent-1 0.8 s into the stage (consecutive: 5 watched requests in a row"),
        "{said}"
    );
    // The shards' short counts are what the stop did: not listed again.
    assert!(!said.contains("missing"), "{said}");
    assert_eq!(assess(&r), v, "a stored report is judged the same");
}

#[test]
fn a_replay_s_failed_sessions_degrade_the_stage_and_none_completed_fails_it() {
    let with_sessions = |ok: u64, failed: u64| {
        let mut r = report(6, &[("http_400", 1)]);
        if let Some(Value::Object(m)) = r.metrics.metadata.as_mut() {
            let s = json!({"ok": ok, "failed": failed, "calls_not_sent": 4});
            m.insert("sessions".into(), s);
        }
        assess(&r)
    };
    let some = with_sessions(3, 1);
    assert_eq!(some.verdict, Verdict::Degraded);
    assert_eq!(some.reasons, ["1 of 4 sessions failed (4 calls not sent)"]);
    let none = with_sessions(0, 1);
    assert_eq!(none.verdict, Verdict::Failed);
    assert_eq!(
        none.reasons,
        ["no session completed: 1 failed (4 calls not sent)"]
    );
    assert_eq!(with_sessions(4, 0).verdict, Verdict::Ok);
}
