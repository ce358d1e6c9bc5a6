//! The Hub's cache layout, its variables and its download path, against a local HTTP server that
//! answers as the Hub's file endpoint does (`HF_ENDPOINT`), so no test leaves the machine.

use super::hub::{is_model_id, HubEnv};
use super::tokenizer::ModelTokenizer;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

fn tiny_tokenizer_json() -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/tokenizer/tokenizer.json");
    std::fs::read(p).unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fleetbench-hub-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn env(cache: &Path, endpoint: &str, offline: bool) -> HubEnv {
    HubEnv {
        cache: cache.to_path_buf(),
        endpoint: endpoint.to_string(),
        token: Some("hf_test_token".into()),
        offline,
    }
}

#[test]
fn variables_follow_huggingface_hub() {
    let vars = |pairs: &[(&str, &str)]| {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        HubEnv::from_vars(move |k| m.get(k).cloned())
    };
    let e = vars(&[("HOME", "/h")]);
    assert_eq!(e.cache, Path::new("/h/.cache/huggingface/hub"));
    assert_eq!(e.endpoint, "https://huggingface.co");
    assert!(!e.offline && e.token.is_none());
    let e = vars(&[("HOME", "/h"), ("XDG_CACHE_HOME", "/x")]);
    assert_eq!(e.cache, Path::new("/x/huggingface/hub"));
    let e = vars(&[("HF_HOME", "/hf"), ("XDG_CACHE_HOME", "/x")]);
    assert_eq!(e.cache, Path::new("/hf/hub"));
    let e = vars(&[("HF_HOME", "/hf"), ("HF_HUB_CACHE", "/c")]);
    assert_eq!(e.cache, Path::new("/c"));
    let e = vars(&[("HUGGINGFACE_HUB_CACHE", "/legacy")]);
    assert_eq!(e.cache, Path::new("/legacy"));
    let e = vars(&[("HF_ENDPOINT", "http://127.0.0.1:9/"), ("HF_TOKEN", "hf_x")]);
    assert_eq!(e.endpoint, "http://127.0.0.1:9");
    assert_eq!(e.token.as_deref(), Some("hf_x"));
    for on in ["1", "ON", "yes", "True"] {
        assert!(vars(&[("HF_HUB_OFFLINE", on)]).offline, "{on}");
    }
    for off in ["0", "", "off", "false"] {
        assert!(!vars(&[("HF_HUB_OFFLINE", off)]).offline, "{off}");
    }
    // The token file of HF_HOME when HF_TOKEN is not set.
    let home = scratch("token");
    std::fs::write(home.join("token"), "hf_from_file\n").unwrap();
    let e = vars(&[("HF_HOME", home.to_str().unwrap())]);
    assert_eq!(e.token.as_deref(), Some("hf_from_file"));
}

#[test]
fn model_ids_and_paths_are_told_apart() {
    for id in ["gpt2", "meta-llama/Llama-3.1-8B-Instruct", "org/m.v1_2"] {
        assert!(is_model_id(id), "{id}");
    }
    for path in [
        "./tok",
        "/abs/tok",
        "a/b/c",
        "../x",
        "",
        "org/",
        "with space/x",
    ] {
        assert!(!is_model_id(path), "{path}");
    }
}

#[test]
fn a_tokenizer_in_the_hub_cache_is_found_by_model_id() {
    let cache = scratch("cache-hit");
    let snap = cache.join("models--org--tiny/snapshots/0123abcd");
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::write(snap.join("tokenizer.json"), tiny_tokenizer_json()).unwrap();
    // Offline: found in the cache all the same, nothing is fetched.
    let t =
        ModelTokenizer::load_with("org/tiny", &env(&cache, "http://127.0.0.1:9", true)).unwrap();
    assert_eq!(t.path, snap.join("tokenizer.json"));
}

#[test]
fn offline_with_an_empty_cache_names_the_id_the_paths_and_the_variable() {
    let cache = scratch("offline");
    let err = ModelTokenizer::load_with(
        "no-org/no-such-model",
        &env(&cache, "http://127.0.0.1:9", true),
    )
    .unwrap_err();
    assert!(
        err.contains("\"no-org/no-such-model\"")
            && err.contains(
                &cache
                    .join("models--no-org--no-such-model")
                    .display()
                    .to_string()
            )
            && err.contains("HF_HUB_OFFLINE"),
        "{err}"
    );
}

/// Serves `body` as `/org/tiny/resolve/main/tokenizer.json` the way the Hub does (ETag, commit
/// header, ranges), `requests` times; returns the endpoint and the request lines it saw.
fn hub_server(body: Vec<u8>, requests: usize) -> (String, std::thread::JoinHandle<Vec<String>>) {
    hub_server_at("/org/tiny/resolve/main/tokenizer.json", body, requests)
}

/// [`hub_server`] for the file at `path`.
fn hub_server_at(
    path: &'static str,
    body: Vec<u8>,
    requests: usize,
) -> (String, std::thread::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for stream in listener.incoming().take(requests) {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let mut from = 0usize;
            let mut auth = String::new();
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                let lower = h.to_ascii_lowercase();
                if let Some(r) = lower.strip_prefix("range: bytes=") {
                    from = r.split('-').next().unwrap().trim().parse().unwrap_or(0);
                }
                if lower.starts_with("authorization:") {
                    auth = h.trim().to_string();
                }
                if h.trim().is_empty() {
                    break;
                }
            }
            seen.push(format!("{} {auth}", line.trim()));
            let head = if line.starts_with(&format!("GET {path} ")) {
                let end = if from == 0 && seen.len() == 1 {
                    0
                } else {
                    body.len() - 1
                };
                let part = &body[from..=end];
                let h = format!(
                    "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes \
                     {from}-{end}/{}\r\nETag: \"e7a9\"\r\nX-Repo-Commit: c0ffee\r\nConnection: \
                     close\r\n\r\n",
                    part.len(),
                    body.len()
                );
                [h.as_bytes(), part].concat()
            } else {
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
            };
            stream.write_all(&head).unwrap();
        }
        seen
    });
    (endpoint, handle)
}

#[test]
fn a_missing_tokenizer_is_downloaded_into_the_cache_from_hf_endpoint() {
    let body = tiny_tokenizer_json();
    let (endpoint, server) = hub_server(body.clone(), 2);
    let cache = scratch("download");
    let t = ModelTokenizer::load_with("org/tiny", &env(&cache, &endpoint, false)).unwrap();
    let seen = server.join().unwrap();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(
        seen.iter().all(|l| l.contains("Bearer hf_test_token")),
        "{seen:?}"
    );
    // The standard layout: the snapshot of the commit, the blob named by the ETag, refs/main.
    let repo = cache.join("models--org--tiny");
    assert_eq!(t.path, repo.join("snapshots/c0ffee/tokenizer.json"));
    assert_eq!(std::fs::read(repo.join("blobs/e7a9")).unwrap(), body);
    assert_eq!(
        std::fs::read_to_string(repo.join("refs/main"))
            .unwrap()
            .trim(),
        "c0ffee"
    );
    // Found there the next time, offline.
    let again = ModelTokenizer::load_with("org/tiny", &env(&cache, &endpoint, true)).unwrap();
    assert_eq!(again.path, t.path);
    assert!(again.count("hello") > 0);
}

#[test]
fn a_failed_download_names_the_model_the_endpoint_and_what_to_set() {
    let (endpoint, server) = hub_server(Vec::new(), 1);
    let cache = scratch("notfound");
    let err = ModelTokenizer::load_with("org/absent", &env(&cache, &endpoint, false)).unwrap_err();
    server.join().unwrap();
    assert!(
        err.contains("\"org/absent\"")
            && err.contains(&endpoint)
            && err.contains("HF_TOKEN")
            && err.contains("HF_ENDPOINT"),
        "{err}"
    );
}

#[test]
fn a_dataset_is_found_in_the_cache_or_downloaded_or_named_with_the_paths() {
    let body = br#"[{"conversations": [{"from": "human", "value": "hi there"}, {"from": "gpt", "value": "hello you"}]}]"#.to_vec();
    let (endpoint, server) =
        hub_server_at("/datasets/org/chat/resolve/main/sg.json", body.clone(), 2);
    let cache = scratch("dataset");
    let path = env(&cache, &endpoint, false)
        .dataset_file("org/chat", "sg.json")
        .unwrap();
    server.join().unwrap();
    assert_eq!(
        path,
        cache.join("datasets--org--chat/snapshots/c0ffee/sg.json")
    );
    assert_eq!(std::fs::read(&path).unwrap(), body);
    // In the cache: found offline.
    let again = env(&cache, &endpoint, true)
        .dataset_file("org/chat", "sg.json")
        .unwrap();
    assert_eq!(again, path);
    // Offline and absent: the dataset, the directory looked in and the variables.
    let err = env(&cache, &endpoint, true)
        .dataset_file("org/other", "sg.json")
        .unwrap_err();
    assert!(
        err.contains("org/other")
            && err.contains(&cache.join("datasets--org--other").display().to_string())
            && err.contains("HF_HUB_OFFLINE")
            && err.contains("HF_HUB_CACHE"),
        "{err}"
    );
}

#[test]
fn a_hub_tokenizer_s_chat_template_comes_from_its_config_on_hf_endpoint() {
    let chat = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/chat-tokenizer");
    let config = std::fs::read(chat.join("tokenizer_config.json")).unwrap();
    let (endpoint, server) =
        hub_server_at("/org/chat/resolve/main/tokenizer_config.json", config, 2);
    // The tokenizer is in the cache without its config, as a tokenizer-only download leaves it.
    let cache = scratch("chat-config");
    let snap = cache.join("models--org--chat/snapshots/0123abcd");
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::copy(chat.join("tokenizer.json"), snap.join("tokenizer.json")).unwrap();
    let hub = env(&cache, &endpoint, false);
    let t = ModelTokenizer::load_with("org/chat", &hub).unwrap();
    let words = t.single_token_words().unwrap();
    let w = super::chat_template::wrap_of(&t, "org/chat", &words, 10, &hub).unwrap();
    assert_eq!((w.prefix.as_str(), w.tokens), ("<s> <|user|> ", 4));
    let seen = server.join().unwrap();
    assert!(
        seen.iter()
            .all(|l| l.contains("tokenizer_config.json") && l.contains("Bearer hf_test_token")),
        "{seen:?}"
    );
    assert!(cache
        .join("models--org--chat/snapshots/c0ffee/tokenizer_config.json")
        .is_file());
}
