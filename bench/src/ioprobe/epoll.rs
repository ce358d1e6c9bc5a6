//! The probe on edge-triggered epoll: one `recvmsg` per read until a short one, one `send` per
//! request, as tokio drives the agent's connections.

use super::outcome::{ProbeError, Tally};
use super::pace::Limits;
use super::stream::{stamp_of, Stream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Instant;

/// Bytes one read may take.
const READ: usize = 16 * 1024;

fn sys(what: &'static str) -> ProbeError {
    ProbeError::Sys {
        what,
        source: std::io::Error::last_os_error(),
    }
}

pub(crate) fn run(
    socks: &[OwnedFd],
    request: &[u8],
    mut limits: Limits,
) -> Result<Tally, ProbeError> {
    // SAFETY: epoll_create1 takes no pointers; a non-negative result is a new fd we own.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if ep < 0 {
        return Err(sys("epoll_create1"));
    }
    // SAFETY: `ep` was just returned by epoll_create1 and is owned by nothing else.
    let ep = unsafe { OwnedFd::from_raw_fd(ep) };
    for (i, s) in socks.iter().enumerate() {
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
            u64: i as u64,
        };
        // SAFETY: both fds are open; `ev` is a live epoll_event.
        if unsafe { libc::epoll_ctl(ep.as_raw_fd(), libc::EPOLL_CTL_ADD, s.as_raw_fd(), &mut ev) }
            != 0
        {
            return Err(sys("epoll_ctl"));
        }
    }
    let mut streams: Vec<Stream> = socks.iter().map(|_| Stream::default()).collect();
    let mut tally = Tally::default();
    let mut sent = 0u64;
    for s in socks {
        if sent < limits.requests {
            send(s, request)?;
            sent += 1;
        }
    }
    let mut buf = vec![0u8; READ];
    // u64s: the control buffer must be aligned for cmsghdr.
    let mut control = [0u64; 8];
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
    while tally.requests < limits.requests && Instant::now() < limits.until {
        // SAFETY: `events` is a live buffer of `events.len()` epoll_events.
        let n = limits.coalesce.sleep(|| unsafe {
            libc::epoll_wait(
                ep.as_raw_fd(),
                events.as_mut_ptr(),
                events.len() as i32,
                100,
            )
        });
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(sys("epoll_wait"));
        }
        for ev in &events[..n as usize] {
            let i = ev.u64 as usize;
            let fd = socks[i].as_raw_fd();
            loop {
                let mut iov = libc::iovec {
                    iov_base: buf.as_mut_ptr().cast(),
                    iov_len: buf.len(),
                };
                // SAFETY: a zeroed msghdr is valid; its pointers are set to live buffers below.
                let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
                msg.msg_iov = &mut iov;
                msg.msg_iovlen = 1;
                msg.msg_control = control.as_mut_ptr().cast();
                msg.msg_controllen = std::mem::size_of_val(&control);
                // SAFETY: `fd` is open; `msg` points at `iov` (into `buf`) and `control`, both
                // live and of the lengths given.
                let got = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
                if got < 0 {
                    match std::io::Error::last_os_error().kind() {
                        std::io::ErrorKind::WouldBlock => break,
                        std::io::ErrorKind::Interrupted => continue,
                        _ => return Err(sys("recvmsg")),
                    }
                }
                if got == 0 {
                    return Err(ProbeError::Closed);
                }
                let got = got as usize;
                // SAFETY: `control` is live; the kernel set msg_controllen to at most its size.
                let ctl = unsafe {
                    std::slice::from_raw_parts(
                        control.as_ptr().cast::<u8>(),
                        msg.msg_controllen.min(std::mem::size_of_val(&control)),
                    )
                };
                if streams[i].feed(&buf[..got], stamp_of(ctl), &mut tally) && sent < limits.requests
                {
                    send(&socks[i], request)?;
                    sent += 1;
                }
                // A short read emptied the socket: the next arrival is a new edge.
                if got < buf.len() {
                    break;
                }
            }
        }
    }
    Ok(tally)
}

/// Writes one request whole (it is small, and the socket's send buffer empty between
/// requests).
fn send(s: &OwnedFd, request: &[u8]) -> Result<(), ProbeError> {
    // SAFETY: the fd is open; `request` is live for its length.
    let n = unsafe {
        libc::send(
            s.as_raw_fd(),
            request.as_ptr().cast(),
            request.len(),
            libc::MSG_NOSIGNAL,
        )
    };
    if n < 0 {
        return Err(sys("send"));
    }
    if n as usize != request.len() {
        return Err(ProbeError::ShortSend(n as usize));
    }
    Ok(())
}
