//! The continuous-batching scheduler, modelled on vLLM V1's: one unified token budget per step
//! shared by running sequences (decode tokens and remaining prefill chunks, in admission order)
//! and newly admitted waiting sequences (chunked prefill), at most `max_num_seqs` running, KV
//! blocks allocated as tokens are scheduled, preemption by recompute of the most recently
//! admitted sequence when blocks run out. Pure state: the engine task drives it and sleeps for
//! the step time it returns.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use super::card::EngineCard;
use super::event::EngineEvent;
use super::kv_cache::KvCache;

/// A request handed to the engine.
#[derive(Debug)]
pub(crate) struct NewSeq {
    /// Prompt tokens (at least 1 is used).
    pub(crate) prompt_len: u32,
    /// Chained hashes of the prompt's full blocks.
    pub(crate) block_hashes: Vec<u64>,
    /// Output tokens to generate; 0 means prefill only (P/D prefill role).
    pub(crate) target: u32,
    /// KV arrived from a prefill instance: allocate the prompt's blocks without computing them.
    pub(crate) skip_prefill: bool,
    pub(crate) tx: UnboundedSender<EngineEvent>,
}

#[derive(Debug)]
struct Seq {
    new: NewSeq,
    out: u32,
    computed: u32,
    registered: usize,
    blocks: Vec<u32>,
    scheduled: u32,
}

impl Seq {
    fn total(&self) -> u32 {
        self.new.prompt_len + self.out
    }
}

/// What one step computes and how long it takes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct StepPlan {
    pub(crate) duration: Duration,
    pub(crate) prefill_tokens: u32,
    pub(crate) decode_seqs: u32,
}

impl StepPlan {
    pub(crate) fn is_empty(&self) -> bool {
        self.prefill_tokens == 0 && self.decode_seqs == 0
    }
}

/// Counters the engine exports as metrics.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SchedulerStats {
    pub(crate) prefix_queries: u64,
    pub(crate) prefix_hits: u64,
    pub(crate) preemptions: u64,
}

/// Waiting queue, running batch and KV cache.
#[derive(Debug)]
pub(crate) struct Scheduler {
    card: EngineCard,
    kv: KvCache,
    waiting: VecDeque<Seq>,
    running: Vec<Seq>,
    pub(crate) stats: SchedulerStats,
}

impl Scheduler {
    pub(crate) fn new(card: &EngineCard) -> Self {
        Scheduler {
            kv: KvCache::new(
                card.num_gpu_blocks,
                card.block_size,
                card.enable_prefix_caching,
            ),
            card: card.clone(),
            waiting: VecDeque::new(),
            running: Vec::new(),
            stats: SchedulerStats::default(),
        }
    }

    pub(crate) fn add(&mut self, mut new: NewSeq) {
        new.prompt_len = new.prompt_len.max(1);
        self.waiting.push_back(Seq {
            new,
            out: 0,
            computed: 0,
            registered: 0,
            blocks: Vec::new(),
            scheduled: 0,
        });
    }

    pub(crate) fn is_idle(&self) -> bool {
        self.waiting.is_empty() && self.running.is_empty()
    }

    pub(crate) fn num_running(&self) -> usize {
        self.running.len()
    }

    pub(crate) fn num_waiting(&self) -> usize {
        self.waiting.len()
    }

    pub(crate) fn kv_usage(&self) -> f64 {
        self.kv.usage()
    }

    /// Plans the next step: schedules tokens of running sequences, preempting when blocks run
    /// out, then admits waiting ones while the budget, `max_num_seqs` and free blocks allow.
    pub(crate) fn schedule(&mut self) -> StepPlan {
        // Requests whose client went away while waiting leave the queue (and the gauge).
        self.waiting.retain(|s| !s.new.tx.is_closed());
        let mut budget = self.card.max_num_batched_tokens;
        let mut preempted = false;
        let mut i = 0;
        while i < self.running.len() {
            let need = self.running[i].total() - self.running[i].computed;
            let n = need.min(budget);
            if n == 0 {
                i += 1;
                continue;
            }
            let target_blocks = self.kv.blocks_for(self.running[i].computed + n);
            let mut self_preempted = false;
            loop {
                let missing = target_blocks.saturating_sub(self.running[i].blocks.len());
                let mut blocks = std::mem::take(&mut self.running[i].blocks);
                let ok = self.kv.allocate(missing, &mut blocks);
                self.running[i].blocks = blocks;
                if ok {
                    break;
                }
                let Some(victim) = self.running.pop() else {
                    break;
                };
                preempted = true;
                let is_self = self.running.len() == i;
                self.preempt(victim);
                if is_self {
                    self_preempted = true;
                    break;
                }
            }
            if self_preempted {
                break;
            }
            self.running[i].scheduled = n;
            budget -= n;
            i += 1;
        }
        while !preempted
            && budget > 0
            && self.running.len() < self.card.max_num_seqs as usize
            && !self.waiting.is_empty()
        {
            let Some(mut seq) = self.waiting.pop_front() else {
                break;
            };
            if seq.new.tx.is_closed() {
                continue;
            }
            if !self.admit(&mut seq, budget) {
                self.waiting.push_front(seq);
                break;
            }
            budget -= seq.scheduled;
            self.running.push(seq);
        }
        self.plan()
    }

    /// Tries to give `seq` its cached prefix and blocks for its first chunk.
    fn admit(&mut self, seq: &mut Seq, budget: u32) -> bool {
        let bs = self.kv.block_size();
        let total = seq.total();
        if seq.new.skip_prefill {
            // Transferred KV: the whole prompt's blocks, one token left to compute (the one
            // that yields the first output token).
            let need = self.kv.blocks_for(total);
            let mut blocks = Vec::with_capacity(need);
            if !self.kv.allocate(need, &mut blocks) {
                return false;
            }
            seq.blocks = blocks;
            seq.computed = total - 1;
            seq.scheduled = 1;
            return true;
        }
        let max_hit = ((total - 1) / bs) as usize;
        let usable = &seq.new.block_hashes[..seq.new.block_hashes.len().min(max_hit)];
        let hit = self.kv.cached_prefix(usable);
        let start = hit.len() as u32 * bs;
        let n = (total - start).min(budget);
        let need_new = self.kv.blocks_for(start + n) - hit.len();
        if self.kv.num_free() - self.kv.free_among(&hit) < need_new {
            return false;
        }
        self.kv.touch(&hit);
        let mut blocks = hit;
        blocks.reserve(need_new);
        self.kv.allocate(need_new, &mut blocks);
        self.stats.prefix_queries += total as u64;
        self.stats.prefix_hits += start as u64;
        seq.registered = (start / bs) as usize;
        seq.blocks = blocks;
        seq.computed = start;
        seq.scheduled = n;
        true
    }

    fn preempt(&mut self, mut seq: Seq) {
        self.kv.free(&seq.blocks);
        seq.blocks.clear();
        seq.computed = 0;
        seq.registered = 0;
        seq.scheduled = 0;
        seq.new.skip_prefill = false;
        self.stats.preemptions += 1;
        self.waiting.push_front(seq);
    }

    fn plan(&self) -> StepPlan {
        let s = &self.card.step;
        let mut plan = StepPlan::default();
        let mut context: u64 = 0;
        for seq in &self.running {
            if seq.scheduled == 0 {
                continue;
            }
            context += seq.computed as u64;
            let decode = seq.scheduled == 1 && seq.computed + 1 == seq.total();
            if decode && (seq.out > 0 || seq.new.skip_prefill) {
                plan.decode_seqs += 1;
            } else {
                plan.prefill_tokens += seq.scheduled;
            }
        }
        if plan.is_empty() {
            return plan;
        }
        let us = s.base_us
            + s.prefill_us_per_token * plan.prefill_tokens as f64
            + s.decode_us_per_seq * plan.decode_seqs as f64
            + s.context_us_per_token * context as f64;
        plan.duration = Duration::from_secs_f64(us / 1e6);
        plan
    }

    /// Applies the step just executed: advances computed tokens, registers full prompt blocks
    /// in the prefix cache, emits one token to every sequence whose tokens are all computed,
    /// and retires finished or abandoned sequences.
    pub(crate) fn complete_step(&mut self) {
        let bs = self.kv.block_size();
        let running = std::mem::take(&mut self.running);
        let mut keep = Vec::with_capacity(running.len());
        for mut seq in running {
            let mut done = seq.new.tx.is_closed();
            if seq.scheduled > 0 && !done {
                seq.computed += seq.scheduled;
                seq.scheduled = 0;
                let full = ((seq.computed / bs) as usize).min(seq.new.block_hashes.len());
                while seq.registered < full {
                    let r = seq.registered;
                    self.kv.register(seq.blocks[r], seq.new.block_hashes[r]);
                    seq.registered += 1;
                }
                if seq.computed == seq.total() {
                    if seq.new.target == 0 {
                        let _ = seq.new.tx.send(EngineEvent::PrefillDone);
                        done = true;
                    } else {
                        seq.out += 1;
                        done = seq.new.tx.send(EngineEvent::Token).is_err()
                            || seq.out >= seq.new.target;
                    }
                }
            }
            if done {
                self.kv.free(&seq.blocks);
            } else {
                keep.push(seq);
            }
        }
        self.running = keep;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::card::DEFAULT_CARD;
    use crate::engine::kv_cache::block_hashes;
    use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

    fn card(blocks: u32, seqs: u32, budget: u32) -> EngineCard {
        let mut c = EngineCard::parse(DEFAULT_CARD, "t").unwrap();
        c.num_gpu_blocks = blocks;
        c.max_num_seqs = seqs;
        c.max_num_batched_tokens = budget;
        c
    }

    fn seq(prompt: u32, target: u32, shared: bool) -> (NewSeq, UnboundedReceiver<EngineEvent>) {
        let (tx, rx) = unbounded_channel();
        let ids: Vec<u64> = (0..prompt as u64)
            .map(|i| {
                if shared {
                    i
                } else {
                    i + 1_000_000 * target as u64 + prompt as u64
                }
            })
            .collect();
        (
            NewSeq {
                prompt_len: prompt,
                block_hashes: block_hashes(&ids, 16),
                target,
                skip_prefill: false,
                tx,
            },
            rx,
        )
    }

    fn run_to_idle(s: &mut Scheduler, max_steps: usize) -> usize {
        let mut steps = 0;
        while !s.is_idle() && steps < max_steps {
            s.schedule();
            s.complete_step();
            steps += 1;
        }
        steps
    }

    #[test]
    fn chunked_prefill_then_exact_decode() {
        let mut s = Scheduler::new(&card(100, 4, 64));
        let (n, mut rx) = seq(200, 5, false);
        s.add(n);
        let p = s.schedule();
        assert_eq!(p.prefill_tokens, 64);
        s.complete_step();
        let steps = run_to_idle(&mut s, 100);
        // 200 prompt tokens at 64 per step = 4 steps (the last yields token 1), then 4 decodes.
        assert_eq!(steps + 1, 4 + 4);
        let mut tokens = 0;
        while let Ok(e) = rx.try_recv() {
            assert!(matches!(e, EngineEvent::Token));
            tokens += 1;
        }
        assert_eq!(tokens, 5);
        assert_eq!(s.kv_usage(), 0.0);
    }

    #[test]
    fn prefix_cache_hits_on_shared_prompt() {
        let mut s = Scheduler::new(&card(100, 4, 1000));
        let (a, _ra) = seq(64, 2, true);
        s.add(a);
        run_to_idle(&mut s, 100);
        let (b, _rb) = seq(64, 2, true);
        s.add(b);
        let p = s.schedule();
        // 3 of 4 blocks hit (the last token must be computed).
        assert_eq!(p.prefill_tokens, 16);
        assert_eq!(s.stats.prefix_hits, 48);
        assert_eq!(s.stats.prefix_queries, 128);
    }

    #[test]
    fn preempts_when_blocks_run_out_and_still_finishes() {
        // 8 blocks = 128 tokens; two sequences of 48 + 60 tokens each need 7 blocks.
        let mut s = Scheduler::new(&card(8, 4, 1000));
        let (a, mut ra) = seq(48, 60, false);
        let (b, mut rb) = seq(47, 60, false);
        s.add(a);
        s.add(b);
        run_to_idle(&mut s, 10_000);
        assert!(s.is_idle());
        assert!(s.stats.preemptions > 0);
        let count = |rx: &mut UnboundedReceiver<EngineEvent>| {
            let mut n = 0;
            while rx.try_recv().is_ok() {
                n += 1;
            }
            n
        };
        assert_eq!(count(&mut ra), 60);
        assert_eq!(count(&mut rb), 60);
    }

    #[test]
    fn abandoned_requests_release_blocks_and_leave_the_queue() {
        let mut s = Scheduler::new(&card(100, 1, 1000));
        let (a, ra) = seq(40, 50, false);
        let (b, rb) = seq(40, 50, false);
        s.add(a);
        s.add(b);
        s.schedule();
        s.complete_step();
        assert_eq!((s.num_running(), s.num_waiting()), (1, 1));
        assert!(s.kv_usage() > 0.0);
        drop(rb);
        drop(ra);
        s.schedule();
        s.complete_step();
        assert!(s.is_idle());
        assert_eq!(s.kv_usage(), 0.0);
    }

    #[test]
    fn respects_max_num_seqs_and_prefill_only() {
        let mut s = Scheduler::new(&card(100, 2, 1000));
        let mut rxs = Vec::new();
        for _ in 0..3 {
            let (mut n, rx) = seq(10, 0, false);
            n.target = 0;
            s.add(n);
            rxs.push(rx);
        }
        s.schedule();
        assert_eq!(s.num_running(), 2);
        assert_eq!(s.num_waiting(), 1);
        run_to_idle(&mut s, 10);
        for mut rx in rxs {
            assert!(matches!(rx.try_recv(), Ok(EngineEvent::PrefillDone)));
        }
    }
}
