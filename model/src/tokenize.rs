//! The fallback tokenizer used when no model tokenizer is configured: one token per
//! whitespace-separated word (the sim counts by the same rule in its own code). Prompts are
//! synthesized to an exact token count under this rule.

/// Number of tokens in `text`: its whitespace-separated words.
pub fn count_words(text: &str) -> usize {
    text.split_whitespace().count()
}

/// A prompt of exactly `tokens` words. The words are drawn from a small vocabulary by a seed so
/// that different requests do not share a prefix by accident.
pub(crate) fn synthesize_prompt(tokens: u32, seed: u64) -> String {
    const VOCAB: [&str; 16] = [
        "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
        "juliet", "kilo", "lima", "mike", "november", "oscar", "papa",
    ];
    let mut out = String::with_capacity(tokens as usize * 7);
    let mut state = seed ^ 0x9E37_79B9_7F4A_7C15;
    for i in 0..tokens {
        state = splitmix64(state);
        if i > 0 {
            out.push(' ');
        }
        out.push_str(VOCAB[(state >> 60) as usize]);
    }
    out
}

/// SplitMix64: a fast, well-mixed step used to derive per-request seeds.
pub fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthesized_prompt_has_exact_word_count() {
        for n in [1, 2, 17, 1024] {
            assert_eq!(count_words(&synthesize_prompt(n, 7)), n as usize);
        }
        assert_ne!(synthesize_prompt(64, 1), synthesize_prompt(64, 2));
    }
}
