//! Dataset files that a profile names with `data.path`: ShareGPT JSON and Mooncake-style trace
//! JSONL. The coordinator reads them once when it loads the profile; the entries a run needs
//! travel to the agents inside the shard spec, so agents need no copy of the file.

use fleetbench_model::data::{PromptEntry, TraceRecord};
use fleetbench_model::tokenize::{count_words, splitmix64};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// A dataset read from a file, in the order requests use it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Dataset {
    /// ShareGPT conversations: first human turn and the answer's length, in file order.
    Prompts(Vec<PromptEntry>),
    /// Mooncake trace records, in file (time) order.
    Trace(Vec<TraceRecord>),
}

impl Dataset {
    /// Entries or records.
    pub(crate) fn len(&self) -> usize {
        match self {
            Dataset::Prompts(p) => p.len(),
            Dataset::Trace(t) => t.len(),
        }
    }
}

/// Why a dataset file cannot be used; the profile loader turns it into a `ProfileError`.
#[derive(Debug)]
pub(crate) struct DatasetError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub message: String,
}

/// The text of `path`, at most `limit` bytes (a longer file is an error naming it and the
/// limit): files a profile names are input, read whole only when bounded.
pub(crate) fn read_bounded(path: &Path, limit: u64) -> Result<String, String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(limit + 1).read_to_string(&mut text))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if text.len() as u64 > limit {
        return Err(format!("{}: more than {limit} bytes", path.display()));
    }
    Ok(text)
}

/// Where `data.path` points: as given (relative to the working directory) when that exists,
/// else relative to the profile's directory or the nearest directory above it where it exists
/// (so `profiles/data/x.json` works from the repository root and from anywhere else).
pub(crate) fn resolve_data_path(path: &str, profile: &Path) -> PathBuf {
    let p = PathBuf::from(path);
    if p.is_absolute() || p.exists() {
        return p;
    }
    profile
        .ancestors()
        .skip(1)
        .map(|dir| dir.join(&p))
        .find(|c| c.exists())
        .unwrap_or(p)
}

#[derive(Deserialize)]
struct ShareGptConversation {
    #[serde(default)]
    conversations: Vec<ShareGptTurn>,
}

#[derive(Deserialize)]
struct ShareGptTurn {
    from: String,
    value: String,
}

/// Reads a ShareGPT JSON file (a list of `{conversations: [{from, value}, ...]}`). Each
/// conversation whose first human turn is followed by an answer becomes one entry: the prompt is
/// that turn, the output length the answer's word count. Others are skipped.
/// `count` counts tokens with the profile's tokenizer (absent: words).
pub(crate) fn read_sharegpt(
    path: &Path,
    count: Option<&dyn Fn(&str) -> u32>,
) -> Result<Vec<PromptEntry>, DatasetError> {
    let err = |message: String| DatasetError {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
    let convs: Vec<ShareGptConversation> = serde_json::from_str(&text).map_err(|e| {
        err(format!(
            "not ShareGPT JSON (a list of {{\"conversations\": [{{\"from\", \"value\"}}]}}): {e}"
        ))
    })?;
    let mut out = Vec::new();
    for c in convs {
        let Some(q) = c
            .conversations
            .iter()
            .position(|t| t.from == "human" || t.from == "user")
        else {
            continue;
        };
        let Some(answer) = c.conversations.get(q + 1) else {
            continue;
        };
        let prompt = c.conversations[q].value.trim().to_string();
        let output = match count {
            Some(f) => f(&answer.value),
            None => count_words(&answer.value) as u32,
        };
        if prompt.is_empty() || output == 0 {
            continue;
        }
        out.push(PromptEntry {
            input_tokens: count.map(|f| f(&prompt)),
            prompt,
            output_tokens: output,
            messages: None,
            images: Vec::new(),
        });
    }
    if out.is_empty() {
        return Err(err(
            "no usable conversation (a human turn followed by an answer)".into(),
        ));
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MooncakeLine {
    #[serde(default)]
    timestamp: f64,
    input_length: u32,
    output_length: u32,
    #[serde(default)]
    hash_ids: Vec<u64>,
}

/// Reads a Mooncake-style trace: one JSON object per line with `timestamp` (ms),
/// `input_length`, `output_length` and `hash_ids` (one id per shared-prefix block).
pub(crate) fn read_mooncake(path: &Path) -> Result<Vec<TraceRecord>, DatasetError> {
    let err = |message: String| DatasetError {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let l: MooncakeLine = serde_json::from_str(line).map_err(|e| {
            err(format!(
                "line {}: expected {{timestamp, input_length, output_length, hash_ids}}: {e}",
                i + 1
            ))
        })?;
        if l.input_length == 0 || l.output_length == 0 {
            return Err(err(format!(
                "line {}: input_length and output_length must be ≥ 1",
                i + 1
            )));
        }
        out.push(TraceRecord {
            timestamp_ms: l.timestamp,
            input_length: l.input_length,
            output_length: l.output_length,
            hash_ids: l.hash_ids,
        });
    }
    if out.is_empty() {
        return Err(err("no records".into()));
    }
    Ok(out)
}

/// `n` entries of `items` in a fixed-seed order: a seeded permutation, cycled when `n` exceeds
/// the dataset (vLLM's and inference-perf's fixed-seed sampling).
pub(crate) fn sample<T: Clone>(items: &[T], n: usize, seed: u64) -> Vec<T> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    let mut s = seed ^ 0x5A3_D47A;
    for i in (1..order.len()).rev() {
        s = splitmix64(s);
        order.swap(i, (s % (i as u64 + 1)) as usize);
    }
    order
        .iter()
        .cycle()
        .take(n)
        .map(|&i| items[i].clone())
        .collect()
}
