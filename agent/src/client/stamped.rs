//! A TCP stream whose reads carry the instant the kernel received the bytes they returned.
//!
//! An event's instant taken with `Instant::now()` after the read includes the time the bytes
//! sat in the socket while the agent's worker was busy with other streams or asleep in
//! `epoll_wait`: at hundreds of streams on one core that wait is the p99 of the agent's
//! receive-side error against the wire (BENCHMARKS.md, "Kernel receive timestamps"). On Linux
//! the socket asks for the kernel's software receive timestamp (`SO_TIMESTAMPNS`) and reads
//! with `recvmsg`, which returns the timestamp of the last segment the read consumed; that
//! instant is the one the read's events get. Elsewhere, or where the kernel gives no
//! timestamp, [`StampedTcp::received_at`] is `None` and the read's own instant stands.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A TCP stream read with the kernel's receive timestamps.
#[derive(Debug)]
pub(crate) struct StampedTcp {
    inner: TcpStream,
    /// When the kernel received the last bytes of the last read that returned data.
    received: Option<Instant>,
}

impl StampedTcp {
    /// Wraps `inner`, asking the kernel for receive timestamps; a kernel that refuses leaves the
    /// stream unstamped.
    pub(crate) fn new(inner: TcpStream) -> StampedTcp {
        #[cfg(target_os = "linux")]
        if let Err(e) = linux::enable(&inner) {
            tracing::debug!(error = %e, "no kernel receive timestamps on this connection");
        }
        StampedTcp {
            inner,
            received: None,
        }
    }

    /// Keeps the kernel stamping received packets for the life of the process. The kernel
    /// stamps while any socket asks for it, and turns stamping on in a deferred work item that
    /// can run many milliseconds later on a busy host: without a socket held open, every run
    /// that starts after the last connection of the one before closed would have its first
    /// events unstamped (timed at the read instead). Idempotent and cheap after the first call.
    pub(crate) fn keep_stamping_on() {
        #[cfg(target_os = "linux")]
        {
            static HELD: std::sync::OnceLock<Option<std::net::UdpSocket>> =
                std::sync::OnceLock::new();
            HELD.get_or_init(|| {
                let s = std::net::UdpSocket::bind("127.0.0.1:0").ok()?;
                linux::enable(&s).ok()?;
                Some(s)
            });
        }
    }

    /// When the kernel received the last bytes the last read returned, where it said.
    pub(crate) fn received_at(&self) -> Option<Instant> {
        self.received
    }
}

impl AsyncRead for StampedTcp {
    #[cfg(target_os = "linux")]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let room = buf.remaining();
        loop {
            std::task::ready!(this.inner.poll_read_ready(cx))?;
            let mut got = None;
            let read = this.inner.try_io(tokio::io::Interest::READABLE, || {
                let (n, stamp) = linux::recv(&this.inner, buf)?;
                got = Some(stamp);
                // A read shorter than the room it had emptied the socket: say so, so that
                // `try_io` clears the readiness and the next read waits for the next segment
                // instead of costing a system call that finds nothing (tokio's own TCP read
                // does the same).
                if n > 0 && n < room {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                Ok(())
            });
            match (got, read) {
                (Some(stamp), _) => {
                    this.received = stamp.and_then(linux::instant_of);
                    return Poll::Ready(Ok(()));
                }
                // The readiness was stale; `try_io` cleared it, so the next poll waits.
                (None, Err(e)) if e.kind() == io::ErrorKind::WouldBlock => continue,
                (None, Err(e)) => return Poll::Ready(Err(e)),
                (None, Ok(())) => unreachable!("a read that succeeded says what it got"),
            }
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for StampedTcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io;
    use std::mem::{size_of, size_of_val, MaybeUninit};
    use std::os::fd::AsRawFd;
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
    use tokio::io::ReadBuf;
    use tokio::net::TcpStream;

    /// The longest a timestamp may lie before the read that returned it. Longer, or after it,
    /// is the wall clock stepped between the two (the kernel stamps with `CLOCK_REALTIME`), and
    /// the read's own instant stands.
    const MAX_WAIT: Duration = Duration::from_secs(1);

    pub(super) fn enable(s: &impl AsRawFd) -> io::Result<()> {
        let on: libc::c_int = 1;
        // SAFETY: a valid socket descriptor and an option value of the size given.
        let rc = unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_TIMESTAMPNS,
                (&on as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// One `recvmsg` into `buf`'s unfilled part: the bytes read (marked filled), and the
    /// kernel's timestamp of the last segment read if it gave one.
    pub(super) fn recv(
        s: &TcpStream,
        buf: &mut ReadBuf<'_>,
    ) -> io::Result<(usize, Option<libc::timespec>)> {
        // SAFETY: the bytes handed to the kernel are only written, never read, here; exactly
        // the `n` bytes the kernel wrote are then marked initialized and filled.
        let unfilled: &mut [MaybeUninit<u8>] = unsafe { buf.unfilled_mut() };
        let mut iov = libc::iovec {
            iov_base: unfilled.as_mut_ptr().cast(),
            iov_len: unfilled.len(),
        };
        // Room for one control message of a timespec, aligned for `cmsghdr`.
        let mut control = [0u64; 8];
        // SAFETY: an all-zero `msghdr` is valid (no name, no buffers); the fields set point at
        // the live locals above for the duration of the call.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = size_of_val(&control) as _;
        // SAFETY: `msg` describes writable memory that outlives the call.
        let n = unsafe { libc::recvmsg(s.as_raw_fd(), &mut msg, 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        // SAFETY: the kernel wrote `n` bytes at the start of the unfilled part.
        unsafe { buf.assume_init(n) };
        buf.advance(n);
        let mut stamp = None;
        // SAFETY: `msg` is as the kernel left it; the CMSG_ macros walk the control buffer
        // within `msg_controllen`, and the timestamp's bytes are read unaligned.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                    stamp = Some(std::ptr::read_unaligned(
                        libc::CMSG_DATA(c).cast::<libc::timespec>(),
                    ));
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        Ok((n, stamp))
    }

    /// The monotonic instant of a kernel timestamp (wall clock), by the time that passed on
    /// the wall clock since it; `None` where the wall clock stepped (see [`MAX_WAIT`]).
    pub(super) fn instant_of(ts: libc::timespec) -> Option<Instant> {
        let now = Instant::now();
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
        let stamped = Duration::new(u64::try_from(ts.tv_sec).ok()?, ts.tv_nsec as u32);
        let waited = wall.checked_sub(stamped)?;
        if waited > MAX_WAIT {
            return None;
        }
        now.checked_sub(waited)
    }
}

#[cfg(test)]
#[path = "stamped_tests.rs"]
mod tests;
