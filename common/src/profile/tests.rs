use super::*;
use std::path::Path;

const BASE: &str = "server: {base_url: 'http://127.0.0.1:8000', model_name: m}\n\
api: {type: completion, streaming: true}\n\
data: {type: random, input_distribution: {mean: 10, std_dev: 0}, output_distribution: {mean: 4}}\n\
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
fn unsupported_inference_perf_key_says_not_supported() {
    let text = format!("{BASE}storage: {{google_cloud_storage: {{bucket_name: b}}}}\n");
    let err = parse(&text).unwrap_err().to_string();
    assert!(
        err.contains("storage.google_cloud_storage") && err.contains("not support"),
        "{err}"
    );
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
