use super::*;
use fleetbench_model::settings::{NvmlSetting, TelemetrySection};
use fleetbench_model::spec::Rate;
use std::path::Path;

const BASE: &str = "server: {base_url: 'http://127.0.0.1:8000', model_name: m}\n\
api: {type: completion, streaming: true}\n\
data: {type: random, input_distribution: {mean: 10, std_dev: 0}, output_distribution: {type: fixed, mean: 4}}\n\
load: {type: constant, stages: [{rate: 1, duration: 2}]}\n";

fn parse(text: &str) -> Result<LoadedProfile, ProfileError> {
    parse_profile(text, Path::new("profiles/x.yaml"), "x")
}

#[test]
fn a_minimal_profile_parses_with_defaults() {
    let p = parse(BASE).unwrap();
    assert_eq!(p.name, "x");
    assert!(p.profile.server.ignore_eos);
    assert_eq!(p.profile.load.stages.len(), 1);
}

#[test]
fn unknown_key_names_file_line_key_and_allowed_keys() {
    let err = parse(&format!("{BASE}bogus_key: 1\n"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("profiles/x.yaml"), "{err}");
    assert!(err.contains("bogus_key"), "{err}");
    assert!(err.contains("line 5"), "{err}");
    assert!(
        err.contains("expected one of") && err.contains("fleet"),
        "{err}"
    );
}

#[test]
fn unknown_nested_key_is_rejected() {
    let text = BASE.replace("streaming: true", "streaming: true, stream: false");
    let err = parse(&text).unwrap_err().to_string();
    assert!(
        err.contains("unknown field `stream`") && err.contains("streaming"),
        "{err}"
    );
}

#[test]
fn storage_buckets_are_read_and_checked() {
    let p = parse(&format!(
        "{BASE}storage:\n  local_storage: {{path: 'out/{{timestamp}}', report_file_prefix: llama-}}\n  google_cloud_storage: {{bucket_name: my-results, path: bench}}\n  simple_storage_service: {{bucket_name: s3-results, endpoint_url: 'http://127.0.0.1:9000', region_name: eu-west-3, addressing_style: path, report_file_prefix: x}}\n"
    ))
    .unwrap();
    let s = p.profile.storage.unwrap();
    assert_eq!(
        s.google_cloud_storage.unwrap().path.as_deref(),
        Some("bench")
    );
    let s3 = s.simple_storage_service.unwrap();
    assert_eq!(s3.addressing_style, Some(AddressingStyle::Path));
    assert_eq!(s3.region_name.as_deref(), Some("eu-west-3"));
    assert_eq!(
        fill_timestamp("out/{timestamp}", 1_796_293_805),
        "out/20261203-103005"
    );
    for (bad, key) in [
        (
            "google_cloud_storage: {path: p}",
            "missing field `bucket_name`",
        ),
        (
            "google_cloud_storage: {bucket_name: Bad_Bucket}",
            "storage.google_cloud_storage.bucket_name",
        ),
        (
            "simple_storage_service: {bucket_name: b1b, endpoint_url: 'ftp://x'}",
            "storage.simple_storage_service.endpoint_url",
        ),
        (
            "simple_storage_service: {bucket_name: b1b, addressing_style: dns}",
            "addressing_style",
        ),
        (
            "simple_storage_service: {bucket_name: b1b, region_name: EU}",
            "storage.simple_storage_service.region_name",
        ),
        (
            "local_storage: {report_file_prefix: 'a/b'}",
            "storage.local_storage.report_file_prefix",
        ),
        (
            "local_storage: {report_file_prefix: .hidden-}",
            "not starting with '.'",
        ),
        (
            "local_storage: {report_file_prefix: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}",
            "at most 40",
        ),
        (
            "google_cloud_storage: {bucket_name: b1b, unknown: 1}",
            "unknown field `unknown`",
        ),
    ] {
        let err = parse(&format!("{BASE}storage: {{{bad}}}\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(key), "{bad}: {err}");
    }
}

#[test]
fn python_tuning_keys_are_accepted() {
    let text = BASE.replace(
        "stages:",
        "num_workers: 4, worker_max_concurrency: 10, stages:",
    );
    assert!(parse(&text).is_ok());
}

#[test]
fn bad_values_name_the_key_and_what_is_allowed() {
    let err = parse(&BASE.replace("rate: 1", "rate: -3"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("load.stages.0.rate") && err.contains("> 0"),
        "{err}"
    );
    let err = parse(&BASE.replace("type: constant", "type: sometimes"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("sometimes") && err.contains("constant") && err.contains("poisson"),
        "{err}"
    );
    let err = parse(&BASE.replace("type: completion", "type: chatty"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("chatty") && err.contains("chat"), "{err}");
}

#[test]
fn env_placeholders_are_filled_or_named() {
    std::env::set_var("FLEETBENCH_TEST_URL", "http://127.0.0.1:9");
    let text = BASE.replace("'http://127.0.0.1:8000'", "REPLACE_ENV_FLEETBENCH_TEST_URL");
    let p = parse(&text).unwrap();
    assert_eq!(p.profile.server.base_url, "http://127.0.0.1:9");
    let text = BASE.replace(
        "'http://127.0.0.1:8000'",
        "REPLACE_ENV_FLEETBENCH_SURELY_UNSET",
    );
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.contains("FLEETBENCH_SURELY_UNSET"), "{err}");
}

fn parse_o(text: &str, o: &[&str]) -> Result<LoadedProfile, ProfileError> {
    let o: Vec<String> = o.iter().map(|s| s.to_string()).collect();
    parse_profile_with(text, Path::new("profiles/x.yaml"), "x", &o)
}

const BLOCK: &str = "server:\n  base_url: 'http://127.0.0.1:8000'\napi: {type: completion, streaming: true}\n\
data:\n  type: random\n  input_distribution: {mean: 10, std_dev: 0}\n  output_distribution:\n    mean: 4\n    min: 9\n    max: 3\n\
load:\n  type: constant\n  stages:\n    - {rate: 1, duration: 2}\n    - rate: 0\n      duration: 2\n";

#[test]
fn validation_errors_name_file_line_column_key_and_allowed() {
    // A bad value in a block mapping.
    let err = parse(BLOCK).unwrap_err().to_string();
    assert!(
        err.starts_with("profiles/x.yaml: line 9 column 5: `data.output_distribution.min`"),
        "{err}"
    );
    assert!(err.contains("above max 3"), "{err}");
    // A bad value in a block list item.
    let fixed = BLOCK.replace("min: 9", "min: 1");
    let err = parse(&fixed).unwrap_err().to_string();
    assert!(
        err.contains("line 15 column 7: `load.stages.1.rate`") && err.contains("> 0"),
        "{err}"
    );
    // A bad value in a flow list item.
    let err = parse(&BASE.replace("rate: 1", "rate: -3"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 4 column 34"), "{err}");
    // A key another data type reads names the key and the type that reads it.
    let err = parse(&BASE.replace("type: random,", "type: random, visionarena: {},"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("line 3 column 22: `data.visionarena`")
            && err.contains("only read by data type visionarena"),
        "{err}"
    );
}

#[test]
fn distribution_types_take_inference_perfs_keys() {
    let with = |d: &str| BASE.replace("{mean: 10, std_dev: 0}", d);
    assert!(parse(&with("{type: uniform, min: 5, max: 50}")).is_ok());
    assert!(parse(&with("{type: lognormal, mean: 100, std_dev: 40, max: 400}")).is_ok());
    assert!(parse(&with("{type: fixed, mean: 64}")).is_ok());
    // Keys a type does not use are accepted, as inference-perf accepts them.
    assert!(parse(&with("{type: fixed, std_dev: 3}")).is_ok());
    assert!(parse(&with("{type: uniform, min: 5, mean: 7}")).is_ok());
    let err = parse(&with("{type: lognormal, mean: 0}"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`data.input_distribution.mean`") && err.contains("> 0 for type lognormal"),
        "{err}"
    );
    let err = parse(&with("{type: gaussian, mean: 4}"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("gaussian") && err.contains("uniform") && err.contains("lognormal"),
        "{err}"
    );
}

#[test]
fn data_sources_check_their_sections() {
    let data = |d: &str| {
        BASE.replace(
            "data: {type: random, input_distribution: {mean: 10, std_dev: 0}, output_distribution: {type: fixed, mean: 4}}",
            d,
        )
    };
    let sp = "data: {type: shared_prefix, shared_prefix: {num_groups: 4, num_prompts_per_group: 8, system_prompt_len: 100, question_len: 20, output_len: 10}}";
    let p = parse(&data(sp)).unwrap();
    assert_eq!(p.profile.data.shared_prefix.unwrap().num_groups, 4);
    let err = parse(&data(&sp.replace("num_groups: 4", "num_groups: 0")))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("data.shared_prefix.num_groups") && err.contains("≥ 1"),
        "{err}"
    );
    let err = parse(&data(
        &sp.replace("output_len: 10", "output_len: 10, prefix_len: 3"),
    ))
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("prefix_len") && err.contains("system_prompt_len"),
        "{err}"
    );
    let err = parse(&data("data: {type: mooncake_trace}"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`data.path`") && err.contains("mooncake_sample.jsonl"),
        "{err}"
    );
    let err = parse(&data("data: {type: shareGPT, path: /no/such/file.json}"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("/no/such/file.json") && err.contains("cannot read"),
        "{err}"
    );
    let err = parse(&data(
        "data: {type: random, multi_turn: {users: 2, rounds: 3}}",
    ))
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("data.multi_turn") && err.contains("only read by data type multi_turn"),
        "{err}"
    );
    let mt = "data: {type: multi_turn, multi_turn: {users: 4, rounds: 3, system_prompt_len: 50, history: carry}, lora_mix: {a: 3, b: 1}}";
    assert!(parse(&data(mt)).is_ok());
    let err = parse(&data(&mt.replace("history: carry", "history: sometimes")))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("sometimes") && err.contains("carry") && err.contains("none"),
        "{err}"
    );
    let err = parse(&data(&mt.replace("b: 1", "b: -1")))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("data.lora_mix.b") && err.contains("≥ 0"),
        "{err}"
    );
}

#[test]
fn overrides_set_full_paths_and_unique_leaves_typed() {
    let p = parse_o(
        BASE,
        &[
            "load.stages.0.rate=4",
            "duration=7,load.base_seed=3",
            "name=short",
        ],
    )
    .unwrap();
    assert_eq!(p.name, "short");
    let st = &p.profile.load.stages[0];
    assert_eq!(st.rate, Some(Rate(4.0)));
    assert_eq!(st.duration, Some(7.0));
    assert_eq!(p.profile.load.base_seed, Some(3));
    // A new list entry, a new section.
    let p = parse_o(BASE, &["load.stages.1={rate: inf, num_requests: 5}"]).unwrap();
    assert_eq!(p.profile.load.stages.len(), 2);
    let p = parse_o(
        BASE,
        &[
            "data.input_distribution.type=uniform",
            "data.input_distribution.min=2",
            "data.input_distribution.max=9",
            "data.input_distribution.mean=~",
            "data.input_distribution.std_dev=0",
        ],
    )
    .unwrap();
    assert_eq!(
        p.profile.data.input_distribution.unwrap().kind,
        Some(fleetbench_model::data::LengthDist::Uniform)
    );
}

#[test]
fn override_errors_name_the_path_and_what_is_allowed() {
    let err = parse_o(BASE, &["mean=20"]).unwrap_err().to_string();
    assert!(
        err.contains("-o mean=20")
            && err.contains("ambiguous")
            && err.contains("data.input_distribution.mean")
            && err.contains("data.output_distribution.mean"),
        "{err}"
    );
    let err = parse_o(BASE, &["load.stages.5.rate=1"])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`load.stages` has 1 entries") && err.contains("allowed 0..=1"),
        "{err}"
    );
    let err = parse_o(BASE, &["load.stages.0.rate=fast"])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("profiles/x.yaml") && err.contains("rate") && err.contains("`inf`"),
        "{err}"
    );
    let err = parse_o(BASE, &["load.type=sometimes"])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("sometimes") && err.contains("constant") && err.contains("poisson"),
        "{err}"
    );
    let err = parse_o(BASE, &["load.type.x=1"]).unwrap_err().to_string();
    assert!(err.contains("`load.type` is a value"), "{err}");
    let err = parse_o(BASE, &["load.stages.0.rate=-1"])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`load.stages.0.rate`") && err.contains("> 0"),
        "{err}"
    );
    let err = parse_o(BASE, &["novalue"]).unwrap_err().to_string();
    assert!(err.contains("KEY=VALUE"), "{err}");
    let err = parse_o(BASE, &["bogus=1"]).unwrap_err().to_string();
    assert!(
        err.contains("bogus") && err.contains("expected one of"),
        "{err}"
    );
}

#[cfg(feature = "hf")]
#[test]
fn a_missing_tokenizer_names_the_key_and_where_it_looked() {
    // A local path (a model id would be fetched from the Hub: see data::hub_tests).
    let text = format!("{BASE}tokenizer:\n  pretrained_model_name_or_path: ./no-dir/no-model\n");
    let err = parse(&text).unwrap_err().to_string();
    assert!(
        err.contains("profiles/x.yaml: line 6 column 3: `tokenizer.pretrained_model_name_or_path`")
            && err.contains("no-dir/no-model/tokenizer.json")
            && err.contains("Hub model id"),
        "{err}"
    );
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/tokenizer");
    let text = format!(
        "{BASE}tokenizer:\n  pretrained_model_name_or_path: {}\n",
        dir.display()
    );
    let p = parse(&text).unwrap();
    assert!(p.vocab.unwrap().contains(&"alpha".to_string()));
}

#[test]
fn slo_section_is_accepted_and_checked() {
    let p = parse(&format!(
        "{BASE}slo: {{ttft_ms: {{p99: 2000}}, itl_ms: {{p50: 50}}}}\n"
    ))
    .unwrap();
    assert_eq!(p.profile.slo["ttft_ms"]["p99"], 2000.0);
    let err = parse(&format!("{BASE}slo: {{ttfb_ms: {{p99: 2000}}}}\n"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("slo.ttfb_ms") && err.contains("ttft_ms"),
        "{err}"
    );
    let err = parse(&format!("{BASE}slo: {{ttft_ms: {{p42: 1}}}}\n"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("slo.ttft_ms.p42") && err.contains("p99"),
        "{err}"
    );
}

#[test]
fn lora_traffic_split_is_the_lora_mix_in_inference_perfs_form() {
    let split = "lora_traffic_split: [{name: a, split: 0.75}, {name: b, split: 0.25}], stages:";
    let p = parse(&BASE.replace("stages:", split)).unwrap();
    let mix = crate::data::plan::plan_data(&p, 1).lora_mix;
    let shares: Vec<(&str, f64)> = mix.iter().map(|l| (l.name.as_str(), l.weight)).collect();
    assert_eq!(shares, [("a", 0.75), ("b", 0.25)]);
    // The same draw as data.lora_mix: the picks follow the splits.
    let n = 20_000u64;
    let a = (0..n)
        .filter(|&s| fleetbench_model::data::pick_adapter(&mix, s).as_deref() == Some("a"))
        .count() as f64;
    assert!((a / n as f64 - 0.75).abs() < 0.02, "{a}");
}

#[test]
fn lora_traffic_split_errors_name_the_key_and_what_is_allowed() {
    let with = |split: &str| {
        parse(&BASE.replace("stages:", &format!("lora_traffic_split: {split}, stages:")))
            .unwrap_err()
            .to_string()
    };
    let err = with("[{name: a, split: -1}]");
    assert!(
        err.contains("load.lora_traffic_split.0.split") && err.contains("≥ 0"),
        "{err}"
    );
    let err = with("[{name: a, split: 0}]");
    assert!(
        err.contains("load.lora_traffic_split") && err.contains("> 0"),
        "{err}"
    );
    let err = with("[]");
    assert!(err.contains("[{name: NAME, split: SHARE}"), "{err}");
    let err = with("[{name: a, split: 1}, {name: a, split: 1}]");
    assert!(
        err.contains("load.lora_traffic_split.1.name") && err.contains("twice"),
        "{err}"
    );
    let err = with("[{name: a, weight: 1}]");
    assert!(
        err.contains("unknown field `weight`") && err.contains("split"),
        "{err}"
    );
    // One mechanism: both keys at once is an error naming both.
    let both = BASE
        .replace(
            "stages:",
            "lora_traffic_split: [{name: a, split: 1}], stages:",
        )
        .replace(
            "output_distribution: {type: fixed, mean: 4}",
            "output_distribution: {type: fixed, mean: 4}, lora_mix: {a: 1}",
        );
    let err = parse(&both).unwrap_err().to_string();
    assert!(
        err.contains("load.lora_traffic_split") && err.contains("data.lora_mix"),
        "{err}"
    );
}

#[test]
fn fleet_hosts_carry_parallelism_and_engine_per_group() {
    let p = parse(&format!(
        "{BASE}fleet: {{hosts: [{{role: decode, parallelism: {{tp: 4}}, engine: {{name: vllm, args: {{max_num_seqs: 256}}}}}}]}}\n"
    ))
    .unwrap();
    let h = &p.profile.fleet.hosts.unwrap()[0];
    assert_eq!(h.parallelism.unwrap().tp, Some(4));
    let bad = |hosts: &str| {
        parse(&format!("{BASE}fleet: {{hosts: {hosts}}}\n"))
            .unwrap_err()
            .to_string()
    };
    let err = bad("[{role: gpu}]");
    assert!(
        err.contains("fleet.hosts.0.role") && err.contains("replica, prefill, decode"),
        "{err}"
    );
    let err = bad("[{parallelism: {tp: 0}}]");
    assert!(err.contains("fleet.hosts.0.parallelism.tp"), "{err}");
    let err = bad("[{role: prefill}, {role: prefill}]");
    assert!(err.contains("fleet.hosts.1.role"), "{err}");
    let err = bad("[{agents: [a]}]");
    assert!(
        err.contains("fleet.hosts.0.agents") && err.contains("prefill or decode"),
        "{err}"
    );
}

#[test]
fn telemetry_section_is_read_and_checked() {
    let with =
        |t: &str| parse_profile(&format!("{BASE}telemetry: {t}\n"), Path::new("p.yaml"), "p");
    let p = with("{interval: 0.5, nvml: off}").unwrap().profile;
    assert_eq!(
        p.telemetry,
        Some(TelemetrySection {
            interval: Some(0.5),
            nvml: Some(NvmlSetting::Off)
        })
    );
    let err = with("{interval: 0}").unwrap_err().to_string();
    assert!(
        err.contains("p.yaml") && err.contains("telemetry.interval") && err.contains("0.01 to 60"),
        "{err}"
    );
    let err = with("{nvml: maybe}").unwrap_err().to_string();
    assert!(
        err.contains("p.yaml") && err.contains("auto") && err.contains("off"),
        "{err}"
    );
    let err = with("{gpus: [0]}").unwrap_err().to_string();
    assert!(
        err.contains("gpus") && err.contains("interval") && err.contains("nvml"),
        "{err}"
    );
}

#[test]
fn fleet_hosts_agents_name_prefill_and_decode_members_once() {
    let with = |hosts: &str| {
        parse_profile(
            &format!("{BASE}fleet: {{hosts: {hosts}}}\n"),
            Path::new("p.yaml"),
            "p",
        )
    };
    let p = with("[{role: prefill, agents: [p0, p1]}, {role: decode, agents: [d0]}]")
        .unwrap()
        .profile;
    assert_eq!(
        p.fleet.assigned_role("p1"),
        Some(fleetbench_model::role::Role::Prefill)
    );
    assert_eq!(
        p.fleet.assigned_role("d0"),
        Some(fleetbench_model::role::Role::Decode)
    );
    assert_eq!(p.fleet.assigned_role("c0"), None);
    let err = with("[{role: replica, agents: [a]}]")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("fleet.hosts.0.agents") && err.contains("prefill or decode"),
        "{err}"
    );
    let err = with("[{role: prefill, agents: [a]}, {role: decode, agents: [b, a]}]")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("fleet.hosts.1.agents.1") && err.contains("once"),
        "{err}"
    );
}

#[test]
fn a_template_file_is_named_without_its_in_suffix() {
    use super::profile_stem;
    use std::path::Path;
    assert_eq!(
        profile_stem(Path::new("w/sanity_random.yaml.in"), "p"),
        "sanity_random"
    );
    assert_eq!(profile_stem(Path::new("w/chatbot.yaml"), "p"), "chatbot");
    assert_eq!(profile_stem(Path::new("plain"), "p"), "plain");
    assert_eq!(profile_stem(Path::new(""), "p"), "p");
}

/// Absurd magnitudes: each refused at once (closed forms, nothing enumerated), naming the file,
/// the key, the value and the limit.
#[test]
fn absurd_magnitudes_are_refused_with_key_value_and_limit() {
    let cases: Vec<(String, &str, &str)> = vec![
        (
            BASE.replace("rate: 1, duration: 2", "rate: 1e12, duration: 2"),
            "`load.stages.0.rate`",
            "1000000000000 is above the limit 1000000 requests/s",
        ),
        (
            BASE.replace("rate: 1, duration: 2", "rate: 900000, duration: 600000"),
            "`load.stages.0.rate`",
            "plans 540000000000 requests: 540000000000 is above the limit 1000000000 requests of a stage",
        ),
        (
            BASE.replace("duration: 2", "duration: 1e9"),
            "`load.stages.0.duration`",
            "1000000000 is above the limit 604800 seconds",
        ),
        (
            BASE.replace("{mean: 10, std_dev: 0}", "{mean: 1e9, std_dev: 0}"),
            "`data.input_distribution.mean`",
            "1000000000 is above the limit 1048576 tokens",
        ),
        (
            BASE.replace("{mean: 10, std_dev: 0}", "{min: 1, max: 1000000000, mean: 10}"),
            "`data.input_distribution.max`",
            "1000000000 is above the limit 1048576 tokens",
        ),
        (
            BASE.replace(
                "type: constant, stages: [{rate: 1, duration: 2}]",
                "type: concurrent, stages: [{concurrency_level: 4000000000, num_requests: 10}]",
            ),
            "`load.stages.0.concurrency_level`",
            "4000000000 is above the limit 1000000 users",
        ),
        (
            BASE.replace("rate: 1, duration: 2}]", "rate: inf, num_requests: 1000000000000}]"),
            "`load.stages.0.num_requests`",
            "1000000000000 is above the limit 1000000000 requests",
        ),
        (
            format!("{BASE}fleet: {{weights: {{client: 4000000000}}}}\n"),
            "`fleet.weights.client`",
            "4000000000 is above the limit 10000",
        ),
        (
            BASE.replace(
                "data: {type: random, input_distribution: {mean: 10, std_dev: 0}, output_distribution: {type: fixed, mean: 4}}",
                "data: {type: shared_prefix, shared_prefix: {num_groups: 2, num_prompts_per_group: 2, system_prompt_len: 2000000000, question_len: 8, output_len: 4}}",
            ),
            "`data.shared_prefix.system_prompt_len`",
            "2000000000 is above the limit 1048576 tokens",
        ),
        (
            BASE.replace(
                "data: {type: random, input_distribution: {mean: 10, std_dev: 0}, output_distribution: {type: fixed, mean: 4}}",
                "data: {type: multi_turn, multi_turn: {users: 4, rounds: 9000, question_len: 100, answer_len: 100}}",
            ),
            "`data.multi_turn.rounds`",
            "a session's longest request has 1799900 tokens",
        ),
        (
            BASE.replace("load: {", "load: {request_timeout: 1e10, "),
            "`load.request_timeout`",
            "10000000000 is above the limit 86400 seconds",
        ),
    ];
    for (text, key, message) in cases {
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("profiles/x.yaml"), "{err}");
        assert!(err.contains(key), "{key}: {err}");
        assert!(err.contains(message), "{message}: {err}");
    }
    // At the limits themselves: valid.
    parse(&BASE.replace("rate: 1, duration: 2", "rate: 1000000, duration: 1000")).unwrap();
    parse(&BASE.replace(
        "{mean: 10, std_dev: 0}",
        "{min: 1, max: 1048576, mean: 1048576}",
    ))
    .unwrap();
}
