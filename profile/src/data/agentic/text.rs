//! Text of a given token length for synthetic agentic sessions: a fixed part (a prompt, a
//! directive) followed by a run of the bundled corpus's tokens, so that the whole is about the
//! length drawn (the run is cut in tokens and decoded; a decoded run may re-tokenize a token or
//! two differently at its edges).

use crate::data::tokenizer::ModelTokenizer;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// The most bytes of the corpus tokenized for filler (the corpus is larger; its first part is
/// varied enough, and the tokenizer's bookkeeping grows with the text).
const FILLER_BYTES: usize = 256 << 10;

/// Token-fitted text.
pub(crate) struct Filler<'a> {
    tokenizer: &'a ModelTokenizer,
    corpus: Vec<u32>,
}

impl<'a> Filler<'a> {
    /// Filler from `corpus`'s first part, counted with `tokenizer`.
    pub(crate) fn new(tokenizer: &'a ModelTokenizer, corpus: &str) -> Result<Filler<'a>, String> {
        let mut end = corpus.len().min(FILLER_BYTES);
        while !corpus.is_char_boundary(end) {
            end -= 1;
        }
        // The ids the tokenizer adds around any text (a BOS) are not filler.
        let added = tokenizer.encode("")?;
        let mut corpus = tokenizer.encode(&corpus[..end])?;
        corpus.retain(|id| !added.contains(id));
        if corpus.is_empty() {
            return Err("the corpus has no tokens".into());
        }
        Ok(Filler { tokenizer, corpus })
    }

    /// Tokens of `text`.
    pub(crate) fn count(&self, text: &str) -> u32 {
        self.tokenizer.count(text)
    }

    /// `fixed`, then corpus text from a place `rng` draws, together about `tokens` long
    /// (`fixed` alone when it is that long already).
    pub(crate) fn fit(
        &self,
        fixed: &str,
        tokens: u32,
        rng: &mut ChaCha8Rng,
    ) -> Result<String, String> {
        let have = if fixed.is_empty() {
            0
        } else {
            self.count(fixed) + 1
        };
        let want = tokens.saturating_sub(have) as usize;
        if want == 0 {
            return Ok(fixed.to_string());
        }
        let at = rng.random_range(0..self.corpus.len());
        let ids: Vec<u32> = (self.corpus.iter().cycle())
            .skip(at)
            .take(want)
            .copied()
            .collect();
        let run = self.tokenizer.decode(&ids)?;
        let run = run.trim();
        Ok(if fixed.is_empty() {
            run.to_string()
        } else {
            format!("{fixed}\n{run}")
        })
    }
}
