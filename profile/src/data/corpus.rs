//! inference-perf's `data.corpus_file_path`: the text synthetic prompts are cut from (its
//! default is a bundled Shakespeare text; fleetbench's default is words drawn from the
//! tokenizer's vocabulary). The coordinator reads the file once, prefixes inference-perf's
//! instruction line, and keeps the words that are one token each for the profile's tokenizer
//! (every word for the word tokenizer), so that a run of N words is a prompt of N tokens; a
//! probe run of the kept words must count true, or the profile is refused (the Weka replay
//! reads the same key as token ids, in `data/weka/`). At most
//! [`MAX_CARRIED_BYTES`] of words travel in each shard spec.

use super::files::{read_bounded, resolve_data_path};
use super::tokenizer::ModelTokenizer;
use crate::error::ProfileError;
use crate::model::{DataType, Profile};
use fleetbench_model::data::{corpus_run, MAX_CARRIED_BYTES};
use std::collections::HashMap;
use std::path::Path;

/// inference-perf's line before the corpus text (`synthetic_datagen.py`).
const BASE_PROMPT: &str = "Pick as many lines as you can from these poem lines:";

/// Most bytes of a corpus file read.
const MAX_CORPUS_FILE: u64 = 64 << 20;

/// The words of `data.corpus_file_path` that synthetic prompts are cut from; `None` when the key
/// is absent or the data type does not read it (inference-perf reads it for `synthetic` only:
/// other types accept it and leave it unused, said in one info line).
pub(crate) fn read_corpus(
    p: &Profile,
    file: &Path,
    tokenizer: Option<&ModelTokenizer>,
) -> Result<Option<Vec<String>>, ProfileError> {
    let Some(path) = p.data.corpus_file_path.as_deref() else {
        return Ok(None);
    };
    if p.data.kind == DataType::WekaTraceReplay {
        // Read as tokens by the Weka replay (`data/weka/`).
        return Ok(None);
    }
    if p.data.kind != DataType::Synthetic {
        tracing::info!(
            "{}: `data.corpus_file_path` is read by data types synthetic and weka_trace_replay only; type {} leaves it unused, as in inference-perf",
            file.display(),
            p.data.kind.name()
        );
        return Ok(None);
    }
    let invalid = |message: String| ProfileError::Invalid {
        file: file.to_path_buf(),
        key: "data.corpus_file_path".into(),
        message,
    };
    let resolved = resolve_data_path(path, file);
    let text = read_bounded(&resolved, MAX_CORPUS_FILE)
        .map_err(|e| invalid(format!("cannot read the prompt corpus: {e}")))?;
    let words = one_token_words(&text, tokenizer);
    if words.len() < 2 {
        return Err(invalid(format!(
            "{}: {} words that are one token each; a prompt corpus needs text",
            resolved.display(),
            words.len()
        )));
    }
    if let Some(t) = tokenizer {
        let n = words.len().min(500) as u32;
        let probe = corpus_run(&words, n, 0);
        let got = t.count(&probe);
        if got != n {
            return Err(invalid(format!(
                "{}: a run of {n} of its single-token words is {got} tokens for {}; prompts cut from it cannot have exact lengths",
                resolved.display(),
                t.path.display()
            )));
        }
    }
    Ok(Some(words))
}

/// The words of inference-perf's instruction line and of `text`, in order, that `tokenizer`
/// counts as one token alone and thrice in a row (all of them without a tokenizer), up to
/// [`MAX_CARRIED_BYTES`].
fn one_token_words(text: &str, tokenizer: Option<&ModelTokenizer>) -> Vec<String> {
    let mut single: HashMap<&str, bool> = HashMap::new();
    let mut out = Vec::new();
    let mut bytes = 0usize;
    for w in BASE_PROMPT
        .split_whitespace()
        .chain(text.split_whitespace())
    {
        let keep = match tokenizer {
            None => true,
            Some(t) => *single.entry(w).or_insert_with(|| t.is_single_token_word(w)),
        };
        if !keep {
            continue;
        }
        bytes += w.len() + 1;
        if bytes > MAX_CARRIED_BYTES {
            break;
        }
        out.push(w.to_string());
    }
    out
}
