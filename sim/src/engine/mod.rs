//! The simulated engine: one task runs the [`scheduler::Scheduler`] loop in real time (plan a
//! step, sleep until its end, apply it), so connection tasks never touch scheduler state. New
//! requests reach it through one channel; tokens reach each request's response body through
//! that request's own channel, one cheap message per token, drained in batches by the body.

pub(crate) mod card;
mod event;
pub(crate) mod kv_cache;
pub(crate) mod scheduler;

pub(crate) use event::EngineEvent;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::time::{sleep_until, Instant};

use crate::metrics::Metrics;
use card::EngineCard;
use scheduler::{NewSeq, Scheduler};

/// Submits requests to the engine task.
#[derive(Debug, Clone)]
pub(crate) struct EngineHandle {
    tx: UnboundedSender<NewSeq>,
    card: Arc<EngineCard>,
}

impl EngineHandle {
    /// Spawns the engine task on the current runtime.
    pub(crate) fn spawn(card: EngineCard, metrics: Arc<Metrics>) -> EngineHandle {
        let (tx, rx) = unbounded_channel();
        metrics.set_cache_config(
            card.block_size,
            card.num_gpu_blocks,
            card.enable_prefix_caching,
        );
        let card = Arc::new(card);
        tokio::spawn(run(Scheduler::new(&card), rx, metrics));
        EngineHandle { tx, card }
    }

    pub(crate) fn card(&self) -> &EngineCard {
        &self.card
    }

    /// Queues a request; its events arrive on the returned receiver, which closes when the
    /// request ends (or the engine stops).
    pub(crate) fn submit(
        &self,
        prompt_len: u32,
        block_hashes: Vec<u64>,
        target: u32,
        skip_prefill: bool,
    ) -> UnboundedReceiver<EngineEvent> {
        let (tx, rx) = unbounded_channel();
        let _ = self.tx.send(NewSeq {
            prompt_len,
            block_hashes,
            target,
            skip_prefill,
            tx,
        });
        rx
    }
}

/// How late a step may start and still be counted from the previous step's ideal end.
const STEP_CLOCK_SLACK: std::time::Duration = std::time::Duration::from_millis(5);

fn publish(s: &Scheduler, m: &Metrics) {
    m.running.store(s.num_running() as i64, Relaxed);
    m.waiting.store(s.num_waiting() as i64, Relaxed);
    m.set_kv_usage(s.kv_usage());
    m.prefix_queries.store(s.stats.prefix_queries, Relaxed);
    m.prefix_hits.store(s.stats.prefix_hits, Relaxed);
    m.preemptions.store(s.stats.preemptions, Relaxed);
}

async fn run(mut sched: Scheduler, mut rx: UnboundedReceiver<NewSeq>, metrics: Arc<Metrics>) {
    let mut last_end = Instant::now();
    loop {
        while let Ok(n) = rx.try_recv() {
            sched.add(n);
        }
        if sched.is_idle() {
            publish(&sched, &metrics);
            match rx.recv().await {
                Some(n) => sched.add(n),
                None => return,
            }
            continue;
        }
        let plan = sched.schedule();
        publish(&sched, &metrics);
        if plan.is_empty() {
            // Nothing schedulable (waiting sequences that cannot get blocks yet and nothing
            // running is impossible by construction, but never spin): wait for new work.
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            sched.complete_step();
            continue;
        }
        let now = Instant::now();
        // Steps run back to back on the step clock, so the timer's lateness (tokio's timer has
        // 1 ms resolution) is not added to every step; after idle time the clock restarts now.
        let start = if now.saturating_duration_since(last_end) < STEP_CLOCK_SLACK {
            last_end
        } else {
            now
        };
        last_end = start + plan.duration;
        sleep_until(last_end).await;
        sched.complete_step();
    }
}
