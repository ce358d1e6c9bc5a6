//! A model's HuggingFace tokenizer (`tokenizer.json`), loaded from a local path or the local HF
//! cache, never downloaded. The coordinator uses it once, when it loads a profile: to count the
//! tokens of dataset prompts and answers, and to pick a vocabulary of words that are one token
//! each, alone and in a space-separated row. Agents synthesize prompts from that vocabulary, so a
//! prompt of N words is N tokens for the model, and agents need no tokenizer.

use std::path::{Path, PathBuf};

/// Most single-token words shipped to the agents.
pub const MAX_VOCAB_WORDS: usize = 512;

/// A loaded `tokenizer.json`.
pub struct ModelTokenizer {
    tokenizer: tokenizers::Tokenizer,
    pub path: PathBuf,
}

impl std::fmt::Debug for ModelTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ModelTokenizer({})", self.path.display())
    }
}

/// Where `name_or_path` may have its `tokenizer.json`: the path itself (a file or a directory),
/// then the local HF cache (`$HF_HUB_CACHE`, `$HF_HOME/hub`, `~/.cache/huggingface/hub`),
/// `models--ORG--NAME/snapshots/*/tokenizer.json`.
pub fn tokenizer_candidates(name_or_path: &str) -> Vec<PathBuf> {
    let p = PathBuf::from(name_or_path);
    let mut out = vec![if p.extension().is_some_and(|e| e == "json") {
        p.clone()
    } else {
        p.join("tokenizer.json")
    }];
    let mut caches: Vec<PathBuf> = Vec::new();
    if let Ok(c) = std::env::var("HF_HUB_CACHE") {
        caches.push(c.into());
    }
    if let Ok(h) = std::env::var("HF_HOME") {
        caches.push(Path::new(&h).join("hub"));
    }
    if let Ok(home) = std::env::var("HOME") {
        caches.push(Path::new(&home).join(".cache/huggingface/hub"));
    }
    let repo = format!("models--{}", name_or_path.replace('/', "--"));
    for c in caches {
        let snaps = c.join(&repo).join("snapshots");
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
    }
    out
}

impl ModelTokenizer {
    /// Loads the tokenizer of `name_or_path` (see [`tokenizer_candidates`]).
    pub fn load(name_or_path: &str) -> Result<ModelTokenizer, String> {
        let candidates = tokenizer_candidates(name_or_path);
        let Some(path) = candidates.iter().find(|p| p.is_file()) else {
            let looked: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
            return Err(format!(
                "no tokenizer.json for {name_or_path:?}: looked at {}; give a local directory or \
                 file, or put the model in the local HF cache (fleetbench never downloads \
                 tokenizers)",
                looked.join(", ")
            ));
        };
        let tokenizer = tokenizers::Tokenizer::from_file(path)
            .map_err(|e| format!("{}: not a usable tokenizer.json: {e}", path.display()))?;
        Ok(ModelTokenizer {
            tokenizer,
            path: path.clone(),
        })
    }

    /// Tokens of `text` (no special tokens added).
    pub fn count(&self, text: &str) -> u32 {
        self.tokenizer
            .encode(text, false)
            .map(|e| e.len() as u32)
            .unwrap_or_else(|_| crate::tokenize::count_words(text) as u32)
    }

    /// Up to [`MAX_VOCAB_WORDS`] lowercase ASCII words that are one token each, alone and in a
    /// space-separated row, in vocabulary-id order; checked on a synthesized prompt.
    pub fn single_token_words(&self) -> Result<Vec<String>, String> {
        let mut vocab: Vec<(String, u32)> = self.tokenizer.get_vocab(false).into_iter().collect();
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
            if self.count(w) == 1 && self.count(&format!("{w} {w} {w}")) == 3 {
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
        let probe = super::synthesize_from(&words, 200, 0x70C);
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
