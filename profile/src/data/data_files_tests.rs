//! A split's data files as Python's `datasets` 5.2 picks them: each expectation below is what
//! `get_data_patterns` + `DataFilesDict.from_patterns` + the inferred builder's extension
//! filter gave for the same layout in a local directory.

use super::data_files::{glob_match, split_files, Format};

fn pick(files: &[&str], split: &str) -> Result<(Vec<String>, Format), String> {
    let files: Vec<String> = files.iter().map(|f| f.to_string()).collect();
    split_files(&files, split, None)
}

fn names(files: &[&str], split: &str) -> Vec<String> {
    pick(files, split).unwrap().0
}

#[test]
fn globs_follow_fsspec() {
    assert!(glob_match("**/train[-._ 0-9]*", "train-1.json"));
    assert!(glob_match("**/train[-._ 0-9]*", "a/b/train.json"));
    assert!(!glob_match("**/*[-._ 0-9]train[-._ 0-9]*", "pretrain.json"));
    assert!(glob_match("**/train/**", "x/train/a/b.json"));
    assert!(!glob_match("*.json", "a/b.json"));
    assert!(glob_match("**", "a/b.json"));
    assert!(glob_match("data/[!x]?.json", "data/ab.json"));
}

#[test]
fn sharded_files_name_their_splits() {
    let files = [
        "README.md",
        ".gitattributes",
        "data/train-00000-of-00002.parquet",
        "data/train-00001-of-00002.parquet",
        "data/test-00000-of-00001.parquet",
        "data/my_split-00000-of-00001.parquet",
    ];
    assert_eq!(
        pick(&files, "train").unwrap(),
        (
            vec![
                "data/train-00000-of-00002.parquet".to_string(),
                "data/train-00001-of-00002.parquet".into()
            ],
            Format::Parquet
        )
    );
    assert_eq!(
        names(&files, "my_split"),
        ["data/my_split-00000-of-00001.parquet"]
    );
    let e = pick(&files, "validation").unwrap_err();
    assert!(
        e.contains("Unknown split \"validation\"") && e.contains("my_split"),
        "{e}"
    );
}

#[test]
fn split_keywords_in_directories_then_in_names_then_everything_for_train() {
    let dirs = [
        "train/a.jsonl",
        "train/sub/b.jsonl",
        "valid/c.jsonl",
        "notes.txt",
    ];
    assert_eq!(
        names(&dirs, "train"),
        ["train/a.jsonl", "train/sub/b.jsonl"]
    );
    assert_eq!(names(&dirs, "validation"), ["valid/c.jsonl"]);
    let named = [
        "my_train.json",
        "train-2.json",
        "x/training_1.jsonl",
        "test.json",
        "eval_set.json",
    ];
    assert_eq!(
        names(&named, "train"),
        ["train-2.json", "my_train.json", "x/training_1.jsonl"]
    );
    assert_eq!(names(&named, "test"), ["test.json", "eval_set.json"]);
    let all = [
        "traces.jsonl",
        "more/t2.jsonl",
        ".hidden/x.jsonl",
        "__pycache__/y.jsonl",
        "config.json",
    ];
    assert_eq!(names(&all, "train"), ["more/t2.jsonl", "traces.jsonl"]);
    assert_eq!(
        names(&["pretrain.json", "train.json"], "train"),
        ["train.json"]
    );
}

#[test]
fn the_most_common_format_wins_parquet_on_a_draw_and_others_are_named() {
    assert_eq!(
        pick(&["a.parquet", "b.json", "c.json", "d.parquet"], "train").unwrap(),
        (
            vec!["a.parquet".to_string(), "d.parquet".into()],
            Format::Parquet
        )
    );
    let e = pick(&["a.csv", "b.csv", "c.json"], "train").unwrap_err();
    assert!(
        e.contains(".csv") && e.contains("a.csv") && e.contains("Parquet"),
        "{e}"
    );
}

#[test]
fn a_dataset_card_s_default_config_names_the_files() {
    use super::dataset_card::card_splits;
    // What `load_dataset_builder` gave for this card and layout: train traces/a, traces/b.
    let card = "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n    path: \"traces/*.jsonl\"\n  - split: test\n    path: holdout.jsonl\n---\n# Traces\n";
    let files: Vec<String> = [
        "README.md",
        "traces/b.jsonl",
        "traces/a.jsonl",
        "holdout.jsonl",
        "data/train-00000-of-00001.parquet",
    ]
    .iter()
    .map(|f| f.to_string())
    .collect();
    let splits = card_splits(card, None).unwrap();
    assert_eq!(
        split_files(&files, "train", splits.clone()).unwrap(),
        (
            vec!["traces/a.jsonl".to_string(), "traces/b.jsonl".into()],
            Format::Json
        )
    );
    assert_eq!(
        split_files(&files, "test", splits).unwrap().0,
        ["holdout.jsonl"]
    );
    // A plain list is the train split, under data_dir; no header or no configs: the defaults.
    let plain =
        "---\nconfigs:\n- config_name: main\n  data_dir: traces\n  data_files: '*.jsonl'\n---\n";
    assert_eq!(
        card_splits(plain, None).unwrap(),
        Some(vec![(
            "train".to_string(),
            vec!["traces/*.jsonl".to_string()]
        )])
    );
    assert_eq!(card_splits("# no header", None).unwrap(), None);
    assert_eq!(card_splits("---\nlicense: mit\n---\n", None).unwrap(), None);
    // Several configs and no default: load_dataset would need a name.
    let two = "---\nconfigs:\n- config_name: a\n  data_files: a.jsonl\n- config_name: b\n  data_files: b.jsonl\n---\n";
    assert!(card_splits(two, None)
        .unwrap_err()
        .contains("[\"a\", \"b\"]"));
    // A name picks its config, as `load_dataset(path, name)` does (abisee/cnn_dailymail's card
    // has the configs 1.0.0, 2.0.0 and 3.0.0, each a directory of Parquet files).
    let versions = "---\nconfigs:\n- config_name: 1.0.0\n  data_files:\n  - split: train\n    path: 1.0.0/train-*\n- config_name: 3.0.0\n  data_files:\n  - split: train\n    path: 3.0.0/train-*\n  - split: test\n    path: 3.0.0/test-*\n---\n";
    assert_eq!(
        card_splits(versions, Some("3.0.0")).unwrap(),
        Some(vec![
            ("train".to_string(), vec!["3.0.0/train-*".to_string()]),
            ("test".to_string(), vec!["3.0.0/test-*".to_string()])
        ])
    );
    assert!(card_splits(two, Some("b")).unwrap().is_some());
    let missing = card_splits(versions, Some("2.0.0")).unwrap_err();
    assert!(
        missing.contains("\"2.0.0\"") && missing.contains("[\"1.0.0\", \"3.0.0\"]"),
        "{missing}"
    );
    assert!(card_splits("# no header", Some("x"))
        .unwrap_err()
        .contains("[]"));
}
