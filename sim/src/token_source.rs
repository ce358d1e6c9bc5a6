//! Where a request's tokens come from: a fixed schedule (deterministic mode: token k is due at
//! `base + ttft + k * itl`, absolute deadlines, never accumulated sleeps) or the engine task's
//! per-request channel. Both answer the same question: how many more tokens are ready now?

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::{Instant, Sleep};

use crate::engine::EngineEvent;

/// Answer of [`TokenSource::poll_ready`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ready {
    /// This many further tokens are ready (at least 1).
    Tokens(u32),
    /// The prompt is computed (prefill-only requests).
    PrefillDone,
    /// No more tokens will come (the engine dropped the request).
    Ended,
}

/// Deterministic token times.
#[derive(Debug)]
pub(crate) struct FixedSchedule {
    base: Instant,
    ttft: Duration,
    itl: Duration,
    total: u32,
    sleep: Pin<Box<Sleep>>,
}

impl FixedSchedule {
    pub(crate) fn new(base: Instant, ttft: Duration, itl: Duration, total: u32) -> Self {
        FixedSchedule {
            base,
            ttft,
            itl,
            total,
            sleep: Box::pin(tokio::time::sleep_until(base + ttft)),
        }
    }

    /// Deadline of token `k` (0-based).
    pub(crate) fn deadline(&self, k: u32) -> Instant {
        self.base + self.ttft + self.itl * k
    }

    fn due(&self, now: Instant) -> u32 {
        let first = self.base + self.ttft;
        if now < first {
            return 0;
        }
        if self.itl.is_zero() {
            return self.total;
        }
        let k = (now - first).as_nanos() / self.itl.as_nanos();
        (k.saturating_add(1)).min(self.total as u128) as u32
    }
}

/// A request's token source.
#[derive(Debug)]
pub(crate) enum TokenSource {
    Fixed(FixedSchedule),
    Engine(UnboundedReceiver<EngineEvent>),
}

impl TokenSource {
    /// Polls for tokens beyond the `sent` already delivered, at most `max` (> 0).
    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>, sent: u32, max: u32) -> Poll<Ready> {
        match self {
            TokenSource::Fixed(f) => loop {
                if sent >= f.total {
                    return Poll::Ready(Ready::Ended);
                }
                let due = f.due(Instant::now());
                if due > sent {
                    return Poll::Ready(Ready::Tokens((due - sent).min(max)));
                }
                let d = f.deadline(sent);
                f.sleep.as_mut().reset(d);
                if f.sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
            },
            TokenSource::Engine(rx) => match rx.poll_recv(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(None) => Poll::Ready(Ready::Ended),
                Poll::Ready(Some(EngineEvent::PrefillDone)) => Poll::Ready(Ready::PrefillDone),
                Poll::Ready(Some(EngineEvent::Token)) => {
                    let mut n = 1;
                    while n < max {
                        match rx.try_recv() {
                            Ok(EngineEvent::Token) => n += 1,
                            _ => break,
                        }
                    }
                    Poll::Ready(Ready::Tokens(n))
                }
            },
        }
    }

    /// Shifts all tokens not yet due by `d` (the `stall` fault; the engine keeps generating,
    /// its tokens just wait in the channel).
    pub(crate) fn delay(&mut self, d: Duration) {
        if let TokenSource::Fixed(f) = self {
            f.base += d;
        }
    }

    /// Waits until `total` tokens (or prefill completion, or the end) have come; returns the
    /// number of tokens received.
    pub(crate) async fn wait_all(&mut self, total: u32) -> u32 {
        let mut got = 0;
        while got < total {
            match std::future::poll_fn(|cx| self.poll_ready(cx, got, total - got)).await {
                Ready::Tokens(n) => got += n,
                Ready::PrefillDone | Ready::Ended => break,
            }
        }
        got
    }

    /// Waits for the prompt to be computed (P/D prefill role).
    pub(crate) async fn wait_prefill(&mut self) {
        match self {
            TokenSource::Fixed(f) => tokio::time::sleep_until(f.base + f.ttft).await,
            TokenSource::Engine(rx) => while let Some(EngineEvent::Token) = rx.recv().await {},
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fixed_schedule_never_sends_early() {
        let base = Instant::now();
        let mut s = TokenSource::Fixed(FixedSchedule::new(
            base,
            Duration::from_millis(30),
            Duration::from_millis(10),
            5,
        ));
        let mut sent = 0;
        let mut times = Vec::new();
        while sent < 5 {
            match std::future::poll_fn(|cx| s.poll_ready(cx, sent, 100)).await {
                Ready::Tokens(n) => {
                    sent += n;
                    times.push(Instant::now() - base);
                }
                _ => break,
            }
        }
        assert_eq!(sent, 5);
        // Each poll returns every token already due, never one before its deadline.
        for (k, t) in times.iter().enumerate() {
            assert!(*t >= Duration::from_millis(30 + 10 * k as u64), "{times:?}");
        }
        assert!(times.last().unwrap() >= &Duration::from_millis(70));
    }
}
