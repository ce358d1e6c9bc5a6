//! inference-perf's keys, each with the meaning fleetbench gives it: the names it serializes
//! with, lengths as distributions, `seed`, multi-turn chat, mock data, `trace_replay` with an
//! Azure trace, `response_format`, `metrics.prometheus`, `load.interval`, and the refusals that
//! say why.

use super::*;
use crate::plan::plan_run;
use fleetbench_model::data::{DataSource, LengthDist, LengthSpec};
use fleetbench_model::role::Role;
use fleetbench_model::spec::Member;
use std::path::Path;

const HEAD: &str = "server: {base_url: 'http://127.0.0.1:8000', model_name: m}\n\
api: {type: completion, streaming: true}\n";
const LOAD: &str = "load: {type: constant, stages: [{rate: 1, duration: 2}]}\n";

fn parse(text: &str) -> Result<LoadedProfile, ProfileError> {
    parse_profile(text, Path::new("profiles/ip.yaml"), "ip")
}

fn with_data(data: &str) -> Result<LoadedProfile, ProfileError> {
    parse(&format!("{HEAD}data: {data}\n{LOAD}"))
}

fn err_of(r: Result<LoadedProfile, ProfileError>) -> String {
    r.unwrap_err().to_string()
}

fn one_member() -> Vec<Member> {
    vec![Member {
        agent_id: "a".into(),
        role: Role::Client,
        host_name: "h".into(),
    }]
}

fn source(lp: &LoadedProfile, run_seed: u64) -> DataSource {
    crate::data::plan::plan_data(lp, run_seed).source
}

#[test]
fn shared_prefix_takes_inference_perfs_serialized_names_seed_and_distributions() {
    let lp = with_data(
        "{type: shared_prefix, shared_prefix: {num_unique_system_prompts: 3, num_users_per_system_prompt: 5, \
         seed: 42, system_prompt_len: {type: uniform, min: 20, max: 40}, \
         question_len: {type: skew_normal, mean: 30, std_dev: 5, skew: 2, min: 10, max: 60}, output_len: 7}}",
    )
    .unwrap();
    let sp = lp.profile.data.shared_prefix.clone().unwrap();
    assert_eq!((sp.num_groups, sp.num_prompts_per_group), (3, 5));
    // `seed` fixes the prompts whatever the run's seed.
    let (a, b) = (source(&lp, 1), source(&lp, 2));
    assert_eq!(a, b);
    let DataSource::SharedPrefix {
        system_prompt: Some(sys),
        question,
        ..
    } = &a
    else {
        panic!("{a:?}");
    };
    assert_eq!((sys.dist, sys.min, sys.max), (LengthDist::Uniform, 20, 40));
    assert_eq!(
        (question.dist, question.skew),
        (LengthDist::SkewNormal, 2.0)
    );
    // A group's system prompt has one length; every request's input is it plus its question.
    let r0 = a.request(9, 0);
    let r3 = a.request(9, 3);
    let sys_words =
        |r: &fleetbench_model::data::RequestContent, q: usize| r.input_tokens as usize - q;
    assert!(r0
        .prompt
        .starts_with(&r3.prompt.split(' ').take(20).collect::<Vec<_>>().join(" ")));
    assert_eq!(r0.max_tokens, 7);
    assert!(sys_words(&r0, 10) >= 20);
    // inference-perf's defaults: 10 groups of 10, system prompt 100, question 50, output 50.
    let lp = with_data("{type: shared_prefix, shared_prefix: {}}").unwrap();
    let DataSource::SharedPrefix {
        num_groups,
        prompts_per_group,
        system_prompt_len,
        question,
        output,
        ..
    } = source(&lp, 1)
    else {
        panic!()
    };
    assert_eq!(
        (num_groups, prompts_per_group, system_prompt_len),
        (10, 10, 100)
    );
    assert_eq!((question.mean, output.mean), (50.0, 50.0));
}

#[test]
fn a_legacy_distribution_wins_over_a_number_and_clashes_with_an_inline_one() {
    let lp = with_data(
        "{type: shared_prefix, shared_prefix: {question_len: 5, question_distribution: {type: fixed, mean: 12}}}",
    )
    .unwrap();
    assert_eq!(
        lp.profile.data.shared_prefix.as_ref().unwrap().num_groups,
        10
    );
    let DataSource::SharedPrefix { question, .. } = source(&lp, 1) else {
        panic!()
    };
    assert_eq!(question.mean, 12.0);
    let err = err_of(with_data(
        "{type: shared_prefix, shared_prefix: {question_len: {type: fixed, mean: 5}, question_distribution: {type: fixed, mean: 12}}}",
    ));
    assert!(
        err.contains("data.shared_prefix.question_distribution") && err.contains("not both"),
        "{err}"
    );
}

#[test]
fn multi_turn_chat_makes_one_session_per_group() {
    let lp = with_data(
        "{type: shared_prefix, shared_prefix: {num_groups: 4, num_prompts_per_group: 3, system_prompt_len: 8, question_len: 5, output_len: 6, enable_multi_turn_chat: true}}",
    )
    .unwrap();
    let s = source(&lp, 1);
    assert_eq!(s.session_rounds(), Some(3));
    let DataSource::MultiTurn {
        users,
        rounds,
        carry_history,
        ..
    } = s
    else {
        panic!("{s:?}")
    };
    assert_eq!((users, rounds, carry_history), (4, 3, true));
    // Round 2 of a session carries its two earlier questions and answers.
    let r = s.request(3, s.session_round_index(0, 2));
    assert_eq!(r.input_tokens, 8 + 2 * (5 + 6) + 5);
}

#[test]
fn distribution_forms_of_inference_perf() {
    for d in [
        "{type: poisson, mean: 20, min: 1, max: 100}",
        "{type: normal, mean: 20, variance: 16, std_dev: 0, min: 1, max: 100}",
        "{type: skew_normal, mean: 20, std_dev: 4, skew: -3, min: 1, max: 100}",
    ] {
        let lp = with_data(&format!(
            "{{type: random, input_distribution: {d}, output_distribution: {{type: fixed, mean: 4}}}}"
        ))
        .unwrap_or_else(|e| panic!("{d}: {e}"));
        let s = source(&lp, 1);
        let mean = (0..400)
            .map(|j| s.request(5, j).input_tokens as f64)
            .sum::<f64>()
            / 400.0;
        assert!((14.0..26.0).contains(&mean), "{d}: mean {mean}");
    }
    let lp = with_data("{type: random, input_distribution: {mean: 20, variance: 16, std_dev: 0, min: 1, max: 100}, output_distribution: {type: fixed, mean: 4}}").unwrap();
    let DataSource::Synthetic { input, .. } = source(&lp, 1) else {
        panic!()
    };
    assert_eq!(input.std_dev, 4.0);
    let err = err_of(with_data("{type: random, input_distribution: {mean: 20, std_dev: 2, variance: 16}, output_distribution: {type: fixed, mean: 4}}"));
    assert!(
        err.contains("input_distribution.variance") && err.contains("not both"),
        "{err}"
    );
    // A variance alone is "both" to inference-perf: std_dev defaults to 200.
    let err = err_of(with_data("{type: random, input_distribution: {mean: 20, variance: 16}, output_distribution: {type: fixed, mean: 4}}"));
    assert!(
        err.contains("input_distribution.variance") && err.contains("inference-perf's default"),
        "{err}"
    );
}

#[test]
fn omitted_distribution_keys_take_inference_perfs_defaults() {
    let lp = with_data("{type: random, input_distribution: {}, output_distribution: {mean: 100}}")
        .unwrap();
    let DataSource::Synthetic { input, output } = source(&lp, 1) else {
        panic!()
    };
    let l = |s: &LengthSpec| (s.dist, s.min, s.max, s.mean, s.std_dev);
    assert_eq!(l(&input), (LengthDist::Normal, 10, 1024, 512.0, 200.0));
    assert_eq!(l(&output), (LengthDist::Normal, 10, 1024, 100.0, 200.0));
    // fixed is int(mean), below the default min too; uniform keeps min and max, not the mean.
    let lp = with_data("{type: random, input_distribution: {type: fixed, mean: 4.9}, output_distribution: {type: uniform, max: 30, mean: 3}}")
        .unwrap();
    let DataSource::Synthetic { input, output } = source(&lp, 1) else {
        panic!()
    };
    assert_eq!(
        (input.dist, input.min, input.max, input.mean),
        (LengthDist::Fixed, 4, 4, 4.0)
    );
    assert_eq!((output.min, output.max, output.mean), (10, 30, 20.0));
    for j in 0..50 {
        let r = source(&lp, 1).request(3, j);
        assert_eq!(r.input_tokens, 4);
        assert!((10..=30).contains(&r.max_tokens), "{}", r.max_tokens);
    }
    // A max below the default min is min above max, as in inference-perf.
    let err = err_of(with_data(
        "{type: random, input_distribution: {max: 5}, output_distribution: {type: fixed, mean: 4}}",
    ));
    assert!(err.contains("min 10 is above max 5"), "{err}");
}

#[test]
fn load_interval_defaults_to_inference_perfs_second() {
    let lp = with_data("{type: mock}").unwrap();
    let plan = plan_run(&lp, &one_member(), "r", 1).unwrap();
    assert_eq!(plan.stage_interval_s, 1.0);
}

#[test]
fn mock_data_is_inference_perfs_prompts() {
    let lp = with_data("{type: mock}").unwrap();
    let r = source(&lp, 1).request(0, 4);
    assert_eq!(
        (r.prompt.as_str(), r.input_tokens, r.max_tokens),
        ("1 2 3 5", 4, 30)
    );
    let chat = parse(&format!(
        "{}data: {{type: mock}}\n{LOAD}",
        HEAD.replace("type: completion", "type: chat")
    ))
    .unwrap();
    assert_eq!(source(&chat, 1).request(0, 0).prompt, "mock prompt 1");
}

#[test]
fn trace_replay_reads_an_azure_trace_and_trace_stays_an_alias() {
    let dir = std::env::temp_dir().join(format!("fb-ip-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("trace.csv");
    std::fs::write(
        &csv,
        "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.00,30,4\n2023-11-16 18:15:46.50,12,3\n2023-11-16 18:15:47.25,20,2\n",
    )
    .unwrap();
    for kind in ["trace_replay", "trace"] {
        let text = format!(
            "{HEAD}data: {{type: random, trace: {{file: {f}, format: AzurePublicDataset}}}}\n\
             load: {{type: {kind}, trace: {{file: {f}}}, stages: [{{rate: 1, duration: 30}}]}}\n",
            f = csv.display()
        );
        let lp = parse(&text).unwrap_or_else(|e| panic!("{kind}: {e}"));
        let plan = plan_run(&lp, &one_member(), "r", 7).unwrap();
        assert_eq!(plan.stages[0].planned_requests(), Some(3), "{kind}");
        let DataSource::Trace { records } = &plan.stages[0].shards[0].data.source else {
            panic!()
        };
        let times: Vec<f64> = records.iter().map(|r| r.timestamp_ms).collect();
        assert_eq!(times, [0.0, 500.0, 1250.0]);
        assert_eq!(plan.stages[0].shards[0].data.request(1, 1).input_tokens, 12);
    }
    let err = err_of(parse(&format!(
        "{HEAD}data: {{type: random, input_distribution: {{type: fixed, mean: 3}}, output_distribution: {{type: fixed, mean: 3}}}}\nload: {{type: trace_replay, stages: [{{rate: 1, duration: 3}}]}}\n"
    )));
    assert!(err.contains("load.trace"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn response_format_interval_and_prometheus_reach_the_plan() {
    let text = format!(
        "{}data: {{type: mock}}\n\
         load: {{type: constant, interval: 2.5, stages: [{{rate: 1, duration: 1}}, {{rate: 2, duration: 1}}]}}\n\
         metrics: {{type: prometheus, prometheus: {{url: 'http://127.0.0.1:9090', scrape_interval: 15, filters: ['namespace=\"llm\"']}}}}\n",
        HEAD.replace(
            "streaming: true}",
            "streaming: true, response_format: {type: json_schema, name: answer, json_schema: {type: object}}}"
        )
    );
    let lp = parse(&text).unwrap();
    let plan = plan_run(&lp, &one_member(), "r", 7).unwrap();
    assert_eq!(plan.stage_interval_s, 2.5);
    let shard = &plan.stages[0].shards[0];
    assert_eq!(
        shard.endpoint.response_format,
        Some(
            serde_json::json!({"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object"}}})
        )
    );
    assert_eq!(
        shard.engine_metrics,
        [
            "http://127.0.0.1:9090/federate?match%5B%5D=%7B__name__%3D~%22vllm%3A.%2A%7Csglang%3A.%2A%7Ctgi_.%2A%7Cllamacpp%3A.%2A%7Cnv_.%2A%7Cdynamo_.%2A%22%2Cnamespace%3D%22llm%22%7D"
        ]
    );
    assert!(shard.prometheus_query.is_none());
    // Google Cloud Managed Prometheus: the first shard queries it (URL and token filled by
    // the coordinator at each stage's start); the others do not.
    let lp = parse(&format!(
        "{HEAD}data: {{type: mock}}\n{LOAD}metrics: {{type: prometheus, prometheus: {{google_managed: true, filters: ['cluster=\"c\"']}}}}\n"
    ))
    .unwrap();
    let plan = plan_run(&lp, &one_member(), "r", 7).unwrap();
    let q = plan.stages[0].shards[0].prometheus_query.clone().unwrap();
    assert_eq!((q.base_url.as_str(), q.bearer.as_deref()), ("", None));
    assert_eq!(
        q.selector,
        "{__name__=~\"vllm:.*|sglang:.*|tgi_.*|llamacpp:.*|nv_.*|dynamo_.*\",cluster=\"c\"}"
    );
    assert!(plan.stages[0].shards[0].engine_metrics.is_empty());
    // A Prometheus server over https is read through /federate too.
    let lp = parse(&format!(
        "{HEAD}data: {{type: mock}}\n{LOAD}metrics: {{type: prometheus, prometheus: {{url: 'https://prom.example:9090'}}}}\n"
    ))
    .unwrap();
    let plan = plan_run(&lp, &one_member(), "r", 7).unwrap();
    assert!(plan.stages[0].shards[0].engine_metrics[0]
        .starts_with("https://prom.example:9090/federate?"));
    for (bad, key) in [
        (
            "{type: prometheus, prometheus: {google_managed: true, url: 'http://127.0.0.1:9090'}}",
            "exactly one of url and google_managed",
        ),
        (
            "{type: prometheus, prometheus: {scrape_interval: 15}}",
            "exactly one of url and google_managed",
        ),
        (
            "{type: prometheus, prometheus: {url: 'ftp://h:1'}}",
            "metrics.prometheus.url",
        ),
        ("{type: prometheus}", "metrics.prometheus"),
    ] {
        let err = err_of(parse(&format!(
            "{HEAD}data: {{type: mock}}\n{LOAD}metrics: {bad}\n"
        )));
        assert!(err.contains(key), "{bad}: {err}");
    }
    let err = err_of(parse(&format!(
        "{HEAD}data: {{type: mock}}\nload: {{type: constant, interval: -1, stages: [{{rate: 1, duration: 1}}]}}\n"
    )));
    assert!(err.contains("load.interval"), "{err}");
}

#[test]
fn keys_not_implemented_are_refused_with_the_reason() {
    for (extra, key, why) in [
        (
            "load: {type: concurrent, stages: [{concurrent_sessions: 2, num_sessions: 4}]}",
            "load.stages",
            "trace_session_replay",
        ),
        (
            "load: {type: trace_session_replay, stages: [{concurrent_sessions: 1}]}",
            "load.type",
            "trace_session_replay runs the data's sessions",
        ),
    ] {
        let err = err_of(parse(&format!("{HEAD}data: {{type: mock}}\n{extra}\n")));
        assert!(err.contains(key) && err.contains(why), "{extra}: {err}");
    }
    // inference-perf's config-weka.yaml less its tokenizer: refused naming the tokenizer (the
    // prompts are rebuilt from token ids); with another load type, naming load.type.
    let weka = "data: {type: weka_trace_replay, weka_trace_replay: {hf_dataset_path: semianalysisai/cc-traces-weka-with-subagents-060826-256k, num_dataset_entries: 5, use_static_model: true, static_model_name: m, default_block_size: 64, skip_invalid_files: true}}";
    let err = err_of(parse(&format!(
        "{HEAD}{weka}\nload: {{type: trace_session_replay, stages: [{{concurrent_sessions: 2, num_sessions: 5}}]}}\n"
    )));
    assert!(
        err.contains("tokenizer.pretrained_model_name_or_path")
            && err.contains("weka_trace_replay rebuilds prompts from token ids"),
        "{err}"
    );
    let err = err_of(parse(&format!(
        "{HEAD}{weka}\nload: {{type: constant, stages: [{{rate: 1, duration: 2}}]}}\n"
    )));
    assert!(
        err.contains("load.type")
            && err.contains(
                "data.type 'weka_trace_replay' requires load.type 'trace_session_replay'"
            ),
        "{err}"
    );
    // Media need the chat API (this HEAD's is completion).
    let err = err_of(with_data("{type: synthetic, multimodal: {image: {}}, input_distribution: {type: fixed, mean: 3}, output_distribution: {type: fixed, mean: 3}}"));
    assert!(
        err.contains("data.multimodal") && err.contains("api.type chat"),
        "{err}"
    );
    // A breaker that is defined but not enabled changes nothing, as in inference-perf.
    parse(&format!(
        "{HEAD}data: {{type: mock}}\n{LOAD}circuit_breakers: [{{name: b, metrics: {{matches: [x]}}, triggers: [{{type: rate_over_window, window_sec: 2.5, threshold: 0.8, min_samples: 2}}]}}]\n"
    ))
    .unwrap();
}

#[test]
fn enabled_circuit_breakers_are_accepted_and_their_expressions_checked() {
    const BREAKER: &str = "circuit_breakers: [{name: b, metrics: {matches: [\"error.error_type == 'TimeoutError'\"], rules: [\"contains(error.error_msg, 'x')\"]}, triggers: [{type: consecutive, threshold: 2}]}]";
    let lp = parse(&format!(
        "{HEAD}data: {{type: mock}}\n{BREAKER}\nload: {{type: constant, circuit_breakers: [b], stages: [{{rate: 1, duration: 2}}]}}\n"
    ))
    .unwrap();
    assert_eq!(
        lp.profile.load.circuit_breakers,
        Some(vec!["b".to_string()])
    );
    for (matches, key, why) in [
        (
            "[\"error.code == 503\"]",
            "circuit_breakers.0.metrics.matches.0",
            "backticks",
        ),
        (
            "[error, \"items[?x]\"]",
            "circuit_breakers.0.metrics.matches.1",
            "not supported",
        ),
    ] {
        let err = err_of(parse(&format!(
            "{HEAD}data: {{type: mock}}\ncircuit_breakers: [{{name: b, metrics: {{matches: {matches}}}, triggers: [{{type: consecutive, threshold: 2}}]}}]\n{LOAD}"
        )));
        assert!(err.contains(key) && err.contains(why), "{matches}: {err}");
    }
}
