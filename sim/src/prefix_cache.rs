//! The prefix cache as `usage.prompt_tokens_details.cached_tokens` reports it (`--cached-tokens`):
//! a prompt's leading whole blocks whose hash chain was seen in an earlier prompt are cached
//! tokens, as in vLLM's automatic prefix caching; the last prompt token is always computed.
//! Unlike the engine's KV cache nothing is evicted, except that the whole set is forgotten when
//! it grows past a bound.

use std::collections::HashSet;
use std::sync::Mutex;

/// Block hashes remembered at most before the set is cleared.
const MAX_BLOCKS: usize = 1 << 20;

#[derive(Debug, Default)]
pub(crate) struct PrefixCache {
    seen: Mutex<HashSet<u64>>,
}

impl PrefixCache {
    /// The cached tokens of a prompt of `prompt_tokens` tokens with these block hashes (a hash
    /// chain: each covers the whole prefix up to its block), then remembers them.
    pub(crate) fn lookup_and_insert(
        &self,
        hashes: &[u64],
        block_size: u32,
        prompt_tokens: u32,
    ) -> u32 {
        let Ok(mut seen) = self.seen.lock() else {
            return 0;
        };
        let hits = hashes.iter().take_while(|h| seen.contains(h)).count() as u32;
        if seen.len() + hashes.len() > MAX_BLOCKS {
            seen.clear();
        }
        seen.extend(hashes.iter().copied());
        // Whole blocks only, and never the last prompt token.
        let max_blocks = prompt_tokens.saturating_sub(1) / block_size.max(1);
        hits.min(max_blocks) * block_size
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::kv_cache::block_hashes;

    #[test]
    fn a_shared_prefix_is_cached_the_second_time_in_whole_blocks() {
        let c = PrefixCache::default();
        let a: Vec<u64> = (0..40).collect();
        let mut b: Vec<u64> = (0..35).collect();
        b.extend(100..110);
        assert_eq!(c.lookup_and_insert(&block_hashes(&a, 16), 16, 40), 0);
        // 35 shared tokens: two whole blocks.
        assert_eq!(c.lookup_and_insert(&block_hashes(&b, 16), 16, 45), 32);
        // The same prompt again: every whole block but the one with the last token.
        let d: Vec<u64> = (0..32).collect();
        assert_eq!(c.lookup_and_insert(&block_hashes(&d, 16), 16, 32), 16);
    }
}
