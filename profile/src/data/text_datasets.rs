//! inference-perf's text datasets read from `data.path`, each row mapped as its generator maps
//! it (`datagen/dataset/` of inference-perf 0.7.0): `cnn_dailymail` (an `article` to summarize,
//! its `highlights` the answer), `billsum_conversations` and `infinity_instruct`
//! (`conversations` of `{from, value}` turns). The path is a `.json` file (JSON Lines or one JSON
//! list, as `datasets`' json loader reads it) or a directory whose `*.json` files are read in
//! name order; without it, cnn_dailymail reads inference-perf's default from the Hub
//! (`validate.rs` names the split; `hub_dataset.rs` lists and fetches it).
//!
//! On the completion API a row is a prompt and the answer's tokens as `max_tokens`; on the chat
//! API (billsum and infinity_instruct only: inference-perf's cnn_dailymail is completion only) a
//! row's turns are sent as messages with inference-perf's default of 30 output tokens, as its
//! client sends a chat request that names none.

use super::data_files::Format;
use super::dataset_rows::for_each_row;
use super::files::DatasetError;
use super::hub_dataset::SplitFiles;
use fleetbench_model::data::PromptEntry;
use fleetbench_model::tokenize::count_words;
use serde_json::Value;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

/// The most rows read from the files (the first ones; a run carries at most a few thousand).
pub(crate) const MAX_ROWS: usize = 100_000;
/// `max_tokens` of a request whose answer counts no tokens, and of every chat request:
/// inference-perf's client default.
pub(crate) const DEFAULT_OUTPUT_TOKENS: u32 = 30;

/// Which dataset a row belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextDataset {
    CnnDailymail,
    Billsum,
    InfinityInstruct,
}

/// Where a text dataset's rows come from.
pub(crate) enum TextSource<'a> {
    /// `data.path`: a `.json` file or a directory of them.
    Path(&'a Path),
    /// A Hub dataset's split (cnn_dailymail without `data.path`), its files fetched as they are
    /// read.
    Hub(SplitFiles<'a>),
}

/// The rows of `source` (at most [`MAX_ROWS`]: no further file is fetched or read) as requests
/// for the chat API (`chat`) or the completion API; `count` counts tokens with the profile's
/// tokenizer (absent: words). An error names the file (for the Hub, in the cache).
pub(crate) fn read_text_dataset(
    kind: TextDataset,
    source: &TextSource<'_>,
    chat: bool,
    count: Option<&dyn Fn(&str) -> u32>,
) -> Result<Vec<PromptEntry>, DatasetError> {
    let err = |path: &Path, message: String| DatasetError {
        path: path.to_path_buf(),
        message,
    };
    // The files in order, a Hub file fetched only when it is reached.
    type Files<'s> = Box<dyn Iterator<Item = Result<PathBuf, String>> + 's>;
    let (files, format, shown): (Files<'_>, Format, PathBuf) = match source {
        TextSource::Path(path) => {
            let files = json_files(path).map_err(|m| err(path, m))?;
            (
                Box::new(files.into_iter().map(Ok)),
                Format::Json,
                path.to_path_buf(),
            )
        }
        TextSource::Hub(split) => (
            Box::new(split.names.iter().map(|n| split.path(n))),
            split.format,
            PathBuf::from(&split.what),
        ),
    };
    let mut out = Vec::new();
    let mut rows = 0usize;
    for f in files {
        if rows >= MAX_ROWS {
            break;
        }
        let f = f.map_err(|m| err(&shown, m))?;
        let mut each = |row: Value| {
            rows += 1;
            out.extend(entry(kind, &row, chat, count));
            Ok(if rows < MAX_ROWS {
                ControlFlow::Continue(())
            } else {
                ControlFlow::Break(())
            })
        };
        for_each_row(&f, format, &mut each).map_err(|m| err(&f, m))?;
    }
    if out.is_empty() {
        return Err(err(
            &shown,
            format!("no usable row in {} rows: {}", rows, usable(kind, chat)),
        ));
    }
    Ok(out)
}

/// What a usable row is, for the error that finds none.
fn usable(kind: TextDataset, chat: bool) -> &'static str {
    match (kind, chat) {
        (TextDataset::CnnDailymail, _) => "an object with a non-empty `article` and `highlights`",
        (TextDataset::Billsum, false) => {
            "`conversations` of at least 2 `{from, value}` turns, the first with text"
        }
        (TextDataset::Billsum, true) => "`conversations` of at least 2 `{from, value}` turns",
        (TextDataset::InfinityInstruct, false) => {
            "`conversations` of `{from, value}` turns whose last is from `gpt`, with text before it"
        }
        (TextDataset::InfinityInstruct, true) => "`conversations` with a turn that has text",
    }
}

/// A `.json` file, or the `*.json` files of a directory in name order.
fn json_files(path: &Path) -> Result<Vec<PathBuf>, String> {
    if path.is_file() {
        return match path.extension().and_then(|e| e.to_str()) {
            Some("json") => Ok(vec![path.to_path_buf()]),
            _ => Err(
                "not a .json file (inference-perf reads a .json file or a directory of them)"
                    .into(),
            ),
        };
    }
    let listing = std::fs::read_dir(path).map_err(|e| format!("cannot read: {e}"))?;
    let mut files: Vec<PathBuf> = listing
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err("a directory without .json files".into());
    }
    Ok(files)
}

/// The text of `v`, when a string.
fn text(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str)
}

/// Row `row` as a request, as inference-perf's generator makes one (none: the row is skipped).
fn entry(
    kind: TextDataset,
    row: &Value,
    chat: bool,
    count: Option<&dyn Fn(&str) -> u32>,
) -> Option<PromptEntry> {
    let tokens = |s: &str| count.map_or(count_words(s) as u32, |f| f(s));
    // The answer's tokens as inference-perf counts them: 0 for an empty one, which its client
    // then sends as its default (`with_default_output`, after the length bounds).
    let completion = |prompt: String, answer: &str| {
        Some(PromptEntry {
            input_tokens: count.map(|f| f(&prompt)),
            prompt,
            output_tokens: tokens(answer),
            messages: None,
            images: Vec::new(),
        })
    };
    let turns = row.get("conversations").and_then(Value::as_array);
    let value = |t: &Value| text(t.get("value")).unwrap_or("").to_string();
    match (kind, chat) {
        (TextDataset::CnnDailymail, _) => {
            let (article, highlights) = (text(row.get("article"))?, text(row.get("highlights"))?);
            (!article.is_empty()).then_some(())?;
            completion(article.to_string(), highlights)
        }
        (TextDataset::Billsum, false) => {
            let turns = turns.filter(|t| t.len() >= 2)?;
            let prompt = value(&turns[0]);
            (!prompt.is_empty()).then_some(())?;
            completion(prompt, &value(&turns[1]))
        }
        (TextDataset::InfinityInstruct, false) => {
            let (last, rest) = turns?.split_last()?;
            (text(last.get("from")) == Some("gpt")).then_some(())?;
            let answer = value(last);
            let prompt = rest.iter().map(value).collect::<Vec<_>>().join("\n");
            (!prompt.is_empty() && !answer.is_empty()).then_some(())?;
            completion(prompt, &answer)
        }
        (TextDataset::Billsum, true) => {
            // Every turn, its role as the row writes it (inference-perf maps none).
            let turns = turns.filter(|t| t.len() >= 2)?;
            let messages = (turns.iter())
                .map(|t| (text(t.get("from")).unwrap_or("").to_string(), value(t)))
                .collect();
            Some(chat_entry(messages, count))
        }
        (TextDataset::InfinityInstruct, true) => {
            let messages: Vec<(String, String)> = (turns?.iter())
                .filter_map(|t| {
                    let content = value(t);
                    let role = match text(t.get("from")) {
                        Some("human") => "user",
                        _ => "assistant",
                    };
                    (!content.is_empty()).then(|| (role.to_string(), content))
                })
                .collect();
            (!messages.is_empty()).then_some(())?;
            Some(chat_entry(messages, count))
        }
    }
}

/// `entries` with a request that names no output length (an empty answer, every chat request)
/// asking for inference-perf's client default, [`DEFAULT_OUTPUT_TOKENS`].
pub(crate) fn with_default_output(mut entries: Vec<PromptEntry>) -> Vec<PromptEntry> {
    for e in &mut entries {
        if e.output_tokens == 0 {
            e.output_tokens = DEFAULT_OUTPUT_TOKENS;
        }
    }
    entries
}

/// A chat request of `messages`; its prompt (what the completion form and the counts read) is
/// their text joined.
fn chat_entry(messages: Vec<(String, String)>, count: Option<&dyn Fn(&str) -> u32>) -> PromptEntry {
    let prompt = messages
        .iter()
        .map(|(_, t)| t.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    PromptEntry {
        input_tokens: count.map(|f| messages.iter().map(|(_, t)| f(t)).sum()),
        prompt,
        output_tokens: 0,
        messages: Some(messages),
        images: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn root() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/data/inference-perf/text")
    }

    fn read_path(
        kind: TextDataset,
        path: &Path,
        chat: bool,
        count: Option<&dyn Fn(&str) -> u32>,
    ) -> Result<Vec<PromptEntry>, DatasetError> {
        read_text_dataset(kind, &TextSource::Path(path), chat, count)
    }

    fn words(s: &str) -> u32 {
        s.split_whitespace().count() as u32
    }

    #[test]
    fn rows_become_requests_as_inference_perfs_generators_make_them() {
        let count: &dyn Fn(&str) -> u32 = &words;
        let cnn = read_path(
            TextDataset::CnnDailymail,
            &root().join("cnn_dailymail.json"),
            false,
            Some(count),
        )
        .unwrap();
        // An empty article, a null answer and a row without an article are skipped; an empty
        // answer counts 0 tokens (the default is applied after the length bounds).
        assert_eq!(cnn.len(), 3, "{cnn:?}");
        assert_eq!(cnn[1].output_tokens, 4, "Comet visible next week.");
        assert_eq!(cnn[2].output_tokens, 0);
        assert_eq!(
            with_default_output(cnn)[2].output_tokens,
            DEFAULT_OUTPUT_TOKENS
        );
        let bill = read_path(
            TextDataset::Billsum,
            &root().join("billsum_conversations.json"),
            false,
            None,
        )
        .unwrap();
        assert_eq!(
            bill.iter().map(|e| e.prompt.as_str()).collect::<Vec<_>>(),
            [
                "Summarize the bill that funds rural broadband.",
                "Summarize the water safety act."
            ]
        );
        let inf = read_path(
            TextDataset::InfinityInstruct,
            &root().join("infinity_instruct.json"),
            false,
            None,
        )
        .unwrap();
        // The last turn is the answer (from gpt, with text), the turns before it the prompt.
        assert_eq!(inf[1].prompt, "You are concise.\nName three primes.");
        assert_eq!(
            inf[2].prompt,
            "Translate hello into French.\nBonjour.\nAnd into Spanish?"
        );
        assert_eq!(inf[2].output_tokens, 1);
        // Chat: every turn with text; infinity_instruct's roles mapped, billsum's as written.
        let chat = read_path(
            TextDataset::InfinityInstruct,
            &root().join("infinity_instruct.json"),
            true,
            None,
        )
        .unwrap();
        let roles: Vec<&str> = chat[1]
            .messages
            .as_ref()
            .unwrap()
            .iter()
            .map(|(r, _)| r.as_str())
            .collect();
        assert_eq!(
            roles,
            ["assistant", "user", "assistant"],
            "a system turn is not human"
        );
        assert_eq!(
            chat[3].messages.as_ref().unwrap().len(),
            1,
            "an empty answer is left out"
        );
        let bill = read_path(
            TextDataset::Billsum,
            &root().join("billsum_conversations.json"),
            true,
            None,
        )
        .unwrap();
        assert_eq!(bill[0].messages.as_ref().unwrap()[0].0, "human");
        assert_eq!(
            bill.len(),
            3,
            "the chat form keeps a row with an empty first turn"
        );
    }

    #[test]
    fn a_directory_is_its_json_files_in_name_order_and_errors_name_what_is_usable() {
        let dir =
            std::env::temp_dir().join(format!("fleetbench-text-datasets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let row = |a: &str| json!({"article": a, "highlights": "h"}).to_string() + "\n";
        std::fs::write(dir.join("b.json"), row("second")).unwrap();
        std::fs::write(
            dir.join("a.json"),
            format!("[{}]", json!({"article": "first", "highlights": "h"})),
        )
        .unwrap();
        std::fs::write(dir.join("notes.txt"), "not read").unwrap();
        let got = read_path(TextDataset::CnnDailymail, &dir, false, None).unwrap();
        assert_eq!(
            got.iter().map(|e| e.prompt.as_str()).collect::<Vec<_>>(),
            ["first", "second"]
        );
        let none = read_path(TextDataset::InfinityInstruct, &dir, false, None).unwrap_err();
        assert!(
            none.message.contains("no usable row in 2 rows") && none.message.contains("from `gpt`"),
            "{}",
            none.message
        );
        let txt = read_path(
            TextDataset::CnnDailymail,
            &dir.join("notes.txt"),
            false,
            None,
        )
        .unwrap_err();
        assert!(txt.message.contains("not a .json file"), "{}", txt.message);
        std::fs::write(dir.join("c.json"), "{\"article\": ").unwrap();
        let broken = read_path(TextDataset::CnnDailymail, &dir, false, None).unwrap_err();
        assert!(broken.path.ends_with("c.json"), "{broken:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(feature = "hf")]
    #[test]
    fn a_hub_split_is_fetched_file_by_file_until_max_rows_are_read() {
        use crate::data::hub::HubEnv;
        use crate::data::hub_dataset::DatasetRef;
        // The first file holds MAX_ROWS rows: the second is never asked for (the server takes
        // the listing and the first file's two requests, then stops answering).
        let rows: String = (0..MAX_ROWS)
            .map(|i| json!({"article": format!("story {i}"), "highlights": "h"}).to_string() + "\n")
            .collect();
        let (endpoint, server) = crate::data::hub_mock::dataset_server(
            "org/news",
            vec![
                ("data/train-00000-of-00002.jsonl", rows.into_bytes()),
                ("data/train-00001-of-00002.jsonl", b"{}".to_vec()),
            ],
            3,
        );
        let cache =
            std::env::temp_dir().join(format!("fleetbench-text-hub-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&cache);
        let hub = HubEnv {
            cache: cache.clone(),
            endpoint,
            token: None,
            offline: false,
        };
        let r = DatasetRef {
            id: "org/news".into(),
            revision: "main".into(),
            split: "train".into(),
            config: None,
            data_files: None,
        };
        let split = hub.split_files(&r).unwrap();
        assert_eq!(split.names.len(), 2);
        let got = read_text_dataset(
            TextDataset::CnnDailymail,
            &TextSource::Hub(split),
            false,
            None,
        )
        .unwrap();
        let seen = server.join().unwrap();
        assert_eq!(got.len(), MAX_ROWS);
        assert_eq!(got[MAX_ROWS - 1].prompt, format!("story {}", MAX_ROWS - 1));
        assert!(
            !seen.iter().any(|p| p.contains("00001-of")),
            "the second file was fetched: {seen:?}"
        );
        std::fs::remove_dir_all(&cache).unwrap();
    }
}
