//! `hf_dataset_path` against a local server that answers as the Hub does (the repository's
//! listing at `/api/datasets/{id}/revision/{rev}`, its files at
//! `/datasets/{id}/resolve/{rev}/{file}` with ranges, ETag and commit), so no test leaves the
//! machine: a dataset found by id, downloaded into an `HF_HOME`-style cache and read as JSON
//! Lines or Parquet gives the plan of the same traces named in `trace_files`; offline, the cache
//! serves it, and an empty cache is named in the error.

use super::read_sessions_with;
use crate::data::hub::HubEnv;
use crate::otel::OtelTraceReplayConfig;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fleetbench-hfds-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn env(home: &Path, endpoint: &str, offline: bool) -> HubEnv {
    HubEnv::from_vars(|k| match k {
        "HF_HOME" => Some(home.display().to_string()),
        "HF_ENDPOINT" => Some(endpoint.to_string()),
        "HF_TOKEN" => Some("hf_test_token".into()),
        "HF_HUB_OFFLINE" => offline.then(|| "1".to_string()),
        _ => None,
    })
}

/// The mock Hub serving the dataset `org/traces` (`data/hub_mock.rs`).
fn hub(
    files: Vec<(&'static str, Vec<u8>)>,
    requests: usize,
) -> (String, std::thread::JoinHandle<Vec<String>>) {
    crate::data::hub_mock::dataset_server("org/traces", files, requests)
}

fn config(yaml: &str) -> OtelTraceReplayConfig {
    serde_norway::from_str(yaml).unwrap()
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(root().join("tests/data/otel-hf").join(name)).unwrap()
}

/// The plan of chain.json and fanout.json named as trace files (with the rows' source ids).
fn from_files(extra: &str) -> fleetbench_model::data::ReplaySessions {
    let c = config(&format!(
        "{{trace_files: [tests/data/otel/chain.json, tests/data/otel/fanout.json]{extra}}}"
    ));
    let cwd_profile = root().join("profile.yaml");
    let mut s = read_sessions_with(
        &c,
        &cwd_profile,
        Some(42),
        &env(Path::new("/nonexistent"), "http://127.0.0.1:9", true),
    )
    .unwrap();
    // The rows carry `source_id: tests/data/otel/<name>.json`, the files their full path.
    for g in &mut s.graphs {
        let name = Path::new(&g.source)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        g.source = format!("tests/data/otel/{name}");
    }
    s
}

#[test]
fn a_jsonl_dataset_is_listed_downloaded_into_the_cache_and_planned_as_its_trace_files() {
    let (endpoint, server) = hub(
        vec![
            (".gitattributes", b"*.jsonl text".to_vec()),
            ("README.md", b"# traces".to_vec()),
            ("data/train-00000-of-00001.jsonl", fixture("traces.jsonl")),
            ("data/test-00000-of-00001.jsonl", b"{}".to_vec()),
        ],
        5,
    );
    let home = scratch("jsonl");
    let c = config("{hf_dataset_path: org/traces, duplicate_sessions_target: 3}");
    let got = read_sessions_with(
        &c,
        &root().join("p.yaml"),
        Some(42),
        &env(&home, &endpoint, false),
    )
    .unwrap();
    let seen = server.join().unwrap();
    assert_eq!(
        seen,
        [
            "/api/datasets/org/traces/revision/main",
            // The card (no YAML header: the default patterns), then the split's one file.
            "/datasets/org/traces/resolve/main/README.md",
            "/datasets/org/traces/resolve/main/README.md",
            "/datasets/org/traces/resolve/main/data/train-00000-of-00001.jsonl",
            "/datasets/org/traces/resolve/main/data/train-00000-of-00001.jsonl",
        ]
    );
    assert_eq!(got, from_files(", duplicate_sessions_target: 3"));
    // The Hub cache's layout, under HF_HOME/hub.
    let repo = home.join("hub/datasets--org--traces");
    assert!(repo
        .join("snapshots/c0ffee/data/train-00000-of-00001.jsonl")
        .is_file());
    assert_eq!(
        std::fs::read_to_string(repo.join("refs/main"))
            .unwrap()
            .trim(),
        "c0ffee"
    );
    // Offline, the cache alone gives the same plan.
    let again = read_sessions_with(
        &c,
        &root().join("p.yaml"),
        Some(42),
        &env(&home, "http://127.0.0.1:9", true),
    )
    .unwrap();
    assert_eq!(again, got);
}

#[test]
fn a_parquet_dataset_gives_the_plan_of_its_trace_files() {
    let (endpoint, server) = hub(vec![("traces.parquet", fixture("traces.parquet"))], 3);
    let home = scratch("parquet");
    let c = config("{hf_dataset_path: {path: org/traces, split: train, filter: ignored}}");
    let got = read_sessions_with(
        &c,
        &root().join("p.yaml"),
        Some(42),
        &env(&home, &endpoint, false),
    )
    .unwrap();
    server.join().unwrap();
    assert_eq!(got, from_files(""));
}

#[test]
fn offline_with_an_empty_cache_names_the_dataset_the_paths_and_the_variables() {
    let home = scratch("offline");
    let c = config("{hf_dataset_path: {path: org/absent, revision: v1}}");
    let e = read_sessions_with(
        &c,
        &root().join("p.yaml"),
        None,
        &env(&home, "http://127.0.0.1:9", true),
    )
    .unwrap_err();
    let repo = home.join("hub/datasets--org--absent");
    assert_eq!(e.key, "data.otel_trace_replay.hf_dataset_path");
    for part in [
        "org/absent".to_string(),
        "revision v1".to_string(),
        repo.join("refs/v1").display().to_string(),
        repo.join("snapshots").display().to_string(),
        "HF_HUB_OFFLINE".to_string(),
        "HF_HOME".to_string(),
    ] {
        assert!(e.message.contains(&part), "{part}: {}", e.message);
    }
}

#[test]
fn a_split_that_is_not_there_and_a_dataset_without_spans_are_named() {
    let (endpoint, server) = hub(vec![("data/train.jsonl", b"{\"x\": 1}\n".to_vec())], 4);
    let home = scratch("nospans");
    let c = config("{hf_dataset_path: {path: org/traces, split: test}}");
    let e = read_sessions_with(
        &c,
        &root().join("p.yaml"),
        None,
        &env(&home, &endpoint, false),
    )
    .unwrap_err();
    assert!(
        e.message.contains("Unknown split \"test\""),
        "{}",
        e.message
    );
    let c = config("{hf_dataset_path: org/traces}");
    let e = read_sessions_with(
        &c,
        &root().join("p.yaml"),
        None,
        &env(&home, &endpoint, false),
    )
    .unwrap_err();
    server.join().unwrap();
    assert!(
        e.message
            .contains("Dataset 'org/traces' is missing the required 'spans' field."),
        "{}",
        e.message
    );
}

#[test]
fn a_config_name_picks_the_card_s_config_as_load_dataset_does() {
    let card = b"---\nconfigs:\n- config_name: a\n  data_files: a/*.jsonl\n- config_name: b\n  data_files:\n  - split: train\n    path: b/*.jsonl\n---\n".to_vec();
    let (endpoint, server) = hub(
        vec![
            ("README.md", card),
            ("a/train.jsonl", b"{\"x\": 1}\n".to_vec()),
            ("b/train.jsonl", fixture("traces.jsonl")),
        ],
        // The listing, the card and b's file (each file twice); then the listing again (the
        // card is in the cache).
        6,
    );
    let home = scratch("config");
    let read = |yaml: &str| {
        read_sessions_with(
            &config(yaml),
            &root().join("p.yaml"),
            Some(42),
            &env(&home, &endpoint, false),
        )
    };
    let got = read("{hf_dataset_path: {path: org/traces, name: b}}").unwrap();
    assert_eq!(got, from_files(""));
    // Without a name the card's two configs and no default are an error naming them.
    let e = read("{hf_dataset_path: org/traces}").unwrap_err();
    server.join().unwrap();
    assert!(
        e.message.contains("[\"a\", \"b\"]") && e.message.contains("`name`"),
        "{}",
        e.message
    );
    // Offline, a name the card does not have is named with the card's.
    let e = read_sessions_with(
        &config("{hf_dataset_path: {path: org/traces, name: c}}"),
        &root().join("p.yaml"),
        Some(42),
        &env(&home, "http://127.0.0.1:9", true),
    )
    .unwrap_err();
    assert!(
        e.message.contains("config c") && e.message.contains("no config \"c\""),
        "{}",
        e.message
    );
}
