//! `data.corpus_file_path`: synthetic prompts cut from the file's words (those one token each
//! for the profile's tokenizer), exact in length; a missing file named; other data types leave
//! the key unused, as inference-perf does.

use crate::load::{parse_profile, LoadedProfile};
use crate::ProfileError;
use std::path::{Path, PathBuf};

fn corpus_file(test: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fleetbench-corpus-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("corpus.txt");
    std::fs::write(&f, text).unwrap();
    f
}

fn parse(
    kind: &str,
    corpus: &Path,
    tokenizer: Option<&str>,
) -> Result<LoadedProfile, ProfileError> {
    let tok = tokenizer
        .map(|t| format!("tokenizer: {{pretrained_model_name_or_path: '{t}'}}\n"))
        .unwrap_or_default();
    let text = format!(
        "server: {{base_url: 'http://127.0.0.1:8000', model_name: m}}\n\
         api: {{type: completion, streaming: true}}\n\
         data: {{type: {kind}, corpus_file_path: '{}', input_distribution: {{type: uniform, min: 3, max: 30}}, output_distribution: {{type: fixed, mean: 4}}}}\n\
         load: {{type: constant, stages: [{{rate: 1, duration: 2}}]}}\n{tok}",
        corpus.display()
    );
    parse_profile(&text, Path::new("profiles/x.yaml"), "x")
}

/// Whether `prompt`'s words are consecutive words of `corpus`, wrapping past its end.
fn is_run_of(prompt: &str, corpus: &[String]) -> bool {
    let got: Vec<&str> = prompt.split(' ').collect();
    (0..corpus.len()).any(|s| {
        got.iter()
            .enumerate()
            .all(|(i, w)| corpus[(s + i) % corpus.len()] == *w)
    })
}

#[test]
fn synthetic_prompts_are_runs_of_the_corpus_words() {
    let f = corpus_file(
        "words",
        "To be, or not to be: that is the question.\nWhether 'tis nobler",
    );
    let p = parse("synthetic", &f, None).unwrap();
    let spec = crate::data::plan::plan_data(&p, 3);
    // inference-perf's instruction line comes first, then the text.
    assert_eq!(
        spec.corpus[..4],
        ["Pick", "as", "many", "lines"].map(String::from)
    );
    assert_eq!(spec.corpus.last().unwrap(), "nobler");
    for j in 0..40 {
        let r = spec.request(3, j);
        assert_eq!(
            r.prompt.split(' ').count(),
            r.input_tokens as usize,
            "{}",
            r.prompt
        );
        assert!(is_run_of(&r.prompt, &spec.corpus), "{}", r.prompt);
    }
    assert!(spec.describe().contains("words of data.corpus_file_path"));
}

#[cfg(feature = "hf")]
#[test]
fn with_a_tokenizer_only_single_token_words_are_kept_and_lengths_are_exact() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/tokenizer");
    let f = corpus_file("tok", "alpha bravo delta. echo alpha golf delta");
    let p = parse("synthetic", &f, Some(dir.to_str().unwrap())).unwrap();
    let spec = crate::data::plan::plan_data(&p, 5);
    // `bravo` is five tokens, `delta.` two, the instruction line's words several each.
    assert_eq!(
        spec.corpus,
        ["alpha", "echo", "alpha", "golf", "delta"].map(String::from)
    );
    let t = super::tokenizer::ModelTokenizer::load(dir.to_str().unwrap()).unwrap();
    for j in 0..40 {
        let r = spec.request(5, j);
        assert_eq!(t.count(&r.prompt), r.input_tokens, "{}", r.prompt);
        assert!(is_run_of(&r.prompt, &spec.corpus), "{}", r.prompt);
    }
}

#[test]
fn a_missing_corpus_is_named_and_other_types_leave_it_unused() {
    let missing = std::env::temp_dir().join("fleetbench-no-such-corpus.txt");
    let err = parse("synthetic", &missing, None).unwrap_err().to_string();
    assert!(
        err.contains("data.corpus_file_path") && err.contains("fleetbench-no-such-corpus.txt"),
        "{err}"
    );
    // inference-perf's random generator does not read the corpus: accepted, unused.
    let p = parse("random", &missing, None).unwrap();
    assert!(crate::data::plan::plan_data(&p, 1).corpus.is_empty());
}
