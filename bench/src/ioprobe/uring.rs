//! The probe on io_uring: one multishot `recvmsg` per connection, each completion a read in a
//! buffer from a ring of provided buffers (its control messages, the receive timestamp among
//! them, ahead of the payload), each request a `send` submission; everything goes to the
//! kernel and comes back through one `io_uring_enter` per wakeup. The ring is set up for a
//! single issuer with deferred task work, so the receive work runs in this thread's
//! `io_uring_enter` and is counted in its CPU.

use super::outcome::{ProbeError, Tally};
use super::pace::Limits;
use super::stream::{stamp_of, Stream};
use io_uring::squeue::Entry;
use io_uring::types::{BufRingEntry, Fd, RecvMsgOut, SubmitArgs, Timespec};
use io_uring::{cqueue, opcode, IoUring, SubmissionQueue, Submitter};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Instant;

/// Bytes of one provided buffer: the `io_uring_recvmsg_out` header, the control messages and
/// the payload.
const BUF: usize = 4096;
/// The buffer group of the ring.
const GROUP: u16 = 0;
/// Control message space: `CMSG_SPACE(sizeof(struct timespec))`.
const CONTROL: usize = 32;
const RECV: u64 = 0;
const SEND: u64 = 1;

/// The provided buffers: a ring of `entries` descriptors (its own page-aligned mapping, as
/// the kernel requires) and the buffers they point at.
struct BufRing {
    ring: *mut BufRingEntry,
    entries: u16,
    tail: u16,
    bufs: Vec<u8>,
}

impl BufRing {
    fn new(entries: u16) -> Result<Self, ProbeError> {
        let size = entries as usize * std::mem::size_of::<BufRingEntry>();
        // SAFETY: an anonymous private mapping; no pointers are passed in.
        let ring = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ring == libc::MAP_FAILED {
            return Err(ProbeError::Sys {
                what: "mmap",
                source: std::io::Error::last_os_error(),
            });
        }
        let mut r = BufRing {
            ring: ring.cast(),
            entries,
            tail: 0,
            bufs: vec![0u8; entries as usize * BUF],
        };
        for bid in 0..entries {
            r.give(bid);
        }
        r.publish();
        Ok(r)
    }

    /// Hands buffer `bid` back to the kernel (seen at the next `publish`).
    fn give(&mut self, bid: u16) {
        let slot = (self.tail & (self.entries - 1)) as usize;
        // SAFETY: `slot` < entries, inside the mapping; the kernel reads a slot only between
        // the head and the published tail, and this one is past the tail.
        let e = unsafe { &mut *self.ring.add(slot) };
        e.set_addr(self.bufs.as_ptr() as u64 + bid as u64 * BUF as u64);
        e.set_len(BUF as u32);
        e.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    fn publish(&self) {
        // SAFETY: the tail field of the ring's first entry, inside the mapping, 2-aligned; the
        // kernel reads it, so it is written atomically with release ordering.
        unsafe {
            let tail = BufRingEntry::tail(self.ring).cast::<AtomicU16>();
            (*tail).store(self.tail, Ordering::Release);
        }
    }

    /// The first `len` bytes of buffer `bid`, which the kernel filled and handed over.
    fn buf(&self, bid: u16, len: usize) -> &[u8] {
        let at = bid as usize * BUF;
        &self.bufs[at..at + len.min(BUF)]
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        let size = self.entries as usize * std::mem::size_of::<BufRingEntry>();
        // SAFETY: the mapping made in `new`, of this size, unmapped once (the ring that used
        // it is dropped before this: `run` declares the buffers before the ring).
        unsafe { libc::munmap(self.ring.cast(), size) };
    }
}

fn sys(what: &'static str, errno: i32) -> ProbeError {
    ProbeError::Sys {
        what,
        source: std::io::Error::from_raw_os_error(errno),
    }
}

/// Queues `e`, submitting what is queued first when the submission queue is full.
fn push(submitter: &Submitter, sq: &mut SubmissionQueue, e: &Entry) -> Result<(), ProbeError> {
    loop {
        // SAFETY: every buffer an entry points at (the msghdr, the request, the fds) outlives
        // the ring: they are owned by `run`'s caller or declared before the ring in `run`.
        if unsafe { sq.push(e) }.is_ok() {
            return Ok(());
        }
        sq.sync();
        submitter.submit().map_err(|source| ProbeError::Sys {
            what: "io_uring_enter",
            source,
        })?;
        sq.sync();
    }
}

/// The provided buffers and a ring for one issuer with deferred task work, the buffers
/// registered with it.
fn setup(size: usize) -> Result<(BufRing, IoUring), ProbeError> {
    let bufs = BufRing::new(size as u16)?;
    let ring: IoUring = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        // The kernel's most completion entries (IORING_MAX_CQ_ENTRIES).
        .setup_cqsize((4 * size as u32).min(65_536))
        .build(size as u32)
        .map_err(|e| ProbeError::Unavailable(format!("io_uring_setup: {e}")))?;
    // SAFETY: the ring of descriptors stays mapped until `bufs` drops, which the caller does
    // after the ring.
    unsafe {
        ring.submitter()
            .register_buf_ring_with_flags(bufs.ring as u64, size as u16, GROUP, 0)
    }
    .map_err(|e| ProbeError::Unavailable(format!("register a provided-buffer ring: {e}")))?;
    Ok((bufs, ring))
}

pub(crate) fn run(
    socks: &[OwnedFd],
    request: &[u8],
    mut limits: Limits,
) -> Result<Tally, ProbeError> {
    let n = socks.len();
    let size = (2 * n).next_power_of_two().clamp(64, 32768);
    // SAFETY: a zeroed msghdr is valid; only its name and control lengths are read by a
    // multishot recvmsg (the layout of each buffer), and it outlives the ring.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_controllen = CONTROL;
    let (b, r) = setup(size)?;
    // Declared before the ring, so dropped after it.
    let mut bufs = b;
    let mut ring = r;
    let (submitter, mut sq, mut cq) = ring.split();
    let recv = |i: usize| {
        opcode::RecvMsgMulti::new(Fd(socks[i].as_raw_fd()), &msg, GROUP)
            .build()
            .user_data(((i as u64) << 1) | RECV)
    };
    let send = |i: usize| {
        opcode::Send::new(
            Fd(socks[i].as_raw_fd()),
            request.as_ptr(),
            request.len() as u32,
        )
        .flags(libc::MSG_NOSIGNAL)
        .build()
        .user_data(((i as u64) << 1) | SEND)
    };
    let mut streams: Vec<Stream> = socks.iter().map(|_| Stream::default()).collect();
    let mut tally = Tally::default();
    let mut sent = 0u64;
    for i in 0..n {
        push(&submitter, &mut sq, &recv(i))?;
        if sent < limits.requests {
            push(&submitter, &mut sq, &send(i))?;
            sent += 1;
        }
    }
    let wait = Timespec::new().nsec(100_000_000);
    let args = SubmitArgs::new().timespec(&wait);
    while tally.requests < limits.requests && Instant::now() < limits.until {
        sq.sync();
        if let Err(e) = limits
            .coalesce
            .sleep(|| submitter.submit_with_args(1, &args))
        {
            if !matches!(
                e.raw_os_error(),
                Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EBUSY)
            ) {
                return Err(ProbeError::Sys {
                    what: "io_uring_enter",
                    source: e,
                });
            }
        }
        cq.sync();
        let (mut gave, mut sends) = (false, false);
        for cqe in &mut cq {
            let (i, kind) = ((cqe.user_data() >> 1) as usize, cqe.user_data() & 1);
            let (res, flags) = (cqe.result(), cqe.flags());
            if kind == SEND {
                if res < 0 {
                    return Err(sys("send (io_uring)", -res));
                }
                if res as usize != request.len() {
                    return Err(ProbeError::ShortSend(res as usize));
                }
                continue;
            }
            if res == -libc::ENOBUFS {
                // Every buffer was in use: re-armed below once some are given back.
            } else if res < 0 {
                return Err(sys("recvmsg (io_uring)", -res));
            } else {
                let bid = cqueue::buffer_select(flags).ok_or(ProbeError::Closed)?;
                let ended = {
                    let out = RecvMsgOut::parse(bufs.buf(bid, res as usize), &msg)
                        .map_err(|()| sys("recvmsg (io_uring): a short buffer", libc::EINVAL))?;
                    if out.payload_data().is_empty() {
                        return Err(ProbeError::Closed);
                    }
                    streams[i].feed(out.payload_data(), stamp_of(out.control_data()), &mut tally)
                };
                bufs.give(bid);
                gave = true;
                if ended && sent < limits.requests {
                    push(&submitter, &mut sq, &send(i))?;
                    sent += 1;
                    sends = true;
                }
            }
            if !cqueue::more(flags) {
                push(&submitter, &mut sq, &recv(i))?;
            }
        }
        if gave {
            bufs.publish();
        }
        if sends {
            // The next requests go out now, as the epoll model's do, not after the window.
            sq.sync();
            submitter.submit().map_err(|source| ProbeError::Sys {
                what: "io_uring_enter",
                source,
            })?;
        }
    }
    Ok(tally)
}
