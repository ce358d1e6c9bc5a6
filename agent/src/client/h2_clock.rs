//! When an HTTP/2 connection last read bytes, for the requests on it.
//!
//! Over HTTP/2 hyper's connection task reads the socket and hands each DATA frame to its
//! request's task; that task may run well after the read (the worker busy with other tasks, or
//! waiting out its coalescing window, `runtime.rs`). The connection's transport is wrapped in
//! [`Clocked`], which notes each read's instant (the kernel's receive timestamp where the stream
//! has one, [`super::stamped::StampedTcp`]) in a [`ReadClock`] the request tasks share. A
//! request task that takes a frame reads the clock: the frame came in that read or an earlier
//! one, so the clock's instant is never before its arrival, and never after the moment the task
//! looks (it takes the earlier of the two).

use super::h1::Io;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The instant of a connection's latest read that brought bytes (none yet: none).
#[derive(Clone, Debug)]
pub(crate) struct ReadClock(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    origin: Instant,
    /// Nanoseconds from `origin` + 1; 0 before the first read.
    latest: AtomicU64,
}

impl ReadClock {
    pub(crate) fn new() -> Self {
        ReadClock(Arc::new(Inner {
            origin: Instant::now(),
            latest: AtomicU64::new(0),
        }))
    }

    /// Notes a read at `at` (an instant before the clock began counts as its beginning); the
    /// clock never goes back.
    fn note(&self, at: Instant) {
        let ns = at.saturating_duration_since(self.0.origin).as_nanos();
        let ns = u64::try_from(ns).unwrap_or(u64::MAX - 1) + 1;
        self.0.latest.fetch_max(ns, Ordering::Release);
    }

    /// The instant of bytes a task holds now: the latest read's, or `now` where there was none
    /// or it is later (a stamp cannot be, but a clock is not trusted further than that).
    pub(crate) fn instant(&self, now: Instant) -> Instant {
        match self.0.latest.load(Ordering::Acquire) {
            0 => now,
            ns => (self.0.origin + std::time::Duration::from_nanos(ns - 1)).min(now),
        }
    }
}

/// A transport that notes every read that brought bytes in its [`ReadClock`].
pub(crate) struct Clocked<I> {
    io: I,
    clock: ReadClock,
}

impl<I: Io> Clocked<I> {
    pub(crate) fn new(io: I, clock: ReadClock) -> Self {
        Clocked { io, clock }
    }
}

impl<I: Io> AsyncRead for Clocked<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.clock.note(self.io.read_instant());
        }
        polled
    }
}

impl<I: Io> AsyncWrite for Clocked<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
#[path = "h2_clock_tests.rs"]
mod tests;
