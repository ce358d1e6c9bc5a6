//! A model's HuggingFace tokenizer (`tokenizer.json`), loaded from a local path or the HF cache,
//! where the coordinator fetches it from the Hub when it is missing ([`super::hub`]). The
//! coordinator uses it once, when it loads a profile: to count the tokens of dataset prompts and
//! answers, and to pick a vocabulary of words that are one token each, alone and in a
//! space-separated row. Agents synthesize prompts from that vocabulary, so a prompt of N words is
//! N tokens for the model, and agents need no tokenizer. The `tokenizers` crate is behind the
//! `hf` feature ([`super::hf`]); without it a named tokenizer is refused, never replaced.

use super::hf::{Backend, BUILT_IN, NO_HF};
use super::hub::{is_model_id, HubEnv};
use std::path::PathBuf;

/// Most single-token words shipped to the agents.
pub(crate) const MAX_VOCAB_WORDS: usize = 512;

/// A loaded `tokenizer.json`.
pub(crate) struct ModelTokenizer {
    tokenizer: Backend,
    /// The `tokenizer.json` it was loaded from.
    pub path: PathBuf,
}

impl std::fmt::Debug for ModelTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ModelTokenizer({})", self.path.display())
    }
}

/// Where `name_or_path` may have its `tokenizer.json`: the path itself (a file or a directory),
/// then the Hub cache of `hub` (`models--ORG--NAME/snapshots/*/tokenizer.json`).
pub(crate) fn tokenizer_candidates(name_or_path: &str, hub: &HubEnv) -> Vec<PathBuf> {
    let p = PathBuf::from(name_or_path);
    let mut out = vec![if p.extension().is_some_and(|e| e == "json") {
        p.clone()
    } else {
        p.join("tokenizer.json")
    }];
    let snaps = hub.snapshots(name_or_path);
    let mut found: Vec<PathBuf> = std::fs::read_dir(&snaps)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path().join("tokenizer.json")))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    if found.is_empty() {
        out.push(snaps.join("*").join("tokenizer.json"));
    }
    out.extend(found);
    out
}

impl ModelTokenizer {
    /// Loads the tokenizer of `name_or_path` with the Hub of this process's environment.
    pub(crate) fn load(name_or_path: &str) -> Result<ModelTokenizer, String> {
        Self::load_with(name_or_path, &HubEnv::from_env())
    }

    /// Loads the tokenizer of `name_or_path` (see [`tokenizer_candidates`]); a model id found
    /// nowhere locally is fetched from the Hub into its cache, unless `hub` is offline.
    pub(crate) fn load_with(name_or_path: &str, hub: &HubEnv) -> Result<ModelTokenizer, String> {
        if !BUILT_IN {
            return Err(format!(
                "{name_or_path:?} names a HuggingFace tokenizer, and {NO_HF} (or remove the key: \
                 prompts are then counted in words)"
            ));
        }
        let candidates = tokenizer_candidates(name_or_path, hub);
        let path = match candidates.iter().find(|p| p.is_file()) {
            Some(path) => path.clone(),
            None => {
                let looked: Vec<String> =
                    candidates.iter().map(|p| p.display().to_string()).collect();
                if !is_model_id(name_or_path) {
                    return Err(format!(
                        "no tokenizer.json for {name_or_path:?}: looked at {}; give a local \
                         directory or file, or a Hub model id",
                        looked.join(", ")
                    ));
                }
                hub.fetch(name_or_path, "tokenizer.json").map_err(|why| {
                    format!(
                        "no tokenizer.json for model {name_or_path:?}: looked at {}; {why}. Set \
                         HF_TOKEN for a gated model, HF_ENDPOINT for a mirror, HF_HOME or \
                         HF_HUB_CACHE for another cache (now {}), or give a local directory",
                        looked.join(", "),
                        hub.cache.display()
                    )
                })?
            }
        };
        let tokenizer = Backend::from_file(&path)?;
        Ok(ModelTokenizer { tokenizer, path })
    }

    /// Tokens of `text` (no special tokens added).
    pub(crate) fn count(&self, text: &str) -> u32 {
        self.tokenizer
            .count(text)
            .unwrap_or_else(|| fleetbench_model::tokenize::count_words(text) as u32)
    }

    /// Tokens of `text` as inference-perf counts a dataset's prompt or answer (`encode`,
    /// `count_tokens`): with the special tokens the tokenizer adds; 0 for an empty text.
    pub(crate) fn count_as_inference_perf(&self, text: &str) -> u32 {
        if text.is_empty() {
            return 0;
        }
        match self.encode(text) {
            Ok(ids) => u32::try_from(ids.len()).unwrap_or(u32::MAX),
            Err(_) => self.count(text),
        }
    }

    /// The token ids of `text`, with the special tokens the tokenizer adds.
    pub(crate) fn encode(&self, text: &str) -> Result<Vec<u32>, String> {
        self.tokenizer.encode(text)
    }

    /// The text of `ids`, special tokens kept.
    pub(crate) fn decode(&self, ids: &[u32]) -> Result<String, String> {
        self.tokenizer.decode(ids)
    }

    /// Whether `w` is one token alone and three tokens thrice in a row (space-separated), so
    /// that a row of such words is as many tokens as words.
    pub(crate) fn is_single_token_word(&self, w: &str) -> bool {
        self.count(w) == 1 && self.count(&format!("{w} {w} {w}")) == 3
    }

    /// Up to [`MAX_VOCAB_WORDS`] lowercase ASCII words that are one token each, alone and in a
    /// space-separated row, in vocabulary-id order; checked on a synthesized prompt.
    pub(crate) fn single_token_words(&self) -> Result<Vec<String>, String> {
        let mut vocab = self.tokenizer.vocab();
        vocab.sort_by_key(|(_, id)| *id);
        let mut words: Vec<String> = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for (tok, _) in vocab {
            let w = tok.trim_start_matches(['Ġ', '▁', ' ']);
            if !(2..=12).contains(&w.len())
                || !w.bytes().all(|b| b.is_ascii_lowercase())
                || !seen.insert(w.to_string())
            {
                continue;
            }
            if self.is_single_token_word(w) {
                words.push(w.to_string());
                if words.len() >= MAX_VOCAB_WORDS {
                    break;
                }
            }
        }
        if words.len() < 8 {
            return Err(format!(
                "{}: found only {} lowercase words that are one token each; fleetbench cannot \
                 synthesize exact-length prompts with it",
                self.path.display(),
                words.len()
            ));
        }
        let probe = fleetbench_model::data::synthesize_from(&words, 200, 0x70C);
        let n = self.count(&probe);
        if n != 200 {
            return Err(format!(
                "{}: a prompt of 200 single-token words is {n} tokens; fleetbench cannot \
                 synthesize exact-length prompts with this tokenizer",
                self.path.display()
            ));
        }
        Ok(words)
    }
}
