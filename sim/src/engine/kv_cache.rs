//! The KV cache: a fixed number of blocks of `block_size` tokens, reference counted, with
//! prefix caching. A full prompt block gets a hash chained over the prompt's token ids; blocks
//! whose reference count drops to zero stay cached (findable by hash) on an LRU free list and
//! are evicted only when a new block is needed (vLLM's `FreeKVCacheBlockQueue` design).

use std::collections::HashMap;

const NIL: u32 = u32::MAX;

#[derive(Debug, Clone)]
struct Block {
    ref_cnt: u32,
    hash: Option<u64>,
    prev: u32,
    next: u32,
    on_free_list: bool,
}

/// Block pool with an intrusive doubly-linked LRU free list.
#[derive(Debug)]
pub(crate) struct KvCache {
    block_size: u32,
    blocks: Vec<Block>,
    head: u32,
    tail: u32,
    num_free: usize,
    cached: HashMap<u64, u32>,
    prefix_caching: bool,
}

/// Chained hashes of the full blocks of `token_ids`.
pub(crate) fn block_hashes(token_ids: &[u64], block_size: u32) -> Vec<u64> {
    let mut out = Vec::with_capacity(token_ids.len() / block_size.max(1) as usize);
    let mut parent: u64 = 0x51_7cc1_b727_220a;
    for chunk in token_ids.chunks_exact(block_size.max(1) as usize) {
        let mut h = parent;
        for t in chunk {
            h = crate::faults::splitmix64(h ^ t);
        }
        out.push(h);
        parent = h;
    }
    out
}

impl KvCache {
    pub(crate) fn new(num_blocks: u32, block_size: u32, prefix_caching: bool) -> Self {
        let n = num_blocks as usize;
        let blocks = (0..n)
            .map(|i| Block {
                ref_cnt: 0,
                hash: None,
                prev: if i == 0 { NIL } else { i as u32 - 1 },
                next: if i + 1 == n { NIL } else { i as u32 + 1 },
                on_free_list: true,
            })
            .collect();
        KvCache {
            block_size,
            blocks,
            head: if n == 0 { NIL } else { 0 },
            tail: if n == 0 { NIL } else { n as u32 - 1 },
            num_free: n,
            cached: HashMap::new(),
            prefix_caching,
        }
    }

    pub(crate) fn block_size(&self) -> u32 {
        self.block_size
    }

    pub(crate) fn num_free(&self) -> usize {
        self.num_free
    }

    /// Fraction of blocks in use by running requests (cached free blocks count as free).
    pub(crate) fn usage(&self) -> f64 {
        if self.blocks.is_empty() {
            return 0.0;
        }
        1.0 - self.num_free as f64 / self.blocks.len() as f64
    }

    /// Blocks needed to hold `tokens` tokens.
    pub(crate) fn blocks_for(&self, tokens: u32) -> usize {
        tokens.div_ceil(self.block_size) as usize
    }

    /// The leading blocks of `hashes` that are cached.
    pub(crate) fn cached_prefix(&self, hashes: &[u64]) -> Vec<u32> {
        if !self.prefix_caching {
            return Vec::new();
        }
        hashes
            .iter()
            .map_while(|h| self.cached.get(h).copied())
            .collect()
    }

    /// How many of `blocks` are currently on the free list (touching them takes them off).
    pub(crate) fn free_among(&self, blocks: &[u32]) -> usize {
        blocks
            .iter()
            .filter(|b| self.blocks[**b as usize].on_free_list)
            .count()
    }

    /// Takes a reference on cached blocks (a prefix-cache hit).
    pub(crate) fn touch(&mut self, blocks: &[u32]) {
        for &b in blocks {
            if self.blocks[b as usize].on_free_list {
                self.unlink(b);
            }
            self.blocks[b as usize].ref_cnt += 1;
        }
    }

    /// Allocates `n` blocks from the LRU end of the free list, evicting their cached hashes;
    /// None (and nothing allocated) when fewer than `n` are free.
    pub(crate) fn allocate(&mut self, n: usize, out: &mut Vec<u32>) -> bool {
        if n > self.num_free {
            return false;
        }
        for _ in 0..n {
            let b = self.head;
            self.unlink(b);
            let blk = &mut self.blocks[b as usize];
            if let Some(h) = blk.hash.take() {
                if self.cached.get(&h) == Some(&b) {
                    self.cached.remove(&h);
                }
            }
            blk.ref_cnt = 1;
            out.push(b);
        }
        true
    }

    /// Drops a reference on each block; blocks reaching zero go to the free list, the last
    /// block of a request first so that a request's tail is evicted before its prefix.
    pub(crate) fn free(&mut self, blocks: &[u32]) {
        for &b in blocks.iter().rev() {
            let blk = &mut self.blocks[b as usize];
            blk.ref_cnt = blk.ref_cnt.saturating_sub(1);
            if blk.ref_cnt == 0 {
                if blk.hash.is_none() || !self.prefix_caching {
                    blk.hash = None;
                }
                self.push_tail(b);
            }
        }
    }

    /// Marks a block, now fully computed, as holding the prompt block with hash `h`.
    pub(crate) fn register(&mut self, block: u32, h: u64) {
        if !self.prefix_caching {
            return;
        }
        let blk = &mut self.blocks[block as usize];
        if blk.hash.is_some() {
            return;
        }
        blk.hash = Some(h);
        self.cached.entry(h).or_insert(block);
    }

    fn unlink(&mut self, b: u32) {
        let (prev, next) = {
            let blk = &self.blocks[b as usize];
            (blk.prev, blk.next)
        };
        if prev == NIL {
            self.head = next;
        } else {
            self.blocks[prev as usize].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.blocks[next as usize].prev = prev;
        }
        let blk = &mut self.blocks[b as usize];
        blk.prev = NIL;
        blk.next = NIL;
        blk.on_free_list = false;
        self.num_free -= 1;
    }

    fn push_tail(&mut self, b: u32) {
        let tail = self.tail;
        {
            let blk = &mut self.blocks[b as usize];
            blk.prev = tail;
            blk.next = NIL;
            blk.on_free_list = true;
        }
        if tail == NIL {
            self.head = b;
        } else {
            self.blocks[tail as usize].next = b;
        }
        self.tail = b;
        self.num_free += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocate_free_and_reuse_cached_prefix() {
        let mut kv = KvCache::new(4, 16, true);
        let ids: Vec<u64> = (0..40).collect();
        let hashes = block_hashes(&ids, 16);
        assert_eq!(hashes.len(), 2);
        let mut a = Vec::new();
        assert!(kv.allocate(3, &mut a));
        assert_eq!(kv.num_free(), 1);
        kv.register(a[0], hashes[0]);
        kv.register(a[1], hashes[1]);
        kv.free(&a);
        assert_eq!(kv.num_free(), 4);
        let hit = kv.cached_prefix(&hashes);
        assert_eq!(hit, vec![a[0], a[1]]);
        assert_eq!(kv.free_among(&hit), 2);
        kv.touch(&hit);
        assert_eq!(kv.num_free(), 2);
        // Allocating the two free blocks evicts the uncached tail block first, then block 3.
        let mut b = Vec::new();
        assert!(kv.allocate(2, &mut b));
        assert!(!kv.allocate(1, &mut b));
        assert_eq!(kv.cached_prefix(&hashes).len(), 2);
    }

    #[test]
    fn eviction_drops_hash() {
        let mut kv = KvCache::new(1, 16, true);
        let mut a = Vec::new();
        kv.allocate(1, &mut a);
        kv.register(a[0], 7);
        kv.free(&a);
        assert_eq!(kv.cached_prefix(&[7]).len(), 1);
        let mut b = Vec::new();
        kv.allocate(1, &mut b);
        assert!(kv.cached_prefix(&[7]).is_empty());
        assert_eq!(kv.usage(), 1.0);
    }
}
