//! A minimal closed-loop streaming client in two I/O models, to measure what io_uring would
//! save the agent per event (`fleetbench-bench --only iomodel`, BENCHMARKS.md).
//!
//! Both models do the same work per read, the work the agent's HTTP/1.1 reader does at the
//! least: a socket with `SO_TIMESTAMPNS`, one read per ready socket taking the kernel's receive
//! timestamp, a scan of the bytes for SSE events and for the end of the chunked response, and
//! the next request written as soon as a response ends. They differ only in how the reads and
//! writes reach the kernel:
//!
//! - `epoll`: edge-triggered readiness and one `recvmsg` per read, one `send` per request, as
//!   tokio drives the agent (`epoll.rs`);
//! - `uring`: one multishot `recvmsg` per connection into a ring of provided buffers and
//!   `send` submissions, all through one `io_uring_enter` per wakeup, the ring set up for a
//!   single issuer with deferred task work (`uring.rs`; the `uring` cargo feature).
//!
//! The difference between the two is what io_uring saves; what they share (the kernel's TCP
//! receive path, the ACK each read sends) is what neither can.

mod epoll;
mod outcome;
mod pace;
mod stream;
#[cfg(all(feature = "uring", target_os = "linux"))]
mod uring;

use std::net::TcpStream;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

pub use outcome::{ProbeError, Tally};
use pace::{Coalesce, Limits};
pub use stream::stamp_of;

/// How a probe reaches the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Io {
    /// Edge-triggered epoll, `recvmsg` and `send` system calls.
    Epoll,
    /// io_uring: multishot `recvmsg` into provided buffers, `send` submissions.
    Uring,
}

impl std::str::FromStr for Io {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "epoll" => Ok(Io::Epoll),
            "uring" => Ok(Io::Uring),
            _ => Err(format!("--io {s:?}: one of epoll, uring")),
        }
    }
}

/// What a probe runs.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The server (`host:port`), an OpenAI-compatible completions endpoint that streams.
    pub addr: String,
    /// Connections, each with one request in flight.
    pub streams: u32,
    /// `max_tokens` of every request.
    pub tokens: u32,
    /// The run ends this long after its start.
    pub limit: Duration,
    /// Or when this many responses have ended (no more requests are sent once this many were).
    pub requests: Option<u64>,
    /// The agent's wakeup coalescing window (`agent join --coalesce-us`; zero: none).
    pub coalesce: Duration,
}

/// Runs `p` with the I/O model `io` until its limit, returning what it counted.
pub fn run(p: &Probe, io: Io) -> Result<Tally, ProbeError> {
    let request = request_bytes(&p.addr, p.tokens);
    let socks = (0..p.streams)
        .map(|_| connect(&p.addr))
        .collect::<Result<Vec<_>, _>>()?;
    let limits = Limits {
        until: Instant::now() + p.limit,
        requests: p.requests.unwrap_or(u64::MAX),
        coalesce: Coalesce::new(p.coalesce),
    };
    match io {
        Io::Epoll => epoll::run(&socks, &request, limits),
        #[cfg(all(feature = "uring", target_os = "linux"))]
        Io::Uring => uring::run(&socks, &request, limits),
        #[cfg(not(all(feature = "uring", target_os = "linux")))]
        Io::Uring => Err(ProbeError::Unavailable(
            "built without the `uring` feature (or not on Linux)".into(),
        )),
    }
}

/// One streaming completion request, the same bytes for every request of a run.
fn request_bytes(addr: &str, tokens: u32) -> Vec<u8> {
    let prompt = vec!["bench"; 128].join(" ");
    let body = format!(
        r#"{{"model":"sim-model","prompt":"{prompt}","max_tokens":{tokens},"stream":true,"ignore_eos":true,"stream_options":{{"include_usage":true}}}}"#
    );
    format!(
        "POST /v1/completions HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nAccept: text/event-stream\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A non-blocking connection with TCP_NODELAY and `SO_TIMESTAMPNS`.
fn connect(addr: &str) -> Result<OwnedFd, ProbeError> {
    let s = TcpStream::connect(addr).map_err(|source| ProbeError::Connect {
        addr: addr.into(),
        source,
    })?;
    let sys = |what| move |source| ProbeError::Sys { what, source };
    s.set_nodelay(true).map_err(sys("TCP_NODELAY"))?;
    s.set_nonblocking(true).map_err(sys("O_NONBLOCK"))?;
    let on: libc::c_int = 1;
    // SAFETY: setsockopt on an open socket with a pointer to a live c_int and its size.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(ProbeError::Sys {
            what: "SO_TIMESTAMPNS",
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(OwnedFd::from(s))
}

#[cfg(test)]
mod tests;
