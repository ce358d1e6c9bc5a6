//! A build without the `hf` feature: a named tokenizer is refused with its key and the feature
//! (even one whose `tokenizer.json` is right there: no silent word counting), a Hub dataset that
//! is not in the cache is refused naming the feature, and one in the cache is still read.

use super::hf::NO_HF;
use super::hub::HubEnv;
use std::path::{Path, PathBuf};

const BASE: &str = "server: {base_url: 'http://127.0.0.1:8000', model_name: m}\n\
api: {type: completion, streaming: true}\n\
data: {type: random, input_distribution: {mean: 10, std_dev: 0}, output_distribution: {type: fixed, mean: 4}}\n\
load: {type: constant, stages: [{rate: 1, duration: 2}]}\n";

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fleetbench-hf-off-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_named_tokenizer_is_refused_naming_the_key_and_the_feature() {
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/tokenizer");
    for name in [local.display().to_string(), "org/model".to_string()] {
        let text = format!("{BASE}tokenizer:\n  pretrained_model_name_or_path: {name}\n");
        let err = crate::parse_profile(&text, Path::new("profiles/x.yaml"), "x")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "profiles/x.yaml: line 6 column 3: `tokenizer.pretrained_model_name_or_path`"
            ) && err.contains(&name)
                && err.contains("built without the `hf` feature")
                && err.contains("rebuild with `--features hf`"),
            "{err}"
        );
    }
    // No tokenizer named: the word tokenizer, as in every build.
    let p = crate::parse_profile(BASE, Path::new("profiles/x.yaml"), "x").unwrap();
    assert!(p.vocab.is_none());
}

#[test]
fn a_hub_dataset_is_read_from_the_cache_and_never_downloaded() {
    let cache = scratch("cache");
    let hub = HubEnv {
        cache: cache.clone(),
        endpoint: "http://127.0.0.1:9".into(),
        token: None,
        offline: false,
    };
    let err = hub.dataset_file("org/chat", "sg.json").unwrap_err();
    assert!(err.contains("org/chat") && err.contains(NO_HF), "{err}");
    let snap = cache.join("datasets--org--chat/snapshots/abc");
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::write(snap.join("sg.json"), "[]").unwrap();
    assert_eq!(
        hub.dataset_file("org/chat", "sg.json").unwrap(),
        snap.join("sg.json")
    );
    let _ = std::fs::remove_dir_all(&cache);
}

#[test]
fn an_otel_dataset_in_the_cache_is_read_and_one_elsewhere_names_the_feature() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let hub = |cache: PathBuf| HubEnv {
        cache,
        endpoint: "http://127.0.0.1:9".into(),
        token: None,
        offline: false,
    };
    let c = |id: &str| -> crate::otel::OtelTraceReplayConfig {
        serde_norway::from_str(&format!("{{hf_dataset_path: {id}}}")).unwrap()
    };
    let cache = root.join("tests/data/inference-perf/hf-cache");
    let read = |id: &str, cache: PathBuf| {
        super::otel::read_sessions_with(&c(id), &root.join("p.yaml"), None, &hub(cache))
    };
    let s = read("fleetbench/otel-traces", cache).unwrap();
    assert_eq!(s.slots.len(), 2);
    let e = read("org/absent", scratch("otel")).unwrap_err();
    assert!(
        e.message.contains("org/absent") && e.message.contains(NO_HF),
        "{}",
        e.message
    );
}
