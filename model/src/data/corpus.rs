//! inference-perf's `data.corpus_file_path` (data type synthetic): prompts cut from a text
//! instead of drawn word by word. The coordinator reads the corpus and ships its words (those
//! that are one token each for the profile's tokenizer, so a run of N words is N tokens); a
//! prompt of N tokens is the N words from an offset its seed picks, wrapping past the end.

/// `tokens` consecutive words of `words` from the offset `seed` picks (cycling past the end),
/// joined by single spaces; empty when `words` is.
pub fn corpus_run(words: &[String], tokens: u32, seed: u64) -> String {
    if words.is_empty() {
        return String::new();
    }
    let start = (crate::tokenize::splitmix64(seed ^ 0xC0_4E05) % words.len() as u64) as usize;
    let mut out = String::with_capacity(tokens as usize * 8);
    for i in 0..tokens as usize {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&words[(start + i) % words.len()]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_is_consecutive_words_and_wraps_past_the_end() {
        let words: Vec<String> = ["to", "be", "or", "not"].map(String::from).to_vec();
        for seed in 0..20 {
            let run = corpus_run(&words, 6, seed);
            let got: Vec<&str> = run.split(' ').collect();
            assert_eq!(got.len(), 6);
            let start = words.iter().position(|w| w == got[0]).unwrap();
            for (i, w) in got.iter().enumerate() {
                assert_eq!(*w, words[(start + i) % 4], "seed {seed}: {run}");
            }
        }
        assert_eq!(corpus_run(&[], 3, 1), "");
    }
}
