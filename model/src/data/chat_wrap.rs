//! inference-perf's `data.use_chat_template`: each synthetic prompt sent on the completions API
//! as one user turn of the model's chat template. The coordinator renders the template once
//! (`fleetbench_profile`'s `data::chat_template`) and ships what comes before and after the
//! user's text, with the tokens they add; agents wrap the prompt's words in them.

use serde::{Deserialize, Serialize};

/// A chat template cut around the user's text: `prefix + text + suffix` is the template
/// rendered for one user message with the generation prompt added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatWrap {
    /// The rendered template before the user's text (special tokens included, e.g. BOS).
    pub prefix: String,
    /// The rendered template after it, up to the assistant's turn.
    pub suffix: String,
    /// Tokens the wrapping adds to a prompt (checked by the coordinator on probes): a prompt
    /// of N tokens carries N minus these words.
    pub tokens: u32,
}

impl ChatWrap {
    /// `prompt`, `words` single-token words joined by single spaces, cut to `words - tokens`
    /// words (at least one) and wrapped, so the templated prompt is `words` tokens long. The
    /// words are cut from the end: a trace prompt's leading blocks stay where they were.
    pub fn apply(&self, prompt: &str, words: u32) -> String {
        let keep = words.saturating_sub(self.tokens).max(1) as usize;
        let body = match prompt.match_indices(' ').nth(keep - 1) {
            Some((end, _)) => &prompt[..end],
            None => prompt,
        };
        let mut out = String::with_capacity(self.prefix.len() + body.len() + self.suffix.len());
        out.push_str(&self.prefix);
        out.push_str(body);
        out.push_str(&self.suffix);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prompt_is_cut_by_the_template_s_tokens_and_wrapped() {
        let w = ChatWrap {
            prefix: "<|user|>\n".into(),
            suffix: "<|end|>\n<|assistant|>\n".into(),
            tokens: 3,
        };
        assert_eq!(
            w.apply("a b c d e", 5),
            "<|user|>\na b<|end|>\n<|assistant|>\n"
        );
        // Never an empty user turn.
        assert_eq!(w.apply("a b c", 3), "<|user|>\na<|end|>\n<|assistant|>\n");
        assert_eq!(w.apply("a", 1), "<|user|>\na<|end|>\n<|assistant|>\n");
    }
}
